//! The transposition's inner step: a block of rows written into columns, each column's
//! range widened and finiteness checked on the way.

use crate::matrix::SharedOut;

/// Writes the `rows` × `d` row-major values of `block` into the column-major output (n rows
/// a column, this block from row `start`), widening each column's range; false when a value
/// is not finite (then the ranges are meaningless). Eight columns at a time: each row gives
/// eight adjacent values, whose range updates and finiteness test compile to vector code.
///
/// # Safety
/// `out` holds n·d elements, rows start..start + rows are in range, and no other thread
/// writes them.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn scatter_columns(
    block: &[f32],
    rows: usize,
    d: usize,
    out: SharedOut,
    n: usize,
    start: usize,
    lo: &mut [f32],
    hi: &mut [f32],
) -> bool {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_avx2() {
        // SAFETY: the CPU has the features the copy is compiled for; the rest is the
        // caller's promise.
        return unsafe { scatter_columns_avx2(block, rows, d, out, n, start, lo, hi) };
    }
    unsafe { scatter_columns_plain(block, rows, d, out, n, start, lo, hi) }
}

/// `scatter_columns` compiled for AVX2: where whole cache lines of the output can be
/// written (16-row runs, aligned), eight columns are transposed in registers and each
/// column's 16 values go out as one line that bypasses the cache (the columns are read back
/// only after the whole slice is written, and a line written whole needs no read first).
///
/// # Safety
/// As `scatter_columns`, and the CPU has AVX2 and POPCNT.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
#[allow(clippy::too_many_arguments)]
unsafe fn scatter_columns_avx2(
    block: &[f32],
    rows: usize,
    d: usize,
    out: SharedOut,
    n: usize,
    start: usize,
    lo: &mut [f32],
    hi: &mut [f32],
) -> bool {
    use std::arch::x86_64::*;
    const LINE: usize = 16;
    // Every column's lines start at the same row when n and start are whole lines.
    let aligned = n % LINE == 0 && start % LINE == 0 && out.address() % 4 == 0;
    if !aligned {
        return unsafe { scatter_columns_plain(block, rows, d, out, n, start, lo, hi) };
    }
    let lead = ((LINE - (out.address() / 4) % LINE) % LINE).min(rows);
    let runs = lead..lead + (rows - lead) / LINE * LINE;
    let grouped = d - d % 8;
    let exponent = _mm256_set1_epi32(0x7f80_0000);
    let mut not_finite = _mm256_setzero_si256();
    for j in (0..grouped).step_by(8) {
        // SAFETY: lo, hi, block hold d entries a row and j + 8 <= d; the output rows
        // start..start + runs are this caller's, lines aligned (checked above).
        unsafe {
            let mut l = _mm256_loadu_ps(lo.as_ptr().add(j));
            let mut h = _mm256_loadu_ps(hi.as_ptr().add(j));
            for r0 in runs.clone().step_by(LINE) {
                let mut columns = [[_mm256_setzero_ps(); 8]; 2];
                for (half, columns) in columns.iter_mut().enumerate() {
                    let mut v = [_mm256_setzero_ps(); 8];
                    for (t, v) in v.iter_mut().enumerate() {
                        let row = r0 + 8 * half + t;
                        *v = _mm256_loadu_ps(block.as_ptr().add(row * d + j));
                        // As the plain copy: a NaN leaves the range alone.
                        l = _mm256_min_ps(*v, l);
                        h = _mm256_max_ps(*v, h);
                        let bits = _mm256_and_si256(_mm256_castps_si256(*v), exponent);
                        not_finite =
                            _mm256_or_si256(not_finite, _mm256_cmpeq_epi32(bits, exponent));
                    }
                    *columns = transpose8(v);
                }
                for (t, (first, second)) in columns[0].iter().zip(&columns[1]).enumerate() {
                    let at = out.at((j + t) * n + start + r0);
                    _mm256_stream_ps(at, *first);
                    _mm256_stream_ps(at.add(8), *second);
                }
            }
            _mm256_storeu_ps(lo.as_mut_ptr().add(j), l);
            _mm256_storeu_ps(hi.as_mut_ptr().add(j), h);
        }
    }
    // Streamed lines are ordered before whatever later tells another thread they are done.
    _mm_sfence();
    let finite = _mm256_testz_si256(not_finite, not_finite) == 1;
    // The rest (rows before the first whole line and after the last, columns past the last
    // group of eight) as the plain copy does it.
    let rest = unsafe { scatter_rest(block, rows, d, out, n, start, lo, hi, runs, grouped) };
    finite && rest
}

/// Eight rows of eight values, transposed: column t of the rows is entry t.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn transpose8(v: [std::arch::x86_64::__m256; 8]) -> [std::arch::x86_64::__m256; 8] {
    use std::arch::x86_64::*;
    let a0 = _mm256_unpacklo_ps(v[0], v[1]);
    let a1 = _mm256_unpackhi_ps(v[0], v[1]);
    let a2 = _mm256_unpacklo_ps(v[2], v[3]);
    let a3 = _mm256_unpackhi_ps(v[2], v[3]);
    let a4 = _mm256_unpacklo_ps(v[4], v[5]);
    let a5 = _mm256_unpackhi_ps(v[4], v[5]);
    let a6 = _mm256_unpacklo_ps(v[6], v[7]);
    let a7 = _mm256_unpackhi_ps(v[6], v[7]);
    let b0 = _mm256_shuffle_ps::<0x44>(a0, a2);
    let b1 = _mm256_shuffle_ps::<0xee>(a0, a2);
    let b2 = _mm256_shuffle_ps::<0x44>(a1, a3);
    let b3 = _mm256_shuffle_ps::<0xee>(a1, a3);
    let b4 = _mm256_shuffle_ps::<0x44>(a4, a6);
    let b5 = _mm256_shuffle_ps::<0xee>(a4, a6);
    let b6 = _mm256_shuffle_ps::<0x44>(a5, a7);
    let b7 = _mm256_shuffle_ps::<0xee>(a5, a7);
    [
        _mm256_permute2f128_ps::<0x20>(b0, b4),
        _mm256_permute2f128_ps::<0x20>(b1, b5),
        _mm256_permute2f128_ps::<0x20>(b2, b6),
        _mm256_permute2f128_ps::<0x20>(b3, b7),
        _mm256_permute2f128_ps::<0x31>(b0, b4),
        _mm256_permute2f128_ps::<0x31>(b1, b5),
        _mm256_permute2f128_ps::<0x31>(b2, b6),
        _mm256_permute2f128_ps::<0x31>(b3, b7),
    ]
}

/// What the AVX2 copy leaves to plain code: the rows outside `runs` of the first `grouped`
/// columns, and every row of the columns after them. False when a value is not finite.
///
/// # Safety
/// As `scatter_columns`.
#[allow(clippy::too_many_arguments)]
unsafe fn scatter_rest(
    block: &[f32],
    rows: usize,
    d: usize,
    out: SharedOut,
    n: usize,
    start: usize,
    lo: &mut [f32],
    hi: &mut [f32],
    runs: std::ops::Range<usize>,
    grouped: usize,
) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    let mut exponent_ones = 0u32;
    for j in 0..d {
        let left = if j < grouped { runs.clone() } else { 0..0 };
        let (mut l, mut h) = (lo[j], hi[j]);
        for r in (0..left.start).chain(left.end..rows) {
            let v = block[r * d + j];
            l = if v < l { v } else { l };
            h = if v > h { v } else { h };
            exponent_ones |= u32::from(v.to_bits() & EXPONENT == EXPONENT);
            // SAFETY: as the caller's.
            unsafe { out.write(j * n + start + r, v) };
        }
        (lo[j], hi[j]) = (l, h);
    }
    exponent_ones == 0
}

/// # Safety
/// As `scatter_columns`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn scatter_columns_plain(
    block: &[f32],
    rows: usize,
    d: usize,
    out: SharedOut,
    n: usize,
    start: usize,
    lo: &mut [f32],
    hi: &mut [f32],
) -> bool {
    const LANES: usize = 8;
    const EXPONENT: u32 = 0x7f80_0000;
    let mut exponent_ones = 0u32;
    let grouped = d - d % LANES;
    for j in (0..grouped).step_by(LANES) {
        let mut l: [f32; LANES] = lo[j..j + LANES].try_into().expect("8 columns");
        let mut h: [f32; LANES] = hi[j..j + LANES].try_into().expect("8 columns");
        for r in 0..rows {
            let v: &[f32; LANES] = block[r * d + j..][..LANES].try_into().expect("8 values");
            for t in 0..LANES {
                l[t] = if v[t] < l[t] { v[t] } else { l[t] };
                h[t] = if v[t] > h[t] { v[t] } else { h[t] };
                exponent_ones |= u32::from(v[t].to_bits() & EXPONENT == EXPONENT);
            }
            for (t, &v) in v.iter().enumerate() {
                unsafe { out.write((j + t) * n + start + r, v) };
            }
        }
        lo[j..j + LANES].copy_from_slice(&l);
        hi[j..j + LANES].copy_from_slice(&h);
    }
    for j in grouped..d {
        let (mut l, mut h) = (lo[j], hi[j]);
        for r in 0..rows {
            let v = block[r * d + j];
            l = if v < l { v } else { l };
            h = if v > h { v } else { h };
            exponent_ones |= u32::from(v.to_bits() & EXPONENT == EXPONENT);
            unsafe { out.write(j * n + start + r, v) };
        }
        (lo[j], hi[j]) = (l, h);
    }
    exponent_ones == 0
}
