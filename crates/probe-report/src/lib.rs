//! Results you can see for the Sparsity Probe: plots of alpha across layers (and runs and
//! epochs), clustering metrics, 2-D embeddings, and one self-contained `report.html`.
//!
//! The crate reads nothing from the command line and prints nothing: [`RunReport`] is what
//! one run has to show, [`plots`] turns runs into PNG and SVG figures, [`html`] lays them
//! out in one page, [`clustering`] and [`embedding`] compute the per-layer extras.
#![deny(missing_docs)]

pub mod clustering;
pub mod embedding;
mod error;
pub mod html;
pub mod plots;
mod results;

pub use error::{Error, Result};
pub use results::{Accuracy, EpochProbe, LayerEmbedding, LayerResult, RunReport};
