//! Validation and decoding helpers shared by reading, building and writing feature sets.

use std::collections::BTreeMap;
use std::path::Path;

use half::{bf16, f16};
use safetensors::Dtype;

use crate::error::{Error, Result};
use crate::feature_set::{FeatureDtype, FeatureValues};

/// Label dtypes accepted by readers, as listed in error messages.
const LABEL_DTYPES: &str = "I64, I32, U32, U8";

/// Validates in-memory parts; returns (n, d, dense labels, class values).
pub(crate) fn check_parts(
    name: &Path,
    features: FeatureValues<'_>,
    shape: &[usize],
    labels: &[i64],
) -> Result<(usize, usize, Vec<u32>, Vec<i64>)> {
    // Rank errors first; a shape too large for usize (d included, even when n = 0) is a
    // mismatch, not a corrupt file.
    if shape.len() >= 2 && element_count(shape) != Some(features.len()) {
        return Err(Error::ShapeMismatch {
            path: name.to_path_buf(),
            len: features.len(),
            shape: shape.to_vec(),
        });
    }
    let (n, d) = matrix_dims(name, shape)?;
    check_counts(name, shape, n, d, labels.len())?;
    let (dense, class_values) = dense_labels(name, labels)?;
    let (count, first) = match features {
        FeatureValues::F32(v) => count_non_finite(v.iter().map(|x| x.is_finite())),
        FeatureValues::F64(v) => count_non_finite(v.iter().map(|x| x.is_finite())),
    };
    if let Some(first) = first {
        return Err(Error::NonFinite {
            path: name.to_path_buf(),
            count,
            row: first / d,
            col: first % d,
        });
    }
    Ok((n, d, dense, class_values))
}

/// How many values are not finite, and the position of the first.
fn count_non_finite(finite: impl Iterator<Item = bool>) -> (usize, Option<usize>) {
    let mut bad = finite.enumerate().filter(|&(_, ok)| !ok);
    match bad.next() {
        Some((first, _)) => (1 + bad.count(), Some(first)),
        None => (0, None),
    }
}

/// (n, d) of a features shape of rank >= 2; d = product of the trailing dimensions.
pub(crate) fn matrix_dims(name: &Path, shape: &[usize]) -> Result<(usize, usize)> {
    let bad_rank = || Error::BadRank {
        path: name.to_path_buf(),
        tensor: "features",
        shape: shape.to_vec(),
        expected: "[n, d] or [n, ...] (rank 2 or more, one row per sample)",
    };
    let (&n, rest) = shape.split_first().ok_or_else(bad_rank)?;
    if rest.is_empty() {
        return Err(bad_rank());
    }
    let d = product(rest).ok_or_else(|| Error::Corrupt {
        path: name.to_path_buf(),
        detail: format!("`features` shape {shape:?} overflows"),
    })?;
    Ok((n, d))
}

/// Product of dimensions, `None` on overflow.
pub(crate) fn product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |a, &b| a.checked_mul(b))
}

/// n * prod(rest) of a shape [n, rest..]; `None` when empty or when d or n * d overflows.
pub(crate) fn element_count(shape: &[usize]) -> Option<usize> {
    let (n, rest) = shape.split_first()?;
    product(rest)?.checked_mul(*n)
}

/// Checks labels-per-row, columns and sample count, in that order.
pub(crate) fn check_counts(
    name: &Path,
    shape: &[usize],
    n: usize,
    d: usize,
    n_labels: usize,
) -> Result<()> {
    let path = name.to_path_buf();
    if n != n_labels {
        return Err(Error::LengthMismatch {
            path,
            rows: n,
            labels: n_labels,
        });
    }
    if d == 0 {
        return Err(Error::NoColumns {
            path,
            shape: shape.to_vec(),
        });
    }
    if n < 2 {
        return Err(Error::TooFewSamples { path, n });
    }
    Ok(())
}

/// Byte size of an accepted label dtype.
pub(crate) fn label_size(name: &Path, dtype: Dtype) -> Result<usize> {
    match dtype {
        Dtype::I64 => Ok(8),
        Dtype::I32 | Dtype::U32 => Ok(4),
        Dtype::U8 => Ok(1),
        other => Err(Error::UnsupportedDtype {
            path: name.to_path_buf(),
            tensor: "labels",
            dtype: other.to_string(),
            accepted: LABEL_DTYPES,
        }),
    }
}

/// Number of labels of a `labels` shape [n] or [n, 1].
pub(crate) fn label_count(name: &Path, shape: &[usize]) -> Result<usize> {
    match shape {
        [n] | [n, 1] => Ok(*n),
        _ => Err(Error::BadRank {
            path: name.to_path_buf(),
            tensor: "labels",
            shape: shape.to_vec(),
            expected: "[n] or [n, 1]",
        }),
    }
}

/// Raw label values of an accepted dtype (the byte length was checked by the caller).
pub(crate) fn decode_labels(dtype: Dtype, bytes: &[u8]) -> Vec<i64> {
    match dtype {
        Dtype::I64 => map_chunks(bytes, i64::from_le_bytes),
        Dtype::I32 => map_chunks(bytes, |b| i64::from(i32::from_le_bytes(b))),
        Dtype::U32 => map_chunks(bytes, |b| i64::from(u32::from_le_bytes(b))),
        _ => bytes.iter().map(|&b| i64::from(b)).collect(),
    }
}

/// Decodes fixed-size little-endian elements (`bytes.len()` is a multiple of `N`).
fn map_chunks<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
    bytes.chunks_exact(N).map(|c| f(array(c))).collect()
}

/// Copies a chunk of exactly `N` bytes (as `chunks_exact` yields) into an array.
#[inline(always)]
fn array<const N: usize>(chunk: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(chunk);
    a
}

/// Maps raw labels to dense ids 0..C-1 in sorted order of the distinct values.
pub(crate) fn dense_labels(name: &Path, raw: &[i64]) -> Result<(Vec<u32>, Vec<i64>)> {
    let mut values = raw.to_vec();
    values.sort_unstable();
    values.dedup();
    if values.len() < 2 {
        return Err(Error::TooFewClasses {
            path: name.to_path_buf(),
            distinct: values.len(),
        });
    }
    if u32::try_from(values.len()).is_err() {
        return Err(Error::TooManyClasses {
            path: name.to_path_buf(),
            distinct: values.len(),
        });
    }
    let dense = raw
        .iter()
        .map(|v| values.binary_search(v).unwrap_or(0) as u32)
        .collect();
    Ok((dense, values))
}

/// Decodes little-endian features of `dtype` into `out` (bytes hold `out.len()` elements).
pub(crate) fn decode_features(dtype: FeatureDtype, bytes: &[u8], out: &mut [f64]) {
    fn go<const N: usize>(bytes: &[u8], out: &mut [f64], f: impl Fn([u8; N]) -> f64) {
        for (o, c) in out.iter_mut().zip(bytes.chunks_exact(N)) {
            *o = f(array(c));
        }
    }
    match dtype {
        FeatureDtype::F32 => go(bytes, out, |b| f64::from(f32::from_le_bytes(b))),
        FeatureDtype::F64 => go(bytes, out, f64::from_le_bytes),
        FeatureDtype::F16 => go(bytes, out, |b| f16::from_le_bytes(b).to_f64()),
        FeatureDtype::BF16 => go(bytes, out, |b| bf16::from_le_bytes(b).to_f64()),
    }
}

/// Counts non-finite values; returns (count, flat index of the first one).
pub(crate) fn scan_non_finite(dtype: FeatureDtype, bytes: &[u8]) -> (usize, Option<usize>) {
    fn go<const N: usize>(
        bytes: &[u8],
        finite: impl Fn([u8; N]) -> bool,
    ) -> (usize, Option<usize>) {
        let mut count = 0;
        let mut first = None;
        for (i, c) in bytes.chunks_exact(N).enumerate() {
            if !finite(array(c)) {
                count += 1;
                first.get_or_insert(i);
            }
        }
        (count, first)
    }
    // Most files have no non-finite value: count with a test on the exponent bits that
    // compiles to vector code, and look for the first one only when there is one.
    let all_finite = match dtype {
        FeatureDtype::F32 => count_exponent_ones::<4>(bytes, 0x7f80_0000) == 0,
        FeatureDtype::F64 => count_exponent_ones::<8>(bytes, 0x7ff0_0000_0000_0000) == 0,
        _ => false,
    };
    if all_finite {
        return (0, None);
    }
    match dtype {
        FeatureDtype::F32 => go(bytes, |b| f32::from_le_bytes(b).is_finite()),
        FeatureDtype::F64 => go(bytes, |b| f64::from_le_bytes(b).is_finite()),
        FeatureDtype::F16 => go(bytes, |b| f16::from_le_bytes(b).is_finite()),
        FeatureDtype::BF16 => go(bytes, |b| bf16::from_le_bytes(b).is_finite()),
    }
}

/// Little-endian values of N bytes whose exponent field (`mask`) is all ones: the
/// infinities and NaNs of an IEEE float.
fn count_exponent_ones<const N: usize>(bytes: &[u8], mask: u64) -> usize {
    bytes
        .chunks_exact(N)
        .map(|c| {
            let mut word = [0u8; 8];
            word[..N].copy_from_slice(c);
            usize::from(u64::from_le_bytes(word) & mask == mask)
        })
        .sum()
}

/// Per-sample shape and whether it is known (rank > 2, or metadata consistent with d).
pub(crate) fn resolve_original_shape(
    shape: &[usize],
    d: usize,
    metadata: &BTreeMap<String, String>,
) -> (Vec<usize>, bool) {
    if shape.len() > 2 {
        return (shape[1..].to_vec(), true);
    }
    let parsed = metadata
        .get("original_shape")
        .and_then(|s| parse_shape(s))
        .filter(|dims| product(dims) == Some(d));
    match parsed {
        Some(dims) => (dims, true),
        None => (vec![d], false),
    }
}

/// Parses `"64,16,16"` (also `"(64, 16, 16)"`, `"[64,16,16]"`, `"64,"`).
pub(crate) fn parse_shape(s: &str) -> Option<Vec<usize>> {
    let inner = s
        .trim()
        .trim_matches(|c| matches!(c, '(' | ')' | '[' | ']'));
    let dims: Option<Vec<usize>> = inner
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().ok())
        .collect();
    dims.filter(|d| !d.is_empty())
}

/// Replaces control characters (newlines included) so that a message stays on one line.
pub(crate) fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_are_counted_and_the_first_found() {
        let f32s = [
            1.0f32,
            f32::INFINITY,
            2.0,
            f32::NAN,
            f32::NEG_INFINITY,
            -0.0,
        ];
        let bytes: Vec<u8> = f32s.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(scan_non_finite(FeatureDtype::F32, &bytes), (3, Some(1)));
        let f64s = [f64::MAX, -1.0, f64::NAN];
        let bytes: Vec<u8> = f64s.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(scan_non_finite(FeatureDtype::F64, &bytes), (1, Some(2)));
        let finite: Vec<u8> = [f32::MAX, f32::MIN_POSITIVE, 0.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(scan_non_finite(FeatureDtype::F32, &finite), (0, None));
    }
}
