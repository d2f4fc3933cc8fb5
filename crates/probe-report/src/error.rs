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
    /// A run folder has neither `results.json` nor `probes.jsonl`: nothing was probed yet.
    #[error(
        "{}: not found, and there is no probes.jsonl either: the folder holds no probed \
         layers yet (the alpha stage writes results.json, training with probes writes \
         probes.jsonl)",
        .path.display()
    )]
    NoResults {
        /// The missing `results.json`.
        path: PathBuf,
    },
    /// Too few points for an embedding method at any setting (t-SNE at the smallest
    /// perplexity, UMAP at the smallest neighbourhood); [`layer_extras`](crate::layer_extras)
    /// turns this into a note rather than a failed layer.
    #[error("{method} needs at least {min} points, the layer has {n}")]
    TooFewPoints {
        /// `tsne` or `umap`.
        method: &'static str,
        /// Points given (after subsampling).
        n: usize,
        /// The fewest the method can embed.
        min: usize,
    },
}

/// Text that names none of a setting's values, from a `FromStr` implementation of this crate
/// ([`EmbeddingMethod`](crate::embedding::EmbeddingMethod)). Implements
/// [`std::error::Error`], so argument parsers accept it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{value}` is not {kind}: use {expected}")]
pub struct ParseValueError {
    /// The text given.
    pub value: String,
    /// What it should have named, with its article, e.g. `an embedding method`.
    pub kind: &'static str,
    /// The accepted values, as one line.
    pub expected: &'static str,
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
