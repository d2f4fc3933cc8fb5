//! `probe-alpha`: the alpha-score of each feature-set file, as a table and a results file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use probe_alpha::{flag_layers, AlphaParams, LayerRecord, Probe};
use probe_data::FeatureSet;
use probe_forest::{ForestParams, MaxFeatures, Splitter, WaveletNorm};
use probe_reduce::{Backend, Method, ReduceParams, Reduced, ValidReduceParams};
use probe_report::clustering::{ClusteringParams, ValidClusteringParams};
use probe_report::embedding::{EmbeddingMethod, EmbeddingParams, ValidEmbeddingParams};
use probe_report::{layer_extras, Accuracy, LayerEmbedding, LayerExtras, LayerResult};
use serde::Serialize;

use crate::files::{expand, Failure};
use crate::output::{one_line, print_error, print_line, progress_bar, thread_pool, write_atomic};

/// Scores how well each layer's features organise the training set by class (the Sparsity
/// Probe's alpha-score; higher = simpler class geometry).
#[derive(Debug, Parser)]
#[command(name = "probe-alpha", version)]
pub struct AlphaArgs {
    /// Feature-set files (safetensors with `features` and `labels`); globs such as
    /// 'features/*.safetensors' are expanded here too.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Number of trees in the forest.
    #[arg(long, default_value_t = 5)]
    pub trees: usize,
    /// Maximum depth of each tree (the root has depth 0).
    #[arg(long, default_value_t = 15)]
    pub depth: usize,
    /// Candidate features per node: sqrt, log2, all or a number.
    #[arg(long, default_value = "sqrt")]
    pub max_features: MaxFeatures,
    /// Threshold search: binned (256 quantile bins per feature, fast) or exact.
    #[arg(long, default_value = "binned")]
    pub splitter: Splitter,
    /// Seed of the forest's bootstrap and feature draws (and of --reduce-to).
    #[arg(long, default_value_t = 2)]
    pub seed: u64,
    /// ε₁ in degrees: the narrowest window around −90° in which the critical τ lies.
    #[arg(long, default_value_t = 0.1)]
    pub epsilon: f64,
    /// Wavelet weighting: samples (share of samples in the node) or volume (cell volume).
    #[arg(long, default_value = "samples")]
    pub norm: WaveletNorm,
    /// Reduce layers wider than K to K dimensions in memory before the forest (the
    /// original tool's feature_dimension; it used 2500).
    #[arg(long, value_name = "K")]
    pub reduce_to: Option<usize>,
    /// Reduction used by --reduce-to: tsvd (truncated SVD, the original tool's) or pca.
    #[arg(long, default_value = "tsvd")]
    pub reduce_method: Method,
    /// Where --reduce-to's products run: cpu, or cuda / cuda:N (a build with
    /// `--features cuda`).
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub reduce_device: Backend,
    /// Also cluster each layer with k-means (k = number of classes) and score the clusters
    /// against the labels (ARI, AMI, homogeneity, completeness, V-measure, Fowlkes–Mallows).
    #[arg(long)]
    pub clustering: bool,
    /// Also embed each layer in 2-D (umap or tsne) for the report's panel; written into the
    /// results file.
    #[arg(long, value_name = "METHOD")]
    pub embedding: Option<EmbeddingMethod>,
    /// Points per embedding (a seeded subsample; at most 5000).
    #[arg(long, default_value_t = 2500, value_name = "N")]
    pub embedding_points: usize,
    /// Worker threads (default: one per core). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write the results as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The settings block of `results.json`.
#[derive(Serialize)]
pub(crate) struct Settings {
    pub trees: usize,
    pub depth: usize,
    pub max_features: MaxFeatures,
    pub splitter: Splitter,
    pub seed: u64,
    pub epsilon: f64,
    pub norm: WaveletNorm,
    pub reduce_to: Option<usize>,
    pub reduce_method: Option<Method>,
    pub threads: usize,
}

impl Settings {
    /// The settings a checked probe (and reduction) runs with, as the results record them.
    pub(crate) fn new(
        probe: &Probe,
        reduce: Option<&ValidReduceParams>,
        threads: usize,
    ) -> Settings {
        Settings {
            trees: probe.forest().n_trees(),
            depth: probe.forest().max_depth(),
            max_features: probe.forest().max_features(),
            splitter: probe.forest().splitter(),
            seed: probe.forest().seed(),
            epsilon: probe.alpha().epsilon(),
            norm: probe.norm(),
            reduce_to: reduce.map(|r| r.n_components()),
            reduce_method: reduce.map(|r| r.method()),
            threads,
        }
    }
}

/// `results.json`, as documented in the README.
#[derive(Serialize)]
pub(crate) struct Results<'a> {
    pub tool: &'static str,
    pub version: &'static str,
    pub settings: Settings,
    pub layers: &'a [LayerResult],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<Accuracy>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub embeddings: &'a [LayerEmbedding],
    pub failures: &'a [Failure],
}

/// What the alpha stage computes beside alpha, checked before any work.
#[derive(Debug, Clone, Default)]
pub struct ExtrasParams {
    /// k-means scores.
    pub clustering: Option<ValidClusteringParams>,
    /// 2-D embedding.
    pub embedding: Option<ValidEmbeddingParams>,
}

impl ExtrasParams {
    /// From the command line's (or a config's) switches.
    pub fn new(
        clustering: bool,
        embedding: Option<EmbeddingMethod>,
        points: usize,
        seed: u64,
    ) -> anyhow::Result<ExtrasParams> {
        Ok(ExtrasParams {
            clustering: clustering
                .then(|| ClusteringParams::default().seed(seed).check())
                .transpose()
                .context("clustering")?,
            embedding: embedding
                .map(|m| {
                    EmbeddingParams::default()
                        .method(m)
                        .max_points(points)
                        .seed(seed)
                        .check()
                })
                .transpose()
                .context("embedding")?,
        })
    }
}

/// The layers' results: records flagged in order, joined with their extras.
fn finish_layers(
    mut records: Vec<LayerRecord>,
    extras: Vec<LayerExtras>,
) -> (Vec<LayerResult>, Vec<LayerEmbedding>) {
    flag_layers(&mut records);
    let mut embeddings = Vec::new();
    let layers = records
        .into_iter()
        .zip(extras)
        .map(|(record, extra)| {
            embeddings.extend(extra.embedding);
            LayerResult {
                record,
                clustering: extra.clustering,
            }
        })
        .collect();
    (layers, embeddings)
}

impl Results<'_> {
    /// Writes the results atomically.
    pub(crate) fn write(&self, out: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(self).context("cannot encode the results")?;
        write_atomic(out, &json)
    }
}

/// Runs `probe-alpha`. `Ok(false)` when at least one file failed (each is reported and the
/// others still run); `Err` when nothing could start (bad settings, no thread pool, no
/// results file).
pub fn run(args: &AlphaArgs) -> anyhow::Result<bool> {
    let probe = Probe::new(
        ForestParams::default()
            .n_trees(args.trees)
            .max_depth(args.depth)
            .max_features(args.max_features)
            .splitter(args.splitter)
            .seed(args.seed),
        AlphaParams::default().epsilon(args.epsilon),
        args.norm,
    )?;
    let reduce = args
        .reduce_to
        .map(|k| {
            ReduceParams::new(k)
                .method(args.reduce_method)
                .seed(args.seed)
                .backend(args.reduce_device)
                .check()
        })
        .transpose()
        .context("--reduce-to")?;
    let extras = ExtrasParams::new(
        args.clustering,
        args.embedding,
        args.embedding_points,
        args.seed,
    )?;
    let pool = thread_pool(args.threads)?;
    if let Some(out) = &args.out {
        check_writable(out)?;
    }

    let (files, mut failures) = expand(&args.files);
    let mut printing = print_line(&format!(
        "{:<40} {:<20} {:>7} {:>7} {:>7} {:>15} {:>9} {:>8}",
        "file", "layer", "n", "d", "alpha", "band", "wavelets", "seconds"
    ));
    let (layers, embeddings) = pool.install(|| {
        probe_files(
            &probe,
            reduce.as_ref(),
            &extras,
            &files,
            args.quiet,
            &mut failures,
            |file, record| {
                if printing {
                    printing = print_line(&format!(
                        "{:<40} {:<20} {:>7} {:>7} {:>7.4} {:>15} {:>9} {:>8.2}",
                        file.display(),
                        record.layer,
                        record.n,
                        record.d,
                        record.alpha,
                        format!("[{:.3}, {:.3}]", record.band[0], record.band[1]),
                        record.n_wavelets,
                        record.seconds
                    ));
                }
            },
        )
    });
    for r in layers
        .iter()
        .map(|l| &l.record)
        .filter(|r| r.flag.is_some())
    {
        if printing {
            printing = print_line(&format!(
                "flagged: {} ({})",
                r.layer,
                r.flag.as_deref().unwrap_or_default()
            ));
        }
    }
    if let Some(out) = &args.out {
        let results = Results {
            tool: "probe-alpha",
            version: env!("CARGO_PKG_VERSION"),
            settings: Settings::new(&probe, reduce.as_ref(), pool.current_num_threads()),
            layers: &layers,
            accuracy: None,
            embeddings: &embeddings,
            failures: &failures,
        };
        results.write(out)?;
    }
    Ok(failures.is_empty())
}

/// Every file through [`probe_file`] in order. A file that fails is reported and recorded in
/// `failures` without stopping the others; `on_record` sees each record as it finishes (for
/// the table). Returns the layers, flagged and joined with their extras, and the embeddings.
pub(crate) fn probe_files(
    probe: &Probe,
    reduce: Option<&ValidReduceParams>,
    extras: &ExtrasParams,
    files: &[PathBuf],
    quiet: bool,
    failures: &mut Vec<Failure>,
    mut on_record: impl FnMut(&Path, &LayerRecord),
) -> (Vec<LayerResult>, Vec<LayerEmbedding>) {
    let (mut records, mut layer_extras) = (Vec::new(), Vec::new());
    for file in files {
        match probe_file(probe, reduce, extras, file, quiet) {
            Ok((record, extra)) => {
                on_record(file, &record);
                records.push(record);
                layer_extras.push(extra);
            }
            Err(err) => {
                print_error(&err);
                failures.push(Failure {
                    file: file.display().to_string(),
                    error: one_line(&err),
                });
            }
        }
    }
    finish_layers(records, layer_extras)
}

/// One file through the probe: open, reduce in memory when asked and wider than K, score,
/// then cluster and embed what the forest saw when asked.
pub fn probe_file(
    probe: &Probe,
    reduce: Option<&ValidReduceParams>,
    extras: &ExtrasParams,
    file: &Path,
    quiet: bool,
) -> anyhow::Result<(LayerRecord, LayerExtras)> {
    let start = std::time::Instant::now();
    let set = FeatureSet::open(file)?;
    let input_d = set.n_features();
    let set = match reduce {
        Some(params) if input_d > params.n_components() => {
            match crate::reduce::reduce_with_bar(&set, params, quiet)? {
                Reduced::Reduced(reduced, _) => *reduced,
                Reduced::Unchanged => set,
            }
        }
        _ => set,
    };
    let bar = progress_bar(probe.forest().n_trees() as u64, set.layer(), "trees", quiet);
    let record = probe.run(&set, &|| bar.inc(1));
    bar.finish_and_clear();
    let mut record = record
        .map_err(flag_hint)
        .with_context(|| file.display().to_string())?;
    record.file = Some(file.display().to_string());
    record.input_d = input_d;
    let extra = layer_extras(&set, extras.clustering.as_ref(), extras.embedding.as_ref())
        .with_context(|| format!("{}: clustering or embedding", file.display()))?;
    if !quiet {
        for note in &extra.notes {
            eprintln!("note: {note}");
        }
    }
    record.seconds = start.elapsed().as_secs_f64();
    Ok((record, extra))
}

/// The library says which parameter to change; the command line names its flag.
fn flag_hint(err: probe_alpha::Error) -> anyhow::Error {
    match err {
        probe_alpha::Error::NoTauWithinEpsilon { .. } => anyhow::anyhow!("{err} (--epsilon)"),
        other => other.into(),
    }
}

/// Fails early, before any forest is fitted, when the results could not be written.
fn check_writable(out: &Path) -> anyhow::Result<()> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        anyhow::bail!(
            "cannot write --out {}: the folder {} does not exist",
            out.display(),
            dir.display()
        );
    }
    Ok(())
}
