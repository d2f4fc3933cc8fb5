//! Fast CPU paths for the ops that dominate our models (convolution, max-pooling), with
//! backward passes; other devices and dtypes use candle's own ops.

mod affine;
mod conv;
mod linear;
mod pool;
mod relu;

use candle_core::{DType, Device, Result, Tensor};

use affine::ChannelAffine;
use conv::{Conv, ConvBias, ConvEval};
use linear::{Linear, LinearBias};
use pool::MaxPool;
use relu::Relu;

/// A vector of `len` values that the caller overwrites entirely before reading: zeroing
/// fresh outputs cost 7% of a ResNet-18 forward in memset. (candle's own CPU convolution
/// allocates its outputs the same way.)
#[allow(clippy::uninit_vec)]
fn output_vec(len: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    // SAFETY: f32 has no invalid bit patterns, and every caller writes each element (a
    // fill, a gemm that stores without reading, a copy, or a computed value) before
    // anything reads it.
    unsafe { v.set_len(len) };
    v
}

fn fast_path(x: &Tensor) -> bool {
    matches!(x.device(), Device::Cpu) && x.dtype() == DType::F32
}

/// `conv2d(x, w) + b` with PyTorch's `nn.Conv2d` semantics (groups 1, dilation 1):
/// `x [n, c_in, h, w]`, `w [c_out, c_in, kh, kw]`, `b [c_out]`.
pub fn conv2d(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    if !fast_path(x) || w.dtype() != DType::F32 {
        let y = x.conv2d(w, padding, stride, 1, 1)?;
        return match b {
            Some(b) => y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?),
            None => Ok(y),
        };
    }
    let conv = Conv { stride, padding };
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, ConvBias(conv)),
        None => x.apply_op2(&w, conv),
    }
}

/// `max(x, 0)` like `nn.ReLU`, whose gradient is 0 where `x ≤ 0` (candle's lets it through
/// at 0).
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if !fast_path(x) {
        return x.relu();
    }
    x.contiguous()?.apply_op1(Relu)
}

/// `x · wᵀ + b` like `nn.Linear`: `x [rows, in]`, `w [out, in]`, `b [out]`; other ranks,
/// devices and dtypes go through candle's ops.
pub fn linear(x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor> {
    if !fast_path(x) || w.dtype() != DType::F32 || x.rank() != 2 {
        return candle_nn::Module::forward(&candle_nn::Linear::new(w.clone(), b.cloned()), x);
    }
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match b {
        Some(b) => x.apply_op3(&w, &b.contiguous()?, LinearBias),
        None => x.apply_op2(&w, Linear),
    }
}

/// `relu(y + residual)`, each part optional, as separate ops: what the fused passes do, for
/// the paths that cannot fuse.
pub(crate) fn residual_relu(
    y: Tensor,
    residual: Option<&Tensor>,
    relu_after: bool,
) -> Result<Tensor> {
    let y = match residual {
        Some(r) => (y + r)?,
        None => y,
    };
    if relu_after {
        relu(&y)
    } else {
        Ok(y)
    }
}

/// Inference: `relu(conv2d(x, w) + b + residual)` in one pass over the output (ReLU and
/// residual optional), for a convolution with BatchNorm folded in, followed by what a ResNet
/// block does next. Backward through it is an error.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_eval(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    residual: Option<&Tensor>,
    relu: bool,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    if !fast_path(x) || w.dtype() != DType::F32 || residual.is_some_and(|r| !fast_path(r)) {
        let y = conv2d(x, w, Some(b), stride, padding)?;
        return residual_relu(y, residual, relu);
    }
    let op = ConvEval {
        conv: Conv { stride, padding },
        bias: b.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?,
        relu,
    };
    let (x, w) = (x.contiguous()?, w.contiguous()?);
    match residual {
        Some(r) => x.apply_op3(&w, &r.contiguous()?, op),
        None => x.apply_op2(&w, op),
    }
}

/// Inference: `relu(x·scale[c] + shift[c] + residual)` on `[n, c, …]` in one pass (ReLU and
/// residual optional): eval-mode BatchNorm with what follows it. Backward is an error.
pub fn channel_affine(
    x: &Tensor,
    scale: &Tensor,
    shift: &Tensor,
    residual: Option<&Tensor>,
    relu: bool,
) -> Result<Tensor> {
    if !fast_path(x) || residual.is_some_and(|r| !fast_path(r)) {
        let c = scale.elem_count();
        let mut shape = vec![1; x.rank()];
        shape[1] = c;
        let y = x
            .broadcast_mul(&scale.reshape(shape.as_slice())?)?
            .broadcast_add(&shift.reshape(shape.as_slice())?)?;
        return residual_relu(y, residual, relu);
    }
    let values = |t: &Tensor| t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>();
    let op = ChannelAffine {
        scale: values(scale)?,
        shift: values(shift)?,
        relu,
    };
    let x = x.contiguous()?;
    match residual {
        Some(r) => x.apply_op2(&r.contiguous()?, op),
        None => x.apply_op1(op),
    }
}

/// `nn.MaxPool2d(kernel, stride, padding)` on `[n, c, h, w]`: −∞ padding (at most
/// `kernel / 2`), the output side `⌊(side + 2·padding − kernel) / stride⌋ + 1`.
pub fn max_pool2d(x: &Tensor, kernel: usize, stride: usize, padding: usize) -> Result<Tensor> {
    let pool = MaxPool {
        kernel,
        stride,
        padding,
    };
    if fast_path(x) {
        return x.contiguous()?.apply_op1(pool);
    }
    if padding == 0 && kernel == stride {
        return x.max_pool2d_with_stride(kernel, stride);
    }
    let separable = crate::resnet::MaxPool2d {
        kernel,
        stride,
        padding,
    };
    candle_core::Module::forward(&separable, x)
}

#[cfg(test)]
mod tests;
