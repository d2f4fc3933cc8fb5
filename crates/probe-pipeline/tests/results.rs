//! results.json: every field written by the pipeline is read back equal through the same
//! typed schema, and the report's loader reads it.

use probe_alpha::{LayerRecord, RepeatStats};
use probe_forest::{MaxFeatures, Splitter, WaveletNorm};
use probe_pipeline::{load_run, CheckpointResults, Failure, Results, Settings};
use probe_reduce::Method;
use probe_report::clustering::ClusteringScores;
use probe_report::{Accuracy, LayerEmbedding, LayerResult};

fn record(layer: &str, alpha: f64) -> LayerRecord {
    LayerRecord {
        file: Some(format!("features/00_{layer}.safetensors")),
        layer: layer.into(),
        layer_index: Some(3),
        n: 120,
        d: 16,
        classes: 3,
        alpha,
        alphas: vec![alpha - 0.01, alpha, alpha + 0.01],
        critical_taus: vec![0.5, 0.6, 0.7],
        band: [alpha - 0.01, alpha + 0.01],
        n_wavelets: 321,
        trees: 5,
        depth: 15,
        max_features: MaxFeatures::Count(4),
        splitter: Splitter::Exact,
        epsilon: 0.1,
        norm: WaveletNorm::Volume,
        seed: 7,
        seconds: 0.125,
        reduction: Some("tsvd:10".into()),
        reduction_solver: Some("gram (exact)".into()),
        explained_variance_ratio: Some(0.987_654_321),
        input_d: 40,
        flag: Some("alpha 0.3 is not above the band of relu1".into()),
        angle_curve: vec![-80.5, -85.25, -89.0],
        repeats: None,
    }
}

#[test]
fn every_field_round_trips() {
    let results = Results {
        tool: "probe run".into(),
        version: "0.1.0".into(),
        settings: Settings {
            trees: 5,
            depth: 15,
            max_features: MaxFeatures::Count(4),
            splitter: Splitter::Exact,
            seed: 7,
            epsilon: 0.1,
            norm: WaveletNorm::Volume,
            reduce_to: Some(2500),
            reduce_method: Some(Method::Pca),
            threads: 2,
            repeats: 3,
            resample: Some(0.8),
        },
        layers: vec![
            LayerResult {
                record: LayerRecord {
                    repeats: Some(RepeatStats::new(vec![0.29, 0.3, 0.31])),
                    ..record("relu1", 0.3)
                },
                clustering: Some(ClusteringScores {
                    ari: 0.1,
                    ami: 0.2,
                    homogeneity: 0.3,
                    completeness: 0.4,
                    v_measure: 0.35,
                    fowlkes_mallows: 0.5,
                }),
            },
            LayerResult {
                record: record("relu2", 0.45),
                clustering: None,
            },
        ],
        accuracy: Some(Accuracy {
            epoch: Some(20),
            train: Some(0.99),
            val: Some(0.98),
            test: None,
        }),
        embeddings: vec![LayerEmbedding {
            layer: "relu1".into(),
            method: "umap".into(),
            points: vec![[0.5, -1.25], [2.0, 3.5]],
            labels: vec![0, 2],
            perplexity: None,
            n_neighbors: Some(15),
        }],
        failures: vec![Failure {
            file: "features/02_fc.safetensors".into(),
            error: "only 1 sample(s)".into(),
        }],
        checkpoints: vec![CheckpointResults {
            checkpoint: "epoch-003".into(),
            weights: "runs/x/checkpoint/epoch-003.safetensors".into(),
            epoch: Some(3),
            accuracy: None,
            layers: vec![LayerResult {
                record: record("relu2", 0.41),
                clustering: None,
            }],
            failures: Vec::new(),
        }],
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    results.save(&path).unwrap();
    assert_eq!(Results::load(&path).unwrap(), results);

    // The report reads the same file through the same schema.
    let run = load_run(dir.path()).unwrap();
    assert_eq!(run.layers, results.layers);
    assert_eq!(run.embeddings, results.embeddings);
    assert_eq!(run.accuracy, results.accuracy);
    assert_eq!(run.settings["reduce_to"], 2500);
}

#[test]
fn a_results_file_of_another_shape_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.json");
    std::fs::write(&path, "{\"layers\": 3}").unwrap();
    let err = Results::load(&path).unwrap_err().to_string();
    assert!(err.contains("results.json"), "{err}");
    let err = load_run(dir.path()).unwrap_err().to_string();
    assert!(err.contains("results.json"), "{err}");
}
