//! Eval-mode BatchNorm as one pass: `relu(x·scale[c] + shift[c] + residual)`, where candle's
//! BatchNorm takes five passes and the residual and ReLU two more.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape};
use rayon::prelude::*;

use super::conv::f32_slice;
use super::output_vec;

/// Per-channel scale and shift on `[n, c, …]`, then the optional residual and ReLU.
#[derive(Debug, Clone)]
pub(crate) struct ChannelAffine {
    pub scale: Vec<f32>,
    pub shift: Vec<f32>,
    pub relu: bool,
}

impl ChannelAffine {
    fn run(
        &self,
        x: &[f32],
        layout: &Layout,
        residual: Option<&[f32]>,
    ) -> Result<(CpuStorage, Shape)> {
        let dims = layout.shape().dims();
        let channels = self.scale.len();
        if dims.len() < 2 || dims[1] != channels {
            candle_core::bail!("channel affine: input {dims:?} does not have {channels} channels")
        }
        if residual.is_some_and(|r| r.len() != x.len()) {
            candle_core::bail!("channel affine: the residual's shape differs from {dims:?}")
        }
        let plane: usize = dims[2..].iter().product();
        let mut out = output_vec(x.len());
        if plane > 0 {
            out.par_chunks_mut(plane).enumerate().for_each(|(i, dst)| {
                let (a, b) = (self.scale[i % channels], self.shift[i % channels]);
                let src = &x[i * plane..(i + 1) * plane];
                match residual.map(|r| &r[i * plane..(i + 1) * plane]) {
                    Some(r) => {
                        for ((d, v), r) in dst.iter_mut().zip(src).zip(r) {
                            *d = v * a + b + r;
                        }
                    }
                    None => {
                        for (d, v) in dst.iter_mut().zip(src) {
                            *d = v * a + b;
                        }
                    }
                }
                if self.relu {
                    dst.iter_mut().for_each(|d| *d = d.max(0.0));
                }
            });
        }
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

impl CustomOp1 for ChannelAffine {
    fn name(&self) -> &'static str {
        "probe-channel-affine"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        self.run(f32_slice(s, l, "input")?, l, None)
    }
}

impl CustomOp2 for ChannelAffine {
    fn name(&self) -> &'static str {
        "probe-channel-affine-residual"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.run(
            f32_slice(s1, l1, "input")?,
            l1,
            Some(f32_slice(s2, l2, "residual")?),
        )
    }
}
