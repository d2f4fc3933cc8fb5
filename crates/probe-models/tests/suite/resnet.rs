//! ResNet-18: parameter count, widths, backward, taps parity, BatchNorm modes.

use candle_core::{DType, Device, Module, ModuleT, Tensor};
use candle_nn::VarMap;
use probe_models::{
    adaptive_avg_pool_1x1, parameter_count, trainable_vars, Error, Model, ModelConfig, ResNet18,
    Tapped,
};

use crate::util::{assert_close, assert_message, batch, fresh};

fn resnet(seed: u64) -> (ResNet18, VarMap) {
    match fresh("resnet18", &ModelConfig::default(), seed) {
        (Model::ResNet18(m), vm) => (m, vm),
        _ => unreachable!("resnet18 builds a ResNet18"),
    }
}

#[test]
fn parameter_count_matches_pytorch() {
    let (_, varmap) = resnet(0);
    // sum(p.numel() for p in model.parameters()) for the PyTorch module with 10 classes.
    assert_eq!(parameter_count(&varmap), 11_173_962);
    // 20 BatchNorms, each with running_mean and running_var, are buffers, not parameters.
    let all = varmap.all_vars().len();
    assert_eq!(all - trainable_vars(&varmap).len(), 2 * 20);
}

#[test]
fn parameter_names_are_torchvision_names() {
    let (_, varmap) = resnet(0);
    let names: Vec<String> = trainable_vars(&varmap)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for want in [
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "layer1.0.conv1.weight",
        "layer1.1.bn2.bias",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.weight",
        "layer4.1.conv2.weight",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(names.iter().any(|n| n == want), "no parameter `{want}`");
    }
    assert!(!names.iter().any(|n| n.starts_with("layer1.0.downsample")));
    assert!(
        !names.iter().any(|n| n == "conv1.bias"),
        "convs have no bias"
    );
    let data = varmap.data().lock().expect("lock");
    assert_eq!(data["layer3.0.downsample.1.running_var"].dims(), &[256]);
    assert_eq!(
        data["layer3.0.downsample.0.weight"].dims(),
        &[256, 128, 1, 1]
    );
}

#[test]
fn layer_widths_on_cifar_batch() {
    let (m, _) = resnet(1);
    let x = batch(&[2, 3, 32, 32]);
    let want = [
        ("maxpool", 64 * 16 * 16),
        ("layer1.0.conv1", 16_384),
        ("layer2.0.conv1", 8_192),
        ("layer3.0.conv1", 4_096),
        ("layer4.0.conv1", 512 * 2 * 2),
        ("avgpool", 512),
        ("fc", 10),
    ];
    let names: Vec<&str> = want.iter().map(|(n, _)| *n).collect();
    let (logits, taps) = m.forward_with_taps(&x, &names, false).expect("forward");
    assert_eq!(logits.dims(), &[2, 10]);
    for ((name, width), (got_name, t)) in want.iter().zip(&taps) {
        assert_eq!(name, got_name);
        assert_eq!(t.dim(0).expect("batch dim"), 2, "{name}");
        assert_eq!(
            t.elem_count() / 2,
            *width,
            "width of {name}: {:?}",
            t.dims()
        );
    }
    assert_eq!(
        taps[5].1.dims(),
        &[2, 512, 1, 1],
        "avgpool keeps PyTorch's shape"
    );
}

#[test]
fn forward_backward_gives_gradients() {
    let (m, varmap) = resnet(2);
    let x = batch(&[2, 3, 32, 32]);
    let labels = Tensor::new(&[3u32, 7], &Device::Cpu).expect("labels");
    let logits = m.forward_t(&x, true).expect("forward");
    let loss = candle_nn::loss::cross_entropy(&logits, &labels).expect("loss");
    assert!(loss.to_vec0::<f32>().expect("scalar").is_finite());
    let grads = loss.backward().expect("backward");
    let data = varmap.data().lock().expect("lock");
    for name in ["conv1.weight", "fc.weight", "layer3.0.downsample.1.weight"] {
        let g = grads
            .get(&data[name])
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        assert_eq!(g.dims(), data[name].dims());
        let norm = g
            .sqr()
            .and_then(|s| s.sum_all())
            .and_then(|s| s.to_vec0::<f32>());
        assert!(norm.expect("norm") > 0.0, "zero gradient for {name}");
    }
    assert!(grads.get(&data["bn1.running_mean"]).is_none());
    drop(data); // trainable_vars locks the map too
    for (name, var) in trainable_vars(&varmap) {
        assert!(grads.get(&var).is_some(), "no gradient for {name}");
    }
}

/// Our convolution sums in another order than candle's: equal to float rounding.
const TOL: f32 = 1e-4;

#[test]
fn taps_equal_plain_forward_through_submodules() {
    let (m, _) = resnet(3);
    let x = batch(&[2, 3, 32, 32]);
    let names = m.tap_names();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (logits, taps) = m.forward_with_taps(&x, &refs, false).expect("forward");
    let get = |name: &str| -> &Tensor { &taps.iter().find(|(n, _)| n == name).expect("tap").1 };
    assert_eq!(taps.len(), names.len());

    // The stem, step by step.
    let conv1 = m.conv1.forward(&x).expect("conv1");
    let bn1 = m.bn1.forward_t(&conv1, false).expect("bn1");
    let relu = bn1.relu().expect("relu");
    let maxpool = m.maxpool.forward(&relu).expect("maxpool");
    assert_close("input", get("input"), &x, 0.0);
    assert_close("conv1", get("conv1"), &conv1, TOL);
    assert_close("bn1", get("bn1"), &bn1, TOL);
    assert_close("relu", get("relu"), &relu, TOL);
    assert_close("maxpool", get("maxpool"), &maxpool, TOL);

    // Every block's output, and every layer's.
    let mut h = maxpool;
    for (i, layer) in m.layers.iter().enumerate() {
        for (j, block) in layer.iter().enumerate() {
            let input = h.clone();
            h = block.forward_t(&h, false).expect("block");
            assert_close(
                &format!("layer{}.{j}", i + 1),
                get(&format!("layer{}.{j}", i + 1)),
                &h,
                TOL,
            );
            // Inside the block: conv1 → bn1 → relu → conv2 → bn2, and the downsample path.
            let p = format!("layer{}.{j}", i + 1);
            let c1 = block.conv1.forward(&input).expect("c1");
            let b1 = block.bn1.forward_t(&c1, false).expect("b1");
            let c2 = block.conv2.forward(&b1.relu().expect("r")).expect("c2");
            let b2 = block.bn2.forward_t(&c2, false).expect("b2");
            assert_close(&format!("{p}.conv1"), get(&format!("{p}.conv1")), &c1, TOL);
            assert_close(&format!("{p}.bn1"), get(&format!("{p}.bn1")), &b1, TOL);
            assert_close(&format!("{p}.conv2"), get(&format!("{p}.conv2")), &c2, TOL);
            assert_close(&format!("{p}.bn2"), get(&format!("{p}.bn2")), &b2, TOL);
            let identity = match &block.downsample {
                Some((c, b)) => {
                    let d0 = c.forward(&input).expect("d0");
                    let d1 = b.forward_t(&d0, false).expect("d1");
                    assert_close(
                        &format!("{p}.downsample.0"),
                        get(&format!("{p}.downsample.0")),
                        &d0,
                        TOL,
                    );
                    assert_close(
                        &format!("{p}.downsample.1"),
                        get(&format!("{p}.downsample.1")),
                        &d1,
                        TOL,
                    );
                    d1
                }
                None => input,
            };
            let out = (b2 + identity).and_then(|t| t.relu()).expect("out");
            assert_close(&p, &out, &h, TOL);
        }
        assert_close(
            &format!("layer{}", i + 1),
            get(&format!("layer{}", i + 1)),
            &h,
            TOL,
        );
    }
    let avg = adaptive_avg_pool_1x1(&h).expect("avgpool");
    assert_close("avgpool", get("avgpool"), &avg, TOL);
    let manual_logits =
        m.fc.forward(&avg.flatten_from(1).expect("flat"))
            .expect("fc");
    assert_close("fc", get("fc"), &manual_logits, TOL);
    assert_close("logits", &logits, &manual_logits, TOL);
    // A plain forward (every BatchNorm folded) gives the same logits.
    assert_close(
        "forward_t",
        &m.forward_t(&x, false).expect("fwd"),
        &logits,
        TOL,
    );
}

#[test]
fn taps_come_in_request_order_with_repeats() {
    let (m, _) = resnet(4);
    let x = batch(&[1, 3, 32, 32]);
    let (_, taps) = m
        .forward_with_taps(&x, &["fc", "layer1.0", "input", "fc"], false)
        .expect("forward");
    let names: Vec<&str> = taps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["fc", "layer1.0", "input", "fc"]);
    let (_, none) = m.forward_with_taps(&x, &[], false).expect("forward");
    assert!(none.is_empty());
}

#[test]
fn unknown_tap_lists_valid_names() {
    let (m, _) = resnet(5);
    let x = batch(&[1, 3, 32, 32]);
    let err = m
        .forward_with_taps(&x, &["layer1.0.conv1", "layer9"], false)
        .expect_err("unknown tap");
    assert!(matches!(&err, Error::UnknownTap { name, .. } if name == "layer9"));
    assert_message(
        &err,
        &[
            "`layer9`",
            "input",
            "layer1.0.conv1",
            "layer2.0.downsample.0",
            "avgpool",
            "fc",
        ],
    );
    // The block-internal `relu` is not a tap (PyTorch calls it twice per block).
    assert!(!m.tap_names().iter().any(|n| n == "layer1.0.relu"));
}

#[test]
fn bad_input_is_one_line_error() {
    let (m, _) = resnet(6);
    let err = m
        .forward_t(&batch(&[2, 1, 32, 32]), false)
        .expect_err("1 channel");
    assert_message(&err, &["resnet18", "[2, 1, 32, 32]", "[n, 3, h, w]"]);
    let x = batch(&[2, 3, 32, 32]).to_dtype(DType::F64).expect("f64");
    let err = m.forward_t(&x, false).expect_err("f64 input");
    assert_message(&err, &["F64", "to_dtype"]);
}

/// Per-channel mean and unbiased variance of `[n, c, h, w]`.
fn channel_stats(x: &Tensor) -> (Vec<f32>, Vec<f32>) {
    let c = x.dim(1).expect("c");
    let flat = x
        .transpose(0, 1)
        .and_then(|t| t.flatten_from(1))
        .expect("flat"); // [c, n*h*w]
    let m = flat.dim(1).expect("m") as f64;
    let mean = flat.mean_keepdim(1).expect("mean");
    let var = flat
        .broadcast_sub(&mean)
        .and_then(|d| d.sqr())
        .and_then(|d| d.sum_keepdim(1))
        .and_then(|s| s.affine(1.0 / (m - 1.0), 0.0))
        .expect("var");
    let v = |t: Tensor| t.reshape(c).and_then(|t| t.to_vec1::<f32>()).expect("vec");
    (v(mean), v(var))
}

#[test]
fn batchnorm_eval_uses_running_stats_and_train_updates_them() {
    let (m, mut varmap) = resnet(7);
    let c = 64;
    let dev = Device::Cpu;
    let mean0: Vec<f32> = (0..c).map(|i| 0.05 * i as f32 - 1.0).collect();
    let var0: Vec<f32> = (0..c).map(|i| 0.5 + 0.02 * i as f32).collect();
    varmap
        .set_one(
            "bn1.running_mean",
            Tensor::new(mean0.as_slice(), &dev).expect("t"),
        )
        .expect("set");
    varmap
        .set_one(
            "bn1.running_var",
            Tensor::new(var0.as_slice(), &dev).expect("t"),
        )
        .expect("set");
    let x = batch(&[4, 3, 32, 32]);

    // Eval: (x - running_mean) / sqrt(running_var + eps) with weight 1 and bias 0.
    let (_, eval) = m
        .forward_with_taps(&x, &["conv1", "bn1"], false)
        .expect("eval");
    let conv1 = &eval[0].1;
    let shape = (1, c, 1, 1);
    let mean_t = Tensor::new(mean0.as_slice(), &dev)
        .and_then(|t| t.reshape(shape))
        .expect("m");
    let std_t = Tensor::new(var0.as_slice(), &dev)
        .and_then(|t| t.affine(1.0, 1e-5))
        .and_then(|t| t.sqrt())
        .and_then(|t| t.reshape(shape))
        .expect("s");
    let want = conv1
        .broadcast_sub(&mean_t)
        .and_then(|t| t.broadcast_div(&std_t))
        .expect("want");
    assert_close("bn1 eval", &eval[1].1, &want, 1e-5);
    // Eval leaves the running statistics alone.
    let rm = |vm: &VarMap, n: &str| {
        vm.data().lock().expect("lock")[n]
            .to_vec1::<f32>()
            .expect("v")
    };
    assert_eq!(rm(&varmap, "bn1.running_mean"), mean0);

    // Train: batch statistics (per-channel mean 0, variance 1), output differs from eval.
    let (_, train) = m
        .forward_with_taps(&x, &["conv1", "bn1"], true)
        .expect("train");
    assert_close("conv1 is mode-independent", &train[0].1, conv1, 0.0);
    let (tm, tv) = channel_stats(&train[1].1);
    assert!(tm.iter().all(|v| v.abs() < 1e-4), "train-mode means {tm:?}");
    assert!(
        tv.iter().all(|v| (v - 1.0).abs() < 1e-2),
        "train-mode variances {tv:?}"
    );
    let diff = crate::util::max_diff(&train[1].1, &eval[1].1);
    assert!(diff > 0.1, "train and eval outputs agree ({diff})");

    // The running statistics in the VarMap moved by momentum 0.1 towards the batch's.
    let (bm, bv) = channel_stats(conv1);
    let new_mean = rm(&varmap, "bn1.running_mean");
    let new_var = rm(&varmap, "bn1.running_var");
    for i in 0..c {
        let want_m = 0.9 * mean0[i] + 0.1 * bm[i];
        let want_v = 0.9 * var0[i] + 0.1 * bv[i];
        assert!(
            (new_mean[i] - want_m).abs() < 1e-4,
            "mean[{i}] {} vs {want_m}",
            new_mean[i]
        );
        assert!(
            (new_var[i] - want_v).abs() < 1e-3 * want_v.max(1.0),
            "var[{i}] {} vs {want_v}",
            new_var[i]
        );
    }
    // Eval now uses the updated statistics.
    let (_, eval2) = m.forward_with_taps(&x, &["bn1"], false).expect("eval");
    assert!(crate::util::max_diff(&eval2[0].1, &eval[1].1) > 1e-3);
}

#[test]
fn seeded_init_is_reproducible() {
    let x = batch(&[1, 3, 32, 32]);
    let (a, va) = resnet(11);
    let (b, _) = resnet(11);
    let (c, _) = resnet(12);
    let ya = a.forward_t(&x, false).expect("a");
    assert_close("same seed", &ya, &b.forward_t(&x, false).expect("b"), 0.0);
    assert!(crate::util::max_diff(&ya, &c.forward_t(&x, false).expect("c")) > 1e-4);
    let data = va.data().lock().expect("lock");
    let ones = data["layer2.1.bn1.weight"].to_vec1::<f32>().expect("w");
    assert!(ones.iter().all(|v| *v == 1.0));
    let w = data["conv1.weight"]
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .expect("w");
    let var = w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32;
    assert!((var - 2.0 / 27.0).abs() < 0.02, "Kaiming variance {var}");
}

/// PyTorch's max-pool by brute force: windows clipped to the input.
fn reference_max_pool(x: &[f32], (h, w): (usize, usize), k: usize, s: usize, p: usize) -> Vec<f32> {
    let oh = (h + 2 * p - k) / s + 1;
    let ow = (w + 2 * p - k) / s + 1;
    let mut out = Vec::with_capacity(oh * ow);
    for i in 0..oh {
        for j in 0..ow {
            let mut m = f32::NEG_INFINITY;
            for di in 0..k {
                for dj in 0..k {
                    let (r, c) = (
                        (i * s + di) as isize - p as isize,
                        (j * s + dj) as isize - p as isize,
                    );
                    if r >= 0 && c >= 0 && (r as usize) < h && (c as usize) < w {
                        m = m.max(x[r as usize * w + c as usize]);
                    }
                }
            }
            out.push(m);
        }
    }
    out
}

#[test]
fn maxpool_matches_pytorch_semantics_and_has_gradients() {
    use probe_models::MaxPool2d;
    for (h, w) in [(8, 8), (7, 9), (1, 1), (32, 32)] {
        for (k, s, p) in [(3, 2, 1), (2, 2, 0), (3, 1, 1), (3, 3, 0)] {
            if h + 2 * p < k || w + 2 * p < k {
                continue;
            }
            let x = batch(&[1, 1, h, w]);
            let pool = MaxPool2d {
                kernel: k,
                stride: s,
                padding: p,
            };
            let got = pool.forward(&x).expect("pool");
            let flat = x.flatten_all().and_then(|t| t.to_vec1::<f32>()).expect("x");
            let want = reference_max_pool(&flat, (h, w), k, s, p);
            let got_v = got
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .expect("got");
            assert_eq!(got_v, want, "{h}×{w} k{k} s{s} p{p}");
        }
    }
    // Gradients flow to exactly one input per output window (no ties in this batch).
    let var = candle_core::Var::from_tensor(&batch(&[2, 3, 8, 8])).expect("var");
    let pool = MaxPool2d {
        kernel: 3,
        stride: 2,
        padding: 1,
    };
    let y = pool.forward(var.as_tensor()).expect("pool");
    let grads = y.sum_all().and_then(|t| t.backward()).expect("backward");
    let g = grads.get(var.as_tensor()).expect("grad");
    let total = g.sum_all().and_then(|t| t.to_vec0::<f32>()).expect("sum");
    assert_eq!(total, y.elem_count() as f32);
    let bad = MaxPool2d {
        kernel: 3,
        stride: 2,
        padding: 2,
    };
    assert!(bad.forward(var.as_tensor()).is_err());
}

#[test]
fn eval_folds_batchnorm_into_untapped_convolutions_to_1e5() {
    let (m, varmap) = resnet(4);
    // Non-trivial BatchNorms: drawn scales and shifts, running statistics from batches.
    for (name, var) in varmap.data().lock().expect("lock").iter() {
        let is_bn = name.contains("bn") || name.contains("downsample.1");
        if is_bn && (name.ends_with(".weight") || name.ends_with(".bias")) {
            let shape = var.shape().clone();
            var.set(&Tensor::rand(0.5f32, 1.5, shape, &Device::Cpu).expect("rand"))
                .expect("set");
        }
    }
    for seed in 0..3 {
        let x = (batch(&[4, 3, 32, 32]) * (1.0 + seed as f64)).expect("x");
        m.forward_t(&x, true).expect("train-mode forward");
    }
    let x = batch(&[3, 3, 32, 32]);
    let all = m.tap_names();
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let (unfused_logits, unfused) = m.forward_with_taps(&x, &refs, false).expect("unfused");
    // No convolution output asked for: every conv + BN pair is folded.
    let wanted = [
        "bn1",
        "layer1.0.bn1",
        "layer2.0",
        "layer3.0.downsample.1",
        "layer4.1.bn2",
        "avgpool",
    ];
    let (logits, fused) = m.forward_with_taps(&x, &wanted, false).expect("fused");
    let relative = |a: &Tensor, b: &Tensor| {
        let scale = b
            .abs()
            .and_then(|t| t.max_all())
            .and_then(|t| t.to_vec0::<f32>());
        let diff = (a - b).and_then(|d| d.abs()).and_then(|d| d.max_all());
        diff.and_then(|d| d.to_vec0::<f32>()).expect("diff") / scale.expect("scale").max(1e-6)
    };
    for (name, got) in &fused {
        let want = &unfused.iter().find(|(n, _)| n == name).expect("tap").1;
        let d = relative(got, want);
        assert!(
            d < 1e-5,
            "{name}: folded differs from unfused by {d:e} (relative)"
        );
        assert!(
            d > 0.0 || name == "bn1",
            "{name}: identical, so nothing was folded"
        );
    }
    assert!(relative(&logits, &unfused_logits) < 1e-5);
}
