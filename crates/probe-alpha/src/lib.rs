//! The Sparsity Probe's alpha-score: how well a layer's representation organises the
//! training set by class, read from the decay of a wavelet forest's norms (SPEC §3).
//!
//! [`ValidAlphaParams::estimate`] turns wavelet norms into an [`AlphaEstimate`];
//! [`Probe`] runs the whole layer step (normalise, forest, norms, estimate) on a
//! [`probe_data::FeatureSet`] and returns a [`LayerRecord`] for `results.json`.
//!
//! ```
//! use probe_alpha::AlphaParams;
//!
//! // Norms that decay like a power law.
//! let norms: Vec<f64> = (1..2000).map(|i| (i as f64).powf(-1.2)).collect();
//! let estimate = AlphaParams::default().check()?.estimate(&norms, 1)?;
//! assert_eq!(estimate.alphas.len(), 10);
//! assert!(estimate.band.0 <= estimate.alpha && estimate.alpha <= estimate.band.1);
//! # Ok::<(), probe_alpha::Error>(())
//! ```
#![deny(missing_docs)]

mod error;
mod estimate;
mod probe;
mod resample;
mod stats;

pub use error::{Error, Result};
pub use estimate::{tau_grid, AlphaEstimate, AlphaParams, ValidAlphaParams, N_EPSILONS, N_TAUS};
pub use probe::{flag_layers, LayerRecord, Probe, RepeatStats, MIN_SAMPLES};
pub use stats::{t_cdf, t_quantile};
