//! ReLU with a one-pass backward and PyTorch's gradient at 0 (none); candle's backward
//! takes four passes and lets the gradient through at 0.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::conv::f32_slice;
use super::output_vec;

/// Below this many values a pass runs on one thread.
const PARALLEL_LEN: usize = 1 << 16;

fn map_into(out: &mut [f32], f: impl Fn(usize, &mut [f32]) + Sync) {
    const CHUNK: usize = 1 << 14;
    if out.len() < PARALLEL_LEN {
        f(0, out);
    } else {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, chunk)| f(i * CHUNK, chunk));
    }
}

/// `max(x, 0)`.
pub(crate) struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "probe-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32_slice(s, l, "relu input")?;
        let mut out = output_vec(x.len());
        map_into(&mut out, |at, dst| {
            for (d, v) in dst.iter_mut().zip(&x[at..]) {
                *d = v.max(0.0);
            }
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(grad.apply_op2_no_bwd(&res.contiguous()?, &ReluGrad)?))
    }
}

/// `(dL/dout, out) → dL/dout · [out > 0]`.
struct ReluGrad;

impl CustomOp2 for ReluGrad {
    fn name(&self) -> &'static str {
        "probe-relu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = f32_slice(s1, l1, "relu gradient")?;
        let y = f32_slice(s2, l2, "relu output")?;
        if g.len() != y.len() {
            candle_core::bail!("relu: gradient and output differ in size")
        }
        let mut out = output_vec(g.len());
        map_into(&mut out, |at, dst| {
            for ((d, g), y) in dst.iter_mut().zip(&g[at..]).zip(&y[at..]) {
                *d = if *y > 0.0 { *g } else { 0.0 };
            }
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}
