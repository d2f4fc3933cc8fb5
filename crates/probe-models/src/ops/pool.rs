//! Max-pooling on the CPU with PyTorch's semantics in both directions: −∞ padding, NaN wins,
//! and the gradient goes to the first maximum of each window (candle splits it among ties).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::conv::f32_slice;
use super::output_vec;

/// `nn.MaxPool2d(kernel, stride, padding)` as a candle op on `[n, c, h, w]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MaxPool {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl MaxPool {
    fn out_side(&self, side: usize) -> usize {
        (side + 2 * self.padding - self.kernel) / self.stride + 1
    }

    fn check(&self, layout: &Layout) -> Result<(usize, usize, usize, usize)> {
        let (n, c, h, w) = layout.shape().dims4()?;
        if self.kernel == 0 || self.stride == 0 || 2 * self.padding > self.kernel {
            candle_core::bail!(
                "max-pool needs kernel ≥ 1, stride ≥ 1 and padding ≤ kernel / 2, got {self:?}"
            )
        }
        if h + 2 * self.padding < self.kernel || w + 2 * self.padding < self.kernel {
            candle_core::bail!(
                "max-pool window {} is larger than the padded input {h}×{w}",
                self.kernel
            )
        }
        Ok((n, c, h, w))
    }

    /// Calls `visit(out_index, in_index_of_max)` for every window of one plane. A window
    /// always holds at least one real pixel, since padding ≤ kernel / 2.
    fn windows(&self, plane: &[f32], h: usize, w: usize, mut visit: impl FnMut(usize, usize)) {
        let (oh, ow) = (self.out_side(h), self.out_side(w));
        if self.padding == 0 && self.kernel == 2 {
            // The common 2×2 case, unrolled: every window lies inside the plane.
            let s = self.stride;
            for oy in 0..oh {
                let (top, bottom) = (oy * s * w, (oy * s + 1) * w);
                for ox in 0..ow {
                    let x = ox * s;
                    let mut best = top + x;
                    for at in [top + x + 1, bottom + x, bottom + x + 1] {
                        if wins(plane[at], plane[best]) {
                            best = at;
                        }
                    }
                    visit(oy * ow + ox, best);
                }
            }
            return;
        }
        let (k, s, p) = (
            self.kernel as isize,
            self.stride as isize,
            self.padding as isize,
        );
        for oy in 0..oh {
            let y0 = oy as isize * s - p;
            let ys = y0.max(0) as usize..((y0 + k).min(h as isize)) as usize;
            for ox in 0..ow {
                let x0 = ox as isize * s - p;
                let xs = x0.max(0) as usize..((x0 + k).min(w as isize)) as usize;
                let mut best = ys.start * w + xs.start;
                for y in ys.clone() {
                    for x in xs.clone() {
                        if wins(plane[y * w + x], plane[best]) {
                            best = y * w + x;
                        }
                    }
                }
                visit(oy * ow + ox, best);
            }
        }
    }
}

/// Whether `v` replaces the window's maximum so far, scanning in order: larger, or the first
/// NaN (which then stays, as in PyTorch).
#[inline]
fn wins(v: f32, max: f32) -> bool {
    v > max || v.is_nan() && !max.is_nan()
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "probe-max-pool2d"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = self.check(layout)?;
        let x = f32_slice(storage, layout, "max-pool input")?;
        let (oh, ow) = (self.out_side(h), self.out_side(w));
        // Every window writes its output.
        let mut out = output_vec(n * c * oh * ow);
        if oh * ow > 0 {
            out.par_chunks_mut(oh * ow)
                .zip(x.par_chunks(h * w))
                .for_each(|(out, plane)| self.windows(plane, h, w, |o, i| out[o] = plane[i]));
        }
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh, ow))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(
            arg.contiguous()?
                .apply_op2_no_bwd(&grad, &MaxPoolGrad(*self))?,
        ))
    }
}

/// `(x, dL/dout) → dL/dx`: each window's gradient added at its first maximum.
struct MaxPoolGrad(MaxPool);

impl CustomOp2 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "probe-max-pool2d-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let pool = &self.0;
        let (n, c, h, w) = pool.check(l1)?;
        let x = f32_slice(s1, l1, "max-pool input")?;
        let grad = f32_slice(s2, l2, "max-pool gradient")?;
        let (oh, ow) = (pool.out_side(h), pool.out_side(w));
        if grad.len() != n * c * oh * ow {
            candle_core::bail!(
                "max-pool gradient has {} values, expected {}",
                grad.len(),
                n * c * oh * ow
            )
        }
        let mut dx = vec![0f32; x.len()];
        if oh * ow > 0 {
            dx.par_chunks_mut(h * w)
                .zip(x.par_chunks(h * w))
                .zip(grad.par_chunks(oh * ow))
                .for_each(|((dx, plane), g)| pool.windows(plane, h, w, |o, i| dx[i] += g[o]));
        }
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}
