//! `probe-alpha`: the alpha-score of each feature-set file, as a table and a results file.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use probe_forest::{MaxFeatures, Splitter, WaveletNorm};
use probe_pipeline::{check_output, expand, score_files, tables, ProbeSection, Scoring};
use probe_reduce::{Backend, Method, ReduceParams};
use probe_report::embedding::EmbeddingMethod;

use crate::output::{cancel_on_ctrl_c, print_error, print_line, thread_pool, Terminal};

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
    /// original tool's feature_dimension; it used 2500). A layer with fewer samples than K
    /// is reduced to that many.
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
    /// Forests per layer, seeds SEED, SEED+1, …: the record adds their mean (as `alpha`), a
    /// 95% interval and each forest's alpha, and layers are flagged by a one-sided t-test.
    #[arg(long, default_value_t = 1, value_name = "R")]
    pub repeats: usize,
    /// With --repeats: each forest also draws a stratified subsample of this fraction of the
    /// samples (per class), so that the interval covers the data as well as the forest.
    #[arg(long, value_name = "F")]
    pub resample: Option<f64>,
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

/// Runs `probe-alpha`. `Ok(false)` when at least one file failed (each is reported and the
/// others still run); `Err` when nothing could start (bad settings, an output that cannot
/// be written). When nothing was scored, an existing results file is kept.
pub fn run(args: &AlphaArgs) -> anyhow::Result<bool> {
    let settings = ProbeSection {
        trees: args.trees,
        depth: args.depth,
        max_features: args.max_features,
        splitter: args.splitter,
        seed: args.seed,
        epsilon: args.epsilon,
        norm: args.norm,
        clustering: args.clustering,
        embedding: args.embedding,
        embedding_points: args.embedding_points,
        repeats: args.repeats,
        resample: args.resample,
    };
    let probe = settings
        .probe()
        .context("--trees / --depth / --max-features / --epsilon / --repeats / --resample")?;
    let extras = settings.extras().context("--clustering / --embedding")?;
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
    let pool = thread_pool(args.threads)?;
    let (files, pattern_failures) = expand(&args.files);
    if let Some(out) = &args.out {
        check_output(out, &files).context("--out")?;
    }
    for f in &pattern_failures {
        print_error(&f.error);
    }
    let scoring = Scoring {
        probe,
        reduce,
        extras,
    };
    let terminal = Terminal::new(args.quiet, true);
    let cancel = cancel_on_ctrl_c();
    print_line(&tables::alpha_header(args.repeats > 1));
    let mut scored = pool.install(|| score_files(&scoring, &files, &terminal, &cancel))?;
    scored.failures.splice(0..0, pattern_failures);
    for r in scored.layers.iter().map(|l| &l.record) {
        if let Some(flag) = &r.flag {
            print_line(&format!("flagged: {} ({flag})", r.layer));
        }
    }
    let all_scored = scored.failures.is_empty();
    if let Some(out) = args
        .out
        .as_ref()
        .filter(|o| scored.layers.is_empty() && o.exists())
    {
        // Results of an earlier run are worth more than a record of failures.
        eprintln!(
            "note: no file could be scored, so {} was left as it was",
            out.display()
        );
    } else if let Some(out) = &args.out {
        let settings = scoring.settings(pool.current_num_threads());
        scored.into_results("probe-alpha", settings).save(out)?;
    }
    Ok(all_scored)
}
