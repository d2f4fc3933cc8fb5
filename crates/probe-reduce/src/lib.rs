//! Dimensionality reduction for the Sparsity Probe: randomized truncated SVD and PCA of wide
//! layer outputs, streamed from memory-mapped feature sets without copying them.
//!
//! [`reduce_set`] turns a [`probe_data::FeatureSet`] into a K-dimensional one (labels and
//! metadata kept, `reduction` and `explained_variance_ratio` added); [`truncated_svd`] is
//! the factorization underneath, on any [`RowSource`]: a randomized SVD or the Gram matrix of
//! the shorter side, whichever costs less ([`choose_solver`]).
//!
//! ```
//! use probe_reduce::{reduce_rows, DenseRows, Method, ReduceParams};
//!
//! // 200 points on a 3-dimensional subspace of R^20.
//! let basis: Vec<f32> = (0..60).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
//! let data: Vec<f32> = (0..200 * 20)
//!     .map(|k| {
//!         let (i, j) = (k / 20, k % 20);
//!         (0..3).map(|r| basis[r * 20 + j] * (((i * (r + 3)) % 7) as f32 - 3.0)).sum()
//!     })
//!     .collect();
//! let params = ReduceParams::new(3).method(Method::Tsvd).check()?;
//! let reduced = reduce_rows(&DenseRows::new(&data, 200, 20), &params)?;
//! assert_eq!((reduced.n, reduced.k), (200, 3));
//! assert!(reduced.explained_variance_ratio > 0.999);
//! # Ok::<(), probe_reduce::Error>(())
//! ```
#![deny(missing_docs)]

mod dense;
mod device;
mod error;
mod gram;
mod params;
mod randomized;
mod reduce;
mod source;
mod svd;

pub use error::{Error, ParseValueError, Result};
pub use params::{Algorithm, Backend, Method, ReduceParams, ValidReduceParams};
pub use randomized::{randomized_svd, randomized_svd_with_progress};
pub use reduce::{
    reduce_rows, reduce_rows_with_progress, reduce_set, reduce_set_with_progress, Reduced,
    Reduction,
};
pub use source::{DenseRows, RowSource};
pub use svd::{choose_solver, truncated_svd, truncated_svd_with_progress, Factorization, Solver};
