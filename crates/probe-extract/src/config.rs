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
    /// A `.safetensors`/`.pt`/`.pth` file, `hf://owner/repo/file`, or `random` (initialised
    /// from `seed`: the untrained baseline).
    pub weights: String,
    /// Seed of `random` weights.
    #[serde(default)]
    pub seed: u64,
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
