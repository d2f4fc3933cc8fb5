//! What a hostile user or a killed process does to feature-set files and run folders:
//! temporaries left by `kill -9`, two runs in one folder, FIFOs and folders given as files,
//! files truncated before or after opening, and byte-for-byte reproducible writes.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::{assert_message, meta};
use probe_data::{
    remove_stale_temporaries, write_feature_set, Error, FeatureSet, FeatureSetWriter, RunLock,
};

/// Environment variable that turns one of the `#[ignore]`d child tests below into a helper
/// process; its value is the folder to work in.
const CHILD_DIR: &str = "PROBE_DATA_TEST_CHILD_DIR";

/// What a helper child prints once it is ready.
const READY: &str = "probe-data-test-child-ready";

/// Runs this test binary again as a child that runs only `test` (an ignored helper) in
/// `dir`, and waits until it says it is ready. The child waits for its stdin to close.
fn spawn_child(test: &str, dir: &Path) -> Child {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            test,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the test binary");
    let stdout = child.stdout.take().expect("child stdout");
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(|l| l.ok())
        // libtest prints `test NAME ... ` before the test runs, on the same line.
        .any(|l| l.contains(READY));
    assert!(ready, "the child process never got ready");
    child
}

/// In a helper child: says it is ready and waits for the parent to close stdin (or kill it).
fn ready_and_wait() {
    println!("{READY}");
    std::io::stdout().flush().expect("flush");
    let mut line = String::new();
    while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
}

fn child_dir() -> Option<PathBuf> {
    std::env::var_os(CHILD_DIR).map(PathBuf::from)
}

/// A small valid set: 4 samples, 2 features, 2 classes.
fn small_set(path: &Path, metadata: &BTreeMap<String, String>) {
    let features = [0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0];
    write_feature_set(path, &features, &[4, 2], &[0, 1, 0, 1], metadata).expect("write set");
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("list dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---- stale temporaries -------------------------------------------------------------------

#[test]
fn stale_temporaries_are_removed_and_held_ones_and_other_files_are_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    // Abandoned: of our naming, nobody holds it (as after kill -9).
    fs::write(d.join(".probe-data-AbC123.tmp"), b"half a file").expect("write");
    // Not ours: other prefixes, suffixes, a folder and a symlink of our naming.
    for other in [
        ".probe-data-.tmp",
        ".probe-data-abc123.tmp.keep",
        "x.probe-data-abc123.tmp",
        ".probe-models-abc123.tmp",
        "layer.safetensors",
    ] {
        fs::write(d.join(other), b"keep").expect("write");
    }
    fs::create_dir(d.join(".probe-data-folder1.tmp")).expect("mkdir");
    #[cfg(unix)]
    std::os::unix::fs::symlink(
        d.join("layer.safetensors"),
        d.join(".probe-data-link01.tmp"),
    )
    .expect("symlink");
    // Held: a live writer's temporary.
    let out = d.join("held.safetensors");
    let mut writer = FeatureSetWriter::create(&out, &[2, 1], &meta(&[])).expect("writer");

    let removed = remove_stale_temporaries(d).expect("cleanup");

    if cfg!(unix) {
        assert_eq!(removed, vec![d.join(".probe-data-AbC123.tmp")]);
    } else {
        assert!(removed.is_empty());
    }
    let left = names_in(d);
    assert!(!left.contains(&".probe-data-AbC123.tmp".to_string()) || cfg!(not(unix)));
    for kept in [
        ".probe-data-.tmp",
        ".probe-data-abc123.tmp.keep",
        "x.probe-data-abc123.tmp",
        ".probe-models-abc123.tmp",
        "layer.safetensors",
        ".probe-data-folder1.tmp",
    ] {
        assert!(
            left.contains(&kept.to_string()),
            "{kept} was removed: {left:?}"
        );
    }
    let held: Vec<&String> = left
        .iter()
        .filter(|n| n.starts_with(".probe-data-") && n.ends_with(".tmp"))
        .filter(|n| !["folder1", "link01"].iter().any(|s| n.contains(s)))
        .filter(|n| n.as_str() != ".probe-data-.tmp")
        .collect();
    assert_eq!(
        held.len(),
        1,
        "the live writer's temporary is gone: {left:?}"
    );
    // The writer still finishes into place.
    writer.append(&[1.0, 2.0], &[0, 1]).expect("append");
    writer.finish().expect("finish after cleanup");
    FeatureSet::open(&out).expect("the held write completed");
}

#[test]
fn a_missing_folder_is_a_read_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("nope");
    let err = remove_stale_temporaries(&missing).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err}");
}

/// Child helper: starts a streamed write in the folder and waits to be killed.
#[test]
#[ignore = "helper process for killed_writers_leave_temporaries_that_cleanup_removes"]
fn child_writer_waits_to_be_killed() {
    let Some(dir) = child_dir() else { return };
    let mut w =
        FeatureSetWriter::create(dir.join("x.safetensors"), &[4, 2], &meta(&[])).expect("writer");
    w.append(&[1.0, 2.0], &[0]).expect("append");
    ready_and_wait();
}

#[cfg(unix)]
#[test]
fn killed_writers_leave_temporaries_that_cleanup_removes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = spawn_child("child_writer_waits_to_be_killed", dir.path());
    let temps = || {
        names_in(dir.path())
            .into_iter()
            .filter(|n| n.starts_with(".probe-data-"))
            .count()
    };
    assert_eq!(temps(), 1);
    // While the writer lives its temporary is held.
    assert!(remove_stale_temporaries(dir.path())
        .expect("cleanup")
        .is_empty());
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    assert_eq!(temps(), 1, "kill -9 leaves the temporary behind");
    assert_eq!(
        remove_stale_temporaries(dir.path()).expect("cleanup").len(),
        1
    );
    assert_eq!(temps(), 0);
}

// ---- run-folder lock ---------------------------------------------------------------------

#[cfg(unix)]
#[test]
fn a_second_run_lock_names_the_holder_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lock = RunLock::acquire(dir.path(), "probe run configs/x.toml").expect("first");
    assert_eq!(lock.path(), dir.path().join(".probe.lock"));
    let err = RunLock::acquire(dir.path(), "probe run configs/y.toml").unwrap_err();
    let msg = err.to_string();
    let pid = std::process::id();
    assert!(
        msg.starts_with(&format!(
            "{} is in use by pid {pid} (probe run configs/x.toml, since ",
            dir.path().display()
        )),
        "{msg}"
    );
    assert!(msg.ends_with("Z)") && !msg.contains('\n'), "{msg}");
    match err {
        Error::RunInUse { holder, .. } => {
            assert_eq!(holder.pid, Some(pid));
            assert_eq!(holder.command.as_deref(), Some("probe run configs/x.toml"));
        }
        other => panic!("expected RunInUse, got {other}"),
    }
    drop(lock);
    let again = RunLock::acquire(dir.path(), "probe run configs/y.toml").expect("free again");
    drop(again);
}

#[test]
fn a_run_lock_needs_an_existing_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = RunLock::acquire(&dir.path().join("missing"), "probe run").unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err}");
}

/// Child helper: holds the run lock of the folder until its stdin closes.
#[test]
#[ignore = "helper process for run_locks_exclude_other_processes"]
fn child_holds_run_lock() {
    let Some(dir) = child_dir() else { return };
    let _lock = RunLock::acquire(&dir, "probe run configs/child.toml").expect("child lock");
    ready_and_wait();
}

#[cfg(unix)]
#[test]
fn run_locks_exclude_other_processes_and_die_with_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = spawn_child("child_holds_run_lock", dir.path());
    let err = RunLock::acquire(dir.path(), "probe run configs/parent.toml").unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "in use by pid {} (probe run configs/child.toml, since",
            child.id()
        )),
        "{msg}"
    );
    // kill -9: the kernel drops the lock with the process, and its stale text is replaced.
    child.kill().expect("kill -9");
    child.wait().expect("reap");
    let lock = RunLock::acquire(dir.path(), "probe run configs/parent.toml").expect("taken over");
    let text = fs::read_to_string(lock.path()).expect("lock file");
    assert!(
        text.contains(&format!("pid={}", std::process::id())),
        "{text}"
    );
    assert!(
        text.contains("holder=probe run configs/parent.toml"),
        "{text}"
    );
}

// ---- non-regular and shrunk inputs --------------------------------------------------------

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_without_blocking() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("pipe.safetensors");
    let c = std::ffi::CString::new(fifo.to_str().expect("utf-8 path")).expect("c path");
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    // Without a writer on the pipe, opening it would block forever.
    let err = FeatureSet::open(&fifo).unwrap_err();
    assert!(matches!(err, Error::NotRegularFile { .. }), "{err}");
    assert_message(
        &err,
        "pipe.safetensors",
        &["is a FIFO (named pipe), not a regular file"],
    );
}

#[test]
fn a_folder_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let err = FeatureSet::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::NotRegularFile { .. }), "{err}");
    assert_message(&err, &dir.path().display().to_string(), &["is a folder"]);
}

#[cfg(unix)]
#[test]
fn a_symlink_to_a_regular_file_opens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let real = dir.path().join("real.safetensors");
    small_set(&real, &meta(&[]));
    let link = dir.path().join("link.safetensors");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    assert_eq!(FeatureSet::open(&link).expect("open link").n_samples(), 4);
}

#[test]
fn a_truncated_file_is_refused_with_its_sizes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cut.safetensors");
    small_set(&path, &meta(&[("layer", "fc1")]));
    let full = fs::metadata(&path).expect("stat").len();
    let file = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_len(full - 12).expect("truncate");
    drop(file);
    let err = FeatureSet::open(&path).unwrap_err();
    match &err {
        Error::SizeMismatch {
            expected, actual, ..
        } => assert_eq!((*expected, *actual), (full, full - 12)),
        other => panic!("expected SizeMismatch, got {other}"),
    }
    assert_message(
        &err,
        "cut.safetensors",
        &[
            &format!("the file is {} bytes", full - 12),
            &format!("describes {full}"),
        ],
    );
}

#[test]
fn a_file_truncated_while_open_fails_reads_with_a_message_not_a_crash() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("shrinks.safetensors");
    // Large enough that the features span several pages.
    let n = 4096;
    let features: Vec<f32> = (0..n * 4).map(|i| i as f32).collect();
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 2).collect();
    write_feature_set(&path, &features, &[n, 4], &labels, &meta(&[])).expect("write");
    let set = FeatureSet::open(&path).expect("open");
    let file = fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_len(64).expect("truncate");
    drop(file);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut out = vec![0f64; 4];
        set.read_rows_f64(n - 1, &mut out);
    }));
    let panic = result.expect_err("reading a truncated mapping must fail");
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.contains("shrinks.safetensors") && msg.contains("the file is 64 bytes"),
        "{msg}"
    );
}

// ---- deterministic bytes ------------------------------------------------------------------

/// Metadata with enough keys that a hash map's order would differ between maps and runs.
fn many_keys() -> BTreeMap<String, String> {
    (0..24)
        .map(|i| (format!("key{:02}", (i * 7) % 24), format!("value {i}")))
        .collect()
}

/// Child helper: writes the reference set into the folder.
#[test]
#[ignore = "helper process for identical_sets_give_identical_bytes_across_processes"]
fn child_writes_reference_set() {
    let Some(dir) = child_dir() else { return };
    small_set(&dir.join("child.safetensors"), &many_keys());
    ready_and_wait();
}

#[test]
fn identical_sets_give_identical_bytes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b, c) = (
        dir.path().join("a.safetensors"),
        dir.path().join("b.safetensors"),
        dir.path().join("c.safetensors"),
    );
    small_set(&a, &many_keys());
    // The same map built in the reverse insertion order.
    let reversed: BTreeMap<String, String> = many_keys().into_iter().rev().collect();
    small_set(&b, &reversed);
    // Through the reader and `write` as well.
    FeatureSet::open(&a)
        .expect("open")
        .write(&c)
        .expect("rewrite");
    let bytes = fs::read(&a).expect("read a");
    assert_eq!(bytes, fs::read(&b).expect("read b"));
    assert_eq!(bytes, fs::read(&c).expect("read c"));
    // `__metadata__` comes first with its keys sorted.
    let header_len = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + header_len]).expect("utf-8 header");
    assert!(
        header.starts_with("{\"__metadata__\":{\"key00\":"),
        "{header}"
    );
}

#[cfg(unix)]
#[test]
fn identical_sets_give_identical_bytes_across_processes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = spawn_child("child_writes_reference_set", dir.path());
    drop(child.stdin.take());
    child.wait().expect("child exits");
    let mine = dir.path().join("mine.safetensors");
    small_set(&mine, &many_keys());
    assert_eq!(
        fs::read(dir.path().join("child.safetensors")).expect("child's file"),
        fs::read(&mine).expect("mine")
    );
}
