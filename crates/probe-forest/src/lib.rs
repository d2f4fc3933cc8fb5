//! The wavelet random forest of the Sparsity Probe: fits bootstrap CART trees to
//! (features → labels) and reads them as a wavelet decomposition (SPEC §2).
//!
//! Each non-root node v carries the wavelet ψ_v = p_v − p_parent of class distributions;
//! its norm, weighted by the share of samples (or the cell volume) of v, is what the alpha
//! estimator of `probe-alpha` consumes. Trees are grown in parallel and are deterministic for
//! a seed whatever the number of threads.
//!
//! ```
//! use probe_forest::{ForestParams, Matrix, WaveletNorm};
//!
//! // Two well separated classes on one feature.
//! let x: Vec<f64> = (0..40).map(|i| if i < 20 { i as f64 } else { 100.0 + i as f64 }).collect();
//! let y: Vec<u32> = (0..40).map(|i| (i >= 20) as u32).collect();
//! let matrix = Matrix::from_row_major(40, 1, &x)?;
//! let forest = ForestParams::default().n_trees(3).check()?.fit(&matrix, &y, 2)?;
//! assert_eq!(forest.n_trees(), 3);
//! assert!(!forest.wavelet_norms(WaveletNorm::Samples).is_empty());
//! # Ok::<(), probe_forest::Error>(())
//! ```
#![deny(missing_docs)]

mod bin_table;
mod binned;
mod binning;
mod cpu;
mod error;
mod forest;
mod grow;
mod matrix;
mod pages;
mod params;
mod quantiles;
mod scatter;
mod tree;

pub use error::{Error, ParseValueError, Result};
pub use forest::Forest;
pub use matrix::Matrix;
pub use params::{ForestParams, MaxFeatures, Splitter, ValidForestParams, MAX_BINS};
pub use tree::{Node, NodeSpec, Split, Tree, WaveletNorm};
