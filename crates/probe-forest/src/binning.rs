//! Quantile bins for the binned splitter: each feature is quantised once (per forest, or
//! once for a matrix of bins) into at most [`MAX_BINS`] bins, so that a node scores a
//! feature with one pass and a histogram.

use rayon::prelude::*;

use crate::bin_table::BinTable;
use crate::matrix::{normalised, Matrix, Ranges};
use crate::params::MAX_BINS;
use crate::quantiles::{edges_of_sample, ordered_bits, sample_stride};

/// Bin index of every value, column-major like [`Matrix`], rows in a given order.
pub(crate) struct Bins {
    n: usize,
    bins: Vec<u8>,
    /// Per column: how many of its first bins hold one value each (all of them for a
    /// column of few distinct values; bin 0 alone when an edge lies at the minimum).
    single_valued: Vec<u16>,
}

impl Bins {
    /// Bins every column of `x`, storing the rows in `order` (stored position r holds row
    /// order[r]): the forest stores them grouped by label, so that a deep node, whose
    /// samples are mostly of a few classes, gathers them from fewer cache lines.
    pub(crate) fn new(x: &Matrix<'_>, order: &[u32]) -> Bins {
        let n = x.n_rows();
        let mut bins = crate::pages::zeroed::<u8>(n * x.n_cols());
        let single_valued = Bins::fill(x, order, &mut bins);
        Bins {
            n,
            bins,
            single_valued,
        }
    }

    /// Writes the bins of every column of `x` (a matrix of values), rows in `order`, into
    /// `out`, column after column; returns how many first bins of each hold one value.
    pub(crate) fn fill(x: &Matrix<'_>, order: &[u32], out: &mut [u8]) -> Vec<u16> {
        let n = order.len();
        out.par_chunks_mut(n)
            .enumerate()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(stored, slots), (j, out)| {
                    let col = x.column(j).expect("binning a matrix of values");
                    bin_column(col, order, out, stored, slots)
                },
            )
            .collect()
    }

    /// As [`fill`](Self::fill) for raw column-major values already in stored order, and
    /// their columns' ranges; `sample_at` holds the stored positions of the rows sampled
    /// for quantile edges ([`sample_positions`]). Values are normalised as they are binned.
    pub(crate) fn fill_raw(
        raw: &[f32],
        ranges: &Ranges,
        n: usize,
        sample_at: &[u32],
        out: &mut [u8],
    ) -> Vec<u16> {
        out.par_chunks_mut(n)
            .zip(raw.par_chunks(n))
            .zip(ranges.lo.par_iter().zip(&ranges.span))
            .map_init(Vec::new, |slots, ((out, raw), (&lo, &span))| {
                bin_raw_column(raw, (lo, span), sample_at, out, slots)
            })
            .collect()
    }

    /// Bins already computed: n per column, column after column, with how many first bins
    /// of each hold one value.
    pub(crate) fn from_parts(n: usize, bins: Vec<u8>, single_valued: Vec<u16>) -> Bins {
        Bins {
            n,
            bins,
            single_valued,
        }
    }

    pub(crate) fn column(&self, j: usize) -> &[u8] {
        &self.bins[j * self.n..(j + 1) * self.n]
    }

    /// Whether every value of column `j` in bin `b` is the same: the bin then tells the
    /// value.
    pub(crate) fn single_valued(&self, j: usize, b: u8) -> bool {
        u16::from(b) < self.single_valued[j]
    }

    /// The bins of a selection of rows, `bins` (m per column), cut by the same edges: a bin
    /// that held one value still does.
    pub(crate) fn of_rows(&self, m: usize, bins: Vec<u8>) -> Bins {
        Bins {
            n: m,
            bins,
            single_valued: self.single_valued.clone(),
        }
    }
}

/// Bins one column of raw values in stored order (see `bin_stored`), from the copy compiled
/// for AVX2 where the CPU has it.
fn bin_raw_column(
    raw: &[f32],
    range: (f64, f64),
    sample_at: &[u32],
    out: &mut [u8],
    slots: &mut Vec<u16>,
) -> u16 {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_avx2() {
        // SAFETY: the CPU has the features the copy is compiled for.
        return unsafe { bin_raw_column_avx2(raw, range, sample_at, out, slots) };
    }
    bin_raw_column_plain(raw, range, sample_at, out, slots)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
/// # Safety
/// The CPU has AVX2 and POPCNT.
unsafe fn bin_raw_column_avx2(
    raw: &[f32],
    range: (f64, f64),
    sample_at: &[u32],
    out: &mut [u8],
    slots: &mut Vec<u16>,
) -> u16 {
    bin_raw_column_plain(raw, range, sample_at, out, slots)
}

#[inline(always)]
fn bin_raw_column_plain(
    raw: &[f32],
    range: (f64, f64),
    sample_at: &[u32],
    out: &mut [u8],
    slots: &mut Vec<u16>,
) -> u16 {
    let sample = || {
        let keys = sample_at.iter().map(|&at| ordered_bits(raw[at as usize]));
        keys.collect()
    };
    bin_stored(raw, range, sample, out, slots)
}

/// Bins one column of normalised values, rows in `order` (`stored`, `slots`: scratch), as
/// `bin_stored` does with the column's values gathered in that order.
#[inline(always)]
fn bin_column(
    col: &[f32],
    order: &[u32],
    out: &mut [u8],
    stored: &mut Vec<f32>,
    slots: &mut Vec<u16>,
) -> u16 {
    stored.clear();
    stored.extend(order.iter().map(|&row| col[row as usize]));
    let sample = || {
        let keys = col.iter().step_by(sample_stride(col.len()));
        keys.map(|&v| ordered_bits(v)).collect()
    };
    // Already normalised: mapping [0, 1] to itself changes no value.
    let identity = (0.0, 1.0);
    bin_stored(stored, identity, sample, out, slots)
}

/// Bins one column of values in stored order, normalised from `range` (lo, span) as they
/// are read (`slots`: scratch). A column with at most `MAX_BINS` distinct normalised values
/// gets one bin per value, which makes the binned splitter see exactly the thresholds the
/// exact one sees; others get bins of roughly equal counts, with edges at quantiles of
/// `sample()` (an evenly strided sample of the rows, as `ordered_bits`, taken only for such
/// columns). Either way a value's bin is the number of edges strictly below it. Returns how
/// many first bins hold one value each.
#[inline(always)]
fn bin_stored(
    values: &[f32],
    range: (f64, f64),
    sample: impl FnOnce() -> Vec<u32>,
    out: &mut [u8],
    slots: &mut Vec<u16>,
) -> u16 {
    if let Some(set) = DistinctSet::of(values, range, slots) {
        // With an edge at every distinct value but the largest, a value's bin is its rank.
        let rank = set.ranks();
        for (b, &slot) in out.iter_mut().zip(slots.iter()) {
            *b = rank[slot as usize];
        }
        return MAX_BINS as u16;
    }
    let edges = edges_of_sample(sample(), range);
    // Normalised, the column's minimum is 0: an edge there leaves it alone in bin 0 (a
    // sparse layer's zeros).
    let single_valued = u16::from(edges.first() == Some(&0.0));
    BinTable::new(&edges, range).bin_all(values, out);
    single_valued
}

/// An open-addressing set of a column's distinct values (their bits), at most half full,
/// found with the slot of every value on the way, so that a column of few values is binned
/// without searching for each value's bin.
struct DistinctSet {
    slots: [u32; DistinctSet::SLOTS],
}

impl DistinctSet {
    const SLOTS: usize = 2 * MAX_BINS;
    /// u32::MAX (a NaN, which a normalised column never holds) marks an empty slot.
    const EMPTY: u32 = u32::MAX;

    /// The set of the normalised `values` (see `bin_stored`) with `slot_of[i]` the slot of
    /// value i, or `None` as soon as there are more than `MAX_BINS` distinct ones.
    #[inline(always)]
    fn of(values: &[f32], (lo, span): (f64, f64), slot_of: &mut Vec<u16>) -> Option<DistinctSet> {
        let mut slots = [Self::EMPTY; Self::SLOTS];
        let mut count = 0;
        slot_of.clear();
        // Normalised a few at a time, in vector registers, and hashed one by one.
        let mut chunk = [0f32; 64];
        for part in values.chunks(chunk.len()) {
            for (c, &x) in chunk.iter_mut().zip(part) {
                *c = normalised(f64::from(x), lo, span);
            }
            for &v in &chunk[..part.len()] {
                let bits = v.to_bits();
                let mut at = (bits.wrapping_mul(0x9e37_79b1) >> 23) as usize;
                loop {
                    match slots[at] {
                        b if b == bits => break,
                        Self::EMPTY => {
                            if count == MAX_BINS {
                                return None;
                            }
                            slots[at] = bits;
                            count += 1;
                            break;
                        }
                        _ => at = (at + 1) % Self::SLOTS,
                    }
                }
                slot_of.push(at as u16);
            }
        }
        Some(DistinctSet { slots })
    }

    /// The occupied slots, in the order of their values.
    fn sorted_slots(&self) -> Vec<usize> {
        let mut used: Vec<usize> = (0..Self::SLOTS)
            .filter(|&at| self.slots[at] != Self::EMPTY)
            .collect();
        used.sort_unstable_by(|&a, &b| {
            f32::from_bits(self.slots[a]).total_cmp(&f32::from_bits(self.slots[b]))
        });
        used
    }

    /// Each slot's value's rank among the distinct values.
    fn ranks(&self) -> [u8; Self::SLOTS] {
        let mut rank = [0u8; Self::SLOTS];
        for (r, at) in self.sorted_slots().into_iter().enumerate() {
            rank[at] = r as u8;
        }
        rank
    }

    /// The distinct values, ascending.
    #[cfg(test)]
    fn values(&self) -> Vec<f32> {
        let sorted = self.sorted_slots().into_iter();
        sorted.map(|at| f32::from_bits(self.slots[at])).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binned::stored_positions;
    use crate::quantiles::{quantile_edges, sample_positions};

    fn bin_column(col: &[f32]) -> Vec<u8> {
        let order: Vec<u32> = (0..col.len() as u32).collect();
        let mut out = vec![0u8; col.len()];
        super::bin_column(col, &order, &mut out, &mut Vec::new(), &mut Vec::new());
        out
    }

    fn distinct_values(col: &[f32]) -> Option<Vec<f32>> {
        DistinctSet::of(col, (0.0, 1.0), &mut Vec::new()).map(|set| set.values())
    }

    /// The edges `bin_column` uses: every distinct value but the largest, or quantiles.
    fn column_edges(col: &[f32]) -> Vec<f32> {
        match distinct_values(col) {
            Some(mut distinct) => {
                distinct.pop();
                distinct
            }
            None => quantile_edges(col),
        }
    }

    #[test]
    fn bins_are_the_count_of_edges_below() {
        let col: Vec<f32> = (0..20_000)
            .map(|i| {
                let u = ((i * 7919) % 20_011) as f32 / 20_011.0;
                if i % 3 == 0 {
                    0.0
                } else {
                    u * u
                }
            })
            .collect();
        let out = bin_column(&col);
        let edges = quantile_edges(&col);
        for (&v, &b) in col.iter().zip(&out) {
            assert_eq!(b as usize, edges.partition_point(|&e| e < v), "{v}");
        }
    }

    #[test]
    fn more_than_256_distinct_values_are_found_out() {
        let col: Vec<f32> = (0..257).map(|i| i as f32 / 256.0).collect();
        assert!(distinct_values(&col).is_none());
        assert_eq!(distinct_values(&col[1..]).map(|d| d.len()), Some(256));
        let sorted = distinct_values(&[0.5, 0.25, 0.5, 0.0, 0.25]).unwrap();
        assert_eq!(sorted, [0.0, 0.25, 0.5]);
    }

    #[test]
    fn a_few_valued_column_is_binned_by_rank_in_the_given_order() {
        // 256 levels (the most that get a bin each), squared so that they crowd near 0.
        let col: Vec<f32> = (0..20_000)
            .map(|i| ((i * 7919 % 256) as f32 / 255.0).powi(2))
            .collect();
        let edges = column_edges(&col);
        assert_eq!(edges.len(), 255);
        let order: Vec<u32> = (0..col.len() as u32).rev().step_by(3).collect();
        let mut out = vec![0u8; order.len()];
        super::bin_column(&col, &order, &mut out, &mut Vec::new(), &mut Vec::new());
        for (&b, &row) in out.iter().zip(&order) {
            let want = edges.partition_point(|&e| e < col[row as usize]);
            assert_eq!(b as usize, want, "row {row}");
        }
    }

    /// Raw values bin as their normalised values do, on the copy this CPU runs (compiled for
    /// AVX2 where it has it) and on the plain one.
    #[test]
    fn raw_values_bin_as_their_normalised_values() {
        let n = 30_000;
        let sparse: Vec<f32> = (0..n)
            .map(|i| match i % 3 {
                0 => ((i * 7919) % 10_007) as f32 * 0.37,
                _ => 0.0,
            })
            .collect();
        let levels: Vec<f32> = (0..n).map(|i| ((i * 31) % 200) as f32 - 7.0).collect();
        let signed: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 20_011) as f32 * 0.01 - 100.0)
            .collect();
        // A far minimum: 1,000 distinct values near 0 normalise to a handful.
        let merged: Vec<f32> = (0..n)
            .map(|i| {
                if i == 7 {
                    -1e6
                } else {
                    (i % 1000) as f32 * 1e-4
                }
            })
            .collect();
        let order: Vec<u32> = (0..n as u32).rev().collect();
        let sample_at = sample_positions(stored_positions(&order));
        for raw in [sparse, levels, signed, merged] {
            let lo = raw.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = raw.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let range = (f64::from(lo), f64::from(hi) - f64::from(lo));
            let col: Vec<f32> = raw
                .iter()
                .map(|&x| normalised(f64::from(x), range.0, range.1))
                .collect();
            let mut want = vec![0u8; n];
            let want_single =
                super::bin_column(&col, &order, &mut want, &mut Vec::new(), &mut Vec::new());
            let stored: Vec<f32> = order.iter().map(|&r| raw[r as usize]).collect();
            let (mut a, mut b) = (vec![0u8; n], vec![0u8; n]);
            let plain = bin_raw_column_plain(&stored, range, &sample_at, &mut a, &mut Vec::new());
            let run = bin_raw_column(&stored, range, &sample_at, &mut b, &mut Vec::new());
            assert_eq!((plain, &a), (want_single, &want));
            assert_eq!((run, &b), (want_single, &want));
        }
    }

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let col = [0.5f32, 0.0, 1.0, 0.5, 0.25];
        assert_eq!(bin_column(&col), [2, 0, 3, 2, 1]);
    }

    #[test]
    fn many_distinct_values_fill_at_most_256_ordered_bins() {
        let col: Vec<f32> = (0..100_000)
            .map(|i| ((i * 7919) % 100_003) as f32)
            .collect();
        let out = bin_column(&col);
        let mut counts = [0usize; 256];
        for &b in &out {
            counts[b as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 0), "every bin is used");
        // Bins preserve the order of values.
        let mut pairs: Vec<(f32, u8)> = col.iter().copied().zip(out.iter().copied()).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(pairs.windows(2).all(|w| w[0].1 <= w[1].1));
        // Roughly equal counts.
        assert!(
            counts.iter().all(|&c| (200..=600).contains(&c)),
            "{counts:?}"
        );
    }
}
