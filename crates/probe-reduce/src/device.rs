//! The products of the randomized SVD through candle, on a CUDA GPU (or on candle's CPU
//! device, to check this path where there is no GPU). The input is uploaded once, block by
//! block, during the first pass and stays on the device for the other 2q passes, so a pass
//! moves only the thin l-column matrices across the bus.

use candle_core::{Device, Tensor};
use faer::{Mat, MatRef};

use crate::error::{Error, Result};
use crate::params::Backend;

/// The input, resident on a candle device as row blocks.
pub(crate) struct Resident {
    backend: Backend,
    device: Device,
    blocks: Vec<(usize, Tensor)>,
    n: usize,
    d: usize,
}

impl Resident {
    /// Opens the device of `backend` (not [`Backend::Cpu`], which is faer's).
    pub(crate) fn open(backend: Backend, n: usize, d: usize) -> Result<Resident> {
        let device = match backend {
            // candle's own error here ("not compiled with cuda support") reads like a fault.
            Backend::Cuda(_) if !cfg!(feature = "cuda") => {
                return Err(Error::NoCudaSupport { backend });
            }
            Backend::Cuda(i) => Device::new_cuda(i).map_err(|e| device_error(backend, e))?,
            Backend::CandleCpu | Backend::Cpu => Device::Cpu,
        };
        Ok(Resident {
            backend,
            device,
            blocks: Vec::new(),
            n,
            d,
        })
    }

    /// Uploads rows `start..` (row-major, d values a row).
    pub(crate) fn push(&mut self, start: usize, block: &[f32]) -> Result<()> {
        let rows = block.len() / self.d;
        let tensor = Tensor::from_slice(block, (rows, self.d), &self.device)
            .map_err(|e| device_error(self.backend, e))?;
        self.blocks.push((start, tensor));
        Ok(())
    }

    /// A·X (n × l) or, with `transpose`, Aᵀ·X (d × l). Aᵀ·X is summed block by block in a
    /// fixed order, so the result does not depend on scheduling.
    pub(crate) fn product(&self, x: MatRef<'_, f32>, transpose: bool) -> Result<Mat<f32>> {
        let fail = |e| device_error(self.backend, e);
        let l = x.ncols();
        let x_dev = upload(x, &self.device).map_err(fail)?;
        let out = if transpose {
            let mut sum: Option<Tensor> = None;
            for (start, block) in &self.blocks {
                let rows = block.dim(0).map_err(fail)?;
                let part = block
                    .t()
                    .and_then(|bt| bt.matmul(&x_dev.narrow(0, *start, rows)?))
                    .map_err(fail)?;
                sum = Some(match sum {
                    None => part,
                    Some(s) => (s + part).map_err(fail)?,
                });
            }
            match sum {
                Some(s) => s,
                None => Tensor::zeros((self.d, l), candle_core::DType::F32, &self.device)
                    .map_err(fail)?,
            }
        } else {
            let parts = self
                .blocks
                .iter()
                .map(|(_, block)| block.matmul(&x_dev))
                .collect::<candle_core::Result<Vec<_>>>()
                .map_err(fail)?;
            if parts.is_empty() {
                Tensor::zeros((self.n, l), candle_core::DType::F32, &self.device).map_err(fail)?
            } else {
                Tensor::cat(&parts, 0).map_err(fail)?
            }
        };
        download(&out).map_err(fail)
    }
}

/// A column-major faer matrix as a row-major tensor. The host only copies whole columns
/// (sequential reads and writes); the transposition to row-major runs on the device.
fn upload(x: MatRef<'_, f32>, device: &Device) -> candle_core::Result<Tensor> {
    let (r, c) = (x.nrows(), x.ncols());
    let mut data = Vec::with_capacity(r * c);
    for j in 0..c {
        data.extend(x.col(j).iter().copied());
    }
    Tensor::from_vec(data, (c, r), device)?.t()?.contiguous()
}

/// A row-major tensor as a column-major faer matrix, transposed on the device first so that
/// the host reads it in order.
fn download(t: &Tensor) -> candle_core::Result<Mat<f32>> {
    let (r, c) = t.dims2()?;
    let data = t.t()?.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
    let mut out = Mat::<f32>::zeros(r, c);
    for (j, column) in data.chunks_exact(r.max(1)).enumerate().take(c) {
        out.col_mut(j)
            .iter_mut()
            .zip(column)
            .for_each(|(o, &v)| *o = v);
    }
    Ok(out)
}

fn device_error(backend: Backend, e: candle_core::Error) -> Error {
    Error::Device {
        backend,
        reason: e.to_string().lines().next().unwrap_or("failed").to_string(),
    }
}
