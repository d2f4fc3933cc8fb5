//! `probe run`: the quickstart end to end, reruns that do no work, and bad configs that fail
//! before any.

use std::path::Path;
use std::process::{Command, Output};

use crate::util::{assert_clean_failure, stderr};

fn probe_run(cwd: &Path, config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_probe"))
        .current_dir(cwd)
        .args(["run", config.to_str().unwrap(), "-q"])
        .output()
        .unwrap()
}

#[test]
fn quickstart_runs_and_alpha_rises_from_input_to_last_hidden_layer() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/quickstart.toml");
    let dir = tempfile::tempdir().unwrap();
    // A copy, so that touching it below leaves the repository alone.
    let config = dir.path().join("quickstart.toml");
    std::fs::copy(&shipped, &config).unwrap();
    let o = probe_run(dir.path(), &config);
    assert!(o.status.success(), "{}", stderr(&o));
    let results = dir.path().join("runs/quickstart/results.json");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    let layers = r["layers"].as_array().unwrap();
    let names: Vec<&str> = layers
        .iter()
        .map(|l| l["layer"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["input", "relu1", "relu2"]);
    let (input, last) = (
        layers[0]["alpha"].as_f64().unwrap(),
        layers[2]["alpha"].as_f64().unwrap(),
    );
    assert!(last > input + 0.1, "input {input}, relu2 {last}");
    // The input is never flagged; relu2 rises far above relu1's band.
    assert!(layers[0]["flag"].is_null() && layers[2]["flag"].is_null());
    // The quickstart asks for clustering and a UMAP panel: k-means agrees with the classes
    // better on the last hidden layer than on the raw input.
    let ari = |i: usize| layers[i]["clustering"]["ari"].as_f64().unwrap();
    assert!(ari(2) > ari(0), "ARI input {}, relu2 {}", ari(0), ari(2));
    // Five repeated forests per layer, drawn as intervals on the alpha plot.
    for l in layers {
        assert_eq!(l["alphas_by_repeat"].as_array().unwrap().len(), 5, "{l}");
        let ci = crate::util::numbers(&l["alpha_ci"]);
        assert!(
            ci[0] <= l["alpha"].as_f64().unwrap() && ci[1] - ci[0] < 0.05,
            "{ci:?}"
        );
    }
    let embeddings = r["embeddings"].as_array().unwrap();
    assert_eq!(embeddings.len(), 3);
    assert_eq!(embeddings[0]["points"].as_array().unwrap().len(), 2500);
    assert!(
        r["accuracy"]["val"].as_f64().unwrap() > 0.9,
        "{}",
        r["accuracy"]
    );
    let run = dir.path().join("runs/quickstart");
    for figure in ["alpha", "angle", "clustering", "accuracy", "embedding"] {
        for ext in ["png", "svg"] {
            let f = run.join(format!("{figure}.{ext}"));
            assert!(
                f.metadata().is_ok_and(|m| m.len() > 1000),
                "{}",
                f.display()
            );
        }
    }
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert_eq!(page.matches("data:image/png;base64,").count(), 5);
    let svg = std::fs::read_to_string(run.join("alpha.svg")).unwrap();
    assert!(svg.contains("95% interval (repeated forests)"));

    // Nothing changed: no stage does work.
    let o = probe_run(dir.path(), &config);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("train:") && text.contains("skipped"),
        "{text}"
    );
    assert!(text.contains("3 kept as they were"), "{text}");
    assert!(
        text.contains("alpha:") && text.contains("report:"),
        "{text}"
    );
    assert_eq!(text.matches("nothing to do").count(), 2, "{text}");

    // Touching the config reruns what depends on it (alpha, then the report), not training
    // or extraction.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    std::fs::File::options()
        .append(true)
        .open(&config)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let o = probe_run(dir.path(), &config);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("skipped") && text.contains("3 kept as they were"),
        "{text}"
    );
    assert!(!text.contains("nothing to do"), "{text}");
    assert!(
        text.contains("results: ") && text.contains("report.html"),
        "{text}"
    );

    // Two runs compared in one report; several runs need --out.
    let other = dir.path().join("runs/other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::copy(run.join("results.json"), other.join("results.json")).unwrap();
    let compare = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_probe"))
            .current_dir(dir.path())
            .args(["report", "runs/quickstart", "runs/other", "-q"])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = compare(&["--out", "compare"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(dir.path().join("compare/report.html")).unwrap();
    assert!(page.contains("quickstart") && page.contains("other"));
    assert_clean_failure(&compare(&[]), &["--out"]);

    // The untrained baseline in the same folder: training is kept, the layers are extracted
    // from random weights, and the trained checkpoint's accuracy is not claimed for them.
    let text = std::fs::read_to_string(&config).unwrap();
    let random = text.replace("# weights = \"random\"", "weights = \"random\"");
    assert_ne!(
        random, text,
        "the quickstart config names the random baseline"
    );
    std::fs::write(&config, random).unwrap();
    let o = probe_run(dir.path(), &config);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&results).unwrap()).unwrap();
    assert!(r["accuracy"].is_null(), "{}", r["accuracy"]);
    let untrained = r["layers"][2]["alpha"].as_f64().unwrap();
    assert!(
        untrained < last - 0.1,
        "random relu2 {untrained}, trained {last}"
    );
    let page = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(!page.contains("Accuracy"), "the report claims an accuracy");
}

#[test]
fn bad_run_configs_fail_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let write = |body: &str| {
        let p = dir.path().join("run.toml");
        std::fs::write(&p, body).unwrap();
        p
    };
    let c = write("name = \"x\"\n[model]\nenv = \"synthetic\"\nweights = \"random\"\n[probe]\ntrees = 3\nleaves = 4\n");
    assert_clean_failure(
        &probe_run(dir.path(), &c),
        &["run.toml", "line 7", "unknown field `leaves`"],
    );
    let c = write("name = \"x\"\n[model]\nenv = \"synthetic\"\n");
    assert_clean_failure(&probe_run(dir.path(), &c), &["model.weights"]);
    let c = write(
        "name = \"x\"\nlayers = [\"relu7\"]\n[model]\nenv = \"synthetic\"\nweights = \"random\"\n",
    );
    assert_clean_failure(&probe_run(dir.path(), &c), &["relu7", "valid layers"]);
    let c = write("name = \"x\"\n[model]\nenv = \"synthetic\"\nweights = \"random\"\n[reduce]\nmethod = \"svd\"\ndim = 4\n");
    assert_clean_failure(&probe_run(dir.path(), &c), &["svd", "use tsvd or pca"]);
    assert!(!dir.path().join("runs/x/results.json").exists());
}

#[test]
fn an_unknown_layer_fails_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("run.toml");
    std::fs::write(
        &c,
        "name = \"x\"\nlayers = [\"relu9\"]\n[model]\nenv = \"synthetic\"\n[train]\nepochs = 50\n",
    )
    .unwrap();
    assert_clean_failure(&probe_run(dir.path(), &c), &["relu9", "valid layers"]);
    assert!(
        !dir.path().join("runs/x/checkpoint").exists(),
        "training started"
    );
}

#[test]
fn report_of_a_folder_without_results_says_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["report", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_clean_failure(&o, &["results.json", "probe run"]);
    std::fs::write(dir.path().join("results.json"), "{\"layers\": 3}").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["report", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_clean_failure(&o, &["results.json"]);
    assert!(!dir.path().join("report.html").exists());
}

#[test]
fn a_changed_training_setting_retrains_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("run.toml");
    let write = |lr: &str| {
        std::fs::write(
            &config,
            format!(
                "name = \"lr\"\nlayers = [\"input\", \"relu2\"]\n[model]\nenv = \"synthetic\"\n\
                 [train]\nepochs = 2\nlr = {lr}\n[dataset]\nlimit = 1000\n[probe]\ntrees = 2\n\
                 depth = 8\n"
            ),
        )
        .unwrap()
    };
    write("1e-3");
    let o = probe_run(dir.path(), &config);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = probe_run(dir.path(), &config);
    assert!(String::from_utf8_lossy(&o.stdout).contains("skipped"));
    write("1e-2");
    let o = probe_run(dir.path(), &config);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("[train] lr (0.001 → 0.01) changed") && text.contains("from scratch"),
        "{text}"
    );
    assert!(!text.contains("skipped"), "{text}");
}

/// The binaries start on machines without fontconfig or FreeType (GPU servers, slim
/// containers): the figures use a built-in font.
#[cfg(target_os = "linux")]
#[test]
fn the_probe_binary_needs_no_font_libraries() {
    let Ok(o) = Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_probe"))
        .output()
    else {
        eprintln!("skipped: no ldd on this machine to list the binary's libraries");
        return;
    };
    let libs = String::from_utf8_lossy(&o.stdout);
    assert!(
        !libs.contains("fontconfig") && !libs.contains("freetype"),
        "{libs}"
    );
}

#[test]
fn a_run_that_probes_other_weights_does_not_train_for_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("random.toml");
    std::fs::write(
        &config,
        "name = \"random\"\n[model]\nenv = \"synthetic\"\nweights = \"random\"\n\
         [train]\nepochs = 2\n[dataset]\nlimit = 400\n[probe]\ntrees = 2\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_probe"))
        .current_dir(dir.path())
        .args(["run", config.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("train: skipped"), "{said}");
    assert!(!dir.path().join("runs/random/checkpoint").exists());
    assert!(dir.path().join("runs/random/results.json").is_file());
}
