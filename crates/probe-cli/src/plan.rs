//! `probe plan CONFIG`: the run's units of work as JSON lines, and job files for Slurm
//! (`--slurm`) or Kubernetes (`--k8s`) that run them in shards.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use probe_pipeline::jobs::{write_k8s, write_slurm};
use probe_pipeline::{Pipeline, RunConfig};

use crate::output::print_line;

/// Lists the run's units (id, stage, checkpoint, layer, inputs, outputs) as JSON lines, and
/// writes cluster job files that run them.
#[derive(Debug, Parser)]
#[command(name = "probe plan", version)]
pub struct PlanArgs {
    /// The run's config.
    pub config: PathBuf,
    /// Write RUN_DIR/jobs/: a Slurm job array per stage, a merge job, and submit.sh, which
    /// submits them in order ([cluster] in the config sets the resources).
    #[arg(long)]
    pub slurm: bool,
    /// Write RUN_DIR/jobs/k8s/: a Kubernetes Indexed Job per stage, a merge Job, and
    /// apply.sh, which applies them in order.
    #[arg(long)]
    pub k8s: bool,
    /// Do not list the units (only write the job files).
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `probe plan`.
pub fn run(args: &PlanArgs) -> anyhow::Result<bool> {
    let config = RunConfig::from_file(&args.config)?;
    let name = config.name.clone();
    let cluster = config.cluster.clone();
    let pipeline = Pipeline::new(config)?;
    let plan = pipeline.plan();
    plan.save()?;
    if !args.quiet {
        for unit in &plan.units {
            let line = serde_json::to_string(unit).context("cannot encode a unit")?;
            if !print_line(&line) {
                return Ok(true);
            }
        }
    }
    let workdir = std::env::current_dir().context("cannot read the current folder")?;
    let mut written = Vec::new();
    if args.slurm {
        let probe = std::env::current_exe().context("cannot find this program's path")?;
        written.extend(write_slurm(&plan, &name, &cluster, &probe, &workdir)?);
    }
    if args.k8s {
        written.extend(write_k8s(&plan, &name, &cluster, &workdir)?);
    }
    for file in written {
        eprintln!("wrote {}", file.display());
    }
    Ok(true)
}
