//! Row-major matrices the reduction reads block by block: a memory-mapped feature set, or a
//! slice in memory.

use probe_data::FeatureSet;

/// A row-major n × d matrix of f32 that can be read in blocks of rows.
pub trait RowSource: Sync {
    /// n.
    fn n_rows(&self) -> usize;
    /// d.
    fn n_cols(&self) -> usize;
    /// Every value at once, when available without copying.
    fn as_slice(&self) -> Option<&[f32]> {
        None
    }
    /// Fills `out` with rows `start..start + out.len() / d`.
    fn read_rows(&self, start: usize, out: &mut [f32]);
    /// A hint that rows `start..start + k` will not be read again soon (a mapped file lets
    /// their pages go); nothing by default.
    fn release_rows(&self, _start: usize, _k: usize) {}
}

impl RowSource for FeatureSet {
    fn n_rows(&self) -> usize {
        self.n_samples()
    }
    fn n_cols(&self) -> usize {
        self.n_features()
    }
    fn as_slice(&self) -> Option<&[f32]> {
        self.as_f32_slice()
    }
    fn read_rows(&self, start: usize, out: &mut [f32]) {
        self.read_rows_f32(start, out)
    }
    fn release_rows(&self, start: usize, k: usize) {
        FeatureSet::release_rows(self, start, k)
    }
}

/// A row-major slice viewed as an n × d matrix.
#[derive(Debug, Clone, Copy)]
pub struct DenseRows<'a> {
    data: &'a [f32],
    n: usize,
    d: usize,
}

impl<'a> DenseRows<'a> {
    /// Views `data` (n·d values) as n rows of d.
    ///
    /// # Panics
    ///
    /// If `data.len() != n * d`.
    pub fn new(data: &'a [f32], n: usize, d: usize) -> DenseRows<'a> {
        assert_eq!(
            data.len(),
            n * d,
            "DenseRows: {} values are not {n} x {d}",
            data.len()
        );
        DenseRows { data, n, d }
    }
}

impl RowSource for DenseRows<'_> {
    fn n_rows(&self) -> usize {
        self.n
    }
    fn n_cols(&self) -> usize {
        self.d
    }
    fn as_slice(&self) -> Option<&[f32]> {
        Some(self.data)
    }
    fn read_rows(&self, start: usize, out: &mut [f32]) {
        out.copy_from_slice(&self.data[start * self.d..start * self.d + out.len()]);
    }
}
