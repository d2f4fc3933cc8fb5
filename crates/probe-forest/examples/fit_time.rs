//! Times the binned forest's two phases on a feature-set file, in one process: building the
//! bins, then growing the trees (best of several fits), for profiling the engine.
//!
//! `cargo run --release -p probe-forest --example fit_time -- FILE [DEPTH] [FITS]`

use std::time::Instant;

use probe_forest::{ForestParams, Matrix};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: fit_time FILE [DEPTH] [FITS]");
    let depth: usize = args.get(2).map_or(15, |a| a.parse().expect("a depth"));
    let fits: usize = args
        .get(3)
        .map_or(5, |a| a.parse().expect("a number of fits"));
    let bytes = std::fs::read(path).expect("a readable file");
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + header_len]).unwrap();
    let data = &bytes[8 + header_len..];
    let tensor = |name: &str| {
        let t = &header[name];
        let offsets = &t["data_offsets"];
        let (a, b) = (
            offsets[0].as_u64().unwrap() as usize,
            offsets[1].as_u64().unwrap() as usize,
        );
        let shape: Vec<usize> = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        (t["dtype"].as_str().unwrap().to_string(), shape, &data[a..b])
    };
    let (dtype, shape, raw) = tensor("features");
    assert_eq!(dtype, "F32", "features must be F32");
    let (n, d) = (shape[0], shape[1..].iter().product::<usize>());
    let x: Vec<f32> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let (ldtype, _, lraw) = tensor("labels");
    assert_eq!(ldtype, "I64", "labels must be I64");
    let labels: Vec<i64> = lraw
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let mut classes = labels.clone();
    classes.sort_unstable();
    classes.dedup();
    let y: Vec<u32> = labels
        .iter()
        .map(|l| classes.binary_search(l).unwrap() as u32)
        .collect();

    let start = Instant::now();
    let matrix = Matrix::binned(n, d, &x, &y).unwrap();
    println!("bins   {:.3} s ({n} x {d})", start.elapsed().as_secs_f64());
    let params = ForestParams::default()
        .max_depth(depth)
        .seed(2)
        .check()
        .unwrap();
    let mut best = f64::INFINITY;
    for _ in 0..fits {
        let start = Instant::now();
        let forest = params.fit(&matrix, &y, classes.len()).unwrap();
        best = best.min(start.elapsed().as_secs_f64());
        std::hint::black_box(forest);
    }
    println!("trees  {best:.3} s (best of {fits}, depth {depth})");
}
