//! Randomized truncated SVD (Halko, Martinsson & Tropp 2011), streaming over row blocks of
//! the input so that it is never copied: products run in f32 through faer (multithreaded),
//! the small factorizations at the end in f64.
//!
//! For a tall A (n ≥ d), with W₀ = orth(Ω) for a Gaussian d × l test matrix Ω
//! (l = K + oversamples), each power iteration sets W = orth(Aᵀ·(A·W)); the last product
//! Y = A·W then gives the SVD of A restricted to span(W) (Rayleigh–Ritz): Y = Q·R and
//! R = U_R·Σ·V_Rᵀ, so U = Q·U_R and V = W·V_R. A wide A runs the same on Aᵀ. That is 1 + 2q
//! passes over A for q power iterations (scikit-learn's scheme takes 2 + 2q), and one QR of
//! the long n × l side instead of one per iteration.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::dense::{flip_signs, orthonormal, small_svd, Qr};
use crate::device::Resident;
use crate::error::{Error, Result};
use crate::params::{Backend, Method, ValidReduceParams};
use crate::source::RowSource;
use crate::svd::{check_components, Factorization, Solver};

/// Bytes of input decoded or viewed at a time. Fixed, so that results do not depend on the
/// number of threads.
const BLOCK_BYTES: usize = 16 << 20;
/// Rows summed together by one task of the column-statistics pass.
const STATS_CHUNK: usize = 256;

/// Computes the top-K singular triplets of the input (centred first for [`Method::Pca`]).
///
/// The iteration runs on the long side of the matrix and orthonormalises only on the short
/// side (a QR of a (short side) × l matrix per iteration); the one QR of the long side comes
/// at the end. Results are the same for a seed whatever the number of threads.
pub fn randomized_svd<S: RowSource + ?Sized>(
    src: &S,
    params: &ValidReduceParams,
) -> Result<Factorization> {
    randomized_svd_with_progress(src, params, &|_, _| {})
}

/// As [`randomized_svd`], calling `progress(done, total)` after each pass over the data
/// (1 + 2·power_iters passes), for progress bars.
pub fn randomized_svd_with_progress<S: RowSource + ?Sized>(
    src: &S,
    params: &ValidReduceParams,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Factorization> {
    let (n, d) = (src.n_rows(), src.n_cols());
    let k = params.n_components();
    check_components(n, d, k)?;
    let l = (k + params.oversamples()).min(n.min(d));
    let resident = match params.backend() {
        Backend::Cpu => None,
        other => Some(Resident::open(other, n, d)?),
    };
    let ops = Operator {
        src,
        par: Par::rayon(0),
        centre: params.method() == Method::Pca,
        mean: Vec::new(),
        resident,
    };
    // Tall (n ≥ d): iterate W (d × l) ← orth(Aᵀ·A·W); wide: the same on Aᵀ.
    let tall = n >= d;
    let short = if tall { d } else { n };
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed());
    let omega = Mat::<f32>::from_fn(short, l, |_, _| rng.sample::<f32, _>(StandardNormal));
    let mut w = orthonormal(omega.as_ref(), ops.par);

    let passes = 1 + 2 * params.power_iters();
    let (mut ops, mut long, stats) = ops.first_pass(w.as_ref(), tall)?;
    progress(1, passes);
    for it in 0..params.power_iters() {
        let back = ops.back(long.as_ref(), tall)?;
        progress(2 + 2 * it, passes);
        w = orthonormal(back.as_ref(), ops.par);
        long = ops.forward(w.as_ref(), tall)?;
        progress(3 + 2 * it, passes);
    }
    ops.mean.clear();
    ops.resident = None;

    // long = M·W with M = A (tall) or Aᵀ (wide). long = Q·R and R = U_R·Σ·V_Rᵀ give
    // M ≈ (Q·U_R)·Σ·(W·V_R)ᵀ.
    let qr = Qr::new(long.as_ref());
    let r = qr.r();
    let r64 = Mat::<f64>::from_fn(r.nrows(), r.ncols(), |i, j| f64::from(r[(i, j)]));
    let (u_r, sigma, v_r) = small_svd(r64.as_ref())?;
    let singular_values: Vec<f64> = sigma[..k].to_vec();
    let take = |m: &Mat<f64>| Mat::<f32>::from_fn(l, k, |i, j| m[(i, j)] as f32);
    let long_vectors = qr.q_times(take(&u_r).as_ref(), ops.par);
    let mut short_vectors = Mat::<f32>::zeros(w.nrows(), k);
    matmul(
        &mut short_vectors,
        Accum::Replace,
        &w,
        &take(&v_r),
        1.0,
        ops.par,
    );
    let (mut u, mut v) = if tall {
        (long_vectors, short_vectors)
    } else {
        (short_vectors, long_vectors)
    };

    // Signs as scikit-learn's svd_flip(u_based_decision=False): the largest |v| is positive.
    let signs = flip_signs(&mut v);
    for (j, (&sigma, &sign)) in singular_values.iter().zip(&signs).enumerate() {
        let scale = sign * sigma as f32;
        u.col_mut(j).iter_mut().for_each(|x| *x *= scale);
    }

    Ok(Factorization {
        singular_values,
        components: Some(v),
        transformed: u,
        total_variance: stats.total_variance(),
        column_mean: stats.mean(),
        solver: Solver::Randomized(params.power_iters()),
    })
}

/// Products with A (or the centred A − 1μᵀ), streamed over row blocks.
struct Operator<'a, S: ?Sized> {
    src: &'a S,
    par: Par,
    centre: bool,
    /// Column means, once the first pass has measured them (f32, for the corrections).
    mean: Vec<f32>,
    /// The input on a candle device, when the products run there.
    resident: Option<Resident>,
}

impl<S: RowSource + ?Sized> Operator<'_, S> {
    /// The first product on the long side, reading the column statistics on the way.
    fn first_pass(
        mut self,
        w: MatRef<'_, f32>,
        tall: bool,
    ) -> Result<(Self, Mat<f32>, ColumnStats)> {
        let mut stats = ColumnStats::new(self.src.n_cols(), self.src.n_rows());
        let product = match self.resident.as_mut() {
            None => product(self.src, w, !tall, self.par, Some(&mut stats))?,
            Some(resident) => {
                let mut first_error = None;
                for_each_block(self.src, |start, block| {
                    if first_error.is_none() {
                        first_error = stats
                            .add_block(start, block)
                            .map(|(row, col)| Error::NonFinite { row, col })
                            .or_else(|| resident.push(start, block).err());
                    }
                });
                if let Some(e) = first_error {
                    return Err(e);
                }
                resident.product(w, !tall)?
            }
        };
        self.mean = stats.mean().iter().map(|&m| m as f32).collect();
        let product = self.correct(product, w, tall);
        Ok((self, product, stats))
    }

    /// M·W: A·W when tall, Aᵀ·W when wide.
    fn forward(&self, w: MatRef<'_, f32>, tall: bool) -> Result<Mat<f32>> {
        let product = self.apply(w, !tall)?;
        Ok(self.correct(product, w, tall))
    }

    /// Mᵀ·Y: Aᵀ·Y when tall, A·Y when wide.
    fn back(&self, y: MatRef<'_, f32>, tall: bool) -> Result<Mat<f32>> {
        let product = self.apply(y, tall)?;
        Ok(self.correct(product, y, !tall))
    }

    /// A·X or Aᵀ·X, wherever the data lives.
    fn apply(&self, x: MatRef<'_, f32>, transpose: bool) -> Result<Mat<f32>> {
        match &self.resident {
            None => product(self.src, x, transpose, self.par, None),
            Some(resident) => resident.product(x, transpose),
        }
    }

    /// Centring, applied after the product: (A − 1μᵀ)·X = A·X − 1·(μᵀX) and
    /// (A − 1μᵀ)ᵀ·X = AᵀX − μ·(1ᵀX).
    fn correct(&self, mut product: Mat<f32>, x: MatRef<'_, f32>, was_a_times: bool) -> Mat<f32> {
        if !self.centre {
            return product;
        }
        if was_a_times {
            subtract_mean_products(&mut product, x, &self.mean);
        } else {
            for j in 0..x.ncols() {
                let sum: f32 = x.col(j).iter().map(|&v| f64::from(v)).sum::<f64>() as f32;
                for (v, &m) in product.col_mut(j).iter_mut().zip(&self.mean) {
                    *v -= m * sum;
                }
            }
        }
        product
    }
}

/// Turns A·X into (A − 1μᵀ)·X: subtracts μᵀ·x_j (summed in f64) from column j.
pub(crate) fn subtract_mean_products<T: Copy + Into<f64>>(
    product: &mut Mat<f32>,
    x: MatRef<'_, f32>,
    mean: &[T],
) {
    for j in 0..x.ncols() {
        let shift: f64 = x
            .col(j)
            .iter()
            .zip(mean)
            .map(|(&a, &m)| f64::from(a) * m.into())
            .sum();
        let shift = shift as f32;
        product.col_mut(j).iter_mut().for_each(|v| *v -= shift);
    }
}

/// Calls `f(first_row, block)` on consecutive row blocks of the source (row-major, d values
/// a row), viewing the data in place when the source has it as f32 and decoding it into one
/// reused buffer otherwise. Each block is released once read, so that a pass over a mapped
/// file keeps about one block resident.
pub(crate) fn for_each_block<S: RowSource + ?Sized>(src: &S, mut f: impl FnMut(usize, &[f32])) {
    let (n, d) = (src.n_rows(), src.n_cols());
    let rows = (BLOCK_BYTES / 4 / d).clamp(1, n.max(1));
    let mut buf = Vec::new();
    let mut start = 0;
    while start < n {
        let k = rows.min(n - start);
        let block: &[f32] = match src.as_slice() {
            Some(all) => &all[start * d..(start + k) * d],
            None => {
                buf.resize(k * d, 0.0);
                src.read_rows(start, &mut buf);
                &buf
            }
        };
        f(start, block);
        src.release_rows(start, k);
        start += k;
    }
}

/// A·X (n × l) or, with `transpose`, Aᵀ·X (d × l), streamed over row blocks (Aᵀ·X summed
/// block by block in a fixed order). With `stats`, the column statistics are read on the way
/// and a non-finite value is an error.
pub(crate) fn product<S: RowSource + ?Sized>(
    src: &S,
    x: MatRef<'_, f32>,
    transpose: bool,
    par: Par,
    mut stats: Option<&mut ColumnStats>,
) -> Result<Mat<f32>> {
    let (n, d) = (src.n_rows(), src.n_cols());
    let mut out = Mat::<f32>::zeros(if transpose { d } else { n }, x.ncols());
    let mut bad = None;
    for_each_block(src, |start, block| {
        let rows = block.len() / d;
        let a = MatRef::from_row_major_slice(block, rows, d);
        if transpose {
            matmul(
                &mut out,
                Accum::Add,
                a.transpose(),
                x.subrows(start, rows),
                1.0,
                par,
            );
        } else {
            let target = out.as_mut().subrows_mut(start, rows);
            matmul(target, Accum::Replace, a, x, 1.0, par);
        }
        if let Some(stats) = stats.as_deref_mut() {
            bad = bad.or(stats.add_block(start, block));
        }
    });
    match bad {
        Some((row, col)) => Err(Error::NonFinite { row, col }),
        None => Ok(out),
    }
}

/// One chunk's column sums, sums of squares, and first non-finite (row, column).
type ChunkSums = (Vec<f64>, Vec<f64>, Option<(usize, usize)>);

/// Per-column sums of (x − shift) and (x − shift)², in f64; shifting by the first row keeps
/// the variance accurate when a column's mean is large next to its spread.
pub(crate) struct ColumnStats {
    n: usize,
    shift: Vec<f64>,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
}

impl ColumnStats {
    pub(crate) fn new(d: usize, n: usize) -> ColumnStats {
        ColumnStats {
            n,
            shift: Vec::new(),
            sum: vec![0.0; d],
            sum_sq: vec![0.0; d],
        }
    }

    /// Adds a row-major block; returns the first non-finite value's (row, column), if any.
    pub(crate) fn add_block(&mut self, start: usize, block: &[f32]) -> Option<(usize, usize)> {
        let d = self.sum.len();
        if self.shift.is_empty() {
            self.shift = block[..d].iter().map(|&x| f64::from(x)).collect();
        }
        let shift = &self.shift;
        // Fixed chunks summed in order: the same totals whatever the number of threads.
        let partials: Vec<ChunkSums> = block
            .par_chunks(STATS_CHUNK * d)
            .enumerate()
            .map(|(c, chunk)| {
                let (mut s, mut ss) = (vec![0.0; d], vec![0.0; d]);
                let mut bad = None;
                for (r, row) in chunk.chunks_exact(d).enumerate() {
                    for (j, &x) in row.iter().enumerate() {
                        let v = f64::from(x) - shift[j];
                        s[j] += v;
                        ss[j] += v * v;
                    }
                    if bad.is_none() {
                        if let Some(j) = row.iter().position(|x| !x.is_finite()) {
                            bad = Some((start + c * STATS_CHUNK + r, j));
                        }
                    }
                }
                (s, ss, bad)
            })
            .collect();
        let mut first_bad = None;
        for (s, ss, bad) in partials {
            for j in 0..d {
                self.sum[j] += s[j];
                self.sum_sq[j] += ss[j];
            }
            first_bad = first_bad.or(bad);
        }
        first_bad
    }

    pub(crate) fn mean(&self) -> Vec<f64> {
        let n = self.n as f64;
        self.sum
            .iter()
            .zip(&self.shift)
            .map(|(s, k)| k + s / n)
            .collect()
    }

    pub(crate) fn total_variance(&self) -> f64 {
        let n = self.n as f64;
        self.sum
            .iter()
            .zip(&self.sum_sq)
            .map(|(s, ss)| ((ss - s * s / n) / n).max(0.0))
            .sum()
    }
}
