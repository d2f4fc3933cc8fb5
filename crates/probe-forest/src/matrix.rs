//! Training inputs, normalised per column to [0, 1] (SPEC §2 step 1) and stored column-major,
//! which is the order in which a node reads a candidate feature.

use rayon::prelude::*;

use crate::binned::Binned;
use crate::error::{Error, Result};
use crate::scatter::scatter_columns;

/// Rows decoded per block while reading the source (keeps the f64 buffer near 512 KiB).
const BLOCK_VALUES: usize = 1 << 16;

/// An n × d matrix normalised to [0, 1] per column: its values, as f32 in column-major
/// order, or (for the binned splitter only, see [`binned`](Matrix::binned)) its bins, with
/// the raw values it borrows to read back the few that a tree needs exactly.
///
/// The values are rounded to f32 after normalising in f64, as scikit-learn's trees do with
/// their float64 input, so thresholds fall on the same grid as the reference's.
pub struct Matrix<'a> {
    n: usize,
    d: usize,
    layout: Layout<'a>,
}

enum Layout<'a> {
    Values(Vec<f32>),
    Binned(Binned<'a>),
}

impl std::fmt::Debug for Matrix<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let layout = match self.layout {
            Layout::Values(_) => "values",
            Layout::Binned(_) => "bins",
        };
        write!(f, "Matrix({} x {}, {layout})", self.n, self.d)
    }
}

impl Matrix<'static> {
    /// Normalises a row-major source. `read_rows(start, out)` fills `out` with rows
    /// `start..start + out.len() / d`, as f64. It is called from several threads; each row
    /// is read twice (once for the column ranges, once to normalise).
    pub fn from_rows<F>(n: usize, d: usize, read_rows: F) -> Result<Matrix<'static>>
    where
        F: Fn(usize, &mut [f64]) + Sync,
    {
        check_shape(n, d)?;
        let rows_per_block = (BLOCK_VALUES / d).max(1);
        let n_blocks = n.div_ceil(rows_per_block);
        let block_rows = |b: usize| {
            let start = b * rows_per_block;
            (start, rows_per_block.min(n - start))
        };

        let (lo, hi, bad) = (0..n_blocks)
            .into_par_iter()
            .map_init(Vec::new, |buf, b| {
                let (start, rows) = block_rows(b);
                buf.resize(rows * d, 0.0);
                read_rows(start, buf);
                let mut lo = vec![f64::INFINITY; d];
                let mut hi = vec![f64::NEG_INFINITY; d];
                let mut bad = None;
                for (r, row) in buf.chunks_exact(d).enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        if !v.is_finite() {
                            bad = bad.or(Some((start + r, j)));
                        }
                        lo[j] = lo[j].min(v);
                        hi[j] = hi[j].max(v);
                    }
                }
                (lo, hi, bad)
            })
            .reduce(
                || (vec![f64::INFINITY; d], vec![f64::NEG_INFINITY; d], None),
                |(mut lo, mut hi, bad), (lo2, hi2, bad2)| {
                    for j in 0..d {
                        lo[j] = lo[j].min(lo2[j]);
                        hi[j] = hi[j].max(hi2[j]);
                    }
                    (lo, hi, min_position(bad, bad2))
                },
            );
        no_non_finite(bad)?;

        // Each block of rows is decoded once and scattered into the columns; blocks are
        // tall enough that each column receives a few cache lines at a time.
        let tall = rows_per_block.max(TRANSPOSE_ROWS).min(n);
        let mut values = crate::pages::zeroed::<f32>(n * d);
        let out = SharedOut(values.as_mut_ptr());
        (0..n.div_ceil(tall))
            .into_par_iter()
            .for_each_init(Vec::new, |buf, b| {
                let start = b * tall;
                let rows = tall.min(n - start);
                buf.resize(rows * d, 0.0);
                read_rows(start, buf);
                for j in 0..d {
                    let span = hi[j] - lo[j];
                    for r in 0..rows {
                        let v = normalised(buf[r * d + j], lo[j], span);
                        // SAFETY: `values` holds n·d elements and outlives the loop; block
                        // `b` alone writes rows start..start + rows, so no element is written
                        // twice or read while written.
                        unsafe { out.write(j * n + start + r, v) };
                    }
                }
            });
        Ok(Matrix::values(n, d, values))
    }

    /// As [`from_rows`](Self::from_rows) for a source whose values are f32 (or narrower:
    /// f16, bf16), with the same result: `read_rows(start, out)` fills `out` with rows
    /// `start..start + out.len() / d`. Each row is read once: its raw values go straight to
    /// their columns while the column ranges are found, and each column is then normalised
    /// in place, which is exact because an f32 converts to f64 without loss.
    pub fn from_rows_f32<F>(n: usize, d: usize, read_rows: F) -> Result<Matrix<'static>>
    where
        F: Fn(usize, &mut [f32]) + Sync,
    {
        let (mut values, ranges) = transposed_f32_into(n, d, 0, read_rows, Vec::new())?;
        values
            .par_chunks_mut(n)
            .zip(ranges.lo.par_iter().zip(&ranges.span))
            .for_each(|(column, (&lo, &span))| {
                for v in column {
                    *v = normalised(f64::from(*v), lo, span);
                }
            });
        Ok(Matrix::values(n, d, values))
    }

    /// Normalises a row-major slice of n·d values.
    pub fn from_row_major(n: usize, d: usize, data: &[f64]) -> Result<Matrix<'static>> {
        if data.len() != n * d {
            return Err(Error::InvalidData(format!(
                "{} values do not make a {n} x {d} matrix",
                data.len()
            )));
        }
        Matrix::from_rows(n, d, |start, out| {
            out.copy_from_slice(&data[start * d..start * d + out.len()])
        })
    }

    fn values(n: usize, d: usize, values: Vec<f32>) -> Matrix<'static> {
        Matrix {
            n,
            d,
            layout: Layout::Values(values),
        }
    }
}

impl<'a> Matrix<'a> {
    /// The bins of n × d raw row-major f32 values (a mapped file, an array), for the binned
    /// splitter only: each column is binned exactly as the binned splitter bins
    /// [`from_rows_f32`](Matrix::from_rows_f32)'s matrix of the same values, but only a
    /// slice of the columns is normalised at a time, so the matrix keeps one byte per value
    /// and the trees read the few values they need exactly from `raw`, which it borrows.
    /// Rows are stored grouped by `group` (one entry per row: the labels), which changes
    /// only how fast the trees gather them.
    pub fn binned(n: usize, d: usize, raw: &'a [f32], group: &[u32]) -> Result<Matrix<'a>> {
        let binned = Binned::build(n, d, raw, group)?;
        Ok(Matrix {
            n,
            d,
            layout: Layout::Binned(binned),
        })
    }

    /// Number of rows (samples).
    pub fn n_rows(&self) -> usize {
        self.n
    }

    /// Number of columns (features).
    pub fn n_cols(&self) -> usize {
        self.d
    }

    /// Normalised values of column `j`, one per row; `None` for a matrix of bins.
    pub fn column(&self, j: usize) -> Option<&[f32]> {
        match &self.layout {
            Layout::Values(values) => Some(&values[j * self.n..(j + 1) * self.n]),
            Layout::Binned(_) => None,
        }
    }

    /// Whether column `j` was constant in the data the matrix was normalised from (it is
    /// then 0 everywhere).
    pub fn is_constant(&self, j: usize) -> bool {
        match &self.layout {
            Layout::Values(values) => values[j * self.n..(j + 1) * self.n]
                .iter()
                .all(|&v| v == 0.0),
            Layout::Binned(binned) => binned.is_constant(j),
        }
    }

    /// The matrix of bins, if it is one.
    pub(crate) fn binned_layout(&self) -> Option<&Binned<'a>> {
        match &self.layout {
            Layout::Values(_) => None,
            Layout::Binned(binned) => Some(binned),
        }
    }

    /// The rows `rows` (in the order given), keeping this matrix's normalisation: the trees
    /// only compare values within a column, so a subsample need not be rescaled to [0, 1]
    /// to split where it would if it were the whole data set.
    ///
    /// Fails with [`Error::InvalidData`] when `rows` is empty or names a row past the end.
    pub fn select_rows(&self, rows: &[usize]) -> Result<Matrix<'a>> {
        if rows.is_empty() {
            return Err(Error::InvalidData("no rows selected".into()));
        }
        if let Some(&bad) = rows.iter().find(|&&r| r >= self.n) {
            return Err(Error::InvalidData(format!(
                "row {bad} selected from a matrix of {} rows",
                self.n
            )));
        }
        let layout = match &self.layout {
            Layout::Values(all) => {
                let mut values = crate::pages::zeroed::<f32>(rows.len() * self.d);
                values
                    .par_chunks_mut(rows.len())
                    .zip(all.par_chunks(self.n))
                    .for_each(|(out, column)| {
                        for (v, &r) in out.iter_mut().zip(rows) {
                            *v = column[r];
                        }
                    });
                Layout::Values(values)
            }
            Layout::Binned(binned) => Layout::Binned(binned.select(rows)),
        };
        Ok(Matrix {
            n: rows.len(),
            d: self.d,
            layout,
        })
    }
}

/// Each column's minimum and span (maximum − minimum), as the normalisation used them.
pub(crate) struct Ranges {
    pub lo: Vec<f64>,
    pub span: Vec<f64>,
}

/// An empty matrix is refused: a forest needs at least one row and one column.
pub(crate) fn check_shape(n: usize, d: usize) -> Result<()> {
    if n == 0 || d == 0 {
        return Err(Error::InvalidData(format!(
            "the matrix is {n} x {d}; it needs at least one row and one column"
        )));
    }
    Ok(())
}

/// The error for the first non-finite value found, if any.
pub(crate) fn no_non_finite(first: Option<(usize, usize)>) -> Result<()> {
    match first {
        Some((row, col)) => Err(Error::InvalidData(format!(
            "non-finite value at row {row}, column {col}"
        ))),
        None => Ok(()),
    }
}

/// The raw values of a row-major f32 source (see [`Matrix::from_rows_f32`]) in column-major
/// order, written into `values` (resized; contents overwritten), with each column's minimum
/// and span; the first non-finite value is named by its row and its column counted from
/// `first_col`.
pub(crate) fn transposed_f32_into<F>(
    n: usize,
    d: usize,
    first_col: usize,
    read_rows: F,
    mut values: Vec<f32>,
) -> Result<(Vec<f32>, Ranges)>
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    check_shape(n, d)?;
    // Whole 16-row runs, so that a block's columns fill whole cache lines (see `scatter`).
    let tall = ((BLOCK_VALUES / d) / 16 * 16).max(TRANSPOSE_ROWS).min(n);
    if values.capacity() < n * d {
        values = crate::pages::zeroed::<f32>(n * d);
    } else {
        values.resize(n * d, 0.0);
    }
    let out = SharedOut(values.as_mut_ptr());
    let empty = || (vec![f32::INFINITY; d], vec![f32::NEG_INFINITY; d], None);
    let (lo, hi, bad) = (0..n.div_ceil(tall))
        .into_par_iter()
        .fold(
            || (empty(), Vec::new()),
            |((mut lo, mut hi, mut bad), mut buf), b| {
                let start = b * tall;
                let rows = tall.min(n - start);
                buf.resize(rows * d, 0.0);
                read_rows(start, &mut buf);
                // SAFETY: `values` holds n·d elements and outlives the loop; block `b` alone
                // writes rows start..start + rows.
                let finite =
                    unsafe { scatter_columns(&buf, rows, d, out, n, start, &mut lo, &mut hi) };
                if !finite {
                    let first = buf
                        .iter()
                        .position(|v| !v.is_finite())
                        .expect("a non-finite value");
                    bad = min_position(bad, Some((start + first / d, first % d)));
                }
                ((lo, hi, bad), buf)
            },
        )
        .map(|(ranges, _)| ranges)
        .reduce(empty, |(mut lo, mut hi, bad), (lo2, hi2, bad2)| {
            for j in 0..d {
                lo[j] = lo[j].min(lo2[j]);
                hi[j] = hi[j].max(hi2[j]);
            }
            (lo, hi, min_position(bad, bad2))
        });
    no_non_finite(bad.map(|(row, col)| (row, first_col + col)))?;
    let lo: Vec<f64> = lo.into_iter().map(f64::from).collect();
    let span: Vec<f64> = hi.iter().zip(&lo).map(|(&h, l)| f64::from(h) - l).collect();
    Ok((values, Ranges { lo, span }))
}

/// `x` mapped from [lo, lo + span] to [0, 1] in f64, then rounded to f32; a constant column
/// (span 0) becomes 0.
pub(crate) fn normalised(x: f64, lo: f64, span: f64) -> f32 {
    if span > 0.0 {
        ((x - lo) / span) as f32
    } else {
        0.0
    }
}

/// Rows decoded together when normalising into columns.
const TRANSPOSE_ROWS: usize = 64;

/// The output of the parallel transpose: disjoint elements written from several threads.
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(*mut f32);

// SAFETY: every thread writes a disjoint set of elements (see the caller).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// # Safety
    /// `at` is in bounds and no other thread touches it.
    pub(crate) unsafe fn write(self, at: usize, v: f32) {
        unsafe { self.0.add(at).write(v) }
    }

    /// Where element `at` lives.
    ///
    /// # Safety
    /// `at` is in bounds.
    pub(crate) unsafe fn at(self, at: usize) -> *mut f32 {
        unsafe { self.0.add(at) }
    }

    /// The output's address, to check its alignment.
    pub(crate) fn address(self) -> usize {
        self.0 as usize
    }
}

fn min_position(a: Option<(usize, usize)>, b: Option<(usize, usize)>) -> Option<(usize, usize)> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scatter::scatter_columns_plain;

    #[test]
    fn normalises_each_column_to_unit_range() {
        let data = [1.0, 5.0, 2.0, 2.0, 7.0, 2.0, 3.0, 7.0, 2.0];
        let m = Matrix::from_row_major(3, 3, &data).unwrap();
        assert_eq!(m.column(0).unwrap(), &[0.0, 0.5, 1.0]);
        assert_eq!(m.column(1).unwrap(), &[0.0, 1.0, 1.0]);
        // A constant column becomes 0.
        assert_eq!(m.column(2).unwrap(), &[0.0, 0.0, 0.0]);
    }

    #[test]
    fn selected_rows_keep_the_normalisation() {
        let data = [0.0, 10.0, 1.0, 20.0, 2.0, 30.0, 4.0, 40.0];
        let m = Matrix::from_row_major(4, 2, &data).unwrap();
        let s = m.select_rows(&[3, 1]).unwrap();
        assert_eq!((s.n_rows(), s.n_cols()), (2, 2));
        assert_eq!(s.column(0).unwrap(), &[1.0, 0.25]);
        assert_eq!(s.column(1).unwrap(), &[1.0, 1.0 / 3.0]);
        assert!(m.select_rows(&[]).is_err());
        assert!(m
            .select_rows(&[4])
            .unwrap_err()
            .to_string()
            .contains("row 4"));
    }

    #[test]
    fn f32_sources_normalise_exactly_as_f64_ones() {
        let (n, d) = (3001, 37);
        let data: Vec<f32> = (0..n * d)
            .map(|k| ((k * 7919) % 1013) as f32 * 0.37 - 50.0 + (k % 3) as f32 * 1e-3)
            .collect();
        let wide: Vec<f64> = data.iter().map(|&v| f64::from(v)).collect();
        let a = Matrix::from_row_major(n, d, &wide).unwrap();
        let b = Matrix::from_rows_f32(n, d, |start, out| {
            out.copy_from_slice(&data[start * d..start * d + out.len()])
        })
        .unwrap();
        for j in 0..d {
            assert_eq!(a.column(j), b.column(j), "column {j}");
        }
        let mut bad = data.clone();
        bad[5 * d + 2] = f32::NAN;
        bad[9 * d + 1] = f32::INFINITY;
        let e = Matrix::from_rows_f32(n, d, |start, out| {
            out.copy_from_slice(&bad[start * d..start * d + out.len()])
        })
        .unwrap_err();
        assert!(e.to_string().contains("row 5, column 2"), "{e}");
        // Only an infinity, in a column past the last group of eight, in a later block.
        let mut bad = data.clone();
        bad[2000 * d + 35] = f32::NEG_INFINITY;
        let e = Matrix::from_rows_f32(n, d, |start, out| {
            out.copy_from_slice(&bad[start * d..start * d + out.len()])
        })
        .unwrap_err();
        assert!(e.to_string().contains("row 2000, column 35"), "{e}");
    }

    /// The copy this CPU runs (compiled for AVX2 where it has it) transposes as the plain one,
    /// whether or not the output's columns line up with cache lines.
    #[test]
    fn the_copy_this_cpu_runs_transposes_as_the_plain_one() {
        let (rows, d) = (70, 21);
        let mut block: Vec<f32> = (0..rows * d)
            .map(|k| ((k * 7919) % 1013) as f32 - 500.0)
            .collect();
        // (rows a column, first row written, where the output starts in its buffer).
        let layouts = [
            (70, 0, 0),
            (96, 16, 0),
            (96, 16, 3),
            (96, 16, 8),
            (128, 32, 13),
        ];
        for bad in [None, Some(f32::INFINITY), Some(f32::NAN)] {
            if let Some(v) = bad {
                block[33 * d + 2] = v;
            }
            for (n, start, offset) in layouts {
                let mut outs = Vec::new();
                for plain in [true, false] {
                    let mut values = vec![0f32; n * d + 16];
                    let (mut lo, mut hi) = (vec![f32::INFINITY; d], vec![f32::NEG_INFINITY; d]);
                    let out = SharedOut(values[offset..].as_mut_ptr());
                    // SAFETY: the output holds n·d elements past `offset`, rows start..start
                    // + rows are in range, written by this thread only.
                    let finite = unsafe {
                        match plain {
                            true => scatter_columns_plain(
                                &block, rows, d, out, n, start, &mut lo, &mut hi,
                            ),
                            false => {
                                scatter_columns(&block, rows, d, out, n, start, &mut lo, &mut hi)
                            }
                        }
                    };
                    let bits: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
                    outs.push((finite, bits, lo, hi));
                }
                assert_eq!(outs[0], outs[1], "{n} {start} {offset}");
                assert_eq!(outs[0].0, bad.is_none());
            }
        }
    }

    #[test]
    fn reports_first_non_finite_value() {
        let data = [1.0, 2.0, 3.0, f64::NAN, 5.0, f64::INFINITY];
        let e = Matrix::from_row_major(3, 2, &data).unwrap_err();
        assert!(e.to_string().contains("row 1, column 1"), "{e}");
    }

    #[test]
    fn reads_sources_larger_than_one_block() {
        let (n, d) = (3000, 50);
        let data: Vec<f64> = (0..n * d).map(|k| ((k * 7919) % 1013) as f64).collect();
        let m = Matrix::from_row_major(n, d, &data).unwrap();
        for j in [0, 17, 49] {
            let col: Vec<f64> = (0..n).map(|i| data[i * d + j]).collect();
            let lo = col.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = col.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            for i in [0, 1234, n - 1] {
                assert_eq!(m.column(j).unwrap()[i], ((col[i] - lo) / (hi - lo)) as f32);
            }
        }
    }
}
