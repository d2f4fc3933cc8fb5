//! CIFAR-10 binary batches: tiny generated batch files, both folder layouts, and one test per
//! bad input.

mod common;

use std::fs;
use std::path::Path;

use common::assert_message;
use probe_datasets::{cifar10_files, load_cifar10, load_cifar10_files, Error, Split};

/// A record: `label`, then 3072 pixels, pixel j being `(seed + j) % 256`.
fn record(label: u8, seed: u8) -> Vec<u8> {
    let mut r = vec![label];
    r.extend((0..3072u32).map(|j| (u32::from(seed) + j) as u8));
    r
}

/// Writes every batch of `split` into `dir`, 3 records each; the labels of file f are
/// `(f + r) % 10`, its pixel seeds `10 f + r`.
fn write_split(dir: &Path, split: Split) {
    for (f, name) in cifar10_files(split).iter().enumerate() {
        let f = f as u8;
        let bytes: Vec<u8> = (0..3u8)
            .flat_map(|r| record((f + r) % 10, 10 * f + r))
            .collect();
        fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn reads_train_and_test_batches_in_order() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), Split::Train);
    write_split(dir.path(), Split::Test);

    let train = load_cifar10(dir.path(), Split::Train).unwrap();
    assert_eq!(train.name, "cifar10");
    assert_eq!(
        (train.len(), train.shape.as_slice()),
        (15, &[3, 32, 32][..])
    );
    assert_eq!(train.n_classes, 10);
    assert_eq!(train.labels, [0, 1, 2, 1, 2, 3, 2, 3, 4, 3, 4, 5, 4, 5, 6]);
    // Record 4 = file 1, record 1: pixel seed 11; channels first, as stored.
    let s = train.sample(4);
    assert_eq!((s[0], s[1], s[1024], s[3071]), (11.0, 12.0, 11.0, 10.0));

    let test = load_cifar10(dir.path(), Split::Test).unwrap();
    assert_eq!(test.len(), 3);
    assert_eq!(test.labels, [0, 1, 2]);
}

#[test]
fn accepts_the_tarball_folder_inside_the_given_one() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("cifar-10-batches-bin");
    fs::create_dir(&inner).unwrap();
    write_split(&inner, Split::Test);
    assert_eq!(load_cifar10(dir.path(), Split::Test).unwrap().len(), 3);
}

#[test]
fn reads_explicit_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.bin");
    fs::write(&path, [record(9, 0), record(0, 1)].concat()).unwrap();
    let data = load_cifar10_files(&[&path, &path]).unwrap();
    assert_eq!(data.labels, [9, 0, 9, 0]);
}

#[test]
fn error_missing_batches_are_all_named() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), Split::Train);
    fs::remove_file(dir.path().join("data_batch_2.bin")).unwrap();
    fs::remove_file(dir.path().join("data_batch_5.bin")).unwrap();
    let err = load_cifar10(dir.path(), Split::Train).unwrap_err();
    assert!(matches!(err, Error::MissingDatasetFiles { .. }), "{err:?}");
    assert_message(&err, "data_batch_2.bin, data_batch_5.bin", &["CIFAR-10"]);

    let err = load_cifar10(dir.path(), Split::Test).unwrap_err();
    assert_message(&err, "test_batch.bin", &["missing"]);
}

#[test]
fn error_folder_without_batches_lists_the_expected_names() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("data_batch_1"), b"python pickles?").unwrap();
    let err = load_cifar10(dir.path(), Split::Train).unwrap_err();
    assert!(matches!(err, Error::NoDatasetFiles { .. }), "{err:?}");
    let name = dir.path().file_name().unwrap().to_str().unwrap();
    assert_message(
        &err,
        name,
        &["data_batch_1.bin", "test_batch.bin", "cifar-10-batches-bin"],
    );
}

#[test]
fn error_missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_cifar10(dir.path().join("cifar"), Split::Test).unwrap_err();
    assert!(matches!(err, Error::FolderMissing { .. }), "{err:?}");
    assert_message(&err, "cifar", &["no such folder", "CIFAR-10"]);
}

#[test]
fn error_truncated_batch() {
    let dir = tempfile::tempdir().unwrap();
    write_split(dir.path(), Split::Test);
    let path = dir.path().join("test_batch.bin");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let err = load_cifar10(dir.path(), Split::Test).unwrap_err();
    assert!(
        matches!(err, Error::CifarTruncated { bytes: 9119, .. }),
        "{err:?}"
    );
    assert_message(&err, "test_batch.bin", &["truncated", "9119 bytes", "3073"]);

    fs::write(&path, b"").unwrap();
    let err = load_cifar10(dir.path(), Split::Test).unwrap_err();
    assert!(
        matches!(err, Error::CifarTruncated { bytes: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn error_label_above_nine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cifar100.bin");
    fs::write(&path, [record(3, 0), record(57, 0)].concat()).unwrap();
    let err = load_cifar10_files(&[&path]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadLabel {
                index: 1,
                label: 57,
                n_classes: 10,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, "cifar100.bin", &["sample 1", "label 57", "0 to 9"]);
}

#[test]
fn error_no_files_given() {
    let err = load_cifar10_files::<&Path>(&[]).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { .. }), "{err:?}");
}
