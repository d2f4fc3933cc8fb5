//! k-means on a layer's features with k = number of classes, scored against the labels with
//! the metrics scikit-learn computes (same definitions, same values).
//!
//! The six scores are ports of `sklearn.metrics` 1.9: the same formulas, the same special
//! cases, and agreement to 1e-9 on the fixtures in `tests/clustering.rs` (made by
//! `scripts/clustering_expected.py`). Labels are `&[u32]` with arbitrary values: only equality
//! matters, as in scikit-learn. k-means is linfa's (k-means++ initialisation, best of
//! several runs), seeded so that a seed gives the same clusters on any machine.
//!
//! ```
//! use probe_report::clustering::{cluster_layer, scores, ClusteringParams};
//!
//! // Two classes, told apart by the only coordinate.
//! let points = [0.0f32, 0.1, 0.2, 10.0, 10.1, 10.2];
//! let labels = [7u32, 7, 7, 3, 3, 3];
//! let params = ClusteringParams::default().seed(1).check()?;
//! let s = cluster_layer(&points, 6, 1, &labels, &params)?;
//! assert_eq!(s.ari, 1.0);
//!
//! // Scores ignore what the labels are called.
//! let s = scores(&[0, 0, 1, 1], &[5, 5, 2, 2])?;
//! assert_eq!((s.ami, s.v_measure, s.fowlkes_mallows), (1.0, 1.0, 1.0));
//! # Ok::<(), probe_report::Error>(())
//! ```

use linfa::traits::{Fit, Predict};
use linfa::DatasetBase;
use linfa_clustering::KMeans;
use ndarray::ArrayView2;
use rand_xoshiro::rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How well k-means clusters of a layer agree with the classes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClusteringScores {
    /// Adjusted Rand index.
    pub ari: f64,
    /// Adjusted mutual information (arithmetic normalisation, scikit-learn's default).
    pub ami: f64,
    /// Homogeneity.
    pub homogeneity: f64,
    /// Completeness.
    pub completeness: f64,
    /// V-measure (β = 1).
    pub v_measure: f64,
    /// Fowlkes–Mallows index.
    pub fowlkes_mallows: f64,
}

/// All six scores of `labels_pred` against `labels_true` from one contingency table.
///
/// Errors when the two slices differ in length.
pub fn scores(labels_true: &[u32], labels_pred: &[u32]) -> Result<ClusteringScores> {
    let table = Contingency::new(labels_true, labels_pred)?;
    let (homogeneity, completeness, v_measure) = table.homogeneity_completeness_v();
    Ok(ClusteringScores {
        ari: table.adjusted_rand(),
        ami: table.adjusted_mutual_info(),
        homogeneity,
        completeness,
        v_measure,
        fowlkes_mallows: table.fowlkes_mallows(),
    })
}

/// scikit-learn's `adjusted_rand_score`: 1.0 for identical partitions (any label names),
/// about 0 for independent ones, possibly negative.
pub fn adjusted_rand_score(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    Ok(Contingency::new(labels_true, labels_pred)?.adjusted_rand())
}

/// scikit-learn's `adjusted_mutual_info_score` with `average_method="arithmetic"`, the
/// expected mutual information computed exactly (hypergeometric model), not sampled.
pub fn adjusted_mutual_info_score(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    Ok(Contingency::new(labels_true, labels_pred)?.adjusted_mutual_info())
}

/// scikit-learn's `homogeneity_score`: 1.0 when every cluster holds one class only.
pub fn homogeneity_score(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    Ok(Contingency::new(labels_true, labels_pred)?
        .homogeneity_completeness_v()
        .0)
}

/// scikit-learn's `completeness_score`: 1.0 when every class lies in one cluster only.
pub fn completeness_score(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    Ok(Contingency::new(labels_true, labels_pred)?
        .homogeneity_completeness_v()
        .1)
}

/// scikit-learn's `v_measure_score` with β = 1: the harmonic mean of homogeneity and
/// completeness.
pub fn v_measure_score(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    Ok(Contingency::new(labels_true, labels_pred)?
        .homogeneity_completeness_v()
        .2)
}

/// scikit-learn's `fowlkes_mallows_score`: the geometric mean of pairwise precision and
/// recall; 0.0 when no pair of points shares both a class and a cluster.
pub fn fowlkes_mallows_score(labels_true: &[u32], labels_pred: &[u32]) -> Result<f64> {
    Ok(Contingency::new(labels_true, labels_pred)?.fowlkes_mallows())
}

/// The contingency table of two labelings, kept sparse because one side may have as many
/// clusters as there are points.
struct Contingency {
    n: u64,
    /// Class sizes, in sorted label order.
    rows: Vec<u64>,
    /// Cluster sizes, in sorted label order.
    cols: Vec<u64>,
    /// The non-zero cells as (row, column, n_ij).
    cells: Vec<(usize, usize, u64)>,
}

impl Contingency {
    fn new(labels_true: &[u32], labels_pred: &[u32]) -> Result<Contingency> {
        if labels_true.len() != labels_pred.len() {
            return Err(Error::InvalidInput {
                reason: format!(
                    "labels_true has {} entries but labels_pred has {}",
                    labels_true.len(),
                    labels_pred.len()
                ),
            });
        }
        let classes = sorted_unique(labels_true);
        let clusters = sorted_unique(labels_pred);
        let mut pairs: Vec<(u32, u32)> = labels_true
            .iter()
            .copied()
            .zip(labels_pred.iter().copied())
            .collect();
        pairs.sort_unstable();
        let mut rows = vec![0u64; classes.len()];
        let mut cols = vec![0u64; clusters.len()];
        let mut cells = Vec::new();
        for run in pairs.chunk_by(|a, b| a == b) {
            let (t, p) = run[0];
            let (r, c) = (index_of(&classes, t), index_of(&clusters, p));
            let count = run.len() as u64;
            rows[r] += count;
            cols[c] += count;
            cells.push((r, c, count));
        }
        Ok(Contingency {
            n: labels_true.len() as u64,
            rows,
            cols,
            cells,
        })
    }

    /// scikit-learn's `pair_confusion_matrix` as (tn, fp, fn, tp), over ordered pairs; i128
    /// because the products in the ARI overflow i64 beyond about 50,000 points.
    fn pair_confusion(&self) -> (i128, i128, i128, i128) {
        let n = i128::from(self.n);
        let sum_squares: i128 = self.cells.iter().map(|&(_, _, v)| square(v)).sum();
        let tp = sum_squares - n;
        let fp = self.cols.iter().map(|&v| square(v)).sum::<i128>() - sum_squares;
        let fn_ = self.rows.iter().map(|&v| square(v)).sum::<i128>() - sum_squares;
        let tn = n * n - fp - fn_ - sum_squares;
        (tn, fp, fn_, tp)
    }

    fn adjusted_rand(&self) -> f64 {
        let (tn, fp, fn_, tp) = self.pair_confusion();
        // Empty data, or full agreement (identical up to renaming, or all singletons).
        if fn_ == 0 && fp == 0 {
            return 1.0;
        }
        let numerator = 2 * (tp * tn - fn_ * fp);
        let denominator = (tp + fn_) * (fn_ + tn) + (tp + fp) * (fp + tn);
        numerator as f64 / denominator as f64
    }

    /// scikit-learn's `mutual_info_score` (natural log).
    fn mutual_info(&self) -> f64 {
        // A single class or cluster has zero entropy, and MI ≤ min(H(X), H(Y)).
        if self.rows.len() == 1 || self.cols.len() == 1 {
            return 0.0;
        }
        let n = self.n as f64;
        let ln_n = n.ln();
        let mut mi = 0.0;
        for &(r, c, count) in &self.cells {
            let nij = count as f64;
            let c_nm = nij / n;
            let log_outer = -((self.rows[r] * self.cols[c]) as f64).ln() + ln_n + ln_n;
            let term = c_nm * (nij.ln() - ln_n) + c_nm * log_outer;
            // scikit-learn zeroes terms below machine epsilon before summing.
            if term.abs() >= f64::EPSILON {
                mi += term;
            }
        }
        mi.max(0.0)
    }

    /// scikit-learn's `expected_mutual_information`: the mean MI over all labelings with
    /// these class and cluster sizes (Vinh, Epps & Bailey 2010), summed exactly in log space.
    fn expected_mutual_info(&self) -> f64 {
        if self.rows.len() == 1 || self.cols.len() == 1 {
            return 0.0;
        }
        let n = self.n;
        let ln_fact = ln_factorials(n);
        let ln_n = (n as f64).ln();
        let mut emi = 0.0;
        for &a in &self.rows {
            for &b in &self.cols {
                let start = (a + b).saturating_sub(n).max(1);
                let end = a.min(b);
                let ln_ab = (a as f64).ln() + (b as f64).ln();
                let numerators = ln_fact[a as usize]
                    + ln_fact[b as usize]
                    + ln_fact[(n - a) as usize]
                    + ln_fact[(n - b) as usize]
                    - ln_fact[n as usize];
                for nij in start..=end {
                    let nij_f = nij as f64;
                    let term1 = nij_f / n as f64;
                    let term2 = ln_n + nij_f.ln() - ln_ab;
                    let gln = numerators
                        - ln_fact[nij as usize]
                        - ln_fact[(a - nij) as usize]
                        - ln_fact[(b - nij) as usize]
                        - ln_fact[(n + nij - a - b) as usize];
                    emi += term1 * term2 * gln.exp();
                }
            }
        }
        emi
    }

    fn adjusted_mutual_info(&self) -> f64 {
        let (k_true, k_pred) = (self.rows.len(), self.cols.len());
        // Both unsplit (or empty): a perfect match.
        if (k_true == 1 && k_pred == 1) || (k_true == 0 && k_pred == 0) {
            return 1.0;
        }
        if k_true == 1 || k_pred == 1 {
            return 0.0;
        }
        let mi = self.mutual_info();
        let emi = self.expected_mutual_info();
        let normalizer = (entropy(&self.rows, self.n) + entropy(&self.cols, self.n)) / 2.0;
        // Rounding can put EMI a hair above the normaliser or MI; scikit-learn keeps the sign
        // and bounds the magnitude below by ε so that a perfect match gives 1, not 0/0.
        let clamp = |x: f64| {
            if x < 0.0 {
                x.min(-f64::EPSILON)
            } else {
                x.max(f64::EPSILON)
            }
        };
        clamp(mi - emi) / clamp(normalizer - emi)
    }

    fn homogeneity_completeness_v(&self) -> (f64, f64, f64) {
        if self.n == 0 {
            return (1.0, 1.0, 1.0);
        }
        let h_true = entropy(&self.rows, self.n);
        let h_pred = entropy(&self.cols, self.n);
        let mi = self.mutual_info();
        let homogeneity = if h_true != 0.0 { mi / h_true } else { 1.0 };
        let completeness = if h_pred != 0.0 { mi / h_pred } else { 1.0 };
        let v = if homogeneity + completeness == 0.0 {
            0.0
        } else {
            2.0 * homogeneity * completeness / (homogeneity + completeness)
        };
        (homogeneity, completeness, v)
    }

    fn fowlkes_mallows(&self) -> f64 {
        let n = i128::from(self.n);
        let tk = self.cells.iter().map(|&(_, _, v)| square(v)).sum::<i128>() - n;
        if tk == 0 {
            return 0.0;
        }
        let pk = self.cols.iter().map(|&v| square(v)).sum::<i128>() - n;
        let qk = self.rows.iter().map(|&v| square(v)).sum::<i128>() - n;
        let tk = tk as f64;
        (tk / pk as f64).sqrt() * (tk / qk as f64).sqrt()
    }
}

/// scikit-learn's `_entropy` from cluster sizes (natural log).
fn entropy(sizes: &[u64], n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    if sizes.len() == 1 {
        return 0.0;
    }
    let n = n as f64;
    let ln_n = n.ln();
    -sizes
        .iter()
        .map(|&s| {
            let s = s as f64;
            (s / n) * (s.ln() - ln_n)
        })
        .sum::<f64>()
}

fn sorted_unique(labels: &[u32]) -> Vec<u32> {
    let mut v = labels.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

/// Position of a label known to be in `sorted`.
fn index_of(sorted: &[u32], label: u32) -> usize {
    sorted.partition_point(|&x| x < label)
}

fn square(v: u64) -> i128 {
    i128::from(v) * i128::from(v)
}

/// ln(k!) for k = 0..=n. Small k from the exact factorial; larger k from Stirling's series
/// for ln Γ(k + 1), whose first omitted term is below 1e-17 from k = 21 on, so every entry
/// is as accurate as a libm `lgamma` and, unlike a running sum of logs, does not drift.
fn ln_factorials(n: u64) -> Vec<f64> {
    const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;
    let mut exact = 1u64;
    (0..=n)
        .map(|k| {
            if k <= 20 {
                exact *= k.max(1);
                (exact as f64).ln()
            } else {
                let x = (k + 1) as f64;
                let r = 1.0 / x;
                let r2 = r * r;
                let series = r
                    * (1.0 / 12.0
                        - r2 * (1.0 / 360.0
                            - r2 * (1.0 / 1260.0 - r2 * (1.0 / 1680.0 - r2 / 1188.0))));
                (x - 0.5) * x.ln() - x + HALF_LN_2PI + series
            }
        })
        .collect()
}

/// Settings of k-means.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusteringParams {
    n_runs: usize,
    max_iters: u64,
    tolerance: f32,
    seed: u64,
}

impl Default for ClusteringParams {
    fn default() -> Self {
        ClusteringParams {
            n_runs: 4,
            max_iters: 300,
            tolerance: 1e-4,
            seed: 0,
        }
    }
}

impl ClusteringParams {
    /// Independent k-means++ starts; the run with the lowest inertia wins. Default 4.
    pub fn n_runs(mut self, n_runs: usize) -> Self {
        self.n_runs = n_runs;
        self
    }

    /// Iterations per run at most. Default 300 (scikit-learn's).
    pub fn max_iters(mut self, max_iters: u64) -> Self {
        self.max_iters = max_iters;
        self
    }

    /// A run stops when the centroids move less than this (Euclidean norm over all
    /// centroids). Default 1e-4.
    pub fn tolerance(mut self, tolerance: f32) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Seed of the k-means++ starts. Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the settings that do not depend on the data (k and n are checked against the
    /// data by [`kmeans_with`]).
    pub fn check(self) -> Result<ValidClusteringParams> {
        if self.n_runs == 0 {
            return Err(invalid("n_runs", "must be at least 1".into()));
        }
        if self.max_iters == 0 {
            return Err(invalid("max_iters", "must be at least 1".into()));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(invalid(
                "tolerance",
                format!("{} is not a positive number", self.tolerance),
            ));
        }
        Ok(ValidClusteringParams(self))
    }
}

/// Settings that passed [`ClusteringParams::check`].
///
/// Deserialised through [`ClusteringParams`] and its check, so that no unchecked values get
/// in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ClusteringParams")]
pub struct ValidClusteringParams(ClusteringParams);

impl TryFrom<ClusteringParams> for ValidClusteringParams {
    type Error = Error;

    fn try_from(params: ClusteringParams) -> Result<ValidClusteringParams> {
        params.check()
    }
}

impl ValidClusteringParams {
    /// Independent starts.
    pub fn n_runs(&self) -> usize {
        self.0.n_runs
    }
    /// Iterations per run at most.
    pub fn max_iters(&self) -> u64 {
        self.0.max_iters
    }
    /// Convergence tolerance.
    pub fn tolerance(&self) -> f32 {
        self.0.tolerance
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.0.seed
    }
}

/// k-means with the default settings and `seed`: the cluster (0..k) of each row of
/// `points`, a row-major `n × d` matrix.
pub fn kmeans(points: &[f32], n: usize, d: usize, k: usize, seed: u64) -> Result<Vec<usize>> {
    kmeans_with(
        points,
        n,
        d,
        k,
        &ClusteringParams::default().seed(seed).check()?,
    )
}

/// k-means with the given settings: the cluster (0..k) of each row of `points`, a row-major
/// `n × d` matrix. The same seed gives the same clusters whatever the thread count.
///
/// Errors when `k` is 0 or above `n`, when `points` is not `n × d`, or holds a NaN or an
/// infinity.
pub fn kmeans_with(
    points: &[f32],
    n: usize,
    d: usize,
    k: usize,
    params: &ValidClusteringParams,
) -> Result<Vec<usize>> {
    let view = points_view(points, n, d)?;
    if k == 0 || k > n {
        return Err(invalid(
            "k",
            format!("{k} clusters asked of {n} points: need 1 ≤ k ≤ n"),
        ));
    }
    // linfa's KMeans++ draws its candidates from this RNG alone (KMeans|| would reseed per
    // thread), so the result depends on the seed only.
    let rng = Xoshiro256Plus::seed_from_u64(params.seed());
    let model = KMeans::params_with_rng(k, rng)
        .n_runs(params.n_runs())
        .max_n_iterations(params.max_iters())
        .tolerance(params.tolerance())
        .fit(&DatasetBase::from(view))
        .map_err(|e| Error::Fit {
            algorithm: "k-means",
            reason: e.to_string(),
        })?;
    // The memberships linfa keeps after fitting belong to its last run, not the best one,
    // so assign again with the winning centroids.
    Ok(model.predict(&view).to_vec())
}

/// k-means with k = the number of distinct labels, scored against the labels.
///
/// `points` is a row-major `n × d` matrix, `labels` its `n` classes.
pub fn cluster_layer(
    points: &[f32],
    n: usize,
    d: usize,
    labels: &[u32],
    params: &ValidClusteringParams,
) -> Result<ClusteringScores> {
    if labels.len() != n {
        return Err(Error::InvalidInput {
            reason: format!("{} labels for {n} points", labels.len()),
        });
    }
    let k = sorted_unique(labels).len();
    let clusters = kmeans_with(points, n, d, k, params)?;
    // k ≤ n labels, each a u32, so a cluster index always fits.
    let clusters: Vec<u32> = clusters.into_iter().map(|c| c as u32).collect();
    scores(labels, &clusters)
}

/// A row-major `n × d` view of `points` after checking its size and values.
pub(crate) fn points_view(points: &[f32], n: usize, d: usize) -> Result<ArrayView2<'_, f32>> {
    if n.checked_mul(d) != Some(points.len()) {
        return Err(Error::InvalidInput {
            reason: format!(
                "{} values are not {n} points × {d} dimensions",
                points.len()
            ),
        });
    }
    if d == 0 {
        return Err(Error::InvalidInput {
            reason: "points have 0 dimensions".into(),
        });
    }
    if let Some(i) = points.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidInput {
            reason: format!("point {} holds {} at dimension {}", i / d, points[i], i % d),
        });
    }
    ArrayView2::from_shape((n, d), points).map_err(|e| Error::InvalidInput {
        reason: e.to_string(),
    })
}

fn invalid(name: &'static str, reason: String) -> Error {
    Error::InvalidParameter { name, reason }
}
