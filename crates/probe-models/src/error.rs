//! The error type of this crate.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong when building, running or loading a model.
///
/// Every message is one line that names the model, tensor or file, says what is wrong and,
/// where there is one, how to fix it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The architecture name is not one of [`crate::ARCHS`].
    #[error("unknown model architecture `{name}`; valid architectures: {}", .valid.join(", "))]
    UnknownArch {
        /// The name that was asked for.
        name: String,
        /// The names that exist.
        valid: Vec<String>,
    },
    /// A requested tap is not a submodule of the model.
    #[error("{model}: unknown tap `{name}`; valid taps: {}", .valid.join(", "))]
    UnknownTap {
        /// The model (`mlp`, `cnn`, `resnet18`).
        model: &'static str,
        /// The tap that was asked for.
        name: String,
        /// The taps the model has, in forward order.
        valid: Vec<String>,
    },
    /// An ONNX model that cannot be read or run.
    #[error("{}: {problem}", .path.display())]
    Onnx {
        /// The ONNX file.
        path: PathBuf,
        /// What is wrong, naming the node or value.
        problem: String,
    },
    /// A tap that is not a value of the ONNX graph.
    #[error(
        "{}: no value `{name}` in the graph; the closest names: {}",
        .path.display(), .close.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
    )]
    UnknownOnnxValue {
        /// The ONNX file.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// Up to five names of the graph closest to it.
        close: Vec<String>,
    },
    /// A config field has a value the model cannot be built with.
    #[error("{model} config: `{field}` {problem}; fix `{field}` in the model config")]
    BadConfig {
        /// The model (`mlp`, `cnn`, `resnet18`).
        model: &'static str,
        /// The offending field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The input batch does not fit the model (shape, dtype or device).
    #[error("{model}: {problem}; check the dataset against the model config")]
    BadInput {
        /// The model (`mlp`, `cnn`, `resnet18`).
        model: &'static str,
        /// What is wrong with the input.
        problem: String,
    },
    /// A tensor the model needs is not in the weights file.
    #[error(
        "{}: tensor `{tensor}` (shape {expected:?}) is missing from the file{}; pass weights \
         saved from the same architecture and config{}",
        .path.display(), found_summary(.found, *.n_found), more_problems(*.more)
    )]
    MissingTensor {
        /// The weights file.
        path: PathBuf,
        /// The PyTorch name of the missing tensor.
        tensor: String,
        /// The shape the model expects.
        expected: Vec<usize>,
        /// A few names that are in the file.
        found: Vec<String>,
        /// How many tensors the file holds.
        n_found: usize,
        /// How many further tensors are missing, mismatched or unexpected.
        more: usize,
    },
    /// A tensor in the weights file has another shape than the model's.
    #[error(
        "{}: tensor `{tensor}` has shape {found:?} in the file but the model expects \
         {expected:?}; build the model with the config the weights were saved with \
         (e.g. classes, hidden sizes){}",
        .path.display(), more_problems(*.more)
    )]
    ShapeMismatch {
        /// The weights file.
        path: PathBuf,
        /// The PyTorch name of the tensor.
        tensor: String,
        /// The shape the model expects.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
        /// How many further tensors are missing, mismatched or unexpected.
        more: usize,
    },
    /// The weights file holds tensors that the model does not have.
    #[error(
        "{}: {} tensor(s) that the model does not have (e.g. {}); check the architecture \
         and config, or remove them from the file",
        .path.display(), .names.len(), first_names(.names)
    )]
    UnexpectedTensors {
        /// The weights file.
        path: PathBuf,
        /// The names the model does not have.
        names: Vec<String>,
    },
    /// The weights file has an extension this crate does not read.
    #[error(
        "{}: unknown weights format; use a .safetensors file or a PyTorch state_dict \
         saved as .pt/.pth/.bin",
        .path.display()
    )]
    UnknownFormat {
        /// The weights file.
        path: PathBuf,
    },
    /// The weights file could not be parsed.
    #[error(
        "{}: cannot parse weights ({detail}); re-save them with safetensors.torch.save_file \
         or torch.save(model.state_dict(), path)",
        .path.display()
    )]
    Corrupt {
        /// The weights file.
        path: PathBuf,
        /// What the parser reported.
        detail: String,
    },
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}; check the path", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: io::Error,
    },
    /// A file could not be written.
    #[error(
        "cannot write {}: {detail}; check that the folder exists and is writable",
        .path.display()
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The weights address is not `hf://owner/repo/file`.
    #[error(
        "`{url}` is not a Hugging Face weights address; write hf://owner/repo/path/to/file \
         (optionally owner/repo@revision), or give a local path"
    )]
    BadHubUrl {
        /// The address as given.
        url: String,
    },
    /// Downloading from the Hugging Face hub failed (offline, no such repo or file).
    #[error(
        "cannot fetch `{file}` from Hugging Face repo `{repo}` ({detail}); if this machine \
         is offline, download the file elsewhere and load it from a local path"
    )]
    Hub {
        /// `owner/repo`.
        repo: String,
        /// The file inside the repo.
        file: String,
        /// What went wrong.
        detail: String,
    },
    /// A device name is not one of `cpu`, `cuda`, `cuda:N`, `metal`, or the device is not there.
    #[error("invalid training parameter `device`: {reason}")]
    BadDevice {
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// An environment's `[model_config]` settings do not describe a
    /// [`ModelConfig`](crate::ModelConfig) (an unknown field, a value of the wrong type).
    #[error(
        "environment `{env}`: [model_config] {problem}; fix it in the environment's TOML file"
    )]
    EnvConfig {
        /// The environment's name.
        env: String,
        /// What is wrong, as one line.
        problem: String,
    },
    /// A tensor operation failed.
    #[error("{context}: {}", one_line(.source))]
    Candle {
        /// What was being done, naming the layer or tensor.
        context: String,
        /// The candle error.
        #[source]
        source: candle_core::Error,
    },
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps a candle error with what was being done.
    pub(crate) fn candle(context: impl Into<String>) -> impl FnOnce(candle_core::Error) -> Error {
        let context = context.into();
        move |source| Error::Candle { context, source }
    }
}

/// A candle error as one line: without its backtrace, lines joined by `; `.
pub(crate) fn one_line(e: &candle_core::Error) -> String {
    let inner = match e {
        candle_core::Error::WithBacktrace { inner, .. } => inner.as_ref(),
        e => e,
    };
    let text = inner.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("; ")
}

fn first_names(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = names
        .iter()
        .take(SHOWN)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        s.push_str(", …");
    }
    s
}

fn found_summary(found: &[String], n_found: usize) -> String {
    if n_found == 0 {
        " (the file holds no tensors)".to_string()
    } else {
        format!(
            " (the file holds {n_found} tensors, e.g. {})",
            first_names(found)
        )
    }
}

fn more_problems(more: usize) -> String {
    if more == 0 {
        String::new()
    } else {
        format!(" ({more} more tensor problem(s) after this one)")
    }
}
