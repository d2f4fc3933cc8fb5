//! The fast ops against candle's own, values and gradients.

use candle_core::{Device, Module, Tensor, Var};

use super::{conv2d, linear, max_pool2d, relu};

fn max_rel_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (values(a), values(b));
    let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    a.iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs() / scale))
}

/// A tensor's values, flattened.
fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// Runs `f` on a pool of `threads` threads.
fn at_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(f)
}

fn randn(shape: &[usize], seed: u64) -> Tensor {
    // Seeded values without touching candle's global RNG.
    let n: usize = shape.iter().product();
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let data: Vec<f32> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
}

#[test]
fn conv2d_matches_candle_values_and_gradients() {
    // (batch, c_in, side, c_out, kernel, stride, padding): odd sides, strides that drop rows,
    // pointwise kernels, batches below and above the thread count.
    let cases = [
        (1, 1, 28, 32, 3, 1, 1),
        (3, 4, 9, 5, 3, 2, 1),
        (5, 3, 8, 6, 1, 1, 0),
        (4, 6, 8, 5, 1, 2, 0),
        (2, 3, 11, 4, 7, 2, 3),
        (17, 2, 6, 3, 3, 1, 0),
        (9, 8, 7, 16, 3, 2, 1),
        (2, 3, 9, 4, 5, 1, 2),
        (40, 3, 4, 5, 3, 1, 1),
    ];
    for (i, &(n, c, side, o, k, s, p)) in cases.iter().enumerate() {
        let seed = 10 * i as u64;
        let x = Var::from_tensor(&randn(&[n, c, side, side], seed)).unwrap();
        let w = Var::from_tensor(&randn(&[o, c, k, k], seed + 1)).unwrap();
        let b = Var::from_tensor(&randn(&[o], seed + 2)).unwrap();
        let upstream = {
            let (_, _, oh, ow) = x.conv2d(&w, p, s, 1, 1).unwrap().dims4().unwrap();
            randn(&[n, o, oh, ow], seed + 3)
        };
        let ours = conv2d(&x, &w, Some(&b), s, p).unwrap();
        let theirs = x
            .conv2d(&w, p, s, 1, 1)
            .unwrap()
            .broadcast_add(&b.reshape((1, o, 1, 1)).unwrap())
            .unwrap();
        assert!(max_rel_diff(&ours, &theirs) < 1e-5, "case {i}: values");
        let g_ours = (ours * &upstream)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g_theirs = (theirs * &upstream)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (name, var) in [("x", &x), ("w", &w), ("b", &b)] {
            let (a, e) = (g_ours.get(var).unwrap(), g_theirs.get(var).unwrap());
            let d = max_rel_diff(a, e);
            assert!(d < 1e-5, "case {i}: gradient of {name} differs by {d}");
        }
        // Without a bias, too.
        let plain = conv2d(&x, &w, None, s, p).unwrap();
        let reference = x.conv2d(&w, p, s, 1, 1).unwrap();
        assert!(max_rel_diff(&plain, &reference) < 1e-5, "case {i}: no bias");
    }
}

#[test]
fn conv2d_weight_gradient_is_the_same_at_any_thread_count() {
    let x = Var::from_tensor(&randn(&[13, 3, 10, 10], 1)).unwrap();
    let w = Var::from_tensor(&randn(&[8, 3, 3, 3], 2)).unwrap();
    let grad_at = |threads: usize| {
        at_threads(threads, || {
            let y = conv2d(&x, &w, None, 1, 1).unwrap();
            let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            values(g.get(&w).unwrap())
        })
    };
    let one = grad_at(1);
    assert_eq!(one, grad_at(2));
    assert_eq!(one, grad_at(5));
}

#[test]
fn max_pool_matches_the_separable_pool_and_routes_gradients_to_the_maximum() {
    let cases = [
        (2, 3, 8, 2, 2, 0),
        (2, 2, 7, 2, 2, 0),
        (2, 2, 5, 2, 1, 0),
        (3, 2, 9, 3, 2, 1),
        (1, 4, 7, 3, 1, 1),
    ];
    for &(n, c, side, k, s, p) in &cases {
        let x = Var::from_tensor(&randn(&[n, c, side, side], side as u64)).unwrap();
        let reference = crate::resnet::MaxPool2d {
            kernel: k,
            stride: s,
            padding: p,
        };
        let ours = max_pool2d(&x, k, s, p).unwrap();
        let theirs = reference.forward(&x).unwrap();
        assert_eq!(max_rel_diff(&ours, &theirs), 0.0);
        // Random values have no ties, so both gradients are the same.
        let up = randn(ours.dims(), 99);
        let g_ours = (ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
        let g_theirs = (theirs * &up)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let d = max_rel_diff(g_ours.get(&x).unwrap(), g_theirs.get(&x).unwrap());
        assert!(d < 1e-6, "gradient differs by {d}");
    }
}

#[test]
fn max_pool_gives_a_tied_window_gradient_to_its_first_maximum_as_pytorch_does() {
    let x = Var::from_tensor(
        &Tensor::ones((1, 1, 2, 2), candle_core::DType::F32, &Device::Cpu).unwrap(),
    )
    .unwrap();
    let y = max_pool2d(&x, 2, 2, 0).unwrap();
    let g = y.sum_all().unwrap().backward().unwrap();
    assert_eq!(values(g.get(&x).unwrap()), [1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let x = randn(&[1, 2, 3, 3], 0);
    assert!(conv2d(&x, &randn(&[4, 3, 3, 3], 1), None, 1, 0).is_err());
    assert!(conv2d(&x, &randn(&[4, 2, 5, 5], 1), None, 1, 0).is_err());
    assert!(max_pool2d(&x, 5, 1, 0).is_err());
    assert!(max_pool2d(&x, 2, 0, 0).is_err());
}

#[test]
fn linear_matches_candle_values_and_gradients() {
    // Small (one thread) and large (gemm's threads) products, with and without a bias.
    for (i, &(rows, inputs, outputs)) in [(3, 5, 4), (32, 784, 256), (1, 7, 1)].iter().enumerate() {
        let seed = 100 + 10 * i as u64;
        let x = Var::from_tensor(&randn(&[rows, inputs], seed)).unwrap();
        let w = Var::from_tensor(&randn(&[outputs, inputs], seed + 1)).unwrap();
        let b = Var::from_tensor(&randn(&[outputs], seed + 2)).unwrap();
        let up = randn(&[rows, outputs], seed + 3);
        for bias in [Some(b.as_tensor()), None] {
            let ours = linear(&x, &w, bias).unwrap();
            let reference = candle_nn::Linear::new(w.as_tensor().clone(), bias.cloned());
            let theirs = reference.forward(&x).unwrap();
            assert!(max_rel_diff(&ours, &theirs) < 1e-5, "case {i}: values");
            let g_ours = (ours * &up).unwrap().sum_all().unwrap().backward().unwrap();
            let g_theirs = (theirs * &up)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            for (name, var) in [("x", &x), ("w", &w), ("b", &b)] {
                match (g_ours.get(var), g_theirs.get(var)) {
                    (Some(a), Some(e)) => {
                        let d = max_rel_diff(a, e);
                        assert!(d < 1e-5, "case {i}: gradient of {name} differs by {d}");
                    }
                    (None, None) => assert!(bias.is_none() && name == "b"),
                    _ => panic!("case {i}: gradient of {name} present on one side only"),
                }
            }
        }
    }
}

#[test]
fn relu_passes_gradient_only_where_the_input_is_positive_as_pytorch_does() {
    for n in [7, 100_003] {
        let mut x = randn(&[n], n as u64);
        if n == 7 {
            x = Tensor::new(
                &[-1f32, 0.0, 2.0, -0.0, 3.5, f32::MIN_POSITIVE, -5.0],
                &Device::Cpu,
            )
            .unwrap();
        }
        let x = Var::from_tensor(&x).unwrap();
        let up = randn(&[n], 5);
        let y = relu(&x).unwrap();
        assert_eq!(max_rel_diff(&y, &x.relu().unwrap()), 0.0);
        let g = (&y * &up).unwrap().sum_all().unwrap().backward().unwrap();
        let g = g.get(&x).unwrap().to_vec1::<f32>().unwrap();
        let (xs, ups) = (x.to_vec1::<f32>().unwrap(), up.to_vec1::<f32>().unwrap());
        for ((g, x), u) in g.iter().zip(&xs).zip(&ups) {
            assert_eq!(*g, if *x > 0.0 { *u } else { 0.0 }, "at x = {x}");
        }
    }
}

#[test]
fn a_small_cnn_step_gives_the_same_gradients_at_any_thread_count() {
    // Six images run side by side; a single one splits each product across the threads.
    for (batch, side) in [(6, 12), (1, 48)] {
        small_cnn_step_is_thread_independent(batch, side);
    }
}

fn small_cnn_step_is_thread_independent(batch: usize, side: usize) {
    let x = randn(&[batch, 1, side, side], 1);
    let w1 = Var::from_tensor(&randn(&[8, 1, 3, 3], 2)).unwrap();
    let b1 = Var::from_tensor(&randn(&[8], 3)).unwrap();
    let w2 = Var::from_tensor(&randn(&[32, 8, 3, 3], 4)).unwrap();
    let fc = Var::from_tensor(&randn(&[5, 32 * (side / 4) * (side / 4)], 5)).unwrap();
    let grads_at = |threads: usize| {
        at_threads(threads, || {
            let h = relu(&conv2d(&x, &w1, Some(&b1), 1, 1).unwrap()).unwrap();
            let h = max_pool2d(&h, 2, 2, 0).unwrap();
            let h = relu(&conv2d(&h, &w2, None, 1, 1).unwrap()).unwrap();
            let h = max_pool2d(&h, 2, 2, 0).unwrap().flatten_from(1).unwrap();
            let y = linear(&h, &fc, None).unwrap();
            let g = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            [&w1, &b1, &w2, &fc].map(|v| values(g.get(v).unwrap()))
        })
    };
    let one = grads_at(1);
    assert!(
        one.iter().all(|g| g.iter().any(|v| *v != 0.0)),
        "all-zero gradients"
    );
    assert_eq!(one, grads_at(2));
    assert_eq!(one, grads_at(3));
}
