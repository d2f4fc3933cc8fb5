//! Streaming writer for feature sets: rows are appended batch by batch, so a layer's whole
//! feature matrix never has to be held in memory.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::check::{check_counts, dense_labels, element_count, product};
use crate::error::{Error, Result};

/// Buffer size for writing out the labels at [`FeatureSetWriter::finish`].
const LABEL_BUFFER: usize = 1 << 19;

/// Writes a feature set row batch by row batch when the number of samples is known up front.
///
/// The file is the same safetensors layout as [`write_feature_set`](crate::write_feature_set)
/// writes (`labels` I64 `[n]` first, then `features` F32, 8-byte aligned), except that
/// `features` keeps the shape given at [`create`](Self::create), e.g. `[n, 64, 16, 16]`. Rows
/// go straight to a temporary file in the target folder; only the labels (8 bytes per sample)
/// are kept in memory. [`finish`](Self::finish) validates the set like
/// [`FeatureSet::open`](crate::FeatureSet::open) would and renames the file into place.
/// Dropping a writer without `finish`, or a failed `finish`, removes the temporary file, so
/// nothing half-written is left behind.
///
/// ```
/// use std::collections::BTreeMap;
/// use probe_data::{FeatureSet, FeatureSetWriter};
///
/// # fn main() -> probe_data::Result<()> {
/// let dir = tempfile::tempdir().expect("temp dir");
/// let path = dir.path().join("conv1.safetensors");
/// let meta = BTreeMap::from([("layer".to_string(), "conv1".to_string())]);
/// // Three samples of shape [2, 1], written in two batches.
/// let mut w = FeatureSetWriter::create(&path, &[3, 2, 1], &meta)?;
/// w.append(&[0.0, 1.0, 2.0, 3.0], &[7, 3])?;
/// w.append(&[4.0, 5.0], &[7])?;
/// assert_eq!(w.rows_written(), 3);
/// w.finish()?;
///
/// let set = FeatureSet::open(&path)?;
/// assert_eq!((set.n_samples(), set.n_features(), set.n_classes()), (3, 2, 2));
/// assert_eq!(set.original_shape(), &[2, 1]);
/// assert_eq!(set.as_f32_slice(), Some(&[0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0][..]));
/// # Ok(())
/// # }
/// ```
pub struct FeatureSetWriter {
    /// The final path.
    path: PathBuf,
    /// The temporary file in the target folder; dropping it deletes it.
    tmp: NamedTempFile,
    /// The features shape, [n, ...per-sample dims].
    shape: Vec<usize>,
    /// Rows declared at creation.
    n: usize,
    /// Values per row.
    width: usize,
    /// File offset of the data section (after the 8-byte length and the padded header).
    data_start: u64,
    /// File offset of the first feature value.
    features_start: u64,
    /// Raw labels appended so far (one per written row).
    labels: Vec<i64>,
    /// Non-finite values seen so far.
    bad_count: usize,
    /// Flat index (row * width + col) of the first non-finite value.
    first_bad: Option<usize>,
}

impl fmt::Debug for FeatureSetWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeatureSetWriter")
            .field("path", &self.path)
            .field("shape", &self.shape)
            .field("rows_written", &self.labels.len())
            .finish_non_exhaustive()
    }
}

impl FeatureSetWriter {
    /// Starts writing a feature set of `shape` = `[n, ...per-sample dims]` (F32 features, I64
    /// labels) to a temporary file in `path`'s folder.
    ///
    /// The safetensors header is written first: `metadata`, plus `original_shape` (the
    /// per-sample dims comma-joined) when there is more than one per-sample dim. Errors: a
    /// missing or unwritable folder ([`Error::Write`]), a shape of rank below 2
    /// ([`Error::BadRank`]), zero width ([`Error::NoColumns`]), fewer than 2 samples
    /// ([`Error::TooFewSamples`]).
    pub fn create(
        path: impl AsRef<Path>,
        shape: &[usize],
        metadata: &BTreeMap<String, String>,
    ) -> Result<FeatureSetWriter> {
        let path = path.as_ref();
        let werr = |source: io::Error| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        let too_large = || {
            werr(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a feature matrix of shape {shape:?} is too large to address"),
            ))
        };
        let Some((&n, dims)) = shape.split_first().filter(|(_, rest)| !rest.is_empty()) else {
            return Err(Error::BadRank {
                path: path.to_path_buf(),
                tensor: "features",
                shape: shape.to_vec(),
                expected: "[n, d] or [n, ...] (rank 2 or more, one row per sample)",
            });
        };
        let width = product(dims).ok_or_else(too_large)?;
        check_counts(path, shape, n, width, n)?;
        let label_bytes = n.checked_mul(8).ok_or_else(too_large)?;
        let end = element_count(shape)
            .and_then(|v| v.checked_mul(4))
            .and_then(|v| v.checked_add(label_bytes))
            .ok_or_else(too_large)?;

        let header = crate::write::encode_header(
            metadata,
            (dims.len() > 1).then_some(dims),
            crate::write::layout(n, shape.to_vec(), label_bytes, end),
        )
        .map_err(|msg| werr(io::Error::new(io::ErrorKind::InvalidData, msg)))?;
        let data_start = 8 + header.len() as u64;
        let features_start = data_start + label_bytes as u64;

        // From here on, an early return drops `tmp`, which deletes the temp file.
        let mut tmp = crate::write::temp_file_beside(path).map_err(werr)?;
        {
            let file = tmp.as_file_mut();
            file.write_all(&(header.len() as u64).to_le_bytes())
                .map_err(werr)?;
            file.write_all(&header).map_err(werr)?;
        }
        Ok(FeatureSetWriter {
            path: path.to_path_buf(),
            tmp,
            shape: shape.to_vec(),
            n,
            width,
            data_start,
            features_start,
            labels: Vec::with_capacity(n),
            bad_count: 0,
            first_bad: None,
        })
    }

    /// Appends k rows (`rows.len() == k * width`, row-major) and their k labels (raw class
    /// values).
    ///
    /// Errors: lengths that disagree ([`Error::BatchShape`]), more than n rows in all
    /// ([`Error::TooManyRows`]), a failed write ([`Error::Write`]). After an error nothing of
    /// the batch counts, so the batch may be given again. Non-finite values are accepted here
    /// and reported by [`finish`](Self::finish).
    pub fn append(&mut self, rows: &[f32], labels: &[i64]) -> Result<()> {
        let k = labels.len();
        if k.checked_mul(self.width) != Some(rows.len()) {
            return Err(Error::BatchShape {
                path: self.path.clone(),
                values: rows.len(),
                labels: k,
                width: self.width,
            });
        }
        let written = self.labels.len();
        if k > self.n - written {
            return Err(Error::TooManyRows {
                path: self.path.clone(),
                rows: k,
                written,
                n: self.n,
            });
        }
        if k == 0 {
            return Ok(());
        }
        let mut bad = rows.iter().enumerate().filter(|(_, v)| !v.is_finite());
        let first = bad.next().map(|(i, _)| written * self.width + i);
        let count = first.map_or(0, |_| 1 + bad.count());

        // Offsets fit: n * width * 4 was checked at create.
        let offset = self.features_start + (written * self.width * 4) as u64;
        #[cfg(target_endian = "little")]
        let bytes: &[u8] = bytemuck::cast_slice(rows);
        #[cfg(not(target_endian = "little"))]
        let owned: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
        #[cfg(not(target_endian = "little"))]
        let bytes: &[u8] = &owned;
        let file = self.tmp.as_file_mut();
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.write_all(bytes))
            .map_err(|source| Error::Write {
                path: self.path.clone(),
                source,
            })?;

        self.labels.extend_from_slice(labels);
        self.bad_count += count;
        if self.first_bad.is_none() {
            self.first_bad = first;
        }
        Ok(())
    }

    /// Rows written so far.
    pub fn rows_written(&self) -> usize {
        self.labels.len()
    }

    /// Validates the set, writes the labels, syncs and renames the temporary file onto the
    /// final path (atomically). Returns the final path.
    ///
    /// Errors, after which nothing is left behind (an existing file at the path is kept as it
    /// was): fewer than n rows appended ([`Error::MissingRows`]), fewer than 2 classes
    /// ([`Error::TooFewClasses`]), non-finite values ([`Error::NonFinite`], with their count
    /// and the row and column of the first), a failed write or rename ([`Error::Write`]).
    pub fn finish(self) -> Result<PathBuf> {
        let FeatureSetWriter {
            path,
            mut tmp,
            n,
            width,
            data_start,
            labels,
            bad_count,
            first_bad,
            ..
        } = self;
        // Every early return drops `tmp`, which deletes the temp file.
        if labels.len() != n {
            return Err(Error::MissingRows {
                path,
                written: labels.len(),
                n,
            });
        }
        dense_labels(&path, &labels)?;
        if let Some(first) = first_bad {
            return Err(Error::NonFinite {
                path,
                count: bad_count,
                row: first / width,
                col: first % width,
            });
        }
        let werr = |source: io::Error| Error::Write {
            path: path.clone(),
            source,
        };
        {
            let file = tmp.as_file_mut();
            file.seek(SeekFrom::Start(data_start)).map_err(werr)?;
            let mut w = BufWriter::with_capacity(LABEL_BUFFER, file);
            for v in &labels {
                w.write_all(&v.to_le_bytes()).map_err(werr)?;
            }
            w.flush().map_err(werr)?;
        }
        tmp.as_file().sync_all().map_err(werr)?;
        tmp.persist(&path).map_err(|e| werr(e.error))?;
        Ok(path)
    }
}
