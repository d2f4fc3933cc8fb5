//! The synthetic task: determinism, shapes, balance, and a crude check that single raw
//! features do not separate the classes.

mod common;

use common::assert_message;
use probe_datasets::{synthetic, Dataset, Error, SyntheticConfig};

#[test]
fn deterministic_per_seed_and_task_seed() {
    let cfg = SyntheticConfig::default();
    let a = synthetic(500, 1, &cfg).unwrap();
    assert_eq!(a, synthetic(500, 1, &cfg).unwrap());
    let b = synthetic(500, 2, &cfg).unwrap();
    assert_ne!(a.inputs, b.inputs);
    let other_task = SyntheticConfig {
        task_seed: 9,
        ..cfg.clone()
    };
    assert_ne!(a.inputs, synthetic(500, 1, &other_task).unwrap().inputs);
    // Golden values: the generator must not drift between versions or platforms (the
    // tolerance allows for last-bit differences of sin/cos/ln between math libraries).
    let want = [
        -0.176_896_81f32,
        -0.074_816_81,
        -0.039_512_92,
        -0.243_007_51,
    ];
    for (got, want) in a.sample(0)[..4].iter().zip(want) {
        assert!((got - want).abs() < 1e-5, "{:?}", &a.sample(0)[..4]);
    }
    assert_eq!(a.labels[0], 1);
}

#[test]
fn shapes_classes_and_balance() {
    let cfg = SyntheticConfig::default();
    let data = synthetic(1003, 4, &cfg).unwrap();
    assert_eq!(data.name, "synthetic");
    assert_eq!(data.shape, [32]);
    assert_eq!((data.len(), data.n_classes), (1003, 5));
    assert_eq!(data.inputs.len(), 1003 * 32);
    assert!(data.inputs.iter().all(|v| v.is_finite()));
    let counts = data.class_counts();
    assert_eq!(counts, [201, 201, 201, 200, 200]);

    let small = SyntheticConfig {
        classes: 3,
        dim: 6,
        ..Default::default()
    };
    let data = synthetic(30, 0, &small).unwrap();
    assert_eq!((data.shape.as_slice(), data.n_classes), (&[6][..], 3));
    assert_eq!(data.class_counts(), [10, 10, 10]);
    assert!(synthetic(0, 0, &small).unwrap().is_empty());
}

/// Accuracy on the second half of a 1-D rule fitted on the first half: the feature is cut
/// into `bins` quantile bins, each predicting its majority class.
fn single_feature_accuracy(data: &Dataset, feature: usize, bins: usize) -> f64 {
    let d = data.sample_len();
    let half = data.len() / 2;
    let value = |i: usize| data.inputs[i * d + feature];
    let mut train: Vec<f32> = (0..half).map(value).collect();
    train.sort_by(f32::total_cmp);
    let edges: Vec<f32> = (1..bins).map(|b| train[b * half / bins]).collect();
    let bin = |v: f32| edges.partition_point(|&e| e <= v);
    let mut votes = vec![vec![0usize; data.n_classes]; bins];
    for i in 0..half {
        votes[bin(value(i))][data.labels[i] as usize] += 1;
    }
    let majority: Vec<u32> = votes
        .iter()
        .map(|v| (0..v.len()).max_by_key(|&c| v[c]).unwrap() as u32)
        .collect();
    let hits = (half..data.len())
        .filter(|&i| majority[bin(value(i))] == data.labels[i])
        .count();
    hits as f64 / (data.len() - half) as f64
}

#[test]
fn no_single_raw_feature_separates_the_classes() {
    let data = synthetic(6000, 3, &SyntheticConfig::default()).unwrap();
    let mut best = 0.0f64;
    for j in 0..data.sample_len() {
        for bins in [2, 16] {
            best = best.max(single_feature_accuracy(&data, j, bins));
        }
    }
    // Chance is 20%; a rule on one feature must stay far from what a network reaches.
    assert!(best < 0.4, "best single-feature accuracy {best}");
}

#[test]
fn the_classes_are_separable_in_the_latent_plane() {
    // Sanity check of the construction: with no nuisance and no fold the inputs are the spiral
    // rotated into 32-D, so the nearest neighbour (in input space) almost always shares the class.
    let cfg = SyntheticConfig {
        nuisance: 0.0,
        fold: 0.0,
        ..Default::default()
    };
    let data = synthetic(1500, 5, &cfg).unwrap();
    let d = data.sample_len();
    let mut hits = 0;
    for i in 0..data.len() {
        let xi = data.sample(i);
        let nearest = (0..data.len())
            .filter(|&j| j != i)
            .min_by(|&a, &b| {
                let da: f32 = data
                    .sample(a)
                    .iter()
                    .zip(xi)
                    .map(|(p, q)| (p - q).powi(2))
                    .sum();
                let db: f32 = data
                    .sample(b)
                    .iter()
                    .zip(xi)
                    .map(|(p, q)| (p - q).powi(2))
                    .sum();
                da.total_cmp(&db)
            })
            .unwrap();
        hits += usize::from(data.labels[nearest] == data.labels[i]);
    }
    assert_eq!(d, 32);
    let acc = hits as f64 / data.len() as f64;
    assert!(acc > 0.95, "1-NN accuracy {acc}");
}

#[test]
fn error_bad_config_names_the_field() {
    let cases: [(SyntheticConfig, &str); 6] = [
        (
            SyntheticConfig {
                classes: 1,
                ..Default::default()
            },
            "synthetic.classes = 1",
        ),
        (
            SyntheticConfig {
                dim: 3,
                ..Default::default()
            },
            "synthetic.dim = 3",
        ),
        (
            SyntheticConfig {
                turns: 0.0,
                ..Default::default()
            },
            "synthetic.turns = 0.0",
        ),
        (
            SyntheticConfig {
                latent_noise: -1.0,
                ..Default::default()
            },
            "synthetic.latent_noise = -1.0",
        ),
        (
            SyntheticConfig {
                nuisance: f64::NAN,
                ..Default::default()
            },
            "synthetic.nuisance = NaN",
        ),
        (
            SyntheticConfig {
                fold: f64::INFINITY,
                ..Default::default()
            },
            "synthetic.fold = inf",
        ),
    ];
    for (cfg, name) in cases {
        let err = synthetic(10, 0, &cfg).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { .. }), "{err:?}");
        assert_message(&err, name, &["expected"]);
    }
}
