//! The clustering scores against scikit-learn's, and k-means on separable data.
//!
//! Expected values: scikit-learn 1.9.1 (numpy 2.4.6, scipy 1.17.1, Python 3.11.7), printed by
//! `python3 scripts/clustering_expected.py`, which holds the same label vectors. In short, for
//! each pair (t, p) it printed
//!
//! ```python
//! from sklearn import metrics
//! [metrics.adjusted_rand_score(t, p),
//!  metrics.adjusted_mutual_info_score(t, p, average_method="arithmetic"),
//!  metrics.homogeneity_score(t, p), metrics.completeness_score(t, p),
//!  metrics.v_measure_score(t, p, beta=1.0), metrics.fowlkes_mallows_score(t, p)]
//! ```

use probe_report::clustering::{
    adjusted_mutual_info_score, adjusted_rand_score, cluster_layer, completeness_score,
    fowlkes_mallows_score, homogeneity_score, kmeans, kmeans_with, scores, v_measure_score,
    ClusteringParams, ClusteringScores,
};
use probe_report::Error;

const TOLERANCE: f64 = 1e-9;

/// One labeling pair's name and scikit-learn's six scores in the order ARI, AMI,
/// homogeneity, completeness, V-measure, Fowlkes–Mallows.
type Case = (&'static str, [f64; 6]);

const CASES: &[Case] = &[
    // Printed by scripts/clustering_expected.py with scikit-learn 1.9.1.
    (
        "randomish_30",
        [
            0.5849456665783196,
            0.6037535176884345,
            0.7235823474029943,
            0.5763304686662,
            0.6416161887816308,
            0.7031441990842862,
        ],
    ),
    (
        "unequal_50",
        [
            0.5844380403458214,
            0.6025161488463135,
            0.828481429741064,
            0.5087116839047852,
            0.6303624792956304,
            0.8903941884722695,
        ],
    ),
    ("permutation", [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    ("both_single_cluster", [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
    (
        "true_single_cluster",
        [0.0, 0.0, 1.0, 0.0, 0.0, 0.4472135954999579],
    ),
    (
        "pred_single_cluster",
        [0.0, 0.0, 0.0, 1.0, 0.0, 0.4472135954999579],
    ),
    ("all_singletons", [1.0, 1.0, 1.0, 1.0, 1.0, 0.0]),
    (
        "singletons_vs_pairs",
        [
            0.0,
            -6.406853007629838e-16,
            0.6989700043360187,
            0.9999999999999999,
            0.8228161798644419,
            0.0,
        ],
    ),
    ("two_points_split", [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]),
    (
        "formula_200",
        [
            -0.016182872438500886,
            -0.020590350118882154,
            0.0006555688528600082,
            0.0007797267834887213,
            0.0007122777775542946,
            0.21350021082243353,
        ],
    ),
    (
        "formula_2000",
        [
            0.19945715982998122,
            0.6154281047714535,
            0.4900703241563637,
            0.9042362518971071,
            0.6356412007113083,
            0.33470774756883537,
        ],
    ),
    ("empty", [1.0, 1.0, 1.0, 1.0, 1.0, 0.0]),
];

/// The label vectors of `scripts/clustering_expected.py`, by case name.
fn labels(name: &str) -> (Vec<u32>, Vec<u32>) {
    match name {
        "randomish_30" => (
            vec![
                0, 2, 1, 1, 0, 2, 2, 0, 1, 0, 1, 2, 0, 0, 1, 2, 1, 0, 2, 2, 1, 0, 1, 2, 0, 1, 2, 0,
                0, 1,
            ],
            vec![
                3, 1, 0, 0, 3, 2, 1, 3, 2, 3, 0, 1, 0, 3, 0, 1, 2, 3, 1, 2, 0, 3, 0, 1, 3, 2, 1, 2,
                3, 0,
            ],
        ),
        "unequal_50" => {
            let t = [vec![0; 45], vec![1; 3], vec![2; 2]].concat();
            let p = [vec![0; 40], vec![1; 5], vec![2; 5]].concat();
            (t, p)
        }
        "permutation" => (
            vec![0, 0, 1, 1, 1, 2, 2, 3],
            vec![7, 7, 4_000_000_000, 4_000_000_000, 4_000_000_000, 0, 0, 9],
        ),
        "both_single_cluster" => (vec![4; 6], vec![9; 6]),
        "true_single_cluster" => (vec![1; 6], vec![0, 0, 1, 1, 2, 2]),
        "pred_single_cluster" => (vec![0, 0, 1, 1, 2, 2], vec![1; 6]),
        "all_singletons" => ((0..10).collect(), (0..10).map(|i| 9 - i).collect()),
        "singletons_vs_pairs" => ((0..10).collect(), (0..10).map(|i| i / 2).collect()),
        "two_points_split" => (vec![0, 1], vec![0, 0]),
        "formula_200" => (
            (0..200).map(|i| i % 5).collect(),
            (0..200).map(|i| (i * i + 3 * i) % 7).collect(),
        ),
        // 70 classes against 10 clusters: a long EMI sum.
        "formula_2000" => (
            (0..2000).map(|i| i * 7 / 200).collect(),
            (0..2000)
                .map(|i| (i * 7 / 200 + if i % 13 == 0 { i % 3 } else { 0 }) % 10)
                .collect(),
        ),
        "empty" => (vec![], vec![]),
        _ => unreachable!("no case {name}"),
    }
}

fn as_array(s: &ClusteringScores) -> [f64; 6] {
    [
        s.ari,
        s.ami,
        s.homogeneity,
        s.completeness,
        s.v_measure,
        s.fowlkes_mallows,
    ]
}

const NAMES: [&str; 6] = [
    "ARI",
    "AMI",
    "homogeneity",
    "completeness",
    "V-measure",
    "Fowlkes-Mallows",
];

#[test]
fn scores_match_scikit_learn() {
    for &(name, expected) in CASES {
        let (t, p) = labels(name);
        let ours = as_array(&scores(&t, &p).unwrap());
        for i in 0..6 {
            assert!(
                (ours[i] - expected[i]).abs() <= TOLERANCE,
                "{name} {}: ours {} sklearn {}",
                NAMES[i],
                ours[i],
                expected[i]
            );
        }
    }
}

#[test]
fn single_metric_functions_agree_with_scores() {
    for &(name, _) in CASES {
        let (t, p) = labels(name);
        let all = scores(&t, &p).unwrap();
        let single = [
            adjusted_rand_score(&t, &p).unwrap(),
            adjusted_mutual_info_score(&t, &p).unwrap(),
            homogeneity_score(&t, &p).unwrap(),
            completeness_score(&t, &p).unwrap(),
            v_measure_score(&t, &p).unwrap(),
            fowlkes_mallows_score(&t, &p).unwrap(),
        ];
        assert_eq!(single, as_array(&all), "{name}");
    }
}

#[test]
fn label_values_do_not_matter() {
    let (t, p) = labels("randomish_30");
    // Reversing the order of the names reorders the sums, hence a rounding-size tolerance.
    let renamed: Vec<u32> = p.iter().map(|&c| u32::MAX - 17 * c).collect();
    let a = as_array(&scores(&t, &p).unwrap());
    let b = as_array(&scores(&t, &renamed).unwrap());
    for i in 0..6 {
        assert!(
            (a[i] - b[i]).abs() <= 1e-15,
            "{}: {} vs {}",
            NAMES[i],
            a[i],
            b[i]
        );
    }
}

#[test]
fn different_lengths_are_an_error() {
    let err = scores(&[0, 1, 1], &[0, 1]).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    assert!(adjusted_mutual_info_score(&[0], &[]).is_err());
}

/// Three tight blobs in 5-D, far apart: 30 points each, classes named 10, 20, 30.
fn blobs() -> (Vec<f32>, Vec<u32>) {
    let (n_per, d) = (30, 5);
    let mut points = Vec::new();
    let mut labels = Vec::new();
    for (c, class) in [10u32, 20, 30].into_iter().enumerate() {
        for i in 0..n_per {
            for j in 0..d {
                // A small deterministic jitter in [-0.5, 0.5).
                let jitter = ((i * 31 + j * 17 + c * 7) % 23) as f32 / 23.0 - 0.5;
                let centre = if j == c { 50.0 } else { 0.0 };
                points.push(centre + jitter);
            }
            labels.push(class);
        }
    }
    (points, labels)
}

#[test]
fn kmeans_recovers_separated_blobs() {
    let (points, labels) = blobs();
    let params = ClusteringParams::default().seed(7).check().unwrap();
    let s = cluster_layer(&points, 90, 5, &labels, &params).unwrap();
    assert_eq!(s.ari, 1.0);
    assert_eq!(s.ami, 1.0);
    assert_eq!(s.fowlkes_mallows, 1.0);
}

#[test]
fn kmeans_is_deterministic_for_a_seed() {
    // Overlapping clouds, so that starts matter.
    let points: Vec<f32> = (0..400 * 3)
        .map(|i| ((i * 7919 + 13) % 1000) as f32 / 100.0)
        .collect();
    let first = kmeans(&points, 400, 3, 4, 42).unwrap();
    assert_eq!(first.len(), 400);
    assert!(first.iter().all(|&c| c < 4));
    for _ in 0..3 {
        assert_eq!(kmeans(&points, 400, 3, 4, 42).unwrap(), first);
    }
}

#[test]
fn kmeans_rejects_bad_k() {
    let (points, _) = blobs();
    for k in [0, 91] {
        let err = kmeans(&points, 90, 5, k, 0).unwrap_err();
        assert!(
            matches!(err, Error::InvalidParameter { name: "k", .. }),
            "{err}"
        );
    }
}

#[test]
fn kmeans_rejects_bad_points() {
    let (mut points, labels) = blobs();
    assert!(matches!(
        kmeans(&points, 91, 5, 3, 0),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        kmeans(&points[..0], 0, 0, 1, 0),
        Err(Error::InvalidInput { .. })
    ));
    points[7] = f32::NAN;
    assert!(matches!(
        kmeans(&points, 90, 5, 3, 0),
        Err(Error::InvalidInput { .. })
    ));
    let params = ClusteringParams::default().check().unwrap();
    assert!(matches!(
        cluster_layer(&points, 90, 5, &labels[1..], &params),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn params_reject_zero_runs() {
    let err = ClusteringParams::default().n_runs(0).check().unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidParameter { name: "n_runs", .. }
    ));
}

#[test]
fn params_reject_zero_iterations() {
    let err = ClusteringParams::default()
        .max_iters(0)
        .check()
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidParameter {
            name: "max_iters",
            ..
        }
    ));
}

#[test]
fn params_reject_bad_tolerance() {
    for tol in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let err = ClusteringParams::default()
            .tolerance(tol)
            .check()
            .unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidParameter {
                name: "tolerance",
                ..
            }
        ));
    }
}

#[test]
fn kmeans_with_one_cluster_puts_everything_together() {
    let (points, _) = blobs();
    let params = ClusteringParams::default().n_runs(1).check().unwrap();
    assert_eq!(
        kmeans_with(&points, 90, 5, 1, &params).unwrap(),
        vec![0; 90]
    );
}
