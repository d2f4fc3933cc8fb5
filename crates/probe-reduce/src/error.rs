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
    #[error("the SVD did not converge; try another --seed or fewer components")]
    NoConvergence,
    /// The GPU (or candle) path failed: no such device, a build without the feature, or out
    /// of device memory.
    #[error("reduction on {backend}: {reason}; use --device cpu, or a build with `--features cuda` and a GPU with room for the input")]
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

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
