//! Conversion of the Hugging Face Hub's parquet image datasets (one PNG and one integer label
//! per row) into the local formats the loaders read: IDX files for MNIST, binary batches for
//! CIFAR-10.
//!
//! The image column is the first struct column with a binary `bytes` field (how `datasets`
//! stores an `Image` feature: `{bytes, path}`), or else the first plain binary column; the
//! label column is the integer column named `label`. A converted folder is complete when its
//! [`MANIFEST`] is there and every file it lists has the listed size; the manifest is written
//! last, and every file atomically, so an interrupted conversion is redone, never half-used.

use std::fs::{self, File};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use image::ImageFormat;
use parquet::basic::{ConvertedType, Type as PhysicalType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::reader::RowIter;
use parquet::record::Field;
use parquet::schema::types::{Type, TypePtr};

use crate::cifar::{cifar10_files, CIFAR10_RECORD_BYTES};
use crate::dataset::Split;
use crate::error::{Error, Result};
use probe_data::write_atomic;

/// The file, written last, that marks a converted folder as complete and lists its files.
pub(crate) const MANIFEST: &str = "manifest.json";
/// Version of the converted layout; a folder of another version is converted again.
const FORMAT: u64 = 1;
/// Magic number of an IDX image file (unsigned bytes, three dimensions).
const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX label file (unsigned bytes, one dimension).
const IDX_LABELS_MAGIC: u32 = 0x0000_0801;
/// Classes of both datasets; a label outside `0..CLASSES` is an error.
const CLASSES: i64 = 10;

/// Colour layout of the decoded images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Colour {
    /// One grey byte per pixel, row-major.
    Grey,
    /// The red, green and blue planes, each row-major (channels first).
    Rgb,
}

/// What every image of a file must be.
#[derive(Debug, Clone, Copy)]
struct ImageSpec {
    /// Width and height in pixels.
    side: u32,
    /// Colour layout the pixels are produced in.
    colour: Colour,
}

impl ImageSpec {
    /// Bytes of one decoded image.
    fn bytes(self) -> usize {
        let pixels = (self.side * self.side) as usize;
        match self.colour {
            Colour::Grey => pixels,
            Colour::Rgb => 3 * pixels,
        }
    }
}

/// MNIST: 28 × 28 grey levels.
const MNIST_SPEC: ImageSpec = ImageSpec {
    side: 28,
    colour: Colour::Grey,
};
/// CIFAR-10: 32 × 32 RGB.
const CIFAR10_SPEC: ImageSpec = ImageSpec {
    side: 32,
    colour: Colour::Rgb,
};

/// Where the converted folder came from, for its manifest.
pub(crate) struct Source<'a> {
    /// The dataset repository, `owner/name`.
    pub repo: &'a str,
    /// The snapshot (commit) the parquet files belong to.
    pub revision: &'a str,
}

/// Converts the MNIST parquet files `train` and `test` into the four IDX files (uncompressed)
/// in `out`, then writes the manifest.
pub(crate) fn mnist(train: &Path, test: &Path, out: &Path, source: &Source<'_>) -> Result<()> {
    create_dir(out)?;
    let mut written = Vec::new();
    for (path, prefix) in [(train, "train"), (test, "t10k")] {
        // The headers (16 and 8 bytes) are filled in once the number of rows is known.
        let mut images = vec![0; 16];
        let mut labels = vec![0; 8];
        let rows = for_each_image(path, MNIST_SPEC, |_, image, label| {
            images.extend_from_slice(image);
            labels.push(label);
            Ok(())
        })?;
        if rows == 0 {
            return Err(bad(path, "no rows"));
        }
        let n = u32::try_from(rows).map_err(|_| bad(path, format!("{rows} rows is too many")))?;
        let side = MNIST_SPEC.side;
        for (i, word) in [IDX_IMAGES_MAGIC, n, side, side].into_iter().enumerate() {
            images[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
        }
        for (i, word) in [IDX_LABELS_MAGIC, n].into_iter().enumerate() {
            labels[4 * i..4 * i + 4].copy_from_slice(&word.to_be_bytes());
        }
        for (name, bytes) in [
            (format!("{prefix}-images-idx3-ubyte"), images),
            (format!("{prefix}-labels-idx1-ubyte"), labels),
        ] {
            write_atomic(out.join(&name), &bytes)?;
            written.push((name, bytes.len() as u64));
        }
    }
    write_manifest(out, source, &written)
}

/// Converts the CIFAR-10 parquet files `train` and `test` into `data_batch_1.bin` ..
/// `data_batch_5.bin` (the training rows in order, cut into five near-equal batches: 10 000
/// each for the real set) and `test_batch.bin` in `out`, then writes the manifest.
pub(crate) fn cifar10(train: &Path, test: &Path, out: &Path, source: &Source<'_>) -> Result<()> {
    create_dir(out)?;
    let mut written = Vec::new();
    for (path, split) in [(train, Split::Train), (test, Split::Test)] {
        let names = cifar10_files(split);
        let rows = count_rows(path)?;
        if rows < names.len() {
            return Err(bad(
                path,
                format!(
                    "{rows} row(s), fewer than the {} batch file(s) to fill",
                    names.len()
                ),
            ));
        }
        // Batch k holds rows [k·rows/batches, (k+1)·rows/batches).
        let end_of = |k: usize| (k + 1) * rows / names.len();
        let mut batch = 0;
        let mut records = Vec::with_capacity(end_of(0) * CIFAR10_RECORD_BYTES);
        let seen = for_each_image(path, CIFAR10_SPEC, |index, image, label| {
            if batch == names.len() {
                return Err(bad(
                    path,
                    format!("more rows than the {rows} its metadata says"),
                ));
            }
            records.push(label);
            records.extend_from_slice(image);
            if index + 1 == end_of(batch) {
                write_atomic(out.join(names[batch]), &records)?;
                written.push((names[batch].to_string(), records.len() as u64));
                records.clear();
                batch += 1;
            }
            Ok(())
        })?;
        if seen != rows || batch != names.len() {
            return Err(bad(
                path,
                format!("{seen} row(s) read, but the metadata says {rows}"),
            ));
        }
    }
    write_manifest(out, source, &written)
}

/// Whether `dir` holds a complete conversion of this [`FORMAT`]: its manifest, and every file
/// the manifest lists at the listed size.
pub(crate) fn is_complete(dir: &Path) -> bool {
    let Ok(text) = fs::read(dir.join(MANIFEST)) else {
        return false;
    };
    let Ok(manifest) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return false;
    };
    if manifest["format"].as_u64() != Some(FORMAT) {
        return false;
    }
    let Some(files) = manifest["files"].as_object().filter(|f| !f.is_empty()) else {
        return false;
    };
    files.iter().all(|(name, size)| {
        !name.contains(['/', '\\'])
            && fs::metadata(dir.join(name))
                .is_ok_and(|m| m.is_file() && Some(m.len()) == size.as_u64())
    })
}

/// Writes the manifest of a finished conversion.
fn write_manifest(out: &Path, source: &Source<'_>, files: &[(String, u64)]) -> Result<()> {
    let files: serde_json::Map<String, serde_json::Value> = files
        .iter()
        .map(|(name, size)| (name.clone(), (*size).into()))
        .collect();
    let manifest = serde_json::json!({
        "format": FORMAT,
        "repo": source.repo,
        "revision": source.revision,
        "converted_by": concat!("probe-datasets ", env!("CARGO_PKG_VERSION")),
        "files": files,
    });
    let mut text = serde_json::to_vec_pretty(&manifest).expect("a JSON value serialises");
    text.push(b'\n');
    Ok(write_atomic(out.join(MANIFEST), &text)?)
}

/// Creates the output folder (and its parents).
fn create_dir(out: &Path) -> Result<()> {
    fs::create_dir_all(out).map_err(|source| Error::Write {
        path: out.to_path_buf(),
        source,
    })
}

/// The error for a parquet file that cannot be converted.
fn bad(path: &Path, detail: impl AsRef<str>) -> Error {
    Error::Parquet {
        path: path.to_path_buf(),
        detail: crate::hub::one_line(detail.as_ref()),
    }
}

/// Opens `path` as a parquet file.
fn open(path: &Path) -> Result<SerializedFileReader<File>> {
    let file = File::open(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    SerializedFileReader::new(file)
        .map_err(|e| bad(path, format!("not a readable parquet file: {e}")))
}

/// Rows of the parquet file at `path`, from its metadata.
fn count_rows(path: &Path) -> Result<usize> {
    let reader = guarded(path, || open(path))?;
    let rows = reader.metadata().file_metadata().num_rows();
    usize::try_from(rows)
        .map_err(|_| bad(path, format!("negative row count {rows} in the metadata")))
}

/// Runs `f`, turning a panic inside the parquet reader (which some malformed files can still
/// cause) into an error naming `path`.
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown cause".to_string());
        Err(bad(path, format!("the parquet reader failed: {what}")))
    })
}

/// Reads the parquet file at `path` row by row, decodes each image to `spec` and calls `f` with
/// the row index, the pixels and the label; returns the number of rows.
fn for_each_image(
    path: &Path,
    spec: ImageSpec,
    mut f: impl FnMut(usize, &[u8], u8) -> Result<()>,
) -> Result<usize> {
    guarded(path, || {
        let reader = open(path)?;
        let root = reader.metadata().file_metadata().schema();
        let (image, label) = find_columns(path, root)?;
        let projection = Type::group_type_builder(root.name())
            .with_fields(vec![image.clone(), label.clone()])
            .build()
            .map_err(|e| bad(path, e.to_string()))?;
        let mut pixels = Vec::with_capacity(spec.bytes());
        let mut index = 0;
        for group in 0..reader.num_row_groups() {
            let group_reader = reader
                .get_row_group(group)
                .map_err(|e| bad(path, format!("row group {group}: {e}")))?;
            let rows = RowIter::from_row_group(Some(projection.clone()), group_reader.as_ref())
                .map_err(|e| bad(path, format!("row group {group}: {e}")))?;
            for row in rows {
                let row = row.map_err(|e| bad(path, format!("row {index}: {e}")))?;
                let mut columns = row.get_column_iter();
                let (Some((_, image_field)), Some((_, label_field))) =
                    (columns.next(), columns.next())
                else {
                    return Err(bad(path, format!("row {index}: fewer than two columns")));
                };
                let png = png_bytes(image_field).ok_or_else(|| {
                    bad(
                        path,
                        format!(
                            "row {index}: column `{}` holds no image bytes ({image_field})",
                            image.name()
                        ),
                    )
                })?;
                decode(png, spec, &mut pixels)
                    .map_err(|e| bad(path, format!("row {index}: {e}")))?;
                let value = integer(label_field).ok_or_else(|| {
                    bad(
                        path,
                        format!("row {index}: label is {label_field}, not an integer"),
                    )
                })?;
                if !(0..CLASSES).contains(&value) {
                    return Err(bad(
                        path,
                        format!(
                            "row {index}: label {value} is not a class (0 to {})",
                            CLASSES - 1
                        ),
                    ));
                }
                f(index, &pixels, value as u8)?;
                index += 1;
            }
        }
        Ok(index)
    })
}

/// The image column and the label column of the schema `root`.
fn find_columns(path: &Path, root: &Type) -> Result<(TypePtr, TypePtr)> {
    let fields = root.get_fields();
    let image = fields
        .iter()
        .find(|f| {
            f.is_group()
                && f.get_fields()
                    .iter()
                    .any(|c| c.name() == "bytes" && is_binary(c))
        })
        .or_else(|| fields.iter().find(|f| is_binary(f)));
    let label = fields.iter().find(|f| {
        f.name() == "label"
            && f.is_primitive()
            && matches!(
                f.get_physical_type(),
                PhysicalType::INT32 | PhysicalType::INT64
            )
    });
    let names = || {
        fields
            .iter()
            .map(|f| format!("`{}`", f.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let image = image.ok_or_else(|| {
        bad(
            path,
            format!(
                "no image column (a struct with a binary `bytes` field, or a binary column) \
                 among the columns {}",
                names()
            ),
        )
    })?;
    let label = label.ok_or_else(|| {
        bad(
            path,
            format!("no integer `label` column among the columns {}", names()),
        )
    })?;
    Ok((Arc::clone(image), Arc::clone(label)))
}

/// Whether `t` is a primitive byte-array column without a text annotation.
fn is_binary(t: &Type) -> bool {
    t.is_primitive()
        && t.get_physical_type() == PhysicalType::BYTE_ARRAY
        && t.get_basic_info().converted_type() == ConvertedType::NONE
        && t.get_basic_info().logical_type_ref().is_none()
}

/// The PNG bytes of an image value: the `bytes` field of a struct, or the value itself.
fn png_bytes(field: &Field) -> Option<&[u8]> {
    match field {
        Field::Bytes(b) => Some(b.data()),
        Field::Group(row) => row
            .get_column_iter()
            .find(|(name, _)| name.as_str() == "bytes")
            .and_then(|(_, value)| match value {
                Field::Bytes(b) => Some(b.data()),
                _ => None,
            }),
        _ => None,
    }
}

/// An integer label value.
fn integer(field: &Field) -> Option<i64> {
    match *field {
        Field::Byte(v) => Some(v.into()),
        Field::Short(v) => Some(v.into()),
        Field::Int(v) => Some(v.into()),
        Field::Long(v) => Some(v),
        Field::UByte(v) => Some(v.into()),
        Field::UShort(v) => Some(v.into()),
        Field::UInt(v) => Some(v.into()),
        Field::ULong(v) => i64::try_from(v).ok(),
        _ => None,
    }
}

/// Decodes the PNG `png` into `out` (cleared first) as `spec` says, checking its size.
fn decode(png: &[u8], spec: ImageSpec, out: &mut Vec<u8>) -> std::result::Result<(), String> {
    let image = image::load_from_memory_with_format(png, ImageFormat::Png)
        .map_err(|e| format!("undecodable PNG image ({e})"))?;
    let side = spec.side;
    if (image.width(), image.height()) != (side, side) {
        return Err(format!(
            "image is {}x{} pixels, expected {side}x{side}",
            image.width(),
            image.height()
        ));
    }
    out.clear();
    match spec.colour {
        Colour::Grey => out.extend_from_slice(image.into_luma8().as_raw()),
        Colour::Rgb => {
            let rgb = image.into_rgb8();
            let rgb = rgb.as_raw();
            for channel in 0..3 {
                out.extend(rgb.iter().skip(channel).step_by(3));
            }
        }
    }
    Ok(())
}
