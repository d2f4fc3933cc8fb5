//! faer's f32 product at the reduction's shapes, in GFLOP/s (issue 19's profile).
use std::time::Instant;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};

/// Prints the rate of `flops` floating-point operations done by `run`, best of four runs.
fn report(label: &str, flops: usize, mut run: impl FnMut()) {
    let mut best = f64::INFINITY;
    for _ in 0..4 {
        let t = Instant::now();
        run();
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{label:<32} {:6.1} GFLOP/s", flops as f64 / best / 1e9);
}

fn main() {
    for (m, k, n, label) in [
        (2000, 6272, 2510, "A·X, 2,000-row block"),
        (668, 6272, 2510, "A·X, 668-row block (16 MB)"),
        (6272, 668, 2510, "Aᵀ·X, 668-row block"),
    ] {
        let a = Mat::<f32>::from_fn(m, k, |i, j| ((i * 7 + j * 13) % 17) as f32 * 0.1);
        let b = Mat::<f32>::from_fn(k, n, |i, j| ((i * 5 + j * 3) % 11) as f32 * 0.1);
        let mut c = Mat::<f32>::zeros(m, n);
        report(label, 2 * m * k * n, || {
            let (a, b) = (a.as_ref(), b.as_ref());
            matmul(c.as_mut(), Accum::Replace, a, b, 1.0, Par::rayon(0));
        });
    }
    // As probe-reduce streams them: a row-major block of the file, viewed in place.
    let (rows, d, l) = (668, 6272, 2510);
    let block: Vec<f32> = (0..rows * d).map(|i| (i % 19) as f32 * 0.1).collect();
    let a = faer::MatRef::from_row_major_slice(&block, rows, d);
    let x = Mat::<f32>::from_fn(d, l, |i, j| ((i * 5 + j * 3) % 11) as f32 * 0.1);
    let xt = Mat::<f32>::from_fn(rows, l, |i, j| ((i * 5 + j * 3) % 11) as f32 * 0.1);
    let mut y = Mat::<f32>::zeros(rows, l);
    let mut z = Mat::<f32>::zeros(d, l);
    let flops = 2 * rows * d * l;
    report("row-major block · X", flops, || {
        matmul(
            y.as_mut(),
            Accum::Replace,
            a,
            x.as_ref(),
            1.0,
            Par::rayon(0),
        );
    });
    report("row-major blockᵀ · X (add)", flops, || {
        let (at, xt) = (a.transpose(), xt.as_ref());
        matmul(z.as_mut(), Accum::Add, at, xt, 1.0, Par::rayon(0));
    });
}
