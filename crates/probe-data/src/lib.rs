//! Reads and writes the feature-set files that connect the stages of the Sparsity Probe, and
//! loads the datasets (MNIST IDX, CIFAR-10 binary, a built-in synthetic task) that the probe is
//! run on.
//!
//! A feature set is one safetensors file with `features` `[n, d]` and `labels` `[n]` (see the
//! project's SPEC §1). [`FeatureSet::open`] memory-maps and validates a file;
//! [`write_feature_set`] and [`FeatureSet::write`] write one atomically;
//! [`FeatureSetWriter`] writes one batch by batch, without holding the whole matrix.
//! [`RunLock`] keeps two processes out of one run folder, and [`remove_stale_temporaries`]
//! clears the temporary files of writers that were killed.
//!
//! A [`Dataset`] holds inputs, labels and the per-sample shape in memory: [`load_mnist`] and
//! [`load_cifar10`] read them from a folder ([`download_mnist`] and [`download_cifar10`] fetch
//! the official parquet files from the Hugging Face Hub and convert them once into such a
//! folder), [`synthetic`] generates a task from a seed.
//! [`Dataset::split`], [`Dataset::subset`] and [`Dataset::with_label_noise`] are seeded;
//! [`Normalization`] standardizes the inputs per channel.
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
//!
//! Datasets:
//!
//! ```
//! use probe_data::{synthetic, Normalization, SyntheticConfig};
//!
//! # fn main() -> probe_data::Result<()> {
//! let data = synthetic(1000, 7, &SyntheticConfig::default())?;
//! assert_eq!((data.len(), data.shape.as_slice(), data.n_classes), (1000, &[32][..], 5));
//! let (mut train, mut val) = data.split(0.2, 1)?;
//! assert_eq!((train.len(), val.len()), (800, 200));
//! let norm = Normalization::fit(&train)?; // fitted on the training part only
//! norm.apply(&mut train)?;
//! norm.apply(&mut val)?;
//! let (noisy, changed) = train.with_label_noise(0.1, 3, train.n_classes)?;
//! assert!(changed <= 80 && noisy.len() == 800);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod check;
mod cifar;
mod convert;
mod dataset;
mod error;
mod feature_set;
mod hub;
mod idx;
mod lock;
mod mnist;
mod stream;
mod synthetic;
mod write;

pub use cifar::{cifar10_files, load_cifar10, load_cifar10_files, CIFAR10_RECORD_BYTES};
pub use dataset::{Dataset, Normalization, Split};
pub use error::{Error, Result};
pub use feature_set::{write_feature_set, FeatureDtype, FeatureSet};
pub use hub::{
    download_cifar10, download_mnist, fetch_dataset_file, fetch_dataset_files, CIFAR10_FILES,
    CIFAR10_REPO, MNIST_FILES, MNIST_REPO,
};
pub use idx::{read_idx_images, read_idx_labels, IdxImages};
pub use lock::{LockHolder, RunLock, RUN_LOCK_FILE};
pub use mnist::{load_mnist, load_mnist_files, MnistFiles, MnistFolder};
pub use stream::FeatureSetWriter;
pub use synthetic::{synthetic, SyntheticConfig};
pub use write::{remove_stale_temporaries, write_atomic};
