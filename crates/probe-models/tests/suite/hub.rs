//! The Hugging Face loader, up to the network boundary (this machine has no network).

use std::time::{Duration, Instant};

use probe_models::{fetch_weights, resolve_weights, Error, HubFile};

use crate::util::assert_message;

#[test]
fn parses_hub_addresses() {
    let f = HubFile::parse("hf://owner/repo/model.safetensors").expect("plain");
    assert_eq!(
        (f.repo.as_str(), f.revision, f.file.as_str()),
        ("owner/repo", None, "model.safetensors")
    );
    let f = HubFile::parse("hf://owner/repo@v1.0/ckpt/epoch_3.pth").expect("revision, subfolder");
    assert_eq!(f.repo, "owner/repo");
    assert_eq!(f.revision.as_deref(), Some("v1.0"));
    assert_eq!(f.file, "ckpt/epoch_3.pth");
    for bad in [
        "owner/repo/file",
        "hf://owner/repo",
        "hf://owner/repo/",
        "hf:///repo/file",
        "hf://owner/repo@/file",
        "hf://owner/repo/../secret",
    ] {
        let err = HubFile::parse(bad).expect_err(bad);
        assert!(matches!(err, Error::BadHubUrl { .. }), "{bad}");
        assert_message(&err, &[bad, "or give a local path"]);
        assert!(!err.to_string().contains("--"), "{err}");
    }
    assert_eq!(
        resolve_weights("runs/a/checkpoint.safetensors").expect("local"),
        std::path::PathBuf::from("runs/a/checkpoint.safetensors")
    );
}

/// One test changes the environment, so no other test reads it concurrently.
#[test]
fn offline_fetch_fails_fast_naming_repo_and_fix() {
    let cache = tempfile::tempdir().expect("cache");
    // SAFETY of the environment change: no other test of this binary reads these variables.
    std::env::set_var("HF_HOME", cache.path());

    std::env::set_var("HF_HUB_OFFLINE", "1");
    let err = fetch_weights("hf://someone/cifar-resnet18/model.safetensors").expect_err("offline");
    assert!(matches!(err, Error::Hub { .. }));
    assert_message(
        &err,
        &[
            "`someone/cifar-resnet18`",
            "model.safetensors",
            "HF_HUB_OFFLINE",
            "load it from a local path",
        ],
    );

    // Through the network client, against a closed local port.
    std::env::remove_var("HF_HUB_OFFLINE");
    std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:9");
    let start = Instant::now();
    let err = resolve_weights("hf://someone/cifar-resnet18@main/model.safetensors")
        .expect_err("unreachable endpoint");
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
    assert!(matches!(err, Error::Hub { .. }));
    assert_message(
        &err,
        &["`someone/cifar-resnet18`", "load it from a local path"],
    );
    std::env::remove_var("HF_ENDPOINT");
    std::env::remove_var("HF_HOME");
}
