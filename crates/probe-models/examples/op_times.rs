//! Times each op class of the small CNN's training step and of a ResNet-18 forward, so that a
//! change to the model code can be judged by where the time goes (issue 14's profile).

use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Conv2dConfig, VarBuilder, VarMap};
use probe_models::ops;

fn time<T>(label: &str, reps: usize, mut f: impl FnMut() -> T) -> T {
    let mut out = f();
    let start = Instant::now();
    for _ in 0..reps {
        out = f();
    }
    let ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
    println!("{label:<44} {ms:9.3} ms");
    out
}

fn main() -> candle_core::Result<()> {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
    let pad1 = Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    let conv1 = candle_nn::conv2d(1, 32, 3, pad1, vb.pp("conv1"))?;
    let conv2 = candle_nn::conv2d(32, 64, 3, pad1, vb.pp("conv2"))?;
    let x = Var::from_tensor(&Tensor::randn(0f32, 1., (32, 1, 28, 28), &dev)?)?;
    let h1 = Var::from_tensor(&Tensor::randn(0f32, 1., (32, 32, 14, 14), &dev)?)?;
    let reps = 20;
    println!("small CNN, batch 32");
    let y1 = time("conv1 forward (1→32, 28²)", reps, || {
        conv1.forward(&x).unwrap()
    });
    time("conv1 backward", reps, || {
        y1.sum_all().unwrap().backward().unwrap()
    });
    let y2 = time("conv2 forward (32→64, 14²)", reps, || {
        conv2.forward(&h1).unwrap()
    });
    time("conv2 backward", reps, || {
        y2.sum_all().unwrap().backward().unwrap()
    });
    let (w1, b1) = (conv1.weight(), conv1.bias().unwrap());
    let (w2, b2) = (conv2.weight(), conv2.bias().unwrap());
    let y1 = time("ours: conv1 forward", reps, || {
        ops::conv2d(&x, w1, Some(b1), 1, 1).unwrap()
    });
    time("ours: conv1 backward", reps, || {
        y1.sum_all().unwrap().backward().unwrap()
    });
    let y2 = time("ours: conv2 forward", reps, || {
        ops::conv2d(&h1, w2, Some(b2), 1, 1).unwrap()
    });
    time("ours: conv2 backward", reps, || {
        y2.sum_all().unwrap().backward().unwrap()
    });
    let p = time("ours: max_pool2d 2 forward", reps, || {
        ops::max_pool2d(&h1, 2, 2, 0).unwrap()
    });
    time("ours: max_pool2d backward", reps, || {
        p.sum_all().unwrap().backward().unwrap()
    });
    let p = time("max_pool2d 2 forward (no conv)", reps, || {
        h1.max_pool2d(2).unwrap()
    });
    time("max_pool2d backward (no conv)", reps, || {
        p.sum_all().unwrap().backward().unwrap()
    });
    let r = time("relu (32×32×28²)", reps, || y1.relu().unwrap());
    let p = time("max_pool2d 2 forward", reps, || r.max_pool2d(2).unwrap());
    time("relu + max_pool2d backward", reps, || {
        p.sum_all().unwrap().backward().unwrap()
    });
    let w = Var::from_tensor(&Tensor::randn(0f32, 0.01, (128, 3136), &dev)?)?;
    let a = Var::from_tensor(&Tensor::randn(0f32, 1., (32, 3136), &dev)?)?;
    let z = time("fc1 forward (3136→128)", reps, || {
        a.matmul(&w.t().unwrap()).unwrap()
    });
    time("fc1 backward", reps, || {
        z.sum_all().unwrap().backward().unwrap()
    });
    Ok(())
}
