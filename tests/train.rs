//! Training on real MNIST digits (the accuracy targets) and the training CLI end to end.

use std::path::Path;
use std::process::Output;
use std::sync::atomic::AtomicBool;

use candle_core::Device;
use probe_datasets::Env;
use probe_models::{Model, ModelConfig};
use probe_train::{train_run, Quiet, RunSpec, TrainParams};

use crate::util::{assert_clean_failure, metric_epochs, run, shared, stderr};

/// Trains `arch` on mnist-10k (8,000 train / 2,000 validation) and returns the best
/// validation accuracy over the epochs.
fn best_mnist_accuracy(arch: &str, epochs: usize) -> Option<f64> {
    let folder = shared("data/mnist-10k")?;
    let env = Env::builtin("mnist").unwrap();
    let data = env.load(Some(&folder), 0.2, 0).unwrap();
    assert_eq!((data.train.len(), data.val.len()), (8000, 2000));
    let dir = tempfile::tempdir().unwrap();
    // The defaults: batch 32, Adam 1e-3, PyTorch's initialisation.
    let params = TrainParams {
        epochs,
        seed: 0,
        ..TrainParams::default()
    };
    let config = ModelConfig::for_env(&env, arch, 10).unwrap();
    let spec = RunSpec::new("mnist", arch, config, params, dir.path());
    let (model, varmap) = Model::fresh(arch, &spec.model_config, &Device::Cpu, Some(0)).unwrap();
    let summary = train_run(
        &spec,
        model,
        varmap,
        &data.train,
        &data.val,
        None,
        &Device::Cpu,
        &mut Quiet,
        &AtomicBool::new(false),
    )
    .unwrap();
    let best = summary
        .reports
        .iter()
        .map(|r| r.val_accuracy)
        .fold(0.0, f64::max);
    eprintln!("mnist {arch}: best validation accuracy {best:.4} in {epochs} epochs");
    Some(best)
}

#[test]
fn mnist_mlp_reaches_95_percent() {
    if let Some(best) = best_mnist_accuracy("mlp", 8) {
        assert!(best >= 0.95, "MLP validation accuracy {best}");
    }
}

/// Runs `probe-train` quietly on the synthetic environment for `epochs` epochs into `out`.
fn train_synthetic(out: &Path, epochs: &str, extra: &[&str]) -> Output {
    let out = out.to_str().unwrap();
    let mut args = vec!["--env", "synthetic", "--epochs", epochs, "--out", out, "-q"];
    args.extend_from_slice(extra);
    run("probe-train", &args)
}

#[test]
fn probe_train_cli_trains_checkpoints_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = train_synthetic(&out, "2", &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("epoch   2"), "{table}");
    let last = out.join("checkpoint/last.safetensors");
    let o = train_synthetic(&out, "3", &["--resume", last.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(metric_epochs(&out.join("metrics.jsonl")), [1, 2, 3]);
}

#[test]
fn probe_train_rejects_bad_input_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let o = run(
        "probe-train",
        &["--env", "mnist", "--data", missing.to_str().unwrap()],
    );
    assert_clean_failure(&o, &["no-such-folder"]);
    let o = run("probe-train", &["--label-noise", "1.5"]);
    assert_clean_failure(&o, &["--label-noise", "[0, 1]"]);
    let o = run("probe-train", &["--env", "imagenet"]);
    assert_clean_failure(&o, &["imagenet", "synthetic, mnist, cifar10"]);
    let o = run("probe-train", &["--model", "vgg"]);
    assert_clean_failure(&o, &["vgg", "mlp, cnn, resnet18"]);
    // A file with the wrong IDX magic.
    let bad = dir.path().join("mnist");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(
        bad.join("train-images-idx3-ubyte"),
        [0u8, 0, 8, 1, 0, 0, 0, 0],
    )
    .unwrap();
    std::fs::write(
        bad.join("train-labels-idx1-ubyte"),
        [0u8, 0, 8, 1, 0, 0, 0, 0],
    )
    .unwrap();
    let o = run(
        "probe-train",
        &["--env", "mnist", "--data", bad.to_str().unwrap()],
    );
    assert_clean_failure(&o, &["magic"]);
    // Offline with no local folder: the message names the option to use. An empty cache,
    // so that a machine which already holds the dataset still takes this path.
    let empty_cache = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_probe-train"))
        .args(["--env", "mnist"])
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HOME", empty_cache.path())
        .output()
        .unwrap();
    assert_clean_failure(&o, &["--data"]);
}

#[test]
fn probe_train_probes_layers_during_training() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let probe = ["--probe-every", "1", "--probe-layers", "input,relu2"];
    let o = train_synthetic(
        &out,
        "2",
        &[&probe[..], &["--probe-samples", "500"]].concat(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("probe epoch 2: input "), "{table}");
    let log = std::fs::read_to_string(out.join("probes.jsonl")).unwrap();
    let probes: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(probes.len(), 2, "{log}");
    let mut input_alphas = Vec::new();
    for (i, probe) in probes.iter().enumerate() {
        assert_eq!(probe["epoch"].as_u64(), Some(i as u64 + 1));
        assert!(probe["val_accuracy"].as_f64().is_some(), "{probe}");
        let layers = probe["layers"].as_array().unwrap();
        let names: Vec<&str> = layers
            .iter()
            .map(|l| l["layer"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["input", "relu2"]);
        for layer in layers {
            let alpha = layer["alpha"].as_f64().unwrap();
            assert!(alpha.is_finite() && alpha > 0.0 && alpha < 2.0, "{layer}");
            assert_eq!(layer["n"].as_u64(), Some(500));
        }
        input_alphas.push(layers[0]["alpha"].as_f64().unwrap());
    }
    // The input does not train: the same samples give the same alpha every epoch.
    assert_eq!(input_alphas[0], input_alphas[1]);

    // The training folder alone makes a report: alpha per epoch, its last probe as the table.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["report", out.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for figure in ["epochs.png", "epochs.svg", "alpha.png", "report.html"] {
        assert!(out.join(figure).exists(), "{figure}");
    }
}

#[test]
fn probe_train_checks_probe_flags_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = train_synthetic(
        &out,
        "1",
        &["--probe-every", "1", "--probe-layers", "input,fc9"],
    );
    assert_clean_failure(&o, &["fc9", "valid layers: input", "relu2"]);
    let o = train_synthetic(&out, "1", &["--probe-every", "0"]);
    assert_clean_failure(&o, &["--probe-every 0"]);
    let o = train_synthetic(&out, "1", &["--probe-layers", "input"]);
    assert_clean_failure(&o, &["--probe-every"]);
    assert!(!out.join("checkpoint").exists(), "trained before failing");
}

/// The rows of `layer` for every sample of `data`, from the model in eval mode.
fn layer_features(model: &Model, data: &probe_datasets::Dataset, layer: &str) -> (Vec<f32>, usize) {
    use probe_models::Tapped;
    let rows: Vec<usize> = (0..data.len()).collect();
    let mut out = Vec::new();
    let mut width = 0;
    for chunk in rows.chunks(500) {
        let (x, _) = probe_models::batch(data, chunk, &Device::Cpu).unwrap();
        let (_, taps) = model.forward_with_taps(&x, &[layer], false).unwrap();
        let t = taps[0].1.flatten_from(1).unwrap();
        width = t.dims()[1];
        out.extend(t.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    }
    (out, width)
}

#[test]
fn synthetic_alpha_rises_from_the_input_to_the_trained_last_hidden_layer() {
    let env = Env::builtin("synthetic").unwrap();
    let data = env.load(None, 0.2, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let params = TrainParams {
        epochs: 15,
        seed: 1,
        ..TrainParams::default()
    };
    let config = ModelConfig::for_env(&env, &env.model, 5).unwrap();
    let spec = RunSpec::new(&env.name, &env.model, config, params, dir.path());
    let (model, varmap) = Model::fresh("mlp", &spec.model_config, &Device::Cpu, Some(1)).unwrap();
    train_run(
        &spec,
        model.clone(),
        varmap,
        &data.train,
        &data.val,
        None,
        &Device::Cpu,
        &mut Quiet,
        &AtomicBool::new(false),
    )
    .unwrap();
    let labels: Vec<i64> = data.train.labels.iter().map(|&l| i64::from(l)).collect();
    let probe = probe_alpha::Probe::new(
        probe_forest::ForestParams::default(),
        probe_alpha::AlphaParams::default(),
        probe_forest::WaveletNorm::Samples,
    )
    .unwrap();
    let alpha = |layer: &str| {
        let (x, d) = layer_features(&model, &data.train, layer);
        let set =
            probe_data::FeatureSet::from_f32(x, &[labels.len(), d], &labels, Default::default())
                .unwrap();
        probe.run(&set, &|| {}).unwrap().alpha
    };
    let (input, hidden) = (alpha("input"), alpha("relu2"));
    eprintln!("synthetic: alpha input {input:.3}, trained relu2 {hidden:.3}");
    assert!(
        hidden > input + 0.1,
        "input {input} vs last hidden {hidden}"
    );
}
