//! A compact UMAP for at most a few thousand points, following umap-learn step by step:
//! exact k-nearest neighbours, the fuzzy simplicial set (smooth-kNN σ and ρ, fuzzy union),
//! then SGD on the 2-D layout with negative sampling and min_dist 0.1. The start is random
//! (umap-learn's `init="random"`), not spectral, to stay free of an eigensolver.
//!
//! Every step is deterministic for a seed: the neighbour search and the σ search run in
//! parallel but each row on its own, and the SGD runs sequentially, where umap-learn lets
//! threads race on the layout (Hogwild). One departure, for speed: an edge's attraction and
//! its negative samples are all taken at the head's position before that edge's step.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::neighbors::nearest_neighbors;

/// umap-learn's curve 1 / (1 + a d^(2b)) fitted for min_dist 0.1, spread 1.
const A: f32 = 1.577;
const B: f32 = 0.895;
/// Negative samples per positive one (umap-learn's `negative_sample_rate`).
const NEGATIVE_RATE: f64 = 5.0;
/// Gradient components are clipped to ±4, as in umap-learn.
const CLIP: f32 = 4.0;

/// What the caller chose; everything else is umap-learn's default.
pub(super) struct Settings {
    /// Neighbourhood size, the point itself included.
    pub n_neighbors: usize,
    /// SGD epochs.
    pub n_epochs: usize,
    /// Seed of the start and the negative samples.
    pub seed: u64,
}

/// The 2-D layout of `points` (row-major `n × d`, finite, `n > n_neighbors`).
pub(super) fn umap(points: &[f32], n: usize, d: usize, settings: &Settings) -> Vec<[f32; 2]> {
    let k = settings.n_neighbors.min(n);
    let (indices, dists) = nearest_neighbors(points, n, d, k);
    let edges = fuzzy_union(&membership_strengths(&indices, &dists, n, k));
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    // A separate stream, so that the subsample drawn from the same seed does not echo here.
    rng.set_stream(1);
    let mut layout: Vec<[f32; 2]> = (0..n)
        .map(|_| [rng.random_range(-10.0..10.0), rng.random_range(-10.0..10.0)])
        .collect();
    optimize(&mut layout, &edges, settings.n_epochs, &mut rng);
    layout
}

/// umap-learn's `smooth_knn_dist` and `compute_membership_strengths`: the directed edge
/// weights exp(−(d − ρ)/σ), row-major `n × k` (0 for the point itself), where ρ is the
/// distance to the nearest other point and σ makes each row's weights sum to log2(k).
fn membership_strengths(
    indices: &[u32],
    dists: &[f32],
    n: usize,
    k: usize,
) -> Vec<(u32, u32, f32)> {
    const TOLERANCE: f64 = 1e-5;
    const MIN_SCALE: f64 = 1e-3;
    let target = (k as f64).log2();
    let mean_all = dists.iter().map(|&x| f64::from(x)).sum::<f64>() / dists.len().max(1) as f64;
    let rows: Vec<Vec<(u32, u32, f32)>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let row = &dists[i * k..(i + 1) * k];
            let rho = row
                .iter()
                .map(|&x| f64::from(x))
                .find(|&x| x > 0.0)
                .unwrap_or(0.0);
            let (mut lo, mut hi, mut sigma) = (0.0f64, f64::INFINITY, 1.0f64);
            for _ in 0..64 {
                let psum: f64 = row[1..]
                    .iter()
                    .map(|&x| {
                        let t = f64::from(x) - rho;
                        if t > 0.0 {
                            (-t / sigma).exp()
                        } else {
                            1.0
                        }
                    })
                    .sum();
                if (psum - target).abs() < TOLERANCE {
                    break;
                }
                if psum > target {
                    hi = sigma;
                    sigma = (lo + hi) / 2.0;
                } else {
                    lo = sigma;
                    sigma = if hi.is_infinite() {
                        sigma * 2.0
                    } else {
                        (lo + hi) / 2.0
                    };
                }
            }
            // A floor on σ keeps weights finite when neighbours sit almost on top of ρ.
            let mean_row = row.iter().map(|&x| f64::from(x)).sum::<f64>() / k as f64;
            let floor = MIN_SCALE * if rho > 0.0 { mean_row } else { mean_all };
            let sigma = sigma.max(floor);
            (0..k)
                .filter_map(|s| {
                    let j = indices[i * k + s];
                    if j as usize == i {
                        return None;
                    }
                    let t = f64::from(row[s]) - rho;
                    let w = if t <= 0.0 || sigma == 0.0 {
                        1.0
                    } else {
                        (-t / sigma).exp()
                    };
                    (w > 0.0).then_some((i as u32, j, w as f32))
                })
                .collect()
        })
        .collect();
    rows.into_iter().flatten().collect()
}

/// The fuzzy union w_ij + w_ji − w_ij·w_ji of directed weights, as edges in both
/// directions sorted by (head, tail), the order umap-learn's sparse graph has.
fn fuzzy_union(directed: &[(u32, u32, f32)]) -> Vec<(u32, u32, f32)> {
    let mut keyed: Vec<(u32, u32, bool, f32)> = directed
        .iter()
        .map(|&(i, j, w)| (i.min(j), i.max(j), i < j, w))
        .collect();
    keyed.sort_unstable_by_key(|k| (k.0, k.1, k.2));
    let mut edges = Vec::with_capacity(keyed.len() * 2);
    for pair in keyed.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let (lo, hi) = (pair[0].0, pair[0].1);
        let (mut forward, mut backward) = (0f32, 0f32);
        for &(_, _, up, w) in pair {
            if up {
                forward = w;
            } else {
                backward = w;
            }
        }
        let w = forward + backward - forward * backward;
        edges.push((lo, hi, w));
        edges.push((hi, lo, w));
    }
    edges.sort_unstable_by_key(|&(i, j, _)| (i, j));
    edges
}

/// umap-learn's `optimize_layout_euclidean` with a shared head and tail layout, run
/// sequentially: each edge is sampled in proportion to its weight, pulls its ends together,
/// and pushes its head away from `NEGATIVE_RATE` random points.
fn optimize(
    layout: &mut [[f32; 2]],
    edges: &[(u32, u32, f32)],
    n_epochs: usize,
    rng: &mut ChaCha8Rng,
) {
    let n = layout.len() as u32;
    let max_w = edges.iter().map(|e| e.2).fold(0f32, f32::max);
    // Edges too weak to be sampled once in the whole run are dropped, as umap-learn does.
    let edges: Vec<(u32, u32, f32)> = edges
        .iter()
        .copied()
        .filter(|e| e.2 >= max_w / n_epochs as f32 && e.2 > 0.0)
        .collect();
    let every: Vec<f64> = edges.iter().map(|e| f64::from(max_w / e.2)).collect();
    let every_negative: Vec<f64> = every.iter().map(|e| e / NEGATIVE_RATE).collect();
    let mut next = every.clone();
    let mut next_negative = every_negative.clone();
    for epoch in 0..n_epochs {
        let alpha = 1.0 - epoch as f32 / n_epochs as f32;
        let now = epoch as f64;
        for (e, &(head, tail, _)) in edges.iter().enumerate() {
            if next[e] > now {
                continue;
            }
            let (j, k) = (head as usize, tail as usize);
            next[e] += every[e];
            let n_negative = ((now - next_negative[e]) / every_negative[e]).max(0.0) as usize;
            // All of this edge's gradients are taken at the head's position before the step,
            // so they are independent and their costly `powf`s overlap in the pipeline
            // (nearly half the time saved); umap-learn moves the head between them, which differs
            // only at second order in the learning rate.
            let cur = layout[j];
            let other = layout[k];
            let pull = scaled(cur, other, attraction(squared(cur, other)), alpha);
            let mut push = [0f32; 2];
            for _ in 0..n_negative {
                let other = layout[rng.random_range(0..n) as usize];
                let g = scaled(cur, other, repulsion(squared(cur, other)), alpha);
                push = [push[0] + g[0], push[1] + g[1]];
            }
            layout[j] = [cur[0] + pull[0] + push[0], cur[1] + pull[1] + push[1]];
            layout[k] = [layout[k][0] - pull[0], layout[k][1] - pull[1]];
            next_negative[e] += n_negative as f64 * every_negative[e];
        }
    }
}

fn squared(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

/// The attractive gradient coefficient −2ab·d^(2(b−1)) / (1 + a·d^(2b)) at squared distance
/// `d2`; 0 for coincident points.
fn attraction(d2: f32) -> f32 {
    if d2 > 0.0 {
        let pb = d2.powf(B);
        -2.0 * A * B * (pb / d2) / (A * pb + 1.0)
    } else {
        0.0
    }
}

/// The repulsive gradient coefficient 2b / ((0.001 + d²)(1 + a·d^(2b))); 0 for coincident
/// points, which also skips a negative sample that drew the head itself, as umap-learn does.
fn repulsion(d2: f32) -> f32 {
    if d2 > 0.0 {
        2.0 * B / ((0.001 + d2) * (A * d2.powf(B) + 1.0))
    } else {
        0.0
    }
}

/// The step α · clip(coeff · (a − b)), clipped per coordinate as umap-learn does.
fn scaled(a: [f32; 2], b: [f32; 2], coeff: f32, alpha: f32) -> [f32; 2] {
    [
        (coeff * (a[0] - b[0])).clamp(-CLIP, CLIP) * alpha,
        (coeff * (a[1] - b[1])).clamp(-CLIP, CLIP) * alpha,
    ]
}
