//! A column's bin search: a table over the bits of normalised values, sliced finely enough
//! that a slice holds at most one edge, so a value's bin is one lookup and one compare.

use crate::matrix::normalised;

/// Marks a slice that holds more than one edge (its values are searched edge by edge).
const MULTI: u32 = 1 << 31;

/// Most slices a table has (two 4-byte entries each: 32 KiB, about an L1 cache).
const MAX_SLICES: i64 = 4096;

/// Edges compared at once when a slice holds several (and infinite edges at the end).
const STEPS: usize = 4;

/// A column's bins: bin = number of edges strictly below v; at most 255 edges, so it fits
/// u8. Values are non-negative (normalised to [0, 1]), so their bits order them. Slice 0
/// holds everything below the smallest positive edge; slices 1.. split the bits from there
/// to the largest edge into equal widths, the widest that keep every two edges apart
/// (unless the table would pass `MAX_SLICES`). A slice records the bin at its start and the
/// first edge at or above its start, so that a value's bin is that bin plus one if the edge
/// is below it.
pub(crate) struct BinTable {
    padded: Vec<f32>,
    base: i32,
    shift: u32,
    last: i32,
    first_bin: Vec<u32>,
    next_edge: Vec<f32>,
}

impl BinTable {
    pub(crate) fn new(edges: Vec<f32>) -> BinTable {
        debug_assert!(edges.len() < 256 && edges.windows(2).all(|w| w[0] < w[1]));
        let positive: Vec<i64> = edges
            .iter()
            .filter(|&&e| e > 0.0)
            .map(|e| i64::from(e.to_bits()))
            .collect();
        // Without a positive edge, every value falls in slice 0 (below +inf's bits).
        let base = positive.first().copied().unwrap_or(0x7f80_0000);
        let top = positive.last().copied().unwrap_or(base);
        let min_gap = positive.windows(2).map(|w| w[1] - w[0]).min();
        let mut shift = min_gap.map_or(31, |gap| gap.ilog2().min(31));
        while ((top - base) >> shift) + 2 > MAX_SLICES {
            shift += 1;
        }
        let slices = ((top - base) >> shift) + 2;
        let mut padded = edges;
        padded.extend([f32::INFINITY; STEPS + 1]);
        let (mut first_bin, mut next_edge) = (Vec::new(), Vec::new());
        let mut bin = 0;
        let bits_value = |bits: i64| f32::from_bits(bits.min(0x7f80_0000) as u32);
        for s in 0..slices {
            let start = if s == 0 {
                0.0
            } else {
                bits_value(base + ((s - 1) << shift))
            };
            let end = if s + 1 == slices {
                f32::INFINITY
            } else {
                bits_value(base + (s << shift))
            };
            while padded[bin] < start {
                bin += 1;
            }
            let multi = if padded[bin + 1] < end { MULTI } else { 0 };
            first_bin.push(bin as u32 | multi);
            next_edge.push(padded[bin]);
        }
        BinTable {
            padded,
            base: base as i32,
            shift,
            last: (slices - 1) as i32,
            first_bin,
            next_edge,
        }
    }

    #[inline(always)]
    fn slice(&self, v: f32) -> usize {
        // Bits of values in [0, 1] and the base (at most +inf's) are below 2^31: no overflow.
        let offset = (v.to_bits() as i32 - self.base) >> self.shift;
        (offset + 1).clamp(0, self.last) as usize
    }

    /// The bin of one value.
    #[inline(always)]
    pub(crate) fn bin(&self, v: f32) -> u8 {
        let s = self.slice(v);
        let first = self.first_bin[s];
        if first & MULTI == 0 {
            return (first + u32::from(self.next_edge[s] < v)) as u8;
        }
        let mut bin = (first & !MULTI) as usize;
        // The next STEPS edges are compared at once, without branches: sorted, so the
        // count below v is the number of steps, unless all are (then look further).
        loop {
            // SAFETY: `bin` counts edges below v, at most all of them, and `padded` has
            // STEPS more entries (infinite, never below v, so the loop stops there).
            let next = unsafe { self.padded.get_unchecked(bin..bin + STEPS) };
            let below = next.iter().map(|&e| usize::from(e < v)).sum::<usize>();
            bin += below;
            if below < STEPS {
                return bin as u8;
            }
        }
    }

    /// The bin of every value of `raw` normalised from `range` (lo, span > 0; see
    /// `normalised`) into `out` (as long), eight at a time with AVX2 where the CPU has it.
    #[inline(always)]
    pub(crate) fn bin_all(&self, raw: &[f32], range: (f64, f64), out: &mut [u8]) {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::has_avx2() {
            // SAFETY: the CPU has AVX2.
            return unsafe { self.bin_all_avx2(raw, range, out) };
        }
        self.bin_all_plain(raw, range, out);
    }

    #[inline(always)]
    fn bin_all_plain(&self, raw: &[f32], (lo, span): (f64, f64), out: &mut [u8]) {
        for (b, &x) in out.iter_mut().zip(raw) {
            *b = self.bin(normalised(f64::from(x), lo, span));
        }
    }

    /// # Safety
    /// The CPU has AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn bin_all_avx2(&self, raw: &[f32], (lo, span): (f64, f64), out: &mut [u8]) {
        use std::arch::x86_64::*;
        // A constant column (span 0) normalises to 0 elsewhere; it never gets here (it has
        // one distinct value), but the plain loop keeps that rule if it does.
        let len = if span > 0.0 {
            raw.len().min(out.len())
        } else {
            0
        };
        let whole = len - len % 8;
        let (lo4, span4) = (_mm256_set1_pd(lo), _mm256_set1_pd(span));
        let base = _mm256_set1_epi32(self.base);
        let shift = _mm_cvtsi32_si128(self.shift as i32);
        let one = _mm256_set1_epi32(1);
        let last = _mm256_set1_epi32(self.last);
        let zero = _mm256_setzero_si256();
        // Byte 0 of each 32-bit bin to the low 4 bytes of its 128-bit half, then the two
        // halves' low words together.
        let low_bytes = _mm256_setr_epi8(
            0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1,
            -1, -1, -1, -1, -1, -1, -1, -1, -1,
        );
        let halves = _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0);
        let first_bin = self.first_bin.as_ptr().cast::<i32>();
        let next_edge = self.next_edge.as_ptr();
        for i in (0..whole).step_by(8) {
            // SAFETY: i + 8 <= len; slices are clamped to 0..=last, in both tables.
            unsafe {
                let x = _mm256_loadu_ps(raw.as_ptr().add(i));
                // As `normalised`: (x - lo) / span in f64, rounded to f32.
                let low = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
                let high = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(x));
                let low = _mm256_cvtpd_ps(_mm256_div_pd(_mm256_sub_pd(low, lo4), span4));
                let high = _mm256_cvtpd_ps(_mm256_div_pd(_mm256_sub_pd(high, lo4), span4));
                let v = _mm256_set_m128(high, low);
                let offset =
                    _mm256_sra_epi32(_mm256_sub_epi32(_mm256_castps_si256(v), base), shift);
                let s =
                    _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(offset, one), zero), last);
                let first = _mm256_i32gather_epi32::<4>(first_bin, s);
                let next = _mm256_i32gather_ps::<4>(next_edge, s);
                if _mm256_movemask_ps(_mm256_castsi256_ps(first)) != 0 {
                    self.bin_all_plain(&raw[i..i + 8], (lo, span), &mut out[i..i + 8]);
                    continue;
                }
                // All ones (-1) where the edge is below the value.
                let below = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LT_OQ>(next, v));
                let bins = _mm256_sub_epi32(first, below);
                let packed =
                    _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(bins, low_bytes), halves);
                _mm_storel_epi64(
                    out.as_mut_ptr().add(i).cast::<__m128i>(),
                    _mm256_castsi256_si128(packed),
                );
            }
        }
        let end = raw.len().min(out.len());
        self.bin_all_plain(&raw[whole..end], (lo, span), &mut out[whole..end]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(mut state: u64) -> impl FnMut() -> f32 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        }
    }

    /// Sorted distinct edges from values, at most 255.
    fn edges_of(mut values: Vec<f32>, count: usize) -> Vec<f32> {
        values.sort_by(f32::total_cmp);
        let mut edges: Vec<f32> = (1..=count)
            .map(|k| values[k * (values.len() - 1) / (count + 1)])
            .collect();
        edges.dedup();
        edges.truncate(255);
        edges
    }

    #[test]
    fn every_value_gets_the_count_of_edges_below_it_on_every_path() {
        let mut uniform = xorshift(88_172_645_463_325_252);
        let spread: Vec<f32> = (0..20_000).map(|_| uniform()).collect();
        let crowded: Vec<f32> = (0..20_000)
            .map(|_| {
                let u = uniform();
                if u < 0.6 {
                    0.0
                } else {
                    (u - 0.6).powi(4) * 1e-3
                }
            })
            .collect();
        // Edges one ulp apart among far ones: the table cannot keep them all apart.
        let mut close: Vec<f32> = (0..200).map(|k| k as f32 / 200.0).collect();
        close.extend((1..40).map(|k| f32::from_bits(0.5f32.to_bits() + k)));
        let tiny: Vec<f32> = (0..5_000).map(|k| f32::from_bits(k * 3)).collect();
        let cases: Vec<(Vec<f32>, Vec<f32>)> = vec![
            (spread.clone(), edges_of(spread.clone(), 255)),
            (crowded.clone(), edges_of(crowded.clone(), 255)),
            (spread.clone(), edges_of(close.clone(), 255)),
            (close.clone(), edges_of(close.clone(), 255)),
            (tiny.clone(), edges_of(tiny.clone(), 200)),
            (spread.clone(), vec![0.0]),
            (spread.clone(), vec![0.25]),
            (spread.clone(), vec![0.0, 1.0]),
            (spread.clone(), vec![]),
        ];
        for (mut values, edges) in cases {
            values.extend(edges.iter().copied());
            values.extend([0.0, 1.0, f32::from_bits(1)]);
            let table = BinTable::new(edges.clone());
            let want: Vec<u8> = values
                .iter()
                .map(|&v| edges.partition_point(|&e| e < v) as u8)
                .collect();
            let (mut plain, mut run) = (vec![0u8; values.len()], vec![0u8; values.len()]);
            table.bin_all_plain(&values, (0.0, 1.0), &mut plain);
            table.bin_all(&values, (0.0, 1.0), &mut run);
            assert_eq!(plain, want, "{edges:?}");
            assert_eq!(run, want, "{edges:?}");
            // Raw values, normalised on the way: from [-3, 5] back to the same.
            let raw: Vec<f32> = values
                .iter()
                .map(|&v| (f64::from(v) * 8.0 - 3.0) as f32)
                .collect();
            let want: Vec<u8> = raw
                .iter()
                .map(|&x| table.bin(normalised(f64::from(x), -3.0, 8.0)))
                .collect();
            table.bin_all_plain(&raw, (-3.0, 8.0), &mut plain);
            table.bin_all(&raw, (-3.0, 8.0), &mut run);
            assert_eq!(plain, want, "{edges:?}");
            assert_eq!(run, want, "{edges:?}");
        }
    }

    #[test]
    fn slices_hold_one_edge_unless_edges_crowd_past_the_table() {
        let mut uniform = xorshift(7);
        let spread: Vec<f32> = (0..20_000).map(|_| uniform()).collect();
        let table = BinTable::new(edges_of(spread, 255));
        assert!(table.first_bin.iter().all(|&b| b & MULTI == 0));
        assert!(table.first_bin.len() as i64 <= MAX_SLICES);
        let mut close: Vec<f32> = (0..200).map(|k| k as f32 / 200.0).collect();
        close.extend((1..40).map(|k| f32::from_bits(0.5f32.to_bits() + k)));
        let table = BinTable::new(edges_of(close, 255));
        assert!(table.first_bin.iter().any(|&b| b & MULTI != 0));
        assert!(table.first_bin.len() as i64 <= MAX_SLICES);
    }
}
