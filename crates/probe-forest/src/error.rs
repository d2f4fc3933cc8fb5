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

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
