//! Trains the networks that the Sparsity Probe analyses: a seeded loop over mini-batches with
//! Adam or SGD (state saved for resuming), label noise, per-epoch metrics and checkpoints
//! with PyTorch parameter names.
//!
//! [`train_run`] is a whole run; [`Trainer`] is the loop underneath, one epoch at a time. The
//! data comes from `probe_datasets` (datasets, environments), the models, devices and batches
//! from `probe_models`.
#![deny(missing_docs)]

mod adam_cpu;
mod checkpoint;
mod error;
mod optim;
mod run;
mod trainer;

pub use checkpoint::{load_checkpoint, optimizer_path, save_checkpoint, Resumed};
pub use error::{Error, Result};
pub use optim::{Optimizer, OptimizerConfig};
pub use run::{
    append_json_line, keep_epochs_up_to, train_run, EpochReport, Observer, ObserverError, Quiet,
    RunSpec, RunSummary,
};
pub use trainer::{evaluate, Score, TrainParams, Trainer};
