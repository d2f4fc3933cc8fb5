//! MNIST folders: the shared MNIST-10k pair, the standard four-file layout, explicit files,
//! and one test per bad folder.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_message, gzip, images_bytes, labels_bytes, mnist_10k_dir, MNIST_10K_COUNTS};
use probe_datasets::{load_mnist, load_mnist_files, Error, MnistFolder, Split};

/// Writes `{prefix}images-idx3-ubyte` and `{prefix}labels-idx1-ubyte` (gzipped when `gz`) with
/// `n` 2 x 3 images whose pixels are `base + i`, and labels `i % 10`.
fn write_pair(dir: &Path, prefix: &str, n: u8, base: u8, gz: bool) {
    let pixels: Vec<u8> = (0..n * 6).map(|i| base.wrapping_add(i)).collect();
    let labels: Vec<u8> = (0..n).map(|i| i % 10).collect();
    let ext = if gz { ".gz" } else { "" };
    let pack = |b: Vec<u8>| if gz { gzip(&b) } else { b };
    fs::write(
        dir.join(format!("{prefix}images-idx3-ubyte{ext}")),
        pack(images_bytes(u32::from(n), 2, 3, &pixels)),
    )
    .unwrap();
    fs::write(
        dir.join(format!("{prefix}labels-idx1-ubyte{ext}")),
        pack(labels_bytes(&labels)),
    )
    .unwrap();
}

#[test]
fn reads_the_shared_mnist_10k_folder_as_a_train_split() {
    let Some(dir) = mnist_10k_dir() else { return };
    let data = load_mnist(&dir, Split::Train).unwrap();
    assert_eq!(data.name, "mnist");
    assert_eq!(data.len(), 10_000);
    assert_eq!(data.shape, [1, 28, 28]);
    assert_eq!(data.sample_len(), 784);
    assert_eq!(data.n_classes, 10);
    assert_eq!(data.inputs.len(), 10_000 * 784);
    assert_eq!(data.class_counts(), MNIST_10K_COUNTS);
    let max = data.inputs.iter().copied().fold(f32::MIN, f32::max);
    assert_eq!(max, 255.0, "pixels keep their raw 0..=255 scale");

    // No test split there: the error says so and what to do.
    let err = load_mnist(&dir, Split::Test).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingSplit {
                split: Split::Test,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(
        &err,
        "mnist-10k",
        &[
            "no MNIST test split",
            "t10k-images-idx3-ubyte",
            "train split",
        ],
    );
}

#[test]
fn reads_the_standard_four_file_layout_raw_and_gzip() {
    for gz in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        write_pair(dir.path(), "train-", 5, 0, gz);
        write_pair(dir.path(), "t10k-", 3, 100, gz);
        let folder = MnistFolder::find(dir.path()).unwrap();
        assert_eq!(folder.dir(), dir.path());
        assert!(folder.files(Split::Train).is_some() && folder.files(Split::Test).is_some());

        let train = load_mnist(dir.path(), Split::Train).unwrap();
        assert_eq!((train.len(), train.shape.as_slice()), (5, &[1, 2, 3][..]));
        assert_eq!(train.labels, [0, 1, 2, 3, 4]);
        assert_eq!(train.sample(1), [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
        let test = folder.load(Split::Test).unwrap();
        assert_eq!(test.len(), 3);
        assert_eq!(test.sample(0)[0], 100.0);
        assert_eq!(test.n_classes, 10);
    }
}

#[test]
fn finds_files_in_torchvision_raw_folder_and_dotted_names() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("MNIST/raw");
    fs::create_dir_all(&raw).unwrap();
    write_pair(&raw, "train-", 4, 0, false);
    // The variant spelling of some mirrors: train-images.idx3-ubyte.
    fs::rename(
        raw.join("train-images-idx3-ubyte"),
        raw.join("train-images.idx3-ubyte"),
    )
    .unwrap();
    let folder = MnistFolder::find(dir.path()).unwrap();
    assert_eq!(folder.dir(), raw);
    assert_eq!(folder.load(Split::Train).unwrap().len(), 4);
}

#[test]
fn standard_layout_wins_over_the_single_pair() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), "train-", 4, 0, false);
    write_pair(dir.path(), "", 7, 0, true);
    assert_eq!(load_mnist(dir.path(), Split::Train).unwrap().len(), 4);
}

#[test]
fn reads_two_explicit_files() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), "fashion-", 6, 50, true);
    let data = load_mnist_files(
        dir.path().join("fashion-images-idx3-ubyte.gz"),
        dir.path().join("fashion-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    assert_eq!(data.len(), 6);
    assert_eq!(data.sample(0), [50.0, 51.0, 52.0, 53.0, 54.0, 55.0]);
}

#[test]
fn error_label_above_nine_names_the_file_and_the_first_bad_label() {
    let dir = tempfile::tempdir().unwrap();
    let (img, lab) = (dir.path().join("imgs.idx"), dir.path().join("labs.idx"));
    fs::write(&img, images_bytes(4, 1, 1, &[0, 1, 2, 3])).unwrap();
    // Two bad labels: the first one (sample 1, label 200) is the one reported.
    fs::write(&lab, gzip(&labels_bytes(&[3, 200, 9, 10]))).unwrap();
    let err = load_mnist_files(&img, &lab).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadLabel {
                index: 1,
                label: 200,
                n_classes: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, "labs.idx", &["sample 1", "label 200", "0 to 9"]);

    // The same through a folder, and 9 is still a label.
    write_pair(dir.path(), "train-", 3, 0, false);
    fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        labels_bytes(&[9, 0, 10]),
    )
    .unwrap();
    let err = load_mnist(dir.path(), Split::Train).unwrap_err();
    assert_message(
        &err,
        "train-labels-idx1-ubyte",
        &["sample 2", "label 10", "0 to 9"],
    );
    fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        labels_bytes(&[9, 0, 9]),
    )
    .unwrap();
    assert_eq!(load_mnist(dir.path(), Split::Train).unwrap().n_classes, 10);
}

#[test]
fn error_missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_mnist(dir.path().join("nowhere"), Split::Train).unwrap_err();
    assert!(matches!(err, Error::FolderMissing { .. }), "{err:?}");
    assert_message(&err, "nowhere", &["no such folder", "MNIST"]);
}

#[test]
fn error_folder_without_mnist_files_lists_the_expected_names() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let err = load_mnist(dir.path(), Split::Train).unwrap_err();
    assert!(matches!(err, Error::NoDatasetFiles { .. }), "{err:?}");
    let name = dir.path().file_name().unwrap().to_str().unwrap();
    assert_message(
        &err,
        name,
        &[
            "no MNIST files",
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
            "images-idx3-ubyte[.gz] + labels-idx1-ubyte",
        ],
    );
}

#[test]
fn error_half_a_pair_names_the_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), "train-", 3, 0, true);
    fs::remove_file(dir.path().join("train-labels-idx1-ubyte.gz")).unwrap();
    let err = load_mnist(dir.path(), Split::Train).unwrap_err();
    assert!(matches!(err, Error::MissingDatasetFiles { .. }), "{err:?}");
    assert_message(&err, "train-labels-idx1-ubyte", &["missing"]);

    // With a complete train pair, the broken test pair only fails the test split.
    write_pair(dir.path(), "train-", 3, 0, true);
    fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        labels_bytes(&[1]),
    )
    .unwrap();
    assert_eq!(load_mnist(dir.path(), Split::Train).unwrap().len(), 3);
    let err = load_mnist(dir.path(), Split::Test).unwrap_err();
    assert_message(&err, "t10k-images-idx3-ubyte", &["missing"]);
}

#[test]
fn error_count_mismatch_names_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let (img, lab) = (dir.path().join("imgs.idx"), dir.path().join("labs.idx"));
    fs::write(&img, images_bytes(3, 1, 2, &[0; 6])).unwrap();
    fs::write(&lab, labels_bytes(&[1, 2])).unwrap();
    let err = load_mnist_files(&img, &lab).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CountMismatch {
                n_images: 3,
                n_labels: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, "imgs.idx", &["labs.idx", "3 images", "2 labels"]);
}

#[test]
fn error_swapped_files_report_the_magic_number() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), "train-", 2, 0, false);
    let err = load_mnist_files(
        dir.path().join("train-labels-idx1-ubyte"),
        dir.path().join("train-images-idx3-ubyte"),
    )
    .unwrap_err();
    assert!(matches!(err, Error::IdxMagic { .. }), "{err:?}");
}
