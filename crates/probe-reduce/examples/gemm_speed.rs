//! faer's f32 product at the reduction's shapes, in GFLOP/s (issue 19's profile).
use std::time::Instant;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};

fn main() {
    for (m, k, n, label) in [
        (2000, 6272, 2510, "A·X, 2,000-row block"),
        (668, 6272, 2510, "A·X, 668-row block (16 MB)"),
        (6272, 668, 2510, "Aᵀ·X, 668-row block"),
    ] {
        let a = Mat::<f32>::from_fn(m, k, |i, j| ((i * 7 + j * 13) % 17) as f32 * 0.1);
        let b = Mat::<f32>::from_fn(k, n, |i, j| ((i * 5 + j * 3) % 11) as f32 * 0.1);
        let mut c = Mat::<f32>::zeros(m, n);
        let mut best = f64::INFINITY;
        for _ in 0..4 {
            let t = Instant::now();
            matmul(
                c.as_mut(),
                Accum::Replace,
                a.as_ref(),
                b.as_ref(),
                1.0,
                Par::rayon(0),
            );
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{label:<32} {:6.1} GFLOP/s",
            2.0 * (m * k * n) as f64 / best / 1e9
        );
    }
    // As probe-reduce streams them: a row-major block of the file, viewed in place.
    let (rows, d, l) = (668, 6272, 2510);
    let block: Vec<f32> = (0..rows * d).map(|i| (i % 19) as f32 * 0.1).collect();
    let a = faer::MatRef::from_row_major_slice(&block, rows, d);
    let x = Mat::<f32>::from_fn(d, l, |i, j| ((i * 5 + j * 3) % 11) as f32 * 0.1);
    let xt = Mat::<f32>::from_fn(rows, l, |i, j| ((i * 5 + j * 3) % 11) as f32 * 0.1);
    let mut y = Mat::<f32>::zeros(rows, l);
    let mut z = Mat::<f32>::zeros(d, l);
    for (label, transpose) in [
        ("row-major block · X", false),
        ("row-major blockᵀ · X (add)", true),
    ] {
        let mut best = f64::INFINITY;
        for _ in 0..4 {
            let t = Instant::now();
            if transpose {
                matmul(
                    z.as_mut(),
                    Accum::Add,
                    a.transpose(),
                    xt.as_ref(),
                    1.0,
                    Par::rayon(0),
                );
            } else {
                matmul(
                    y.as_mut(),
                    Accum::Replace,
                    a,
                    x.as_ref(),
                    1.0,
                    Par::rayon(0),
                );
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{label:<32} {:6.1} GFLOP/s",
            2.0 * (rows * d * l) as f64 / best / 1e9
        );
    }
}
