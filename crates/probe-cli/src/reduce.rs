//! `probe-reduce`: reduce wide feature sets to K dimensions (truncated SVD or PCA), one output
//! file per input.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use probe_pipeline::{expand, reduce_file, tables};
use probe_reduce::{Algorithm, Backend, Method, ReduceParams};

use crate::output::{one_line, print_error, print_line, thread_pool, Terminal};

/// Reduces feature sets to K dimensions with a truncated SVD (as scikit-learn's TruncatedSVD)
/// or PCA, keeping labels and metadata: a randomized SVD, or the Gram matrix of the shorter
/// side when that costs less (K a large share of it, as at the original tool's K = 2,500).
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
    /// Power iterations (each is two passes over the data, or one product with the Gram
    /// matrix on the Gram route).
    #[arg(long, default_value_t = 3)]
    pub power_iters: usize,
    /// auto (the cheaper for each file's shape), randomized, or gram (the Gram matrix of the
    /// shorter side: exactly eigendecomposed when that side is short, else iterated).
    #[arg(long, default_value = "auto")]
    pub algorithm: Algorithm,
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
        .algorithm(args.algorithm)
        .check()
        .context("--dim / --power-iters / --device / --algorithm")?;
    let pool = thread_pool(args.threads)?;
    let (files, failures) = expand(&args.files);
    for f in &failures {
        print_error(&f.error);
    }
    let mut ok = failures.is_empty();
    let terminal = Terminal::new(args.quiet, false);
    let mut printing = print_line(&tables::reduced_header());
    for file in files {
        match pool.install(|| reduce_file(&params, &file, args.out_dir.as_deref(), &terminal)) {
            Ok(r) if printing => printing = print_line(&tables::reduced_row(&r, args.dim)),
            Ok(_) => {}
            Err(err) => {
                print_error(&one_line(&err.into()));
                ok = false;
            }
        }
    }
    Ok(ok)
}
