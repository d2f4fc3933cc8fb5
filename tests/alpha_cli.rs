//! `probe-alpha` end to end: the paper's effect, determinism across thread counts, globs, the
//! results file, and one failing file among good ones.

use serde_json::Value;

use crate::util::{blobs, run, stderr, write_set};

fn results(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Shuffles the labels of a deterministic 40% of the rows among themselves.
fn shuffle_share(labels: &[i64], share: f64) -> Vec<i64> {
    let n = labels.len();
    let picked: Vec<usize> = (0..n)
        .filter(|i| (i * 7919) % 100 < (share * 100.0) as usize)
        .collect();
    let mut out = labels.to_vec();
    let mut state = 12345u64;
    let mut order = picked.clone();
    for k in (1..order.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        order.swap(k, (state >> 33) as usize % (k + 1));
    }
    for (&to, &from) in picked.iter().zip(&order) {
        out[to] = labels[from];
    }
    out
}

#[test]
fn separated_classes_score_clearly_higher_than_forty_percent_shuffled_labels() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = blobs(5, 400, 20, 3.0);
    let noisy = shuffle_share(&y, 0.4);
    let changed = y.iter().zip(&noisy).filter(|(a, b)| a != b).count();
    assert!(changed > 500, "the shuffle changed only {changed} labels");
    let clean_file = dir.path().join("clean.safetensors");
    let noisy_file = dir.path().join("noisy.safetensors");
    write_set(&clean_file, &x, &[2000, 20], &y, "clean");
    write_set(&noisy_file, &x, &[2000, 20], &noisy, "noisy");
    let out = dir.path().join("results.json");
    let o = run(
        "probe-alpha",
        &[
            clean_file.to_str().unwrap(),
            noisy_file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = results(&out);
    let clean = r["layers"][0]["alpha"].as_f64().unwrap();
    let noisy = r["layers"][1]["alpha"].as_f64().unwrap();
    eprintln!("alpha clean {clean:.4}, 40% shuffled {noisy:.4}");
    assert!(clean > noisy + 0.1, "clean {clean} vs noisy {noisy}");
}

#[test]
fn same_seed_same_alphas_with_one_or_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    // Large enough for the trees' top nodes to grow their subtrees in parallel.
    let (x, y) = blobs(10, 900, 16, 1.0);
    let file = dir.path().join("blobs.safetensors");
    write_set(&file, &x, &[9000, 16], &y, "blobs");
    for splitter in ["binned", "exact"] {
        let outputs: Vec<Value> = ["1", "2"]
            .iter()
            .map(|threads| {
                let out = dir.path().join(format!("{splitter}-{threads}.json"));
                let o = run(
                    "probe-alpha",
                    &[
                        file.to_str().unwrap(),
                        "--threads",
                        threads,
                        "--splitter",
                        splitter,
                        "--seed",
                        "7",
                        "--out",
                        out.to_str().unwrap(),
                        "-q",
                    ],
                );
                assert!(o.status.success(), "{}", stderr(&o));
                results(&out)
            })
            .collect();
        let (a, b) = (&outputs[0]["layers"][0], &outputs[1]["layers"][0]);
        assert_eq!(outputs[0]["settings"]["threads"], 1);
        assert_eq!(outputs[1]["settings"]["threads"], 2);
        for field in [
            "alpha",
            "alphas",
            "critical_taus",
            "n_wavelets",
            "angle_curve",
        ] {
            assert_eq!(
                a[field], b[field],
                "{splitter}: {field} differs between 1 and 2 threads"
            );
        }
    }
}

#[test]
fn expands_globs_and_writes_the_documented_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = blobs(3, 100, 8, 2.0);
    for name in ["00_input", "01_hidden"] {
        write_set(
            &dir.path().join(format!("{name}.safetensors")),
            &x,
            &[300, 2, 4],
            &y,
            name,
        );
    }
    let pattern = dir.path().join("*.safetensors");
    let out = dir.path().join("results.json");
    let o = run(
        "probe-alpha",
        &[
            pattern.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
            "--trees",
            "3",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("00_input") && table.contains("01_hidden"),
        "{table}"
    );
    let r = results(&out);
    assert_eq!(r["tool"], "probe-alpha");
    assert!(r["version"].is_string());
    assert_eq!(r["settings"]["trees"], 3);
    assert_eq!(r["failures"].as_array().unwrap().len(), 0);
    let layer = &r["layers"][1];
    for field in [
        "file",
        "layer",
        "layer_index",
        "n",
        "d",
        "classes",
        "alpha",
        "alphas",
        "critical_taus",
        "band",
        "n_wavelets",
        "trees",
        "depth",
        "epsilon",
        "norm",
        "seed",
        "seconds",
        "flag",
    ] {
        assert!(
            layer.get(field).is_some(),
            "record lacks `{field}`: {layer}"
        );
    }
    assert_eq!(layer["layer"], "01_hidden");
    assert_eq!(
        (layer["n"].as_u64(), layer["d"].as_u64()),
        (Some(300), Some(8))
    );
    assert_eq!(layer["classes"], 3);
    assert_eq!(layer["alphas"].as_array().unwrap().len(), 10);
    let alpha = layer["alpha"].as_f64().unwrap();
    let band = &layer["band"];
    assert!(band[0].as_f64().unwrap() <= alpha && alpha <= band[1].as_f64().unwrap());
}

#[test]
fn a_failing_file_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = blobs(3, 100, 8, 2.0);
    let good = dir.path().join("good.safetensors");
    write_set(&good, &x, &[300, 8], &y, "good");
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a safetensors file").unwrap();
    let out = dir.path().join("results.json");
    let o = run(
        "probe-alpha",
        &[
            bad.to_str().unwrap(),
            good.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "-q",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let r = results(&out);
    assert_eq!(r["layers"].as_array().unwrap().len(), 1);
    assert_eq!(r["layers"][0]["layer"], "good");
    let failures = r["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert!(failures[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("bad.safetensors"));
    // Only the two inputs and the complete results file: no temporary leftovers.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

#[test]
fn probe_subcommands_are_the_standalone_tools() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = blobs(3, 100, 8, 2.0);
    let file = dir.path().join("layer.safetensors");
    write_set(&file, &x, &[300, 8], &y, "layer");
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let o = run(
        "probe",
        &[
            "alpha",
            file.to_str().unwrap(),
            "--out",
            a.to_str().unwrap(),
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(
        "probe-alpha",
        &[file.to_str().unwrap(), "--out", b.to_str().unwrap(), "-q"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        results(&a)["layers"][0]["alpha"],
        results(&b)["layers"][0]["alpha"]
    );
    for stage in ["train", "extract", "reduce", "alpha"] {
        let o = run("probe", &[stage, "--help"]);
        assert!(o.status.success(), "probe {stage} --help: {}", stderr(&o));
    }
    let o = run("probe", &["fly"]);
    assert!(!o.status.success());
}
