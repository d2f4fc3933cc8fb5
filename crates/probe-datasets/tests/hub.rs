//! Hugging Face Hub downloads up to the network boundary: offline mode, the cache, and an
//! unreachable endpoint. No test here uses the network.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{assert_message, with_env};
use probe_datasets::{
    download_cifar10, download_mnist, fetch_dataset_file, fetch_dataset_files, Error,
    CIFAR10_FILES, CIFAR10_REPO, MNIST_FILES, MNIST_REPO,
};

/// Asserts that `err` is a download error for `file` of `repo` that points at --data.
fn assert_download_error(err: &Error, repo: &str, file: &str, words: &[&str]) {
    assert!(matches!(err, Error::Download { .. }), "{err:?}");
    assert_message(err, file, words);
    assert_message(
        err,
        repo,
        &[
            "cannot download",
            "Hugging Face Hub",
            "offline?",
            "--data DIR",
        ],
    );
}

#[test]
fn offline_mode_fails_at_once_naming_the_repo_and_the_fix() {
    for value in ["1", "true", "ON"] {
        with_env(&[("HF_HUB_OFFLINE", value)], |_| {
            let start = Instant::now();
            let err = fetch_dataset_file(MNIST_REPO, MNIST_FILES[0]).unwrap_err();
            assert!(start.elapsed() < Duration::from_secs(1));
            assert_download_error(&err, MNIST_REPO, MNIST_FILES[0], &["HF_HUB_OFFLINE"]);

            let err = download_mnist().unwrap_err();
            assert_download_error(&err, MNIST_REPO, MNIST_FILES[0], &[]);
            let err = download_cifar10().unwrap_err();
            assert_download_error(&err, CIFAR10_REPO, CIFAR10_FILES[0], &["CIFAR-10"]);
        });
    }
}

#[test]
fn cached_files_are_found_without_network() {
    with_env(&[("HF_HUB_OFFLINE", "1")], |home| {
        // The layout huggingface_hub and hf-hub share: refs/main names the snapshot, and a
        // file's path in the repository is its path below the snapshot.
        let repo_dir = home.join("hub/datasets--ylecun--mnist");
        let snapshot = repo_dir.join("snapshots/0123abcd");
        fs::create_dir_all(snapshot.join("mnist")).unwrap();
        fs::create_dir_all(repo_dir.join("refs")).unwrap();
        fs::write(repo_dir.join("refs/main"), "0123abcd").unwrap();
        for file in MNIST_FILES {
            fs::write(snapshot.join(file), b"parquet").unwrap();
        }
        let path = fetch_dataset_file(MNIST_REPO, MNIST_FILES[1]).unwrap();
        assert_eq!(path, snapshot.join(MNIST_FILES[1]));
        assert_eq!(
            fetch_dataset_files(MNIST_REPO, &MNIST_FILES).unwrap(),
            snapshot
        );

        let err = fetch_dataset_files(MNIST_REPO, &[]).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { .. }), "{err:?}");
    });
}

#[test]
fn unreachable_endpoint_fails_quickly_naming_the_repo_and_the_fix() {
    // Port 9 (discard) on the loopback: connection refused, no waiting.
    with_env(&[("HF_ENDPOINT", "http://127.0.0.1:9")], |_| {
        let start = Instant::now();
        let err = download_mnist().unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "took {:?}",
            start.elapsed()
        );
        assert_download_error(&err, MNIST_REPO, MNIST_FILES[0], &["127.0.0.1:9"]);
    });
    // An endpoint that is not a URL at all is reported by the client, on one line too.
    with_env(&[("HF_ENDPOINT", "not a url")], |_| {
        let err = fetch_dataset_file(CIFAR10_REPO, "test_batch.bin").unwrap_err();
        assert_download_error(&err, CIFAR10_REPO, "test_batch.bin", &[]);
    });
}
