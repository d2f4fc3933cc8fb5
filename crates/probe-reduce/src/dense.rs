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

/// Thin QR of a tall m × c matrix (m ≥ c): Q (m × c, orthonormal columns) and R (c × c).
pub(crate) fn thin_qr(m: MatRef<'_, f32>, par: Par) -> (Mat<f32>, Mat<f32>) {
    let (rows, cols) = m.shape();
    let size = rows.min(cols);
    let block = factor::recommended_block_size::<f32>(rows, cols);
    let mut qr = m.to_owned();
    let mut coeff = Mat::<f32>::zeros(block, size);
    factor::qr_in_place(
        qr.as_mut(),
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
    let r = Mat::<f32>::from_fn(size, cols, |i, j| if i <= j { qr[(i, j)] } else { 0.0 });
    let mut q = Mat::<f32>::identity(rows, size);
    householder::apply_block_householder_sequence_on_the_left_in_place_with_conj(
        qr.as_ref().subcols(0, size),
        coeff.as_ref(),
        Conj::No,
        q.as_mut(),
        par,
        MemStack::new(&mut MemBuffer::new(
            householder::apply_block_householder_sequence_on_the_left_in_place_scratch::<f32>(
                rows, block, size,
            ),
        )),
    );
    (q, r)
}

/// An orthonormal basis of the columns of a tall matrix.
pub(crate) fn orthonormal(m: MatRef<'_, f32>, par: Par) -> Mat<f32> {
    thin_qr(m, par).0
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
