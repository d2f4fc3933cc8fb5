//! 2-D embeddings: class structure survives, a seed fixes the result, bad input is refused.

use probe_report::embedding::{
    embed, subsample, EmbeddingMethod, EmbeddingParams, ValidEmbeddingParams, MAX_POINTS,
};
use probe_report::{Error, LayerEmbedding};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const D: usize = 20;

/// `per_class` points around each of 3 centres 10 apart in 20-D, unit Gaussian noise,
/// classes interleaved so that a subsample keeps all three.
fn blobs(per_class: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for i in 0..3 * per_class {
        let class = i % 3;
        for j in 0..D {
            // Box–Muller: rand_distr is not a dependency of this crate.
            let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
            let noise = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
            let centre = if j == class { 10.0 } else { 0.0 };
            points.push((centre + noise) as f32);
        }
        labels.push(class as u32 + 5);
    }
    (points, labels)
}

/// Leave-one-out accuracy of a 5-nearest-neighbour vote in the embedding.
fn knn_accuracy(e: &LayerEmbedding) -> f64 {
    let p = &e.points;
    let mut correct = 0;
    for i in 0..p.len() {
        let mut by_distance: Vec<(f32, u32)> = (0..p.len())
            .filter(|&j| j != i)
            .map(|j| {
                let d = (p[i][0] - p[j][0]).powi(2) + (p[i][1] - p[j][1]).powi(2);
                (d, e.labels[j])
            })
            .collect();
        by_distance.sort_by(|a, b| a.0.total_cmp(&b.0));
        let votes = by_distance[..5]
            .iter()
            .filter(|(_, l)| *l == e.labels[i])
            .count();
        if votes >= 3 {
            correct += 1;
        }
    }
    correct as f64 / p.len() as f64
}

/// Runs `f` in a one-thread rayon pool: parallel parts must give the same bits there.
fn on_one_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(f)
}

fn params(method: EmbeddingMethod) -> ValidEmbeddingParams {
    EmbeddingParams::default()
        .method(method)
        .seed(11)
        .check()
        .unwrap()
}

fn check_separates(method: EmbeddingMethod) {
    let (points, labels) = blobs(100, 1);
    let e = embed(&points, 300, D, &labels, "hidden", &params(method)).unwrap();
    assert_eq!(e.layer, "hidden");
    assert_eq!(e.method, method.to_string());
    assert_eq!(e.points.len(), 300);
    assert_eq!(e.labels, labels);
    assert!(e.points.iter().flatten().all(|v| v.is_finite()));
    let acc = knn_accuracy(&e);
    assert!(acc >= 0.95, "{method}: 5-NN accuracy {acc}");
}

#[test]
fn umap_keeps_blobs_apart() {
    check_separates(EmbeddingMethod::Umap);
}

#[test]
fn tsne_keeps_blobs_apart() {
    check_separates(EmbeddingMethod::Tsne);
}

#[test]
fn umap_is_deterministic_for_a_seed() {
    let (points, labels) = blobs(60, 2);
    let p = params(EmbeddingMethod::Umap);
    let first = embed(&points, 180, D, &labels, "l", &p).unwrap();
    assert_eq!(
        first,
        on_one_thread(|| embed(&points, 180, D, &labels, "l", &p).unwrap())
    );
    let other_seed = EmbeddingParams::default().seed(12).check().unwrap();
    assert_ne!(
        first.points,
        embed(&points, 180, D, &labels, "l", &other_seed)
            .unwrap()
            .points
    );
}

#[test]
fn tsne_is_deterministic_for_a_seed() {
    let (points, labels) = blobs(40, 3);
    let p = EmbeddingParams::default()
        .method(EmbeddingMethod::Tsne)
        .perplexity(10.0)
        .iterations(300)
        .seed(5)
        .check()
        .unwrap();
    let first = embed(&points, 120, D, &labels, "l", &p).unwrap();
    assert_eq!(first, embed(&points, 120, D, &labels, "l", &p).unwrap());
    assert_eq!(
        first,
        on_one_thread(|| embed(&points, 120, D, &labels, "l", &p).unwrap())
    );
}

#[test]
fn large_layers_are_subsampled() {
    let (points, labels) = blobs(100, 4);
    let p = EmbeddingParams::default()
        .max_points(120)
        .n_neighbors(10)
        .iterations(50)
        .check()
        .unwrap();
    let e = embed(&points, 300, D, &labels, "l", &p).unwrap();
    let picked = subsample(300, 120, p.seed());
    assert_eq!(e.points.len(), 120);
    assert_eq!(
        e.labels,
        picked.iter().map(|&i| labels[i]).collect::<Vec<_>>()
    );
}

#[test]
fn subsample_is_sorted_distinct_and_seeded() {
    let s = subsample(1000, 100, 9);
    assert_eq!(s.len(), 100);
    assert!(s.windows(2).all(|w| w[0] < w[1]));
    assert!(s.iter().all(|&i| i < 1000));
    assert_eq!(s, subsample(1000, 100, 9));
    assert_ne!(s, subsample(1000, 100, 10));
    assert_eq!(subsample(50, 100, 9), (0..50).collect::<Vec<_>>());
}

#[test]
fn one_dimensional_layers_embed() {
    let points: Vec<f32> = (0..60)
        .map(|i| (i / 20) as f32 * 100.0 + (i % 20) as f32)
        .collect();
    let labels: Vec<u32> = (0..60).map(|i| i / 20).collect();
    for method in [EmbeddingMethod::Umap, EmbeddingMethod::Tsne] {
        let p = EmbeddingParams::default()
            .method(method)
            .perplexity(5.0)
            .n_neighbors(5)
            .iterations(200)
            .check()
            .unwrap();
        let e = embed(&points, 60, 1, &labels, "l", &p).unwrap();
        assert_eq!(e.points.len(), 60, "{method}");
    }
}

#[test]
fn method_names_round_trip() {
    for m in [EmbeddingMethod::Umap, EmbeddingMethod::Tsne] {
        assert_eq!(m.to_string().parse::<EmbeddingMethod>(), Ok(m));
        assert_eq!(serde_json::to_string(&m).unwrap(), format!("\"{m}\""));
    }
    assert!("pca".parse::<EmbeddingMethod>().is_err());
    assert!("UMAP".parse::<EmbeddingMethod>().is_err());
}

#[test]
fn unknown_method_names_are_typed_errors() {
    let e = "pca".parse::<EmbeddingMethod>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "`pca` is not an embedding method: use umap or tsne"
    );
    let _: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
}

#[test]
fn checked_params_deserialise_only_through_the_check() {
    let good = params(EmbeddingMethod::Tsne);
    let json = serde_json::to_string(&good).unwrap();
    assert_eq!(
        serde_json::from_str::<ValidEmbeddingParams>(&json).unwrap(),
        good
    );
    let bad = json.replace("\"max_points\":2500", "\"max_points\":1");
    assert_ne!(bad, json);
    let e = serde_json::from_str::<ValidEmbeddingParams>(&bad).unwrap_err();
    assert!(e.to_string().contains("max_points"), "{e}");
}

fn rejected(p: EmbeddingParams, name: &str) {
    match p.check() {
        Err(Error::InvalidParameter { name: got, .. }) => assert_eq!(got, name),
        other => panic!("expected {name} to be rejected, got {other:?}"),
    }
}

#[test]
fn params_reject_too_many_points() {
    rejected(
        EmbeddingParams::default().max_points(MAX_POINTS + 1),
        "max_points",
    );
    rejected(EmbeddingParams::default().max_points(1), "max_points");
    assert!(EmbeddingParams::default()
        .max_points(MAX_POINTS)
        .check()
        .is_ok());
}

#[test]
fn params_reject_bad_perplexity() {
    for p in [0.0, -3.0, f64::NAN, f64::INFINITY] {
        rejected(EmbeddingParams::default().perplexity(p), "perplexity");
    }
}

#[test]
fn params_reject_bad_neighbourhood() {
    rejected(EmbeddingParams::default().n_neighbors(1), "n_neighbors");
    rejected(EmbeddingParams::default().n_neighbors(201), "n_neighbors");
}

#[test]
fn params_reject_zero_iterations() {
    rejected(EmbeddingParams::default().iterations(0), "iterations");
}

#[test]
fn small_layers_get_a_lower_perplexity_that_is_recorded() {
    // n = 60: perplexity 30 needs 91 points; 59 / 3 fits.
    let (points, labels) = blobs(20, 5);
    let tsne = EmbeddingParams::default()
        .method(EmbeddingMethod::Tsne)
        .iterations(250)
        .check()
        .unwrap();
    let e = embed(&points, 60, D, &labels, "l", &tsne).unwrap();
    assert_eq!(e.points.len(), 60);
    assert_eq!(e.perplexity, Some(59.0 / 3.0));
    assert_eq!(e.n_neighbors, None);
    assert!(e.points.iter().flatten().all(|v| v.is_finite()));
    // A layer large enough keeps the perplexity asked for.
    let (points, labels) = blobs(40, 5);
    let e = embed(&points, 120, D, &labels, "l", &tsne).unwrap();
    assert_eq!(e.perplexity, Some(30.0));
}

#[test]
fn small_layers_get_a_smaller_neighbourhood_that_is_recorded() {
    let (points, labels) = blobs(10, 5);
    let umap = EmbeddingParams::default()
        .n_neighbors(30)
        .iterations(50)
        .check()
        .unwrap();
    let e = embed(&points, 30, D, &labels, "l", &umap).unwrap();
    assert_eq!(
        (e.points.len(), e.n_neighbors, e.perplexity),
        (30, Some(29), None)
    );
    let e = embed(&points[..5 * D], 5, D, &labels[..5], "l", &umap).unwrap();
    assert_eq!((e.points.len(), e.n_neighbors), (5, Some(4)));
    assert!(e.points.iter().flatten().all(|v| v.is_finite()));
}

#[test]
fn layers_too_small_for_any_setting_are_a_typed_error() {
    let (points, labels) = blobs(10, 5);
    let tsne = params(EmbeddingMethod::Tsne);
    let err = embed(&points[..5 * D], 5, D, &labels[..5], "l", &tsne).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooFewPoints {
                method: "tsne",
                n: 5,
                min: 7
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "tsne needs at least 7 points, the layer has 5"
    );
    let umap = params(EmbeddingMethod::Umap);
    let err = embed(&points[..2 * D], 2, D, &labels[..2], "l", &umap).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TooFewPoints {
                method: "umap",
                n: 2,
                min: 3
            }
        ),
        "{err}"
    );
}

#[test]
fn layer_extras_skip_an_embedding_too_small_with_a_note() {
    use probe_data::FeatureSet;
    use probe_report::layer_extras;
    let (points, labels) = blobs(10, 5);
    let raw: Vec<i64> = labels[..5].iter().map(|&l| i64::from(l)).collect();
    let layer = std::collections::BTreeMap::from([("layer".to_string(), "fc".to_string())]);
    let set = FeatureSet::from_f32(points[..5 * D].to_vec(), &[5, D], &raw, layer).unwrap();
    let tsne = params(EmbeddingMethod::Tsne);
    let extras = layer_extras(&set, None, Some(&tsne)).unwrap();
    assert!(extras.embedding.is_none());
    assert_eq!(
        extras.notes,
        ["fc: no embedding: tsne needs at least 7 points, the layer has 5"]
    );
}

#[test]
fn bad_input_is_an_error() {
    let (mut points, labels) = blobs(10, 6);
    let p = params(EmbeddingMethod::Umap);
    assert!(matches!(
        embed(&points, 31, D, &labels, "l", &p),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        embed(&points, 30, D, &labels[1..], "l", &p),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        embed(&[], 0, D, &[], "l", &p),
        Err(Error::InvalidInput { .. })
    ));
    points[3] = f32::INFINITY;
    assert!(matches!(
        embed(&points, 30, D, &labels, "l", &p),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn identical_points_give_finite_layouts() {
    let points = vec![1.5f32; 40 * 3];
    let labels = vec![0u32; 40];
    for method in [EmbeddingMethod::Umap, EmbeddingMethod::Tsne] {
        let p = EmbeddingParams::default()
            .method(method)
            .perplexity(5.0)
            .iterations(100)
            .check()
            .unwrap();
        let e = embed(&points, 40, 3, &labels, "l", &p).unwrap();
        assert!(e.points.iter().flatten().all(|v| v.is_finite()), "{method}");
    }
}
