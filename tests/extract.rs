//! `probe-extract` end to end: a trained MNIST CNN's layers through the probe, reruns that
//! skip complete layers, and every bad input.

use std::path::Path;

use probe_data::FeatureSet;

use crate::util::{assert_clean_failure, run, shared, stderr};

fn write_config(dir: &Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("extract.toml");
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn mnist_cnn_trains_to_97_percent_and_its_last_hidden_layer_beats_the_input_by_a_tenth() {
    let Some(data) = shared("data/mnist-10k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let o = run(
        "probe-train",
        &[
            "--env",
            "mnist",
            "--model",
            "cnn",
            "--data",
            data.to_str().unwrap(),
            "--epochs",
            "4",
            "--out",
            run_dir.to_str().unwrap(),
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // The small CNN reaches 97% validation accuracy (8,000 train / 2,000 validation).
    let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    let best = metrics
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["val_accuracy"]
                .as_f64()
                .unwrap()
        })
        .fold(0.0, f64::max);
    eprintln!("mnist cnn: best validation accuracy {best:.4}");
    assert!(best >= 0.97, "CNN validation accuracy {best}");
    let weights = run_dir.join("checkpoint/last.safetensors");
    let config = write_config(
        dir.path(),
        &format!(
            "layers = [\"input\", \"conv1\", \"pool1\", \"conv2\", \"pool2\", \"fc1\", \"relu3\"]\n\
             batch_size = 500\nout = {:?}\n[model]\nenv = \"mnist\"\narch = \"cnn\"\nweights = {:?}\n\
             [dataset]\ndata = {:?}\nlimit = 3000\n",
            run_dir, weights, data
        ),
    );
    let o = run(
        "probe-extract",
        &["--config", config.to_str().unwrap(), "-q"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let features = run_dir.join("features");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(features.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["n"], 3000);
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 7);
    let mut files = Vec::new();
    for layer in manifest["layers"].as_array().unwrap() {
        let file = layer["file"].as_str().unwrap();
        let set = FeatureSet::open(file).unwrap();
        assert_eq!(set.n_samples(), 3000);
        assert_eq!(set.layer(), layer["layer"].as_str().unwrap());
        files.push(file.to_string());
    }
    assert!(files[0].ends_with("00_input.safetensors"));
    assert_eq!(
        FeatureSet::open(&files[1]).unwrap().original_shape(),
        &[32, 28, 28]
    );

    let out = dir.path().join("alpha.json");
    let mut args: Vec<&str> = vec![&files[0], &files[6]];
    args.extend(["--out", out.to_str().unwrap(), "-q"]);
    let o = run("probe-alpha", &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let input = r["layers"][0]["alpha"].as_f64().unwrap();
    let hidden = r["layers"][1]["alpha"].as_f64().unwrap();
    eprintln!("mnist cnn: alpha input {input:.3}, relu3 {hidden:.3}");
    assert!(
        hidden >= input + 0.1,
        "input {input} vs last hidden {hidden}"
    );

    // The reduction at the original tool's K = 2,500 on these real conv features.
    crate::fidelity::alpha_after_reduction_matches_an_exact_svd(Path::new(&files[2]), dir.path());

    // A rerun with nothing changed keeps every layer.
    let o = run(
        "probe-extract",
        &["--config", config.to_str().unwrap(), "-q"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to do"));
}

#[test]
fn random_weights_and_reduction_on_the_synthetic_task() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let config = write_config(
        dir.path(),
        &format!(
            "layers = [\"input\", \"fc1\"]\nout = {out:?}\n[model]\nenv = \"synthetic\"\n\
             weights = \"random\"\nseed = 3\n[dataset]\nlimit = 500\n[reduce]\nmethod = \"pca\"\ndim = 16\n"
        ),
    );
    let o = run(
        "probe-extract",
        &["--config", config.to_str().unwrap(), "-q"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let fc1 = FeatureSet::open(out.join("features/01_fc1.safetensors")).unwrap();
    assert_eq!((fc1.n_samples(), fc1.n_features()), (500, 128));
    assert_eq!(fc1.metadata()["weights_hash"], "random:3");
    let reduced = FeatureSet::open(out.join("features-reduced/01_fc1.safetensors")).unwrap();
    assert_eq!(reduced.n_features(), 16);
    assert_eq!(reduced.metadata()["reduction"], "pca:16");
    // --force rewrites; --weights overrides the config.
    let o = run(
        "probe-extract",
        &[
            "--config",
            config.to_str().unwrap(),
            "--force",
            "--weights",
            "random",
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!String::from_utf8_lossy(&o.stdout).contains("complete, kept"));
}

#[test]
fn bad_extractions_fail_before_work_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cfg = |body: &str| write_config(dir.path(), body);
    let base = format!("out = {out:?}\n[model]\nenv = \"synthetic\"\n");

    let c = cfg(&format!("{base}weights = \"random\"\nbatchsize = 3\n"));
    assert_clean_failure(
        &run("probe-extract", &["--config", c.to_str().unwrap()]),
        &["unknown field `batchsize`"],
    );

    let c = cfg(&format!(
        "layers = [\"relu9\"]\n{base}weights = \"random\"\n"
    ));
    assert_clean_failure(
        &run("probe-extract", &["--config", c.to_str().unwrap()]),
        &["relu9", "valid layers", "relu1"],
    );

    let missing = dir.path().join("nope.safetensors");
    let c = cfg(&format!("{base}weights = {missing:?}\n"));
    assert_clean_failure(
        &run("probe-extract", &["--config", c.to_str().unwrap()]),
        &["nope.safetensors"],
    );

    // Weights of another shape: an MLP for 784 inputs loaded as the synthetic 32-input MLP.
    let (_, varmap) = probe_models::Model::fresh(
        "mlp",
        &probe_models::ModelConfig::default(),
        &candle_core::Device::Cpu,
        Some(0),
    )
    .unwrap();
    let wrong = dir.path().join("wrong.safetensors");
    probe_models::save_safetensors(&varmap, &wrong, &Default::default()).unwrap();
    let c = cfg(&format!("{base}weights = {wrong:?}\n"));
    assert_clean_failure(
        &run("probe-extract", &["--config", c.to_str().unwrap()]),
        &["wrong.safetensors", "in the file but the model expects"],
    );

    let c = cfg(&format!("out = {out:?}\n[model]\nenv = \"mnist\"\nweights = \"random\"\n[dataset]\ndata = \"/no/such/mnist\"\n"));
    assert_clean_failure(
        &run("probe-extract", &["--config", c.to_str().unwrap()]),
        &["/no/such/mnist"],
    );

    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let c = cfg(&format!(
        "out = {:?}\n[model]\nenv = \"synthetic\"\nweights = \"random\"\n",
        blocker.join("sub")
    ));
    assert_clean_failure(
        &run("probe-extract", &["--config", c.to_str().unwrap()]),
        &["file/sub"],
    );
    assert!(
        !out.join("features").exists()
            || std::fs::read_dir(out.join("features")).unwrap().count() == 0
    );
}

#[test]
fn the_example_configs_parse() {
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs");
    for name in ["synthetic-extract.toml", "mnist-cnn.toml", "resnet18.toml"] {
        let config = probe_extract::ExtractConfig::from_toml(&configs.join(name));
        assert!(config.is_ok(), "configs/{name}: {}", config.err().unwrap());
    }
}

/// The ResNet-18 config, written for 50,000 images reduced to K = 2,500, also runs on a
/// 300-image subset: each wide layer is reduced to 300 components, and the tool says so.
#[test]
fn resnet18_config_on_a_subset_caps_the_reduction() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cifar");
    std::fs::create_dir_all(&data).unwrap();
    let mut state = 7u32;
    for (name, records) in [
        ("data_batch_1.bin", 80),
        ("data_batch_2.bin", 80),
        ("data_batch_3.bin", 80),
        ("data_batch_4.bin", 80),
        ("data_batch_5.bin", 80),
        ("test_batch.bin", 10),
    ] {
        let mut bytes = Vec::with_capacity(records * 3073);
        for i in 0..records {
            bytes.push((i % 10) as u8);
            bytes.extend((0..3072).map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            }));
        }
        std::fs::write(data.join(name), bytes).unwrap();
    }
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/resnet18.toml");
    let out = dir.path().join("out");
    let o = run(
        "probe-extract",
        &[
            "--config",
            config.to_str().unwrap(),
            "--limit",
            "300",
            "--weights",
            "random",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("reduction capped: 300 samples, so K = 300 instead of 2500"),
        "{text}"
    );
    let reduced =
        FeatureSet::open(out.join("features-reduced/01_layer1.0.conv1.safetensors")).unwrap();
    assert_eq!((reduced.n_samples(), reduced.n_features()), (300, 300));
    assert_eq!(reduced.metadata()["reduction"], "tsvd:300");
    assert_eq!(reduced.metadata()["reduction_requested"], "tsvd:2500");
}
