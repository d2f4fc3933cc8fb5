//! `probe run CONFIG.toml`: the whole pipeline from one config, stages skipped when up to
//! date; this module parses the arguments and renders what the pipeline reports.

use std::path::PathBuf;

use clap::Parser;
use probe_pipeline::{Force, Pipeline, RunConfig};

use crate::output::{cancel_on_ctrl_c, Terminal};

/// Runs the whole probe from one config: train, extract, reduce, alpha, report.
#[derive(Debug, Parser)]
#[command(name = "probe run", version)]
pub struct RunArgs {
    /// The run's config (see configs/quickstart.toml).
    pub config: PathBuf,
    /// Redo a stage even when its outputs are up to date: train, extract, alpha, report or
    /// all.
    #[arg(long, value_name = "STAGE")]
    pub force: Vec<String>,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `probe run`; `Ok(false)` when a layer failed in extraction or scoring.
pub fn run(args: &RunArgs) -> anyhow::Result<bool> {
    let mut force = Force::default();
    for stage in &args.force {
        force
            .add(stage)
            .map_err(|e| anyhow::anyhow!("--force {stage}: {e}"))?;
    }
    let pipeline = Pipeline::new(RunConfig::from_file(&args.config)?)?;
    let terminal = Terminal::new(args.quiet, false);
    let outcome = pipeline.run(force, &terminal, &cancel_on_ctrl_c())?;
    if outcome.failures > 0 {
        crate::output::print_error(&format!(
            "{} layer(s) failed; see the lines above and `failures` in {}",
            outcome.failures,
            outcome.dir.join("results.json").display()
        ));
    }
    Ok(outcome.failures == 0)
}
