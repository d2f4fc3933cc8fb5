use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while extracting features.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The config is wrong; the message names the field.
    #[error("{}: {reason}", .path.display())]
    Config {
        /// The config file (or `<command line>`).
        path: PathBuf,
        /// What is wrong and what is valid.
        reason: String,
    },
    /// A setting of an in-memory extraction or a probe during training is out of range.
    #[error("invalid `{name}`: {reason}")]
    InvalidParameter {
        /// The setting.
        name: &'static str,
        /// What is wrong and what is valid.
        reason: String,
    },
    /// A requested layer does not exist in the model.
    #[error("unknown layer `{layer}` for model `{model}`; valid layers: {}", .valid.join(", "))]
    UnknownLayer {
        /// The layer asked for.
        layer: String,
        /// The architecture.
        model: String,
        /// Every valid tap name.
        valid: Vec<String>,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A tensor operation failed.
    #[error("tensor operation failed: {0}")]
    Tensor(Box<candle_core::Error>),
    /// The model could not be built or loaded.
    #[error(transparent)]
    Model(Box<probe_models::Error>),
    /// The environment or its data could not be loaded.
    #[error(transparent)]
    Datasets(Box<probe_datasets::Error>),
    /// A feature set could not be written or read.
    #[error(transparent)]
    Data(Box<probe_data::Error>),
    /// A layer could not be reduced.
    #[error(transparent)]
    Reduce(Box<probe_reduce::Error>),
}

macro_rules! boxed_from {
    ($($source:ty => $variant:ident),*) => {$(
        impl From<$source> for Error {
            fn from(e: $source) -> Self {
                Error::$variant(Box::new(e))
            }
        }
    )*};
}

boxed_from!(
    candle_core::Error => Tensor,
    probe_models::Error => Model,
    probe_datasets::Error => Datasets,
    probe_data::Error => Data,
    probe_reduce::Error => Reduce
);

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
