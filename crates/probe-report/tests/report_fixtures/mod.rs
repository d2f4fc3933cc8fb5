//! Runs built by hand for the plot and HTML tests: two runs over mostly shared layers, a
//! flagged layer, clustering scores, epochs with validation accuracy and embeddings.
#![allow(dead_code)] // each test binary uses a different part

use probe_alpha::{flag_layers, LayerRecord};
use probe_report::clustering::ClusteringScores;
use probe_report::{Accuracy, EpochProbe, LayerEmbedding, LayerResult, RunReport};

/// A record whose angle curve is −90 + steep·(τ − 0.3)³ on the τ grid, with τ*_k, α_k,
/// alpha and band computed from it as SPEC §3 does: steeper curves leave the −90° window
/// earlier and score a higher alpha.
pub fn record(layer: &str, index: i64, steep: f64) -> LayerRecord {
    let taus: Vec<f64> = (0..170).map(|i| (30 + i) as f64 / 100.0).collect();
    let curve: Vec<f64> = taus
        .iter()
        .map(|t| -90.0 + steep * (t - 0.3).powi(3))
        .collect();
    let eps1 = 0.1;
    let critical: Vec<f64> = (0..10)
        .map(|k| {
            let eps = eps1 + k as f64 * (4.0 * eps1 - eps1) / 10.0;
            taus.iter()
                .zip(&curve)
                .filter(|(_, a)| (**a + 90.0).abs() <= eps)
                .map(|(t, _)| *t)
                .fold(0.3, f64::max)
        })
        .collect();
    let alphas: Vec<f64> = critical.iter().map(|t| 1.0 / t - 0.5).collect();
    let alpha = alphas.iter().sum::<f64>() / alphas.len() as f64;
    let lo = alphas.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = alphas.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let json = serde_json::json!({
        "file": null, "layer": layer, "layer_index": index, "n": 400, "d": 64, "classes": 10,
        "alpha": alpha, "alphas": alphas, "critical_taus": critical, "band": [lo, hi],
        "n_wavelets": 1000, "trees": 5, "depth": 15, "max_features": "sqrt",
        "splitter": "binned", "epsilon": eps1, "norm": "samples", "seed": 2, "seconds": 0.5,
        "reduction": null, "explained_variance_ratio": null, "input_d": 64, "flag": null,
        "angle_curve": curve,
    });
    serde_json::from_value(json).expect("fixture record matches LayerRecord")
}

fn scores(level: f64) -> ClusteringScores {
    ClusteringScores {
        ari: level - 0.1,
        ami: level,
        homogeneity: level + 0.02,
        completeness: level - 0.02,
        v_measure: level,
        fowlkes_mallows: level + 0.05,
    }
}

/// Layers from (name, steepness, clustering level); flags set as the probe sets them.
pub fn layers(spec: &[(&str, f64, Option<f64>)]) -> Vec<LayerResult> {
    let mut records: Vec<LayerRecord> = spec
        .iter()
        .enumerate()
        .map(|(i, (name, steep, _))| record(name, i as i64, *steep))
        .collect();
    flag_layers(&mut records);
    records
        .into_iter()
        .zip(spec)
        .map(|(record, (_, _, level))| LayerResult {
            record,
            clustering: level.map(scores),
        })
        .collect()
}

/// Ten classes on ten circles, a deterministic spiral of points.
pub fn embedding(layer: &str, points: usize, spread: f32) -> LayerEmbedding {
    let labels: Vec<u32> = (0..points).map(|i| (i % 10) as u32).collect();
    let points = (0..points)
        .map(|i| {
            let class = (i % 10) as f32;
            let angle = class * 0.628;
            let jitter = (i as f32 * 12.9898).sin() * spread;
            let wobble = (i as f32 * 78.233).cos() * spread;
            [4.0 * angle.cos() + jitter, 4.0 * angle.sin() + wobble]
        })
        .collect();
    LayerEmbedding {
        layer: layer.into(),
        method: "umap".into(),
        points,
        labels,
        perplexity: None,
        n_neighbors: Some(15),
    }
}

/// The first run: three layers, `relu1` flagged (it does not rise above `input`'s band),
/// clustering on every layer, accuracy, three probed epochs and two embeddings.
pub fn run_a() -> RunReport {
    let spec = [
        ("input", 2.0, Some(0.2)),
        ("relu1", 2.2, Some(0.35)),
        ("relu2", 9.0, Some(0.7)),
    ];
    let epochs = (1..=3)
        .map(|epoch| EpochProbe {
            epoch,
            val_accuracy: Some(0.6 + 0.1 * epoch as f64),
            layers: layers(&[
                ("input", 2.0, None),
                ("relu1", 2.0 + epoch as f64, None),
                ("relu2", 2.0 + 3.0 * epoch as f64, None),
            ]),
        })
        .collect();
    RunReport {
        name: "mlp-clean".into(),
        settings: serde_json::json!({"trees": 5, "depth": 15, "epsilon": 0.1, "model": "mlp"}),
        layers: layers(&spec),
        accuracy: Some(Accuracy {
            epoch: Some(3),
            train: Some(0.97),
            val: Some(0.91),
            test: Some(0.9),
        }),
        epochs,
        embeddings: vec![embedding("input", 300, 2.5), embedding("relu2", 300, 0.6)],
    }
}

/// The second run: the same network with label noise, an extra `conv0` layer, clustering on
/// some layers only, validation accuracy only.
pub fn run_b() -> RunReport {
    RunReport {
        name: "mlp-noisy".into(),
        settings: serde_json::json!({"trees": 5, "noise": 0.2}),
        layers: layers(&[
            ("input", 2.0, None),
            ("conv0", 2.6, Some(0.25)),
            ("relu1", 3.5, Some(0.3)),
            ("relu2", 4.0, None),
        ]),
        accuracy: Some(Accuracy {
            val: Some(0.72),
            ..Accuracy::default()
        }),
        ..RunReport::default()
    }
}
