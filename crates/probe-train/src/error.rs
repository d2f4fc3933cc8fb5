use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while training.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A training setting is out of range.
    #[error("invalid training parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The setting, as its config field is called.
        name: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// A checkpoint cannot be used to resume.
    #[error("cannot resume from {}: {detail}", .path.display())]
    Checkpoint {
        /// The checkpoint.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A file could not be written or read.
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A tensor operation failed (boxed: candle's error is large).
    #[error("tensor operation failed: {0}")]
    Tensor(Box<candle_core::Error>),
    /// The model could not be built, loaded or saved (boxed: the error is large).
    #[error(transparent)]
    Model(Box<probe_models::Error>),
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] probe_datasets::Error),
    /// A file could not be written (atomically).
    #[error(transparent)]
    File(#[from] probe_data::Error),
    /// An [`Observer`](crate::Observer) failed after an epoch (which stays checkpointed).
    #[error("after epoch {epoch}: {source}")]
    Observer {
        /// The epoch just completed.
        epoch: usize,
        /// What the observer reported.
        source: crate::ObserverError,
    },
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Tensor(Box::new(e))
    }
}

impl From<probe_models::Error> for Error {
    fn from(e: probe_models::Error) -> Self {
        Error::Model(Box::new(e))
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
