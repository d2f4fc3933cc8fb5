//! Sweeps over checkpoints and sharded runs: every stage split into 1, 2 and 5 shards run as
//! separate processes in any order, merged, gives the unsharded run's results bit for bit.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use crate::util::{assert_clean_failure, stderr};

/// Three checkpoints (the epochs its own training saves) × three layers, small and quick.
const SWEEP: &str = r#"
name = "sweep"
layers = ["input", "relu1", "relu2"]
batch_size = 1000

[model]
env = "synthetic"
checkpoints = "runs/sweep/checkpoint/epoch-*.safetensors"

[train]
epochs = 3
save_every = 1
seed = 0

[dataset]
limit = 1500

[probe]
trees = 4
depth = 12
repeats = 2

[cluster]
shards = 4
cpus = 2
mem = "2G"
gpus = 1
"#;

fn probe(cwd: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_probe"));
    c.current_dir(cwd).args(args);
    c
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

/// Runs every shard of `stage` at once, started in reverse order, and waits for all.
fn stage_in_shards(cwd: &Path, stage: &str, shards: usize) {
    let children: Vec<Child> = (0..shards)
        .rev()
        .map(|i| {
            let shard = format!("{i}/{shards}");
            probe(
                cwd,
                &[
                    "run",
                    "sweep.toml",
                    "--stage",
                    stage,
                    "--shard",
                    &shard,
                    "-q",
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        ok(child.wait_with_output().unwrap());
    }
}

fn results(cwd: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(cwd.join("runs/sweep/results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Per checkpoint, per layer: the name, alpha's bits, every repeat's bits and the flag.
fn alphas(r: &serde_json::Value) -> Vec<(String, String, u64, Vec<u64>, String)> {
    let bits = |v: &serde_json::Value| v.as_f64().unwrap().to_bits();
    let mut out = Vec::new();
    for c in r["checkpoints"].as_array().unwrap() {
        for l in c["layers"].as_array().unwrap() {
            out.push((
                c["checkpoint"].as_str().unwrap().to_string(),
                l["layer"].as_str().unwrap().to_string(),
                bits(&l["alpha"]),
                l["alphas_by_repeat"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(bits)
                    .collect(),
                l["flag"].to_string(),
            ));
        }
    }
    out
}

#[test]
fn a_sharded_sweep_merges_to_the_unsharded_results_bit_for_bit() {
    let whole = tempfile::tempdir().unwrap();
    std::fs::write(whole.path().join("sweep.toml"), SWEEP).unwrap();
    ok(probe(whole.path(), &["run", "sweep.toml", "-q"])
        .output()
        .unwrap());
    let expected = results(whole.path());
    let names: Vec<&str> = expected["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["checkpoint"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["epoch-001", "epoch-002", "epoch-003"]);
    assert_eq!(expected["checkpoints"][2]["epoch"], 3);
    assert!(expected["checkpoints"][0]["accuracy"]["val"].is_number());
    let alpha = alphas(&expected);
    assert_eq!(alpha.len(), 9);
    // Training organises the last hidden layer: its alpha rises from the first checkpoint.
    let relu2 = |c: usize| f64::from_bits(alpha[3 * c + 2].2);
    assert!(relu2(2) > relu2(0), "{} -> {}", relu2(0), relu2(2));
    // Each checkpoint's folder has its own results.json; the run's has the last one's layers.
    let last: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(whole.path().join("runs/sweep/ckpt-epoch-003/results.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(last["layers"], expected["layers"]);
    assert!(whole.path().join("runs/sweep/report.html").is_file());

    for shards in [1, 2, 5] {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path();
        std::fs::write(cwd.join("sweep.toml"), SWEEP).unwrap();
        if shards == 2 {
            // A stage whose inputs are not there yet refuses, naming the first missing one.
            let early = probe(cwd, &["run", "sweep.toml", "--stage", "alpha"])
                .output()
                .unwrap();
            assert_clean_failure(
                &early,
                &[
                    "alpha/epoch-001/input",
                    "ckpt-epoch-001/features/manifest.json",
                    "extract stage",
                ],
            );
            let early = probe(cwd, &["run", "sweep.toml", "--stage", "extract"])
                .output()
                .unwrap();
            assert_clean_failure(&early, &["epoch-001.safetensors", "train stage"]);
        }
        for stage in ["train", "extract"] {
            stage_in_shards(cwd, stage, shards);
        }
        if shards == 5 {
            // Merging before every alpha unit has run writes nothing and says what is left.
            ok(probe(
                cwd,
                &["run", "sweep.toml", "--stage", "alpha", "--shard", "3/5"],
            )
            .output()
            .unwrap());
            let early = probe(cwd, &["merge", "runs/sweep"]).output().unwrap();
            assert_clean_failure(&early, &["7 of 9 alpha units", "alpha/epoch-001/input"]);
            assert!(!cwd.join("runs/sweep/results.json").exists());
        }
        stage_in_shards(cwd, "alpha", shards);
        ok(probe(cwd, &["merge", "runs/sweep", "-q"]).output().unwrap());
        let merged = results(cwd);
        assert_eq!(alphas(&merged), alpha, "{shards} shards");
        assert!(cwd.join("runs/sweep/report.html").is_file());
        // A complete shard run again does nothing.
        let again = ok(probe(
            cwd,
            &["run", "sweep.toml", "--stage", "alpha", "--shard", "0/2"],
        )
        .output()
        .unwrap());
        let said = String::from_utf8_lossy(&again.stdout);
        assert!(said.contains("0 unit(s) run"), "{said}");
    }
}

#[test]
fn plan_lists_units_and_writes_slurm_and_kubernetes_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("sweep.toml"), SWEEP).unwrap();
    let out = ok(probe(cwd, &["plan", "sweep.toml", "--slurm", "--k8s"])
        .output()
        .unwrap());
    let units: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = units.iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1 + 3 + 9);
    assert_eq!(
        ids[..3],
        ["train", "extract/epoch-001", "extract/epoch-002"]
    );
    assert_eq!(ids[12], "alpha/epoch-003/relu2");
    assert_eq!(
        units[12]["outputs"][0],
        "runs/sweep/ckpt-epoch-003/parts/02_relu2.json"
    );

    let jobs = cwd.join("runs/sweep/jobs");
    let read = |name: &str| std::fs::read_to_string(jobs.join(name)).unwrap();
    // One task per unit up to [cluster] shards = 4; GPUs for extraction only.
    let train = read("1-train.sbatch");
    assert!(
        train.contains("#SBATCH --array=0-0") && !train.contains("gres"),
        "{train}"
    );
    let extract = read("2-extract.sbatch");
    assert!(extract.contains("#SBATCH --array=0-2"), "{extract}");
    assert!(extract.contains("#SBATCH --gres=gpu:1"), "{extract}");
    assert!(extract.contains("--stage extract --shard \"$SLURM_ARRAY_TASK_ID/3\""));
    let alpha = read("3-alpha.sbatch");
    assert!(
        alpha.contains("#SBATCH --array=0-3") && alpha.contains("/4\""),
        "{alpha}"
    );
    assert!(
        alpha.contains("#SBATCH --mem=2G") && !alpha.contains("gres"),
        "{alpha}"
    );
    assert!(read("4-merge.sbatch").contains(" merge "));
    let submit = read("submit.sh");
    let order: Vec<&str> = submit
        .lines()
        .filter_map(|l| l.strip_prefix("submit "))
        .collect();
    assert_eq!(
        order,
        [
            "1-train.sbatch",
            "2-extract.sbatch",
            "3-alpha.sbatch",
            "4-merge.sbatch"
        ]
    );
    assert!(submit.contains("--dependency=afterok:"));
    let k8s = read("k8s/3-alpha.yaml");
    for needle in [
        "kind: Job",
        "completionMode: Indexed",
        "completions: 4",
        "$JOB_COMPLETION_INDEX/4",
        "claimName: \"probe-work\"",
    ] {
        assert!(k8s.contains(needle), "{needle} missing from {k8s}");
    }
    assert!(read("k8s/2-extract.yaml").contains("nvidia.com/gpu: 1"));
    let apply = read("k8s/apply.sh");
    assert!(
        apply.find("1-train.yaml") < apply.find("4-merge.yaml"),
        "{apply}"
    );
}

#[test]
fn bad_sweeps_fail_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let cases = [
        (
            "[model]\nenv = \"synthetic\"\ncheckpoints = \"none/*.safetensors\"\n",
            vec!["model.checkpoints", "matches no file"],
        ),
        (
            "[model]\nenv = \"synthetic\"\nweights = \"random\"\ncheckpoints = [\"a.safetensors\"]\n",
            vec!["model.checkpoints", "both set"],
        ),
        (
            "[model]\nenv = \"synthetic\"\nweights = \"random\"\n[cluster]\nmem = \"16GB\"\n",
            vec!["cluster.mem", "\"16GB\"", "line 6"],
        ),
    ];
    for (body, needles) in cases {
        std::fs::write(cwd.join("bad.toml"), format!("name = \"bad\"\n{body}")).unwrap();
        let out = probe(cwd, &["run", "bad.toml"]).output().unwrap();
        assert_clean_failure(&out, &needles);
    }
    std::fs::write(
        cwd.join("ok.toml"),
        "name = \"ok\"\n[model]\nenv = \"synthetic\"\nweights = \"random\"\n",
    )
    .unwrap();
    let out = probe(
        cwd,
        &["run", "ok.toml", "--stage", "alpha", "--shard", "2/2"],
    )
    .output()
    .unwrap();
    assert_clean_failure(&out, &["2/2", "I/N"]);
    let out = probe(cwd, &["merge", "runs/nothing"]).output().unwrap();
    assert_clean_failure(&out, &["plan"]);
}

#[test]
fn a_run_of_one_set_of_weights_shards_too() {
    let config = "name = \"one\"\n[model]\nenv = \"synthetic\"\nweights = \"random\"\n\
                  [dataset]\nlimit = 1000\n[probe]\ntrees = 3\n";
    let layer_alphas = |cwd: &Path| -> Vec<(String, u64)> {
        let text = std::fs::read_to_string(cwd.join("runs/one/results.json")).unwrap();
        let r: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(r.get("checkpoints").is_none(), "{r}");
        r["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                let name = l["layer"].as_str().unwrap().to_string();
                (name, l["alpha"].as_f64().unwrap().to_bits())
            })
            .collect()
    };
    let whole = tempfile::tempdir().unwrap();
    std::fs::write(whole.path().join("one.toml"), config).unwrap();
    ok(probe(whole.path(), &["run", "one.toml", "-q"])
        .output()
        .unwrap());
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::write(cwd.join("one.toml"), config).unwrap();
    let plan = ok(probe(cwd, &["plan", "one.toml"]).output().unwrap());
    let ids: Vec<String> = String::from_utf8_lossy(&plan.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "\"extract\"",
            "\"alpha/input\"",
            "\"alpha/relu1\"",
            "\"alpha/relu2\""
        ]
    );
    for args in [
        ["--stage", "train", "--shard", "0/1"],
        ["--stage", "extract", "--shard", "0/1"],
        ["--stage", "alpha", "--shard", "1/2"],
        ["--stage", "alpha", "--shard", "0/2"],
    ] {
        let mut all = vec!["run", "one.toml", "-q"];
        all.extend(args);
        ok(probe(cwd, &all).output().unwrap());
    }
    ok(probe(cwd, &["merge", "runs/one", "-q"]).output().unwrap());
    let merged = layer_alphas(cwd);
    assert_eq!(merged.len(), 3);
    assert_eq!(merged, layer_alphas(whole.path()));
}
