//! Results you can see for the Sparsity Probe: plots of alpha across layers (and runs and
//! epochs), clustering metrics, 2-D embeddings, and one self-contained `report.html`.
//!
//! The crate reads nothing from the command line, prints nothing and reads no run folders
//! (the pipeline loads `results.json` into a [`RunReport`]): [`RunReport`] is what one run
//! has to show, [`plots`] turns runs into PNG and SVG figures, [`html`] lays them
//! out in one page, [`compare`] lines runs up layer by layer, [`clustering`] and
//! [`embedding`] compute the per-layer extras.
#![deny(missing_docs)]

pub mod clustering;
pub mod compare;
pub mod embedding;
mod error;
mod extras;
pub mod html;
pub mod plots;
mod results;

pub use error::{Error, ParseValueError, Result};
pub use extras::{layer_extras, LayerExtras};
pub use results::{Accuracy, EpochProbe, LayerEmbedding, LayerResult, RunReport};

/// Draws every figure of `runs` into `out_dir` and writes `out_dir/report.html` with them;
/// returns the page's path and the figures.
pub fn write_report_folder(
    runs: &[&RunReport],
    out_dir: &std::path::Path,
) -> Result<(std::path::PathBuf, Vec<plots::Figure>)> {
    std::fs::create_dir_all(out_dir).map_err(|source| Error::Io {
        path: out_dir.to_path_buf(),
        source,
    })?;
    let figures = plots::draw_all(runs, out_dir)?;
    let page = out_dir.join("report.html");
    html::write_report(runs, &figures, &page)?;
    Ok((page, figures))
}
