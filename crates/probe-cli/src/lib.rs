//! The command-line tools of the Sparsity Probe: argument parsing, progress bars, tables and
//! exit codes around the pipeline library (`probe-pipeline`), which does the work.
//!
//! Each binary in `src/bin` is a thin `main` over one module here, so that the same commands
//! can later be subcommands of `probe`.
#![deny(missing_docs)]

pub mod alpha;
pub mod extract;
pub mod merge;
pub mod output;
pub mod plan;
pub mod reduce;
pub mod report;
pub mod run;
pub mod train;
