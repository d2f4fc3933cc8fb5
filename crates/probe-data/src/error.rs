//! The error type of this crate.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong when reading or writing feature sets.
///
/// Every message is one line that names the file, says what is wrong and, where there is one,
/// how to fix it. Sets built in memory are named `<in-memory feature set>`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read (missing, unreadable, broken gzip stream).
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file that was read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The file could not be written (missing or read-only folder, full disk).
    #[error(
        "cannot write {}: {source}; check that the folder exists and is writable",
        .path.display()
    )]
    Write {
        /// The file that was to be written.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// The safetensors header or data layout is broken (cut short, not safetensors at all).
    #[error(
        "{}: truncated or corrupt safetensors file ({detail}); re-create it, \
         e.g. with safetensors.numpy.save_file",
        .path.display()
    )]
    Corrupt {
        /// The file that was read.
        path: PathBuf,
        /// What the parser found wrong.
        detail: String,
    },
    /// The file has no `features` tensor.
    #[error(
        "{}: no `features` tensor (tensors in the file: {}); a feature set needs \
         `features` [n, d] and `labels` [n]",
        .path.display(), list_names(.found)
    )]
    MissingFeatures {
        /// The file that was read.
        path: PathBuf,
        /// The names of the tensors that are there.
        found: Vec<String>,
    },
    /// The file has no `labels` tensor.
    #[error(
        "{}: no `labels` tensor (tensors in the file: {}); a feature set needs \
         `features` [n, d] and `labels` [n]",
        .path.display(), list_names(.found)
    )]
    MissingLabels {
        /// The file that was read.
        path: PathBuf,
        /// The names of the tensors that are there.
        found: Vec<String>,
    },
    /// A tensor has an element type that readers do not accept.
    #[error(
        "{}: tensor `{tensor}` has unsupported dtype {dtype}; accepted: {accepted}; \
         convert it before saving",
        .path.display()
    )]
    UnsupportedDtype {
        /// The file that was read.
        path: PathBuf,
        /// `features` or `labels`.
        tensor: &'static str,
        /// The dtype found.
        dtype: String,
        /// The dtypes accepted for this tensor.
        accepted: &'static str,
    },
    /// A tensor has the wrong number of dimensions.
    #[error(
        "{}: tensor `{tensor}` has shape {shape:?}, expected {expected}",
        .path.display()
    )]
    BadRank {
        /// The file that was read.
        path: PathBuf,
        /// `features` or `labels`.
        tensor: &'static str,
        /// The shape found.
        shape: Vec<usize>,
        /// The shapes accepted.
        expected: &'static str,
    },
    /// An in-memory feature buffer does not hold as many values as its shape says.
    #[error(
        "{}: features hold {len} values but shape {shape:?} needs {}; pass a shape whose \
         product is the buffer length",
        .path.display(),
        crate::check::element_count(.shape)
            .map_or_else(|| "more than usize::MAX".to_string(), |p| p.to_string())
    )]
    ShapeMismatch {
        /// The file (or in-memory name).
        path: PathBuf,
        /// Number of feature values given.
        len: usize,
        /// The shape given.
        shape: Vec<usize>,
    },
    /// The number of feature rows differs from the number of labels.
    #[error(
        "{}: `features` has {rows} rows but `labels` has {labels} entries; \
         there must be one label per row",
        .path.display()
    )]
    LengthMismatch {
        /// The file that was read.
        path: PathBuf,
        /// Rows of `features`.
        rows: usize,
        /// Entries of `labels`.
        labels: usize,
    },
    /// The feature matrix has no columns.
    #[error(
        "{}: `features` has shape {shape:?}, i.e. zero columns; each sample needs \
         at least one feature",
        .path.display()
    )]
    NoColumns {
        /// The file that was read.
        path: PathBuf,
        /// The shape of `features`.
        shape: Vec<usize>,
    },
    /// Fewer than two samples: no geometry to measure.
    #[error(
        "{}: only {n} sample(s); the probe needs at least 2 samples",
        .path.display()
    )]
    TooFewSamples {
        /// The file that was read.
        path: PathBuf,
        /// Number of samples found.
        n: usize,
    },
    /// Fewer than two classes: nothing to separate.
    #[error(
        "{}: only {distinct} distinct label value(s); the probe needs at least 2 classes",
        .path.display()
    )]
    TooFewClasses {
        /// The file that was read.
        path: PathBuf,
        /// Number of distinct label values found.
        distinct: usize,
    },
    /// More distinct labels than dense `u32` class ids can hold.
    #[error(
        "{}: {distinct} distinct label values, more than the supported {}",
        .path.display(), u32::MAX
    )]
    TooManyClasses {
        /// The file that was read.
        path: PathBuf,
        /// Number of distinct label values found.
        distinct: usize,
    },
    /// Some feature values are NaN or infinite.
    #[error(
        "{}: {count} non-finite feature value(s) (NaN or infinity), the first at row {row}, \
         column {col}; remove or impute them before probing",
        .path.display()
    )]
    NonFinite {
        /// The file that was read.
        path: PathBuf,
        /// How many values are not finite.
        count: usize,
        /// Row of the first one (0-based).
        row: usize,
        /// Column of the first one (0-based, in the flattened [n, d] view).
        col: usize,
    },
    /// A feature value is too large to be stored as F32.
    #[error(
        "{}: feature value {value} at row {row}, column {col} does not fit in F32; \
         rescale the features before writing",
        .path.display()
    )]
    OutOfF32Range {
        /// The file that was to be written.
        path: PathBuf,
        /// The value.
        value: f64,
        /// Its row (0-based).
        row: usize,
        /// Its column (0-based).
        col: usize,
    },
    /// A batch given to [`FeatureSetWriter::append`](crate::FeatureSetWriter::append) is not
    /// one row of `width` values per label.
    #[error(
        "{}: batch of {values} feature value(s) and {labels} label(s) does not match rows of \
         {width} values; pass k labels with k x {width} row-major values",
        .path.display()
    )]
    BatchShape {
        /// The file being written.
        path: PathBuf,
        /// Feature values in the batch.
        values: usize,
        /// Labels in the batch.
        labels: usize,
        /// Values per row (the product of the per-sample dimensions).
        width: usize,
    },
    /// A batch would take a streamed feature set past the row count given at creation.
    #[error(
        "{}: appending {rows} row(s) after {written} would exceed the {n} rows given at \
         create; pass the total number of samples as n to FeatureSetWriter::create",
        .path.display()
    )]
    TooManyRows {
        /// The file being written.
        path: PathBuf,
        /// Rows in the batch.
        rows: usize,
        /// Rows written before it.
        written: usize,
        /// Rows given at creation.
        n: usize,
    },
    /// A streamed feature set was finished before all its rows were appended.
    #[error(
        "{}: only {written} of the {n} rows were appended, so nothing was saved; append \
         every row before finish (or create the writer with the real number of samples)",
        .path.display()
    )]
    MissingRows {
        /// The file that was to be written.
        path: PathBuf,
        /// Rows appended.
        written: usize,
        /// Rows given at creation.
        n: usize,
    },
    /// The path is not a regular file (a FIFO, device, socket or folder): opening it could
    /// block forever (a FIFO) or read an endless stream, so it is refused before opening.
    #[error(
        "{}: is {kind}, not a regular file; pass the path of a .safetensors file",
        .path.display()
    )]
    NotRegularFile {
        /// The path given.
        path: PathBuf,
        /// What it is instead, with its article (`a FIFO (named pipe)`, `a folder`).
        kind: &'static str,
    },
    /// The file's length is not what its header describes: it was cut short (or grown)
    /// after it was written, e.g. by a copy that did not finish or a truncation.
    #[error(
        "{}: the file is {actual} bytes but its header describes {expected}; it was cut \
         short or changed after writing, so re-create it",
        .path.display()
    )]
    SizeMismatch {
        /// The file that was read.
        path: PathBuf,
        /// 8 + header length + end of the last tensor's data.
        expected: u64,
        /// The file's length.
        actual: u64,
    },
    /// A run folder is locked by another process (see [`RunLock`](crate::RunLock)).
    #[error("{} is in use by {holder}", .dir.display())]
    RunInUse {
        /// The run folder.
        dir: PathBuf,
        /// Who holds it, as its lock file says.
        holder: crate::lock::LockHolder,
    },
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Tensor names as a one-line list (names are quoted so that odd characters cannot break lines).
fn list_names(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
