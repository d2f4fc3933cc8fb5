//! The Sparsity Probe as a library: run configs, the stages (train → extract → reduce →
//! alpha → report) with their up-to-date checks, scoring feature-set files, and `results.json`.
//!
//! Front ends (the `probe` command line, the Python package) are thin shells over this crate:
//! it prints nothing and never exits; long work reports through an [`Observer`] and stops
//! when the caller's [`Cancel`] is set.
//!
//! A whole run from a config (here the quickstart, shortened to two epochs):
//!
//! ```
//! use probe_pipeline::{Cancel, Force, Pipeline, RunConfig, Silent};
//!
//! # fn main() -> probe_pipeline::Result<()> {
//! let dir = tempfile::tempdir().expect("temp dir");
//! let mut config = RunConfig::from_file("../../configs/quickstart.toml".as_ref())?;
//! config.out = Some(dir.path().join("quickstart"));
//! config.train.as_mut().expect("[train]").epochs = 2;
//! config.probe.embedding = None;
//! let outcome = Pipeline::new(config)?.run(Force::default(), &Silent, &Cancel::new())?;
//! let results = outcome.results.expect("scored");
//! assert_eq!(results.layers.len(), 3);
//! assert!(outcome.report.expect("drawn").exists());
//! # Ok(())
//! # }
//! ```
//!
//! Scoring feature-set files and writing `results.json`:
//!
//! ```
//! use std::collections::BTreeMap;
//! use probe_alpha::{AlphaParams, Probe};
//! use probe_forest::{ForestParams, WaveletNorm};
//! use probe_pipeline::{score_files, Cancel, Scoring, Silent};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let file = dir.path().join("layer.safetensors");
//! // Two classes of 500 scattered points in 4 dimensions, shifted apart.
//! let mut state = 1u64;
//! let mut noise = move || {
//!     state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
//!     (state >> 40) as f32 / (1u64 << 24) as f32
//! };
//! let labels: Vec<i64> = (0..1000).map(|i| i % 2).collect();
//! let features: Vec<f32> = (0..4000).map(|i| labels[i / 4] as f32 + noise()).collect();
//! let meta = BTreeMap::from([("layer".to_string(), "layer".to_string())]);
//! probe_data::write_feature_set(&file, &features, &[1000, 4], &labels, &meta)?;
//!
//! // A wider ε window than the default 0.1°: so few points give a coarse τ-curve.
//! let alpha = AlphaParams::default().epsilon(1.0);
//! let probe = Probe::new(ForestParams::default(), alpha, WaveletNorm::Samples)?;
//! let scoring = Scoring::new(probe);
//! let scored = score_files(&scoring, &[file], &Silent, &Cancel::new())?;
//! assert!(scored.failures.is_empty(), "{:?}", scored.failures);
//! let results = scored.into_results("my-tool", scoring.settings(1));
//! results.save(&dir.path().join("results.json"))?;
//! let back = probe_pipeline::Results::load(&dir.path().join("results.json"))?;
//! assert_eq!(back, results);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod config;
mod error;
pub mod jobs;
mod merge;
mod observer;
mod output;
mod prober;
mod reduce;
mod results;
mod run;
mod score;
mod stages;
mod sweep;
pub mod tables;
mod train;
mod units;

pub use config::{
    line_at, Checkpoints, ClusterSection, DatasetSection, Device, ModelSection, ParseDeviceError,
    ProbeSection, ReduceSection, RunConfig, Split, TrainSection,
};
pub use error::{Error, Result};
pub use merge::{merge, Merged};
pub use observer::{Cancel, Observer, Silent};
pub use output::check_output;
pub use prober::EpochProber;
pub use reduce::{reduce_file, reduced_path, ReducedFile};
pub use results::{best_accuracy, load_run, CheckpointResults, Failure, Results, Settings};
pub use run::{write_report, Force, Pipeline, RunOutcome, STAGES};
pub use score::{
    expand, reduce_in_memory, score_file, score_files, score_set, Extras, Scored, Scoring,
};
pub use stages::StageOutcome;
pub use sweep::{checkpoints, Checkpoint};
pub use train::{checkpoint_epoch, TrainJob, TrainProbe, TrainSettings, Trained, SETTINGS_FILE};
pub use units::{ParseShardError, ParseStageError, Plan, Shard, Stage, Target, Unit, PLAN_FILE};
