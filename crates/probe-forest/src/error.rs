use thiserror::Error;

/// Everything that can go wrong when fitting or assembling a forest.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of range; the message names it and its valid range.
    #[error("invalid forest parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Parameter name, as the setter is called.
        name: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// The training data does not fit the model (shape, labels, values).
    #[error("invalid training data: {0}")]
    InvalidData(String),
    /// Nodes given to `Tree::from_nodes` do not form a tree.
    #[error("invalid tree: {0}")]
    InvalidTree(String),
}

/// Text that names none of a setting's values, from a `FromStr` implementation of this crate
/// ([`MaxFeatures`](crate::MaxFeatures), [`Splitter`](crate::Splitter), [`WaveletNorm`](crate::WaveletNorm)). Implements [`std::error::Error`], so argument parsers accept it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{value}` is not {kind}: use {expected}")]
pub struct ParseValueError {
    /// The text given.
    pub value: String,
    /// What it should have named, with its article, e.g. `a splitter`.
    pub kind: &'static str,
    /// The accepted values, as one line.
    pub expected: &'static str,
}

impl ParseValueError {
    pub(crate) fn new(value: &str, kind: &'static str, expected: &'static str) -> Self {
        ParseValueError {
            value: value.to_string(),
            kind,
            expected,
        }
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
