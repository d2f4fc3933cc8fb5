//! Datasets: construction checks, seeded splits and subsets, label noise, normalization.

mod common;

use std::collections::HashSet;

use common::assert_message;
use probe_datasets::{Dataset, Error, Normalization};

/// `n` samples of shape [2, 3] whose values all equal the sample index, labels `i % 4`.
fn indexed(n: usize) -> Dataset {
    let inputs = (0..n).flat_map(|i| [i as f32; 6]).collect();
    let labels = (0..n).map(|i| (i % 4) as u32).collect();
    Dataset::new("toy", vec![2, 3], 4, inputs, labels).unwrap()
}

/// The sample indices of a part of `indexed` (each sample's value is its index).
fn ids(part: &Dataset) -> Vec<usize> {
    (0..part.len())
        .map(|i| part.sample(i)[0] as usize)
        .collect()
}

#[test]
fn new_checks_inputs_shape_and_labels() {
    let data = indexed(5);
    assert_eq!((data.len(), data.sample_len(), data.channels()), (5, 6, 2));
    assert!(!data.is_empty());
    assert_eq!(data.class_counts(), [2, 1, 1, 1]);

    let err = Dataset::new("short", vec![2, 3], 4, vec![0.0; 11], vec![0, 1]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DatasetShape {
                values: 11,
                n: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(
        &err,
        "<short dataset>",
        &["11 values", "2 samples", "need 12"],
    );

    let err = Dataset::new("lab", vec![1], 3, vec![0.0; 2], vec![0, 3]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::BadLabel {
                index: 1,
                label: 3,
                n_classes: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, "<lab dataset>", &["label 3", "0 to 2"]);

    let err = Dataset::new("flat", vec![], 2, vec![], vec![]).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { .. }), "{err:?}");
    let err = Dataset::new("zero", vec![3, 0], 2, vec![], vec![0]).unwrap_err();
    assert_message(&err, "shape = [3, 0]", &["no zero dimension"]);
}

#[test]
fn split_sizes_are_rounded_and_parts_are_disjoint_and_complete() {
    let data = indexed(103);
    let (train, val) = data.split(0.2, 7).unwrap();
    assert_eq!((train.len(), val.len()), (82, 21));
    assert_eq!(train.shape, data.shape);
    let (t, v) = (ids(&train), ids(&val));
    // Original order kept within each part; labels travel with their samples.
    assert!(t.windows(2).all(|w| w[0] < w[1]) && v.windows(2).all(|w| w[0] < w[1]));
    for (part, idx) in [(&train, &t), (&val, &v)] {
        for (k, &i) in idx.iter().enumerate() {
            assert_eq!(part.labels[k] as usize, i % 4);
        }
    }
    let all: HashSet<usize> = t.iter().chain(&v).copied().collect();
    assert_eq!(all.len(), 103, "disjoint and complete");

    // Zero validation fraction: everything is training data.
    let (train, val) = data.split(0.0, 7).unwrap();
    assert_eq!((train.len(), val.len()), (103, 0));
    assert_eq!(train, data);
}

#[test]
fn split_is_deterministic_per_seed() {
    let data = indexed(50);
    let (a, _) = data.split(0.3, 11).unwrap();
    let (b, _) = data.split(0.3, 11).unwrap();
    let (c, _) = data.split(0.3, 12).unwrap();
    assert_eq!(ids(&a), ids(&b));
    assert_ne!(ids(&a), ids(&c));
}

#[test]
fn error_split_fraction_out_of_range() {
    let data = indexed(10);
    for bad in [-0.1, 1.0, 1.5, f64::NAN] {
        let err = data.split(bad, 0).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { .. }), "{err:?}");
        assert_message(&err, "val_fraction", &[&format!("{bad:?}"), "[0, 1)"]);
    }
}

#[test]
fn error_split_leaving_no_training_sample() {
    let data = indexed(3);
    let err = data.split(0.9, 0).unwrap_err();
    assert!(
        matches!(err, Error::EmptyTrainSplit { n: 3, .. }),
        "{err:?}"
    );
    assert_message(&err, "val_fraction = 0.9", &["no training samples", "3"]);
}

#[test]
fn subset_is_seeded_ordered_and_capped() {
    let data = indexed(40);
    let a = data.subset(10, 3).unwrap();
    assert_eq!(a.len(), 10);
    let i = ids(&a);
    assert!(i.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(ids(&data.subset(10, 3).unwrap()), i);
    assert_ne!(ids(&data.subset(10, 4).unwrap()), i);
    assert_eq!(data.subset(1000, 3).unwrap(), data);
    assert!(data.subset(0, 3).unwrap().is_empty());
}

#[test]
fn label_noise_replaces_about_the_given_share() {
    let data = indexed(4000);
    let (noisy, changed) = data.with_label_noise(0.3, 5, 4).unwrap();
    assert_eq!(noisy.inputs, data.inputs);
    let differ = noisy
        .labels
        .iter()
        .zip(&data.labels)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(changed, differ);
    // 1200 labels redrawn, of which about 3/4 land on another class: 900 expected.
    assert!((840..=960).contains(&changed), "changed {changed}");
    assert!(noisy.labels.iter().all(|&l| l < 4));
    assert_eq!(
        data.with_label_noise(0.3, 5, 4).unwrap(),
        (noisy, changed),
        "same seed, same noise"
    );

    assert_eq!(data.with_label_noise(0.0, 5, 4).unwrap().1, 0);
    let (all, changed) = data.with_label_noise(1.0, 5, 10).unwrap();
    assert_eq!(all.n_classes, 10);
    assert!((3500..=3700).contains(&changed), "changed {changed}");
}

#[test]
fn error_label_noise_out_of_range() {
    let data = indexed(10);
    for bad in [-0.1, 1.5, f64::NAN] {
        let err = data.with_label_noise(bad, 0, 4).unwrap_err();
        assert!(matches!(err, Error::InvalidParameter { .. }), "{err:?}");
        assert_message(&err, "label_noise", &[&format!("{bad:?}"), "[0, 1]"]);
    }
    let err = data.with_label_noise(0.5, 0, 0).unwrap_err();
    assert_message(&err, "n_classes = 0", &["at least 1 class"]);
}

#[test]
fn fitted_normalization_gives_zero_mean_unit_std_per_channel() {
    // Two channels of 4 values, very different scales.
    let n = 500;
    let inputs: Vec<f32> = (0..n)
        .flat_map(|i| {
            let a = (i * 37 % 101) as f32;
            let b = 1000.0 + 0.01 * (i * 13 % 29) as f32;
            [a, a + 1.0, a * 0.5, a - 3.0, b, b, b + 0.02, b - 0.01]
        })
        .collect();
    let mut data = Dataset::new("two", vec![2, 2, 2], 2, inputs, vec![0; n]).unwrap();
    let norm = Normalization::fit(&data).unwrap();
    assert_eq!((norm.scale, norm.mean.len(), norm.std.len()), (1.0, 2, 2));
    norm.apply(&mut data).unwrap();
    for c in 0..2 {
        let vals: Vec<f64> = (0..n)
            .flat_map(|i| data.sample(i)[c * 4..c * 4 + 4].to_vec())
            .map(f64::from)
            .collect();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
        assert!(mean.abs() < 1e-3, "channel {c}: mean {mean}");
        assert!(
            (var.sqrt() - 1.0).abs() < 1e-3,
            "channel {c}: std {}",
            var.sqrt()
        );
    }
}

#[test]
fn vector_data_is_normalized_per_feature_and_constant_features_become_zero() {
    let inputs = vec![1.0, 5.0, 3.0, 5.0, 5.0, 5.0];
    let mut data = Dataset::new("vec", vec![2], 2, inputs, vec![0, 1, 0]).unwrap();
    let norm = Normalization::fit(&data).unwrap();
    assert_eq!(norm.mean, [3.0, 5.0]);
    assert_eq!(norm.std[1], 1.0);
    norm.apply(&mut data).unwrap();
    assert_eq!(data.inputs[1], 0.0);
    assert!((data.inputs[0] + data.inputs[2] + data.inputs[4]).abs() < 1e-6);
}

#[test]
fn standard_normalizations_work_on_raw_pixels() {
    let mut mnist = Dataset::new(
        "mnist",
        vec![1, 2, 2],
        10,
        vec![0.0, 255.0, 0.0, 0.0],
        vec![3],
    )
    .unwrap();
    Normalization::standard_mnist().apply(&mut mnist).unwrap();
    assert!((mnist.inputs[0] - (-0.1307 / 0.3081)).abs() < 1e-6);
    assert!((mnist.inputs[1] - ((1.0 - 0.1307) / 0.3081)).abs() < 1e-5);

    let mut cifar = Dataset::new("cifar10", vec![3, 1, 1], 10, vec![255.0; 3], vec![0]).unwrap();
    let norm = Normalization::standard_cifar10();
    norm.apply(&mut cifar).unwrap();
    for c in 0..3 {
        let want = (1.0 - norm.mean[c]) / norm.std[c];
        assert!((cifar.inputs[c] - want).abs() < 1e-5);
    }
}

#[test]
fn error_normalization_channel_mismatch() {
    let mut data = indexed(3);
    let err = Normalization::standard_cifar10()
        .apply(&mut data)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ChannelMismatch {
                channels: 2,
                expected: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(&err, "<toy dataset>", &["2 channel(s)", "has 3"]);
}

#[test]
fn error_normalization_of_an_empty_set_or_bad_std() {
    let empty = indexed(0);
    let err = Normalization::fit(&empty).unwrap_err();
    assert!(matches!(err, Error::EmptyDataset { .. }), "{err:?}");
    assert_message(&err, "<toy dataset>", &["no samples"]);

    let bad = Normalization {
        scale: 1.0,
        mean: vec![0.0, 0.0],
        std: vec![1.0, 0.0],
    };
    let err = bad.apply(&mut indexed(2)).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { .. }), "{err:?}");
}

#[test]
fn fields_that_disagree_are_errors_not_panics() {
    let mut data = indexed(4);
    data.inputs.pop();
    assert!(matches!(
        data.split(0.5, 0),
        Err(Error::DatasetShape { .. })
    ));
    assert!(data.subset(2, 0).is_err());
    assert!(data.with_label_noise(0.5, 0, 4).is_err());
    assert!(Normalization::fit(&data).is_err());
    assert!(data.to_feature_set().is_err());
}

#[test]
fn converts_to_a_feature_set_of_the_raw_inputs() {
    let data = indexed(6);
    let set = data.to_feature_set().unwrap();
    assert_eq!((set.n_samples(), set.n_features()), (6, 6));
    assert_eq!(set.original_shape(), &[2, 3]);
    assert_eq!(set.layer(), "input");
    assert_eq!(set.labels(), &[0, 1, 2, 3, 0, 1]);
}
