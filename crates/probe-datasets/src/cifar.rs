//! CIFAR-10 in its binary format (`cifar-10-binary.tar.gz` from the dataset's home page).
//!
//! Each batch file is a run of 3073-byte records: one label byte (0..=9), then the 32 × 32
//! red, green and blue planes (channels first). `data_batch_1.bin` .. `data_batch_5.bin` are the
//! training set (10 000 records each), `test_batch.bin` the test set. The files are looked for
//! in the given folder, or in `cifar-10-batches-bin/` inside it (the tarball's folder).

use std::fs;
use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, Split};
use crate::error::{Error, Result};

/// Bytes of one record: 1 label byte + 3 × 32 × 32 pixels.
pub const CIFAR10_RECORD_BYTES: usize = 1 + CIFAR10_PIXELS;
/// Pixels of one image, channels first.
const CIFAR10_PIXELS: usize = 3 * 32 * 32;
/// Number of CIFAR-10 classes.
const CIFAR10_CLASSES: usize = 10;
/// Dataset name used in error messages.
const CIFAR10: &str = "CIFAR-10";
/// The folder the official tarball unpacks to.
const TARBALL_FOLDER: &str = "cifar-10-batches-bin";

/// The batch file names of `split`, in reading order.
pub fn cifar10_files(split: Split) -> &'static [&'static str] {
    match split {
        Split::Train => &[
            "data_batch_1.bin",
            "data_batch_2.bin",
            "data_batch_3.bin",
            "data_batch_4.bin",
            "data_batch_5.bin",
        ],
        Split::Test => &["test_batch.bin"],
    }
}

/// Reads `split` of the CIFAR-10 binary batches in `dir` (or in `dir/cifar-10-batches-bin/`).
///
/// The dataset is named `cifar10`, has shape `[3, 32, 32]`, pixels 0..=255 as `f32` and 10
/// classes. Errors when the folder is missing, holds no batch at all, lacks a batch of the
/// split (all missing ones are named), and as [`load_cifar10_files`].
pub fn load_cifar10(dir: impl AsRef<Path>, split: Split) -> Result<Dataset> {
    let root = dir.as_ref();
    if !root.is_dir() {
        return Err(Error::FolderMissing {
            path: root.to_path_buf(),
            dataset: CIFAR10,
        });
    }
    let nested = root.join(TARBALL_FOLDER);
    let dir = if nested.is_dir() {
        nested
    } else {
        root.to_path_buf()
    };
    let all = [Split::Train, Split::Test].map(cifar10_files).concat();
    if !all.iter().any(|name| dir.join(name).is_file()) {
        return Err(Error::NoDatasetFiles {
            path: root.to_path_buf(),
            dataset: CIFAR10,
            expected: format!(
                "{} (binary version), here or in {TARBALL_FOLDER}/",
                all.join(", ")
            ),
        });
    }
    let names = cifar10_files(split);
    let missing: Vec<String> = names
        .iter()
        .filter(|name| !dir.join(name).is_file())
        .map(|name| name.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingDatasetFiles {
            path: dir,
            dataset: CIFAR10,
            missing,
        });
    }
    let files: Vec<PathBuf> = names.iter().map(|name| dir.join(name)).collect();
    load_cifar10_files(&files)
}

/// Reads explicit CIFAR-10 binary batch files, concatenated in the order given.
///
/// Errors when `files` is empty, a file cannot be read, its length is not a whole, non-zero
/// number of records, or a label is above 9 (e.g. a CIFAR-100 file).
pub fn load_cifar10_files<P: AsRef<Path>>(files: &[P]) -> Result<Dataset> {
    if files.is_empty() {
        return Err(Error::InvalidParameter {
            name: "files",
            value: "[]".to_string(),
            expected: "at least one CIFAR-10 batch file",
        });
    }
    let mut inputs = Vec::new();
    let mut labels = Vec::new();
    for path in files {
        let path = path.as_ref();
        let bytes = fs::read(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if bytes.is_empty() || bytes.len() % CIFAR10_RECORD_BYTES != 0 {
            return Err(Error::CifarTruncated {
                path: path.to_path_buf(),
                bytes: bytes.len() as u64,
            });
        }
        let records = bytes.len() / CIFAR10_RECORD_BYTES;
        inputs.reserve(records * CIFAR10_PIXELS);
        labels.reserve(records);
        for (index, record) in bytes.chunks_exact(CIFAR10_RECORD_BYTES).enumerate() {
            let label = record[0];
            if usize::from(label) >= CIFAR10_CLASSES {
                return Err(Error::BadLabel {
                    path: path.to_path_buf(),
                    index,
                    label: u64::from(label),
                    n_classes: CIFAR10_CLASSES,
                });
            }
            labels.push(u32::from(label));
            inputs.extend(record[1..].iter().map(|&p| f32::from(p)));
        }
    }
    Dataset::new("cifar10", vec![3, 32, 32], CIFAR10_CLASSES, inputs, labels)
}
