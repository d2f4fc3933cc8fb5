//! Saving and loading weights: safetensors round trip, strict checks, PyTorch `.pth`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use probe_models::{
    load_pth, load_safetensors, load_weights, read_safetensors_metadata, save_safetensors, Error,
    MlpConfig, Model, ModelConfig, Tapped,
};

use crate::util::{assert_close, assert_message, batch, fresh};

fn tensors_of(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).expect("load file")
}

fn write(path: &Path, tensors: &HashMap<String, Tensor>) {
    candle_core::safetensors::save(tensors, path).expect("save file");
}

fn snapshot(varmap: &VarMap) -> BTreeMap<String, Vec<f32>> {
    let data = varmap.data().lock().expect("lock");
    data.iter()
        .map(|(n, v)| {
            (
                n.clone(),
                v.flatten_all().and_then(|t| t.to_vec1()).expect("v"),
            )
        })
        .collect()
}

/// A ResNet-18 whose running statistics have moved off their initial values, saved.
fn saved_resnet(dir: &Path, classes: usize) -> (Model, VarMap, PathBuf) {
    let cfg = ModelConfig::default().with_classes(classes);
    let (model, varmap) = fresh("resnet18", &cfg, 21);
    model
        .forward_t(&batch(&[4, 3, 32, 32]), true)
        .expect("train step");
    let path = dir.join(format!("resnet18-{classes}.safetensors"));
    let meta = BTreeMap::from([
        ("arch".to_string(), "resnet18".to_string()),
        ("classes".to_string(), classes.to_string()),
    ]);
    save_safetensors(&varmap, &path, &meta).expect("save");
    (model, varmap, path)
}

#[test]
fn safetensors_round_trip_with_pytorch_names() {
    let dir = tempfile::tempdir().expect("dir");
    let (model, varmap, path) = saved_resnet(dir.path(), 10);

    let file = tensors_of(&path);
    assert_eq!(file.len(), varmap.all_vars().len());
    for name in [
        "conv1.weight",
        "layer2.0.downsample.1.running_var",
        "fc.bias",
    ] {
        assert!(file.contains_key(name), "file lacks {name}");
    }
    let meta = read_safetensors_metadata(&path).expect("metadata");
    assert_eq!(meta["arch"], "resnet18");
    assert_eq!(meta["classes"], "10");
    // No temp file is left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").collect();
    assert_eq!(left.len(), 1);

    let (reloaded, varmap2) =
        Model::from_weights("resnet18", &ModelConfig::default(), &path, &Device::Cpu)
            .expect("reload");
    assert_eq!(snapshot(&varmap2), snapshot(&varmap));
    let x = batch(&[2, 3, 32, 32]);
    let taps = ["layer3.1.bn2", "avgpool"];
    let (y1, t1) = model.forward_with_taps(&x, &taps, false).expect("fwd");
    let (y2, t2) = reloaded.forward_with_taps(&x, &taps, false).expect("fwd");
    assert_close("logits", &y1, &y2, 0.0);
    assert_close("layer3.1.bn2", &t1[0].1, &t2[0].1, 0.0);
    assert_close("avgpool", &t1[1].1, &t2[1].1, 0.0);
}

#[test]
fn save_replaces_an_existing_file_and_reports_bad_folders() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("mlp.safetensors");
    std::fs::write(&path, b"old").expect("old file");
    let (_, varmap) = fresh("mlp", &ModelConfig::default(), 22);
    save_safetensors(&varmap, &path, &BTreeMap::new()).expect("save over");
    assert!(read_safetensors_metadata(&path).expect("meta").is_empty());
    let bad = dir.path().join("no-such-folder").join("x.safetensors");
    let err = save_safetensors(&varmap, &bad, &BTreeMap::new()).expect_err("no folder");
    assert_message(&err, &["no-such-folder", "writable"]);
}

#[test]
fn shape_mismatch_names_tensor_and_both_shapes() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, _, path) = saved_resnet(dir.path(), 5);
    let (_, varmap) = fresh("resnet18", &ModelConfig::default(), 23);
    let before = snapshot(&varmap);
    let err = load_safetensors(&varmap, &path).expect_err("5 vs 10 classes");
    match &err {
        Error::ShapeMismatch {
            tensor,
            expected,
            found,
            more,
            ..
        } => {
            assert_eq!(tensor, "fc.bias"); // sorted by name: fc.bias before fc.weight
            assert_eq!(
                (expected.as_slice(), found.as_slice()),
                (&[10][..], &[5][..])
            );
            assert_eq!(*more, 1);
        }
        other => panic!("wrong error: {other}"),
    }
    assert_message(
        &err,
        &[
            "resnet18-5.safetensors",
            "`fc.bias`",
            "[5]",
            "[10]",
            "classes",
        ],
    );
    // Nothing was changed by the failed load.
    assert_eq!(snapshot(&varmap), before);

    // Only fc.weight wrong.
    let mut file = tensors_of(&path);
    let (_, vm10) = fresh("resnet18", &ModelConfig::default(), 24);
    let fc_bias = vm10.data().lock().expect("lock")["fc.bias"]
        .as_tensor()
        .clone();
    file.insert("fc.bias".into(), fc_bias);
    let one = dir.path().join("fc-weight.safetensors");
    write(&one, &file);
    let err = load_safetensors(&varmap, &one).expect_err("fc.weight");
    assert_message(&err, &["`fc.weight`", "[5, 512]", "[10, 512]"]);
    assert!(!err.to_string().contains("more tensor problem"));
}

#[test]
fn missing_tensor_is_named_with_its_shape() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, _, path) = saved_resnet(dir.path(), 10);
    let mut file = tensors_of(&path);
    file.remove("fc.weight");
    let cut = dir.path().join("cut.safetensors");
    write(&cut, &file);
    let (_, varmap) = fresh("resnet18", &ModelConfig::default(), 25);
    let err = load_weights(&varmap, &cut).expect_err("missing");
    assert!(matches!(&err, Error::MissingTensor { tensor, .. } if tensor == "fc.weight"));
    assert_message(
        &err,
        &["cut.safetensors", "`fc.weight`", "[10, 512]", "missing"],
    );
}

#[test]
fn unexpected_tensors_are_an_error_but_num_batches_tracked_is_ignored() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, varmap, path) = saved_resnet(dir.path(), 10);
    let mut file = tensors_of(&path);
    let nbt = Tensor::new(100i64, &Device::Cpu).expect("i64");
    for bn in ["bn1", "layer1.0.bn1", "layer4.0.downsample.1"] {
        file.insert(format!("{bn}.num_batches_tracked"), nbt.clone());
    }
    let with_nbt = dir.path().join("nbt.safetensors");
    write(&with_nbt, &file);
    let (_, fresh_vm) = fresh("resnet18", &ModelConfig::default(), 26);
    load_safetensors(&fresh_vm, &with_nbt).expect("num_batches_tracked ignored");
    assert_eq!(snapshot(&fresh_vm), snapshot(&varmap));

    file.insert(
        "head.weight".into(),
        Tensor::zeros((2, 2), DType::F32, &Device::Cpu).expect("t"),
    );
    let extra = dir.path().join("extra.safetensors");
    write(&extra, &file);
    let err = load_safetensors(&fresh_vm, &extra).expect_err("extra");
    assert_message(
        &err,
        &["extra.safetensors", "`head.weight`", "does not have"],
    );
}

#[test]
fn data_parallel_prefix_and_dtype_conversion() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, varmap) = fresh("cnn", &ModelConfig::default(), 27);
    let prefixed: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .expect("lock")
        .iter()
        .map(|(n, v)| (format!("module.{n}"), v.to_dtype(DType::F16).expect("f16")))
        .collect();
    let path = dir.path().join("dp.safetensors");
    write(&path, &prefixed);
    let (_, vm2) = fresh("cnn", &ModelConfig::default(), 28);
    load_safetensors(&vm2, &path).expect("load");
    let a = snapshot(&varmap);
    let b = snapshot(&vm2);
    for (name, va) in &a {
        let vb = &b[name];
        let d = va
            .iter()
            .zip(vb)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(d < 1e-2, "{name} differs by {d} after f16");
        assert!(
            va != vb || va.is_empty() || name.contains("bias"),
            "no f16 rounding in {name}?"
        );
    }
}

#[test]
fn bad_files_and_formats() {
    let dir = tempfile::tempdir().expect("dir");
    let (_, varmap) = fresh("mlp", &ModelConfig::default(), 29);
    let err = load_weights(&varmap, &dir.path().join("w.onnx")).expect_err("format");
    assert_message(&err, &["w.onnx", ".safetensors", ".pth"]);
    let err = load_weights(&varmap, &dir.path().join("absent.safetensors")).expect_err("absent");
    assert!(matches!(err, Error::Read { .. }));
    assert_message(&err, &["absent.safetensors"]);
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a safetensors file at all").expect("junk");
    let err = load_weights(&varmap, &junk).expect_err("junk");
    assert_message(&err, &["junk.safetensors", "cannot parse"]);
    let junk_pth = dir.path().join("junk.pth");
    std::fs::write(&junk_pth, b"not a zip").expect("junk");
    let err = load_weights(&varmap, &junk_pth).expect_err("junk pth");
    assert_message(&err, &["junk.pth", "cannot parse"]);
    let err = load_pth(&varmap, &dir.path().join("absent.pt"), None).expect_err("absent");
    assert!(matches!(err, Error::Read { .. }));
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tiny_mlp() -> (Model, VarMap) {
    let cfg = ModelConfig {
        mlp: MlpConfig {
            input_dim: 4,
            hidden: vec![3],
            classes: 2,
        },
        ..Default::default()
    };
    Model::fresh("mlp", &cfg, &Device::Cpu, None).expect("tiny mlp")
}

/// The values `make_pth.py` writes: `base + 0.01 * k`.
fn expected(base: f32, n: usize) -> Vec<f32> {
    (0..n).map(|k| base + 0.01 * k as f32).collect()
}

/// Equal to f32 rounding (Python computed the values in f64).
#[track_caller]
fn assert_values(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-6, "{what}: {got:?} vs {want:?}");
    }
}

#[test]
fn pth_state_dict_loads_by_pytorch_name() {
    for file in ["tiny_mlp.pth", "tiny_mlp_nested.pth"] {
        let (model, varmap) = tiny_mlp();
        load_weights(&varmap, &fixture(file)).expect(file);
        let got = snapshot(&varmap);
        assert_values(&got["fc1.weight"], &expected(1.0, 12), file);
        assert_values(&got["fc1.bias"], &expected(2.0, 3), file);
        assert_values(&got["fc2.weight"], &expected(3.0, 6), file);
        assert_values(&got["fc2.bias"], &expected(4.0, 2), file);
        // fc1.weight is [3, 4] row-major: row 1 is values 4..8.
        let w = varmap.data().lock().expect("lock")["fc1.weight"]
            .to_vec2::<f32>()
            .expect("w");
        assert_values(&w[1], &expected(1.04, 4), "row 1");
        let y = model.forward_t(&batch(&[1, 4]), false).expect("fwd");
        assert_eq!(y.dims(), &[1, 2]);
    }
    // An explicit key works; a wrong key is a one-line parse error.
    let (_, varmap) = tiny_mlp();
    load_pth(&varmap, &fixture("tiny_mlp_nested.pth"), Some("state_dict")).expect("key");
    let err = load_pth(&varmap, &fixture("tiny_mlp_nested.pth"), Some("weights")).expect_err("key");
    assert_message(&err, &["tiny_mlp_nested.pth", "weights"]);
}

#[test]
fn pth_shape_mismatch_is_checked_too() {
    let (_, varmap) = fresh("mlp", &ModelConfig::default(), 30);
    let err = load_weights(&varmap, &fixture("tiny_mlp.pth")).expect_err("784-wide mlp");
    assert_message(&err, &["tiny_mlp.pth", "`fc1.bias`", "[3]", "[256]"]);
}
