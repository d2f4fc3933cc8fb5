//! Helpers shared by the tests: messages, IDX files, the MNIST-10k folder, a private Hugging
//! Face environment.
// Each test binary uses only some of these.
#![allow(dead_code)]

use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use flate2::write::GzEncoder;
use flate2::Compression;

/// Asserts that `err` is one line, names `file` and contains every word of `words`.
pub fn assert_message(err: &impl Display, file: &str, words: &[&str]) {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "message is not one line: {msg}");
    assert!(msg.contains(file), "message does not name {file}: {msg}");
    for w in words {
        assert!(msg.contains(w), "message lacks {w:?}: {msg}");
    }
}

/// Gzip-compressed `bytes`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// An IDX3 image file: header for `n` images of `rows` x `cols`, then `pixels` as given.
pub fn images_bytes(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    for w in [0x803u32, n, rows, cols] {
        b.extend_from_slice(&w.to_be_bytes());
    }
    b.extend_from_slice(pixels);
    b
}

/// An IDX1 label file.
pub fn labels_bytes(labels: &[u8]) -> Vec<u8> {
    let mut b = 0x801u32.to_be_bytes().to_vec();
    b.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    b.extend_from_slice(labels);
    b
}

/// The shared MNIST-10k folder, or `None` (with the reason on stderr) when it is absent;
/// absent with `CI=true` is a failure.
pub fn mnist_10k_dir() -> Option<PathBuf> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/mnist-10k"
    ));
    if dir.is_dir() {
        return Some(dir.to_path_buf());
    }
    let why = format!("skipping: MNIST-10k data not found at {}", dir.display());
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why} (CI=true requires it)");
    }
    eprintln!("{why}");
    None
}

/// Class counts of the shared MNIST-10k set (see its README).
pub const MNIST_10K_COUNTS: [usize; 10] = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

/// Tests that change process-wide environment variables take this lock: one at a time.
pub static ENV: Mutex<()> = Mutex::new(());

/// Runs `f` with a fresh, empty `HF_HOME` and the given extra variables, no proxy and no
/// `HF_ENDPOINT` / `HF_HUB_OFFLINE` unless given.
pub fn with_env(vars: &[(&str, &str)], f: impl FnOnce(&Path)) {
    let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
    let home = tempfile::tempdir().unwrap();
    let keys = [
        "HF_HOME",
        "HF_ENDPOINT",
        "HF_HUB_OFFLINE",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ];
    let saved: Vec<_> = keys.iter().map(|k| (k, std::env::var_os(k))).collect();
    for k in keys {
        std::env::remove_var(k);
    }
    std::env::set_var("HF_HOME", home.path());
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(home.path())));
    for (k, v) in saved {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
