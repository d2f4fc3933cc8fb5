//! `probe-reduce` and `probe-alpha --reduce-to` end to end: outputs, metadata, pass-through,
//! records, and bad input.

use probe_data::FeatureSet;

use crate::util::{assert_clean_failure, blobs, run, stderr, write_set};

#[test]
fn reduces_each_file_into_the_sibling_reduced_folder() {
    let dir = tempfile::tempdir().unwrap();
    let features = dir.path().join("features");
    std::fs::create_dir(&features).unwrap();
    let (x, y) = blobs(4, 150, 48, 2.0);
    write_set(
        &features.join("01_wide.safetensors"),
        &x,
        &[600, 3, 4, 4],
        &y,
        "wide",
    );
    let (x2, y2) = blobs(4, 150, 6, 2.0);
    write_set(
        &features.join("02_narrow.safetensors"),
        &x2,
        &[600, 6],
        &y2,
        "narrow",
    );
    let pattern = features.join("*.safetensors");
    let o = run(
        "probe-reduce",
        &[
            pattern.to_str().unwrap(),
            "--dim",
            "8",
            "--method",
            "pca",
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("passed through"), "{table}");

    let out = dir.path().join("features-reduced");
    let wide = FeatureSet::open(out.join("01_wide.safetensors")).unwrap();
    assert_eq!((wide.n_samples(), wide.n_features()), (600, 8));
    assert_eq!(wide.metadata()["reduction"], "pca:8");
    assert_eq!(wide.metadata()["original_shape"], "3,4,4");
    assert_eq!(wide.layer(), "wide");
    let evr: f64 = wide.metadata()["explained_variance_ratio"].parse().unwrap();
    assert!(evr > 0.0 && evr <= 1.0, "{evr}");
    let original = FeatureSet::open(features.join("01_wide.safetensors")).unwrap();
    assert_eq!(wide.labels(), original.labels());

    let narrow = FeatureSet::open(out.join("02_narrow.safetensors")).unwrap();
    assert_eq!(narrow.n_features(), 6);
    assert!(!narrow.metadata().contains_key("reduction"));
}

#[test]
fn alpha_reduce_to_records_how_each_layer_was_reduced() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = blobs(3, 200, 40, 3.0);
    let wide = dir.path().join("wide.safetensors");
    write_set(&wide, &x, &[600, 40], &y, "wide");
    let (x2, y2) = blobs(3, 200, 5, 3.0);
    let narrow = dir.path().join("narrow.safetensors");
    write_set(&narrow, &x2, &[600, 5], &y2, "narrow");
    let out = dir.path().join("results.json");
    let o = run(
        "probe-alpha",
        &[
            wide.to_str().unwrap(),
            narrow.to_str().unwrap(),
            "--reduce-to",
            "8",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(r["settings"]["reduce_to"], 8);
    assert_eq!(r["settings"]["reduce_method"], "tsvd");
    let (w, n) = (&r["layers"][0], &r["layers"][1]);
    assert_eq!(w["reduction"], "tsvd:8");
    assert_eq!(
        (w["d"].as_u64(), w["input_d"].as_u64()),
        (Some(8), Some(40))
    );
    assert!(w["explained_variance_ratio"].as_f64().unwrap() > 0.5);
    assert!(w["file"].as_str().unwrap().ends_with("wide.safetensors"));
    assert!(n["reduction"].is_null());
    assert_eq!((n["d"].as_u64(), n["input_d"].as_u64()), (Some(5), Some(5)));
}

#[test]
fn bad_reductions_fail_cleanly_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = blobs(2, 5, 30, 1.0);
    let file = dir.path().join("small.safetensors");
    write_set(&file, &x, &[10, 30], &y, "small");
    let out = dir.path().join("out");

    let o = run("probe-reduce", &[file.to_str().unwrap(), "--dim", "0"]);
    assert_clean_failure(&o, &["n_components", "at least 1"]);

    // 10 rows cannot give 20 components: a config written for more samples still runs,
    // reduced to 10, and says so.
    let args = [
        file.to_str().unwrap(),
        "--dim",
        "20",
        "--out-dir",
        out.to_str().unwrap(),
    ];
    let o = run("probe-reduce", &args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("K capped at 10"));
    let reduced = probe_data::FeatureSet::open(out.join("small.safetensors")).unwrap();
    assert_eq!(reduced.n_features(), 10);
    assert_eq!(reduced.metadata()["reduction"], "tsvd:10");
    assert_eq!(reduced.metadata()["reduction_requested"], "tsvd:20");

    let o = run(
        "probe-alpha",
        &[file.to_str().unwrap(), "--reduce-to", "20", "-q"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("reduced to K = 10 instead of 20"));

    let missing = dir.path().join("missing.safetensors");
    let o = run("probe-reduce", &[missing.to_str().unwrap(), "--dim", "4"]);
    assert_clean_failure(&o, &["missing.safetensors"]);

    let o = run(
        "probe-reduce",
        &[
            file.to_str().unwrap(),
            "--dim",
            "4",
            "--out-dir",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_clean_failure(&o, &["overwrite the input"]);
}
