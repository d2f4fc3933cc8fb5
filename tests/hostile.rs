//! The tools used as a hostile user would: stale and foreign files, outputs aimed at inputs
//! and devices, interrupted and concurrent runs, odd configs. Each test reproduces one fault
//! of the hostile review (issue 11, numbered as there) or a case that held and must keep
//! holding.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::util::{assert_clean_failure, blobs, metric_epochs, run, stderr, write_set};

fn exe(bin: &str) -> &'static str {
    match bin {
        "probe" => env!("CARGO_BIN_EXE_probe"),
        "probe-train" => env!("CARGO_BIN_EXE_probe-train"),
        "probe-extract" => env!("CARGO_BIN_EXE_probe-extract"),
        other => panic!("unknown binary {other}"),
    }
}

/// Runs a binary in `cwd` (run configs write under `runs/` there).
fn run_in(cwd: &Path, bin: &str, args: &[&str]) -> Output {
    Command::new(exe(bin))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn spawn_in(cwd: &Path, bin: &str, args: &[&str]) -> Child {
    Command::new(exe(bin))
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until `path` exists (the child reached a chosen point), at most a minute.
fn wait_for(path: &Path, child: &mut Child) {
    let start = Instant::now();
    while !path.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the child ended ({status}) before {} appeared",
                path.display()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A run config on the synthetic task with `train` as its [train] body.
fn config(dir: &Path, name: &str, train: &str, extra: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\nlayers = [\"input\", \"relu2\"]\n{extra}\n[model]\n\
             env = \"synthetic\"\n[train]\n{train}\n[probe]\ntrees = 2\ndepth = 6\n"
        ),
    )
    .unwrap();
    path
}

fn small_set(dir: &Path, name: &str) -> PathBuf {
    let (x, y) = blobs(3, 20, 5, 4.0);
    let file = dir.join(name);
    write_set(&file, &x, &[60, 5], &y, "blobs");
    file
}

/// Fault 1: features of other samples (another subset seed, another folder with as many
/// samples) are not taken for complete.
#[test]
fn features_of_other_samples_are_extracted_again() {
    let dir = tempfile::tempdir().unwrap();
    let write = |seed: u64| {
        let path = dir.path().join("x.toml");
        std::fs::write(
            &path,
            format!(
                "layers = [\"input\", \"relu1\"]\nout = \"out\"\n[model]\nenv = \"synthetic\"\n\
                 weights = \"random\"\n[dataset]\nlimit = 300\nseed = {seed}\n"
            ),
        )
        .unwrap();
        path
    };
    let c = write(0);
    let extract = || {
        run_in(
            dir.path(),
            "probe-extract",
            &["--config", c.to_str().unwrap(), "-q"],
        )
    };
    let o = extract();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = extract();
    assert_eq!(
        stdout(&o).matches("(complete, kept)").count(),
        2,
        "{}",
        stdout(&o)
    );
    // The manifest keeps the timings of the pass that wrote the files.
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out/features/manifest.json")).unwrap(),
    )
    .unwrap();
    assert!(manifest["seconds"].as_f64().unwrap() > 0.0, "{manifest}");
    write(1);
    let o = extract();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("kept"), "{}", stdout(&o));
}

/// Fault 2: Settings changed after a kill -9 mid-training do not resume the old checkpoint.
#[test]
fn a_killed_training_is_not_resumed_under_other_settings() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), "kill", "epochs = 400\nseed = 0", "");
    let mut child = spawn_in(dir.path(), "probe", &["run", c.to_str().unwrap(), "-q"]);
    wait_for(
        &dir.path().join("runs/kill/checkpoint/last.safetensors"),
        &mut child,
    );
    assert!(dir.path().join("runs/kill/train-settings.json").exists());
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let c = config(
        dir.path(),
        "kill",
        "epochs = 2\nlr = 0.002\nlabel_noise = 0.4",
        "",
    );
    let o = run_in(dir.path(), "probe", &["run", c.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("changed since the checkpoint was trained"),
        "{}",
        stdout(&o)
    );
    let settings = std::fs::read_to_string(dir.path().join("runs/kill/train-settings.json"));
    assert!(settings.unwrap().contains("\"label_noise\": 0.4"));
}

/// Faults 3 and 9: An output that is an input, a device, a FIFO, a link or a folder is refused
/// before any work, and the input survives.
#[test]
fn outputs_never_replace_inputs_devices_or_folders() {
    let dir = tempfile::tempdir().unwrap();
    let file = small_set(dir.path(), "x.safetensors");
    let before = std::fs::read(&file).unwrap();
    let f = file.to_str().unwrap();
    let o = run("probe-alpha", &[f, "--out", f, "-q"]);
    assert_clean_failure(&o, &["--out", "input"]);
    assert_eq!(std::fs::read(&file).unwrap(), before);
    let o = run("probe-alpha", &[f, "--out", "/dev/null", "-q"]);
    assert_clean_failure(&o, &["/dev/null", "not a regular file"]);
    let o = run(
        "probe-alpha",
        &[f, "--out", dir.path().to_str().unwrap(), "-q"],
    );
    assert_clean_failure(&o, &["folder"]);
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let o = run("probe-alpha", &[f, "--out", link.to_str().unwrap(), "-q"]);
    assert_clean_failure(&o, &["symbolic link"]);
    assert_eq!(std::fs::read(&file).unwrap(), before);
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let o = run("probe-alpha", &[f, "--out", fifo.to_str().unwrap(), "-q"]);
        assert_clean_failure(&o, &["not a regular file"]);
    } else {
        eprintln!("skipping the FIFO case: mkfifo is not available");
    }
}

/// Fault 4: a reduction larger than the samples is capped, said, and the layers are
/// scored reduced (no silent exit 1).
#[test]
fn a_run_with_fewer_samples_than_k_reduces_to_n_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cap.toml");
    std::fs::write(
        &path,
        "name = \"cap\"\nlayers = [\"input\", \"relu1\"]\n[model]\nenv = \"synthetic\"\n\
         weights = \"random\"\n[dataset]\nlimit = 60\n[reduce]\nmethod = \"tsvd\"\ndim = 100\n\
         [probe]\ntrees = 2\ndepth = 6\n",
    )
    .unwrap();
    let o = run_in(dir.path(), "probe", &["run", path.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("relu1 has 60 samples, so it was reduced to K = 60 instead of 100"),
        "{}",
        stdout(&o)
    );
    let results: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("runs/cap/results.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(results["layers"][1]["reduction"], "tsvd:60");
    assert_eq!(results["layers"][1]["d"], 60);
    assert_eq!(results["layers"][1]["input_d"], 60);
}

/// Fault 5: A run that scores nothing leaves the previous results in place.
#[test]
fn a_run_that_scores_nothing_keeps_the_old_results() {
    let dir = tempfile::tempdir().unwrap();
    let file = small_set(dir.path(), "x.safetensors");
    let keep = dir.path().join("keep.json");
    let o = run(
        "probe-alpha",
        &[
            file.to_str().unwrap(),
            "--out",
            keep.to_str().unwrap(),
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let before = std::fs::read(&keep).unwrap();
    let typo = dir.path().join("bda/*.safetensors");
    let o = run(
        "probe-alpha",
        &[
            typo.to_str().unwrap(),
            "--out",
            keep.to_str().unwrap(),
            "-q",
        ],
    );
    assert_clean_failure(&o, &["no file matches"]);
    assert!(stderr(&o).contains("left as it was"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&keep).unwrap(), before);
}

/// Fault 6: Temporary files an interrupted run left behind are removed when a run starts.
#[test]
fn stale_temporaries_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let features = dir.path().join("runs/tmp/features");
    std::fs::create_dir_all(&features).unwrap();
    let stale = features.join(".probe-data-abc123.tmp");
    std::fs::write(&stale, vec![0u8; 4096]).unwrap();
    let other = features.join("notes.tmp");
    std::fs::write(&other, "mine").unwrap();
    let path = dir.path().join("tmp.toml");
    std::fs::write(
        &path,
        "name = \"tmp\"\nlayers = [\"input\"]\n[model]\nenv = \"synthetic\"\nweights = \"random\"\n\
         [dataset]\nlimit = 100\n[probe]\ntrees = 2\ndepth = 6\n",
    )
    .unwrap();
    let o = run_in(dir.path(), "probe", &["run", path.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stale.exists(), "the stale temporary is still there");
    assert!(other.exists(), "a file not of our naming was removed");
}

/// Fault 7: Two runs of one folder: the second says who holds it and leaves.
#[test]
fn a_second_run_of_the_same_folder_is_locked_out() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), "lock", "epochs = 400", "");
    let mut first = spawn_in(dir.path(), "probe", &["run", c.to_str().unwrap(), "-q"]);
    wait_for(&dir.path().join("runs/lock/metrics.jsonl"), &mut first);
    let o = run_in(dir.path(), "probe", &["run", c.to_str().unwrap(), "-q"]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_clean_failure(&o, &["in use", &first.id().to_string()]);
    let epochs = metric_epochs(&dir.path().join("runs/lock/metrics.jsonl"));
    assert!(epochs.windows(2).all(|w| w[1] == w[0] + 1), "{epochs:?}");
}

/// Fault 8: Values that can only fail later are refused up front, one line each.
#[test]
fn bad_training_values_fail_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    for (train, needle) in [
        ("epochs = 0", "train.epochs"),
        ("epochs = 2\nval_split = 0", "train.val_split"),
        ("epochs = 2\nlabel_noise = 2", "train.label_noise"),
    ] {
        let c = config(dir.path(), "bad", train, "");
        let o = run_in(dir.path(), "probe", &["run", c.to_str().unwrap(), "-q"]);
        assert_clean_failure(&o, &[needle, "bad.toml", "line"]);
    }
    let c = config(dir.path(), "bad", "epochs = 2", "[dataset]\nlimit = 1");
    let o = run_in(dir.path(), "probe", &["run", c.to_str().unwrap(), "-q"]);
    assert_clean_failure(&o, &["dataset.limit", "at least 2"]);
    assert!(!dir.path().join("runs/bad").exists());
    let out = dir.path().join("t");
    for limit in ["0", "1"] {
        let o = run_in(
            dir.path(),
            "probe-train",
            &[
                "--epochs",
                "1",
                "--limit",
                limit,
                "--out",
                out.to_str().unwrap(),
                "-q",
            ],
        );
        assert_clean_failure(&o, &["--limit", "at least 2"]);
    }
}

/// Fault 12: in probe-train, Ctrl-C is not success, and an existing checkpoint is not
/// silently trained over.
#[test]
fn probe_train_interrupted_exits_nonzero_and_does_not_restart_silently() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t");
    let args = ["--epochs", "400", "--out", out.to_str().unwrap(), "-q"];
    let mut child = spawn_in(dir.path(), "probe-train", &args);
    wait_for(&out.join("checkpoint/last.safetensors"), &mut child);
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "Ctrl-C must not exit 0");
    let o = run_in(
        dir.path(),
        "probe-train",
        &["--epochs", "2", "--out", out.to_str().unwrap(), "-q"],
    );
    assert_clean_failure(&o, &["already holds a checkpoint", "--resume", "--force"]);
    let o = run_in(
        dir.path(),
        "probe-train",
        &[
            "--epochs",
            "3",
            "--out",
            out.to_str().unwrap(),
            "--resume",
            "--lr",
            "0.5",
            "-q",
        ],
    );
    assert_clean_failure(&o, &["cannot resume", "lr"]);
}

/// Held before and kept: a run killed mid-training resumes to the same number of epochs.
#[test]
fn a_killed_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(dir.path(), "resume", "epochs = 400", "");
    let mut child = spawn_in(dir.path(), "probe", &["run", c.to_str().unwrap(), "-q"]);
    wait_for(
        &dir.path().join("runs/resume/checkpoint/last.safetensors"),
        &mut child,
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let c = config(dir.path(), "resume", "epochs = 3", "");
    let o = run_in(dir.path(), "probe", &["run", c.to_str().unwrap(), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let epochs = metric_epochs(&dir.path().join("runs/resume/metrics.jsonl"));
    assert!(epochs.last().is_some_and(|&e| e >= 3), "{epochs:?}");
    assert!(dir.path().join("runs/resume/results.json").exists());
}

/// Held before and kept: a full disk fails one layer cleanly and leaves no partial file
/// (a 1 MiB tmpfs; needs root to mount).
#[test]
fn a_full_disk_fails_cleanly() {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let dir = tempfile::tempdir().unwrap();
    let mount = dir.path().join("small");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = is_root
        && Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=1m",
                "tmpfs",
                mount.to_str().unwrap(),
            ])
            .status()
            .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping: mounting a small tmpfs needs root (and mount); run as root to test a full disk");
        return;
    }
    let path = dir.path().join("full.toml");
    std::fs::write(
        &path,
        format!(
            "layers = [\"input\", \"relu1\"]\nout = \"{}\"\n[model]\nenv = \"synthetic\"\n\
             weights = \"random\"\n",
            mount.display()
        ),
    )
    .unwrap();
    let o = run_in(
        dir.path(),
        "probe-extract",
        &["--config", path.to_str().unwrap(), "-q"],
    );
    let leftovers: Vec<_> = std::fs::read_dir(mount.join("features"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default();
    let _ = Command::new("umount").arg(&mount).status();
    assert!(!o.status.success(), "a 1 MiB disk cannot hold the layers");
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// A one-file ZIP archive (stored, no compression), as `torch.save` writes them.
fn zip_one(name: &str, data: &[u8]) -> Vec<u8> {
    let mut crc = flate2::Crc::new();
    crc.update(data);
    let crc = crc.sum();
    let (n, len) = (name.len() as u16, data.len() as u32);
    let mut out = Vec::new();
    let local = |out: &mut Vec<u8>, sig: u32| {
        out.extend_from_slice(&sig.to_le_bytes());
    };
    local(&mut out, 0x0403_4b50);
    for v in [20u16, 0, 0, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [crc, len, len] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(data);
    let central = out.len() as u32;
    local(&mut out, 0x0201_4b50);
    for v in [20u16, 20, 0, 0, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [crc, len, len] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for v in [n, 0, 0, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    let size = out.len() as u32 - central;
    local(&mut out, 0x0605_4b50);
    for v in [0u16, 0, 1, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&central.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// Held before and kept: a `.pt` whose pickle calls `os.system` is refused as weights
/// without running anything.
#[test]
fn a_malicious_pickle_is_not_executed() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let command = format!("touch {}", marker.display());
    // Protocol 2: GLOBAL os.system, the command, TUPLE1, REDUCE, STOP.
    let mut pickle = b"\x80\x02cos\nsystem\nX".to_vec();
    pickle.extend_from_slice(&(command.len() as u32).to_le_bytes());
    pickle.extend_from_slice(command.as_bytes());
    pickle.extend_from_slice(b"\x85R.");
    let weights = dir.path().join("evil.pt");
    std::fs::write(&weights, zip_one("evil/data.pkl", &pickle)).unwrap();
    let config = dir.path().join("evil.toml");
    std::fs::write(
        &config,
        format!(
            "out = \"out\"\n[model]\nenv = \"synthetic\"\nweights = \"{}\"\n[dataset]\nlimit = 50\n",
            weights.display()
        ),
    )
    .unwrap();
    let o = run_in(
        dir.path(),
        "probe-extract",
        &["--config", config.to_str().unwrap(), "-q"],
    );
    assert_clean_failure(&o, &["evil.pt"]);
    assert!(!marker.exists(), "the pickle ran a command");
}
