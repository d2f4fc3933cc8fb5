//! MNIST (and MNIST-format sets such as Fashion-MNIST) from a folder of IDX files.
//!
//! A folder may hold the standard four files, raw or gzip-compressed:
//! `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte` (the variant spelling `train-images.idx3-ubyte` is accepted too),
//! or a single pair `images-idx3-ubyte` + `labels-idx1-ubyte`, which is read as a training
//! set with no test split. The files are looked for in the folder itself, then in `raw/` and
//! `MNIST/raw/` below it (torchvision's layout).

use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, Split};
use crate::error::{Error, Result};
use crate::idx::{read_idx_images, read_idx_labels};

/// Dataset name used in error messages.
const MNIST: &str = "MNIST";
/// Number of MNIST classes (digits 0 to 9; Fashion-MNIST has ten too).
const MNIST_CLASSES: usize = 10;
/// Sub-folders searched after the folder itself.
const SUBFOLDERS: [&str; 2] = ["raw", "MNIST/raw"];
/// Every name the loader recognises, as one line for error messages.
const EXPECTED: &str = "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], \
                        t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz], or the pair \
                        images-idx3-ubyte[.gz] + labels-idx1-ubyte[.gz]";

/// The image and label files of one split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnistFiles {
    /// The IDX3 image file.
    pub images: PathBuf,
    /// The IDX1 label file.
    pub labels: PathBuf,
}

/// What a folder holds for one split.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    /// Both files.
    Pair(MnistFiles),
    /// One file of the pair; the name of the other.
    Half(String),
    /// Neither.
    Nothing,
}

/// The MNIST files found in a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnistFolder {
    dir: PathBuf,
    train: Found,
    test: Found,
}

impl MnistFolder {
    /// Looks for the MNIST files in `dir` (see the module docs for the names and places).
    ///
    /// Errors when `dir` is not a folder, when it holds no MNIST file, or when it holds only
    /// halves of pairs.
    pub fn find(dir: impl AsRef<Path>) -> Result<MnistFolder> {
        let root = dir.as_ref();
        if !root.is_dir() {
            return Err(Error::FolderMissing {
                path: root.to_path_buf(),
                dataset: MNIST,
            });
        }
        let places = std::iter::once(root.to_path_buf())
            .chain(SUBFOLDERS.iter().map(|s| root.join(s)))
            .filter(|p| p.is_dir());
        for place in places {
            let train = match find_pair(&place, "train-") {
                Found::Nothing => find_pair(&place, ""),
                found => found,
            };
            let test = find_pair(&place, "t10k-");
            if train == Found::Nothing && test == Found::Nothing {
                continue;
            }
            if matches!(train, Found::Pair(_)) || matches!(test, Found::Pair(_)) {
                return Ok(MnistFolder {
                    dir: place,
                    train,
                    test,
                });
            }
            let missing = [train, test]
                .into_iter()
                .filter_map(|found| match found {
                    Found::Half(name) => Some(name),
                    _ => None,
                })
                .collect();
            return Err(Error::MissingDatasetFiles {
                path: place,
                dataset: MNIST,
                missing,
            });
        }
        Err(Error::NoDatasetFiles {
            path: root.to_path_buf(),
            dataset: MNIST,
            expected: EXPECTED.to_string(),
        })
    }

    /// The folder the files were found in (the given one, or `raw/` or `MNIST/raw/` below it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The files of `split`, when both are there.
    pub fn files(&self, split: Split) -> Option<&MnistFiles> {
        match self.found(split) {
            Found::Pair(files) => Some(files),
            _ => None,
        }
    }

    /// Reads `split`. Errors when the folder lacks it (or one of its two files), and as
    /// [`load_mnist_files`].
    pub fn load(&self, split: Split) -> Result<Dataset> {
        match self.found(split) {
            Found::Pair(files) => load_mnist_files(&files.images, &files.labels),
            Found::Half(missing) => Err(Error::MissingDatasetFiles {
                path: self.dir.clone(),
                dataset: MNIST,
                missing: vec![missing.clone()],
            }),
            Found::Nothing => Err(Error::MissingSplit {
                path: self.dir.clone(),
                dataset: MNIST,
                split,
                expected: match split {
                    Split::Train => "train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz]",
                    Split::Test => "t10k-images-idx3-ubyte[.gz] + t10k-labels-idx1-ubyte[.gz]",
                }
                .to_string(),
            }),
        }
    }

    fn found(&self, split: Split) -> &Found {
        match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        }
    }
}

/// Reads `split` of the MNIST files in `dir`: [`MnistFolder::find`] then
/// [`MnistFolder::load`].
///
/// The dataset is named `mnist`, has shape `[1, rows, cols]` (`[1, 28, 28]` for MNIST), pixels
/// 0..=255 as `f32`, and 10 classes.
pub fn load_mnist(dir: impl AsRef<Path>, split: Split) -> Result<Dataset> {
    MnistFolder::find(dir)?.load(split)
}

/// Reads an explicit pair of IDX files (raw or gzip): images (IDX3) and labels (IDX1).
///
/// Errors when a file cannot be read or is not the right IDX file, when the counts of images
/// and labels differ, and when a label is above 9 (naming the first such sample).
pub fn load_mnist_files(images: impl AsRef<Path>, labels: impl AsRef<Path>) -> Result<Dataset> {
    let (images_path, labels_path) = (images.as_ref(), labels.as_ref());
    let images = read_idx_images(images_path)?;
    let labels = read_idx_labels(labels_path)?;
    if images.n != labels.len() {
        return Err(Error::CountMismatch {
            images: images_path.to_path_buf(),
            labels: labels_path.to_path_buf(),
            n_images: images.n,
            n_labels: labels.len(),
        });
    }
    // Like CIFAR-10's: a label past the ten classes is a wrong or corrupt file, not an
    // eleventh class, and would otherwise only surface as a model with too few outputs.
    if let Some((index, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= MNIST_CLASSES)
    {
        return Err(Error::BadLabel {
            path: labels_path.to_path_buf(),
            index,
            label: u64::from(label),
            n_classes: MNIST_CLASSES,
        });
    }
    Dataset::new(
        "mnist",
        vec![1, images.rows, images.cols],
        MNIST_CLASSES,
        images.pixels.into_iter().map(f32::from).collect(),
        labels.into_iter().map(u32::from).collect(),
    )
}

/// The pair of files with `prefix` (`train-`, `t10k-` or `` for the single pair) in `dir`.
fn find_pair(dir: &Path, prefix: &str) -> Found {
    let images = find_file(dir, prefix, "images", "idx3");
    let labels = find_file(dir, prefix, "labels", "idx1");
    match (images, labels) {
        (Some(images), Some(labels)) => Found::Pair(MnistFiles { images, labels }),
        (Some(_), None) => Found::Half(format!("{prefix}labels-idx1-ubyte[.gz]")),
        (None, Some(_)) => Found::Half(format!("{prefix}images-idx3-ubyte[.gz]")),
        (None, None) => Found::Nothing,
    }
}

/// The first of `{prefix}{kind}-{idx}-ubyte`, `{prefix}{kind}.{idx}-ubyte` (each raw, then
/// `.gz`) that is a file in `dir`.
fn find_file(dir: &Path, prefix: &str, kind: &str, idx: &str) -> Option<PathBuf> {
    ["-", "."]
        .iter()
        .flat_map(|sep| {
            let base = format!("{prefix}{kind}{sep}{idx}-ubyte");
            [dir.join(&base), dir.join(format!("{base}.gz"))]
        })
        .find(|p| p.is_file())
}
