//! Quantile edges of a high-cardinality column: an evenly strided sample of its rows, sorted
//! as integer keys, cut at 255 quantiles and normalised.

use crate::matrix::normalised;
use crate::params::MAX_BINS;

/// Values sampled per column to place the quantile edges of a high-cardinality feature.
const QUANTILE_SAMPLE: usize = 1 << 14;

/// The stored positions of the rows whose values place a column's quantile edges: an even
/// stride through the rows in their own order (`stored_at[row]` is where a row is stored).
pub(crate) fn sample_positions(stored_at: Vec<u32>) -> Vec<u32> {
    let stride = sample_stride(stored_at.len());
    let mut sample: Vec<u32> = stored_at.into_iter().step_by(stride).collect();
    // Which values, not their order, place the edges: read front to back, a column's
    // sample streams in from memory.
    sample.sort_unstable();
    sample
}

pub(crate) fn sample_stride(n: usize) -> usize {
    n.div_ceil(QUANTILE_SAMPLE).max(1)
}

/// Maps an f32 to a u32 with the same order (for sorting values as integer keys).
pub(crate) fn ordered_bits(v: f32) -> u32 {
    let bits = v.to_bits();
    if bits & 0x8000_0000 != 0 {
        !bits
    } else {
        bits | 0x8000_0000
    }
}

/// The f32 whose `ordered_bits` are `key`.
pub(crate) fn from_ordered_bits(key: u32) -> f32 {
    f32::from_bits(if key & 0x8000_0000 != 0 {
        key & 0x7fff_ffff
    } else {
        !key
    })
}

/// Edges at the quantiles of an evenly strided sample of a column of normalised values.
#[cfg(test)]
pub(crate) fn quantile_edges(col: &[f32]) -> Vec<f32> {
    let sample = col.iter().step_by(sample_stride(col.len()));
    edges_of_sample(sample.map(|&v| ordered_bits(v)).collect(), (0.0, 1.0))
}

/// Edges at the quantiles of a sample of a column's raw values (as `ordered_bits`),
/// normalised from `range`: normalising keeps the order, so the quantiles of the raw
/// sample, normalised, are the quantiles of the normalised sample.
#[inline(always)]
pub(crate) fn edges_of_sample(keys: Vec<u32>, (lo, span): (f64, f64)) -> Vec<f32> {
    // The column's minimum (a sparse layer's many zeros) is set aside while sorting.
    let sorted = sort_keys(keys, ordered_bits(lo as f32));
    let m = sorted.len();
    let at = |k: usize| normalised(f64::from(from_ordered_bits(sorted.get(k))), lo, span);
    let mut edges: Vec<f32> = (1..MAX_BINS)
        .map(|k| at((k * m / MAX_BINS).min(m - 1)))
        .collect();
    edges.dedup();
    // An edge equal to the maximum would leave the last bin empty.
    if edges.last() == Some(&at(m - 1)) {
        edges.pop();
    }
    edges
}

/// Keys in order: `rest` sorted, with `count` copies of `common` at position `at`.
struct SortedKeys {
    rest: Vec<u32>,
    common: u32,
    at: usize,
    count: usize,
}

impl SortedKeys {
    fn len(&self) -> usize {
        self.rest.len() + self.count
    }

    fn get(&self, k: usize) -> u32 {
        match k.checked_sub(self.at) {
            None => self.rest[k],
            Some(past) if past < self.count => self.common,
            Some(_) => self.rest[k - self.count],
        }
    }
}

/// Sorts keys: those equal to `common` (a sparse column's many minimums) are counted and
/// set aside, the rest sorted by three digits (11, 11 and 10 bits), least significant
/// first, each a stable counting pass skipped when every key shares it. Faster here than a
/// comparison sort of a few thousand random values.
#[inline(always)]
fn sort_keys(mut keys: Vec<u32>, common: u32) -> SortedKeys {
    const DIGITS: [(u32, u32); 3] = [(0, 11), (11, 11), (22, 10)];
    let total = keys.len();
    // Without branches: in a sparse column, whether the next key is common is a coin toss.
    let mut kept = 0;
    for k in 0..total {
        let key = keys[k];
        keys[kept] = key;
        kept += usize::from(key != common);
    }
    keys.truncate(kept);
    let mut counts = [[0u32; 1 << 11]; 3];
    for &key in keys.iter() {
        for (count, &(shift, bits)) in counts.iter_mut().zip(&DIGITS) {
            count[((key >> shift) & ((1 << bits) - 1)) as usize] += 1;
        }
    }
    let mut from = keys;
    let mut to = vec![0u32; from.len()];
    for (count, &(shift, bits)) in counts.iter_mut().zip(&DIGITS) {
        if count.iter().any(|&c| c as usize == from.len()) {
            continue;
        }
        let mut next = 0;
        for c in count.iter_mut() {
            (*c, next) = (next, next + *c);
        }
        for &key in &from {
            let slot = &mut count[((key >> shift) & ((1 << bits) - 1)) as usize];
            to[*slot as usize] = key;
            *slot += 1;
        }
        std::mem::swap(&mut from, &mut to);
    }
    SortedKeys {
        at: from.partition_point(|&key| key < common),
        rest: from,
        common,
        count: total - kept,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_bits_keep_the_order_of_values_and_come_back() {
        let values = [
            f32::MIN,
            -2.5,
            -1e-30,
            -0.0,
            0.0,
            1e-40,
            1e-30,
            0.5,
            3.0,
            f32::MAX,
        ];
        for w in values.windows(2) {
            assert!(ordered_bits(w[0]) < ordered_bits(w[1]), "{w:?}");
        }
        for &v in &values {
            assert_eq!(from_ordered_bits(ordered_bits(v)).to_bits(), v.to_bits());
        }
    }

    #[test]
    fn keys_sort_as_numbers() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut uniform = move || (next() >> 40) as f32 / (1u64 << 24) as f32;
        // Sparse (mostly the minimum), spread over both signs, in a narrow range (shared
        // digits), and the edge cases: empty, all common, one value.
        let cases: Vec<Vec<f32>> = vec![
            (0..5000)
                .map(|_| if uniform() < 0.6 { -1.5 } else { uniform() })
                .collect(),
            (0..5000).map(|_| uniform() * 200.0 - 100.0).collect(),
            (0..5000)
                .map(|_| 0.5 + (uniform() * 64.0).floor() * 1e-6)
                .collect(),
            vec![],
            vec![-1.5; 7],
            vec![1.0],
        ];
        for values in cases {
            let keys: Vec<u32> = values.iter().map(|&v| ordered_bits(v)).collect();
            let mut want = keys.clone();
            want.sort_unstable();
            // Set aside: the minimum, a value in the middle, one that is not there.
            for common in [-1.5f32, 0.5, 7.0] {
                let sorted = sort_keys(keys.clone(), ordered_bits(common));
                let all: Vec<u32> = (0..sorted.len()).map(|k| sorted.get(k)).collect();
                assert_eq!(all, want);
            }
            for (&v, &key) in values.iter().zip(&keys) {
                assert_eq!(from_ordered_bits(key), v);
            }
        }
    }
}
