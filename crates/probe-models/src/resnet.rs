//! ResNet-18 for CIFAR-sized images, with torchvision's parameter names.

use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::{BatchNorm, BatchNormConfig, Conv2d, Conv2dConfig, Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ops;
use crate::taps::{check_dtype_device, check_image, TapRecorder, Tapped};

const NAME: &str = "resnet18";

/// The shape of a [`ResNet18`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResNet18Config {
    /// Channels of the input images; default 3.
    pub in_channels: usize,
    /// Number of classes; default 10.
    pub classes: usize,
    /// BatchNorm epsilon; default 1e-5 (PyTorch's).
    pub bn_eps: f64,
    /// BatchNorm running-statistics momentum; default 0.1 (PyTorch's):
    /// `running = (1 - momentum) * running + momentum * batch`.
    pub bn_momentum: f64,
}

impl Default for ResNet18Config {
    fn default() -> Self {
        Self {
            in_channels: 3,
            classes: 10,
            bn_eps: 1e-5,
            bn_momentum: 0.1,
        }
    }
}

impl ResNet18Config {
    fn check(&self) -> Result<()> {
        let bad = |field, problem: String| Error::BadConfig {
            model: NAME,
            field,
            problem,
        };
        if self.in_channels == 0 {
            return Err(bad("in_channels", "is 0; it must be at least 1".into()));
        }
        if self.classes == 0 {
            return Err(bad("classes", "is 0; it must be at least 1".into()));
        }
        if !(self.bn_eps >= 0.0 && self.bn_eps.is_finite()) {
            return Err(bad("bn_eps", format!("is {}; it must be ≥ 0", self.bn_eps)));
        }
        if !(0.0..=1.0).contains(&self.bn_momentum) {
            return Err(bad(
                "bn_momentum",
                format!("is {}; it must be in [0, 1]", self.bn_momentum),
            ));
        }
        Ok(())
    }
}

/// Max-pooling like `nn.MaxPool2d(kernel, stride, padding)`: the padding is −∞, so it never
/// wins the max, and the output side is `⌊(side + 2·padding − kernel) / stride⌋ + 1`.
///
/// Built from differentiable ops (shifted `maximum`s, then `index_select` for the stride)
/// because candle's `max_pool2d` has no backward pass for overlapping windows. The forward
/// values equal PyTorch's exactly; where a window holds tied maxima the gradient is split
/// between them (PyTorch gives it to one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2d {
    /// Window side.
    pub kernel: usize,
    /// Step between windows.
    pub stride: usize,
    /// Implicit −∞ padding on each side; at most `kernel / 2`, as in PyTorch.
    pub padding: usize,
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.kernel == 0 || self.stride == 0 || 2 * self.padding > self.kernel {
            candle_core::bail!(
                "max-pool needs kernel ≥ 1, stride ≥ 1 and padding ≤ kernel / 2, got {self:?}"
            )
        }
        if x.rank() != 4 {
            candle_core::bail!("max-pool input must be [n, c, h, w], got {:?}", x.dims())
        }
        let h = self.pool_dim(x, 2)?;
        self.pool_dim(&h, 3)
    }
}

impl MaxPool2d {
    /// Max-pools along one spatial dimension (max-pooling is separable).
    fn pool_dim(&self, x: &Tensor, dim: usize) -> candle_core::Result<Tensor> {
        let (k, p) = (self.kernel, self.padding);
        let x = if p > 0 {
            let mut shape = x.dims().to_vec();
            shape[dim] = p;
            let fill =
                Tensor::zeros(shape, x.dtype(), x.device())?.affine(1.0, f64::NEG_INFINITY)?;
            Tensor::cat(&[&fill, x, &fill], dim)?
        } else {
            x.clone()
        };
        let len = x.dim(dim)?;
        if len < k {
            candle_core::bail!("max-pool window {k} is larger than the padded input side {len}")
        }
        let m = len - k + 1;
        let mut out = x.narrow(dim, 0, m)?;
        for offset in 1..k {
            out = out.maximum(&x.narrow(dim, offset, m)?)?;
        }
        if self.stride > 1 {
            let idx: Vec<u32> = (0..m).step_by(self.stride).map(|i| i as u32).collect();
            let idx = Tensor::new(idx.as_slice(), x.device())?;
            out = out.index_select(&idx, dim)?;
        }
        Ok(out)
    }
}

/// Averages each channel over height and width: `[n, c, h, w]` → `[n, c, 1, 1]`, like
/// `nn.AdaptiveAvgPool2d((1, 1))`.
pub fn adaptive_avg_pool_1x1(x: &Tensor) -> candle_core::Result<Tensor> {
    x.mean_keepdim((2, 3))
}

fn conv(
    c_in: usize,
    c_out: usize,
    k: usize,
    stride: usize,
    padding: usize,
    vb: VarBuilder,
) -> candle_core::Result<Conv2d> {
    let cfg = Conv2dConfig {
        stride,
        padding,
        ..Default::default()
    };
    candle_nn::conv2d_no_bias(c_in, c_out, k, cfg, vb)
}

fn bn(c: usize, cfg: &ResNet18Config, vb: VarBuilder) -> candle_core::Result<BatchNorm> {
    let bn_cfg = BatchNormConfig {
        eps: cfg.bn_eps,
        momentum: cfg.bn_momentum,
        ..Default::default()
    };
    candle_nn::batch_norm(c, bn_cfg, vb)
}

/// A convolution through the fast op.
pub(crate) fn conv_forward(conv: &Conv2d, x: &Tensor) -> candle_core::Result<Tensor> {
    let c = conv.config();
    ops::conv2d(x, conv.weight(), conv.bias(), c.stride, c.padding)
}

/// How one `conv → bn → (+ residual) → (relu)` stage runs, and which of its outputs are read.
#[derive(Clone, Copy)]
struct Stage<'a> {
    train: bool,
    /// The convolution's own output is a requested tap (so BatchNorm cannot be folded in).
    conv_tapped: bool,
    /// BatchNorm's output is a requested tap (so what follows cannot be fused in).
    bn_tapped: bool,
    residual: Option<&'a Tensor>,
    relu: bool,
}

/// The outputs of one stage: the convolution's and BatchNorm's where they were computed
/// apart, and the stage's result.
struct StageOut {
    conv: Option<Tensor>,
    bn: Option<Tensor>,
    out: Tensor,
}

/// `relu(bn(conv(x)) + residual)`. In eval mode, when nobody reads the convolution's own
/// output, BatchNorm is folded into the convolution (`w·γ/σ`, `β − μ·γ/σ`, equal to 1e-5);
/// otherwise it is one per-channel pass over that output. When nobody reads BatchNorm's
/// output either, the residual and ReLU join that same pass. Training keeps every op apart.
fn conv_bn(
    conv: &Conv2d,
    bn: &BatchNorm,
    x: &Tensor,
    st: Stage<'_>,
) -> candle_core::Result<StageOut> {
    let after = |y: &Tensor| ops::residual_relu(y.clone(), st.residual, st.relu);
    if st.train {
        let h = conv_forward(conv, x)?;
        let y = bn.forward_t(&h, true)?;
        let out = after(&y)?;
        return Ok(StageOut {
            conv: Some(h),
            bn: Some(y),
            out,
        });
    }
    let (gamma, beta) = match bn.weight_and_bias() {
        Some((g, b)) => (g.clone(), b.clone()),
        None => {
            let ones = bn.running_var().ones_like()?;
            (ones.clone(), ones.zeros_like()?)
        }
    };
    let scale = (gamma / (bn.running_var() + bn.eps())?.sqrt()?)?;
    let shift = (beta - (bn.running_mean() * &scale)?)?;
    if st.conv_tapped {
        // BatchNorm as one per-channel pass over the kept convolution output.
        let h = conv_forward(conv, x)?;
        if st.bn_tapped {
            let y = ops::channel_affine(&h, &scale, &shift, None, false)?;
            let out = after(&y)?;
            return Ok(StageOut {
                conv: Some(h),
                bn: Some(y),
                out,
            });
        }
        let out = ops::channel_affine(&h, &scale, &shift, st.residual, st.relu)?;
        return Ok(StageOut {
            conv: Some(h),
            bn: None,
            out,
        });
    }
    let shift = match conv.bias() {
        Some(b) => ((b * &scale)? + shift)?,
        None => shift,
    };
    let w = conv
        .weight()
        .broadcast_mul(&scale.reshape((scale.elem_count(), 1, 1, 1))?)?;
    let c = conv.config();
    if st.bn_tapped {
        let y = ops::conv2d(x, &w, Some(&shift), c.stride, c.padding)?;
        let out = after(&y)?;
        return Ok(StageOut {
            conv: None,
            bn: Some(y),
            out,
        });
    }
    let out = ops::conv2d_eval(x, &w, &shift, st.residual, st.relu, c.stride, c.padding)?;
    Ok(StageOut {
        conv: None,
        bn: None,
        out,
    })
}

/// The module paths of one block's taps.
#[derive(Debug, Clone)]
struct BlockNames {
    block: String,
    conv1: String,
    bn1: String,
    conv2: String,
    bn2: String,
    ds0: String,
    ds1: String,
}

impl BlockNames {
    fn new(prefix: &str) -> Self {
        Self {
            block: prefix.to_string(),
            conv1: format!("{prefix}.conv1"),
            bn1: format!("{prefix}.bn1"),
            conv2: format!("{prefix}.conv2"),
            bn2: format!("{prefix}.bn2"),
            ds0: format!("{prefix}.downsample.0"),
            ds1: format!("{prefix}.downsample.1"),
        }
    }
}

/// torchvision's `BasicBlock`: conv3×3 → BN → ReLU → conv3×3 → BN, plus the identity (or a
/// 1×1 strided conv + BN `downsample`), then ReLU.
#[derive(Debug, Clone)]
pub struct BasicBlock {
    /// `conv1`: 3×3, carries the block's stride.
    pub conv1: Conv2d,
    /// `bn1`.
    pub bn1: BatchNorm,
    /// `conv2`: 3×3, stride 1.
    pub conv2: Conv2d,
    /// `bn2`.
    pub bn2: BatchNorm,
    /// `downsample.0` (1×1 conv) and `downsample.1` (BN), where the shape changes.
    pub downsample: Option<(Conv2d, BatchNorm)>,
    names: BlockNames,
}

impl BasicBlock {
    fn new(
        c_in: usize,
        c_out: usize,
        stride: usize,
        cfg: &ResNet18Config,
        path: &str,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let names = BlockNames::new(path);
        let conv1 = conv(c_in, c_out, 3, stride, 1, vb.pp("conv1"))?;
        let bn1 = bn(c_out, cfg, vb.pp("bn1"))?;
        let conv2 = conv(c_out, c_out, 3, 1, 1, vb.pp("conv2"))?;
        let bn2 = bn(c_out, cfg, vb.pp("bn2"))?;
        let downsample = if stride != 1 || c_in != c_out {
            let vb = vb.pp("downsample");
            Some((
                conv(c_in, c_out, 1, stride, 0, vb.pp("0"))?,
                bn(c_out, cfg, vb.pp("1"))?,
            ))
        } else {
            None
        };
        Ok(Self {
            conv1,
            bn1,
            conv2,
            bn2,
            downsample,
            names,
        })
    }

    /// The block's output for `x`; `train` selects BatchNorm's batch statistics.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_rec(x, train, None)
    }

    fn forward_rec(
        &self,
        x: &Tensor,
        train: bool,
        mut rec: Option<&mut TapRecorder<'_>>,
    ) -> candle_core::Result<Tensor> {
        let n = &self.names;
        let tapped: Vec<bool> = [&n.conv1, &n.bn1, &n.conv2, &n.bn2, &n.ds0, &n.ds1]
            .iter()
            .map(|name| rec.as_deref().is_some_and(|r| r.wants(name)))
            .collect();
        let stage = |at: usize, residual, relu| Stage {
            train,
            conv_tapped: tapped[at],
            bn_tapped: tapped[at + 1],
            residual,
            relu,
        };
        let mut record = |name: &str, t: Option<&Tensor>| {
            if let (Some(r), Some(t)) = (rec.as_deref_mut(), t) {
                r.record(name, t);
            }
        };
        // The shortcut first, so that conv2 can add it in its own pass.
        let identity = match &self.downsample {
            Some((conv, bn)) => {
                let s = conv_bn(conv, bn, x, stage(4, None, false))?;
                record(&n.ds0, s.conv.as_ref());
                record(&n.ds1, s.bn.as_ref().or(Some(&s.out)));
                s.out
            }
            None => x.clone(),
        };
        let s = conv_bn(&self.conv1, &self.bn1, x, stage(0, None, true))?;
        record(&n.conv1, s.conv.as_ref());
        record(&n.bn1, s.bn.as_ref());
        let s = conv_bn(
            &self.conv2,
            &self.bn2,
            &s.out,
            stage(2, Some(&identity), true),
        )?;
        record(&n.conv2, s.conv.as_ref());
        record(&n.bn2, s.bn.as_ref());
        record(&n.block, Some(&s.out));
        Ok(s.out)
    }

    fn tap_names(&self, out: &mut Vec<String>) {
        let n = &self.names;
        out.extend([&n.conv1, &n.bn1, &n.conv2, &n.bn2].map(Clone::clone));
        if self.downsample.is_some() {
            out.extend([n.ds0.clone(), n.ds1.clone()]);
        }
        out.push(n.block.clone());
    }
}

/// ResNet-18 for 32×32 images with torchvision's module names.
///
/// `conv1` (3×3, stride 1, pad 1, no bias) → `bn1` → `relu` → `maxpool` (3×3, stride 2,
/// pad 1: 32×32 → 16×16) → `layer1` … `layer4` (two [`BasicBlock`]s each; 64, 128, 256, 512
/// channels; layers 2–4 halve the size in their first block, which has a `downsample`) →
/// `avgpool` (to 1×1) → flatten → `fc` (512 → classes). This is torchvision's `resnet18`
/// with its stem conv replaced by `nn.Conv2d(3, 64, 3, 1, 1, bias=False)`, so a
/// `state_dict()` of that module loads directly (its `num_batches_tracked` entries are
/// ignored).
///
/// Taps: `input`, `conv1`, `bn1`, `relu`, `maxpool`, then per block `layerX.Y.conv1`,
/// `.bn1`, `.conv2`, `.bn2`, (`.downsample.0`, `.downsample.1`), `layerX.Y` (the block's
/// output), then `layerX` (same tensor as `layerX.1`), and finally `avgpool` (`[n, 512, 1,
/// 1]`) and `fc` (the logits).
#[derive(Debug, Clone)]
pub struct ResNet18 {
    /// The stem convolution `conv1`.
    pub conv1: Conv2d,
    /// The stem BatchNorm `bn1`.
    pub bn1: BatchNorm,
    /// The stem `maxpool`.
    pub maxpool: MaxPool2d,
    /// `layer1` … `layer4` (index 0 is `layer1`), two blocks each.
    pub layers: Vec<Vec<BasicBlock>>,
    /// The classifier `fc`.
    pub fc: Linear,
    config: ResNet18Config,
    dtype: DType,
    device: Device,
}

impl ResNet18 {
    /// Builds the model, taking (or creating) `conv1.weight`, `bn1.*`, `layer1.0.conv1.weight`,
    /// …, `fc.bias` from `vb`.
    pub fn new(cfg: &ResNet18Config, vb: VarBuilder) -> Result<Self> {
        cfg.check()?;
        let ctx = |name: &str| Error::candle(format!("resnet18: creating `{name}`"));
        let conv1 = conv(cfg.in_channels, 64, 3, 1, 1, vb.pp("conv1")).map_err(ctx("conv1"))?;
        let bn1 = bn(64, cfg, vb.pp("bn1")).map_err(ctx("bn1"))?;
        let mut layers = Vec::with_capacity(4);
        let mut c_in = 64;
        for (i, c_out) in [64, 128, 256, 512].into_iter().enumerate() {
            let name = format!("layer{}", i + 1);
            let vbl = vb.pp(&name);
            let stride = if i == 0 { 1 } else { 2 };
            let b0 = BasicBlock::new(c_in, c_out, stride, cfg, &format!("{name}.0"), vbl.pp("0"))
                .map_err(ctx(&format!("{name}.0")))?;
            let b1 = BasicBlock::new(c_out, c_out, 1, cfg, &format!("{name}.1"), vbl.pp("1"))
                .map_err(ctx(&format!("{name}.1")))?;
            layers.push(vec![b0, b1]);
            c_in = c_out;
        }
        let fc = candle_nn::linear(512, cfg.classes, vb.pp("fc")).map_err(ctx("fc"))?;
        Ok(Self {
            conv1,
            bn1,
            maxpool: MaxPool2d {
                kernel: 3,
                stride: 2,
                padding: 1,
            },
            layers,
            fc,
            config: cfg.clone(),
            dtype: vb.dtype(),
            device: vb.device().clone(),
        })
    }

    /// The config the model was built with.
    pub fn config(&self) -> &ResNet18Config {
        &self.config
    }

    fn forward_rec(
        &self,
        x: &Tensor,
        train: bool,
        rec: &mut TapRecorder<'_>,
    ) -> candle_core::Result<Tensor> {
        rec.record("input", x);
        let stage = Stage {
            train,
            conv_tapped: rec.wants("conv1"),
            bn_tapped: rec.wants("bn1"),
            residual: None,
            relu: true,
        };
        let s = conv_bn(&self.conv1, &self.bn1, x, stage)?;
        for (name, t) in [("conv1", &s.conv), ("bn1", &s.bn)] {
            if let Some(t) = t {
                rec.record(name, t);
            }
        }
        let h = s.out;
        rec.record("relu", &h);
        let pool = self.maxpool;
        let mut h = ops::max_pool2d(&h, pool.kernel, pool.stride, pool.padding)?;
        rec.record("maxpool", &h);
        for (i, layer) in self.layers.iter().enumerate() {
            for block in layer {
                h = block.forward_rec(&h, train, Some(rec))?;
            }
            rec.record(&format!("layer{}", i + 1), &h);
        }
        let h = adaptive_avg_pool_1x1(&h)?;
        rec.record("avgpool", &h);
        let h = ops::linear(&h.flatten_from(1)?, self.fc.weight(), self.fc.bias())?;
        rec.record("fc", &h);
        Ok(h)
    }
}

impl Tapped for ResNet18 {
    fn forward_with_taps(
        &self,
        x: &Tensor,
        taps: &[&str],
        train: bool,
    ) -> Result<(Tensor, Vec<(String, Tensor)>)> {
        let mut rec = TapRecorder::new(NAME, taps, &self.tap_names())?;
        check_dtype_device(NAME, x, self.dtype, &self.device)?;
        check_image(NAME, x, self.config.in_channels, None)?;
        let mode = if train { "train" } else { "eval" };
        let logits = self
            .forward_rec(x, train, &mut rec)
            .map_err(Error::candle(format!(
                "resnet18: forward pass ({mode} mode)"
            )))?;
        Ok((logits, rec.finish(NAME)?))
    }

    fn tap_names(&self) -> Vec<String> {
        let mut names: Vec<String> = ["input", "conv1", "bn1", "relu", "maxpool"]
            .map(String::from)
            .into();
        for (i, layer) in self.layers.iter().enumerate() {
            for block in layer {
                block.tap_names(&mut names);
            }
            names.push(format!("layer{}", i + 1));
        }
        names.extend(["avgpool".to_string(), "fc".to_string()]);
        names
    }
}
