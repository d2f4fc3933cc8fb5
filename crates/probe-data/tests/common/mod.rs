//! Helpers shared by the tests: messages, safetensors and IDX files, the MNIST-10k folder, a
//! private Hugging Face environment.
// Each test binary uses only some of these.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use flate2::write::GzEncoder;
use flate2::Compression;

use probe_data::{write_feature_set, Error, FeatureSet};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

/// Asserts that `err` is one line, names `file` and contains every word of `words`.
pub fn assert_message(err: &Error, file: &str, words: &[&str]) {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "message is not one line: {msg}");
    assert!(msg.contains(file), "message does not name {file}: {msg}");
    for w in words {
        assert!(msg.contains(w), "message lacks {w:?}: {msg}");
    }
}

/// A metadata map from pairs.
pub fn meta(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Writes tensors given as (name, dtype, shape, little-endian bytes) with safetensors itself.
pub fn write_raw(
    path: &Path,
    tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)],
    metadata: &[(&str, &str)],
) {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            let view = TensorView::new(*dtype, shape.clone(), bytes).expect("valid view");
            (name.to_string(), view)
        })
        .collect();
    let md = (!metadata.is_empty()).then(|| {
        metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    });
    let bytes = safetensors::serialize(views, md).expect("serialize");
    fs::write(path, bytes).expect("write test file");
}

/// Little-endian bytes of f32 values.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Little-endian bytes of i64 values.
pub fn i64_bytes(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A valid file: 4 samples, 3 features, labels 0/1.
pub fn valid_file(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let features: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
    write_feature_set(
        &path,
        &features,
        &[4, 3],
        &[0, 1, 0, 1],
        &meta(&[("layer", "fc")]),
    )
    .expect("write");
    path
}

/// All feature values of a set, decoded to f64.
pub fn all_rows(set: &FeatureSet) -> Vec<f64> {
    let mut out = vec![0.0; set.n_samples() * set.n_features()];
    set.read_rows_f64(0, &mut out);
    out
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
