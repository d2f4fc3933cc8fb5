//! Loads the datasets that the Sparsity Probe is run on — MNIST IDX, CIFAR-10 binary, a built-in
//! synthetic task — and the environments that pair one with a model and the layers to probe.
//!
//! A [`Dataset`] holds inputs, labels and the per-sample shape in memory: [`load_mnist`] and
//! [`load_cifar10`] read them from a folder ([`download_mnist`] and [`download_cifar10`] fetch
//! the official parquet files from the Hugging Face Hub and convert them once into such a
//! folder), [`synthetic`] generates a task from a seed.
//! [`Dataset::split`], [`Dataset::subset`] and [`Dataset::with_label_noise`] are seeded;
//! [`Normalization`] standardizes the inputs per channel; [`Dataset::to_feature_set`] hands the
//! raw inputs to the probe as a `probe_data::FeatureSet`.
//!
//! An [`Env`] (built in by name, or a TOML file as in `configs/envs/`) names a dataset, its
//! normalisation, a default model and the layers to probe; [`Env::load`] returns its
//! normalised training, validation and test splits. The model's settings stay as written:
//! this crate knows no models (`probe_models::ModelConfig::for_env` reads them).
//!
//! ```
//! use probe_datasets::{synthetic, Normalization, SyntheticConfig};
//!
//! # fn main() -> probe_datasets::Result<()> {
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
//!
//! Environments:
//!
//! ```
//! use probe_datasets::Env;
//!
//! # fn main() -> probe_datasets::Result<()> {
//! let mut env = Env::builtin("synthetic")?;
//! env.synthetic.n_train = 500; // a small task, for the example
//! env.synthetic.n_test = 100;
//! let data = env.load(None, 0.2, 1)?; // the synthetic task needs no files
//! assert_eq!((data.train.len(), data.val.len()), (400, 100));
//! assert_eq!(data.test.map(|t| t.len()), Some(100));
//! assert_eq!((env.model.as_str(), env.input_shape()), ("mlp", vec![32]));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod cifar;
mod convert;
mod dataset;
mod env;
mod error;
mod hub;
mod idx;
mod mnist;
mod synthetic;

pub use cifar::{cifar10_files, load_cifar10, load_cifar10_files, CIFAR10_RECORD_BYTES};
pub use dataset::{Dataset, Normalization, Split};
pub use env::{DatasetKind, Env, EnvData, NormalizationKind, SyntheticSpec, BUILTIN_ENVS};
pub use error::{Error, Result};
pub use hub::{
    download_cifar10, download_mnist, fetch_dataset_file, fetch_dataset_files, CIFAR10_FILES,
    CIFAR10_REPO, MNIST_FILES, MNIST_REPO,
};
pub use idx::{read_idx_images, read_idx_labels, IdxImages};
pub use mnist::{load_mnist, load_mnist_files, MnistFiles, MnistFolder};
pub use synthetic::{synthetic, SyntheticConfig};
