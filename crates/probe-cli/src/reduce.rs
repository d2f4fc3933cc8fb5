//! `probe-reduce`: reduce wide feature sets to K dimensions (truncated SVD or PCA), one output
//! file per input.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use probe_data::FeatureSet;
use probe_reduce::{
    reduce_set_with_progress, Backend, Method, ReduceParams, Reduced, ValidReduceParams,
};

use crate::files::{expand, Failure};
use crate::output::{print_error, print_line, progress_bar, thread_pool};

/// Reduces feature sets to K dimensions with a randomized truncated SVD (as scikit-learn's
/// TruncatedSVD) or PCA, keeping labels and metadata.
#[derive(Debug, Parser)]
#[command(name = "probe-reduce", version)]
pub struct ReduceArgs {
    /// Feature-set files; globs are expanded here too.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// tsvd (truncated SVD without centring) or pca (centred).
    #[arg(long, default_value = "tsvd")]
    pub method: Method,
    /// Target dimension K; sets with d <= K are passed through unchanged.
    #[arg(long, value_name = "K")]
    pub dim: usize,
    /// Seed of the random test matrix.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Power iterations (each is two passes over the data).
    #[arg(long, default_value_t = 3)]
    pub power_iters: usize,
    /// Extra random directions beyond K.
    #[arg(long, default_value_t = 10)]
    pub oversamples: usize,
    /// Output folder (default: beside the input's folder, named `<folder>-reduced`, e.g.
    /// runs/x/features -> runs/x/features-reduced).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Worker threads (default: one per core). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where the products run: cpu, or cuda / cuda:N (a build with `--features cuda`; the
    /// input then has to fit in GPU memory).
    #[arg(long, default_value = "cpu", value_name = "DEVICE")]
    pub device: Backend,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `probe-reduce`; `Ok(false)` when a file failed (the others still ran).
pub fn run(args: &ReduceArgs) -> anyhow::Result<bool> {
    let params = ReduceParams::new(args.dim)
        .method(args.method)
        .seed(args.seed)
        .power_iters(args.power_iters)
        .oversamples(args.oversamples)
        .backend(args.device)
        .check()
        .context("--dim")?;
    let pool = thread_pool(args.threads)?;
    let (files, mut failures) = expand(&args.files);
    let mut printing = print_line(&format!(
        "{:<40} {:<20} {:>7} {:>7} {:>6} {:>9} {:>8}  {}",
        "file", "layer", "n", "d", "K", "variance", "seconds", "output"
    ));
    for file in files {
        match pool.install(|| reduce_file(&params, &file, args.out_dir.as_deref(), args.quiet)) {
            Ok(line) => {
                if printing {
                    printing = print_line(&line);
                }
            }
            Err(err) => {
                print_error(&err);
                failures.push(Failure {
                    file: file.display().to_string(),
                    error: crate::output::one_line(&err),
                });
            }
        }
    }
    Ok(failures.is_empty())
}

/// Where a reduced file goes: `DIR/<name>`, DIR defaulting to `<input folder>-reduced`.
fn output_path(file: &Path, out_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let name = file
        .file_name()
        .with_context(|| format!("{} is not a file name", file.display()))?;
    let dir = match out_dir {
        Some(d) => d.to_path_buf(),
        None => {
            let folder = std::path::absolute(file)
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| PathBuf::from("."));
            let base = folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "features".into());
            folder.with_file_name(format!("{base}-reduced"))
        }
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    let out = dir.join(name);
    if std::path::absolute(&out).ok() == std::path::absolute(file).ok() {
        anyhow::bail!(
            "{}: the output would overwrite the input; choose another --out-dir",
            file.display()
        );
    }
    Ok(out)
}

/// Reduces a set with a progress bar over the passes through its data.
pub fn reduce_with_bar(
    set: &FeatureSet,
    params: &ValidReduceParams,
    quiet: bool,
) -> probe_reduce::Result<Reduced> {
    let bar = progress_bar(
        0,
        format!("{} ({})", set.layer(), params.tag()),
        "passes",
        quiet,
    );
    let reduced = reduce_set_with_progress(set, params, &|done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    reduced
}

fn reduce_file(
    params: &ValidReduceParams,
    file: &Path,
    out_dir: Option<&Path>,
    quiet: bool,
) -> anyhow::Result<String> {
    let start = std::time::Instant::now();
    let set = FeatureSet::open(file)?;
    let out = output_path(file, out_dir)?;
    let (k, variance) = match reduce_with_bar(&set, params, quiet)? {
        Reduced::Reduced(reduced, stats) => {
            reduced.write(&out)?;
            (stats.k, format!("{:.4}", stats.explained_variance_ratio))
        }
        Reduced::Unchanged => {
            set.write(&out)?;
            (set.n_features(), "unchanged".to_string())
        }
    };
    let mut line = format!(
        "{:<40} {:<20} {:>7} {:>7} {:>6} {:>9} {:>8.2}  {}",
        file.display(),
        set.layer(),
        set.n_samples(),
        set.n_features(),
        k,
        variance,
        start.elapsed().as_secs_f64(),
        out.display()
    );
    if variance == "unchanged" {
        line += &format!(
            "  (d = {} <= K = {}: passed through)",
            set.n_features(),
            params.n_components()
        );
    }
    Ok(line)
}
