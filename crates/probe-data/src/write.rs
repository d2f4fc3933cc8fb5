//! Atomic writing of feature-set files: a temp file in the target folder, then a rename.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;

use crate::error::{Error, Result};
use crate::feature_set::FeatureSet;

/// Rows decoded per block when converting a non-F32 set.
const BLOCK_VALUES: usize = 1 << 16;

/// The feature values to write, in the cheapest form at hand.
pub(crate) enum FeatureBytes<'a> {
    /// Values in memory.
    F32(&'a [f32]),
    /// Values already as little-endian F32 bytes (a mapped F32 file).
    F32Le(&'a [u8]),
    /// Values of another dtype, decoded and narrowed to F32 block by block.
    Set(&'a FeatureSet),
}

/// Writes `labels` (I64 [n]) and `features` (F32 [n, d]) with `metadata` (plus
/// `original_shape` when given) to `path` atomically. The caller has validated the parts.
pub(crate) fn write_parts(
    path: &Path,
    n: usize,
    d: usize,
    features: FeatureBytes<'_>,
    labels: &[i64],
    metadata: &BTreeMap<String, String>,
    original_shape: Option<&[usize]>,
) -> Result<()> {
    let werr = |source: io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let invalid = |msg: String| werr(io::Error::new(io::ErrorKind::InvalidData, msg));

    let label_bytes = n
        .checked_mul(8)
        .ok_or_else(|| invalid("too many labels".into()))?;
    let feature_bytes = n
        .checked_mul(d)
        .and_then(|v| v.checked_mul(4))
        .ok_or_else(|| invalid("feature matrix too large".into()))?;
    let end = label_bytes
        .checked_add(feature_bytes)
        .ok_or_else(|| invalid("feature matrix too large".into()))?;
    let header = encode_header(
        metadata,
        original_shape,
        layout(n, vec![n, d], label_bytes, end),
    )
    .map_err(invalid)?;
    // From here on, an early return drops `tmp`, which deletes the temp file.
    let tmp = temp_file_beside(path).map_err(werr)?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        w.write_all(&(header.len() as u64).to_le_bytes())
            .map_err(werr)?;
        w.write_all(&header).map_err(werr)?;
        let mut buf = Vec::with_capacity(BLOCK_VALUES * 8);
        for block in labels.chunks(BLOCK_VALUES) {
            buf.clear();
            buf.extend(block.iter().flat_map(|v| v.to_le_bytes()));
            w.write_all(&buf).map_err(werr)?;
        }
        match features {
            FeatureBytes::F32(values) => {
                for block in values.chunks(BLOCK_VALUES) {
                    buf.clear();
                    buf.extend(block.iter().flat_map(|v| v.to_le_bytes()));
                    w.write_all(&buf).map_err(werr)?;
                }
            }
            FeatureBytes::F32Le(bytes) => w.write_all(bytes).map_err(werr)?,
            FeatureBytes::Set(set) => write_narrowed(path, set, &mut w, &mut buf)?,
        }
        w.flush().map_err(werr)?;
    }
    tmp.as_file().sync_all().map_err(werr)?;
    tmp.persist(path).map_err(|e| werr(e.error))?;
    Ok(())
}

/// Decodes `set` block by block and writes it as little-endian F32, refusing values that
/// overflow F32.
fn write_narrowed(
    path: &Path,
    set: &FeatureSet,
    w: &mut impl Write,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let d = set.n_features();
    let rows_per_block = (BLOCK_VALUES / d).max(1);
    let mut values = vec![0f64; rows_per_block * d];
    let mut row = 0;
    while row < set.n_samples() {
        let k = rows_per_block.min(set.n_samples() - row);
        let block = &mut values[..k * d];
        set.read_rows_f64(row, block);
        buf.clear();
        for (i, &v) in block.iter().enumerate() {
            let narrow = v as f32;
            if v.is_finite() && !narrow.is_finite() {
                return Err(Error::OutOfF32Range {
                    path: path.to_path_buf(),
                    value: v,
                    row: row + i / d,
                    col: i % d,
                });
            }
            buf.extend_from_slice(&narrow.to_le_bytes());
        }
        w.write_all(buf).map_err(|source| Error::Write {
            path: path.to_path_buf(),
            source,
        })?;
        row += k;
    }
    Ok(())
}

/// The two tensors of a feature-set file: I64 labels first, then F32 features, so that both
/// start aligned after the 8-byte-padded header (the order safetensors itself uses) and
/// readers can view the features in place.
pub(crate) fn layout(
    n: usize,
    feature_shape: Vec<usize>,
    label_bytes: usize,
    end: usize,
) -> Vec<(String, TensorInfo)> {
    vec![
        (
            "labels".to_string(),
            TensorInfo {
                dtype: Dtype::I64,
                shape: vec![n],
                data_offsets: (0, label_bytes),
            },
        ),
        (
            "features".to_string(),
            TensorInfo {
                dtype: Dtype::F32,
                shape: feature_shape,
                data_offsets: (label_bytes, end),
            },
        ),
    ]
}

/// The safetensors header of a feature set, padded with spaces to a multiple of 8 bytes so
/// that the data after it stays aligned: `metadata`, plus `original_shape` (comma-joined)
/// when given, and the tensors' layout.
pub(crate) fn encode_header(
    metadata: &BTreeMap<String, String>,
    original_shape: Option<&[usize]>,
    tensors: Vec<(String, TensorInfo)>,
) -> std::result::Result<Vec<u8>, String> {
    let mut meta: HashMap<String, String> = metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(dims) = original_shape {
        let joined: Vec<String> = dims.iter().map(usize::to_string).collect();
        meta.insert("original_shape".to_string(), joined.join(","));
    }
    let header = Metadata::new(Some(meta), tensors).map_err(|e| e.to_string())?;
    let mut header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    header.resize(header.len().next_multiple_of(8), b' ');
    Ok(header)
}

/// A temporary file in `path`'s folder, to be renamed onto `path` once complete; dropping it
/// deletes it. Temp files are private (0600) by default; this asks for the usual
/// 0666 & !umask instead, so the renamed file has the permissions of any other file the
/// user creates.
pub(crate) fn temp_file_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".probe-data-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(parent)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, synced, then
/// renamed, so readers see the old file or the whole new one, never a part (results files,
/// manifests).
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let path = path.as_ref();
    let werr = |source: io::Error| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = temp_file_beside(path).map_err(werr)?;
    tmp.write_all(bytes).map_err(werr)?;
    tmp.as_file().sync_all().map_err(werr)?;
    tmp.persist(path).map_err(|e| werr(e.error))?;
    Ok(())
}
