//! Feature extraction for the Sparsity Probe: runs a trained (or random) model over a dataset
//! once and streams the representation of every requested layer to its own feature-set file.
//!
//! [`extract`] takes an [`ExtractConfig`] (TOML: model, dataset, layers, batch size, device,
//! output, optional reduction) and writes `OUT/features/NN_<layer>.safetensors` plus
//! `OUT/features/manifest.json`. Rows are appended as batches finish, so memory does not grow
//! with the dataset; files appear atomically, and complete ones are skipped on a rerun.
//!
//! [`features_in_memory`] returns chosen samples' layers as in-memory feature sets instead
//! (the pipeline's probes between training epochs use it).
#![deny(missing_docs)]

mod config;
mod error;
mod extract;
mod forward;
mod network;
mod writer;

pub use config::{DatasetSection, ExtractConfig, ModelSection, ReduceSection};
pub use error::{Error, Result};
pub use extract::{extract, layer_file, weights_hash, LayerFailure, LayerOutput, Manifest};
pub use forward::{check_layers, features_in_memory};
pub use network::{check_onnx_layers, list_layers, resolve_layers};
