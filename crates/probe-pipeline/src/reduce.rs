//! Reducing feature-set files to K dimensions, one output file per input, never over an
//! input.

use std::path::{Path, PathBuf};
use std::time::Instant;

use probe_data::FeatureSet;
use probe_reduce::{reduce_set_with_progress, Reduced, Solver, ValidReduceParams};

use crate::error::{Error, Result};
use crate::observer::Observer;

/// What became of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct ReducedFile {
    /// The input.
    pub input: PathBuf,
    /// The output.
    pub output: PathBuf,
    /// The layer.
    pub layer: String,
    /// Samples.
    pub n: usize,
    /// Input width.
    pub d: usize,
    /// Output width: K, or fewer when the set has fewer samples, or d when d ≤ K.
    pub k: usize,
    /// Share of the variance kept (`None` when passed through unchanged).
    pub explained_variance_ratio: Option<f64>,
    /// How the SVD was computed (`None` when passed through unchanged).
    pub solver: Option<Solver>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Reduces a set, reporting its steps (passes over the data, products with a Gram matrix) to
/// the observer.
pub(crate) fn reduce_observed(
    set: &FeatureSet,
    params: &ValidReduceParams,
    observer: &dyn Observer,
) -> Result<Reduced> {
    observer.start(&format!("{} ({})", set.layer(), params.tag()), "steps", 0);
    let reduced = reduce_set_with_progress(set, params, &|done, total| {
        observer.progress(done as u64, total as u64)
    });
    observer.finish();
    Ok(reduced?)
}

/// Where a reduced file goes: `DIR/<name>`, DIR defaulting to `<input folder>-reduced`
/// (runs/x/features → runs/x/features-reduced). Refuses to name the input itself.
pub fn reduced_path(file: &Path, out_dir: Option<&Path>) -> Result<PathBuf> {
    let name = file.file_name().ok_or_else(|| Error::Output {
        path: file.to_path_buf(),
        reason: "the input is not a file name".into(),
    })?;
    let dir = match out_dir {
        Some(d) => d.to_path_buf(),
        None => {
            let folder = std::path::absolute(file)
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| PathBuf::from("."));
            let base = folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "features".into());
            folder.with_file_name(format!("{base}-reduced"))
        }
    };
    let out = dir.join(name);
    if std::path::absolute(&out).ok() == std::path::absolute(file).ok() {
        return Err(Error::Output {
            path: out,
            reason: format!(
                "it would overwrite the input {}; choose another output folder",
                file.display()
            ),
        });
    }
    Ok(out)
}

/// Reduces one file into `out_dir` (see [`reduced_path`]), with progress over the passes.
pub fn reduce_file(
    params: &ValidReduceParams,
    file: &Path,
    out_dir: Option<&Path>,
    observer: &dyn Observer,
) -> Result<ReducedFile> {
    let start = Instant::now();
    let set = FeatureSet::open(file)?;
    let output = reduced_path(file, out_dir)?;
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    crate::output::check_output(&output, &[file.to_path_buf()])?;
    let (k, explained_variance_ratio, solver) = match reduce_observed(&set, params, observer)? {
        Reduced::Reduced(reduced, stats) => {
            reduced.write(&output)?;
            (
                stats.k,
                Some(stats.explained_variance_ratio),
                Some(stats.solver),
            )
        }
        Reduced::Unchanged => {
            set.write(&output)?;
            (set.n_features(), None, None)
        }
    };
    Ok(ReducedFile {
        input: file.to_path_buf(),
        output,
        layer: set.layer(),
        n: set.n_samples(),
        d: set.n_features(),
        k,
        explained_variance_ratio,
        solver,
        seconds: start.elapsed().as_secs_f64(),
    })
}
