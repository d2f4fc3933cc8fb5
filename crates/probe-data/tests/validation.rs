//! Feature-set validation: one test per bad input, plus atomic writes that fail.

mod common;

use std::collections::BTreeMap;
use std::fs;

use common::{assert_message, f32_bytes, i64_bytes, valid_file, write_raw};
use probe_data::{write_feature_set, Error, FeatureSet};
use safetensors::Dtype;

#[test]
fn error_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = FeatureSet::open(dir.path().join("nope.safetensors")).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
    assert_message(&err, "nope.safetensors", &["cannot read"]);

    let folder = dir.path().join("layers.safetensors");
    fs::create_dir(&folder).unwrap();
    let err = FeatureSet::open(&folder).unwrap_err();
    assert!(matches!(err, Error::NotRegularFile { .. }), "{err:?}");
    assert_message(
        &err,
        "layers.safetensors",
        &["is a folder, not a regular file"],
    );
}

#[test]
fn error_truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = valid_file(dir.path(), "cut.safetensors");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = FeatureSet::open(&path).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert_message(
        &err,
        "cut.safetensors",
        &["truncated or corrupt safetensors file"],
    );
}

#[test]
fn error_garbage_and_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.safetensors");
    fs::write(&garbage, b"this is not a safetensors file at all\n\n").unwrap();
    let err = FeatureSet::open(&garbage).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert_message(&err, "garbage.safetensors", &["truncated or corrupt"]);

    // A header length that points past the end, with a newline inside the JSON.
    let bad_json = dir.path().join("badjson.safetensors");
    let mut bytes = 6u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{\n\"a\":");
    fs::write(&bad_json, &bytes).unwrap();
    let err = FeatureSet::open(&bad_json).unwrap_err();
    assert_message(&err, "badjson.safetensors", &["truncated or corrupt"]);

    let empty = dir.path().join("empty.safetensors");
    fs::write(&empty, b"").unwrap();
    let err = FeatureSet::open(&empty).unwrap_err();
    assert_message(
        &err,
        "empty.safetensors",
        &["truncated or corrupt", "0 bytes"],
    );
}

#[test]
fn error_missing_features_lists_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nofeat.safetensors");
    write_raw(
        &path,
        &[
            (
                "activations",
                Dtype::F32,
                vec![2, 1],
                f32_bytes(&[1.0, 2.0]),
            ),
            ("labels", Dtype::I64, vec![2], i64_bytes(&[0, 1])),
        ],
        &[],
    );
    let err = FeatureSet::open(&path).unwrap_err();
    assert!(matches!(err, Error::MissingFeatures { .. }), "{err:?}");
    assert_message(
        &err,
        "nofeat.safetensors",
        &["no `features` tensor", "\"activations\"", "\"labels\""],
    );
}

#[test]
fn error_missing_labels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nolab.safetensors");
    write_raw(
        &path,
        &[("features", Dtype::F32, vec![2, 1], f32_bytes(&[1.0, 2.0]))],
        &[],
    );
    let err = FeatureSet::open(&path).unwrap_err();
    assert!(matches!(err, Error::MissingLabels { .. }), "{err:?}");
    assert_message(
        &err,
        "nolab.safetensors",
        &["no `labels` tensor", "\"features\""],
    );
}

#[test]
fn error_unsupported_dtypes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("intfeat.safetensors");
    let ints: Vec<u8> = [1i32, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
    write_raw(
        &path,
        &[
            ("features", Dtype::I32, vec![2, 1], ints),
            ("labels", Dtype::I64, vec![2], i64_bytes(&[0, 1])),
        ],
        &[],
    );
    let err = FeatureSet::open(&path).unwrap_err();
    assert!(matches!(err, Error::UnsupportedDtype { .. }), "{err:?}");
    assert_message(
        &err,
        "intfeat.safetensors",
        &["`features`", "I32", "F32, F16, BF16, F64"],
    );

    let path = dir.path().join("floatlab.safetensors");
    write_raw(
        &path,
        &[
            ("features", Dtype::F32, vec![2, 1], f32_bytes(&[1.0, 2.0])),
            ("labels", Dtype::F32, vec![2], f32_bytes(&[0.0, 1.0])),
        ],
        &[],
    );
    let err = FeatureSet::open(&path).unwrap_err();
    assert_message(
        &err,
        "floatlab.safetensors",
        &["`labels`", "F32", "I64, I32, U32, U8"],
    );
}

#[test]
fn error_wrong_rank() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rank1.safetensors");
    write_raw(
        &path,
        &[
            ("features", Dtype::F32, vec![2], f32_bytes(&[1.0, 2.0])),
            ("labels", Dtype::I64, vec![2], i64_bytes(&[0, 1])),
        ],
        &[],
    );
    let err = FeatureSet::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadRank {
                tensor: "features",
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(
        &err,
        "rank1.safetensors",
        &["`features`", "[2]", "rank 2 or more"],
    );

    let path = dir.path().join("labels2d.safetensors");
    write_raw(
        &path,
        &[
            ("features", Dtype::F32, vec![2, 1], f32_bytes(&[1.0, 2.0])),
            ("labels", Dtype::I64, vec![1, 2], i64_bytes(&[0, 1])),
        ],
        &[],
    );
    let err = FeatureSet::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadRank {
                tensor: "labels",
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(
        &err,
        "labels2d.safetensors",
        &["`labels`", "[1, 2]", "[n] or [n, 1]"],
    );

    let err = FeatureSet::from_f32(vec![1.0, 2.0], &[2], &[0, 1], BTreeMap::new()).unwrap_err();
    assert!(matches!(err, Error::BadRank { .. }), "{err:?}");
    assert_message(&err, "<in-memory feature set>", &["rank 2 or more"]);
}

#[test]
fn error_row_count_differs_from_label_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mismatch.safetensors");
    write_raw(
        &path,
        &[
            (
                "features",
                Dtype::F32,
                vec![3, 1],
                f32_bytes(&[1.0, 2.0, 3.0]),
            ),
            ("labels", Dtype::I64, vec![4], i64_bytes(&[0, 1, 0, 1])),
        ],
        &[],
    );
    let err = FeatureSet::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::LengthMismatch {
                rows: 3,
                labels: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, "mismatch.safetensors", &["3 rows", "4 entries"]);
}

#[test]
fn error_zero_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nocols.safetensors");
    write_raw(
        &path,
        &[
            ("features", Dtype::F32, vec![3, 0], Vec::new()),
            ("labels", Dtype::I64, vec![3], i64_bytes(&[0, 1, 0])),
        ],
        &[],
    );
    let err = FeatureSet::open(&path).unwrap_err();
    assert!(matches!(err, Error::NoColumns { .. }), "{err:?}");
    assert_message(&err, "nocols.safetensors", &["zero columns", "[3, 0]"]);
}

#[test]
fn error_fewer_than_two_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.safetensors");
    write_raw(
        &path,
        &[
            ("features", Dtype::F32, vec![1, 2], f32_bytes(&[1.0, 2.0])),
            ("labels", Dtype::I64, vec![1], i64_bytes(&[0])),
        ],
        &[],
    );
    let err = FeatureSet::open(&path).unwrap_err();
    assert!(matches!(err, Error::TooFewSamples { n: 1, .. }), "{err:?}");
    assert_message(
        &err,
        "one.safetensors",
        &["only 1 sample", "at least 2 samples"],
    );
}

#[test]
fn error_fewer_than_two_classes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("oneclass.safetensors");
    write_raw(
        &path,
        &[
            (
                "features",
                Dtype::F32,
                vec![3, 1],
                f32_bytes(&[1.0, 2.0, 3.0]),
            ),
            ("labels", Dtype::I64, vec![3], i64_bytes(&[4, 4, 4])),
        ],
        &[],
    );
    let err = FeatureSet::open(&path).unwrap_err();
    assert!(
        matches!(err, Error::TooFewClasses { distinct: 1, .. }),
        "{err:?}"
    );
    assert_message(
        &err,
        "oneclass.safetensors",
        &["only 1 distinct label", "at least 2 classes"],
    );
}

#[test]
fn error_non_finite_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.safetensors");
    let values = [1.0, 2.0, 3.0, f32::NAN, f32::INFINITY, 6.0];
    write_raw(
        &path,
        &[
            ("features", Dtype::F32, vec![3, 2], f32_bytes(&values)),
            ("labels", Dtype::I64, vec![3], i64_bytes(&[0, 1, 0])),
        ],
        &[],
    );
    let err = FeatureSet::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFinite {
                count: 2,
                row: 1,
                col: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(
        &err,
        "nan.safetensors",
        &["2 non-finite", "row 1, column 1"],
    );
    // Opened without the scan, the set is flagged as such and its scan gives open's error.
    let unscanned = FeatureSet::open_unscanned(&path).unwrap();
    assert!(!unscanned.values_scanned());
    assert_eq!(
        unscanned.scan_values().unwrap_err().to_string(),
        err.to_string()
    );

    let err =
        FeatureSet::from_f32(values.to_vec(), &[3, 2], &[0, 1, 0], BTreeMap::new()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFinite {
                count: 2,
                row: 1,
                col: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_finite_file_opened_without_its_scan_passes_the_scan_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fine.safetensors");
    let values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    write_raw(
        &path,
        &[
            ("features", Dtype::F32, vec![3, 2], f32_bytes(&values)),
            ("labels", Dtype::I64, vec![3], i64_bytes(&[0, 1, 0])),
        ],
        &[],
    );
    assert!(FeatureSet::open(&path).unwrap().values_scanned());
    let set = FeatureSet::open_unscanned(&path).unwrap();
    assert!(!set.values_scanned());
    set.scan_values().unwrap();
    assert_eq!(set.as_f32_slice().unwrap(), values);
    // A file truncated after opening is refused by the scan, not read past its end.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(40)
        .unwrap();
    let err = set.scan_values().unwrap_err();
    assert!(err.to_string().contains("fine.safetensors"), "{err}");
}

#[test]
fn error_shape_does_not_match_buffer() {
    let err = FeatureSet::from_f32(vec![0.0; 5], &[2, 3], &[0, 1], BTreeMap::new()).unwrap_err();
    assert!(
        matches!(err, Error::ShapeMismatch { len: 5, .. }),
        "{err:?}"
    );
    assert_message(&err, "<in-memory feature set>", &["5 values", "needs 6"]);

    let err = FeatureSet::from_f32(vec![], &[0, usize::MAX, 2], &[], BTreeMap::new()).unwrap_err();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{err:?}");
    assert_message(&err, "<in-memory feature set>", &["more than usize::MAX"]);
}

#[test]
fn write_into_missing_folder_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("out.safetensors");
    let err = write_feature_set(&path, &[0.0; 4], &[2, 2], &[0, 1], &BTreeMap::new()).unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err:?}");
    assert_message(&err, "out.safetensors", &["cannot write", "folder exists"]);
    assert!(!path.exists());
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn failed_write_leaves_no_temp_file_and_keeps_old_file() {
    let dir = tempfile::tempdir().unwrap();
    // An F64 value that F32 cannot hold fails half-way through writing.
    let src = dir.path().join("big.safetensors");
    let f64b: Vec<u8> = [1.0f64, 1e300, 2.0, 3.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    write_raw(
        &src,
        &[
            ("features", Dtype::F64, vec![2, 2], f64b),
            ("labels", Dtype::I64, vec![2], i64_bytes(&[0, 1])),
        ],
        &[],
    );
    let set = FeatureSet::open(&src).unwrap();
    let out = valid_file(dir.path(), "out.safetensors");
    let before = fs::read(&out).unwrap();
    let err = set.write(&out).unwrap_err();
    assert!(
        matches!(err, Error::OutOfF32Range { row: 0, col: 1, .. }),
        "{err:?}"
    );
    assert_message(
        &err,
        "out.safetensors",
        &["does not fit in F32", "row 0, column 1"],
    );
    assert_eq!(fs::read(&out).unwrap(), before, "old file was changed");
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["big.safetensors", "out.safetensors"]);

    // Invalid parts are refused before any file is created.
    let bad = dir.path().join("bad.safetensors");
    let err = write_feature_set(&bad, &[1.0; 4], &[2, 2], &[3, 3], &BTreeMap::new()).unwrap_err();
    assert!(matches!(err, Error::TooFewClasses { .. }), "{err:?}");
    assert_message(&err, "bad.safetensors", &["distinct label"]);
    assert!(!bad.exists());
}
