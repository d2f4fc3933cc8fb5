//! Helpers shared by the integration tests: the shared data folder, feature-set fixtures and
//! running the built binaries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A file or folder under `../shared` (or `$PROBE_SHARED`). Missing: the test says why it
/// skips and returns `None`, except in CI (`CI=true`), where a missing file fails the test.
pub fn shared(relative: &str) -> Option<PathBuf> {
    let root = std::env::var_os("PROBE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let path = root.join(relative);
    if path.exists() {
        return Some(path);
    }
    let why = format!(
        "{} not found (set PROBE_SHARED to the shared folder)",
        path.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}; CI=true, so this test fails instead of skipping");
    }
    eprintln!("skipping: {why}");
    None
}

/// The first `n` MNIST digits of `../shared/data/mnist-10k` as (pixels / 255, labels).
pub fn mnist(n: usize) -> Option<(Vec<f32>, Vec<i64>)> {
    let dir = shared("data/mnist-10k")?;
    let images = probe_datasets::read_idx_images(dir.join("images-idx3-ubyte.gz")).unwrap();
    let labels = probe_datasets::read_idx_labels(dir.join("labels-idx1-ubyte.gz")).unwrap();
    let d = images.rows * images.cols;
    let pixels = images.pixels[..n * d]
        .iter()
        .map(|&p| (f64::from(p) / 255.0) as f32)
        .collect();
    Some((pixels, labels[..n].iter().map(|&l| i64::from(l)).collect()))
}

/// Writes a feature set with `layer` metadata.
pub fn write_set(path: &Path, features: &[f32], shape: &[usize], labels: &[i64], layer: &str) {
    let meta = BTreeMap::from([("layer".to_string(), layer.to_string())]);
    probe_data::write_feature_set(path, features, shape, labels, &meta).unwrap();
}

/// `classes` Gaussian blobs in `d` dimensions, `per_class` points each, centres `spread`
/// apart; deterministic (a small LCG keeps the tests free of RNG crates).
pub fn blobs(classes: usize, per_class: usize, d: usize, spread: f32) -> (Vec<f32>, Vec<i64>) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 11) as f64 / (1u64 << 53) as f64) as f32
    };
    let mut gauss = move || {
        let (u, v) = (uniform().max(1e-9), uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    };
    let centres: Vec<Vec<f32>> = (0..classes)
        .map(|_| (0..d).map(|_| gauss() * spread).collect())
        .collect();
    let mut x = Vec::with_capacity(classes * per_class * d);
    let mut y = Vec::with_capacity(classes * per_class);
    for i in 0..classes * per_class {
        let c = i % classes;
        x.extend(centres[c].iter().map(|m| m + gauss()));
        y.push(c as i64);
    }
    (x, y)
}

/// Runs one of the workspace's binaries.
pub fn run(bin: &str, args: &[&str]) -> Output {
    let exe = match bin {
        "probe" => env!("CARGO_BIN_EXE_probe"),
        "probe-alpha" => env!("CARGO_BIN_EXE_probe-alpha"),
        "probe-reduce" => env!("CARGO_BIN_EXE_probe-reduce"),
        "probe-train" => env!("CARGO_BIN_EXE_probe-train"),
        "probe-extract" => env!("CARGO_BIN_EXE_probe-extract"),
        other => panic!("unknown binary {other}"),
    };
    Command::new(exe).args(args).output().unwrap()
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a command failed cleanly: non-zero exit, no panic, and exactly one `error:` line
/// containing every one of `needles`.
pub fn assert_clean_failure(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {err}"
    );
    assert!(!err.contains("panicked"), "panic: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` missing from: {}", lines[0]);
    }
}

/// The `epoch` of every line of a `metrics.jsonl`, in order.
pub fn metric_epochs(path: &Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["epoch"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// A JSON array of numbers.
pub fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}
