use thiserror::Error;

/// Everything that can go wrong while reducing a feature set.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of range on its own.
    #[error("invalid reduction parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// The target dimension does not fit this matrix.
    #[error(
        "cannot reduce a {n} x {d} matrix to {k} components: an SVD has at most min(n, d) = {max}; \
         use a dimension of at most {max}"
    )]
    TooManyComponents {
        /// Rows.
        n: usize,
        /// Columns.
        d: usize,
        /// Requested components.
        k: usize,
        /// min(n, d).
        max: usize,
    },
    /// The input holds a value that is not finite.
    #[error("non-finite value at row {row}, column {col}; clean the features before reducing")]
    NonFinite {
        /// Row of the first one.
        row: usize,
        /// Column of the first one.
        col: usize,
    },
    /// The small dense SVD at the end did not converge.
    #[error("the SVD did not converge; another seed or fewer components may")]
    NoConvergence,
    /// A CUDA backend was asked of a build without the `cuda` feature.
    #[error(
        "cannot reduce on {backend}: this build has no CUDA support (it was compiled without \
         the `cuda` feature)"
    )]
    NoCudaSupport {
        /// The backend asked for.
        backend: crate::Backend,
    },
    /// The GPU (or candle) path failed: no such device, or out of device memory.
    #[error("reduction on {backend} failed: {reason}")]
    Device {
        /// The backend asked for.
        backend: crate::Backend,
        /// What candle said (first line).
        reason: String,
    },
    /// An error about the data of one file.
    #[error("{}: {source}", .path.display())]
    InFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        source: Box<Error>,
    },
    /// Reading or writing the feature set failed.
    #[error(transparent)]
    Data(#[from] probe_data::Error),
}

/// Text that names none of a setting's values, from a `FromStr` implementation of this crate
/// ([`Method`](crate::Method), [`Backend`](crate::Backend)). Implements [`std::error::Error`], so argument parsers accept it.
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
