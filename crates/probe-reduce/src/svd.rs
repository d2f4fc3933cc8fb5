//! The truncated SVD, by whichever of two routes costs less for the input's shape: the
//! randomized SVD (passes over the data) or the Gram matrix of the shorter side.

use faer::Mat;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::gram::{gram_iterations, gram_svd, gram_width};
use crate::params::{Algorithm, Backend, ValidReduceParams};
use crate::randomized::randomized_svd_with_progress;
use crate::source::RowSource;

/// The most working memory the automatic choice lets the Gram route take (its matrices, not
/// the input).
const GRAM_MAX_BYTES: f64 = 2.0 * (1u64 << 30) as f64;

/// How a factorization was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Solver {
    /// Randomized SVD with this many power iterations.
    Randomized(usize),
    /// The Gram matrix of the shorter side and its full eigendecomposition (exact).
    GramExact,
    /// The Gram matrix of the shorter side and this many subspace iterations on it.
    GramIterative(usize),
}

impl std::fmt::Display for Solver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Solver::Randomized(q) => write!(f, "randomized (q={q})"),
            Solver::GramExact => f.write_str("gram (exact)"),
            Solver::GramIterative(q) => write!(f, "gram (q={q})"),
        }
    }
}

/// The truncated SVD of a (possibly centred) matrix.
#[derive(Debug, Clone)]
pub struct Factorization {
    /// σ₁ ≥ … ≥ σ_K.
    pub singular_values: Vec<f64>,
    /// Right singular vectors V as columns (d × K); absent when the Gram route on a wide
    /// input never needed them.
    pub components: Option<Mat<f32>>,
    /// The reduced features U·Σ (n × K).
    pub transformed: Mat<f32>,
    /// Column means of the input.
    pub column_mean: Vec<f64>,
    /// Σ_j Var(x_j) of the input (population variance, as numpy's `var`).
    pub total_variance: f64,
    /// How it was computed.
    pub solver: Solver,
}

impl Factorization {
    /// Variance of the reduced features over the input's total variance: scikit-learn's
    /// `explained_variance_ratio_.sum()` for both `TruncatedSVD` and `PCA`.
    pub fn explained_variance_ratio(&self) -> f64 {
        let n = self.transformed.nrows() as f64;
        let explained: f64 = (0..self.transformed.ncols())
            .map(|k| {
                let col = self.transformed.col(k);
                let (mut s, mut ss) = (0.0f64, 0.0f64);
                for &v in col.iter() {
                    s += f64::from(v);
                    ss += f64::from(v) * f64::from(v);
                }
                (ss / n - (s / n) * (s / n)).max(0.0)
            })
            .sum();
        if self.total_variance > 0.0 {
            explained / self.total_variance
        } else {
            0.0
        }
    }
}

/// The route [`truncated_svd`] takes for an n × d input: a rough count of each route's work
/// in units of one f32 multiply-add in a large product (the constants were measured with
/// faer on a 2-core x86-64 machine: a triangular Gram product runs at about 0.8 of a full
/// product's rate, a Householder QR at about 0.5, and an f64 eigendecomposition costs about
/// 14·m³ such units). The automatic choice also keeps the Gram route's matrices under 2 GiB.
pub fn choose_solver(n: usize, d: usize, params: &ValidReduceParams) -> Solver {
    let q = params.power_iters();
    let (short, long) = (n.min(d) as f64, n.max(d) as f64);
    let k = params.n_components() as f64;
    let l = (k + params.oversamples() as f64).min(short);
    let randomized = (1.0 + 2.0 * q as f64) * short * long * l
        + (q as f64 + 1.0) * 2.0 * short * l * l
        + 2.0 * long * l * l
        + 14.0 * l * l * l;
    let gram = 0.65 * short * short * long + if n >= d { long * short * k } else { 0.0 };
    let exact = 14.0 * short * short * short;
    let (gq, gl) = (
        gram_iterations(params) as f64,
        gram_width(params, short as usize) as f64,
    );
    let iterative =
        (gq + 1.0) * short * short * gl + 3.0 * gq * short * gl * gl + 14.0 * gl * gl * gl;
    // Exact whenever it costs at most twice the iterative route: then K is a large share of
    // the short side, where iterating gains little and converges least.
    let (gram_solver, gram_cost) = if exact <= 2.0 * (gram + iterative) {
        (Solver::GramExact, gram + exact)
    } else {
        (
            Solver::GramIterative(gram_iterations(params)),
            gram + iterative,
        )
    };
    // The Gram itself (a tall input's in f64 beside one block's f32 product), plus a copy
    // and the eigenvectors in f64 for the exact route.
    let bytes = if n >= d { 12.0 } else { 4.0 } * short * short
        + if gram_solver == Solver::GramExact {
            16.0 * short * short
        } else {
            12.0 * short * gl
        };
    match params.algorithm() {
        Algorithm::Randomized => Solver::Randomized(q),
        Algorithm::Gram => gram_solver,
        Algorithm::Auto => {
            let fits = bytes <= GRAM_MAX_BYTES && params.backend() == Backend::Cpu;
            if fits && gram_cost < randomized {
                gram_solver
            } else {
                Solver::Randomized(q)
            }
        }
    }
}

/// K = `k` components of an n × d matrix exist: an SVD has at most min(n, d).
pub(crate) fn check_components(n: usize, d: usize, k: usize) -> Result<()> {
    let max = n.min(d);
    if k > max {
        return Err(Error::TooManyComponents { n, d, k, max });
    }
    Ok(())
}

/// Computes the top-K singular triplets of the input (centred first for
/// [`crate::Method::Pca`]) by the route [`choose_solver`] picks. Results are the same for a
/// seed whatever the number of threads.
pub fn truncated_svd<S: RowSource + ?Sized>(
    src: &S,
    params: &ValidReduceParams,
) -> Result<Factorization> {
    truncated_svd_with_progress(src, params, &|_, _| {})
}

/// As [`truncated_svd`], calling `progress(done, total)` after each step (a pass over the
/// data or a product with the Gram matrix), for progress bars.
pub fn truncated_svd_with_progress<S: RowSource + ?Sized>(
    src: &S,
    params: &ValidReduceParams,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Factorization> {
    match choose_solver(src.n_rows(), src.n_cols(), params) {
        Solver::Randomized(_) => randomized_svd_with_progress(src, params, progress),
        Solver::GramExact => gram_svd(src, params, true, progress),
        Solver::GramIterative(_) => gram_svd(src, params, false, progress),
    }
}
