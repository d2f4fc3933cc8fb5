//! `nn.Linear` on the CPU as one gemm per pass with its own backward: candle's version
//! transposes the weight, so its gradient arrives transposed and is added element by
//! element through strides (most of a small MLP's step).

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use gemm::Parallelism;

use super::conv::{f32_slice, matmul};
use super::output_vec;

/// Products smaller than this many multiply-adds run on one thread: splitting them costs
/// more than it saves.
const PARALLEL_WORK: usize = 1 << 18;

fn parallelism(m: usize, n: usize, k: usize) -> Parallelism {
    let threads = rayon::current_num_threads();
    if threads > 1 && m * n * k >= PARALLEL_WORK {
        Parallelism::Rayon(threads)
    } else {
        Parallelism::None
    }
}

/// The sizes of `x [rows, inputs] · wᵀ`, `w [outputs, inputs]`.
#[derive(Debug, Clone, Copy)]
struct Dims {
    rows: usize,
    inputs: usize,
    outputs: usize,
}

fn dims(x: &Layout, w: &Layout) -> Result<Dims> {
    let (rows, inputs) = x.shape().dims2()?;
    let (outputs, w_inputs) = w.shape().dims2()?;
    if w_inputs != inputs {
        candle_core::bail!("linear: input has {inputs} features, weight expects {w_inputs}")
    }
    Ok(Dims {
        rows,
        inputs,
        outputs,
    })
}

/// `x · wᵀ + b`.
fn forward(d: Dims, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let len = d.rows * d.outputs;
    if d.inputs == 0 || len == 0 {
        let mut out = vec![0f32; len];
        if let Some(b) = bias {
            out.chunks_mut(d.outputs.max(1))
                .for_each(|r| r.copy_from_slice(b));
        }
        return out;
    }
    let mut out = output_vec(len);
    if let Some(b) = bias {
        out.chunks_mut(d.outputs).for_each(|r| r.copy_from_slice(b));
    }
    let par = parallelism(d.rows, d.outputs, d.inputs);
    let sizes = (d.rows, d.outputs, d.inputs);
    // wᵀ read in place: element (i, o) of wᵀ is w[o·inputs + i].
    matmul(
        &mut out,
        bias.is_some(),
        sizes,
        x,
        (d.inputs, 1),
        w,
        (1, d.inputs),
        par,
    );
    out
}

/// The layer as a candle op: `(x, w)`, or `(x, w, b)` through [`LinearBias`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Linear;

impl CustomOp2 for Linear {
    fn name(&self) -> &'static str {
        "probe-linear"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = dims(l1, l2)?;
        let out = forward(
            d,
            f32_slice(s1, l1, "input")?,
            f32_slice(s2, l2, "weight")?,
            None,
        );
        Ok((CpuStorage::F32(out), Shape::from((d.rows, d.outputs))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (gx, gw, _) = backward(x, w, None, grad)?;
        Ok((gx, gw))
    }
}

/// The layer with a bias: `(x, w, b)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinearBias;

impl CustomOp3 for LinearBias {
    fn name(&self) -> &'static str {
        "probe-linear-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = dims(l1, l2)?;
        let b = f32_slice(s3, l3, "bias")?;
        if b.len() != d.outputs {
            candle_core::bail!(
                "linear: bias has {} values for {} outputs",
                b.len(),
                d.outputs
            )
        }
        let x = f32_slice(s1, l1, "input")?;
        let out = forward(d, x, f32_slice(s2, l2, "weight")?, Some(b));
        Ok((CpuStorage::F32(out), Shape::from((d.rows, d.outputs))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        backward(x, w, Some(b), grad)
    }
}

type Grads = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

/// The gradients of those inputs that need one: `g · w`, `gᵀ · x` (in w's own layout) and
/// the column sums of `g`.
fn backward(x: &Tensor, w: &Tensor, b: Option<&Tensor>, grad: &Tensor) -> Result<Grads> {
    let d = dims(x.layout(), w.layout())?;
    let grad = grad.contiguous()?;
    let gx = match x.track_op() {
        true => Some(grad.apply_op2_no_bwd(&w.contiguous()?, &Grad::Input(d))?),
        false => None,
    };
    let gw = match w.track_op() {
        true => Some(grad.apply_op2_no_bwd(&x.contiguous()?, &Grad::Weight(d))?),
        false => None,
    };
    let gb = match b {
        Some(b) if b.track_op() => Some(grad.apply_op1_no_bwd(&BiasGrad(d))?),
        _ => None,
    };
    Ok((gx, gw, gb))
}

/// One gradient, computed from `(dL/dout, other)`.
enum Grad {
    /// `(g, w) → g · w`, `[rows, inputs]`.
    Input(Dims),
    /// `(g, x) → gᵀ · x`, `[outputs, inputs]`.
    Weight(Dims),
}

/// `g → Σ_rows g`, `[outputs]`, summed in row order.
struct BiasGrad(Dims);

impl CustomOp1 for BiasGrad {
    fn name(&self) -> &'static str {
        "probe-linear-grad-bias"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let outputs = self.0.outputs;
        let mut out = vec![0f32; outputs];
        for row in f32_slice(s, l, "gradient")?.chunks(outputs.max(1)) {
            out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
        }
        Ok((CpuStorage::F32(out), Shape::from(outputs)))
    }
}

impl CustomOp2 for Grad {
    fn name(&self) -> &'static str {
        "probe-linear-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = f32_slice(s1, l1, "gradient")?;
        let other = f32_slice(s2, l2, "operand")?;
        let (out, shape) = match *self {
            Grad::Input(d) => {
                let mut out = vec![0f32; d.rows * d.inputs];
                let sizes = (d.rows, d.inputs, d.outputs);
                let par = parallelism(d.rows, d.inputs, d.outputs);
                matmul(
                    &mut out,
                    false,
                    sizes,
                    g,
                    (d.outputs, 1),
                    other,
                    (d.inputs, 1),
                    par,
                );
                (out, Shape::from((d.rows, d.inputs)))
            }
            Grad::Weight(d) => {
                let mut out = vec![0f32; d.outputs * d.inputs];
                let sizes = (d.outputs, d.inputs, d.rows);
                let par = parallelism(d.outputs, d.inputs, d.rows);
                // gᵀ read in place: element (o, r) of gᵀ is g[r·outputs + o].
                matmul(
                    &mut out,
                    false,
                    sizes,
                    g,
                    (1, d.outputs),
                    other,
                    (d.inputs, 1),
                    par,
                );
                (out, Shape::from((d.outputs, d.inputs)))
            }
        };
        Ok((CpuStorage::F32(out), shape))
    }
}
