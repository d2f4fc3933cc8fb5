//! Barnes–Hut t-SNE in 2-D (van der Maaten 2014), with the settings of his `bhtsne` (and
//! so of `linfa-tsne`): exact neighbours, P calibrated to the perplexity on ⌊3·perplexity⌋
//! neighbours, early exaggeration 12 and momentum 0.5 for the first 250 iterations, then
//! momentum 0.8; learning rate 200 with adaptive gains; θ = 0.5; a Gaussian start of
//! standard deviation 1e-4.
//!
//! Ours rather than `linfa-tsne` because bhtsne 0.4 (under it) partitions its vantage-point
//! tree at the wrong index and picks the tree's pivots with an unseeded `thread_rng`, so its
//! neighbours are inexact and its result changes from run to run whatever the seed. Here the
//! neighbours are exact, the per-point forces run in parallel but each point on its own, and
//! every sum is taken in a fixed order: one seed, one result, whatever the thread count.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::neighbors::nearest_neighbors;

const THETA: f64 = 0.5;
const LEARNING_RATE: f64 = 200.0;
const EXAGGERATION: f64 = 12.0;
/// Quadtree cells stop splitting at this depth, so a leaf holds one point unless points
/// (nearly) coincide.
const MAX_DEPTH: usize = 48;

/// The 2-D layout of `points` (row-major `n × d`, finite, `n ≥ 3·perplexity + 1`).
pub(super) fn tsne(
    points: &[f32],
    n: usize,
    d: usize,
    perplexity: f64,
    iterations: usize,
    seed: u64,
) -> Vec<[f32; 2]> {
    let k = ((3.0 * perplexity) as usize).clamp(1, n - 1);
    let (indices, dists) = nearest_neighbors(points, n, d, k + 1);
    let p = joint_probabilities(&indices, &dists, n, k + 1, perplexity);

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // A separate stream, so that the subsample drawn from the same seed does not echo here.
    rng.set_stream(2);
    let mut y: Vec<[f64; 2]> = (0..n)
        .map(|_| [1e-4 * gaussian(&mut rng), 1e-4 * gaussian(&mut rng)])
        .collect();
    let mut velocity = vec![[0f64; 2]; n];
    let mut gains = vec![[1f64; 2]; n];
    // linfa-tsne's rule for the exaggerated phase and the momentum switch.
    let early = (iterations / 2).min(250);
    for it in 0..iterations {
        let (exaggeration, momentum) = if it < early {
            (EXAGGERATION, 0.5)
        } else {
            (1.0, 0.8)
        };
        let grad = gradient(&p, &y, exaggeration);
        for i in 0..n {
            for c in 0..2 {
                // Delta-bar-delta: a gain grows while the descent direction (−gradient) agrees
                // with the velocity, and shrinks when it flips.
                gains[i][c] = if grad[i][c].signum() != velocity[i][c].signum() {
                    gains[i][c] + 0.2
                } else {
                    (gains[i][c] * 0.8).max(0.01)
                };
                velocity[i][c] =
                    momentum * velocity[i][c] - LEARNING_RATE * gains[i][c] * grad[i][c];
                y[i][c] += velocity[i][c];
            }
        }
        center(&mut y);
    }
    y.iter().map(|p| [p[0] as f32, p[1] as f32]).collect()
}

/// The symmetric joint probabilities p_ij = (p_j|i + p_i|j) / 2n as rows of (j, p_ij).
fn joint_probabilities(
    indices: &[u32],
    dists: &[f32],
    n: usize,
    k: usize,
    perplexity: f64,
) -> Vec<Vec<(u32, f64)>> {
    // Row i's conditional distribution over its neighbours (the point itself, first, left out).
    let conditional: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .map(|i| calibrate(&dists[i * k + 1..(i + 1) * k], perplexity))
        .collect();
    let mut entries: Vec<(u32, u32, f64)> = Vec::with_capacity(2 * n * (k - 1));
    for (i, row) in conditional.iter().enumerate() {
        for (s, &pij) in row.iter().enumerate() {
            let j = indices[i * k + 1 + s];
            entries.push((i as u32, j, pij));
            entries.push((j, i as u32, pij));
        }
    }
    entries.sort_unstable_by_key(|e| (e.0, e.1));
    let total: f64 = entries.iter().map(|e| e.2).sum();
    let mut rows = vec![Vec::new(); n];
    for run in entries.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let sum: f64 = run.iter().map(|e| e.2).sum();
        rows[run[0].0 as usize].push((run[0].1, sum / total));
    }
    rows
}

/// p_j|i ∝ exp(−β d_j²) over one point's neighbour distances, β found by bisection so
/// that the entropy is ln(perplexity) (to 1e-5, as bhtsne).
fn calibrate(dists: &[f32], perplexity: f64) -> Vec<f64> {
    let target = perplexity.ln();
    // Distances relative to the nearest: the same distribution, and exp cannot underflow
    // to an all-zero row when the layer's distances are large.
    let d0 = f64::from(dists[0]).powi(2);
    let sq: Vec<f64> = dists.iter().map(|&x| f64::from(x).powi(2) - d0).collect();
    let (mut beta, mut lo, mut hi) = (1.0f64, 0.0f64, f64::INFINITY);
    let mut p = vec![0.0; sq.len()];
    for _ in 0..200 {
        for (pj, &s) in p.iter_mut().zip(&sq) {
            *pj = (-beta * s).exp();
        }
        let sum: f64 = p.iter().sum();
        let entropy = beta * sq.iter().zip(&p).map(|(s, pj)| s * pj).sum::<f64>() / sum + sum.ln();
        let diff = entropy - target;
        if diff.abs() < 1e-5 {
            break;
        }
        // Too flat (entropy too high): sharpen with a larger β.
        if diff > 0.0 {
            lo = beta;
            beta = if hi.is_infinite() {
                beta * 2.0
            } else {
                (beta + hi) / 2.0
            };
        } else {
            hi = beta;
            beta = (beta + lo) / 2.0;
        }
    }
    let sum: f64 = p.iter().sum();
    p.iter().map(|pj| pj / sum).collect()
}

/// ∂KL/∂y_i / 4 = Σ_j p_ij q_ij Z (y_i − y_j) − Σ_j q_ij² Z (y_i − y_j), the attractive sum
/// exact over P's non-zeros, the repulsive one by Barnes–Hut.
fn gradient(p: &[Vec<(u32, f64)>], y: &[[f64; 2]], exaggeration: f64) -> Vec<[f64; 2]> {
    let tree = QuadTree::new(y);
    let repulsive: Vec<([f64; 2], f64)> = (0..y.len())
        .into_par_iter()
        .map(|i| {
            let mut force = [0.0; 2];
            let mut z = 0.0;
            tree.repel(0, i as u32, y[i], &mut force, &mut z);
            (force, z)
        })
        .collect();
    // Summed in index order, so the normaliser does not depend on the thread count.
    let z: f64 = repulsive.iter().map(|r| r.1).sum();
    (0..y.len())
        .into_par_iter()
        .map(|i| {
            let mut attract = [0.0; 2];
            for &(j, pij) in &p[i] {
                let diff = [y[i][0] - y[j as usize][0], y[i][1] - y[j as usize][1]];
                let q = 1.0 / (1.0 + diff[0] * diff[0] + diff[1] * diff[1]);
                attract[0] += exaggeration * pij * q * diff[0];
                attract[1] += exaggeration * pij * q * diff[1];
            }
            let (rep, _) = repulsive[i];
            [attract[0] - rep[0] / z, attract[1] - rep[1] / z]
        })
        .collect()
}

/// A point-region quadtree over the layout, nodes in one arena, points of a node contiguous
/// in `order`.
struct QuadTree<'a> {
    y: &'a [[f64; 2]],
    order: Vec<u32>,
    nodes: Vec<Node>,
}

struct Node {
    center_of_mass: [f64; 2],
    count: f64,
    half_width: f64,
    /// Range of `order` holding this node's points.
    start: usize,
    end: usize,
    /// Arena indices of the non-empty children, the first `n_children` of them; a leaf has
    /// none. A fixed array: the tree is rebuilt every iteration, and a `Vec` per node would
    /// be an allocation per node per iteration.
    children: [u32; 4],
    n_children: usize,
}

impl<'a> QuadTree<'a> {
    fn new(y: &'a [[f64; 2]]) -> Self {
        let mut lo = [f64::INFINITY; 2];
        let mut hi = [f64::NEG_INFINITY; 2];
        for p in y {
            for c in 0..2 {
                lo[c] = lo[c].min(p[c]);
                hi[c] = hi[c].max(p[c]);
            }
        }
        let center = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        // bhtsne's margin, so that no point sits exactly on the outer boundary.
        let half = ((hi[0] - lo[0]).max(hi[1] - lo[1])) / 2.0 + 1e-5;
        let mut tree = QuadTree {
            y,
            order: (0..y.len() as u32).collect(),
            nodes: Vec::with_capacity(2 * y.len()),
        };
        tree.build(0, y.len(), center, half, 0);
        tree
    }

    fn build(
        &mut self,
        start: usize,
        end: usize,
        center: [f64; 2],
        half: f64,
        depth: usize,
    ) -> u32 {
        let id = self.nodes.len() as u32;
        let mut com = [0.0; 2];
        for &i in &self.order[start..end] {
            com[0] += self.y[i as usize][0];
            com[1] += self.y[i as usize][1];
        }
        let count = (end - start) as f64;
        self.nodes.push(Node {
            center_of_mass: [com[0] / count, com[1] / count],
            count,
            half_width: half,
            start,
            end,
            children: [0; 4],
            n_children: 0,
        });
        let first = self.y[self.order[start] as usize];
        let coincide = self.order[start..end]
            .iter()
            .all(|&i| self.y[i as usize] == first);
        if end - start == 1 || depth == MAX_DEPTH || coincide {
            return id;
        }
        // Split by x, then each half by y: quadrants in the order (−,−), (−,+), (+,−), (+,+).
        let y = self.y;
        let split_x = start + partition(&mut self.order[start..end], |i| y[i][0] < center[0]);
        let split_lo = start + partition(&mut self.order[start..split_x], |i| y[i][1] < center[1]);
        let split_hi = split_x + partition(&mut self.order[split_x..end], |i| y[i][1] < center[1]);
        let h = half / 2.0;
        let quadrants = [
            (start, split_lo, [center[0] - h, center[1] - h]),
            (split_lo, split_x, [center[0] - h, center[1] + h]),
            (split_x, split_hi, [center[0] + h, center[1] - h]),
            (split_hi, end, [center[0] + h, center[1] + h]),
        ];
        for (s, e, c) in quadrants {
            if e > s {
                let child = self.build(s, e, c, h, depth + 1);
                let node = &mut self.nodes[id as usize];
                node.children[node.n_children] = child;
                node.n_children += 1;
            }
        }
        id
    }

    /// Adds node `id`'s repulsion on point `i` at `at`: Σ q² Z (y_i − y_j) into `force` and
    /// Σ q Z into `z`, a far cell counted as its point count at its centre of mass.
    fn repel(&self, id: u32, i: u32, at: [f64; 2], force: &mut [f64; 2], z: &mut f64) {
        let node = &self.nodes[id as usize];
        if node.n_children == 0 {
            for &j in &self.order[node.start..node.end] {
                if j != i {
                    add_repulsion(at, self.y[j as usize], 1.0, force, z);
                }
            }
            return;
        }
        let diff = [
            at[0] - node.center_of_mass[0],
            at[1] - node.center_of_mass[1],
        ];
        let d2 = diff[0] * diff[0] + diff[1] * diff[1];
        if node.half_width * node.half_width < THETA * THETA * d2 {
            add_repulsion(at, node.center_of_mass, node.count, force, z);
        } else {
            for &child in &node.children[..node.n_children] {
                self.repel(child, i, at, force, z);
            }
        }
    }
}

fn add_repulsion(at: [f64; 2], other: [f64; 2], weight: f64, force: &mut [f64; 2], z: &mut f64) {
    let diff = [at[0] - other[0], at[1] - other[1]];
    let q = 1.0 / (1.0 + diff[0] * diff[0] + diff[1] * diff[1]);
    *z += weight * q;
    force[0] += weight * q * q * diff[0];
    force[1] += weight * q * q * diff[1];
}

/// Moves the indices for which `left` holds to the front; returns how many there are.
fn partition(order: &mut [u32], left: impl Fn(usize) -> bool) -> usize {
    let mut split = 0;
    for k in 0..order.len() {
        if left(order[k] as usize) {
            order.swap(split, k);
            split += 1;
        }
    }
    split
}

fn center(y: &mut [[f64; 2]]) {
    let n = y.len() as f64;
    let mean = [
        y.iter().map(|p| p[0]).sum::<f64>() / n,
        y.iter().map(|p| p[1]).sum::<f64>() / n,
    ];
    for p in y {
        p[0] -= mean[0];
        p[1] -= mean[1];
    }
}

/// A standard normal draw (Box–Muller), enough for a start of scale 1e-4.
fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = 1.0 - rng.random::<f64>();
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}
