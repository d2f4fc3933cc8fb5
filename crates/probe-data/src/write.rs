//! Atomic writing of feature-set files: a temp file in the target folder, then a rename.

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;

use crate::error::{Error, Result};
use crate::feature_set::FeatureSet;
use crate::lock::{lock_exclusive, try_lock_exclusive};

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
///
/// The JSON is written in a fixed order (`__metadata__` with its keys sorted, then the
/// tensors in data order), so that the same set gives the same bytes in every run: safetensors'
/// own encoder keeps the metadata in a `HashMap`, whose order changes from process to process.
pub(crate) fn encode_header(
    metadata: &BTreeMap<String, String>,
    original_shape: Option<&[usize]>,
    tensors: Vec<(String, TensorInfo)>,
) -> std::result::Result<Vec<u8>, String> {
    let mut meta = metadata.clone();
    if let Some(dims) = original_shape {
        let joined: Vec<String> = dims.iter().map(usize::to_string).collect();
        meta.insert("original_shape".to_string(), joined.join(","));
    }
    // Validates the layout (contiguous, in-bounds offsets) as safetensors' encoder would.
    Metadata::new(None, tensors.clone()).map_err(|e| e.to_string())?;
    let mut header = Vec::with_capacity(256);
    header.extend_from_slice(b"{\"__metadata__\":");
    serde_json::to_writer(&mut header, &meta).map_err(|e| e.to_string())?;
    for (name, info) in &tensors {
        header.push(b',');
        serde_json::to_writer(&mut header, name).map_err(|e| e.to_string())?;
        header.push(b':');
        serde_json::to_writer(&mut header, info).map_err(|e| e.to_string())?;
    }
    header.push(b'}');
    header.resize(header.len().next_multiple_of(8), b' ');
    Ok(header)
}

/// Name prefix of this crate's temporary files (`.probe-data-XXXXXX.tmp`).
const TEMP_PREFIX: &str = ".probe-data-";
/// Name suffix of this crate's temporary files.
const TEMP_SUFFIX: &str = ".tmp";
/// How often a writer tries a fresh temporary name when a cleaner removed the last one.
const TEMP_ATTEMPTS: usize = 8;

/// A temporary file in `path`'s folder, to be renamed onto `path` once complete; dropping it
/// deletes it. Temp files are private (0600) by default; this asks for the usual
/// 0666 & !umask instead, so the renamed file has the permissions of any other file the
/// user creates.
///
/// The file is exclusively locked for as long as it is open, which tells
/// [`remove_stale_temporaries`] that a live process owns it (a killed one releases the lock
/// with its descriptors).
pub(crate) fn temp_file_beside(path: &Path) -> io::Result<tempfile::NamedTempFile> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX).suffix(TEMP_SUFFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut last = None;
    for _ in 0..TEMP_ATTEMPTS {
        let tmp = builder.tempfile_in(parent)?;
        // Where the file system has no locks the file goes unlocked; cleaners cannot lock it
        // either, so they leave it alone.
        if lock_exclusive(tmp.as_file()).is_err() {
            return Ok(tmp);
        }
        // A cleaner may have locked and removed the file between its creation and our lock.
        match still_linked(&tmp) {
            Ok(true) => return Ok(tmp),
            Ok(false) => last = None,
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::other(format!(
            "{TEMP_ATTEMPTS} temporary files in a row were removed by another process"
        ))
    }))
}

/// Whether `tmp`'s path still names its open file.
fn still_linked(tmp: &tempfile::NamedTempFile) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let open = tmp.as_file().metadata()?;
        match std::fs::symlink_metadata(tmp.path()) {
            Ok(named) => Ok(named.dev() == open.dev() && named.ino() == open.ino()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tmp;
        Ok(true)
    }
}

/// Whether `name` is one of this crate's temporary files: `.probe-data-`, an alphanumeric
/// random part, `.tmp`.
fn is_our_temporary(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX)
        .and_then(|rest| rest.strip_suffix(TEMP_SUFFIX))
        .is_some_and(|mid| !mid.is_empty() && mid.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Removes the temporary files that writers of this crate left in `dir` when they were
/// killed (`.probe-data-XXXXXX.tmp`), and returns their paths.
///
/// A writer holds an exclusive lock on its temporary file for the file's whole life, so a
/// file that can be locked here belongs to no live process and is removed; a locked one is
/// left alone, as is every other file (other names, folders, symlinks). Files that vanish
/// meanwhile or cannot be opened (another user's) are skipped. On platforms without `flock`
/// (anything but Unix) an unlocked file cannot be told from a live one, so nothing is
/// removed there.
///
/// Errors: [`Error::Read`] when `dir` cannot be listed, [`Error::Write`] when a stale file
/// cannot be removed.
pub fn remove_stale_temporaries(dir: &Path) -> Result<Vec<PathBuf>> {
    let rerr = |source: io::Error| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut removed = Vec::new();
    if cfg!(not(unix)) {
        return Ok(removed);
    }
    for entry in std::fs::read_dir(dir).map_err(rerr)? {
        let entry = entry.map_err(rerr)?;
        if !entry.file_name().to_str().is_some_and(is_our_temporary) {
            continue;
        }
        let path = entry.path();
        // Not followed: a symlink of our name is not ours.
        match entry.file_type() {
            Ok(t) if t.is_file() => {}
            _ => continue,
        }
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        if !try_lock_exclusive(&file).unwrap_or(false) {
            continue;
        }
        // Removed while we hold the lock: a writer that created it but has not locked it yet
        // sees it gone once it gets the lock, and starts a fresh one.
        match std::fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(Error::Write { path, source }),
        }
    }
    removed.sort();
    Ok(removed)
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
