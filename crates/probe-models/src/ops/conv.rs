//! 2-D convolution on the CPU as im2col + one gemm per image, with its own backward pass.
//! candle's CPU backward goes through a direct transposed convolution that is 5–10× slower.

use std::cell::RefCell;

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use gemm::Parallelism;
use rayon::prelude::*;

use super::output_vec;

/// Number of partial weight gradients summed in a fixed order: fixed, so that the sum (and
/// so training) is the same at any thread count.
const WEIGHT_GRAD_CHUNKS: usize = 8;

/// The geometry of one convolution (groups 1, dilation 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConvGeometry {
    pub batch: usize,
    pub c_in: usize,
    pub height: usize,
    pub width: usize,
    pub c_out: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvGeometry {
    fn out_h(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel_h) / self.stride + 1
    }
    fn out_w(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel_w) / self.stride + 1
    }
    /// Rows of the unfolded input: c_in × kernel_h × kernel_w (PyTorch's weight order).
    fn patch(&self) -> usize {
        self.c_in * self.kernel_h * self.kernel_w
    }
    /// Columns of the unfolded input: output pixels per image.
    fn pixels(&self) -> usize {
        self.out_h() * self.out_w()
    }
    fn in_len(&self) -> usize {
        self.c_in * self.height * self.width
    }
    fn out_len(&self) -> usize {
        self.c_out * self.pixels()
    }
    /// A 1×1 kernel at stride 1 without padding reads the image as it is.
    fn is_pointwise(&self) -> bool {
        self.kernel_h == 1 && self.kernel_w == 1 && self.stride == 1 && self.padding == 0
    }
    pub fn out_shape(&self) -> Shape {
        Shape::from((self.batch, self.c_out, self.out_h(), self.out_w()))
    }

    /// Unfolds one image `[c_in, h, w]` into `cols` `[patch, pixels]`; padding reads 0.
    fn im2col(&self, image: &[f32], cols: &mut [f32]) {
        self.im2col_into(image, cols, self.pixels(), 0)
    }

    /// Unfolds one image into the columns `at..at + pixels` of `cols`, whose rows are
    /// `row_len` long: several images side by side make one wider product.
    fn im2col_into(&self, image: &[f32], cols: &mut [f32], row_len: usize, at: usize) {
        let (oh, ow, s, p) = (self.out_h(), self.out_w(), self.stride, self.padding);
        let (h, w) = (self.height, self.width);
        // "Same" convolutions (stride 1, output as large as the input) read each kernel
        // offset as the whole plane shifted: one copy, then the wrapped edge columns zeroed.
        let same = s == 1 && oh == h && ow == w;
        for c in 0..self.c_in {
            let plane = &image[c * h * w..(c + 1) * h * w];
            for i in 0..self.kernel_h {
                for j in 0..self.kernel_w {
                    let row = (c * self.kernel_h + i) * self.kernel_w + j;
                    let start = row * row_len + at;
                    let out = &mut cols[start..start + oh * ow];
                    if same {
                        shifted_plane(
                            plane,
                            out,
                            w,
                            i as isize - p as isize,
                            j as isize - p as isize,
                        );
                        continue;
                    }
                    let (lo, hi) = valid_range(ow, s, j, p, w);
                    let x0 = (lo * s + j).saturating_sub(p);
                    for oy in 0..oh {
                        let dst = &mut out[oy * ow..(oy + 1) * ow];
                        let y = (oy * s + i) as isize - p as isize;
                        if y < 0 || y >= h as isize || lo >= hi {
                            dst.fill(0.0);
                            continue;
                        }
                        let src = &plane[y as usize * w..(y as usize + 1) * w];
                        dst[..lo].fill(0.0);
                        dst[hi..].fill(0.0);
                        for (k, d) in dst[lo..hi].iter_mut().enumerate() {
                            *d = src[x0 + k * s];
                        }
                    }
                }
            }
        }
    }

    /// Folds `cols` `[patch, pixels]` back onto one image `[c_in, h, w]`, adding overlaps
    /// (the transpose of [`im2col`](Self::im2col)); `image` must start zeroed.
    fn col2im(&self, cols: &[f32], image: &mut [f32]) {
        let (oh, ow, s, p) = (self.out_h(), self.out_w(), self.stride, self.padding);
        let (h, w) = (self.height, self.width);
        for c in 0..self.c_in {
            let plane = &mut image[c * h * w..(c + 1) * h * w];
            for i in 0..self.kernel_h {
                for j in 0..self.kernel_w {
                    let row = (c * self.kernel_h + i) * self.kernel_w + j;
                    let src_rows = &cols[row * oh * ow..(row + 1) * oh * ow];
                    let (lo, hi) = valid_range(ow, s, j, p, w);
                    for oy in 0..oh {
                        let y = (oy * s + i) as isize - p as isize;
                        if y < 0 || y >= h as isize {
                            continue;
                        }
                        let dst = &mut plane[y as usize * w..(y as usize + 1) * w];
                        let src = &src_rows[oy * ow..(oy + 1) * ow];
                        if s == 1 && lo < hi {
                            // Contiguous on both sides: a vectorised add.
                            let at = lo + j - p;
                            let dst = &mut dst[at..at + hi - lo];
                            dst.iter_mut().zip(&src[lo..hi]).for_each(|(d, v)| *d += v);
                        } else {
                            for ox in lo..hi {
                                dst[ox * s + j - p] += src[ox];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `out[y·w + x] = plane[(y + dy)·w + x + dx]`, 0 where that lies outside the plane.
fn shifted_plane(plane: &[f32], out: &mut [f32], w: usize, dy: isize, dx: isize) {
    let len = out.len() as isize;
    let shift = dy * w as isize + dx;
    let lo = (-shift).clamp(0, len) as usize;
    let hi = (len - shift).clamp(0, len) as usize;
    out[..lo].fill(0.0);
    if lo < hi {
        let from = (lo as isize + shift) as usize;
        out[lo..hi].copy_from_slice(&plane[from..from + hi - lo]);
    }
    out[hi.max(lo)..].fill(0.0);
    // A row's first (or last) |dx| values came from the neighbouring row: they are padding.
    let edge = dx.unsigned_abs().min(w);
    let first = if dx < 0 { 0 } else { w - edge };
    if edge == 1 {
        // A 3×3 kernel's case: one value per row, where a fill would be a memset call.
        out.iter_mut().skip(first).step_by(w).for_each(|v| *v = 0.0);
    } else if edge > 1 {
        for row in out.chunks_mut(w) {
            row[first..first + edge].fill(0.0);
        }
    }
}

/// The output columns `ox` whose input column `ox·s + j − p` lies inside `[0, w)`.
fn valid_range(ow: usize, s: usize, j: usize, p: usize, w: usize) -> (usize, usize) {
    let lo = if j >= p { 0 } else { (p - j).div_ceil(s) };
    // ox·s + j − p ≤ w − 1  ⇔  ox ≤ (w − 1 + p − j) / s
    let hi = if w + p > j {
        ((w - 1 + p - j) / s + 1).min(ow)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// `dst (m×n) = [dst +] lhs (m×k) · rhs (k×n)`, each given by its row and column strides.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(
    dst: &mut [f32],
    accumulate: bool,
    (m, n, k): (usize, usize, usize),
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    parallelism: Parallelism,
) {
    debug_assert!(dst.len() >= m * n);
    debug_assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    debug_assert!(n == 0 || k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the asserts above (and the callers' shapes) keep every index in bounds; dst is
    // row-major m×n and is not aliased by lhs or rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Parallelism inside one gemm: images run side by side when there are enough of them.
fn inner_parallelism(batch: usize) -> Parallelism {
    let threads = rayon::current_num_threads();
    if batch >= threads {
        Parallelism::None
    } else {
        Parallelism::Rayon(threads)
    }
}

pub(super) fn f32_slice<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> Result<&'a [f32]> {
    let data = match storage {
        CpuStorage::F32(d) => d.as_slice(),
        _ => candle_core::bail!("conv2d: {what} must be f32"),
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("conv2d: {what} must be contiguous"),
    }
}

/// Below this many output pixels per image, images are unfolded side by side into one
/// product: a 2×2 layer4 map alone would leave the gemm kernels mostly idle.
const MIN_COLUMNS: usize = 256;

/// What follows the product, in the same pass: `relu(conv + bias + residual)`, each part
/// optional (a ResNet block's `bn2 → + identity → relu`, with BatchNorm folded).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Epilogue<'a> {
    pub bias: Option<&'a [f32]>,
    pub residual: Option<&'a [f32]>,
    pub relu: bool,
}

impl Epilogue<'_> {
    /// Adds the residual and applies the ReLU to one image's output `dst` (already holding
    /// the product and bias).
    fn finish(&self, dst: &mut [f32], residual: Option<&[f32]>) {
        match (residual, self.relu) {
            (Some(r), true) => dst
                .iter_mut()
                .zip(r)
                .for_each(|(d, r)| *d = (*d + r).max(0.0)),
            (Some(r), false) => dst.iter_mut().zip(r).for_each(|(d, r)| *d += r),
            (None, true) => dst.iter_mut().for_each(|d| *d = d.max(0.0)),
            (None, false) => {}
        }
    }
}

thread_local! {
    /// Each thread's unfolding buffer, kept between calls: a fresh zeroed one per block of
    /// images cost 7% of a ResNet-18 forward in memset and page faults.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a buffer of `len` values whose contents are unspecified.
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        // Re-entered (a gemm's rayon job ran another convolution on this thread).
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// `out = epilogue(conv(x, w))` for the whole batch.
fn forward(g: &ConvGeometry, x: &[f32], w: &[f32], epi: Epilogue<'_>) -> Vec<f32> {
    let (patch, pixels) = (g.patch(), g.pixels());
    if g.batch == 0 || g.out_len() == 0 {
        return Vec::new();
    }
    // An empty product (no input channels) stores nothing: start from zeros then.
    let mut out = match patch {
        0 => vec![0f32; g.batch * g.out_len()],
        _ => output_vec(g.batch * g.out_len()),
    };
    let block = MIN_COLUMNS.div_ceil(pixels).min(g.batch);
    let blocks = g.batch.div_ceil(block);
    let par = inner_parallelism(blocks);
    let direct = block == 1 && g.is_pointwise();
    let (in_block, out_block) = (block * g.in_len(), block * g.out_len());
    // One block of images: unfold side by side, one product, then back to [n, c_out, pixels].
    let one = |(index, out): (usize, &mut [f32])| {
        let n = out.len() / g.out_len();
        let columns = n * pixels;
        let images = &x[index * in_block..index * in_block + n * g.in_len()];
        let residual = epi
            .residual
            .map(|r| &r[index * out_block..index * out_block + out.len()]);
        let cols_len = if direct { 0 } else { patch * columns };
        let product_len = if n > 1 { g.c_out * columns } else { 0 };
        with_scratch(cols_len + product_len, |scratch| {
            let (cols, product) = scratch.split_at_mut(cols_len);
            let cols: &[f32] = if direct {
                images
            } else {
                for (i, image) in images.chunks(g.in_len()).enumerate() {
                    g.im2col_into(image, cols, columns, i * pixels);
                }
                cols
            };
            let product_into = |target: &mut [f32]| {
                if let Some(b) = epi.bias {
                    for (o, row) in target.chunks_mut(columns).enumerate() {
                        row.fill(b[o]);
                    }
                }
                let dims = (g.c_out, columns, patch);
                matmul(
                    target,
                    epi.bias.is_some(),
                    dims,
                    w,
                    (patch, 1),
                    cols,
                    (columns, 1),
                    par,
                );
            };
            if n == 1 {
                product_into(out);
                return;
            }
            product_into(product);
            for (i, image_out) in out.chunks_mut(g.out_len()).enumerate() {
                for (o, row) in image_out.chunks_mut(pixels).enumerate() {
                    let at = o * columns + i * pixels;
                    row.copy_from_slice(&product[at..at + pixels]);
                }
            }
        });
        epi.finish(out, residual);
    };
    if matches!(par, Parallelism::None) {
        out.par_chunks_mut(out_block).enumerate().for_each(one);
    } else {
        out.chunks_mut(out_block).enumerate().for_each(one);
    }
    out
}

/// `dL/dx` from `dL/dout` and the weights: per image, `Wᵀ · dout` folded back with col2im.
fn grad_input(g: &ConvGeometry, grad_out: &[f32], w: &[f32]) -> Vec<f32> {
    let (patch, pixels) = (g.patch(), g.pixels());
    let mut grad_x = vec![0f32; g.batch * g.in_len()];
    if g.batch == 0 || pixels == 0 {
        return grad_x;
    }
    let par = inner_parallelism(g.batch);
    let dims = (patch, pixels, g.c_out);
    let one = |(dout, dx): (&[f32], &mut [f32])| {
        if g.is_pointwise() {
            matmul(dx, false, dims, w, (1, patch), dout, (pixels, 1), par);
        } else {
            with_scratch(patch * pixels, |cols| {
                matmul(cols, false, dims, w, (1, patch), dout, (pixels, 1), par);
                g.col2im(cols, dx);
            });
        }
    };
    if matches!(par, Parallelism::None) {
        grad_out
            .par_chunks(g.out_len())
            .zip(grad_x.par_chunks_mut(g.in_len()))
            .for_each(one);
    } else {
        grad_out
            .chunks(g.out_len())
            .zip(grad_x.chunks_mut(g.in_len()))
            .for_each(one);
    }
    grad_x
}

/// `dL/dw` from the input and `dL/dout`: `Σ_images dout · colsᵀ`, summed in fixed chunks.
fn grad_weight(g: &ConvGeometry, x: &[f32], grad_out: &[f32]) -> Vec<f32> {
    let (patch, pixels) = (g.patch(), g.pixels());
    let len = g.c_out * patch;
    if g.batch == 0 || pixels == 0 {
        return vec![0f32; len];
    }
    let per_chunk = g.batch.div_ceil(WEIGHT_GRAD_CHUNKS.min(g.batch));
    let par = inner_parallelism(g.batch.div_ceil(per_chunk));
    let dims = (g.c_out, patch, pixels);
    let partials: Vec<Vec<f32>> = (0..g.batch.div_ceil(per_chunk))
        .into_par_iter()
        .map(|chunk| {
            let mut acc = vec![0f32; len];
            let mut cols = vec![0f32; if g.is_pointwise() { 0 } else { patch * pixels }];
            let images = chunk * per_chunk..((chunk + 1) * per_chunk).min(g.batch);
            for (n, i) in images.enumerate() {
                let image = &x[i * g.in_len()..(i + 1) * g.in_len()];
                let dout = &grad_out[i * g.out_len()..(i + 1) * g.out_len()];
                let cols: &[f32] = if g.is_pointwise() {
                    image
                } else {
                    g.im2col(image, &mut cols);
                    &cols
                };
                matmul(
                    &mut acc,
                    n > 0,
                    dims,
                    dout,
                    (pixels, 1),
                    cols,
                    (1, pixels),
                    par,
                );
            }
            acc
        })
        .collect();
    let mut parts = partials.into_iter();
    let mut total = parts.next().unwrap_or_else(|| vec![0f32; len]);
    for part in parts {
        total.iter_mut().zip(&part).for_each(|(t, p)| *t += p);
    }
    total
}

/// `dL/db`: `dL/dout` summed over images and pixels, in a fixed order.
fn grad_bias(g: &ConvGeometry, grad_out: &[f32]) -> Vec<f32> {
    let pixels = g.pixels();
    (0..g.c_out)
        .into_par_iter()
        .map(|o| {
            (0..g.batch)
                .map(|n| {
                    let at = n * g.out_len() + o * pixels;
                    grad_out[at..at + pixels].iter().sum::<f32>()
                })
                .sum()
        })
        .collect()
}

/// The convolution as a candle op: `(x, w)` or, with [`ConvBias`], `(x, w, b)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Conv {
    pub stride: usize,
    pub padding: usize,
}

impl Conv {
    fn geometry(&self, x: &Layout, w: &Layout) -> Result<ConvGeometry> {
        let (batch, c_in, height, width) = x.shape().dims4()?;
        let (c_out, c_w, kernel_h, kernel_w) = w.shape().dims4()?;
        if c_w != c_in {
            candle_core::bail!("conv2d: input has {c_in} channels, weight expects {c_w}")
        }
        if height + 2 * self.padding < kernel_h || width + 2 * self.padding < kernel_w {
            candle_core::bail!("conv2d: kernel {kernel_h}×{kernel_w} is larger than the padded input {height}×{width}")
        }
        Ok(ConvGeometry {
            batch,
            c_in,
            height,
            width,
            c_out,
            kernel_h,
            kernel_w,
            stride: self.stride,
            padding: self.padding,
        })
    }
}

impl CustomOp2 for Conv {
    fn name(&self) -> &'static str {
        "probe-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.geometry(l1, l2)?;
        let out = forward(
            &g,
            f32_slice(s1, l1, "input")?,
            f32_slice(s2, l2, "weight")?,
            Epilogue::default(),
        );
        Ok((CpuStorage::F32(out), g.out_shape()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (gx, gw, _) = backward(self, x, w, None, grad)?;
        Ok((gx, gw))
    }
}

type Grads = (Option<Tensor>, Option<Tensor>, Option<Tensor>);

/// The gradients of those of `x`, `w` and `b` that need one: the network's input (and a
/// frozen weight) needs none, so that work is skipped.
fn backward(
    conv: &Conv,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    grad: &Tensor,
) -> Result<Grads> {
    let g = conv.geometry(x.layout(), w.layout())?;
    let grad = grad.contiguous()?;
    let gx = match x.track_op() {
        true => Some(grad.apply_op2_no_bwd(&w.contiguous()?, &GradInput(g))?),
        false => None,
    };
    let gw = match w.track_op() {
        true => Some(x.contiguous()?.apply_op2_no_bwd(&grad, &GradWeight(g))?),
        false => None,
    };
    let gb = match b {
        Some(b) if b.track_op() => Some(grad.apply_op1_no_bwd(&GradBias(g))?.reshape(b.shape())?),
        _ => None,
    };
    Ok((gx, gw, gb))
}

/// The convolution with a bias: `(x, w, b)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvBias(pub Conv);

impl CustomOp3 for ConvBias {
    fn name(&self) -> &'static str {
        "probe-conv2d-bias"
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
        let g = self.0.geometry(l1, l2)?;
        let b = f32_slice(s3, l3, "bias")?;
        if b.len() != g.c_out {
            candle_core::bail!(
                "conv2d: bias has {} values for {} channels",
                b.len(),
                g.c_out
            )
        }
        let epilogue = Epilogue {
            bias: Some(b),
            ..Default::default()
        };
        let out = forward(
            &g,
            f32_slice(s1, l1, "input")?,
            f32_slice(s2, l2, "weight")?,
            epilogue,
        );
        Ok((CpuStorage::F32(out), g.out_shape()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<Grads> {
        backward(&self.0, x, w, Some(b), grad)
    }
}

/// Inference only: `relu(conv(x, w) + bias + residual)` in one pass, as `(x, w)` or
/// `(x, w, residual)`. Backward is an error (training keeps the ops apart).
#[derive(Debug, Clone)]
pub(crate) struct ConvEval {
    pub conv: Conv,
    pub bias: Vec<f32>,
    pub relu: bool,
}

impl ConvEval {
    fn run(
        &self,
        (s1, l1): (&CpuStorage, &Layout),
        (s2, l2): (&CpuStorage, &Layout),
        residual: Option<&[f32]>,
    ) -> Result<(CpuStorage, Shape)> {
        let g = self.conv.geometry(l1, l2)?;
        if self.bias.len() != g.c_out {
            candle_core::bail!(
                "conv2d: bias has {} values for {} channels",
                self.bias.len(),
                g.c_out
            )
        }
        if residual.is_some_and(|r| r.len() != g.batch * g.out_len()) {
            candle_core::bail!(
                "conv2d: the residual's shape differs from the output's {:?}",
                g.out_shape()
            )
        }
        let epilogue = Epilogue {
            bias: Some(&self.bias),
            residual,
            relu: self.relu,
        };
        let out = forward(
            &g,
            f32_slice(s1, l1, "input")?,
            f32_slice(s2, l2, "weight")?,
            epilogue,
        );
        Ok((CpuStorage::F32(out), g.out_shape()))
    }
}

impl CustomOp2 for ConvEval {
    fn name(&self) -> &'static str {
        "probe-conv2d-eval"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.run((s1, l1), (s2, l2), None)
    }
}

impl CustomOp3 for ConvEval {
    fn name(&self) -> &'static str {
        "probe-conv2d-eval-residual"
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
        self.run((s1, l1), (s2, l2), Some(f32_slice(s3, l3, "residual")?))
    }
}

/// `(dL/dout, w) → dL/dx` for the geometry of the forward pass.
struct GradInput(ConvGeometry);

impl CustomOp2 for GradInput {
    fn name(&self) -> &'static str {
        "probe-conv2d-grad-input"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let out = grad_input(
            g,
            f32_slice(s1, l1, "gradient")?,
            f32_slice(s2, l2, "weight")?,
        );
        Ok((
            CpuStorage::F32(out),
            Shape::from((g.batch, g.c_in, g.height, g.width)),
        ))
    }
}

/// `(x, dL/dout) → dL/dw` for the geometry of the forward pass.
struct GradWeight(ConvGeometry);

impl CustomOp2 for GradWeight {
    fn name(&self) -> &'static str {
        "probe-conv2d-grad-weight"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        let out = grad_weight(
            g,
            f32_slice(s1, l1, "input")?,
            f32_slice(s2, l2, "gradient")?,
        );
        let shape = Shape::from((g.c_out, g.c_in, g.kernel_h, g.kernel_w));
        Ok((CpuStorage::F32(out), shape))
    }
}

/// `dL/dout → dL/db` for the geometry of the forward pass.
struct GradBias(ConvGeometry);

impl candle_core::CustomOp1 for GradBias {
    fn name(&self) -> &'static str {
        "probe-conv2d-grad-bias"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = grad_bias(&self.0, f32_slice(s, l, "gradient")?);
        Ok((CpuStorage::F32(out), Shape::from(self.0.c_out)))
    }
}
