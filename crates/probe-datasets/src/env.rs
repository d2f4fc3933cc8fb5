//! Environments: a dataset, its transform, a model, and the layers the probe looks at, by
//! name (`synthetic`, `mnist`, `cifar10`) or from a TOML file.
//!
//! The model is named and its settings kept as written (`[model_config]`): this crate knows no
//! models, `probe_models::ModelConfig::for_env` turns them into a model's config.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cifar::load_cifar10;
use crate::dataset::{Dataset, Normalization, Split};
use crate::error::{Error, Result};
use crate::hub::{download_cifar10, download_mnist};
use crate::mnist::load_mnist;
use crate::synthetic::{synthetic, SyntheticConfig};

/// The built-in environments.
pub const BUILTIN_ENVS: [&str; 3] = ["synthetic", "mnist", "cifar10"];

/// Where an environment's samples come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// The seeded synthetic task of [`synthetic`](crate::synthetic()) (no files).
    Synthetic,
    /// MNIST IDX files.
    Mnist,
    /// CIFAR-10 binary batches.
    Cifar10,
}

/// How inputs are normalised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormalizationKind {
    /// The dataset's usual constants (MNIST: 0.1307/0.3081 on pixels/255; CIFAR-10: the
    /// per-channel ImageNet-style constants), or fitted for the synthetic task.
    Standard,
    /// Mean and std per channel fitted on the training split.
    Fit,
    /// Raw values.
    None,
}

/// Settings of the synthetic task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyntheticSpec {
    /// Samples drawn for training and validation.
    pub n_train: usize,
    /// Samples drawn (with another seed) as the test split.
    pub n_test: usize,
    /// Classes.
    pub classes: usize,
    /// Input dimension.
    pub dim: usize,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            n_train: 8000,
            n_test: 2000,
            classes: 5,
            dim: 32,
        }
    }
}

/// An environment: what to train on, what to train, and what to probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Env {
    /// Name, recorded in checkpoints and results.
    pub name: String,
    /// The dataset.
    pub dataset: DatasetKind,
    /// Local dataset folder; when absent, the dataset is downloaded (MNIST, CIFAR-10).
    #[serde(default)]
    pub data: Option<PathBuf>,
    /// Input normalisation.
    #[serde(default = "standard")]
    pub normalization: NormalizationKind,
    /// Default architecture (`mlp`, `cnn`, `resnet18`).
    pub model: String,
    /// Architecture settings as written in the file, e.g. `[model_config.mlp]`
    /// `hidden = [256, 128]` (classes and input size are set from the dataset). Read by
    /// `probe_models::ModelConfig::for_env`, which rejects unknown fields.
    #[serde(default)]
    pub model_config: toml::Table,
    /// Layers the probe reads, by PyTorch module path (`input` for the raw inputs).
    pub probe_layers: Vec<String>,
    /// The synthetic task's settings.
    #[serde(default)]
    pub synthetic: SyntheticSpec,
}

fn standard() -> NormalizationKind {
    NormalizationKind::Standard
}

/// The data of an environment: training, validation and (when the dataset has one) test.
pub struct EnvData {
    /// Training split (after the validation hold-out).
    pub train: Dataset,
    /// Validation split.
    pub val: Dataset,
    /// Test split.
    pub test: Option<Dataset>,
}

impl Env {
    /// A built-in environment by name.
    pub fn builtin(name: &str) -> Result<Env> {
        let env = match name {
            "synthetic" => Env {
                name: name.into(),
                dataset: DatasetKind::Synthetic,
                data: None,
                normalization: NormalizationKind::Standard,
                model: "mlp".into(),
                // Input size and classes are filled in from the data.
                model_config: mlp_hidden(&[128, 128]),
                probe_layers: vec!["input".into(), "relu1".into(), "relu2".into()],
                synthetic: SyntheticSpec::default(),
            },
            "mnist" => Env {
                name: name.into(),
                dataset: DatasetKind::Mnist,
                data: None,
                normalization: NormalizationKind::Standard,
                model: "mlp".into(),
                // The MLP's default, written out as configs/envs/mnist.toml does.
                model_config: mlp_hidden(&[256, 128]),
                probe_layers: vec!["input".into(), "relu1".into(), "relu2".into()],
                synthetic: SyntheticSpec::default(),
            },
            "cifar10" => Env {
                name: name.into(),
                dataset: DatasetKind::Cifar10,
                data: None,
                normalization: NormalizationKind::Standard,
                model: "resnet18".into(),
                model_config: toml::Table::new(),
                probe_layers: [
                    "input",
                    "layer1.0.conv1",
                    "layer1.0.conv2",
                    "layer2.0.conv1",
                    "layer2.0.conv2",
                    "layer3.0.conv1",
                    "layer3.0.conv2",
                    "avgpool",
                ]
                .map(String::from)
                .into(),
                synthetic: SyntheticSpec::default(),
            },
            other => {
                return Err(Error::Env {
                    reason: format!(
                        "`{other}` is not a built-in environment ({}), nor a .toml file",
                        BUILTIN_ENVS.join(", ")
                    ),
                })
            }
        };
        Ok(env)
    }

    /// A built-in name, or the path of a TOML file describing an environment.
    pub fn resolve(name_or_path: &str) -> Result<Env> {
        if name_or_path.ends_with(".toml") {
            Env::from_toml(Path::new(name_or_path))
        } else {
            Env::builtin(name_or_path)
        }
    }

    /// Reads an environment from a TOML file; an unknown field is an error naming it.
    pub fn from_toml(path: &Path) -> Result<Env> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            Error::Env {
                reason: format!(
                    "{}{}: {}",
                    path.display(),
                    line.map(|l| format!(" line {l}")).unwrap_or_default(),
                    e.message().replace('\n', " ")
                ),
            }
        })
    }

    /// The per-sample shape of the inputs the model sees.
    pub fn input_shape(&self) -> Vec<usize> {
        match self.dataset {
            DatasetKind::Synthetic => vec![self.synthetic.dim],
            DatasetKind::Mnist => vec![1, 28, 28],
            DatasetKind::Cifar10 => vec![3, 32, 32],
        }
    }

    /// Loads, normalises and splits the data (`val_split` of the training set held out,
    /// seeded). `data` overrides the environment's folder.
    pub fn load(&self, data: Option<&Path>, val_split: f64, seed: u64) -> Result<EnvData> {
        let folder = data.map(Path::to_path_buf).or_else(|| self.data.clone());
        let (mut train, mut test) = match self.dataset {
            DatasetKind::Synthetic => {
                let s = &self.synthetic;
                let config = SyntheticConfig {
                    classes: s.classes,
                    dim: s.dim,
                    ..SyntheticConfig::default()
                };
                let train = synthetic(s.n_train, seed, &config)?;
                let test = synthetic(s.n_test, seed.wrapping_add(0x5eed), &config)?;
                (train, Some(test))
            }
            DatasetKind::Mnist => {
                let dir = match folder {
                    Some(dir) => dir,
                    None => download_mnist()?,
                };
                let train = load_mnist(&dir, Split::Train)?;
                let test = load_mnist(&dir, Split::Test).ok();
                (train, test)
            }
            DatasetKind::Cifar10 => {
                let dir = match folder {
                    Some(dir) => dir,
                    None => download_cifar10()?,
                };
                let train = load_cifar10(&dir, Split::Train)?;
                let test = load_cifar10(&dir, Split::Test).ok();
                (train, test)
            }
        };
        let norm = match (self.normalization, self.dataset) {
            (NormalizationKind::None, _) => None,
            (NormalizationKind::Standard, DatasetKind::Mnist) => {
                Some(Normalization::standard_mnist())
            }
            (NormalizationKind::Standard, DatasetKind::Cifar10) => {
                Some(Normalization::standard_cifar10())
            }
            (NormalizationKind::Standard, DatasetKind::Synthetic) | (NormalizationKind::Fit, _) => {
                Some(Normalization::fit(&train)?)
            }
        };
        if let Some(norm) = norm {
            norm.apply(&mut train)?;
            if let Some(test) = test.as_mut() {
                norm.apply(test)?;
            }
        }
        let (train, val) = train.split(val_split, seed)?;
        Ok(EnvData { train, val, test })
    }
}

/// `[model_config.mlp]` `hidden = [..]`, as a TOML file would hold it.
fn mlp_hidden(hidden: &[i64]) -> toml::Table {
    let hidden = hidden.iter().map(|&h| toml::Value::Integer(h)).collect();
    let mlp = toml::Table::from_iter([("hidden".to_string(), toml::Value::Array(hidden))]);
    toml::Table::from_iter([("mlp".to_string(), toml::Value::Table(mlp))])
}
