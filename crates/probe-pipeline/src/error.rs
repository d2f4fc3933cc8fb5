//! What can go wrong in the pipeline: the stage crates' errors, passed through, and the
//! pipeline's own (configs, results files, cancellation).

use std::fmt;
use std::path::PathBuf;

/// The pipeline's error. Each message is one line that says what went wrong and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A run config that cannot be used.
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Config {
        /// The config file.
        path: PathBuf,
        /// The line of the offending field, when known.
        line: Option<usize>,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// A file that could not be read or written.
    #[error("cannot use {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A results file that is not one.
    #[error("{}: {reason}", path.display())]
    BadResults {
        /// The file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// An output that would replace something that must not be replaced.
    #[error("refusing to write {}: {reason}", path.display())]
    Output {
        /// The output asked for.
        path: PathBuf,
        /// What it would replace.
        reason: String,
    },
    /// An error about one input file.
    #[error("{}", InFileDisplay { path, source })]
    InFile {
        /// The file.
        path: PathBuf,
        /// The error.
        source: Box<Error>,
    },
    /// Clustering or the embedding of one layer failed.
    #[error("{}: clustering or embedding: {source}", path.display())]
    Extras {
        /// The layer's file.
        path: PathBuf,
        /// The cause.
        source: Box<probe_report::Error>,
    },
    /// A setting out of range, named as in the API (`val_split`, `limit`, …).
    #[error("{name} {reason}")]
    Invalid {
        /// The setting.
        name: &'static str,
        /// Its value and what is valid.
        reason: String,
    },
    /// A stage that failed, with why.
    #[error("{stage}: {reason}")]
    Stage {
        /// train, extract, alpha or report.
        stage: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A training folder that already holds a checkpoint, asked to start from scratch.
    #[error("{} already holds a checkpoint (epoch {epoch}); resume it, or start over explicitly", path.display())]
    ExistingCheckpoint {
        /// `checkpoint/last.safetensors`.
        path: PathBuf,
        /// The epoch it reached.
        epoch: usize,
    },
    /// The caller asked the work to stop.
    #[error("stopped on request; complete outputs were kept")]
    Cancelled,
    /// A feature-set file or the run folder's lock.
    #[error(transparent)]
    Data(Box<probe_data::Error>),
    /// A dataset or an environment.
    #[error(transparent)]
    Datasets(Box<probe_datasets::Error>),
    /// The forest or the estimator.
    #[error(transparent)]
    Alpha(Box<probe_alpha::Error>),
    /// A reduction.
    #[error(transparent)]
    Reduce(Box<probe_reduce::Error>),
    /// Extraction.
    #[error(transparent)]
    Extract(Box<probe_extract::Error>),
    /// Training.
    #[error(transparent)]
    Train(Box<probe_train::Error>),
    /// Models and weights.
    #[error(transparent)]
    Models(Box<probe_models::Error>),
    /// Figures and the report page.
    #[error(transparent)]
    Report(Box<probe_report::Error>),
}

macro_rules! boxed_from {
    ($($source:ty => $variant:ident),*) => {$(
        impl From<$source> for Error {
            fn from(e: $source) -> Self {
                Error::$variant(Box::new(e))
            }
        }
    )*};
}

// The stage crates' errors are large; boxing keeps every `Result` of the pipeline small.
boxed_from!(
    probe_data::Error => Data,
    probe_datasets::Error => Datasets,
    probe_alpha::Error => Alpha,
    probe_reduce::Error => Reduce,
    probe_extract::Error => Extract,
    probe_train::Error => Train,
    probe_models::Error => Models,
    probe_report::Error => Report
);

// The file is named once: errors from below often name it already.
impl fmt::Display for InFileDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.source.to_string();
        let path = self.path.display().to_string();
        if inner.contains(&path) {
            f.write_str(&inner)
        } else {
            write!(f, "{path}: {inner}")
        }
    }
}

struct InFileDisplay<'a> {
    path: &'a PathBuf,
    source: &'a Error,
}

/// The pipeline's result.
pub type Result<T> = std::result::Result<T, Error>;
