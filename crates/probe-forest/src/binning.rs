//! Quantile bins for the binned splitter: each feature is quantised once per forest into at
//! most [`MAX_BINS`] bins, so that a node scores a feature with one pass and a histogram.

use rayon::prelude::*;

use crate::matrix::Matrix;
use crate::params::MAX_BINS;

/// Values sampled per column to place the quantile edges of a high-cardinality feature.
const QUANTILE_SAMPLE: usize = 1 << 14;

/// Bin index of every value, column-major like [`Matrix`].
pub(crate) struct Bins {
    n: usize,
    bins: Vec<u8>,
}

impl Bins {
    pub(crate) fn new(x: &Matrix) -> Bins {
        let n = x.n_rows();
        let mut bins = crate::pages::zeroed::<u8>(n * x.n_cols());
        bins.par_chunks_mut(n)
            .enumerate()
            .for_each(|(j, out)| bin_column(x.column(j), out));
        Bins { n, bins }
    }

    pub(crate) fn column(&self, j: usize) -> &[u8] {
        &self.bins[j * self.n..(j + 1) * self.n]
    }
}

/// A feature with at most `MAX_BINS` distinct values gets one bin per value, which makes the
/// binned splitter see exactly the thresholds the exact one sees; other features get bins of
/// roughly equal counts, with edges at quantiles of an evenly strided sample.
fn bin_column(col: &[f32], out: &mut [u8]) {
    let edges = match distinct_values(col) {
        Some(mut distinct) => {
            distinct.pop(); // the largest value needs no upper edge
            distinct
        }
        None => quantile_edges(col),
    };
    // bin = number of edges strictly below v; at most MAX_BINS - 1 edges, so it fits u8.
    // Values lie in [0, 1]: a table of the bin at the start of each of LUT_SIZE equal
    // slices leaves a step or two of search per value. An infinite last edge ends every
    // search without a bounds test.
    let mut padded = edges;
    padded.push(f32::INFINITY);
    let mut lut = [0u8; LUT_SIZE + 1];
    let mut bin = 0;
    for (k, slot) in lut.iter_mut().enumerate() {
        let start = k as f32 / LUT_SIZE as f32;
        while padded[bin] < start {
            bin += 1;
        }
        *slot = bin as u8;
    }
    for (b, &v) in out.iter_mut().zip(col) {
        let slice = ((v * LUT_SIZE as f32) as usize).min(LUT_SIZE);
        let mut bin = lut[slice] as usize;
        while padded[bin] < v {
            bin += 1;
        }
        *b = bin as u8;
    }
}

/// Slices of [0, 1] in the table that starts each value's bin search.
const LUT_SIZE: usize = 4096;

/// The sorted distinct values, or `None` as soon as there are more than `MAX_BINS`.
fn distinct_values(col: &[f32]) -> Option<Vec<f32>> {
    let mut distinct: Vec<f32> = Vec::with_capacity(MAX_BINS + 1);
    for &v in col {
        if let Err(pos) = distinct.binary_search_by(|e| e.total_cmp(&v)) {
            if distinct.len() == MAX_BINS {
                return None;
            }
            distinct.insert(pos, v);
        }
    }
    Some(distinct)
}

fn quantile_edges(col: &[f32]) -> Vec<f32> {
    let stride = col.len().div_ceil(QUANTILE_SAMPLE).max(1);
    // Normalised values are non-negative, so their bits sort as the values do.
    let mut bits: Vec<u32> = col.iter().step_by(stride).map(|v| v.to_bits()).collect();
    bits.sort_unstable();
    let sample: Vec<f32> = bits.into_iter().map(f32::from_bits).collect();
    let m = sample.len();
    let mut edges: Vec<f32> = (1..MAX_BINS)
        .map(|k| sample[(k * m / MAX_BINS).min(m - 1)])
        .collect();
    edges.dedup();
    // An edge equal to the maximum would leave the last bin empty.
    if edges.last() == sample.last() {
        edges.pop();
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut out = vec![0u8; col.len()];
        bin_column(&col, &mut out);
        let edges = quantile_edges(&col);
        for (&v, &b) in col.iter().zip(&out) {
            assert_eq!(b as usize, edges.partition_point(|&e| e < v), "{v}");
        }
    }

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let col = [0.5f32, 0.0, 1.0, 0.5, 0.25];
        let mut out = [0u8; 5];
        bin_column(&col, &mut out);
        assert_eq!(out, [2, 0, 3, 2, 1]);
    }

    #[test]
    fn many_distinct_values_fill_at_most_256_ordered_bins() {
        let col: Vec<f32> = (0..100_000)
            .map(|i| ((i * 7919) % 100_003) as f32)
            .collect();
        let mut out = vec![0u8; col.len()];
        bin_column(&col, &mut out);
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
