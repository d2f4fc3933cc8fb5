//! A column's bin search on its raw values: each edge becomes the largest raw value that
//! normalises to at most it (its cut), and a table sliced finely enough that a slice holds
//! at most one cut gives a value's bin from one lookup and one compare.

use crate::matrix::normalised;
use crate::quantiles::{from_ordered_bits, ordered_bits};

/// Marks a slice that holds more than one cut (its values are searched cut by cut).
const MULTI: u32 = 1 << 31;
/// Where a table entry keeps its slice's starting bin (8 bits).
const BIN_SHIFT: u32 = 23;
/// The rest of an entry: where in the slice its first cut is placed (or `NO_CUT`).
const OFFSET_MASK: u32 = (1 << BIN_SHIFT) - 1;
/// The offset of a slice without a cut: no place in a slice lies beyond it.
const NO_CUT: u32 = OFFSET_MASK;
/// Widest slices (as a power of two), so that an offset fits its field.
const MAX_SHIFT: u32 = BIN_SHIFT - 1;
/// Most slices a table has (4 bytes each: 16 KiB).
const MAX_SLICES: i64 = 4096;
/// Cuts compared at once when a slice holds several (and infinite cuts at the end).
const STEPS: usize = 4;

/// A column's bins: a value's bin is the number of edges strictly below its normalised
/// value. Normalising keeps order, so a raw value passes edge e exactly when it is above
/// e's cut (the largest value normalising to at most e), and its bin is the number of cuts
/// below it, found without normalising it.
///
/// Values are sliced by `place`, (x − lo)·(1/span) computed in f32: cheap, not exactly the
/// normalised value, but order-keeping, so a cut placed below a value's place lies below
/// the value and one placed above it lies above; only a tie needs the cut itself. The first
/// cut is compared alone (a sparse column's zeros sit far below the rest): places below the
/// second cut's are past at most that one. From there to the last cut's place, slices split
/// the places' bits into equal widths, the widest that keep every two cuts apart (unless
/// the table would pass `MAX_SLICES`). A slice's entry packs the bin at its start and where
/// its first cut is placed in it, so most values take one lookup and one compare.
pub(crate) struct BinTable {
    /// The cuts, ascending, then STEPS + 1 infinities.
    cuts: Vec<f32>,
    lo: f32,
    scale: f32,
    /// The first cut (infinite when there is none).
    first: f32,
    /// Bits of the second cut's place, where slice 1 starts (beyond every place when there
    /// are fewer than two cuts).
    base: i32,
    shift: u32,
    last: u32,
    entries: Vec<u32>,
    /// Per slice: the first cut placed at or after its start (for ties).
    next_cut: Vec<f32>,
}

impl BinTable {
    /// The table of `edges` (normalised values, ascending, fewer than 256) for a column of
    /// raw values in [lo, lo + span] (`range`) normalised as `normalised` does.
    pub(crate) fn new(edges: &[f32], range: (f64, f64)) -> BinTable {
        debug_assert!(edges.len() < 256 && edges.windows(2).all(|w| w[0] < w[1]));
        let mut cuts: Vec<f32> = edges.iter().map(|&e| cut(e, range)).collect();
        // Edges that no raw value tells apart share a cut (then a slice holds both).
        debug_assert!(cuts.windows(2).all(|w| w[0] <= w[1]));
        // Any order-keeping place would do; this one spreads the column over [0, 1].
        let scale = (1.0 / range.1) as f32;
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        let lo = range.0 as f32;
        let places: Vec<i64> = cuts
            .iter()
            .map(|&c| i64::from(place(c, lo, scale).to_bits()))
            .collect();
        let base = places.get(1).copied().unwrap_or(i64::from(i32::MAX));
        let top = places.last().copied().unwrap_or(base).max(base);
        let min_gap = places[1.min(places.len())..]
            .windows(2)
            .map(|w| w[1] - w[0])
            .min();
        let mut shift = min_gap.map_or(MAX_SHIFT, |gap| gap.max(1).ilog2().min(MAX_SHIFT));
        while ((top - base) >> shift) + 2 > MAX_SLICES {
            shift += 1;
        }
        let slices = ((top - base) >> shift) + 2;
        let first = cuts.first().copied().unwrap_or(f32::INFINITY);
        cuts.extend([f32::INFINITY; STEPS + 1]);
        // Slice 0 (places below the base) is never read: those values compare with `first`.
        let (mut entries, mut next_cut) = (vec![0], vec![f32::INFINITY]);
        let mut bin = 0;
        for s in 1..slices {
            let start = base + ((s - 1) << shift);
            let end = start + (1 << shift);
            while bin < places.len() && places[bin] < start {
                bin += 1;
            }
            let mut entry = (bin as u32) << BIN_SHIFT;
            // The last slice holds the last cut's place (and every place above).
            match places.get(bin) {
                Some(&p) if p < end || s + 1 == slices => {
                    entry |= (p - start) as u32;
                    if places
                        .get(bin + 1)
                        .is_some_and(|&q| q < end || s + 1 == slices)
                    {
                        entry |= MULTI;
                    }
                }
                _ => entry |= NO_CUT,
            }
            entries.push(entry);
            next_cut.push(cuts[bin]);
        }
        BinTable {
            cuts,
            lo,
            scale,
            first,
            base: base as i32,
            shift,
            last: (slices - 1) as u32,
            entries,
            next_cut,
        }
    }

    /// The bin of one raw value.
    #[inline(always)]
    pub(crate) fn bin(&self, x: f32) -> u8 {
        let bits = place(x, self.lo, self.scale).to_bits() as i32;
        if bits < self.base {
            return u8::from(self.first < x);
        }
        let from_base = (bits - self.base) as u32;
        let slice = ((from_base >> self.shift) + 1).min(self.last);
        let entry = self.entries[slice as usize];
        let start_bin = (entry >> BIN_SHIFT) & 0xff;
        if entry & MULTI != 0 {
            return self.search(start_bin as usize, x);
        }
        let position = from_base - ((slice - 1) << self.shift);
        let offset = entry & OFFSET_MASK;
        let past = match offset.cmp(&position) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => self.next_cut[slice as usize] < x,
        };
        (start_bin + u32::from(past)) as u8
    }

    /// The number of cuts below x, counting from `bin` (known to be below it).
    #[inline(always)]
    fn search(&self, mut bin: usize, x: f32) -> u8 {
        // The next STEPS cuts are compared at once, without branches: sorted, so the
        // count below x is the number of steps, unless all are (then look further).
        loop {
            // SAFETY: `bin` counts cuts below x, at most all of them, and `cuts` has STEPS
            // more entries (infinite, never below x, so the loop stops there).
            let next = unsafe { self.cuts.get_unchecked(bin..bin + STEPS) };
            let below = next.iter().map(|&c| usize::from(c < x)).sum::<usize>();
            bin += below;
            if below < STEPS {
                return bin as u8;
            }
        }
    }

    /// The bin of every value of `raw` into `out` (as long), eight at a time with AVX2
    /// where the CPU has it.
    #[inline(always)]
    pub(crate) fn bin_all(&self, raw: &[f32], out: &mut [u8]) {
        #[cfg(target_arch = "x86_64")]
        if crate::cpu::has_avx2() {
            // SAFETY: the CPU has AVX2.
            return unsafe { self.bin_all_avx2(raw, out) };
        }
        self.bin_all_plain(raw, out);
    }

    #[inline(always)]
    fn bin_all_plain(&self, raw: &[f32], out: &mut [u8]) {
        for (b, &x) in out.iter_mut().zip(raw) {
            *b = self.bin(x);
        }
    }

    /// # Safety
    /// The CPU has AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn bin_all_avx2(&self, raw: &[f32], out: &mut [u8]) {
        use std::arch::x86_64::*;
        let len = raw.len().min(out.len());
        let whole = len - len % 8;
        let (lo, scale) = (_mm256_set1_ps(self.lo), _mm256_set1_ps(self.scale));
        let zero = _mm256_setzero_ps();
        let first = _mm256_set1_ps(self.first);
        let base = _mm256_set1_epi32(self.base);
        let shift = _mm_cvtsi32_si128(self.shift as i32);
        let one = _mm256_set1_epi32(1);
        let last = _mm256_set1_epi32(self.last as i32);
        let byte = _mm256_set1_epi32(0xff);
        let offset_mask = _mm256_set1_epi32(OFFSET_MASK as i32);
        // Byte 0 of each 32-bit bin to the low 4 bytes of its 128-bit half, then the two
        // halves' low words together.
        let low_bytes = _mm256_setr_epi8(
            0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8, 12, -1, -1, -1,
            -1, -1, -1, -1, -1, -1, -1, -1, -1,
        );
        let halves = _mm256_setr_epi32(0, 4, 0, 0, 0, 0, 0, 0);
        let entries = self.entries.as_ptr().cast::<i32>();
        for i in (0..whole).step_by(8) {
            // SAFETY: i + 8 <= len; slices are clamped to 0..=last, in the table.
            unsafe {
                let x = _mm256_loadu_ps(raw.as_ptr().add(i));
                // As `place`: the larger operand, or +0 when both are zeros.
                let place = _mm256_castps_si256(_mm256_max_ps(
                    _mm256_mul_ps(_mm256_sub_ps(x, lo), scale),
                    zero,
                ));
                let below_base = _mm256_cmpgt_epi32(base, place);
                let from_base = _mm256_sub_epi32(place, base);
                // Unsigned: below the base, `from_base` wraps high and the slice is the last.
                let slice = _mm256_min_epu32(
                    _mm256_add_epi32(_mm256_srl_epi32(from_base, shift), one),
                    last,
                );
                let entry = _mm256_i32gather_epi32::<4>(entries, slice);
                let position = _mm256_sub_epi32(
                    from_base,
                    _mm256_sll_epi32(_mm256_sub_epi32(slice, one), shift),
                );
                let offset = _mm256_and_si256(entry, offset_mask);
                // A slice of several cuts, or a value placed with its slice's cut: as `bin`.
                let tie = _mm256_cmpeq_epi32(position, offset);
                let slow = _mm256_andnot_si256(below_base, _mm256_or_si256(entry, tie));
                if _mm256_movemask_ps(_mm256_castsi256_ps(slow)) != 0 {
                    self.bin_all_plain(&raw[i..i + 8], &mut out[i..i + 8]);
                    continue;
                }
                // Places stay below 2^31: a signed compare; all ones (-1) past the cut.
                let past = _mm256_cmpgt_epi32(position, offset);
                let start_bin =
                    _mm256_and_si256(_mm256_srli_epi32::<{ BIN_SHIFT as i32 }>(entry), byte);
                let sliced = _mm256_sub_epi32(start_bin, past);
                // Below the base: 1 past the first cut, else 0.
                let low = _mm256_and_si256(
                    _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LT_OQ>(first, x)),
                    one,
                );
                let bins = _mm256_blendv_epi8(sliced, low, below_base);
                let packed =
                    _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(bins, low_bytes), halves);
                _mm_storel_epi64(
                    out.as_mut_ptr().add(i).cast::<__m128i>(),
                    _mm256_castsi256_si128(packed),
                );
            }
        }
        self.bin_all_plain(&raw[whole..len], &mut out[whole..len]);
    }
}

/// Where a raw value falls for slicing: (x − lo)·scale in f32, at least +0. Each step
/// rounds monotonically, so places keep the order of values (ties allowed).
#[inline(always)]
fn place(x: f32, lo: f32, scale: f32) -> f32 {
    let p = (x - lo) * scale;
    if p > 0.0 {
        p
    } else {
        0.0
    }
}

/// The largest finite value that normalises (from `range`) to at most `edge`, searched over
/// the values' `ordered_bits`: found from the value that should normalise to the edge, by
/// galloping to a key on the other side and halving between them. Normalising keeps order,
/// so the keys that fit come first; the lowest finite value fits (it normalises to at most 0, and edges are not
/// negative) and the highest does not (edges lie below a value of the column).
fn cut(edge: f32, (lo, span): (f64, f64)) -> f32 {
    let value = |key: i64| from_ordered_bits(key as u32);
    let fits = |key: i64| normalised(f64::from(value(key)), lo, span) <= edge;
    let (lowest, highest) = (
        i64::from(ordered_bits(f32::MIN)),
        i64::from(ordered_bits(f32::MAX)),
    );
    let guess =
        i64::from(ordered_bits((lo + f64::from(edge) * span) as f32)).clamp(lowest, highest);
    // `good` fits, `bad` does not.
    let (mut good, mut bad) = if fits(guess) {
        let (mut good, mut step) = (guess, 1);
        loop {
            let next = (good + step).min(highest);
            if !fits(next) {
                break (good, next);
            }
            if next == highest {
                return value(highest);
            }
            (good, step) = (next, step * 2);
        }
    } else {
        let (mut bad, mut step) = (guess, 1);
        loop {
            let next = (bad - step).max(lowest);
            if fits(next) {
                break (next, bad);
            }
            if next == lowest {
                return value(lowest);
            }
            (bad, step) = (next, step * 2);
        }
    };
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        if fits(mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    value(good)
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

    /// Sorted distinct edges from normalised values, at most 255.
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
    fn every_raw_value_gets_the_count_of_edges_below_its_normalised_value() {
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
        // Few values, every one but the largest an edge.
        let levels: Vec<f32> = (0..20_000).map(|i| (i % 200) as f32 / 199.0).collect();
        let mut level_edges: Vec<f32> = (0..199).map(|i| i as f32 / 199.0).collect();
        level_edges.dedup();
        let cases: Vec<(Vec<f32>, Vec<f32>)> = vec![
            (spread.clone(), edges_of(spread.clone(), 255)),
            (crowded.clone(), edges_of(crowded.clone(), 255)),
            (spread.clone(), edges_of(close.clone(), 255)),
            (close.clone(), edges_of(close.clone(), 255)),
            (tiny.clone(), edges_of(tiny.clone(), 200)),
            (levels, level_edges),
            (spread.clone(), vec![0.0]),
            (spread.clone(), vec![0.25]),
            (spread.clone(), vec![0.0, 0.999]),
            (spread.clone(), vec![]),
        ];
        // Raw values in [0, 1] as they are, and mapped to [-3, 5], to [-1e6, 1e-3] (many
        // raw values share a normalised value) and to [1e30, 3e30].
        let ranges = [(0.0, 1.0), (-3.0, 8.0), (-1e6, 1e6 + 1e-3), (1e30, 2e30)];
        for (values, edges) in cases {
            for &(lo, span) in &ranges {
                let mut raw: Vec<f32> = values
                    .iter()
                    .chain(&edges)
                    .chain(&[0.0, 1.0, f32::from_bits(1)])
                    .map(|&v| {
                        ((lo + f64::from(v) * span) as f32).clamp(lo as f32, (lo + span) as f32)
                    })
                    .collect();
                raw.extend([lo as f32, (lo + span) as f32]);
                let table = BinTable::new(&edges, (lo, span));
                let want: Vec<u8> = raw
                    .iter()
                    .map(|&x| {
                        let v = normalised(f64::from(x), lo, span);
                        edges.partition_point(|&e| e < v) as u8
                    })
                    .collect();
                let (mut plain, mut run) = (vec![0u8; raw.len()], vec![0u8; raw.len()]);
                table.bin_all_plain(&raw, &mut plain);
                table.bin_all(&raw, &mut run);
                assert_eq!(plain, want, "{edges:?} in {lo} + {span}");
                assert_eq!(run, want, "{edges:?} in {lo} + {span}");
            }
        }
    }

    #[test]
    fn slices_hold_one_cut_unless_cuts_crowd_past_the_table() {
        let mut uniform = xorshift(7);
        let spread: Vec<f32> = (0..20_000).map(|_| uniform()).collect();
        for range in [(0.0, 1.0), (-3.0, 8.0)] {
            let table = BinTable::new(&edges_of(spread.clone(), 255), range);
            assert!(table.entries.iter().all(|&b| b & MULTI == 0));
            assert!(table.entries.len() as i64 <= MAX_SLICES);
        }
        let mut close: Vec<f32> = (0..200).map(|k| k as f32 / 200.0).collect();
        close.extend((1..40).map(|k| f32::from_bits(0.5f32.to_bits() + k)));
        let table = BinTable::new(&edges_of(close, 255), (0.0, 1.0));
        assert!(table.entries.iter().any(|&b| b & MULTI != 0));
        assert!(table.entries.len() as i64 <= MAX_SLICES);
    }
}
