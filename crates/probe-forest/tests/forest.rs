//! Properties of fitted forests: structure, weights, determinism, the two splitters, and
//! serialisation.

use probe_forest::{Forest, ForestParams, Matrix, MaxFeatures, Splitter, WaveletNorm};

/// Rows on a few distinct levels per feature, with labels driven by two of the features and a
/// little label noise; deterministic.
fn data(n: usize, d: usize, levels: u64, classes: u32) -> (Matrix<'static>, Vec<u32>) {
    data_with_zeros(n, d, levels, classes, 0)
}

/// As `data`, with about `zeros_in_ten` of every ten values set to 0 (a sparse layer's).
fn data_with_zeros(
    n: usize,
    d: usize,
    levels: u64,
    classes: u32,
    zeros_in_ten: u64,
) -> (Matrix<'static>, Vec<u32>) {
    let mut state = 88_172_645_463_325_252u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let x: Vec<f64> = (0..n * d)
        .map(|_| match next() % 10 < zeros_in_ten {
            true => 0.0,
            false => (next() % levels) as f64,
        })
        .collect();
    let y: Vec<u32> = (0..n)
        .map(|i| {
            let signal = (x[i * d] + 2.0 * x[i * d + 1]) as u64;
            if next() % 10 == 0 {
                (next() % u64::from(classes)) as u32
            } else {
                (signal % u64::from(classes)) as u32
            }
        })
        .collect();
    (Matrix::from_row_major(n, d, &x).unwrap(), y)
}

fn fit(x: &Matrix<'_>, y: &[u32], classes: usize, params: ForestParams) -> Forest {
    params.check().unwrap().fit(x, y, classes).unwrap()
}

#[test]
fn fitted_trees_are_consistent() {
    let (x, y) = data(3000, 12, 40, 4);
    let forest = fit(&x, &y, 4, ForestParams::default().max_depth(8).n_trees(3));
    assert_eq!(forest.n_trees(), 3);
    for tree in forest.trees() {
        let nodes = tree.nodes();
        assert!(
            nodes.len() > 10,
            "the tree should split: {} nodes",
            nodes.len()
        );
        assert!(tree.depth() <= 8);
        assert_eq!(nodes[0].parent, None);
        assert_eq!(nodes[0].sample_fraction, 1.0);
        for (i, node) in nodes.iter().enumerate() {
            let total: f64 = node.distribution.iter().sum();
            assert!(
                (total - 1.0).abs() < 1e-12,
                "node {i} distribution sums to {total}"
            );
            match (node.children, node.split) {
                (Some([l, r]), Some(split)) => {
                    assert_eq!(nodes[l].parent, Some(i));
                    assert_eq!(nodes[r].parent, Some(i));
                    assert_eq!(nodes[l].depth, node.depth + 1);
                    assert!(split.feature < 12);
                    assert!((0.0..=1.0).contains(&split.threshold));
                    // Every original sample takes exactly one branch.
                    let sum = nodes[l].sample_fraction + nodes[r].sample_fraction;
                    assert!((sum - node.sample_fraction).abs() < 1e-12);
                }
                (None, None) => {
                    let pure = node.distribution.iter().filter(|&&p| p > 0.0).count() == 1;
                    assert!(pure || node.depth == 8 || node.sample_fraction > 0.0);
                }
                _ => panic!("node {i} has children without a split or the reverse"),
            }
        }
    }
    let norms = forest.wavelet_norms(WaveletNorm::Samples);
    assert!(norms.iter().all(|&v| v > 0.0 && v.is_finite()));
    let volumes = forest.wavelet_norms(WaveletNorm::Volume);
    assert!(volumes.iter().all(|&v| v > 0.0 && v.is_finite()));
}

#[test]
fn binned_and_exact_splitters_grow_the_same_trees_on_few_distinct_values() {
    // At most 256 distinct values per feature: one bin per value, so the same candidates.
    let (x, y) = data(5000, 20, 200, 5);
    let params = ForestParams::default().n_trees(2).max_depth(12).seed(11);
    let binned = fit(&x, &y, 5, params.clone().splitter(Splitter::Binned));
    let exact = fit(&x, &y, 5, params.splitter(Splitter::Exact));
    assert_eq!(binned, exact);
}

#[test]
fn binned_trees_route_every_sample_by_its_value() {
    // Thousands of distinct values per feature: quantile bins, so samples out of the bag can
    // fall between a cut's bin and the next one in the bag, where only the value decides.
    // With 60 levels each bin holds one value, and out-of-bag samples between the cut's two
    // bins are routed by the bin's value; with most values 0, bin 0 holds only 0.
    for (levels, zeros_in_ten) in [(100_000, 0), (60, 0), (100_000, 6)] {
        let (x, y) = data_with_zeros(6000, 8, levels, 4, zeros_in_ten);
        let params = ForestParams::default().n_trees(3).max_depth(10).seed(3);
        let forest = fit(&x, &y, 4, params.splitter(Splitter::Binned));
        assert_routed_by_value(&x, &forest);
    }
}

/// Every node's sample fraction is the share of all rows that its splits send there.
fn assert_routed_by_value(x: &Matrix<'_>, forest: &Forest) {
    let n = x.n_rows();
    for tree in forest.trees() {
        let nodes = tree.nodes();
        let mut reached = vec![0usize; nodes.len()];
        for row in 0..n {
            let mut at = 0;
            loop {
                reached[at] += 1;
                match (nodes[at].split, nodes[at].children) {
                    (Some(split), Some([l, r])) => {
                        let v = f64::from(x.column(split.feature).unwrap()[row]);
                        at = if v <= split.threshold { l } else { r };
                    }
                    _ => break,
                }
            }
        }
        for (node, &count) in nodes.iter().zip(&reached) {
            assert_eq!(node.sample_fraction, count as f64 / n as f64);
        }
    }
}

#[test]
fn a_matrix_of_bins_grows_the_forest_of_the_values() {
    let (n, d) = (4000, 9);
    let (x, y) = data(n, d, 50_000, 3);
    // Back to row-major raw values (the normalised ones: a second normalisation keeps them).
    let raw: Vec<f32> = (0..n * d)
        .map(|k| x.column(k % d).unwrap()[k / d])
        .collect();
    let values = Matrix::from_rows_f32(n, d, |start, out| {
        out.copy_from_slice(&raw[start * d..start * d + out.len()])
    })
    .unwrap();
    let bins = Matrix::binned(n, d, &raw, &y).unwrap();
    assert!(bins.column(0).is_none());
    let params = ForestParams::default().n_trees(3).max_depth(12).seed(9);
    assert_eq!(
        fit(&bins, &y, 3, params.clone()),
        fit(&values, &y, 3, params.clone())
    );
    // Resampled rows keep the whole matrix's bins, and the exact splitter needs values.
    let rows: Vec<usize> = (0..n).filter(|i| i % 3 != 0).collect();
    let sub_y: Vec<u32> = rows.iter().map(|&i| y[i]).collect();
    let sub = bins.select_rows(&rows).unwrap();
    assert_eq!(fit(&sub, &sub_y, 3, params.clone()).n_trees(), 3);
    let exact = params.splitter(Splitter::Exact).check().unwrap();
    assert!(exact.fit(&bins, &y, 3).is_err());
}

#[test]
fn same_seed_same_forest_whatever_the_thread_count() {
    let (x, y) = data(12_000, 10, 1000, 3);
    let params = ForestParams::default().n_trees(3).seed(5);
    let in_pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| fit(&x, &y, 3, params.clone()))
    };
    let one = in_pool(1);
    assert_eq!(one, in_pool(2));
    assert_eq!(one, in_pool(3));
    let other_seed = fit(&x, &y, 3, params.seed(6));
    assert_ne!(one, other_seed);
}

#[test]
fn max_features_all_splits_the_root_on_the_informative_feature() {
    // Feature 3 decides the class; the others are noise.
    let (noise, _) = data(2000, 6, 50, 2);
    let mut x = Vec::with_capacity(2000 * 6);
    let mut y = Vec::with_capacity(2000);
    for i in 0..2000 {
        for j in 0..6 {
            x.push(f64::from(noise.column(j).unwrap()[i]));
        }
        y.push(u32::from(noise.column(3).unwrap()[i] > 0.5));
    }
    let x = Matrix::from_row_major(2000, 6, &x).unwrap();
    let forest = fit(
        &x,
        &y,
        2,
        ForestParams::default()
            .max_features(MaxFeatures::All)
            .n_trees(2),
    );
    for tree in forest.trees() {
        let root = tree.nodes()[0].split.unwrap();
        assert_eq!(root.feature, 3);
        assert!((root.threshold - 0.5).abs() < 0.05, "{}", root.threshold);
        assert_eq!(tree.nodes().len(), 3, "one split separates the classes");
    }
}

#[test]
fn forests_round_trip_through_json() {
    let (x, y) = data(500, 5, 30, 3);
    let forest = fit(&x, &y, 3, ForestParams::default().n_trees(2));
    let json = serde_json::to_string(&forest).unwrap();
    let back: Forest = serde_json::from_str(&json).unwrap();
    assert_eq!(forest, back);
}

#[test]
fn rejects_labels_that_do_not_fit() {
    let (x, mut y) = data(100, 3, 10, 2);
    let params = ForestParams::default().check().unwrap();
    assert!(params.fit(&x, &y[..50], 2).is_err());
    y[7] = 9;
    let e = params.fit(&x, &y, 2).unwrap_err().to_string();
    assert!(e.contains("row 7"), "{e}");
}
