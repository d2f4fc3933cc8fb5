//! The extraction config (TOML): model, dataset, layers, batch size, device, output and an
//! optional reduction. Every field but the model's environment has a default; unknown fields
//! are an error naming them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Which network, with which weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Environment (`synthetic`, `mnist`, `cifar10` or a .toml file): dataset, transform,
    /// default architecture and default layers.
    pub env: String,
    /// Architecture (`mlp`, `cnn`, `resnet18`); default: the environment's.
    #[serde(default)]
    pub arch: Option<String>,
    /// A `.safetensors`/`.pt`/`.pth` file, `hf://owner/repo/file`, `random` (initialised
    /// from `seed`: the untrained baseline), or an `.onnx` model.
    #[serde(default)]
    pub weights: String,
    /// Seed of `random` weights.
    #[serde(default)]
    pub seed: u64,
    /// An ONNX model instead of a built-in architecture (the same as `weights = "x.onnx"`):
    /// `layers` then name the graph's values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onnx: Option<String>,
    /// ONNX: the graph input fed with the dataset (default: its first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_name: Option<String>,
    /// ONNX: `nchw` (the dataset's layout, the default) or `nhwc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// Per-channel mean (of pixels / 255 for image datasets) replacing the environment's
    /// normalisation, for models trained with another; with `std`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation, with `mean`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<Vec<f32>>,
}

impl ModelSection {
    /// Whether the model is an ONNX graph.
    pub fn is_onnx(&self) -> bool {
        self.onnx.is_some() || self.weights.to_ascii_lowercase().ends_with(".onnx")
    }

    /// Sets the weights as `--weights` gives them: an `.onnx` file is an ONNX model (and
    /// replaces `weights`), anything else replaces `weights` (and any ONNX model).
    pub fn set_weights(&mut self, weights: &str) {
        if weights.to_ascii_lowercase().ends_with(".onnx") {
            self.onnx = Some(weights.to_string());
            self.weights.clear();
        } else {
            self.weights = weights.to_string();
            self.onnx = None;
        }
    }

    /// The weights file or ONNX model read (`random` for none).
    pub fn source(&self) -> &str {
        self.onnx.as_deref().unwrap_or(&self.weights)
    }
}

/// Which samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetSection {
    /// Dataset folder (default: the environment's, or a download).
    pub data: Option<PathBuf>,
    /// `train` (the default: the probe reads the training set) or `test`.
    pub split: String,
    /// Use a seeded subset of at most this many samples.
    pub limit: Option<usize>,
    /// Seed of the subset and of the synthetic task.
    pub seed: u64,
}

impl Default for DatasetSection {
    fn default() -> Self {
        DatasetSection {
            data: None,
            split: "train".into(),
            limit: None,
            seed: 0,
        }
    }
}

/// A reduction applied to each layer after it is written (to `features-reduced/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReduceSection {
    /// `tsvd` or `pca`.
    pub method: String,
    /// Target dimension K.
    pub dim: usize,
}

/// A whole extraction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractConfig {
    /// The network.
    pub model: ModelSection,
    /// The samples.
    #[serde(default)]
    pub dataset: DatasetSection,
    /// Layers by PyTorch module path, plus `input`; default: the environment's probe layers.
    #[serde(default)]
    pub layers: Option<Vec<String>>,
    /// Samples per forward pass.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// `cpu`, `cuda`, `cuda:N`, `metal`.
    #[serde(default = "default_device")]
    pub device: String,
    /// Output folder; features go to `OUT/features/`.
    pub out: PathBuf,
    /// Optional per-layer reduction.
    #[serde(default)]
    pub reduce: Option<ReduceSection>,
}

fn default_batch() -> usize {
    256
}

fn default_device() -> String {
    "cpu".into()
}

impl ExtractConfig {
    /// Reads a config; relative paths in it are taken as they are (from the working folder).
    pub fn from_toml(path: &Path) -> Result<ExtractConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            reason: format!("cannot read it: {e}"),
        })?;
        let config: ExtractConfig = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            Error::Config {
                path: path.to_path_buf(),
                reason: format!(
                    "{}{}",
                    line.map(|l| format!("line {l}: ")).unwrap_or_default(),
                    e.message().replace('\n', " ")
                ),
            }
        })?;
        config.check(path)?;
        Ok(config)
    }

    /// Checks the values serde cannot.
    pub fn check(&self, path: &Path) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::Config {
                path: path.to_path_buf(),
                reason,
            })
        };
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        let m = &self.model;
        match (&m.onnx, m.weights.is_empty()) {
            (Some(_), false) => {
                return bad(
                    "model.onnx and model.weights are both set; an ONNX file holds its \
                            weights, so set one"
                        .into(),
                )
            }
            (None, true) => {
                return bad(
                    "model.weights is missing: a weights file, hf://…, \"random\" or an \
                            .onnx model"
                        .into(),
                )
            }
            _ => {}
        }
        if !matches!(m.layout.as_deref(), None | Some("nchw") | Some("nhwc")) {
            return bad(format!(
                "model.layout = {:?}: use \"nchw\" or \"nhwc\"",
                m.layout.as_deref().unwrap_or_default()
            ));
        }
        if !m.is_onnx() && (m.input_name.is_some() || m.layout.is_some()) {
            return bad("model.input_name and model.layout apply to ONNX models only".into());
        }
        match (&m.mean, &m.std) {
            (Some(mean), Some(std)) => {
                if mean.len() != std.len() || mean.is_empty() {
                    return bad(format!(
                        "model.mean has {} values and model.std {}: give one per channel",
                        mean.len(),
                        std.len()
                    ));
                }
                if std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
                    return bad("model.std values must be positive".into());
                }
            }
            (None, None) => {}
            _ => return bad("model.mean and model.std go together".into()),
        }
        if !matches!(self.dataset.split.as_str(), "train" | "test") {
            return bad(format!(
                "dataset.split = \"{}\": use \"train\" or \"test\"",
                self.dataset.split
            ));
        }
        if let Some(r) = &self.reduce {
            if !matches!(r.method.as_str(), "tsvd" | "pca") || r.dim == 0 {
                return bad(format!(
                    "reduce = {{ method = \"{}\", dim = {} }}: method is tsvd or pca, dim at least 1",
                    r.method, r.dim
                ));
            }
        }
        if self.layers.as_ref().is_some_and(|l| l.is_empty()) {
            return bad("layers is empty: list at least one layer, or leave it out".into());
        }
        Ok(())
    }
}
