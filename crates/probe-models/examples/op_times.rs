//! Times the op classes of the small CNN's training step and a ResNet-18 eval forward, so a
//! change to the model code can be judged by where the time goes (issue 14's profile).
//! Run: `cargo run --release -p probe-models --example op_times`.

use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Conv2dConfig, VarBuilder, VarMap};
use probe_models::{ops, Model, Tapped};

fn time<T>(label: &str, reps: usize, mut f: impl FnMut() -> T) -> T {
    // The fastest of `reps` runs after a warm-up: this machine's neighbours add noise.
    let mut out = f();
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let start = Instant::now();
        out = f();
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!("{label:<48} {:9.3} ms", best * 1e3);
    out
}

fn main() -> candle_core::Result<()> {
    let only_resnet = std::env::args().any(|a| a == "resnet");
    if !only_resnet {
        small_cnn()?;
    }
    resnet()
}

fn small_cnn() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    let pad1 = Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    let conv2 = candle_nn::conv2d(32, 64, 3, pad1, vb.pp("conv2"))?;
    let (w2, b2) = (conv2.weight(), conv2.bias().expect("bias"));
    let h1 = Var::from_tensor(&Tensor::randn(0f32, 1., (32, 32, 14, 14), &dev)?)?;
    let reps = 20;
    let backward = |t: &Tensor| t.sum_all().and_then(|s| s.backward()).expect("backward");
    println!("small CNN shapes, batch 32");
    let y = time("candle conv2 forward (32→64, 14²)", reps, || {
        conv2.forward(&h1).expect("conv")
    });
    time("candle conv2 backward", reps, || backward(&y));
    let y = time("ours: conv2 forward", reps, || {
        ops::conv2d(&h1, w2, Some(b2), 1, 1).expect("conv")
    });
    time("ours: conv2 backward", reps, || backward(&y));
    let p = time("candle max_pool2d forward", reps, || {
        h1.max_pool2d(2).expect("pool")
    });
    time("candle max_pool2d backward", reps, || backward(&p));
    let p = time("ours: max_pool2d forward", reps, || {
        ops::max_pool2d(&h1, 2, 2, 0).expect("pool")
    });
    time("ours: max_pool2d backward", reps, || backward(&p));
    let r = time("relu forward", reps, || h1.relu().expect("relu"));
    time("relu backward", reps, || backward(&r));
    let w = Var::from_tensor(&Tensor::randn(0f32, 0.01, (128, 3136), &dev)?)?;
    let a = Tensor::randn(0f32, 1., (32, 3136), &dev)?;
    let z = time("fc1 forward (3136→128)", reps, || {
        a.matmul(&w.t().expect("t")).expect("matmul")
    });
    time("fc1 backward", reps, || backward(&z));
    Ok(())
}

fn resnet() -> candle_core::Result<()> {
    let dev = Device::Cpu;

    println!("ResNet-18 (CIFAR), eval, batch 128");
    let (model, _) = Model::fresh("resnet18", &Default::default(), &dev, Some(0))
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    let x = Tensor::randn(0f32, 1., (128, 3, 32, 32), &dev)?;
    let taps = [
        "layer1.0.conv1",
        "layer1.0.conv2",
        "layer2.0.conv1",
        "layer2.0.conv2",
        "layer3.0.conv1",
        "layer3.0.conv2",
        "avgpool",
    ];
    time("forward, no taps (every BatchNorm folded)", 6, || {
        model.forward_with_taps(&x, &[], false).expect("forward")
    });
    time("forward, the bench's 7 taps", 6, || {
        model.forward_with_taps(&x, &taps, false).expect("forward")
    });
    Ok(())
}
