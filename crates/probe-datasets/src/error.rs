//! The error type of this crate.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong when loading, downloading or transforming datasets and
/// environments.
///
/// Every message is one line that names the file (or the dataset, as `<NAME dataset>`), says
/// what is wrong and, where there is one, how to fix it.
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
    /// An IDX file starts with the wrong magic number.
    #[error(
        "{}: IDX magic number is {found:#010x}{}, expected {expected:#010x} ({}); \
         pass the {} file",
        .path.display(), idx_kind_suffix(*.found), idx_kind(*.expected), idx_kind(*.expected)
    )]
    IdxMagic {
        /// The file that was read.
        path: PathBuf,
        /// The magic number found (big-endian u32 of the first 4 bytes).
        found: u32,
        /// The magic number expected.
        expected: u32,
    },
    /// An IDX file is shorter than its header says.
    #[error(
        "{}: truncated IDX file: expected {expected} bytes (after decompression), \
         found {actual}; download it again",
        .path.display()
    )]
    IdxTruncated {
        /// The file that was read.
        path: PathBuf,
        /// Bytes the header (or the format) requires.
        expected: u64,
        /// Bytes actually present.
        actual: u64,
    },
    /// The dataset folder does not exist (or is a file).
    #[error(
        "{}: no such folder; pass the folder that holds the {dataset} files",
        .path.display()
    )]
    FolderMissing {
        /// The folder given.
        path: PathBuf,
        /// `MNIST` or `CIFAR-10`.
        dataset: &'static str,
    },
    /// The folder holds none of the files of the dataset.
    #[error(
        "{}: no {dataset} files found (expected {expected}); pass the folder that holds them",
        .path.display()
    )]
    NoDatasetFiles {
        /// The folder searched.
        path: PathBuf,
        /// `MNIST` or `CIFAR-10`.
        dataset: &'static str,
        /// The file names looked for, as one line.
        expected: String,
    },
    /// Some files of the requested split are missing from a folder that holds others.
    #[error(
        "{}: {dataset} file(s) missing: {}; put them in this folder (or download the dataset \
         again)",
        .path.display(), .missing.join(", ")
    )]
    MissingDatasetFiles {
        /// The folder searched.
        path: PathBuf,
        /// `MNIST` or `CIFAR-10`.
        dataset: &'static str,
        /// The names of the missing files.
        missing: Vec<String>,
    },
    /// The folder holds the dataset, but not the split that was asked for.
    #[error(
        "{}: no {dataset} {split} split (expected {expected}); load the {} split instead and \
         hold out part of it for validation",
        .path.display(), .split.other()
    )]
    MissingSplit {
        /// The folder searched.
        path: PathBuf,
        /// `MNIST` or `CIFAR-10`.
        dataset: &'static str,
        /// The split asked for.
        split: crate::dataset::Split,
        /// The file names looked for, as one line.
        expected: String,
    },
    /// An image file and its label file hold different numbers of samples.
    #[error(
        "{}: {n_images} images, but {} has {n_labels} labels; pass the label file that \
         belongs to these images",
        .images.display(), .labels.display()
    )]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// The label file.
        labels: PathBuf,
        /// Images in the image file.
        n_images: usize,
        /// Labels in the label file.
        n_labels: usize,
    },
    /// A CIFAR-10 binary batch is not a whole number of 3073-byte records.
    #[error(
        "{}: truncated CIFAR-10 batch: {bytes} bytes is not a whole, non-zero number of \
         3073-byte records (1 label byte + 3072 pixels); download it again",
        .path.display()
    )]
    CifarTruncated {
        /// The batch file.
        path: PathBuf,
        /// Its length in bytes.
        bytes: u64,
    },
    /// A label is not below the number of classes.
    #[error(
        "{}: sample {index} has label {label}, but there are only {n_classes} classes \
         (0 to {}); check that this is the right file (or the labels given)",
        .path.display(), .n_classes.saturating_sub(1)
    )]
    BadLabel {
        /// The file (or in-memory dataset).
        path: PathBuf,
        /// The sample (record) index, 0-based.
        index: usize,
        /// The label found.
        label: u64,
        /// The number of classes.
        n_classes: usize,
    },
    /// A dataset's inputs do not hold one sample of its shape per label.
    #[error(
        "{}: inputs hold {values} values, but {n} samples of shape {shape:?} need {}; build \
         the dataset with matching inputs, shape and labels",
        .path.display(),
        crate::dataset::element_count(.shape)
            .and_then(|p| p.checked_mul(*.n))
            .map_or_else(|| "more than usize::MAX".to_string(), |p| p.to_string())
    )]
    DatasetShape {
        /// The dataset, as `<NAME dataset>`.
        path: PathBuf,
        /// Number of input values.
        values: usize,
        /// Number of labels.
        n: usize,
        /// The per-sample shape.
        shape: Vec<usize>,
    },
    /// The dataset has no samples.
    #[error("{}: no samples; load or generate a non-empty dataset first", .path.display())]
    EmptyDataset {
        /// The dataset, as `<NAME dataset>`.
        path: PathBuf,
    },
    /// A normalization has a different number of channels than the dataset.
    #[error(
        "{}: {channels} channel(s) (shape {shape:?}), but the normalization has {expected}; \
         fit the normalization on this dataset or pick the one for its kind",
        .path.display()
    )]
    ChannelMismatch {
        /// The dataset, as `<NAME dataset>`.
        path: PathBuf,
        /// Channels of the dataset (its first dimension).
        channels: usize,
        /// The per-sample shape of the dataset.
        shape: Vec<usize>,
        /// Channels of the normalization.
        expected: usize,
    },
    /// A parameter is out of its range.
    #[error("{name} = {value} is invalid; expected {expected}")]
    InvalidParameter {
        /// The parameter, e.g. `val_fraction`.
        name: &'static str,
        /// The value given, as written by `{:?}`.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// A validation fraction leaves no training samples.
    #[error(
        "val_fraction = {val_fraction} leaves no training samples out of {n}; use a smaller \
         fraction or more samples"
    )]
    EmptyTrainSplit {
        /// The fraction given.
        val_fraction: f64,
        /// Number of samples in the dataset.
        n: usize,
    },
    /// A file could not be fetched from the Hugging Face Hub (offline, unknown repo or file).
    #[error(
        "cannot download {file} from the Hugging Face Hub ({repo}): {cause}; offline? pass \
         the local folder with --data DIR (MNIST: the four IDX files; CIFAR-10: the binary \
         batches)"
    )]
    Download {
        /// The file in the repository.
        file: String,
        /// The dataset repository id, `owner/name`.
        repo: String,
        /// What went wrong, as one line.
        cause: String,
    },
    /// A parquet file of a Hugging Face Hub dataset is unreadable or not laid out as expected
    /// (a missing column, an undecodable image, an image of the wrong size, a bad label).
    #[error(
        "{}: cannot convert this Hugging Face parquet file: {detail}; delete it from the cache \
         to download it again, or pass the local folder with --data DIR",
        .path.display()
    )]
    Parquet {
        /// The parquet file.
        path: PathBuf,
        /// What is wrong, as one line (with the row where there is one).
        detail: String,
    },
    /// An environment cannot be found or its TOML file does not describe one.
    #[error("invalid training parameter `env`: {reason}")]
    Env {
        /// What is wrong (with the file and line, where there is one) and what is accepted.
        reason: String,
    },
    /// A feature set could not be built, written or read (e.g. from a dataset's inputs).
    #[error(transparent)]
    Data(#[from] probe_data::Error),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What an IDX magic number stands for.
fn idx_kind(magic: u32) -> &'static str {
    match magic {
        0x0000_0801 => "IDX labels",
        0x0000_0803 => "IDX images",
        _ => "unknown",
    }
}

/// " (IDX labels)" for a known magic number, "" otherwise.
fn idx_kind_suffix(magic: u32) -> String {
    match idx_kind(magic) {
        "unknown" => String::new(),
        kind => format!(" ({kind})"),
    }
}
