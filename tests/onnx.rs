//! ONNX models in `probe-extract` and `probe run` (a build with the `onnx` feature), the one
//! line a build without it gives, and what every model takes: `--list-layers`, mean/std.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{assert_clean_failure, shared, stderr};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../probe-models/tests/fixtures/onnx/cnn.onnx")
}

fn run_config(dir: &Path, mnist: &Path, layers: &str) -> PathBuf {
    let config = dir.join("onnx.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"onnx\"\nlayers = [{layers}]\n[model]\nenv = \"mnist\"\nonnx = {:?}\n\
             [dataset]\ndata = {:?}\nlimit = 600\n[probe]\ntrees = 3\n",
            fixture().display().to_string(),
            mnist.display().to_string()
        ),
    )
    .unwrap();
    config
}

#[cfg(feature = "onnx")]
#[test]
fn an_onnx_model_is_probed_at_any_value_of_its_graph() {
    let Some(mnist) = shared("data/mnist-10k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let layers = "\"input\", \"/Relu_output_0\", \"/pool/MaxPool_output_0\", \
                  \"/gap/GlobalAveragePool_output_0\"";
    let config = run_config(dir.path(), &mnist, layers);
    let probe = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_probe"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = probe(&["run", config.to_str().unwrap(), "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.path().join("runs/onnx/results.json")).unwrap();
    let r: serde_json::Value = serde_json::from_str(&text).unwrap();
    let widths: Vec<(String, u64)> = r["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["layer"].as_str().unwrap().into(),
                l["d"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        widths,
        [
            ("input".to_string(), 784),
            ("/Relu_output_0".into(), 8 * 28 * 28),
            ("/pool/MaxPool_output_0".into(), 8 * 14 * 14),
            ("/gap/GlobalAveragePool_output_0".into(), 16),
        ]
    );
    assert!(dir.path().join("runs/onnx/report.html").is_file());
    assert!(dir
        .path()
        .join("runs/onnx/features/03_gap_GlobalAveragePool_output_0.safetensors")
        .is_file());

    // Every value with its shape, for one sample.
    let extract = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_probe-extract"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let extract_config = dir.path().join("extract.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace("name = \"onnx\"", "out = \"x\"")
        .replace("[probe]\ntrees = 3\n", "");
    std::fs::write(&extract_config, text).unwrap();
    let listed = extract(&[
        "--config",
        extract_config.to_str().unwrap(),
        "--list-layers",
    ]);
    assert!(listed.status.success(), "{}", stderr(&listed));
    let listed = String::from_utf8_lossy(&listed.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 14, "{listed}");
    assert!(lines[0].starts_with("input") && lines[0].ends_with("[1, 28, 28]"));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("/pool/MaxPool_output_0") && l.ends_with("[8, 14, 14]")));
    assert!(lines[13].starts_with("logits") && lines[13].ends_with("[10]"));

    // A name not in the graph: one line with the closest names, before any work.
    let bad = run_config(dir.path(), &mnist, "\"/pool/MaxPool\"");
    let out = probe(&["run", bad.to_str().unwrap(), "-q"]);
    assert_clean_failure(
        &out,
        &["no value `/pool/MaxPool`", "`/pool/MaxPool_output_0`"],
    );
}

#[cfg(not(feature = "onnx"))]
#[test]
fn without_the_onnx_feature_an_onnx_model_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = run_config(dir.path(), Path::new("unused"), "\"input\"");
    let out = Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["run", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert_clean_failure(&out, &["`onnx` feature"]);
}

#[test]
fn built_in_models_list_their_layers_and_take_another_normalisation() {
    let Some(mnist) = shared("data/mnist-10k") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = |name: &str, extra: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "layers = [\"input\"]\nout = {:?}\n[model]\nenv = \"mnist\"\narch = \"cnn\"\n\
                 weights = \"random\"\n{extra}[dataset]\ndata = {:?}\nlimit = 50\n",
                dir.path().join(name).display().to_string(),
                mnist.display().to_string()
            ),
        )
        .unwrap();
        path
    };
    let extract = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_probe-extract"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let standard = config("standard", "");
    let listed = extract(&["--config", standard.to_str().unwrap(), "--list-layers"]);
    let first: Vec<&str> = listed.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(first, ["input", "[1,", "28,", "28]"], "{listed}");
    assert!(listed.lines().count() > 3, "{listed}");
    assert!(
        !dir.path().join("standard").exists(),
        "--list-layers writes nothing"
    );

    // mean/std replace the environment's MNIST statistics (0.1307, 0.3081 of pixels / 255).
    let custom = config("custom", "mean = [0.5]\nstd = [0.25]\n");
    extract(&["--config", standard.to_str().unwrap(), "-q"]);
    extract(&["--config", custom.to_str().unwrap(), "-q"]);
    let read = |name: &str| {
        let set = probe_data::FeatureSet::open(
            dir.path().join(name).join("features/00_input.safetensors"),
        )
        .unwrap();
        let mut values = vec![0.0; set.n_samples() * set.n_features()];
        set.read_rows_f64(0, &mut values);
        values
    };
    let (a, b) = (read("standard"), read("custom"));
    assert_eq!(a.len(), 50 * 784);
    for (x, y) in a.iter().zip(&b) {
        let pixel = x * 0.3081 + 0.1307;
        assert!((y - (pixel - 0.5) / 0.25).abs() < 1e-4, "{x} -> {y}");
    }
}
