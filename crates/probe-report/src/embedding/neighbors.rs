//! Exact k-nearest neighbours by brute force, shared by UMAP and t-SNE: at the few thousand
//! points an embedding holds, n² distances take well under a second, and exact neighbours
//! keep the result independent of tree shapes and of the thread count.

use rayon::prelude::*;

/// Each point's k nearest points by Euclidean distance, itself first, then by distance
/// (ties by index): row-major `n × k` indices and distances.
pub(super) fn nearest_neighbors(
    points: &[f32],
    n: usize,
    d: usize,
    k: usize,
) -> (Vec<u32>, Vec<f32>) {
    let mut indices = vec![0u32; n * k];
    let mut dists = vec![0f32; n * k];
    indices
        .par_chunks_mut(k)
        .zip(dists.par_chunks_mut(k))
        .enumerate()
        .for_each_init(
            || Vec::with_capacity(n),
            |candidates: &mut Vec<(f32, u32)>, (i, (idx_row, dist_row))| {
                let x = &points[i * d..(i + 1) * d];
                candidates.clear();
                candidates.extend(
                    (0..n)
                        .filter(|&j| j != i)
                        .map(|j| (squared_distance(x, &points[j * d..(j + 1) * d]), j as u32)),
                );
                let by_distance =
                    |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                let nearest = if k - 1 < candidates.len() {
                    candidates.select_nth_unstable_by(k - 1, by_distance).0
                } else {
                    &mut candidates[..]
                };
                nearest.sort_unstable_by(by_distance);
                idx_row[0] = i as u32;
                dist_row[0] = 0.0;
                for (slot, &(d2, j)) in nearest.iter().enumerate().take(k - 1) {
                    idx_row[slot + 1] = j;
                    dist_row[slot + 1] = d2.sqrt();
                }
            },
        );
    (indices, dists)
}

/// Squared Euclidean distance with eight running sums, which the compiler turns into SIMD
/// (a single running sum would have to be summed in order).
fn squared_distance(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (xa, xb) in ca.zip(cb) {
        for l in 0..8 {
            let t = xa[l] - xb[l];
            acc[l] += t * t;
        }
    }
    acc.iter().sum::<f32>() + tail
}
