//! IDX readers: synthetic raw and gzip files, bad inputs, and the real MNIST-10k files.

use std::fs;

mod common;

use common::{assert_message, gzip, images_bytes, labels_bytes, mnist_10k_dir, MNIST_10K_COUNTS};
use probe_datasets::{read_idx_images, read_idx_labels, Error, IdxImages};

#[test]
fn reads_raw_and_gzip_files() {
    let dir = tempfile::tempdir().unwrap();
    let pixels: Vec<u8> = (0..24).collect();
    let want = IdxImages {
        n: 3,
        rows: 2,
        cols: 4,
        pixels: pixels.clone(),
    };
    let raw = images_bytes(3, 2, 4, &pixels);
    for (name, bytes) in [("img.idx", raw.clone()), ("img.idx.gz", gzip(&raw))] {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        assert_eq!(read_idx_images(&path).unwrap(), want, "{name}");
    }
    let raw = labels_bytes(&[3, 1, 4, 1, 5]);
    for (name, bytes) in [("lab.idx", raw.clone()), ("lab.idx.gz", gzip(&raw))] {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        assert_eq!(read_idx_labels(&path).unwrap(), [3, 1, 4, 1, 5], "{name}");
    }
}

#[test]
fn wrong_magic_says_found_and_expected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.idx");
    fs::write(&path, labels_bytes(&[1, 2])).unwrap();
    let err = read_idx_images(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::IdxMagic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, "labels.idx", &["0x00000801", "0x00000803"]);

    let path = dir.path().join("images.idx.gz");
    fs::write(&path, gzip(&images_bytes(1, 1, 1, &[0]))).unwrap();
    let err = read_idx_labels(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::IdxMagic {
                found: 0x803,
                expected: 0x801,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, "images.idx.gz", &["0x00000803", "0x00000801"]);
}

#[test]
fn truncated_files_give_expected_and_actual_bytes() {
    let dir = tempfile::tempdir().unwrap();
    // Header promises 3 * 2 * 2 = 12 pixels; 5 are there.
    let raw = images_bytes(3, 2, 2, &[1, 2, 3, 4, 5]);
    for (name, bytes) in [("short.idx", raw.clone()), ("short.idx.gz", gzip(&raw))] {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        let err = read_idx_images(&path).unwrap_err();
        assert!(
            matches!(
                err,
                Error::IdxTruncated {
                    expected: 28,
                    actual: 21,
                    ..
                }
            ),
            "{name}: {err:?}"
        );
        assert_message(&err, name, &["truncated", "28 bytes", "found 21"]);
    }
    // Cut inside the header.
    let path = dir.path().join("tiny.idx");
    fs::write(&path, [0u8, 0, 8]).unwrap();
    let err = read_idx_labels(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::IdxTruncated {
                expected: 4,
                actual: 3,
                ..
            }
        ),
        "{err:?}"
    );

    // A gzip stream cut short: truncated (or, where the cut lands badly, unreadable).
    let gz = gzip(&labels_bytes(
        &(0..=255).cycle().take(5000).collect::<Vec<u8>>(),
    ));
    let path = dir.path().join("cut.idx.gz");
    fs::write(&path, &gz[..gz.len() / 2]).unwrap();
    let err = read_idx_labels(&path).unwrap_err();
    assert!(
        matches!(err, Error::IdxTruncated { .. } | Error::Read { .. }),
        "{err:?}"
    );
    assert_message(&err, "cut.idx.gz", &[]);
}

#[test]
fn missing_file_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = read_idx_labels(dir.path().join("absent.gz")).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
    assert_message(&err, "absent.gz", &["cannot read"]);
}

#[test]
fn reads_real_mnist_10k() {
    let Some(dir) = mnist_10k_dir() else { return };
    let images = read_idx_images(dir.join("images-idx3-ubyte.gz")).unwrap();
    assert_eq!((images.n, images.rows, images.cols), (10_000, 28, 28));
    assert_eq!(images.pixels.len(), 10_000 * 28 * 28);
    assert!(images.pixels.contains(&255));
    let labels = read_idx_labels(dir.join("labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(labels.len(), 10_000);
    let mut counts = [0usize; 10];
    for &l in &labels {
        counts[usize::from(l)] += 1;
    }
    assert_eq!(counts, MNIST_10K_COUNTS);
}
