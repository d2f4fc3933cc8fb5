//! The randomized SVD against an exact one, reconstruction, PCA, determinism, feature sets,
//! and each bad input.

use std::collections::BTreeMap;

use faer::Mat;
use probe_data::FeatureSet;
use probe_reduce::{
    choose_solver, randomized_svd, reduce_rows, reduce_set, truncated_svd, Algorithm, Backend,
    DenseRows, Error, Method, ReduceParams, Reduced, Solver,
};

/// n × d = (n × r Gaussian-ish scores with decaying scale) · (r × d loadings) + noise, plus
/// `offset` on every value; deterministic.
fn low_rank(n: usize, d: usize, r: usize, noise: f32, offset: f32) -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut unit = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let scores: Vec<f32> = (0..n * r)
        .map(|k| unit() * (10.0 / (1 + k % r) as f32))
        .collect();
    let loadings: Vec<f32> = (0..r * d).map(|_| unit()).collect();
    (0..n * d)
        .map(|k| {
            let (i, j) = (k / d, k % d);
            let signal: f32 = (0..r)
                .map(|t| scores[i * r + t] * loadings[t * d + j])
                .sum();
            signal + noise * unit() + offset
        })
        .collect()
}

/// Singular values of the matrix, exactly (f64), after subtracting column means if `centre`.
fn exact_singular_values(data: &[f32], n: usize, d: usize, centre: bool) -> Vec<f64> {
    let mean: Vec<f64> = (0..d)
        .map(|j| {
            if centre {
                (0..n).map(|i| f64::from(data[i * d + j])).sum::<f64>() / n as f64
            } else {
                0.0
            }
        })
        .collect();
    let m = Mat::<f64>::from_fn(n, d, |i, j| f64::from(data[i * d + j]) - mean[j]);
    m.singular_values().unwrap()
}

/// Every computed singular value is within 1e-3 (relative) of the exact one of its rank.
fn assert_leading_values_match(got: &[f64], exact: &[f64], what: &str) {
    for (i, (g, e)) in got.iter().zip(exact).enumerate() {
        assert!(
            (g - e).abs() / e < 1e-3,
            "{what}: sigma {i}: {g} vs exact {e}"
        );
    }
}

#[test]
fn top_singular_values_match_an_exact_svd() {
    let (n, d, k) = (600, 120, 8);
    let data = low_rank(n, d, 10, 0.01, 0.0);
    let exact = exact_singular_values(&data, n, d, false);
    let params = ReduceParams::new(k).check().unwrap();
    let f = randomized_svd(&DenseRows::new(&data, n, d), &params).unwrap();
    assert_leading_values_match(
        &f.singular_values,
        &exact,
        &format!("{:?}", params.method()),
    );
}

#[test]
fn pca_matches_the_exact_svd_of_the_centred_matrix() {
    let (n, d, k) = (500, 60, 5);
    let data = low_rank(n, d, 6, 0.01, 40.0);
    let exact = exact_singular_values(&data, n, d, true);
    let params = ReduceParams::new(k).method(Method::Pca).check().unwrap();
    let f = randomized_svd(&DenseRows::new(&data, n, d), &params).unwrap();
    assert_leading_values_match(
        &f.singular_values,
        &exact,
        &format!("{:?}", params.method()),
    );
    // Centred scores have zero mean, and their variance is σ²/n.
    for j in 0..k {
        let col = f.transformed.col(j);
        let mean = col.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 1e-3 * f.singular_values[j],
            "component {j} mean {mean}"
        );
    }
    let total: f64 = exact.iter().map(|s| s * s).sum();
    let kept: f64 = exact[..k].iter().map(|s| s * s).sum();
    assert!((f.explained_variance_ratio() - kept / total).abs() < 1e-3);
}

#[test]
fn reduced_features_reconstruct_a_low_rank_set() {
    let (n, d, k) = (400, 50, 4);
    let data = low_rank(n, d, k, 0.0, 0.0);
    let params = ReduceParams::new(k).check().unwrap();
    let f = randomized_svd(&DenseRows::new(&data, n, d), &params).unwrap();
    let comps = f.components.as_ref().unwrap();
    // X ≈ (UΣ)·Vᵀ
    let (mut err, mut norm) = (0.0f64, 0.0f64);
    for i in 0..n {
        for j in 0..d {
            let x: f64 = (0..k)
                .map(|t| f64::from(f.transformed[(i, t)]) * f64::from(comps[(j, t)]))
                .sum();
            let truth = f64::from(data[i * d + j]);
            err += (x - truth).powi(2);
            norm += truth * truth;
        }
    }
    assert!(
        (err / norm).sqrt() < 1e-4,
        "relative error {}",
        (err / norm).sqrt()
    );
    assert!(f.explained_variance_ratio() > 0.9999);
}

#[test]
fn explained_variance_ratio_is_scikit_learns_for_truncated_svd() {
    // TruncatedSVD: var(X·V, axis=0).sum() / var(X, axis=0).sum(), on uncentred data.
    let (n, d, k) = (300, 40, 3);
    let data = low_rank(n, d, 8, 0.1, 2.0);
    let params = ReduceParams::new(k).check().unwrap();
    let f = randomized_svd(&DenseRows::new(&data, n, d), &params).unwrap();
    let comps = f.components.as_ref().unwrap();
    let var = |col: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = col.collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64
    };
    let total: f64 = (0..d)
        .map(|j| var(&mut (0..n).map(|i| f64::from(data[i * d + j]))))
        .sum();
    let kept: f64 = (0..k)
        .map(|t| {
            var(&mut (0..n).map(|i| {
                (0..d)
                    .map(|j| f64::from(data[i * d + j]) * f64::from(comps[(j, t)]))
                    .sum::<f64>()
            }))
        })
        .sum();
    assert!((f.explained_variance_ratio() - kept / total).abs() < 1e-4);
}

/// The reduction of the n × d row-major `data` on a pool of `threads` threads.
fn reduce_at(
    threads: usize,
    data: &[f32],
    n: usize,
    d: usize,
    params: &probe_reduce::ValidReduceParams,
) -> probe_reduce::Reduction {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| reduce_rows(&DenseRows::new(data, n, d), params).unwrap())
}

#[test]
fn same_seed_same_result_whatever_the_thread_count() {
    let (n, d) = (3000, 80);
    let data = low_rank(n, d, 12, 0.2, 0.0);
    for algorithm in [Algorithm::Randomized, Algorithm::Gram] {
        let params = ReduceParams::new(10)
            .seed(3)
            .algorithm(algorithm)
            .check()
            .unwrap();
        same_result_at_one_and_two_threads(&data, n, d, &params);
    }
}

fn same_result_at_one_and_two_threads(
    data: &[f32],
    n: usize,
    d: usize,
    params: &probe_reduce::ValidReduceParams,
) {
    let run = |threads| reduce_at(threads, data, n, d, params);
    let (a, b) = (run(1), run(2));
    // Compared as booleans: a failure should not print 30,000 numbers.
    assert!(
        a.features == b.features,
        "features differ between 1 and 2 threads"
    );
    assert_eq!(a.singular_values, b.singular_values);
    assert!(
        b.features == run(2).features,
        "features differ between runs"
    );
}

fn write_set(dir: &std::path::Path, data: &[f32], shape: &[usize]) -> std::path::PathBuf {
    let path = dir.join("layer.safetensors");
    let n = shape[0];
    let labels: Vec<i64> = (0..n as i64).map(|i| (i % 3) * 10).collect();
    let meta = BTreeMap::from([
        ("layer".to_string(), "layer1.0.conv1".to_string()),
        ("model".to_string(), "resnet18".to_string()),
    ]);
    probe_data::write_feature_set(&path, data, shape, &labels, &meta).unwrap();
    path
}

#[test]
fn reduces_a_feature_set_keeping_labels_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let data = low_rank(200, 64, 5, 0.05, 0.0);
    let path = write_set(dir.path(), &data, &[200, 4, 4, 4]);
    let set = FeatureSet::open(&path).unwrap();
    let params = ReduceParams::new(6).check().unwrap();
    let Reduced::Reduced(reduced, stats) = reduce_set(&set, &params).unwrap() else {
        panic!("64 > 6 columns should be reduced");
    };
    assert_eq!((reduced.n_samples(), reduced.n_features()), (200, 6));
    assert_eq!(reduced.labels(), set.labels());
    assert_eq!(reduced.class_values(), &[0, 10, 20]);
    let meta = reduced.metadata();
    assert_eq!(meta["reduction"], "tsvd:6");
    assert_eq!(meta["model"], "resnet18");
    assert_eq!(meta["layer"], "layer1.0.conv1");
    assert_eq!(meta["original_shape"], "4,4,4");
    let evr: f64 = meta["explained_variance_ratio"].parse().unwrap();
    assert_eq!(evr, stats.explained_variance_ratio);
    assert!(evr > 0.99 && evr <= 1.0 + 1e-9);
    // d <= K: left as it is.
    let wide = ReduceParams::new(64).check().unwrap();
    assert!(matches!(
        reduce_set(&set, &wide).unwrap(),
        Reduced::Unchanged
    ));
}

#[test]
fn wide_matrices_match_an_exact_svd_too() {
    // n < d runs the iteration on the transpose.
    let (n, d, k) = (90, 400, 6);
    for method in [Method::Tsvd, Method::Pca] {
        let data = low_rank(n, d, 8, 0.01, 1.5);
        let exact = exact_singular_values(&data, n, d, method == Method::Pca);
        let params = ReduceParams::new(k).method(method).check().unwrap();
        let f = randomized_svd(&DenseRows::new(&data, n, d), &params).unwrap();
        let comps = f.components.as_ref().unwrap();
        assert_eq!((f.transformed.nrows(), comps.nrows()), (n, d));
        assert_leading_values_match(
            &f.singular_values,
            &exact,
            &format!("{:?}", params.method()),
        );
        // U·Σ is X·V for the (centred) data.
        let mean: Vec<f64> = (0..d)
            .map(|j| (0..n).map(|i| f64::from(data[i * d + j])).sum::<f64>() / n as f64)
            .collect();
        for (i, t) in [(0, 0), (45, 2), (89, 5)] {
            let xv: f64 = (0..d)
                .map(|j| {
                    let x = f64::from(data[i * d + j])
                        - if method == Method::Pca { mean[j] } else { 0.0 };
                    x * f64::from(comps[(j, t)])
                })
                .sum();
            let got = f64::from(f.transformed[(i, t)]);
            assert!(
                (got - xv).abs() < 1e-3 * f.singular_values[0],
                "{method}: {got} vs {xv}"
            );
        }
    }
}

#[test]
fn too_many_components_names_the_limit() {
    let data = low_rank(10, 30, 3, 0.0, 0.0);
    let params = ReduceParams::new(12).check().unwrap();
    let e = reduce_rows(&DenseRows::new(&data, 10, 30), &params).unwrap_err();
    assert!(matches!(e, Error::TooManyComponents { max: 10, .. }), "{e}");
    assert!(e.to_string().contains("at most 10"), "{e}");
}

#[test]
fn non_finite_values_are_located() {
    let mut data = low_rank(50, 8, 2, 0.0, 0.0);
    data[17 * 8 + 5] = f32::NAN;
    let params = ReduceParams::new(2).check().unwrap();
    let e = reduce_rows(&DenseRows::new(&data, 50, 8), &params).unwrap_err();
    assert!(e.to_string().contains("row 17, column 5"), "{e}");
}

/// The candle path (what runs on a GPU with `--device cuda`) computes what the faer path does,
/// for tall and wide inputs, with and without centring.
#[test]
fn the_candle_path_matches_the_cpu_path() {
    for (n, d, k, method) in [
        (700, 90, 6, Method::Tsvd),
        (80, 400, 5, Method::Tsvd),
        (500, 60, 5, Method::Pca),
    ] {
        let data = low_rank(n, d, 8, 0.01, 3.0);
        let rows = DenseRows::new(&data, n, d);
        let cpu = ReduceParams::new(k)
            .method(method)
            .algorithm(Algorithm::Randomized)
            .check()
            .unwrap();
        let candle = ReduceParams::new(k)
            .method(method)
            .backend(Backend::CandleCpu)
            .check()
            .unwrap();
        let (a, b) = (
            reduce_rows(&rows, &cpu).unwrap(),
            reduce_rows(&rows, &candle).unwrap(),
        );
        for (x, y) in a.singular_values.iter().zip(&b.singular_values) {
            assert!(
                (x - y).abs() / x < 1e-4,
                "{method} {n}x{d}: sigma {x} vs {y}"
            );
        }
        let scale = a.features.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
        let worst = a
            .features
            .iter()
            .zip(&b.features)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst / scale < 1e-3,
            "{method} {n}x{d}: features differ by {worst}"
        );
        assert!((a.explained_variance_ratio - b.explained_variance_ratio).abs() < 1e-5);
        let again = reduce_rows(&rows, &candle).unwrap();
        assert_eq!(
            again.features, b.features,
            "the candle path is deterministic"
        );
    }
}

#[test]
fn the_candle_path_locates_non_finite_values() {
    let mut data = low_rank(50, 8, 2, 0.0, 0.0);
    data[17 * 8 + 5] = f32::INFINITY;
    let params = ReduceParams::new(2)
        .backend(Backend::CandleCpu)
        .check()
        .unwrap();
    let e = reduce_rows(&DenseRows::new(&data, 50, 8), &params).unwrap_err();
    assert!(e.to_string().contains("row 17, column 5"), "{e}");
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_says_the_build_has_no_cuda() {
    let data = low_rank(50, 8, 2, 0.0, 0.0);
    let params = ReduceParams::new(2)
        .backend(Backend::Cuda(0))
        .check()
        .unwrap();
    let e = reduce_rows(&DenseRows::new(&data, 50, 8), &params).unwrap_err();
    assert!(matches!(e, Error::NoCudaSupport { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "cannot reduce on cuda:0: this build has no CUDA support (it was compiled without the \
         `cuda` feature)"
    );
}

#[test]
fn names_that_are_no_setting_are_typed_errors() {
    let e = "svd".parse::<probe_reduce::Method>().unwrap_err();
    assert_eq!(
        e.to_string(),
        "`svd` is not a reduction method: use tsvd or pca"
    );
    let e = "gpu".parse::<Backend>().unwrap_err();
    assert_eq!((e.value.as_str(), e.kind), ("gpu", "a reduction device"));
    let _: &dyn std::error::Error = &e;
}

#[test]
fn checked_params_deserialise_only_through_the_check() {
    let good = ReduceParams::new(4).check().unwrap();
    let json = serde_json::to_string(&good).unwrap();
    let back: probe_reduce::ValidReduceParams = serde_json::from_str(&json).unwrap();
    assert_eq!(back, good);
    let bad = json.replace("\"n_components\":4", "\"n_components\":0");
    assert_ne!(bad, json);
    let e = serde_json::from_str::<probe_reduce::ValidReduceParams>(&bad).unwrap_err();
    assert!(e.to_string().contains("n_components"), "{e}");
}

#[test]
fn a_wide_reduction_is_the_same_at_any_thread_count() {
    // Large enough for faer to split the products across threads (the QR and the small SVD
    // run on one thread whatever the pool).
    let (n, d) = (2500, 1200);
    let data = low_rank(n, d, 40, 0.3, 0.0);
    for algorithm in [Algorithm::Randomized, Algorithm::Gram] {
        let params = ReduceParams::new(300)
            .seed(5)
            .algorithm(algorithm)
            .check()
            .unwrap();
        let run = |threads| reduce_at(threads, &data, n, d, &params);
        let one = run(1);
        for threads in [2, 3] {
            let other = run(threads);
            assert!(
                one.features == other.features,
                "{algorithm}: features differ between 1 and {threads} threads"
            );
            assert_eq!(one.singular_values, other.singular_values);
        }
    }
}

/// The Gram route against an exact SVD: tall and wide inputs, with and without centring, by
/// full eigendecomposition and by subspace iteration (which one runs depends on the shape,
/// and each shape below asserts its own).
#[test]
fn the_gram_route_matches_an_exact_svd() {
    for (n, d, k, expected) in [
        (2000, 60, 6, Solver::GramExact),
        (600, 120, 8, Solver::GramIterative(4)),
        (50, 1500, 6, Solver::GramExact),
        (120, 700, 8, Solver::GramIterative(4)),
    ] {
        for method in [Method::Tsvd, Method::Pca] {
            // A large offset: the mean direction dwarfs the others, as in ReLU layers.
            let data = low_rank(n, d, 10, 0.01, 25.0);
            let exact = exact_singular_values(&data, n, d, method == Method::Pca);
            let params = ReduceParams::new(k)
                .method(method)
                .algorithm(Algorithm::Gram)
                .check()
                .unwrap();
            let what = format!("{method} {n}x{d}");
            assert_eq!(choose_solver(n, d, &params), expected, "{what}");
            let f = truncated_svd(&DenseRows::new(&data, n, d), &params).unwrap();
            assert_eq!(f.solver, expected, "{what}");
            assert_eq!(f.transformed.shape(), (n, k), "{what}");
            assert_leading_values_match(&f.singular_values, &exact, &what);
            // U·Σ is (centred) X·V for the exact V: compare through the reduced features'
            // squared norms, which are σ².
            for (t, &sigma) in f.singular_values.iter().enumerate() {
                let norm2: f64 = f
                    .transformed
                    .col(t)
                    .iter()
                    .map(|&v| f64::from(v).powi(2))
                    .sum();
                assert!(
                    (norm2.sqrt() - sigma).abs() < 1e-3 * sigma,
                    "{what}: |column {t}| = {} vs sigma {sigma}",
                    norm2.sqrt()
                );
            }
            // Columns of U are orthogonal.
            let dot: f64 = (0..n)
                .map(|i| f64::from(f.transformed[(i, 0)]) * f64::from(f.transformed[(i, 1)]))
                .sum();
            assert!(
                dot.abs() < 1e-3 * f.singular_values[0] * f.singular_values[1],
                "{what}: columns 0 and 1 are not orthogonal ({dot})"
            );
            let total: f64 = exact.iter().map(|s| s * s).sum();
            let kept: f64 = exact[..k].iter().map(|s| s * s).sum();
            if method == Method::Pca {
                assert!(
                    (f.explained_variance_ratio() - kept / total).abs() < 1e-3,
                    "{what}: explained variance {} vs {}",
                    f.explained_variance_ratio(),
                    kept / total
                );
            }
        }
    }
}

/// The automatic choice: the Gram route where K is a large share of the shorter side or the
/// input is far from square, the randomized SVD where a few passes cost less, and never the
/// Gram route off the CPU.
#[test]
fn the_automatic_choice_follows_the_costs() {
    let auto = |k: usize| ReduceParams::new(k).check().unwrap();
    // The original tool's setting: 10,000 conv outputs of 25,088 values to K = 2,500.
    assert_eq!(
        choose_solver(10_000, 25_088, &auto(2500)),
        Solver::GramIterative(4)
    );
    assert_eq!(choose_solver(50_000, 2_048, &auto(512)), Solver::GramExact);
    assert_eq!(
        choose_solver(20_000, 4_096, &auto(256)),
        Solver::Randomized(3)
    );
    assert_eq!(
        choose_solver(100_000, 50_000, &auto(64)),
        Solver::Randomized(3)
    );
    let gpu = ReduceParams::new(2500)
        .backend(Backend::CandleCpu)
        .check()
        .unwrap();
    assert_eq!(choose_solver(10_000, 25_088, &gpu), Solver::Randomized(3));
    let e = ReduceParams::new(5)
        .algorithm(Algorithm::Gram)
        .backend(Backend::CandleCpu)
        .check()
        .unwrap_err();
    assert!(e.to_string().contains("CPU only"), "{e}");
}
