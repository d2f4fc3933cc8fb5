//! A matrix for the binned splitter that keeps only its bins: raw row-major f32 values are
//! binned a slice of columns at a time, and a tree reads back the few values it needs.

use rayon::prelude::*;

use crate::binning::Bins;
use crate::error::{Error, Result};
use crate::matrix::{check_shape, no_non_finite, normalised, transposed_f32_into};
use crate::quantiles::sample_positions;

/// Bytes of raw values held at once while binning (one slice of columns, transposed): the
/// same memory serves slice after slice, so that fresh memory is this plus the bins.
const SLICE_BYTES: usize = 32 << 20;

/// The bins, stored grouped by label, and what a tree needs to read a value exactly.
pub(crate) struct Binned<'a> {
    pub bins: Bins,
    /// The matrix row held at each stored position.
    pub row_of: Vec<u32>,
    /// The row of `raw` held at each stored position.
    source_row: Vec<u32>,
    lo: Vec<f64>,
    span: Vec<f64>,
    raw: &'a [f32],
    d: usize,
}

impl<'a> Binned<'a> {
    /// Bins n × d row-major values, rows stored grouped by `group`.
    pub fn build(n: usize, d: usize, raw: &'a [f32], group: &[u32]) -> Result<Binned<'a>> {
        Binned::build_in_slices(n, d, raw, group, SLICE_BYTES)
    }

    /// [`build`](Self::build), normalising about `slice_bytes` of values at a time.
    fn build_in_slices(
        n: usize,
        d: usize,
        raw: &'a [f32],
        group: &[u32],
        slice_bytes: usize,
    ) -> Result<Binned<'a>> {
        check_shape(n, d)?;
        if raw.len() != n * d || group.len() != n {
            return Err(Error::InvalidData(format!(
                "{} values and {} group entries do not make a {n} x {d} matrix",
                raw.len(),
                group.len()
            )));
        }
        let order = grouped_order(group);
        let sample_at = sample_positions(stored_positions(&order));
        let width = (slice_bytes / (4 * n)).clamp(1, d);
        let mut bins = crate::pages::zeroed::<u8>(n * d);
        let (mut lo, mut span) = (Vec::with_capacity(d), Vec::with_capacity(d));
        let mut single_valued = Vec::with_capacity(d);
        let mut memory = Vec::new();
        for (k, out) in bins.chunks_mut(width * n).enumerate() {
            let (first, w) = (k * width, out.len() / n);
            // Rows are read in stored order, so that each column is binned front to back.
            let read = |start: usize, buf: &mut [f32]| {
                for (row, values) in order[start..].iter().zip(buf.chunks_exact_mut(w)) {
                    values.copy_from_slice(&raw[*row as usize * d + first..][..w]);
                }
            };
            let (slice, ranges) = transposed_f32_into(n, w, first, read, memory)
                .map_err(|e| first_non_finite(raw, d, first..first + w).unwrap_or(e))?;
            single_valued.extend(Bins::fill_raw(&slice, &ranges, n, &sample_at, out));
            memory = slice;
            lo.extend(ranges.lo);
            span.extend(ranges.span);
        }
        Ok(Binned {
            bins: Bins::from_parts(n, bins, single_valued),
            source_row: order.clone(),
            row_of: order,
            lo,
            span,
            raw,
            d,
        })
    }

    /// The normalised value of column `j` at stored position `at`.
    #[inline]
    pub fn value(&self, at: u32, j: usize) -> f32 {
        let row = self.source_row[at as usize] as usize;
        normalised(
            f64::from(self.raw[row * self.d + j]),
            self.lo[j],
            self.span[j],
        )
    }

    /// Whether column `j` was constant in the raw values.
    pub fn is_constant(&self, j: usize) -> bool {
        self.span[j] == 0.0
    }

    /// The matrix rows `rows` (in the order given, all in range): the same bins (edges of
    /// the whole matrix), stored in the same grouped order.
    pub fn select(&self, rows: &[usize]) -> Binned<'a> {
        let stored_at = stored_positions(&self.row_of);
        // (stored position here, row of the new matrix), in stored order.
        let mut picks: Vec<(u32, u32)> = rows
            .iter()
            .enumerate()
            .map(|(k, &row)| (stored_at[row], k as u32))
            .collect();
        picks.sort_unstable();
        let m = picks.len();
        let mut bins = crate::pages::zeroed::<u8>(m * self.d);
        bins.par_chunks_mut(m).enumerate().for_each(|(j, out)| {
            let column = self.bins.column(j);
            for (b, &(at, _)) in out.iter_mut().zip(&picks) {
                *b = column[at as usize];
            }
        });
        Binned {
            bins: self.bins.of_rows(m, bins),
            row_of: picks.iter().map(|&(_, k)| k).collect(),
            source_row: picks
                .iter()
                .map(|&(at, _)| self.source_row[at as usize])
                .collect(),
            lo: self.lo.clone(),
            span: self.span.clone(),
            raw: self.raw,
            d: self.d,
        }
    }
}

/// The error naming the first non-finite value of `columns` in row order (the transposition
/// names one by stored position), if there is one.
fn first_non_finite(raw: &[f32], d: usize, columns: std::ops::Range<usize>) -> Option<Error> {
    let at = raw.chunks_exact(d).enumerate().find_map(|(row, values)| {
        let col = values[columns.clone()]
            .iter()
            .position(|v| !v.is_finite())?;
        Some((row, columns.start + col))
    })?;
    no_non_finite(Some(at)).err()
}

/// Where each row is stored, from the row stored at each position (`order`).
pub(crate) fn stored_positions(order: &[u32]) -> Vec<u32> {
    let mut stored_at = vec![0u32; order.len()];
    for (at, &row) in order.iter().enumerate() {
        stored_at[row as usize] = at as u32;
    }
    stored_at
}

/// The rows 0..n ordered by label (a counting sort: ascending within each label). A deep
/// node's samples are mostly of a few classes, so stored this way they lie in fewer cache
/// lines.
pub(crate) fn grouped_order(labels: &[u32]) -> Vec<u32> {
    let groups = labels.iter().map(|&g| g as usize + 1).max().unwrap_or(0);
    let mut next = vec![0usize; groups + 1];
    for &g in labels {
        next[g as usize + 1] += 1;
    }
    for g in 0..groups {
        next[g + 1] += next[g];
    }
    let mut order = vec![0u32; labels.len()];
    for (row, &g) in labels.iter().enumerate() {
        order[next[g as usize]] = row as u32;
        next[g as usize] += 1;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix::Matrix;

    #[test]
    fn bins_in_slices_are_the_bins_of_the_whole_matrix() {
        let (n, d) = (3001, 37);
        let raw: Vec<f32> = (0..n * d)
            .map(|k| match k % 5 {
                0 => 0.0,
                1 => (k % 7) as f32,
                _ => ((k * 7919) % 10_007) as f32 * 0.37 - 50.0,
            })
            .collect();
        let labels: Vec<u32> = (0..n).map(|i| (i * 31 % 4) as u32).collect();
        let whole = Matrix::from_rows_f32(n, d, |start, out| {
            out.copy_from_slice(&raw[start * d..start * d + out.len()])
        })
        .unwrap();
        let order = grouped_order(&labels);
        let bins = Bins::new(&whole, &order);
        // Five columns a slice, and one slice for all.
        for slice_bytes in [4 * n * 5, 1 << 30] {
            let binned = Binned::build_in_slices(n, d, &raw, &labels, slice_bytes).unwrap();
            assert_eq!(binned.row_of, order);
            for j in 0..d {
                assert_eq!(binned.bins.column(j), bins.column(j), "column {j}");
                let column = whole.column(j).unwrap();
                for at in [0, 17, n as u32 - 1] {
                    assert_eq!(binned.value(at, j), column[order[at as usize] as usize]);
                }
            }
        }
        let mut bad = raw.clone();
        bad[5 * d + 30] = f32::NAN;
        let e = Binned::build_in_slices(n, d, &bad, &labels, 4 * n * 5)
            .err()
            .unwrap();
        assert!(e.to_string().contains("row 5, column 30"), "{e}");
    }

    #[test]
    fn labels_group_rows_in_order() {
        assert_eq!(grouped_order(&[2, 0, 1, 0, 2]), [1, 3, 2, 0, 4]);
    }
}
