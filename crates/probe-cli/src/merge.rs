//! `probe merge RUN_DIR`: joins the partial records that sharded alpha units wrote into
//! results.json (each checkpoint's and the run's) and draws the report.

use std::path::PathBuf;

use clap::Parser;

use crate::output::Terminal;

/// Joins a sharded run's alpha records into results.json and draws report.html.
#[derive(Debug, Parser)]
#[command(name = "probe merge", version)]
pub struct MergeArgs {
    /// The run's folder (runs/NAME), where `probe run --stage` wrote plan.json.
    pub run_dir: PathBuf,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `probe merge`; `Ok(false)` when a layer failed.
pub fn run(args: &MergeArgs) -> anyhow::Result<bool> {
    let merged = if args.quiet {
        probe_pipeline::merge(&args.run_dir, &probe_pipeline::Silent)?
    } else {
        probe_pipeline::merge(&args.run_dir, &Terminal::new(false, false))?
    };
    if merged.failures > 0 {
        crate::output::print_error(&format!(
            "{} layer(s) failed; see `failures` in {}",
            merged.failures,
            args.run_dir.join("results.json").display()
        ));
    }
    Ok(merged.failures == 0)
}
