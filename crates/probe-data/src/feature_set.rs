//! Feature-set files: one safetensors file per layer with `features` [n, d] and `labels` [n].

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};

use crate::check::{
    check_counts, check_parts, decode_features, decode_labels, dense_labels, label_count,
    label_size, matrix_dims, one_line, resolve_original_shape, scan_non_finite,
};
use crate::error::{Error, Result};
use crate::write::{write_parts, FeatureBytes};

/// Name used in errors for sets that were built in memory rather than read from a file.
pub const IN_MEMORY: &str = "<in-memory feature set>";

/// Bytes of features scanned (and released) at a time when a file is opened.
const SCAN_BYTES: usize = 64 << 20;

/// Feature dtypes accepted by readers, as listed in error messages.
const FEATURE_DTYPES: &str = "F32, F16, BF16, F64";

/// Element type of the `features` tensor in a file; values are decoded to `f64` on read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureDtype {
    /// 32-bit float, the type writers produce.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// 64-bit float.
    F64,
}

impl FeatureDtype {
    /// Bytes per element.
    pub(crate) fn size(self) -> usize {
        match self {
            FeatureDtype::F16 | FeatureDtype::BF16 => 2,
            FeatureDtype::F32 => 4,
            FeatureDtype::F64 => 8,
        }
    }

    fn from_safetensors(dtype: Dtype) -> Option<FeatureDtype> {
        match dtype {
            Dtype::F32 => Some(FeatureDtype::F32),
            Dtype::F16 => Some(FeatureDtype::F16),
            Dtype::BF16 => Some(FeatureDtype::BF16),
            Dtype::F64 => Some(FeatureDtype::F64),
            _ => None,
        }
    }
}

impl fmt::Display for FeatureDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeatureDtype::F32 => "F32",
            FeatureDtype::F16 => "F16",
            FeatureDtype::BF16 => "BF16",
            FeatureDtype::F64 => "F64",
        })
    }
}

/// Where the feature values live.
enum Storage {
    /// Little-endian values of `dtype` at `map[start..start + n * d * size]`, decoded on read.
    /// `file` is the mapped file, kept to check before each read that it still has its
    /// `len` bytes: reading a mapped page that a truncation removed kills the process.
    Mapped {
        map: Mmap,
        start: usize,
        file: File,
        len: u64,
    },
    /// Row-major values in memory, owned here (a `Vec`) or by the caller (a numpy array).
    Memory(Box<dyn FeatureBuffer>),
}

/// Row-major feature values held in memory, borrowed from whoever owns them.
#[derive(Debug, Clone, Copy)]
pub enum FeatureValues<'a> {
    /// 32-bit floats, read without copying.
    F32(&'a [f32]),
    /// 64-bit floats, decoded to f64 exactly as from an F64 file.
    F64(&'a [f64]),
}

impl FeatureValues<'_> {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            FeatureValues::F32(v) => v.len(),
            FeatureValues::F64(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A buffer of row-major feature values that a [`FeatureSet`] reads in place: a `Vec`, or
/// memory owned elsewhere (the Python package wraps numpy arrays in one, so that scoring an
/// array copies nothing). The values must not change while the set lives.
pub trait FeatureBuffer: Send + Sync {
    /// The values, always the same slice.
    fn values(&self) -> FeatureValues<'_>;
}

impl FeatureBuffer for Vec<f32> {
    fn values(&self) -> FeatureValues<'_> {
        FeatureValues::F32(self)
    }
}

impl FeatureBuffer for Vec<f64> {
    fn values(&self) -> FeatureValues<'_> {
        FeatureValues::F64(self)
    }
}

/// One layer's representation of a dataset: an [n, d] feature matrix with one class label per row.
///
/// Files are memory-mapped and validated once at [`FeatureSet::open`]; rows are decoded to `f64`
/// on demand with [`FeatureSet::read_rows_f64`], so opening a large file costs no extra memory.
pub struct FeatureSet {
    path: Option<PathBuf>,
    storage: Storage,
    dtype: FeatureDtype,
    n: usize,
    d: usize,
    labels: Vec<u32>,
    class_values: Vec<i64>,
    metadata: BTreeMap<String, String>,
    original_shape: Vec<usize>,
    /// Whether `original_shape` came from a rank > 2 tensor or consistent metadata.
    shape_known: bool,
    /// Whether every feature value was checked to be finite (see [`FeatureSet::open_unscanned`]).
    values_scanned: bool,
}

impl fmt::Debug for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeatureSet")
            .field("path", &self.path)
            .field("dtype", &self.dtype)
            .field("n_samples", &self.n)
            .field("n_features", &self.n_features())
            .field("n_classes", &self.n_classes())
            .field("original_shape", &self.original_shape)
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl FeatureSet {
    /// Memory-maps and validates a file.
    ///
    /// Checks, each with its own [`Error`]: the file is readable safetensors, has `features`
    /// (F32, F16, BF16 or F64; rank 2, or rank > 2 read as `[n, prod(rest)]`) and `labels`
    /// (I64, I32, U32 or U8; `[n]` or `[n, 1]`) with one label per row, at least one column, two
    /// samples and two classes, and only finite feature values.
    pub fn open(path: impl AsRef<Path>) -> Result<FeatureSet> {
        let set = FeatureSet::open_unscanned(path)?;
        set.scan_values()?;
        Ok(FeatureSet {
            values_scanned: true,
            ..set
        })
    }

    /// As [`open`](Self::open), except that the feature values are not yet scanned for
    /// non-finite ones. For a reader that goes through every value before it uses any and
    /// tests each: it saves reading a large file twice. Such a reader calls
    /// [`scan_values`](Self::scan_values) when its own pass meets a non-finite value, for the
    /// error `open` would have given ([`Error::NonFinite`], with the count).
    pub fn open_unscanned(path: impl AsRef<Path>) -> Result<FeatureSet> {
        let path = path.as_ref();
        let corrupt = |detail: String| Error::Corrupt {
            path: path.to_path_buf(),
            detail: one_line(&detail),
        };
        // Refused before opening: opening a FIFO waits for a writer, possibly forever.
        let info = std::fs::metadata(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if let Some(kind) = not_regular(&info.file_type()) {
            return Err(Error::NotRegularFile {
                path: path.to_path_buf(),
                kind,
            });
        }
        let file = open_nonblocking(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        // Checked again on the open file: the path may have been replaced since.
        let info = file.metadata().map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if let Some(kind) = not_regular(&info.file_type()) {
            return Err(Error::NotRegularFile {
                path: path.to_path_buf(),
                kind,
            });
        }
        let len = info.len();
        if len < 8 {
            return Err(corrupt(format!(
                "file is {len} bytes, shorter than the 8-byte header length"
            )));
        }
        // SAFETY: the map is only read. A file that another process truncates while it is
        // mapped makes reads past its new end fault (SIGBUS); the length is checked against
        // the header here and again before every read (see `Storage::Mapped`), which leaves
        // only a truncation racing a read itself. Feature files are written once, atomically
        // by rename, and not modified in place.
        let map = unsafe { Mmap::map(&file) }.map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let expected = declared_length(&map).map_err(&corrupt)?;
        check_length(path, &file, expected)?;
        if map.len() as u64 != expected {
            return Err(Error::SizeMismatch {
                path: path.to_path_buf(),
                expected,
                actual: map.len() as u64,
            });
        }
        let (header_len, meta) =
            SafeTensors::read_metadata(&map).map_err(|e| corrupt(e.to_string()))?;
        let data_start = 8usize
            .checked_add(header_len)
            .ok_or_else(|| corrupt("header length overflows".to_string()))?;
        let names = meta.offset_keys();
        let Some(finfo) = meta.info("features") else {
            return Err(Error::MissingFeatures {
                path: path.to_path_buf(),
                found: names,
            });
        };
        let Some(linfo) = meta.info("labels") else {
            return Err(Error::MissingLabels {
                path: path.to_path_buf(),
                found: names,
            });
        };
        let Some(dtype) = FeatureDtype::from_safetensors(finfo.dtype) else {
            return Err(Error::UnsupportedDtype {
                path: path.to_path_buf(),
                tensor: "features",
                dtype: finfo.dtype.to_string(),
                accepted: FEATURE_DTYPES,
            });
        };
        let name = path.to_path_buf();
        let (n, d) = matrix_dims(&name, &finfo.shape)?;
        let label_width = label_size(&name, linfo.dtype)?;
        let n_labels = label_count(&name, &linfo.shape)?;
        check_counts(&name, &finfo.shape, n, d, n_labels)?;

        let range = |(s, e): (usize, usize)| {
            let s = data_start.checked_add(s)?;
            let e = data_start.checked_add(e)?;
            map.get(s..e).map(|b| (s, b))
        };
        let (fstart, fbytes) = range(finfo.data_offsets)
            .ok_or_else(|| corrupt("`features` data lies outside the file".to_string()))?;
        let (_, lbytes) = range(linfo.data_offsets)
            .ok_or_else(|| corrupt("`labels` data lies outside the file".to_string()))?;
        let fwant = n.checked_mul(d).and_then(|v| v.checked_mul(dtype.size()));
        if fwant != Some(fbytes.len()) {
            return Err(corrupt(
                "`features` byte size does not match its shape".into(),
            ));
        }
        if n.checked_mul(label_width) != Some(lbytes.len()) {
            return Err(corrupt(
                "`labels` byte size does not match its shape".into(),
            ));
        }
        // The features are read in full below: the last cheap moment to catch a truncation.
        check_length(path, &file, expected)?;
        let raw = decode_labels(linfo.dtype, lbytes);
        let (labels, class_values) = dense_labels(&name, &raw)?;
        let metadata: BTreeMap<String, String> = meta
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let (original_shape, shape_known) = resolve_original_shape(&finfo.shape, d, &metadata);
        Ok(FeatureSet {
            path: Some(name),
            storage: Storage::Mapped {
                map,
                start: fstart,
                file,
                len: expected,
            },
            dtype,
            n,
            d,
            labels,
            class_values,
            metadata,
            original_shape,
            shape_known,
            values_scanned: false,
        })
    }

    /// Whether every feature value is known to be finite: true for sets from
    /// [`open`](Self::open) and in memory, false for [`open_unscanned`](Self::open_unscanned).
    pub fn values_scanned(&self) -> bool {
        self.values_scanned
    }

    /// Reads every feature value of a mapped file and refuses non-finite ones, with the
    /// count and the first one's position ([`Error::NonFinite`]); sets in memory were checked
    /// when built. The file is scanned in pieces, each released after it is read, so that a
    /// file larger than memory leaves none of it resident.
    pub fn scan_values(&self) -> Result<()> {
        let Storage::Mapped {
            map,
            start,
            file,
            len,
        } = &self.storage
        else {
            return Ok(());
        };
        if self.values_scanned {
            return Ok(());
        }
        let path = self.path.as_deref().unwrap_or(Path::new(IN_MEMORY));
        // A file truncated since it was opened would make the reads below die of SIGBUS.
        check_length(path, file, *len)?;
        let size = self.dtype.size();
        let fbytes = &map[*start..*start + self.n * self.d * size];
        let (mut count, mut first) = (0, None);
        let piece = (SCAN_BYTES / size).max(1) * size;
        for (i, bytes) in fbytes.chunks(piece).enumerate() {
            let (c, f) = scan_non_finite(self.dtype, bytes);
            count += c;
            first = first.or(f.map(|f| i * (piece / size) + f));
            release(map, start + i * piece, bytes.len());
        }
        match first {
            Some(first) => Err(Error::NonFinite {
                path: path.to_path_buf(),
                count,
                row: first / self.d,
                col: first % self.d,
            }),
            None => Ok(()),
        }
    }

    /// In-memory set (row-major f32 features of `shape` = [n, ...]); labels are raw class values.
    ///
    /// Validated like [`FeatureSet::open`]; errors name the set `<in-memory feature set>`.
    pub fn from_f32(
        features: Vec<f32>,
        shape: &[usize],
        labels: &[i64],
        metadata: BTreeMap<String, String>,
    ) -> Result<FeatureSet> {
        FeatureSet::from_buffer(Box::new(features), shape, labels, metadata)
    }

    /// In-memory set over any [`FeatureBuffer`] (row-major values of `shape` = [n, ...]),
    /// read in place; labels are raw class values.
    ///
    /// Validated like [`FeatureSet::open`]; errors name the set `<in-memory feature set>`.
    pub fn from_buffer(
        buffer: Box<dyn FeatureBuffer>,
        shape: &[usize],
        labels: &[i64],
        metadata: BTreeMap<String, String>,
    ) -> Result<FeatureSet> {
        let name = PathBuf::from(IN_MEMORY);
        let values = buffer.values();
        let (n, d, dense, class_values) = check_parts(&name, values, shape, labels)?;
        let (original_shape, shape_known) = resolve_original_shape(shape, d, &metadata);
        let dtype = match values {
            FeatureValues::F32(_) => FeatureDtype::F32,
            FeatureValues::F64(_) => FeatureDtype::F64,
        };
        Ok(FeatureSet {
            path: None,
            storage: Storage::Memory(buffer),
            dtype,
            n,
            d,
            labels: dense,
            class_values,
            metadata,
            original_shape,
            shape_known,
            values_scanned: true,
        })
    }

    /// The file this set was opened from; `None` for sets built in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Number of samples (rows), n.
    pub fn n_samples(&self) -> usize {
        self.n
    }

    /// Number of features per sample, d (the product of the trailing dimensions).
    pub fn n_features(&self) -> usize {
        self.d
    }

    /// Number of classes, C (distinct label values).
    pub fn n_classes(&self) -> usize {
        self.class_values.len()
    }

    /// Element type of the stored features.
    pub fn dtype(&self) -> FeatureDtype {
        self.dtype
    }

    /// Dense class id (0..C-1) of each row; raw values are numbered in sorted order.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The sorted distinct raw label values: class id `k` stands for `class_values()[k]`.
    pub fn class_values(&self) -> &[i64] {
        &self.class_values
    }

    /// The file's `__metadata__` (string to string), e.g. `layer`, `model`, `dataset`.
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// Layer name for reports: metadata `layer`, else the file stem, else `features`.
    pub fn layer(&self) -> String {
        if let Some(layer) = self.metadata.get("layer") {
            return layer.clone();
        }
        self.path
            .as_deref()
            .and_then(Path::file_stem)
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "features".to_string())
    }

    /// Position of the layer in the network (metadata `layer_index`), if recorded and numeric.
    pub fn layer_index(&self) -> Option<i64> {
        self.metadata.get("layer_index")?.trim().parse().ok()
    }

    /// Per-sample shape, e.g. `[64, 16, 16]` for a conv layer.
    ///
    /// From the tensor's shape when its rank is above 2, else from metadata `original_shape`
    /// (`"64,16,16"`) when that is consistent with d (a reduced set may carry the shape of the
    /// layer it came from, which is then ignored), else `[d]`.
    pub fn original_shape(&self) -> &[usize] {
        &self.original_shape
    }

    /// Decodes rows start..start+k (k = out.len()/d; out.len() must be a multiple of d) to f64 into out.
    ///
    /// # Panics
    ///
    /// If `out.len()` is not a multiple of d or the rows run past `n_samples()` (caller bugs,
    /// not bad data: the file was validated at open).
    pub fn read_rows_f64(&self, start: usize, out: &mut [f64]) {
        let d = self.d;
        assert!(
            out.len() % d == 0,
            "read_rows_f64: buffer length {} is not a multiple of d = {d}",
            out.len()
        );
        let k = out.len() / d;
        assert!(
            start.checked_add(k).is_some_and(|end| end <= self.n),
            "read_rows_f64: rows {start}..{start}+{k} out of range (n = {})",
            self.n
        );
        let first = start * d;
        let len = out.len();
        match &self.storage {
            Storage::Memory(buffer) => match buffer.values() {
                FeatureValues::F32(values) => {
                    for (o, &v) in out.iter_mut().zip(&values[first..first + len]) {
                        *o = f64::from(v);
                    }
                }
                FeatureValues::F64(values) => out.copy_from_slice(&values[first..first + len]),
            },
            Storage::Mapped {
                map, start: base, ..
            } => {
                self.assert_not_shrunk();
                let size = self.dtype.size();
                let from = base + first * size;
                decode_features(self.dtype, &map[from..from + len * size], out);
            }
        }
    }

    /// The whole feature matrix as row-major f32 without copying, when it is stored that way
    /// (an F32 file whose data is 4-byte aligned, or a set built in memory); `None` otherwise,
    /// in which case [`read_rows_f32`](Self::read_rows_f32) decodes it.
    pub fn as_f32_slice(&self) -> Option<&[f32]> {
        match &self.storage {
            Storage::Memory(buffer) => match buffer.values() {
                FeatureValues::F32(values) => Some(values),
                FeatureValues::F64(_) => None,
            },
            Storage::Mapped { map, start, .. }
                if self.dtype == FeatureDtype::F32 && cfg!(target_endian = "little") =>
            {
                self.assert_not_shrunk();
                bytemuck::try_cast_slice(&map[*start..*start + self.n * self.d * 4]).ok()
            }
            Storage::Mapped { .. } => None,
        }
    }

    /// Decodes rows start..start+k (k = out.len()/d) to f32 into out; F64 values are rounded.
    ///
    /// # Panics
    ///
    /// As [`read_rows_f64`](Self::read_rows_f64).
    pub fn read_rows_f32(&self, start: usize, out: &mut [f32]) {
        let d = self.d;
        assert!(
            out.len() % d == 0
                && start
                    .checked_add(out.len() / d)
                    .is_some_and(|end| end <= self.n),
            "read_rows_f32: {} values from row {start} do not fit an {} x {d} set",
            out.len(),
            self.n
        );
        let first = start * d;
        let len = out.len();
        match &self.storage {
            Storage::Memory(buffer) => match buffer.values() {
                FeatureValues::F32(values) => out.copy_from_slice(&values[first..first + len]),
                FeatureValues::F64(values) => {
                    for (o, &v) in out.iter_mut().zip(&values[first..first + len]) {
                        *o = v as f32;
                    }
                }
            },
            Storage::Mapped {
                map, start: base, ..
            } if self.dtype == FeatureDtype::F32 => {
                self.assert_not_shrunk();
                let from = base + first * 4;
                for (o, c) in out
                    .iter_mut()
                    .zip(map[from..from + len * 4].chunks_exact(4))
                {
                    *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
            Storage::Mapped { .. } => {
                let mut wide = vec![0f64; d];
                for (r, row) in out.chunks_exact_mut(d).enumerate() {
                    self.read_rows_f64(start + r, &mut wide);
                    for (o, &v) in row.iter_mut().zip(&wide) {
                        *o = v as f32;
                    }
                }
            }
        }
    }

    /// Says that this process is done with rows `start..start + k` for now: for a mapped
    /// file, their pages leave the process's resident memory (the page cache keeps them, and
    /// a later read brings them back). Long passes over large files call it after each block,
    /// so that resident memory stays at about one block. A no-op for sets in memory.
    pub fn release_rows(&self, start: usize, k: usize) {
        if let Storage::Mapped {
            map, start: base, ..
        } = &self.storage
        {
            let size = self.dtype.size();
            let first = start.min(self.n);
            let k = k.min(self.n - first);
            release(map, base + first * self.d * size, k * self.d * size);
        }
    }

    /// Writes the set atomically (temp file in the target folder, then rename): features as F32 [n, d], labels as I64 raw values, metadata plus "original_shape" (comma-joined) when rank>2 or known.
    ///
    /// On error nothing is left under `path` (an existing file there is kept as it was).
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let raw: Vec<i64> = self
            .labels
            .iter()
            .map(|&k| self.class_values[k as usize])
            .collect();
        let features = match &self.storage {
            Storage::Memory(buffer) => match buffer.values() {
                FeatureValues::F32(values) => FeatureBytes::F32(values),
                FeatureValues::F64(_) => FeatureBytes::Set(self),
            },
            Storage::Mapped { map, start, .. } if self.dtype == FeatureDtype::F32 => {
                self.assert_not_shrunk();
                FeatureBytes::F32Le(&map[*start..*start + self.n * self.d * 4])
            }
            Storage::Mapped { .. } => FeatureBytes::Set(self),
        };
        let shape = self.shape_known.then_some(self.original_shape.as_slice());
        write_parts(
            path.as_ref(),
            self.n,
            self.d,
            features,
            &raw,
            &self.metadata,
            shape,
        )
    }

    /// Panics with a clear message when the mapped file lost bytes since it was opened,
    /// instead of letting the read that follows die of SIGBUS. One `fstat` per call.
    fn assert_not_shrunk(&self) {
        if let Storage::Mapped { file, len, .. } = &self.storage {
            let path = self.path.as_deref().unwrap_or(Path::new(IN_MEMORY));
            if let Err(e) = check_length(path, file, *len) {
                panic!("{e}");
            }
        }
    }
}

/// Drops `len` bytes from `offset` of a mapping from the resident set (best effort).
fn release(map: &Mmap, offset: usize, len: usize) {
    if len == 0 {
        return;
    }
    #[cfg(unix)]
    {
        // SAFETY: the map is a shared, read-only mapping of a file that is never written in
        // place (feature files are replaced by rename). MADV_DONTNEED on such a mapping only
        // unmaps its pages from this process: any later access, through a slice borrowed
        // before or after, reads the same bytes back from the page cache or the file.
        let _ =
            unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len) };
    }
    #[cfg(not(unix))]
    let _ = (map, offset, len);
}

/// What a file type is, when it is not a regular file (`None` for a regular file).
fn not_regular(t: &std::fs::FileType) -> Option<&'static str> {
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a folder");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if t.is_socket() {
            return Some("a socket");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_char_device() {
            return Some("a character device");
        }
    }
    Some("not a file")
}

/// Opens for reading without waiting: should the path have become a FIFO since it was
/// checked, the open returns at once (and the type check after it refuses the file). Reads
/// of regular files ignore the flag.
fn open_nonblocking(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    options.open(path)
}

/// 8 + header length + the end of the last tensor's data, from the header alone: the length a
/// complete safetensors file has.
fn declared_length(map: &[u8]) -> std::result::Result<u64, String> {
    let n = u64::from_le_bytes(map[..8].try_into().map_err(|_| "short file".to_string())?);
    let header = usize::try_from(n)
        .ok()
        .and_then(|n| map.get(8..8usize.checked_add(n)?))
        .ok_or_else(|| {
            format!(
                "header length {n} runs past the end of the {}-byte file",
                map.len()
            )
        })?;
    let json: serde_json::Value =
        serde_json::from_slice(header).map_err(|e| format!("unreadable header: {e}"))?;
    let object = json
        .as_object()
        .ok_or_else(|| "the header is not a JSON object".to_string())?;
    let mut end = 0u64;
    for (name, info) in object {
        if name == "__metadata__" {
            continue;
        }
        let e = info
            .get("data_offsets")
            .and_then(|o| o.get(1))
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format!("tensor {name:?} has no valid data_offsets"))?;
        end = end.max(e);
    }
    (8 + n)
        .checked_add(end)
        .ok_or_else(|| "tensor offsets overflow".to_string())
}

/// Fails with [`Error::SizeMismatch`] unless the open `file` is `expected` bytes long.
fn check_length(path: &Path, file: &File, expected: u64) -> Result<()> {
    let actual = file
        .metadata()
        .map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    if actual != expected {
        return Err(Error::SizeMismatch {
            path: path.to_path_buf(),
            expected,
            actual,
        });
    }
    Ok(())
}

/// Atomic write of a feature set from raw parts (same rules as FeatureSet::write). shape = [n, ...].
///
/// The parts are validated like [`FeatureSet::from_f32`] first, so that every file written here
/// opens again. On error nothing is left under `path`.
pub fn write_feature_set(
    path: impl AsRef<Path>,
    features: &[f32],
    shape: &[usize],
    labels: &[i64],
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let path = path.as_ref();
    let (n, d, _, _) = check_parts(path, FeatureValues::F32(features), shape, labels)?;
    let (original_shape, known) = resolve_original_shape(shape, d, metadata);
    let shape = known.then_some(original_shape.as_slice());
    write_parts(
        path,
        n,
        d,
        FeatureBytes::F32(features),
        labels,
        metadata,
        shape,
    )
}
