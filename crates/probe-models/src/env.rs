//! What the models take from the datasets' side: an environment's model settings, and batches
//! of samples as tensors.

use candle_core::{Device, Tensor};
use probe_datasets::{Dataset, Env};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::model::ModelConfig;

impl ModelConfig {
    /// The settings of `env`'s `[model_config]` section, as written (every field has a
    /// default). `probe_datasets` keeps them as plain TOML, so this is where they are checked:
    /// call it before long work (loading data) to report a bad section early.
    ///
    /// Errors with [`Error::EnvConfig`] on an unknown field or a value of the wrong type.
    pub fn from_env(env: &Env) -> Result<ModelConfig> {
        ModelConfig::deserialize(toml::Value::Table(env.model_config.clone())).map_err(|e| {
            Error::EnvConfig {
                env: env.name.clone(),
                problem: e.message().split_whitespace().collect::<Vec<_>>().join(" "),
            }
        })
    }

    /// The model settings of `env` for `arch`, with `classes` and the input size of the
    /// environment's dataset filled in (`mlp`: its flattened size; `cnn` and `resnet18`:
    /// channels, and the image side for `cnn`).
    ///
    /// Errors as [`ModelConfig::from_env`].
    ///
    /// ```
    /// use probe_datasets::Env;
    /// use probe_models::ModelConfig;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let env = Env::builtin("synthetic")?; // vectors of 32 values, an MLP 128 → 128
    /// let cfg = ModelConfig::for_env(&env, "mlp", 5)?;
    /// assert_eq!((cfg.mlp.input_dim, cfg.mlp.hidden.as_slice(), cfg.mlp.classes), (32, &[128, 128][..], 5));
    /// # Ok(())
    /// # }
    /// ```
    pub fn for_env(env: &Env, arch: &str, classes: usize) -> Result<ModelConfig> {
        let mut cfg = ModelConfig::from_env(env)?.with_classes(classes);
        let shape = env.input_shape();
        if arch == "mlp" {
            cfg.mlp.input_dim = shape.iter().product();
        }
        if shape.len() == 3 {
            cfg.cnn.in_channels = shape[0];
            cfg.cnn.image_size = shape[1];
            cfg.resnet18.in_channels = shape[0];
        }
        Ok(cfg)
    }
}

/// The samples `rows` of `data` as an input tensor `[b, shape…]` and a label tensor `[b]` on
/// `device`.
///
/// # Panics
///
/// When a row is not below `data.len()` (or the dataset's fields disagree), as slice indexing
/// does.
pub fn batch(data: &Dataset, rows: &[usize], device: &Device) -> Result<(Tensor, Tensor)> {
    let len = data.sample_len();
    let mut inputs = Vec::with_capacity(rows.len() * len);
    let mut labels = Vec::with_capacity(rows.len());
    for &i in rows {
        inputs.extend_from_slice(&data.inputs[i * len..(i + 1) * len]);
        labels.push(data.labels[i]);
    }
    let mut shape = vec![rows.len()];
    shape.extend_from_slice(&data.shape);
    let x = Tensor::from_vec(inputs, shape, device)
        .map_err(Error::candle(format!("batch of {} input(s)", rows.len())))?;
    let y = Tensor::from_vec(labels, rows.len(), device)
        .map_err(Error::candle(format!("batch of {} label(s)", rows.len())))?;
    Ok((x, y))
}
