//! `probe`: the whole probe from one config (`probe run`), and every stage as a subcommand
//! (`probe train`, `probe extract`, `probe reduce`, `probe alpha`, the same as the standalone
//! binaries, and `probe report`).

use clap::{Parser, Subcommand};
use probe_cli::{alpha, extract, merge, output, plan, reduce, report, run, train};

/// The Sparsity Probe: how well each layer of a network organises its training set by class.
#[derive(Debug, Parser)]
#[command(name = "probe", version)]
struct Cli {
    #[command(subcommand)]
    stage: Stage,
}

#[derive(Debug, Subcommand)]
enum Stage {
    /// Train (when asked) → extract → reduce → alpha → report from one config, skipping what
    /// is done.
    #[command(name = "run")]
    Run(run::RunArgs),
    /// List the run's units of work as JSON lines; write Slurm or Kubernetes jobs for them.
    #[command(name = "plan")]
    Plan(plan::PlanArgs),
    /// Join a sharded run's alpha records into results.json and draw the report.
    #[command(name = "merge")]
    Merge(merge::MergeArgs),
    /// Train a network of an environment (as probe-train).
    #[command(name = "train")]
    Train(train::TrainArgs),
    /// Write every requested layer's features in one pass (as probe-extract).
    #[command(name = "extract")]
    Extract(extract::ExtractArgs),
    /// Reduce wide feature sets to K dimensions (as probe-reduce).
    #[command(name = "reduce")]
    Reduce(reduce::ReduceArgs),
    /// Score each feature set's alpha (as probe-alpha).
    #[command(name = "alpha")]
    Alpha(alpha::AlphaArgs),
    /// Draw a run's figures and report.html, or compare several runs in one report.
    #[command(name = "report")]
    Report(report::ReportArgs),
}

fn main() -> std::process::ExitCode {
    probe_cli::output::pin_thread_count();
    let outcome = match Cli::parse().stage {
        Stage::Run(args) => run::run(&args),
        Stage::Plan(args) => plan::run(&args),
        Stage::Merge(args) => merge::run(&args),
        Stage::Train(args) => train::run(&args),
        Stage::Extract(args) => extract::run(&args),
        Stage::Reduce(args) => reduce::run(&args),
        Stage::Alpha(args) => alpha::run(&args),
        Stage::Report(args) => report::run(&args),
    };
    output::exit_code(outcome)
}
