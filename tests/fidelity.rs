//! The reduction's fidelity at the original tool's K = 2,500, on real conv features: alpha
//! after each route of the truncated SVD against alpha after an exact SVD (faer, f64).

use std::path::Path;

use faer::Mat;
use probe_data::FeatureSet;

use crate::util::{run, stderr, write_set};

/// Mean alpha over forest seeds 1–5 (probe-alpha's defaults otherwise).
fn mean_alpha(file: &Path, out: &Path) -> f64 {
    let mut sum = 0.0;
    for seed in 1..=5 {
        let seed = seed.to_string();
        let args = [
            file.to_str().unwrap(),
            "--seed",
            &seed,
            "--out",
            out.to_str().unwrap(),
            "-q",
        ];
        let o = run("probe-alpha", &args);
        assert!(o.status.success(), "{}", stderr(&o));
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
        sum += r["layers"][0]["alpha"].as_f64().unwrap();
    }
    sum / 5.0
}

/// Reduces `file` with probe-reduce and returns the reduced file and its solver.
fn reduce(file: &Path, k: usize, algorithm: &str, dir: &Path) -> (std::path::PathBuf, String) {
    let out_dir = dir.join(format!("{algorithm}-{k}"));
    let k = k.to_string();
    let args = [
        file.to_str().unwrap(),
        "--dim",
        &k,
        "--algorithm",
        algorithm,
        "--out-dir",
        out_dir.to_str().unwrap(),
        "-q",
    ];
    let o = run("probe-reduce", &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let reduced = out_dir.join(file.file_name().unwrap());
    let solver = FeatureSet::open(&reduced).unwrap().metadata()["reduction_solver"].clone();
    (reduced, solver)
}

/// Called by the MNIST CNN test with its trained network's pool1 (3,000 × 6,272): at
/// K = 2,500 (the exact Gram route, which `auto` takes here, and the randomized SVD) and at
/// K = 256 (the Gram route's subspace iteration, and the randomized SVD), alpha after our
/// reduction is within 0.005 of alpha after the exact SVD's U·Σ.
pub fn alpha_after_reduction_matches_an_exact_svd(conv: &Path, dir: &Path) {
    let set = FeatureSet::open(conv).unwrap();
    let (n, d) = (set.n_samples(), set.n_features());
    let mut x = vec![0f32; n * d];
    set.read_rows_f32(0, &mut x);
    let labels: Vec<i64> = set
        .labels()
        .iter()
        .map(|&c| set.class_values()[c as usize])
        .collect();
    let svd = Mat::<f64>::from_fn(n, d, |i, j| f64::from(x[i * d + j]))
        .thin_svd()
        .unwrap();
    let (u, s) = (svd.U(), svd.S().column_vector());
    for (k, routes) in [
        (
            2500,
            [("auto", "gram (exact)"), ("randomized", "randomized (q=3)")],
        ),
        (
            256,
            [("gram", "gram (q=4)"), ("randomized", "randomized (q=3)")],
        ),
    ] {
        let exact: Vec<f32> = (0..n * k)
            .map(|p| (u[(p / k, p % k)] * s[p % k]) as f32)
            .collect();
        let exact_file = dir.join(format!("exact-{k}.safetensors"));
        write_set(&exact_file, &exact, &[n, k], &labels, "pool1");
        let want = mean_alpha(&exact_file, &dir.join("alpha.json"));
        for (algorithm, solver) in routes {
            let (file, used) = reduce(conv, k, algorithm, dir);
            assert_eq!(used, solver, "{algorithm} at K = {k}");
            let got = mean_alpha(&file, &dir.join("alpha.json"));
            eprintln!(
                "pool1 to K = {k}: alpha after {used} {got:.4}, after an exact SVD {want:.4}"
            );
            assert!(
                (got - want).abs() <= 0.005,
                "K = {k}, {used}: alpha {got} vs {want} after an exact SVD"
            );
        }
    }
}
