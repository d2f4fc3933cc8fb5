//! Fast CPU paths for the ops that dominate our models (convolution, max-pooling), with
//! backward passes; other devices and dtypes use candle's own ops.

mod conv;
mod pool;

use candle_core::{DType, Device, Result, Tensor};

use conv::{Conv, ConvBias};
use pool::MaxPool;

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
