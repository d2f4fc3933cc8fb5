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
         (closest: {closest:.3} degrees), so a larger epsilon is needed"
    )]
    NoTauWithinEpsilon {
        /// The window that was empty.
        epsilon: f64,
        /// The smallest |angle + 90| on the grid.
        closest: f64,
    },
    /// The forest has no non-zero wavelet (every tree is a single leaf) although some
    /// feature varies: no bootstrap sample held two classes that a feature separates.
    #[error(
        "the forest has no non-zero wavelet norms: every tree is a single leaf, because no \
         bootstrap sample held two classes that a feature separates"
    )]
    NoWavelets,
    /// Every feature has one value for all samples, so no tree can split at all.
    #[error(
        "every one of the {d} feature(s) is constant across the {n} samples, so no split is \
         possible and the forest has no wavelets"
    )]
    ConstantFeatures {
        /// Number of samples.
        n: usize,
        /// Number of features.
        d: usize,
    },
    /// Too few samples for the τ-sparsity curve to mean anything.
    #[error(
        "only {n} samples; the probe needs at least {min}: a forest of so few samples has too \
         few wavelets for the sparsity curve to reach its steep part"
    )]
    TooFewSamples {
        /// Number of samples given.
        n: usize,
        /// The minimum, [`MIN_SAMPLES`](crate::MIN_SAMPLES).
        min: usize,
    },
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
