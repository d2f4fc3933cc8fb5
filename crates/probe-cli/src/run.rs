//! `probe run CONFIG.toml`: the whole pipeline from one config, stages skipped when up to
//! date, or one stage's shard of units (`--stage S --shard I/N`) for cluster jobs.

use std::path::PathBuf;

use clap::Parser;
use probe_pipeline::{tables, Force, Pipeline, RunConfig, Shard, Stage};

use crate::output::{cancel_on_ctrl_c, print_line, Terminal};

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
    /// Run only this stage's units (train, extract or alpha); `probe merge RUN_DIR` then
    /// writes results.json and the report. Refuses when an earlier stage is not complete.
    #[arg(long, value_name = "STAGE")]
    pub stage: Option<Stage>,
    /// With --stage: only the units of shard I of N (0 <= I < N), e.g.
    /// --shard $SLURM_ARRAY_TASK_ID/8. Every process of a job array agrees on the split.
    #[arg(long, value_name = "I/N", requires = "stage")]
    pub shard: Option<Shard>,
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
    if let Some(stage) = args.stage {
        let shard = args.shard.unwrap_or(Shard::ALL);
        let outcome = pipeline.run_stage(
            stage,
            shard,
            force.of(stage),
            &terminal,
            &cancel_on_ctrl_c(),
        )?;
        if !args.quiet {
            print_line(&tables::stage_line(stage, shard, &outcome));
        }
        return Ok(outcome.failures == 0);
    }
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
