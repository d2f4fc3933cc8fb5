//! Adam on CPU f32 parameters as three in-place passes (moment 1, moment 2, parameter), with
//! `torch.optim.Adam`'s arithmetic; the tensor-op version allocates a dozen temporaries.

use candle_core::{CpuStorage, DType, Device, InplaceOp3, Layout, Result, Tensor};

/// Whether the fused update applies: every tensor f32, contiguous, on the CPU.
pub(crate) fn applies(tensors: &[&Tensor]) -> bool {
    tensors
        .iter()
        .all(|t| matches!(t.device(), Device::Cpu) && t.dtype() == DType::F32 && t.is_contiguous())
}

/// Adam's constants for one step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamStep {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// The step number, from 1.
    pub t: i32,
}

impl AdamStep {
    /// `m ← lerp(m, g, 1 − β₁)`, `v ← β₂·v + (1 − β₂)·g²` with `g = grad + wd·param`, then
    /// `param ← param − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)`, in place.
    pub(crate) fn apply(
        &self,
        param: &Tensor,
        grad: &Tensor,
        m: &Tensor,
        v: &Tensor,
    ) -> Result<()> {
        m.inplace_op3(
            grad,
            param,
            &Moment {
                step: *self,
                second: false,
            },
        )?;
        v.inplace_op3(
            grad,
            param,
            &Moment {
                step: *self,
                second: true,
            },
        )?;
        param.inplace_op3(m, v, &Update(*self))
    }
}

fn slice<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(d), Some((a, b))) => Ok(&d[a..b]),
        _ => candle_core::bail!("adam: tensors must be contiguous f32"),
    }
}

fn slice_mut<'a>(storage: &'a mut CpuStorage, layout: &Layout) -> Result<&'a mut [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(d), Some((a, b))) => Ok(&mut d[a..b]),
        _ => candle_core::bail!("adam: tensors must be contiguous f32"),
    }
}

fn same_len(dst: usize, srcs: &[usize]) -> Result<()> {
    if srcs.iter().any(|&n| n != dst) {
        candle_core::bail!("adam: parameter, gradient and moments differ in size")
    }
    Ok(())
}

/// One moment's update from `(grad, param)`.
struct Moment {
    step: AdamStep,
    second: bool,
}

impl InplaceOp3 for Moment {
    fn name(&self) -> &'static str {
        "probe-adam-moment"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        grad: &CpuStorage,
        grad_l: &Layout,
        param: &CpuStorage,
        param_l: &Layout,
    ) -> Result<()> {
        let moment = slice_mut(dst, dst_l)?;
        let (grad, param) = (slice(grad, grad_l)?, slice(param, param_l)?);
        same_len(moment.len(), &[grad.len(), param.len()])?;
        let wd = self.step.weight_decay as f32;
        let g = |i: usize| {
            if wd != 0.0 {
                grad[i] + wd * param[i]
            } else {
                grad[i]
            }
        };
        if self.second {
            let (b2, w) = (self.step.beta2 as f32, (1.0 - self.step.beta2) as f32);
            for (i, v) in moment.iter_mut().enumerate() {
                let gi = g(i);
                *v = *v * b2 + w * gi * gi;
            }
        } else {
            // torch.lerp with weight 1 − β₁ < 0.5: m + w·(g − m).
            let w = (1.0 - self.step.beta1) as f32;
            for (i, m) in moment.iter_mut().enumerate() {
                *m += w * (g(i) - *m);
            }
        }
        Ok(())
    }
}

/// The parameter's update from `(m, v)`.
struct Update(AdamStep);

impl InplaceOp3 for Update {
    fn name(&self) -> &'static str {
        "probe-adam-update"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        m: &CpuStorage,
        m_l: &Layout,
        v: &CpuStorage,
        v_l: &Layout,
    ) -> Result<()> {
        let param = slice_mut(dst, dst_l)?;
        let (m, v) = (slice(m, m_l)?, slice(v, v_l)?);
        same_len(param.len(), &[m.len(), v.len()])?;
        let s = &self.0;
        let step_size = (s.lr / (1.0 - s.beta1.powi(s.t))) as f32;
        let bias_correction2_sqrt = (1.0 - s.beta2.powi(s.t)).sqrt() as f32;
        let eps = s.eps as f32;
        for ((p, m), v) in param.iter_mut().zip(m).zip(v) {
            let denom = v.sqrt() / bias_correction2_sqrt + eps;
            *p -= step_size * (m / denom);
        }
        Ok(())
    }
}
