//! Mlp, SmallCnn and the registry: names, taps parity, configs, bad input.

use candle_core::{DType, Device, Module};
use candle_nn::{VarBuilder, VarMap};
use probe_models::{
    parameter_count, trainable_vars, Arch, Error, MlpConfig, Model, ModelConfig, SmallCnnConfig,
    Tapped, ARCHS,
};

use crate::util::{assert_close, assert_message, batch, fresh};

fn names(varmap: &VarMap) -> Vec<String> {
    trainable_vars(varmap).into_iter().map(|(n, _)| n).collect()
}

#[test]
fn mlp_names_counts_and_taps() {
    let cfg = ModelConfig::default();
    let (model, varmap) = fresh("mlp", &cfg, 1);
    assert_eq!(
        names(&varmap),
        [
            "fc1.bias",
            "fc1.weight",
            "fc2.bias",
            "fc2.weight",
            "fc3.bias",
            "fc3.weight"
        ]
    );
    assert_eq!(
        parameter_count(&varmap),
        784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    );
    assert_eq!(
        model.tap_names(),
        ["input", "fc1", "relu1", "fc2", "relu2", "fc3"]
    );
    assert_eq!(model.arch(), Arch::Mlp);
}

#[test]
fn mlp_taps_equal_plain_forward() {
    let (model, _) = fresh("mlp", &ModelConfig::default(), 2);
    let Model::Mlp(m) = &model else {
        unreachable!()
    };
    let x = batch(&[3, 1, 28, 28]); // image input, flattened by the model
    let all = model.tap_names();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let (logits, taps) = model.forward_with_taps(&x, &refs, false).expect("forward");
    assert_close("input", &taps[0].1, &x, 0.0);
    // Our linear layer sums in another order than candle's: equal to float rounding.
    let mut h = x.flatten_from(1).expect("flat");
    let mut k = 1;
    for (i, layer) in m.layers.iter().enumerate() {
        h = layer.forward(&h).expect("fc");
        assert_eq!(taps[k].0, format!("fc{}", i + 1));
        assert_close(&taps[k].0, &taps[k].1, &h, 1e-5);
        k += 1;
        if i + 1 < m.layers.len() {
            h = h.relu().expect("relu");
            assert_eq!(taps[k].0, format!("relu{}", i + 1));
            assert_close(&taps[k].0, &taps[k].1, &h, 1e-5);
            k += 1;
        }
    }
    assert_close("logits = last tap", &logits, &h, 1e-5);
    assert_eq!(logits.dims(), &[3, 10]);
    // Flat input gives the same logits.
    let flat = model
        .forward_t(&x.flatten_from(1).expect("flat"), false)
        .expect("flat fwd");
    assert_close("flat input", &flat, &logits, 0.0);
}

#[test]
fn mlp_without_hidden_layers_is_linear() {
    let cfg = ModelConfig {
        mlp: MlpConfig {
            input_dim: 5,
            hidden: vec![],
            classes: 3,
        },
        ..Default::default()
    };
    let (model, varmap) = fresh("mlp", &cfg, 3);
    assert_eq!(names(&varmap), ["fc1.bias", "fc1.weight"]);
    assert_eq!(model.tap_names(), ["input", "fc1"]);
    let (y, taps) = model
        .forward_with_taps(&batch(&[2, 5]), &["fc1"], false)
        .expect("fwd");
    assert_close("fc1 = logits", &taps[0].1, &y, 0.0);
}

#[test]
fn mlp_bad_input_and_config() {
    let (model, _) = fresh("mlp", &ModelConfig::default(), 4);
    let err = model
        .forward_t(&batch(&[2, 3, 32, 32]), false)
        .expect_err("wrong width");
    assert_message(&err, &["mlp", "[2, 3, 32, 32]", "784"]);
    let err = model
        .forward_t(&batch(&[784]), false)
        .expect_err("no batch dim");
    assert!(matches!(err, Error::BadInput { .. }));
    let cfg = ModelConfig {
        mlp: MlpConfig {
            hidden: vec![16, 0],
            ..Default::default()
        },
        ..Default::default()
    };
    let Err(err) = Model::fresh("mlp", &cfg, &Device::Cpu, None) else {
        panic!("a zero width was accepted");
    };
    assert_message(&err, &["mlp config", "`hidden`"]);
}

#[test]
fn cnn_names_shapes_and_taps() {
    let (model, varmap) = fresh("cnn", &ModelConfig::default(), 5);
    assert_eq!(
        names(&varmap),
        [
            "conv1.bias",
            "conv1.weight",
            "conv2.bias",
            "conv2.weight",
            "fc1.bias",
            "fc1.weight",
            "fc2.bias",
            "fc2.weight"
        ]
    );
    let data = varmap.data().lock().expect("lock");
    assert_eq!(data["conv1.weight"].dims(), &[32, 1, 3, 3]);
    assert_eq!(data["conv2.weight"].dims(), &[64, 32, 3, 3]);
    assert_eq!(data["fc1.weight"].dims(), &[128, 64 * 7 * 7]);
    assert_eq!(data["fc2.weight"].dims(), &[10, 128]);
    drop(data);
    assert_eq!(
        model.tap_names(),
        ["input", "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc1", "relu3", "fc2"]
    );
}

#[test]
fn cnn_taps_equal_plain_forward() {
    let (model, _) = fresh("cnn", &ModelConfig::default(), 6);
    let Model::Cnn(m) = &model else {
        unreachable!()
    };
    let x = batch(&[2, 1, 28, 28]);
    let all = model.tap_names();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let (logits, taps) = model.forward_with_taps(&x, &refs, false).expect("forward");
    let conv1 = m.conv1.forward(&x).expect("conv1");
    let relu1 = conv1.relu().expect("relu1");
    let pool1 = relu1.max_pool2d(2).expect("pool1");
    let conv2 = m.conv2.forward(&pool1).expect("conv2");
    let relu2 = conv2.relu().expect("relu2");
    let pool2 = relu2.max_pool2d(2).expect("pool2");
    let fc1 = m
        .fc1
        .forward(&pool2.flatten_from(1).expect("flat"))
        .expect("fc1");
    let relu3 = fc1.relu().expect("relu3");
    let fc2 = m.fc2.forward(&relu3).expect("fc2");
    let want = [
        &x, &conv1, &relu1, &pool1, &conv2, &relu2, &pool2, &fc1, &relu3, &fc2,
    ];
    // Our convolution sums in another order than candle's: equal to float rounding.
    for ((name, got), want) in taps.iter().zip(want) {
        assert_close(name, got, want, 1e-5);
    }
    assert_eq!(taps[6].1.dims(), &[2, 64, 7, 7]);
    assert_close("logits", &logits, &fc2, 1e-5);
}

#[test]
fn cnn_checks_image_size() {
    let (model, _) = fresh("cnn", &ModelConfig::default(), 7);
    let err = model
        .forward_t(&batch(&[2, 1, 32, 32]), false)
        .expect_err("32×32");
    assert_message(&err, &["cnn", "[2, 1, 32, 32]", "[n, 1, 28, 28]"]);
    let cfg = ModelConfig {
        cnn: SmallCnnConfig {
            in_channels: 3,
            image_size: 32,
            classes: 4,
        },
        ..Default::default()
    };
    let (model, varmap) = fresh("cnn", &cfg, 8);
    assert_eq!(
        varmap.data().lock().expect("lock")["fc1.weight"].dims(),
        &[128, 64 * 8 * 8]
    );
    let y = model.forward_t(&batch(&[2, 3, 32, 32]), true).expect("fwd");
    assert_eq!(y.dims(), &[2, 4]);
}

#[test]
fn unknown_tap_lists_valid_names_for_every_model() {
    for arch in ["mlp", "cnn"] {
        let (model, _) = fresh(arch, &ModelConfig::default(), 9);
        let err = model
            .forward_with_taps(&batch(&[1, 1, 28, 28]), &["nope"], false)
            .expect_err("unknown tap");
        let valid = model.tap_names();
        let refs: Vec<&str> = valid.iter().map(String::as_str).collect();
        let mut needles = vec![arch, "`nope`"];
        needles.extend(refs);
        assert_message(&err, &needles);
    }
}

#[test]
fn registry_builds_by_name_and_rejects_unknown() {
    let cfg = ModelConfig::default();
    for (arch, want) in ARCHS.iter().zip([Arch::Mlp, Arch::Cnn, Arch::ResNet18]) {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let model = Model::build(arch, &cfg, vb).expect("build");
        assert_eq!(model.arch(), want);
        assert_eq!(want.to_string(), *arch);
    }
    let vb = VarBuilder::from_varmap(&VarMap::new(), DType::F32, &Device::Cpu);
    let err = Model::build("resnet50", &cfg, vb).expect_err("unknown arch");
    assert_message(&err, &["`resnet50`", "mlp, cnn, resnet18"]);
}

#[test]
fn model_config_serde_defaults_and_unknown_fields() {
    let cfg: ModelConfig =
        serde_json::from_str(r#"{"resnet18": {"classes": 100}, "mlp": {"hidden": [64]}}"#)
            .expect("parse");
    assert_eq!(cfg.resnet18.classes, 100);
    assert_eq!(cfg.resnet18.bn_momentum, 0.1);
    assert_eq!(cfg.mlp.hidden, [64]);
    assert_eq!(cfg.mlp.input_dim, 784);
    assert_eq!(cfg.cnn, SmallCnnConfig::default());
    let err = serde_json::from_str::<ModelConfig>(r#"{"mlp": {"hiden": [64]}}"#).expect_err("typo");
    assert!(err.to_string().contains("hiden"), "{err}");
    let back: ModelConfig =
        serde_json::from_str(&serde_json::to_string(&cfg).expect("ser")).expect("de");
    assert_eq!(back, cfg);
    assert_eq!(ModelConfig::default().with_classes(3).cnn.classes, 3);
}
