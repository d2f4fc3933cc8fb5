//! ONNX fixtures (made by scripts/make_onnx_fixtures.py): every listed intermediate value,
//! tapped by name, against onnxruntime's output on the same input (relative error ≤ 1e-4).

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use probe_models::{OnnxInput, OnnxModel, Tapped};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx")
        .join(name)
}

fn expected(name: &str) -> (Tensor, Vec<(String, Tensor)>) {
    let bytes = std::fs::read(fixture(&format!("{name}.expected.safetensors"))).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let load = |key: &str| {
        let view = file.tensor(key).unwrap();
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        Tensor::from_vec(values, view.shape(), &Device::Cpu).unwrap()
    };
    let taps = std::fs::read_to_string(fixture(&format!("{name}.taps.txt"))).unwrap();
    let taps = taps.lines().map(|t| (t.to_string(), load(t))).collect();
    (load("input"), taps)
}

/// max |a − b| / max |b|: the error relative to the value's scale.
fn relative_error(got: &Tensor, want: &Tensor) -> f32 {
    assert_eq!(got.dims(), want.dims());
    let g = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let w = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let scale = w.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    g.iter()
        .zip(&w)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max)
        / scale
}

fn check(name: &str) {
    let model = OnnxModel::load(
        &fixture(&format!("{name}.onnx")),
        &OnnxInput::default(),
        &Device::Cpu,
    )
    .unwrap();
    let (x, want) = expected(name);
    let names: Vec<&str> = want.iter().map(|(n, _)| n.as_str()).collect();
    let (logits, got) = model.forward_with_taps(&x, &names, false).unwrap();
    assert!(want.len() >= 7, "{name}: {} taps", want.len());
    for ((n, w), (m, g)) in want.iter().zip(&got) {
        assert_eq!(n, m);
        let err = relative_error(g, w);
        assert!(err <= 1e-4, "{name}: {n}: relative error {err}");
    }
    assert!(relative_error(&logits, &want.last().unwrap().1) <= 1e-4);
    // The taps alone run the graph only as far as they need, with the same values.
    let early = model.forward_taps(&x, &names[..1]).unwrap();
    assert!(relative_error(&early[0].1, &want[0].1) <= 1e-4);
}

#[test]
fn a_cnn_with_batchnorm_residual_and_pooling_matches_onnxruntime() {
    check("cnn");
}

#[test]
fn a_transformer_block_matches_onnxruntime() {
    check("vit");
}

#[test]
fn torchs_default_exporter_with_weights_beside_the_model_matches_onnxruntime() {
    // Opset 20 from the dynamo exporter: ReduceMean with its axes as an input, Gelu, and
    // every weight in NAME.onnx.data.
    check("cnn_dynamo");
    check("vit_dynamo");
}

#[test]
fn external_weights_are_read_only_from_beside_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = std::fs::read(fixture("cnn_dynamo.onnx")).unwrap();
    // Without its .data file: one line naming the file it needs.
    let lonely = dir.path().join("cnn_dynamo.onnx");
    std::fs::write(&lonely, &model).unwrap();
    let err = OnnxModel::load(&lonely, &OnnxInput::default(), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cnn_dynamo.onnx.data"), "{err}");
    // A location that climbs out of the model's folder is refused, not read.
    let name = b"cnn_dynamo.onnx.data";
    let mut escaping = model.clone();
    for at in 0..escaping.len() - name.len() {
        if &escaping[at..at + name.len()] == name {
            escaping[at..at + name.len()].copy_from_slice(b"../../../../etc/data");
        }
    }
    let bad = dir.path().join("escaping.onnx");
    std::fs::write(&bad, escaping).unwrap();
    let err = OnnxModel::load(&bad, &OnnxInput::default(), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside the model's folder"), "{err}");
}

#[test]
fn every_value_is_a_tap_and_shapes_are_listed() {
    let model = OnnxModel::load(&fixture("cnn.onnx"), &OnnxInput::default(), &Device::Cpu).unwrap();
    let names = model.tap_names();
    assert_eq!(names[0], "input");
    assert!(names.contains(&"/gap/GlobalAveragePool_output_0".to_string()));
    let (x, _) = expected("cnn");
    let shapes = model.value_shapes(&x).unwrap();
    assert_eq!(shapes.len(), names.len());
    let gap = shapes
        .iter()
        .find(|(n, _)| n == "/gap/GlobalAveragePool_output_0")
        .unwrap();
    assert_eq!(gap.1, [1, 16, 1, 1]);
}

#[test]
fn errors_name_the_value_the_node_or_the_shapes() {
    let path = fixture("cnn.onnx");
    let model = OnnxModel::load(&path, &OnnxInput::default(), &Device::Cpu).unwrap();
    let (x, _) = expected("cnn");
    let err = model
        .forward_taps(&x, &["/gap/GlobalAvgPool"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("/gap/GlobalAveragePool_output_0"), "{err}");
    let wrong = Tensor::zeros((2, 3, 28, 28), candle_core::DType::F32, &Device::Cpu).unwrap();
    let err = model
        .forward_taps(&wrong, &["logits"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[batch, 1, 28, 28]") || err.contains("[?, 1, 28, 28]"),
        "{err}"
    );
    assert!(err.contains("[2, 3, 28, 28]"), "{err}");
    let input = OnnxInput {
        name: Some("pixels".into()),
        ..OnnxInput::default()
    };
    let err = OnnxModel::load(&path, &input, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no graph input `pixels`") && err.contains("`input`"),
        "{err}"
    );
    // An operator nobody implements, named with its node.
    let mut proto = std::fs::read(&path).unwrap();
    // Every `Relu` (op types and names alike) becomes `Relx`: same lengths, same protobuf.
    for at in 0..proto.len() - 4 {
        if &proto[at..at + 4] == b"Relu" {
            proto[at..at + 4].copy_from_slice(b"Relx");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.onnx");
    std::fs::write(&bad, proto).unwrap();
    let err = OnnxModel::load(&bad, &OnnxInput::default(), &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("operator `Relx`") && err.contains("node `"),
        "{err}"
    );
}
