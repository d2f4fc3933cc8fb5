//! Helpers shared by the tests: messages and safetensors files.
// Each test binary uses only some of these.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

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
