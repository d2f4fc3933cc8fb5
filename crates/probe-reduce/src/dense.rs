//! The small dense factorizations of the randomized SVD, called so that their results do not
//! depend on the number of threads: faer's blocked panel factorizations reduce in a
//! thread-dependent order, so they run sequentially, while the matrix products (whose
//! results do not depend on the split) run in parallel.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd;
use faer::linalg::householder;
use faer::linalg::qr::no_pivoting::factor;
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::{Conj, Mat, MatRef, Par};

use crate::error::{Error, Result};

/// Householder QR of a tall m × c matrix (m ≥ c), kept in factored form.
pub(crate) struct Qr {
    factors: Mat<f32>,
    coeff: Mat<f32>,
}

impl Qr {
    pub(crate) fn new(m: MatRef<'_, f32>) -> Qr {
        let (rows, cols) = m.shape();
        let block = factor::recommended_block_size::<f32>(rows, cols);
        let mut factors = m.to_owned();
        let mut coeff = Mat::<f32>::zeros(block, rows.min(cols));
        factor::qr_in_place(
            factors.as_mut(),
            coeff.as_mut(),
            Par::Seq,
            MemStack::new(&mut MemBuffer::new(factor::qr_in_place_scratch::<f32>(
                rows,
                cols,
                block,
                Par::Seq,
                Default::default(),
            ))),
            Default::default(),
        );
        Qr { factors, coeff }
    }

    /// The c × c upper-triangular factor R.
    pub(crate) fn r(&self) -> Mat<f32> {
        let c = self.factors.ncols();
        Mat::<f32>::from_fn(c, c, |i, j| if i <= j { self.factors[(i, j)] } else { 0.0 })
    }

    /// The last diagonal entry of R.
    pub(crate) fn last_diagonal(&self) -> f32 {
        let c = self.factors.ncols().min(self.factors.nrows());
        self.factors[(c - 1, c - 1)]
    }

    /// Q·X for a c × k matrix X (the thin Q times X, without forming Q).
    pub(crate) fn q_times(&self, x: MatRef<'_, f32>, par: Par) -> Mat<f32> {
        let (rows, size) = (self.factors.nrows(), self.coeff.ncols());
        let mut out = Mat::<f32>::zeros(rows, x.ncols());
        out.as_mut().subrows_mut(0, size).copy_from(x);
        householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
            self.factors.as_ref().subcols(0, size),
            self.coeff.as_ref(),
            Conj::No,
            out.as_mut(),
            par,
            MemStack::new(&mut MemBuffer::new(
                householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f32>(
                    rows,
                    self.coeff.nrows(),
                    x.ncols(),
                ),
            )),
        );
        out
    }
}

/// An orthonormal basis of the columns of a tall matrix.
pub(crate) fn orthonormal(m: MatRef<'_, f32>, par: Par) -> Mat<f32> {
    let size = m.nrows().min(m.ncols());
    Qr::new(m).q_times(Mat::<f32>::identity(size, size).as_ref(), par)
}

/// SVD of a small square matrix in f64: (U, singular values in decreasing order, V).
pub(crate) fn small_svd(a: MatRef<'_, f64>) -> Result<(Mat<f64>, Vec<f64>, Mat<f64>)> {
    let (m, n) = a.shape();
    let size = m.min(n);
    let mut s = faer::diag::Diag::<f64>::zeros(size);
    let mut u = Mat::<f64>::zeros(m, size);
    let mut v = Mat::<f64>::zeros(n, size);
    svd::svd(
        a,
        s.as_mut(),
        Some(u.as_mut()),
        Some(v.as_mut()),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(svd::svd_scratch::<f64>(
            m,
            n,
            ComputeSvdVectors::Thin,
            ComputeSvdVectors::Thin,
            Par::Seq,
            Default::default(),
        ))),
        Default::default(),
    )
    .map_err(|_| Error::NoConvergence)?;
    let values = (0..size).map(|i| s.column_vector()[i]).collect();
    Ok((u, values, v))
}

/// Signs as scikit-learn's svd_flip: each column is negated where needed so that its entry of
/// largest magnitude is positive. Returns the sign each column was multiplied by.
pub(crate) fn flip_signs(vectors: &mut Mat<f32>) -> Vec<f32> {
    (0..vectors.ncols())
        .map(|j| {
            let col = vectors.col(j);
            let big = (0..col.nrows())
                .max_by(|&a, &b| col[a].abs().total_cmp(&col[b].abs()))
                .unwrap_or(0);
            let sign = if col[big] < 0.0 { -1.0 } else { 1.0 };
            vectors.col_mut(j).iter_mut().for_each(|x| *x *= sign);
            sign
        })
        .collect()
}

/// The `k` largest eigenvalues of a symmetric matrix (f64, decreasing) and their
/// eigenvectors as columns.
pub(crate) fn eigh_descending(a: MatRef<'_, f64>, k: usize) -> Result<(Mat<f64>, Vec<f64>)> {
    let m = a.nrows();
    let mut s = faer::diag::Diag::<f64>::zeros(m);
    let mut u = Mat::<f64>::zeros(m, m);
    evd::self_adjoint_evd(
        a,
        s.as_mut(),
        Some(u.as_mut()),
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(evd::self_adjoint_evd_scratch::<f64>(
            m,
            evd::ComputeEigenvectors::Yes,
            Par::Seq,
            Default::default(),
        ))),
        Default::default(),
    )
    .map_err(|_| Error::NoConvergence)?;
    // faer sorts eigenvalues in increasing order.
    let k = k.min(m);
    let values = (0..k).map(|j| s.column_vector()[m - 1 - j]).collect();
    let vectors = Mat::<f64>::from_fn(m, k, |i, j| u[(i, m - 1 - j)]);
    Ok((vectors, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::linalg::matmul::matmul;
    use faer::Accum;

    #[test]
    fn eigh_descending_gives_the_top_pairs() {
        let n = 9;
        let a = Mat::<f64>::from_fn(n, n, |i, j| 1.0 / (1.0 + i as f64 + j as f64));
        let (v, values) = eigh_descending(a.as_ref(), 3).unwrap();
        assert!(values[0] > values[1] && values[1] > values[2]);
        for (j, &lambda) in values.iter().enumerate() {
            let mut av = Mat::<f64>::zeros(n, 1);
            matmul(
                &mut av,
                Accum::Replace,
                &a,
                v.col(j).as_mat(),
                1.0,
                Par::Seq,
            );
            for i in 0..n {
                assert!((av[(i, 0)] - lambda * v[(i, j)]).abs() < 1e-10);
            }
        }
    }
}
