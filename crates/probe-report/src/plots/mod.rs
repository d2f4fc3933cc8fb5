//! Figures as PNG and SVG (plotters): alpha across layers and runs, the τ–angle diagnostic,
//! clustering metrics, accuracy, alpha across epochs and the 2-D embeddings.
//!
//! Every figure is written twice, as `STEM.png` and `STEM.svg`, each drawn to a temporary
//! file beside its target and renamed into place, so a reader never sees half a figure.
//! Functions that may have nothing to draw return `Ok(None)` and write nothing.

mod alpha;
pub(crate) mod axis;
mod key;
mod per_run;
mod style;

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{Error, Result, RunReport};

pub use alpha::{accuracy_plot, alpha_plot, clustering_plot};
pub use per_run::{angle_plot, embedding_plot, epoch_plot};

/// One figure on disk, in both formats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figure {
    /// What the figure shows, as drawn in its heading.
    pub title: String,
    /// The raster version (for the HTML report and quick viewing).
    pub png: PathBuf,
    /// The vector version (for papers).
    pub svg: PathBuf,
}

/// Draws every figure the runs have data for into `dir` and returns them in report order:
/// alpha, accuracy, clustering (all runs overlaid), then per run the epochs, the τ–angle
/// diagnostic and the embeddings.
///
/// Stems are `alpha`, `accuracy`, `clustering`, `epochs`, `angle` and `embedding`; with
/// several runs the per-run stems get the run's name appended (`angle-NAME`, with characters
/// other than ASCII letters, digits, `-`, `_` and `.` replaced by `_`).
pub fn draw_all(runs: &[&RunReport], dir: &Path) -> Result<Vec<Figure>> {
    let mut figures = vec![alpha_plot(runs, &dir.join("alpha"))?];
    figures.extend(accuracy_plot(runs, &dir.join("accuracy"))?);
    figures.extend(clustering_plot(runs, &dir.join("clustering"))?);
    let mut used = std::collections::HashSet::new();
    for run in runs {
        let suffix = if runs.len() == 1 {
            String::new()
        } else {
            let mut slug = format!("-{}", file_slug(&run.name));
            // Two runs may slug to the same name; the later one gets a counter.
            let base = slug.clone();
            let mut k = 2;
            while !used.insert(slug.clone()) {
                slug = format!("{base}-{k}");
                k += 1;
            }
            slug
        };
        figures.extend(epoch_plot(run, &dir.join(format!("epochs{suffix}")))?);
        if !run.layers.is_empty() {
            figures.push(angle_plot(run, &dir.join(format!("angle{suffix}")))?);
        }
        figures.extend(embedding_plot(
            run,
            &dir.join(format!("embedding{suffix}")),
        )?);
    }
    Ok(figures)
}

fn file_slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if slug.is_empty() || slug.starts_with('.') {
        format!("run{slug}")
    } else {
        slug
    }
}

/// What a painter returns: any plotters error, or our own message, boxed; [`render`] turns
/// it into [`Error::Plot`] naming the file.
pub(crate) type Paint = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A figure that can be drawn on any backend, so that the PNG and the SVG come from the
/// same code.
pub(crate) trait Painter {
    /// Draws the whole figure on `root`, which is already filled white.
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Paint
    where
        DB::ErrorType: 'static;
}

/// Backends allocate width × height pixels up front; a grid of hundreds of layers must not
/// ask for gigabytes.
const MAX_SIDE: u32 = 8000;

/// DejaVu Sans, built in: text is measured and drawn the same everywhere, and the binaries
/// need no fontconfig or FreeType on the machine (GPU servers and containers often lack them).
static FONT_TTF: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the built-in font under the family the figures ask for, once per process.
fn register_fonts() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(style::FONT, plotters::style::FontStyle::Normal, FONT_TTF)
            .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Plot {
            path: "assets/DejaVuSans.ttf".into(),
            reason: "the built-in font did not load".into(),
        })
    }
}

/// Draws `painter` to `STEM.png` and `STEM.svg`, each atomically.
pub(crate) fn render(
    stem: &Path,
    title: String,
    size: (u32, u32),
    painter: &impl Painter,
) -> Result<Figure> {
    let file_name = stem
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| Error::InvalidParameter {
            name: "stem",
            reason: format!(
                "`{}` does not end in a UTF-8 file name to which .png and .svg can be added",
                stem.display()
            ),
        })?;
    let dir = stem.parent().unwrap_or(Path::new(""));
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    register_fonts()?;
    let size = (size.0.clamp(200, MAX_SIDE), size.1.clamp(150, MAX_SIDE));
    let png = dir.join(format!("{file_name}.png"));
    let svg = dir.join(format!("{file_name}.svg"));
    // The temporary keeps the target's extension: the PNG encoder picks its format from it.
    let pid = std::process::id();
    let png_tmp = dir.join(format!(".{file_name}.tmp-{pid}.png"));
    let svg_tmp = dir.join(format!(".{file_name}.tmp-{pid}.svg"));

    draw_file(&png, &png_tmp, || {
        let root = BitMapBackend::new(&png_tmp, size).into_drawing_area();
        root.fill(&WHITE)?;
        painter.paint(&root)?;
        root.present()?;
        Ok(())
    })?;
    draw_file(&svg, &svg_tmp, || {
        let root = SVGBackend::new(&svg_tmp, size).into_drawing_area();
        root.fill(&WHITE)?;
        painter.paint(&root)?;
        root.present()?;
        Ok(())
    })?;
    Ok(Figure { title, png, svg })
}

fn draw_file(target: &Path, tmp: &Path, draw: impl FnOnce() -> Paint) -> Result<()> {
    let drawn = draw().map_err(|e| Error::Plot {
        path: target.to_path_buf(),
        reason: e.to_string(),
    });
    let placed = drawn.and_then(|()| {
        std::fs::rename(tmp, target).map_err(|source| Error::Io {
            path: target.to_path_buf(),
            source,
        })
    });
    if placed.is_err() {
        // The backend writes its file even when drawing failed half-way; do not leave it.
        let _ = std::fs::remove_file(tmp);
    }
    placed
}
