//! A small two-convolution network for MNIST-sized images.

use candle_core::{DType, Device, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ops;
use crate::resnet::conv_forward;
use crate::taps::{check_dtype_device, check_image, TapRecorder, Tapped};

const NAME: &str = "cnn";

/// The tap names of [`SmallCnn`], in forward order.
const TAPS: [&str; 10] = [
    "input", "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc1", "relu3", "fc2",
];

/// The shape of a [`SmallCnn`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmallCnnConfig {
    /// Channels of the input images; default 1.
    pub in_channels: usize,
    /// Height and width of the (square) input images; default 28. At least 4.
    pub image_size: usize,
    /// Number of classes; default 10.
    pub classes: usize,
}

impl Default for SmallCnnConfig {
    fn default() -> Self {
        Self {
            in_channels: 1,
            image_size: 28,
            classes: 10,
        }
    }
}

impl SmallCnnConfig {
    fn check(&self) -> Result<()> {
        let bad = |field, problem: &str| Error::BadConfig {
            model: NAME,
            field,
            problem: problem.to_string(),
        };
        if self.in_channels == 0 {
            return Err(bad("in_channels", "is 0; it must be at least 1"));
        }
        if self.image_size < 4 {
            return Err(bad(
                "image_size",
                "is below 4; two 2×2 max-pools need at least 4×4 images",
            ));
        }
        if self.classes == 0 {
            return Err(bad("classes", "is 0; it must be at least 1"));
        }
        Ok(())
    }

    /// The width of `fc1`'s input: 64 channels × (image_size / 4)².
    pub fn flat_dim(&self) -> usize {
        let s = self.image_size / 4;
        64 * s * s
    }
}

/// conv1 (→32, 3×3, pad 1) → ReLU → max-pool 2 → conv2 (32→64, 3×3, pad 1) → ReLU →
/// max-pool 2 → flatten → fc1 (→128) → ReLU → fc2 (128→classes).
///
/// Parameter names and taps equal those of this PyTorch module:
///
/// ```python
/// class SmallCnn(nn.Module):
///     def __init__(self, in_channels=1, image_size=28, classes=10):
///         super().__init__()
///         self.conv1 = nn.Conv2d(in_channels, 32, 3, padding=1); self.relu1 = nn.ReLU()
///         self.pool1 = nn.MaxPool2d(2)
///         self.conv2 = nn.Conv2d(32, 64, 3, padding=1); self.relu2 = nn.ReLU()
///         self.pool2 = nn.MaxPool2d(2)
///         self.fc1 = nn.Linear(64 * (image_size // 4) ** 2, 128); self.relu3 = nn.ReLU()
///         self.fc2 = nn.Linear(128, classes)
/// ```
///
/// Taps: `input`, `conv1`, `relu1`, `pool1`, `conv2`, `relu2`, `pool2`, `fc1`, `relu3`,
/// `fc2` (the logits).
#[derive(Debug, Clone)]
pub struct SmallCnn {
    /// `conv1`.
    pub conv1: Conv2d,
    /// `conv2`.
    pub conv2: Conv2d,
    /// `fc1`.
    pub fc1: Linear,
    /// `fc2`, the classifier.
    pub fc2: Linear,
    config: SmallCnnConfig,
    dtype: DType,
    device: Device,
}

impl SmallCnn {
    /// Builds the model, taking (or creating) `conv1.weight`, `conv1.bias`, … from `vb`.
    pub fn new(cfg: &SmallCnnConfig, vb: VarBuilder) -> Result<Self> {
        cfg.check()?;
        let conv = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        let ctx = |name: &str| Error::candle(format!("cnn: creating `{name}`"));
        let conv1 = candle_nn::conv2d(cfg.in_channels, 32, 3, conv, vb.pp("conv1"))
            .map_err(ctx("conv1"))?;
        let conv2 = candle_nn::conv2d(32, 64, 3, conv, vb.pp("conv2")).map_err(ctx("conv2"))?;
        let fc1 = candle_nn::linear(cfg.flat_dim(), 128, vb.pp("fc1")).map_err(ctx("fc1"))?;
        let fc2 = candle_nn::linear(128, cfg.classes, vb.pp("fc2")).map_err(ctx("fc2"))?;
        Ok(Self {
            conv1,
            conv2,
            fc1,
            fc2,
            config: cfg.clone(),
            dtype: vb.dtype(),
            device: vb.device().clone(),
        })
    }

    /// The config the model was built with.
    pub fn config(&self) -> &SmallCnnConfig {
        &self.config
    }
}

impl Tapped for SmallCnn {
    fn forward_with_taps(
        &self,
        x: &Tensor,
        taps: &[&str],
        _train: bool,
    ) -> Result<(Tensor, Vec<(String, Tensor)>)> {
        let mut rec = TapRecorder::new(NAME, taps, &self.tap_names())?;
        check_dtype_device(NAME, x, self.dtype, &self.device)?;
        check_image(
            NAME,
            x,
            self.config.in_channels,
            Some(self.config.image_size),
        )?;
        let ctx = |name: &str| Error::candle(format!("cnn: forward through `{name}`"));
        rec.record("input", x);
        let h = conv_forward(&self.conv1, x).map_err(ctx("conv1"))?;
        rec.record("conv1", &h);
        let h = ops::relu(&h).map_err(ctx("relu1"))?;
        rec.record("relu1", &h);
        let h = ops::max_pool2d(&h, 2, 2, 0).map_err(ctx("pool1"))?;
        rec.record("pool1", &h);
        let h = conv_forward(&self.conv2, &h).map_err(ctx("conv2"))?;
        rec.record("conv2", &h);
        let h = ops::relu(&h).map_err(ctx("relu2"))?;
        rec.record("relu2", &h);
        let h = ops::max_pool2d(&h, 2, 2, 0).map_err(ctx("pool2"))?;
        rec.record("pool2", &h);
        let h = h.flatten_from(1).map_err(ctx("flatten"))?;
        let h = ops::linear(&h, self.fc1.weight(), self.fc1.bias()).map_err(ctx("fc1"))?;
        rec.record("fc1", &h);
        let h = ops::relu(&h).map_err(ctx("relu3"))?;
        rec.record("relu3", &h);
        let h = ops::linear(&h, self.fc2.weight(), self.fc2.bias()).map_err(ctx("fc2"))?;
        rec.record("fc2", &h);
        Ok((h, rec.finish(NAME)?))
    }

    fn tap_names(&self) -> Vec<String> {
        TAPS.iter().map(|s| s.to_string()).collect()
    }
}
