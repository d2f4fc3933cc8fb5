//! A multi-layer perceptron for flat or image inputs.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ops;
use crate::taps::{check_dtype_device, TapRecorder, Tapped};

const NAME: &str = "mlp";

/// The shape of an [`Mlp`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpConfig {
    /// Features per sample after flattening; default 784 (MNIST's 28×28).
    pub input_dim: usize,
    /// Widths of the hidden layers; default `[256, 128]`. Empty gives a linear classifier.
    pub hidden: Vec<usize>,
    /// Number of classes (width of the last layer); default 10.
    pub classes: usize,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            input_dim: 784,
            hidden: vec![256, 128],
            classes: 10,
        }
    }
}

impl MlpConfig {
    fn check(&self) -> Result<()> {
        let bad = |field, problem: &str| Error::BadConfig {
            model: NAME,
            field,
            problem: problem.to_string(),
        };
        if self.input_dim == 0 {
            return Err(bad("input_dim", "is 0; it must be at least 1"));
        }
        if self.hidden.contains(&0) {
            return Err(bad(
                "hidden",
                "contains a 0; every width must be at least 1",
            ));
        }
        if self.classes == 0 {
            return Err(bad("classes", "is 0; it must be at least 1"));
        }
        Ok(())
    }
}

/// A multi-layer perceptron: flatten, then `fc1`, ReLU, `fc2`, ReLU, …, `fc{k}`.
///
/// Parameter names and taps equal those of this PyTorch module (with `k = hidden.len() + 1`):
///
/// ```python
/// class Mlp(nn.Module):
///     def __init__(self, input_dim, hidden, classes):
///         super().__init__()
///         widths = [input_dim, *hidden, classes]
///         for i in range(len(widths) - 1):
///             setattr(self, f"fc{i + 1}", nn.Linear(widths[i], widths[i + 1]))
///             if i < len(widths) - 2:
///                 setattr(self, f"relu{i + 1}", nn.ReLU())
///     def forward(self, x):
///         x = torch.flatten(x, 1)
///         ...  # fc1, relu1, fc2, relu2, ..., fc{k}
/// ```
///
/// Taps: `input`, `fc1`, `relu1`, …, `fc{k-1}`, `relu{k-1}`, `fc{k}` (the logits).
#[derive(Debug, Clone)]
pub struct Mlp {
    /// The linear layers `fc1` … `fc{k}`, in order.
    pub layers: Vec<Linear>,
    config: MlpConfig,
    names: Vec<(String, String)>,
    dtype: DType,
    device: Device,
}

impl Mlp {
    /// Builds the model, taking (or creating) `fc1.weight`, `fc1.bias`, … from `vb`.
    pub fn new(cfg: &MlpConfig, vb: VarBuilder) -> Result<Self> {
        cfg.check()?;
        let widths: Vec<usize> = std::iter::once(cfg.input_dim)
            .chain(cfg.hidden.iter().copied())
            .chain(std::iter::once(cfg.classes))
            .collect();
        let mut layers = Vec::with_capacity(widths.len() - 1);
        let mut names = Vec::with_capacity(widths.len() - 1);
        for (i, w) in widths.windows(2).enumerate() {
            let fc = format!("fc{}", i + 1);
            let layer = candle_nn::linear(w[0], w[1], vb.pp(&fc))
                .map_err(Error::candle(format!("mlp: creating `{fc}`")))?;
            layers.push(layer);
            names.push((fc, format!("relu{}", i + 1)));
        }
        Ok(Self {
            layers,
            config: cfg.clone(),
            names,
            dtype: vb.dtype(),
            device: vb.device().clone(),
        })
    }

    /// The config the model was built with.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        check_dtype_device(NAME, x, self.dtype, &self.device)?;
        let dims = x.dims();
        let flat: usize = dims.iter().skip(1).product();
        if dims.len() < 2 || dims[0] == 0 || flat != self.config.input_dim {
            return Err(Error::BadInput {
                model: NAME,
                problem: format!(
                    "input has shape {dims:?} but the model expects [n, …] with {} features \
                     per sample (input_dim)",
                    self.config.input_dim
                ),
            });
        }
        Ok(())
    }
}

impl Tapped for Mlp {
    fn forward_with_taps(
        &self,
        x: &Tensor,
        taps: &[&str],
        _train: bool,
    ) -> Result<(Tensor, Vec<(String, Tensor)>)> {
        let mut rec = TapRecorder::new(NAME, taps, &self.tap_names())?;
        self.check_input(x)?;
        rec.record("input", x);
        let mut h = x
            .flatten_from(1)
            .map_err(Error::candle("mlp: flattening the input"))?;
        let last = self.layers.len() - 1;
        for (i, (layer, (fc, relu))) in self.layers.iter().zip(&self.names).enumerate() {
            h = ops::linear(&h, layer.weight(), layer.bias())
                .map_err(Error::candle(format!("mlp: forward through `{fc}`")))?;
            rec.record(fc, &h);
            if i < last {
                h = ops::relu(&h)
                    .map_err(Error::candle(format!("mlp: forward through `{relu}`")))?;
                rec.record(relu, &h);
            }
        }
        Ok((h, rec.finish(NAME)?))
    }

    fn tap_names(&self) -> Vec<String> {
        let mut names = vec!["input".to_string()];
        let last = self.names.len() - 1;
        for (i, (fc, relu)) in self.names.iter().enumerate() {
            names.push(fc.clone());
            if i < last {
                names.push(relu.clone());
            }
        }
        names
    }
}
