use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while making a report.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of range on its own.
    #[error("invalid report parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// Drawing a figure failed.
    #[error("cannot draw {}: {reason}", .path.display())]
    Plot {
        /// The figure's file.
        path: PathBuf,
        /// What the plotting backend said.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A results file does not parse.
    #[error("{}: {reason}", .path.display())]
    BadResults {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The data handed in does not fit together (lengths, shape, non-finite values) or is too
    /// small for the computation.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong and what is expected.
        reason: String,
    },
    /// An algorithm from a dependency (k-means, t-SNE) refused the data or failed.
    #[error("{algorithm} failed: {reason}")]
    Fit {
        /// The algorithm, e.g. `k-means`.
        algorithm: &'static str,
        /// What it reported.
        reason: String,
    },
    /// Reading a feature set failed.
    #[error(transparent)]
    Data(#[from] probe_data::Error),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
