//! `probe-alpha`: the alpha-score of each feature-set file, as a table and a results file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use probe_alpha::{AlphaParams, LayerRecord, Probe};
use probe_data::FeatureSet;
use probe_forest::{ForestParams, MaxFeatures, Splitter, WaveletNorm};
use serde::Serialize;

use crate::output::{one_line, print_error, print_line, progress_bar, write_atomic};

/// Scores how well each layer's features organise the training set by class (the Sparsity
/// Probe's alpha-score; higher = simpler class geometry).
#[derive(Debug, Parser)]
#[command(name = "probe-alpha", version, about, long_about = None)]
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
    /// Seed of the forest's bootstrap and feature draws.
    #[arg(long, default_value_t = 2)]
    pub seed: u64,
    /// ε₁ in degrees: the narrowest window around −90° in which the critical τ lies.
    #[arg(long, default_value_t = 0.1)]
    pub epsilon: f64,
    /// Wavelet weighting: samples (share of samples in the node) or volume (cell volume).
    #[arg(long, default_value = "samples")]
    pub norm: WaveletNorm,
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

#[derive(Serialize)]
struct Settings {
    trees: usize,
    depth: usize,
    max_features: MaxFeatures,
    splitter: Splitter,
    seed: u64,
    epsilon: f64,
    norm: WaveletNorm,
    threads: usize,
}

#[derive(Serialize)]
struct Failure {
    file: String,
    error: String,
}

#[derive(Serialize)]
struct Results<'a> {
    tool: &'static str,
    version: &'static str,
    settings: Settings,
    layers: &'a [LayerRecord],
    failures: &'a [Failure],
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
    if args.threads == Some(0) {
        anyhow::bail!("--threads must be at least 1");
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()
        .context("cannot start the worker threads")?;
    if let Some(out) = &args.out {
        check_writable(out)?;
    }

    let (files, mut failures) = expand(&args.files);
    let mut layers = Vec::new();
    let mut printing = print_line(&format!(
        "{:<40} {:<20} {:>7} {:>7} {:>7} {:>15} {:>9} {:>8}",
        "file", "layer", "n", "d", "alpha", "band", "wavelets", "seconds"
    ));
    for file in files {
        let shown = file.display().to_string();
        let outcome = FeatureSet::open(&file)
            .map_err(anyhow::Error::from)
            .and_then(|set| {
                let bar = progress_bar(args.trees as u64, set.layer(), args.quiet);
                let record = pool.install(|| probe.run(&set, &|| bar.inc(1)));
                bar.finish_and_clear();
                record.with_context(|| shown.clone())
            });
        match outcome {
            Ok(record) => {
                if printing {
                    printing = print_line(&format!(
                        "{:<40} {:<20} {:>7} {:>7} {:>7.4} {:>15} {:>9} {:>8.2}",
                        shown,
                        record.layer,
                        record.n,
                        record.d,
                        record.alpha,
                        format!("[{:.3}, {:.3}]", record.band[0], record.band[1]),
                        record.n_wavelets,
                        record.seconds
                    ));
                }
                layers.push(record);
            }
            Err(err) => {
                print_error(&err);
                failures.push(Failure {
                    file: shown,
                    error: one_line(&err),
                });
            }
        }
    }

    if let Some(out) = &args.out {
        let results = Results {
            tool: "probe-alpha",
            version: env!("CARGO_PKG_VERSION"),
            settings: Settings {
                trees: args.trees,
                depth: args.depth,
                max_features: args.max_features,
                splitter: args.splitter,
                seed: args.seed,
                epsilon: args.epsilon,
                norm: args.norm,
                threads: pool.current_num_threads(),
            },
            layers: &layers,
            failures: &failures,
        };
        let json = serde_json::to_vec_pretty(&results).context("cannot encode the results")?;
        write_atomic(out, &json)?;
    }
    Ok(failures.is_empty())
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

/// Paths as given, with glob patterns expanded (sorted) where the shell did not expand them;
/// a pattern that matches nothing is a failure of its own.
fn expand(args: &[String]) -> (Vec<PathBuf>, Vec<Failure>) {
    let mut files = Vec::new();
    let mut failures = Vec::new();
    for arg in args {
        let is_pattern = arg.contains(['*', '?', '[']) && !Path::new(arg).exists();
        if !is_pattern {
            files.push(PathBuf::from(arg));
            continue;
        }
        let matched: Vec<PathBuf> = match glob::glob(arg) {
            Ok(paths) => paths.filter_map(Result::ok).collect(),
            Err(e) => {
                failures.push(Failure {
                    file: arg.clone(),
                    error: format!("{arg}: not a valid glob pattern: {e}"),
                });
                continue;
            }
        };
        if matched.is_empty() {
            let error = format!("{arg}: no file matches this pattern");
            print_error(&anyhow::anyhow!(error.clone()));
            failures.push(Failure {
                file: arg.clone(),
                error,
            });
        }
        files.extend(matched);
    }
    (files, failures)
}
