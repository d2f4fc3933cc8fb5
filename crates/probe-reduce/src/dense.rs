//! The small dense factorizations of the randomized SVD, called so that their results do not
//! depend on the number of threads: faer's blocked panel factorizations reduce in a
//! thread-dependent order, so they run sequentially, while the matrix products (whose
//! results do not depend on the split) run in parallel.

use faer::dyn_stack::{MemBuffer, MemStack};
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
