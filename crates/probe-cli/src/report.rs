//! `probe report RUN_DIR... [--out DIR]`: the figures and the self-contained `report.html` of
//! one run (written into its folder), or of several runs overlaid (written into `--out`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use probe_pipeline::tables::comparison_table;
use probe_pipeline::{load_run, write_report};

use crate::output::print_line;

/// Draws a run's figures (alpha per layer with its band, τ–angle diagnostics, clustering,
/// accuracy, alpha per epoch, embeddings) and writes one self-contained report.html.
#[derive(Debug, Parser)]
#[command(name = "probe report", version)]
pub struct ReportArgs {
    /// Run folders (each with a results.json). Several runs are compared in one report.
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// Where the figures and report.html go (default: the run's folder; required when
    /// comparing several runs).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `probe report`.
pub fn run(args: &ReportArgs) -> anyhow::Result<bool> {
    let out = match (&args.out, args.runs.as_slice()) {
        (Some(out), _) => out.clone(),
        (None, [one]) => one.clone(),
        (None, _) => anyhow::bail!(
            "comparing {} runs needs --out DIR for the combined report",
            args.runs.len()
        ),
    };
    let runs = args
        .runs
        .iter()
        .map(|dir| load_run(dir))
        .collect::<Result<Vec<_>, _>>()?;
    let page = write_report(&runs, &out)
        .with_context(|| format!("cannot write the report into {}", out.display()))?;
    if !args.quiet {
        if runs.len() > 1 {
            for line in comparison_table(&runs) {
                print_line(&line);
            }
        }
        print_line(&format!("report: {}", page.display()));
    }
    Ok(true)
}
