//! Our randomized PCA against linfa-reduction's PCA on one deterministic matrix.
//!
//! ```text
//! cargo run --release -p probe-reduce --example pca_vs_linfa -- --impl ours|linfa --n N --d D --k K
//! ```
//!
//! Runs ONE implementation per process (so that the process's peak RSS is that
//! implementation's) and prints one line of JSON. `seconds` is the PCA fit + transform only;
//! `explained_variance_ratio` is scikit-learn's `PCA.explained_variance_ratio_.sum()`: the
//! variance of each projected component over the total variance of the input, summed over the K
//! components, computed here the same way for both implementations from their outputs.
//! `scripts/bench-pca.sh` runs the sizes of the README.
//!
//! The matrix: a rank-50 signal with decaying scales 10·0.9^r, a random offset per column (so
//! that centring matters), and Gaussian noise of standard deviation 0.1 on every entry.

use std::process::ExitCode;
use std::time::Instant;

use linfa::traits::{Fit, Transformer};
use linfa::DatasetBase;
use ndarray::Array2;
use probe_reduce::{reduce_rows, DenseRows, Method, ReduceParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

/// Rank of the signal.
const RANK: usize = 50;
/// Scale of the r-th signal direction: SCALE0 · DECAY^r.
const SCALE0: f32 = 10.0;
const DECAY: f32 = 0.9;
/// Standard deviation of the noise on each entry.
const NOISE: f32 = 0.1;
const SEED: u64 = 20240611;

struct Args {
    imp: String,
    n: usize,
    d: usize,
    k: usize,
}

fn parse_args() -> Result<Args, String> {
    let usage = "usage: pca_vs_linfa --impl ours|linfa --n N --d D --k K";
    let mut imp = None;
    let (mut n, mut d, mut k) = (None, None, None);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value; {usage}"))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--impl" => imp = Some(value.clone()),
            "--n" => n = Some(number()?),
            "--d" => d = Some(number()?),
            "--k" => k = Some(number()?),
            _ => return Err(format!("unknown argument `{flag}`; {usage}")),
        }
    }
    let args = Args {
        imp: imp.ok_or(usage)?,
        n: n.ok_or(usage)?,
        d: d.ok_or(usage)?,
        k: k.ok_or(usage)?,
    };
    if args.imp != "ours" && args.imp != "linfa" {
        return Err(format!("--impl {}: use ours or linfa", args.imp));
    }
    if args.k == 0 || args.k > args.n.min(args.d) {
        return Err(format!(
            "--k {} must be in 1..={}",
            args.k,
            args.n.min(args.d)
        ));
    }
    Ok(args)
}

/// The deterministic n × d matrix, row-major. Each row draws from its own ChaCha stream, so
/// the matrix does not depend on the number of threads.
fn make_data(n: usize, d: usize) -> Vec<f32> {
    let rank = RANK.min(d);
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    // Signal directions, rows of unit expected norm, pre-multiplied by their scales.
    let norm = 1.0 / (d as f32).sqrt();
    let directions: Vec<f32> = (0..rank * d)
        .map(|i| {
            let scale = SCALE0 * DECAY.powi((i / d) as i32);
            scale * norm * rng.sample::<f32, _>(StandardNormal)
        })
        .collect();
    let offset: Vec<f32> = (0..d)
        .map(|_| 2.0 * rng.sample::<f32, _>(StandardNormal))
        .collect();

    let mut data = vec![0f32; n * d];
    data.par_chunks_mut(d).enumerate().for_each(|(i, row)| {
        let mut rng = ChaCha8Rng::seed_from_u64(SEED + 1);
        rng.set_stream(i as u64);
        for (x, &o) in row.iter_mut().zip(&offset) {
            *x = o + NOISE * rng.sample::<f32, _>(StandardNormal);
        }
        for dir in directions.chunks_exact(d) {
            let z: f32 = rng.sample(StandardNormal);
            for (x, &v) in row.iter_mut().zip(dir) {
                *x += z * v;
            }
        }
    });
    data
}

/// Σ_j Var(x_j) of a row-major n × d matrix (population variance, as numpy's `var`), in f64.
fn total_variance(data: &[f32], n: usize, d: usize) -> f64 {
    let (sum, sum_sq) = data
        .par_chunks(d * 256)
        .map(|block| {
            let (mut s, mut ss) = (vec![0f64; d], vec![0f64; d]);
            for row in block.chunks_exact(d) {
                for (j, &x) in row.iter().enumerate() {
                    s[j] += f64::from(x);
                    ss[j] += f64::from(x) * f64::from(x);
                }
            }
            (s, ss)
        })
        .reduce(
            || (vec![0f64; d], vec![0f64; d]),
            |(mut s, mut ss), (s2, ss2)| {
                for j in 0..d {
                    s[j] += s2[j];
                    ss[j] += ss2[j];
                }
                (s, ss)
            },
        );
    let n = n as f64;
    sum.iter()
        .zip(&sum_sq)
        .map(|(s, ss)| ((ss - s * s / n) / n).max(0.0))
        .sum()
}

/// Population variance of each column of a row-major n × k matrix given by `at(i, j)`.
fn column_variances(n: usize, k: usize, at: impl Fn(usize, usize) -> f64) -> Vec<f64> {
    (0..k)
        .map(|j| {
            let (mut s, mut ss) = (0f64, 0f64);
            for i in 0..n {
                let v = at(i, j);
                s += v;
                ss += v * v;
            }
            let nf = n as f64;
            (ss / nf - (s / nf) * (s / nf)).max(0.0)
        })
        .collect()
}

/// What one implementation produced.
struct Outcome {
    seconds: f64,
    /// Seconds spent converting the input for the implementation, outside `seconds`.
    convert_seconds: f64,
    singular_values: Vec<f64>,
    /// Population variance of each projected component.
    component_variances: Vec<f64>,
}

fn run_ours(data: &[f32], n: usize, d: usize, k: usize) -> Result<Outcome, String> {
    let params = ReduceParams::new(k)
        .method(Method::Pca)
        .check()
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let reduced = reduce_rows(&DenseRows::new(data, n, d), &params).map_err(|e| e.to_string())?;
    let seconds = start.elapsed().as_secs_f64();
    let kk = reduced.k;
    let component_variances = column_variances(reduced.n, kk, |i, j| {
        f64::from(reduced.features[i * kk + j])
    });
    Ok(Outcome {
        seconds,
        convert_seconds: 0.0,
        singular_values: reduced.singular_values,
        component_variances,
    })
}

fn run_linfa(data: Vec<f32>, n: usize, d: usize, k: usize) -> Result<Outcome, String> {
    // linfa-reduction's `Pca` is implemented for f64 only, so this Array2<f64> is itself a
    // copy of the f32 input, twice its size. Inside, `fit` makes another n × d f64 copy
    // (`x - &mean`, moved into the LOBPCG truncated SVD) and `transform` a third
    // (`records - &self.mean`) before the product. The f32 input is dropped once converted,
    // as a memory-mapped feature set's pages could be: the peak RSS is linfa's own.
    let start = Instant::now();
    let x = Array2::from_shape_fn((n, d), |(i, j)| f64::from(data[i * d + j]));
    drop(data);
    let convert_seconds = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let dataset = DatasetBase::from(x);
    let model = linfa_reduction::Pca::params(k)
        .fit(&dataset)
        .map_err(|e| e.to_string())?;
    let projected = model.transform(dataset);
    let seconds = start.elapsed().as_secs_f64();

    // linfa's own `explained_variance_ratio()` divides each σ² by the sum over the K kept
    // components only (so it always sums to 1), and `explained_variance()` divides σ² by
    // K − 1 rather than n − 1: neither is scikit-learn's ratio, so it is measured from the
    // projected data below, as for ours.
    let records = projected.records();
    let (rows, cols) = records.dim();
    let component_variances = column_variances(rows, cols, |i, j| records[(i, j)]);
    Ok(Outcome {
        seconds,
        convert_seconds,
        singular_values: model.singular_values().to_vec(),
        component_variances,
    })
}

fn json_list(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:.6e}")).collect();
    format!("[{}]", items.join(","))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let (n, d, k) = (args.n, args.d, args.k);
    let start = Instant::now();
    let data = make_data(n, d);
    let generate_seconds = start.elapsed().as_secs_f64();
    let total = total_variance(&data, n, d);

    let outcome = if args.imp == "ours" {
        run_ours(&data, n, d, k)
    } else {
        run_linfa(data, n, d, k)
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{} PCA failed: {e}", args.imp);
            return ExitCode::FAILURE;
        }
    };
    let explained: f64 = outcome.component_variances.iter().sum();
    let top = |v: &[f64]| json_list(&v[..v.len().min(3)]);
    println!(
        "{{\"impl\":\"{}\",\"n\":{n},\"d\":{d},\"k\":{k},\"components\":{},\"seconds\":{:.3},\
         \"convert_seconds\":{:.3},\"generate_seconds\":{:.3},\"explained_variance_ratio\":{:.6},\
         \"top_singular_values\":{},\"top_explained_variances\":{}}}",
        args.imp,
        outcome.component_variances.len(),
        outcome.seconds,
        outcome.convert_seconds,
        generate_seconds,
        if total > 0.0 { explained / total } else { 0.0 },
        top(&outcome.singular_values),
        top(&outcome.component_variances),
    );
    ExitCode::SUCCESS
}
