use thiserror::Error;

/// Everything that can go wrong while probing a layer.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting of the estimator is out of range.
    #[error("invalid alpha parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// No τ on the grid has its angle within ε of −90°.
    #[error(
        "no tau in 0.30..1.99 has its angle within epsilon = {epsilon:.3} degrees of -90 \
         (closest: {closest:.3}); raise --epsilon"
    )]
    NoTauWithinEpsilon {
        /// The window that was empty.
        epsilon: f64,
        /// The smallest |angle + 90| on the grid.
        closest: f64,
    },
    /// The forest has no non-zero wavelet (every tree is a single leaf).
    #[error("the forest has no non-zero wavelet norms: every tree is a single leaf (are the labels all one class in each bootstrap sample?)")]
    NoWavelets,
    /// A norm given to the estimator is zero, negative or not finite.
    #[error("wavelet norms must be positive and finite, found {0}")]
    InvalidNorm(f64),
    /// The forest could not be fitted.
    #[error(transparent)]
    Forest(#[from] probe_forest::Error),
    /// The feature set could not be used.
    #[error(transparent)]
    Data(#[from] probe_data::Error),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
