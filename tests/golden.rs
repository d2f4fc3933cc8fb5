//! The golden files of `../shared/golden`: an exact check of the wavelet and alpha steps on
//! a fixed forest, and a statistical check of the whole forest on real MNIST digits.

use probe_alpha::{AlphaParams, Probe};
use probe_data::FeatureSet;
use probe_forest::{Forest, ForestParams, NodeSpec, Split, Tree, WaveletNorm};
use serde_json::Value;

use crate::util::{mnist, numbers, shared, write_set};

fn assert_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, want {w}");
    }
}

#[test]
fn fixed_forest_norms_angles_and_alphas_match_to_1e9() {
    let Some(path) = shared("golden/fixed-forest-alpha.json") else {
        return;
    };
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut trees = Vec::new();
    for (t, tree) in golden["trees"].as_array().unwrap().iter().enumerate() {
        let parent = tree["parent"].as_array().unwrap();
        let feature = tree["feature"].as_array().unwrap();
        let threshold = numbers(&tree["threshold"]);
        let fraction = numbers(&tree["sample_fraction"]);
        let specs: Vec<NodeSpec> = (0..parent.len())
            .map(|i| NodeSpec {
                parent: usize::try_from(parent[i].as_i64().unwrap()).ok(),
                split: usize::try_from(feature[i].as_i64().unwrap())
                    .ok()
                    .map(|feature| Split {
                        feature,
                        threshold: threshold[i],
                    }),
                distribution: numbers(&tree["class_distribution"][i]),
                sample_fraction: fraction[i],
            })
            .collect();
        let built = Tree::from_nodes(specs).unwrap();
        let norms = built.wavelet_norms(WaveletNorm::Samples);
        assert_close(
            &format!("tree {t} norms"),
            &norms,
            &numbers(&tree["expected_norm"]),
            1e-9,
        );
        trees.push(built);
    }
    let forest = Forest::from_trees(trees).unwrap();
    assert_eq!(forest.n_trees() as u64, golden["n_trees"].as_u64().unwrap());
    let estimate = AlphaParams::default()
        .epsilon(golden["epsilon_low"].as_f64().unwrap())
        .epsilon_high(golden["epsilon_high"].as_f64().unwrap())
        .check()
        .unwrap()
        .estimate(
            &forest.wavelet_norms(WaveletNorm::Samples),
            forest.n_trees(),
        )
        .unwrap();
    assert_close("taus", &estimate.taus, &numbers(&golden["taus"]), 1e-12);
    assert_close(
        "angles",
        &estimate.angle_curve,
        &numbers(&golden["expected_angles_deg"]),
        1e-9,
    );
    assert_close(
        "critical taus",
        &estimate.critical_taus,
        &numbers(&golden["expected_critical_taus"]),
        1e-9,
    );
    assert_close(
        "alphas",
        &estimate.alphas,
        &numbers(&golden["expected_alphas"]),
        1e-9,
    );
    let alpha = golden["expected_alpha"].as_f64().unwrap();
    assert!((estimate.alpha - alpha).abs() <= 1e-9);
}

#[test]
fn mnist5k_pixels_mean_alpha_over_seeds_1_to_5_is_within_tolerance() {
    let Some(path) = shared("golden/mnist5k-pixels-alpha.json") else {
        return;
    };
    let golden: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let Some((x, y)) = mnist(5000) else {
        return;
    };
    // Through the file format, as a user would run it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pixels.safetensors");
    write_set(&file, &x, &[5000, 28, 28], &y, "pixels");
    let set = FeatureSet::open(&file).unwrap();
    let alphas: Vec<f64> = (1..=5)
        .map(|seed| {
            Probe::new(
                ForestParams::default().seed(seed),
                AlphaParams::default(),
                WaveletNorm::Samples,
            )
            .unwrap()
            .run(&set, &|| {})
            .unwrap()
            .alpha
        })
        .collect();
    let mean = alphas.iter().sum::<f64>() / 5.0;
    let want = golden["mean"].as_f64().unwrap();
    let tol = golden["tolerance"].as_f64().unwrap();
    eprintln!("mnist5k alphas {alphas:?}, mean {mean:.4}, reference {want:.4}");
    assert!(
        (mean - want).abs() <= tol,
        "mean alpha {mean} is not within {tol} of the reference {want}"
    );
}
