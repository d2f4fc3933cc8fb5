//! Helpers shared by the test modules.

use candle_core::{DType, Device, Tensor};
use probe_models::{Model, ModelConfig};

/// A deterministic batch of shape `dims`: a fixed smooth pattern in [-1, 1].
pub fn batch(dims: &[usize]) -> Tensor {
    let n: usize = dims.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|i| ((i as f32) * 0.37).sin() * 0.9 + ((i % 7) as f32) * 0.01)
        .collect();
    Tensor::from_vec(values, dims, &Device::Cpu).expect("batch")
}

/// The largest absolute difference between two tensors of the same shape.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0))
        .and_then(|d| d.to_dtype(DType::F32))
        .and_then(|d| d.to_vec0::<f32>())
        .expect("max diff")
}

/// Asserts `a` and `b` agree to `tol` (absolute), naming `what` on failure.
#[track_caller]
pub fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f32) {
    let d = max_diff(a, b);
    assert!(d <= tol, "{what}: max |difference| {d} > {tol}");
}

/// A seeded fresh model on the CPU.
pub fn fresh(arch: &str, cfg: &ModelConfig, seed: u64) -> (Model, candle_nn::VarMap) {
    Model::fresh(arch, cfg, &Device::Cpu, Some(seed)).expect("fresh model")
}

/// Asserts an error message is one line and contains every needle.
#[track_caller]
pub fn assert_message(err: &probe_models::Error, needles: &[&str]) {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "message is not one line: {msg}");
    for n in needles {
        assert!(msg.contains(n), "message lacks `{n}`: {msg}");
    }
}
