//! Repeated forests (`--repeats R`): the interval covers the mean of more repeats, flags
//! become a test that fires on a plateau and not on a clear rise, and R = 1 is today's record.

use serde_json::Value;

use crate::util::{blobs, mnist, numbers, run, stderr, write_set};

fn alpha_run(files: &[&std::path::Path], extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    alpha_run_into(files, extra, &dir.path().join("r.json"))
}

/// Scores `files` into `out` (exit 0, or 1 when a file failed) and returns the results.
fn alpha_run_into(files: &[&std::path::Path], extra: &[&str], out: &std::path::Path) -> Value {
    let mut args: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    args.extend(["--out", out.to_str().unwrap(), "--quiet"]);
    args.extend(extra);
    let o = run("probe-alpha", &args);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{}",
        stderr(&o)
    );
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

#[test]
fn five_repeats_cover_the_mean_of_twenty_others_on_mnist_pixels() {
    let Some((x, y)) = mnist(10_000) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pixels.safetensors");
    write_set(&file, &x, &[10_000, 784], &y, "pixels");
    let five = &alpha_run(&[&file], &["--repeats", "5"])["layers"][0];
    let ci = numbers(&five["alpha_ci"]);
    let by_repeat = numbers(&five["alphas_by_repeat"]);
    assert_eq!(by_repeat.len(), 5);
    let mean = by_repeat.iter().sum::<f64>() / 5.0;
    assert_eq!(five["alpha"].as_f64().unwrap(), mean);
    assert_eq!(five["alpha_mean"].as_f64().unwrap(), mean);
    // A separate run: 20 other seeds.
    let twenty = &alpha_run(&[&file], &["--repeats", "20", "--seed", "100"])["layers"][0];
    let other = twenty["alpha_mean"].as_f64().unwrap();
    eprintln!("5 repeats: {mean:.5} in {ci:?}; 20 repeats from seed 100: {other:.5}");
    assert!(ci[0] <= other && other <= ci[1], "{other} outside {ci:?}");
    assert!(
        ci[1] - ci[0] < 0.02,
        "interval {ci:?} is wider than the seed spread warrants"
    );
}

#[test]
fn significance_flags_fire_on_a_plateau_and_not_on_a_clear_rise() {
    let dir = tempfile::tempdir().unwrap();
    // A plateau: the same layer twice.
    let (x, y) = blobs(4, 300, 16, 2.0);
    let a = dir.path().join("00_a.safetensors");
    let b = dir.path().join("01_b.safetensors");
    write_set(&a, &x, &[1200, 16], &y, "a");
    write_set(&b, &x, &[1200, 16], &y, "b");
    let plateau = alpha_run(&[&a, &b], &["--repeats", "5"]);
    let flag = plateau["layers"][1]["flag"]
        .as_str()
        .expect("a plateau is flagged");
    assert!(
        flag.contains("not significantly above `a`") && flag.contains("p = "),
        "{flag}"
    );
    // A clear rise: the quickstart's input and its trained last hidden layer.
    let shipped =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/quickstart.toml");
    let config = dir.path().join("quickstart.toml");
    let text = std::fs::read_to_string(shipped).unwrap();
    std::fs::write(&config, text.replace("embedding = \"umap\"", "")).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_probe"))
        .current_dir(dir.path())
        .args(["run", config.to_str().unwrap(), "-q"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let features = dir.path().join("runs/quickstart/features");
    let input = features.join("00_input.safetensors");
    let relu2 = features.join("02_relu2.safetensors");
    let rise = alpha_run(&[&input, &relu2], &["--repeats", "5"]);
    let (li, lr) = (&rise["layers"][0], &rise["layers"][1]);
    assert!(
        lr["flag"].is_null(),
        "{} vs {}: {}",
        li["alpha"],
        lr["alpha"],
        lr["flag"]
    );
    assert_eq!(rise["settings"]["repeats"], 5);
}

#[test]
fn one_repeat_is_todays_record() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = blobs(3, 200, 8, 1.0);
    let a = dir.path().join("a.safetensors");
    write_set(&a, &x, &[600, 8], &y, "a");
    let plain = alpha_run(&[&a], &[]);
    let one = alpha_run(&[&a], &["--repeats", "1"]);
    let (p, o) = (&plain["layers"][0], &one["layers"][0]);
    for key in [
        "alpha",
        "alphas",
        "critical_taus",
        "band",
        "n_wavelets",
        "angle_curve",
    ] {
        assert_eq!(p[key], o[key], "{key}");
    }
    assert!(o.get("alpha_mean").is_none() && o.get("alphas_by_repeat").is_none());
    let zero = run("probe-alpha", &[a.to_str().unwrap(), "--repeats", "0"]);
    assert_eq!(zero.status.code(), Some(2));
    assert!(stderr(&zero).contains("repeats"), "{}", stderr(&zero));
}

/// Half-width of a layer's 95% interval.
fn half_width(layer: &Value) -> f64 {
    let ci = numbers(&layer["alpha_ci"]);
    (ci[1] - ci[0]) / 2.0
}

#[test]
fn intervals_shrink_as_the_synthetic_task_grows() {
    // Twenty forests, each on its own stratified half of the samples, so that the interval
    // covers the draw of the data; it should narrow as the data set grows.
    let dir = tempfile::tempdir().unwrap();
    let config = probe_datasets::SyntheticConfig::default();
    let mut widths = Vec::new();
    for n in [2000, 8000, 32000] {
        let set = probe_datasets::synthetic(n, 0, &config).unwrap();
        let file = dir.path().join(format!("synthetic-{n}.safetensors"));
        let labels: Vec<i64> = set.labels.iter().map(|&l| i64::from(l)).collect();
        write_set(&file, &set.inputs, &[n, config.dim], &labels, "input");
        let results = alpha_run(&[&file], &["--repeats", "20", "--resample", "0.5"]);
        let layer = &results["layers"][0];
        assert_eq!(layer["resample"], 0.5);
        assert_eq!(layer["resample_n"], n / 2);
        assert_eq!(layer["n"], n);
        assert_eq!(results["settings"]["resample"], 0.5);
        eprintln!(
            "n = {n}: alpha {:.4}, half-width {:.4}",
            layer["alpha"],
            half_width(layer)
        );
        widths.push(half_width(layer));
    }
    assert!(
        widths[0] > widths[1] && widths[1] > widths[2],
        "half-widths {widths:?} do not shrink with n"
    );
}

#[test]
fn resampling_needs_repeats_and_a_fraction() {
    let dir = tempfile::tempdir().unwrap();
    let (x, y) = blobs(3, 100, 4, 1.0);
    let a = dir.path().join("a.safetensors");
    write_set(&a, &x, &[300, 4], &y, "a");
    let a = a.to_str().unwrap();
    for (args, says) in [
        (vec![a, "--resample", "0.5"], "more than one repeat"),
        (vec![a, "--repeats", "3", "--resample", "0"], "(0, 1]"),
        (vec![a, "--repeats", "3", "--resample", "1.5"], "(0, 1]"),
    ] {
        let o = run("probe-alpha", &args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = stderr(&o);
        assert!(err.contains("resample") && err.contains(says), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn comparing_runs_marks_differences_whose_intervals_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let set = |name: &str, spread: f32, layer: &str| {
        let (x, y) = blobs(4, 250, 8, spread);
        let path = dir.path().join(name);
        write_set(&path, &x, &[1000, 8], &y, layer);
        path
    };
    let (tight, loose, same) = (
        set("tight.safetensors", 0.5, "a"),
        set("loose.safetensors", 6.0, "a"),
        set("same.safetensors", 2.0, "b"),
    );
    for (run, files) in [("one", [&tight, &same]), ("two", [&loose, &same])] {
        let out = dir.path().join(run).join("results.json");
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let files = files.map(|f| f.as_path());
        alpha_run_into(&files, &["--repeats", "5"], &out);
    }
    let (one, two, cmp) = (
        dir.path().join("one"),
        dir.path().join("two"),
        dir.path().join("cmp"),
    );
    let o = run(
        "probe",
        &[
            "report",
            one.to_str().unwrap(),
            two.to_str().unwrap(),
            "--out",
            cmp.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    let row = |layer: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{layer} ")))
            .unwrap_or_else(|| panic!("no row for {layer} in\n{table}"))
            .to_string()
    };
    assert!(!row("a").contains('≈'), "{table}");
    assert!(row("b").contains("+0.0000≈"), "{table}");
    let page = std::fs::read_to_string(cmp.join("report.html")).unwrap();
    assert!(page.contains("<h2>Comparison</h2>") && page.contains("≈ overlap"));
    assert_eq!(page.matches("≈ overlap</span></td>").count(), 1, "only b");
}
