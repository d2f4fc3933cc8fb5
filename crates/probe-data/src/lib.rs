//! Reads and writes the feature-set files that connect the stages of the Sparsity Probe.
//!
//! A feature set is one safetensors file with `features` `[n, d]` and `labels` `[n]` (see the
//! project's SPEC §1). [`FeatureSet::open`] memory-maps and validates a file;
//! [`write_feature_set`] and [`FeatureSet::write`] write one atomically;
//! [`FeatureSetWriter`] writes one batch by batch, without holding the whole matrix.
//! [`RunLock`] keeps two processes out of one run folder, and [`remove_stale_temporaries`]
//! clears the temporary files of writers that were killed.
//!
//! [`write_atomic`] writes any other small file (results, manifests) the same all-or-nothing
//! way. The datasets the probe is run on (MNIST, CIFAR-10, the synthetic task) are read by the
//! `probe-datasets` crate.
//!
//! ```
//! use std::collections::BTreeMap;
//! use probe_data::{write_feature_set, FeatureSet};
//!
//! # fn main() -> probe_data::Result<()> {
//! let dir = tempfile::tempdir().expect("temp dir");
//! let path = dir.path().join("conv1.safetensors");
//! // Three samples with two features each; raw labels 7, 3, 7.
//! let features = [0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0];
//! let meta = BTreeMap::from([("layer".to_string(), "conv1".to_string())]);
//! write_feature_set(&path, &features, &[3, 2], &[7, 3, 7], &meta)?;
//!
//! let set = FeatureSet::open(&path)?;
//! assert_eq!((set.n_samples(), set.n_features(), set.n_classes()), (3, 2, 2));
//! assert_eq!(set.labels(), &[1, 0, 1]); // dense ids, raw values in sorted order
//! assert_eq!(set.class_values(), &[3, 7]);
//! let mut row = [0.0f64; 2];
//! set.read_rows_f64(1, &mut row);
//! assert_eq!(row, [2.0, 3.0]);
//! assert_eq!(set.layer(), "conv1");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod check;
mod error;
mod feature_set;
mod lock;
mod stream;
mod write;

pub use error::{Error, Result};
pub use feature_set::{
    write_feature_set, FeatureBuffer, FeatureDtype, FeatureSet, FeatureValues, IN_MEMORY,
};
pub use lock::{LockHolder, RunLock, RUN_LOCK_FILE};
pub use stream::FeatureSetWriter;
pub use write::{remove_stale_temporaries, write_atomic};
