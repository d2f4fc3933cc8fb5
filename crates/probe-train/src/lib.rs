//! Trains the networks that the Sparsity Probe analyses: a seeded loop over mini-batches with
//! Adam or SGD (state saved for resuming), label noise, per-epoch metrics and checkpoints
//! with PyTorch parameter names.
//!
//! [`train_run`] is a whole run; [`Trainer`] is the loop underneath, one epoch at a time.
#![deny(missing_docs)]

mod checkpoint;
mod device;
mod env;
mod error;
mod optim;
mod run;
mod trainer;

pub use checkpoint::{load_checkpoint, optimizer_path, save_checkpoint, Resumed};
pub use device::device;
pub use env::{DatasetKind, Env, EnvData, NormalizationKind, SyntheticSpec, BUILTIN_ENVS};
pub use error::{Error, Result};
pub use optim::{Optimizer, OptimizerConfig};
pub use run::{
    append_json_line, keep_epochs_up_to, train_run, EpochReport, Observer, ObserverError, Quiet,
    RunSpec, RunSummary,
};
pub use trainer::{batch, evaluate, Score, TrainParams, Trainer};
