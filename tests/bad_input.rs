//! Every way a feature-set file can be wrong gives one clear error line naming the file and
//! the problem, a non-zero exit, no panic, and no results file half-written.

use std::path::{Path, PathBuf};

use crate::util::{assert_clean_failure, run};

/// Writes a safetensors file by hand (8-byte header length, JSON header, data), so that the
/// tests can build files our writer never would.
fn raw_safetensors(path: &Path, tensors: &[(&str, &str, &[usize], Vec<u8>)]) {
    let mut header = String::from("{");
    let mut data = Vec::new();
    for (k, (name, dtype, shape, bytes)) in tensors.iter().enumerate() {
        let shape: Vec<String> = shape.iter().map(|s| s.to_string()).collect();
        header += &format!(
            "{}\"{name}\":{{\"dtype\":\"{dtype}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            if k > 0 { "," } else { "" },
            shape.join(","),
            data.len(),
            data.len() + bytes.len()
        );
        data.extend_from_slice(bytes);
    }
    header.push('}');
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&data);
    std::fs::write(path, file).unwrap();
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i64s(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Runs probe-alpha on one file with --out, checks the failure, and that no results file or
/// temporary file was left beside it.
fn fails_with(name: &str, tensors: &[(&str, &str, &[usize], Vec<u8>)], needles: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    raw_safetensors(&file, tensors);
    check_failure(dir.path(), &file, needles);
}

fn check_failure(dir: &Path, file: &Path, needles: &[&str]) {
    check_failure_with(dir, file, &[], needles);
}

/// As `check_failure`, with more probe-alpha arguments.
fn check_failure_with(dir: &Path, file: &Path, args: &[&str], needles: &[&str]) {
    let out = dir.join("results.json");
    let mut all = vec![file.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"];
    all.extend_from_slice(args);
    let o = run("probe-alpha", &all);
    let mut with_name = needles.to_vec();
    let file_name = file.file_name().unwrap().to_str().unwrap().to_string();
    with_name.push(&file_name);
    assert_clean_failure(&o, &with_name);
    // The results file is complete (it records the failure) and nothing else was added.
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(results["failures"].as_array().unwrap().len(), 1);
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 2, "unexpected files: {entries:?}");
}

const X: [f32; 6] = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0];

#[test]
fn missing_features_tensor() {
    fails_with(
        "nofeat.safetensors",
        &[("labels", "I64", &[3], i64s(&[0, 1, 0]))],
        &["features"],
    );
}

#[test]
fn missing_labels_tensor() {
    fails_with(
        "nolabels.safetensors",
        &[("features", "F32", &[3, 2], f32s(&X))],
        &["labels"],
    );
}

#[test]
fn row_count_differs_from_label_count() {
    fails_with(
        "rows.safetensors",
        &[
            ("features", "F32", &[3, 2], f32s(&X)),
            ("labels", "I64", &[2], i64s(&[0, 1])),
        ],
        &["3", "2"],
    );
}

#[test]
fn non_finite_values_name_count_and_first_position() {
    let mut x = X;
    x[3] = f32::NAN;
    x[5] = f32::INFINITY;
    fails_with(
        "nan.safetensors",
        &[
            ("features", "F32", &[3, 2], f32s(&x)),
            ("labels", "I64", &[3], i64s(&[0, 1, 0])),
        ],
        &["non-finite", "2", "row 1", "column 1"],
    );
}

/// probe-alpha leaves the scan for non-finite values to the forest's first pass: every way
/// it reads a file (bins, the exact splitter's values, f64 files, a reduction first) still
/// gives the whole file's count and the first position.
#[test]
fn non_finite_values_are_found_on_every_path() {
    let (n, d) = (400, 30);
    let mut x: Vec<f32> = (0..n * d).map(|k| (k % 17) as f32).collect();
    x[250 * d + 7] = f32::NAN;
    x[399 * d + 29] = f32::NEG_INFINITY;
    let y: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
    let x64: Vec<u8> = x.iter().flat_map(|&v| f64::from(v).to_le_bytes()).collect();
    let needles = ["2 non-finite", "row 250, column 7"];
    for (dtype, bytes, args) in [
        ("F32", f32s(&x), &[][..]),
        ("F32", f32s(&x), &["--splitter", "exact"][..]),
        ("F32", f32s(&x), &["--reduce-to", "5"][..]),
        ("F64", x64, &[][..]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("late-nan.safetensors");
        raw_safetensors(
            &file,
            &[
                ("features", dtype, &[n, d], bytes),
                ("labels", "I64", &[n], i64s(&y)),
            ],
        );
        check_failure_with(dir.path(), &file, args, &needles);
    }
}

#[test]
fn fewer_than_two_samples() {
    fails_with(
        "one.safetensors",
        &[
            ("features", "F32", &[1, 2], f32s(&X[..2])),
            ("labels", "I64", &[1], i64s(&[0])),
        ],
        &["sample"],
    );
}

#[test]
fn fewer_than_two_classes() {
    fails_with(
        "oneclass.safetensors",
        &[
            ("features", "F32", &[3, 2], f32s(&X)),
            ("labels", "I64", &[3], i64s(&[4, 4, 4])),
        ],
        &["class"],
    );
}

#[test]
fn zero_columns() {
    fails_with(
        "nocols.safetensors",
        &[
            ("features", "F32", &[3, 0], Vec::new()),
            ("labels", "I64", &[3], i64s(&[0, 1, 0])),
        ],
        &["column"],
    );
}

#[test]
fn unsupported_dtype() {
    fails_with(
        "dtype.safetensors",
        &[
            ("features", "I16", &[3, 2], vec![0u8; 12]),
            ("labels", "I64", &[3], i64s(&[0, 1, 0])),
        ],
        &["I16"],
    );
}

#[test]
fn truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cut.safetensors");
    raw_safetensors(
        &file,
        &[
            ("features", "F32", &[3, 2], f32s(&X)),
            ("labels", "I64", &[3], i64s(&[0, 1, 0])),
        ],
    );
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
    check_failure(dir.path(), &file, &["cut short", "header describes"]);
}

#[test]
fn corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("garbage.safetensors");
    std::fs::write(&file, [0xffu8; 64]).unwrap();
    check_failure(dir.path(), &file, &["truncated or corrupt"]);
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("absent.safetensors");
    let out = dir.path().join("results.json");
    let o = run(
        "probe-alpha",
        &[file.to_str().unwrap(), "--out", out.to_str().unwrap()],
    );
    assert_clean_failure(&o, &["absent.safetensors"]);
}

#[test]
fn bad_settings_fail_before_any_work() {
    let o = run("probe-alpha", &["whatever.safetensors", "--trees", "0"]);
    assert_clean_failure(&o, &["n_trees"]);
    let o = run("probe-alpha", &["whatever.safetensors", "--epsilon=-1"]);
    assert_clean_failure(&o, &["epsilon"]);
    let o = run(
        "probe-alpha",
        &["whatever.safetensors", "--out", "/no/such/folder/r.json"],
    );
    assert_clean_failure(&o, &["/no/such/folder"]);
    let o = run("probe-alpha", &["x.safetensors", "--max-features", "many"]);
    assert!(!o.status.success() && !crate::util::stderr(&o).contains("panicked"));
}
