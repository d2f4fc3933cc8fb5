//! 2-D embeddings (UMAP, t-SNE) of a seeded subsample of a layer's points.
//!
//! Both are compact ports written here, on exact nearest neighbours (brute force over at
//! most [`MAX_POINTS`] points). UMAP follows umap-learn (fuzzy simplicial set, SGD with
//! negative sampling) because the maintained UMAP crates either pull in ndarray 0.17
//! (`umap-rs`), which this workspace keeps out, or a GPU framework. t-SNE follows van der
//! Maaten's Barnes–Hut `bhtsne` because `linfa-tsne`, which wraps the `bhtsne` crate, is not
//! reproducible: that crate picks its neighbour tree's pivots with an unseeded generator and
//! partitions the tree at the wrong index, so its neighbours are inexact and change from run
//! to run. Both embeddings here are deterministic for a seed, whatever the thread count.
//!
//! Cost, for 2,500 points of 64 dimensions on 2 cores: UMAP about 1 s, t-SNE about 3 s
//! (1,000 iterations).
//!
//! ```
//! use probe_report::embedding::{embed, EmbeddingMethod, EmbeddingParams};
//!
//! // Two clouds of 40 points in 3-D.
//! let n = 80;
//! let points: Vec<f32> = (0..n * 3)
//!     .map(|i| (i / 3 / 40) as f32 * 20.0 + ((i * 7919) % 97) as f32 / 97.0)
//!     .collect();
//! let labels: Vec<u32> = (0..n as u32).map(|i| i / 40).collect();
//! let params = EmbeddingParams::default()
//!     .method(EmbeddingMethod::Umap)
//!     .n_neighbors(10)
//!     .seed(3)
//!     .check()?;
//! let e = embed(&points, n, 3, &labels, "relu1", &params)?;
//! assert_eq!((e.points.len(), e.method.as_str()), (80, "umap"));
//! # Ok::<(), probe_report::Error>(())
//! ```

mod neighbors;
mod tsne;
mod umap;

use std::fmt;
use std::str::FromStr;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::clustering::points_view;
use crate::{Error, LayerEmbedding, ParseValueError, Result};

/// The smallest perplexity t-SNE is lowered to on small layers; a layer with fewer than
/// 3 × this + 1 points is not embedded by t-SNE. Below 2 each point attends to one or two
/// neighbours and the layout is noise.
pub const MIN_PERPLEXITY: f64 = 2.0;

/// The smallest UMAP neighbourhood (the point itself and one other).
const MIN_NEIGHBORS: usize = 2;

/// The most points one embedding may hold: exact neighbours and the t-SNE are quadratic or
/// worse in it, and a scatter plot shows no more.
pub const MAX_POINTS: usize = 5000;

/// The 2-D embedding algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingMethod {
    /// UMAP (McInnes, Healy & Melville 2018), min_dist 0.1.
    #[default]
    Umap,
    /// Barnes–Hut t-SNE (van der Maaten 2014), θ = 0.5.
    Tsne,
}

impl FromStr for EmbeddingMethod {
    type Err = ParseValueError;

    fn from_str(s: &str) -> std::result::Result<Self, ParseValueError> {
        match s {
            "umap" => Ok(EmbeddingMethod::Umap),
            "tsne" => Ok(EmbeddingMethod::Tsne),
            _ => Err(ParseValueError {
                value: s.to_string(),
                kind: "an embedding method",
                expected: "umap or tsne",
            }),
        }
    }
}

impl fmt::Display for EmbeddingMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EmbeddingMethod::Umap => "umap",
            EmbeddingMethod::Tsne => "tsne",
        })
    }
}

/// Settings of a 2-D embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingParams {
    method: EmbeddingMethod,
    max_points: usize,
    seed: u64,
    perplexity: f64,
    n_neighbors: usize,
    iterations: Option<usize>,
}

impl Default for EmbeddingParams {
    fn default() -> Self {
        EmbeddingParams {
            method: EmbeddingMethod::Umap,
            max_points: 2500,
            seed: 0,
            perplexity: 30.0,
            n_neighbors: 15,
            iterations: None,
        }
    }
}

impl EmbeddingParams {
    /// The algorithm. Default [`EmbeddingMethod::Umap`].
    pub fn method(mut self, method: EmbeddingMethod) -> Self {
        self.method = method;
        self
    }

    /// Layers with more points are embedded on a seeded subsample of this many. Default
    /// 2500, at most [`MAX_POINTS`].
    pub fn max_points(mut self, max_points: usize) -> Self {
        self.max_points = max_points;
        self
    }

    /// Seed of the subsample and of the embedding's random start. Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// t-SNE's perplexity, roughly the number of neighbours each point attends to. A
    /// (subsampled) layer of m ≤ 3 × perplexity points is embedded at perplexity (m − 1) / 3
    /// instead, down to [`MIN_PERPLEXITY`]. Default 30 (scikit-learn's).
    pub fn perplexity(mut self, perplexity: f64) -> Self {
        self.perplexity = perplexity;
        self
    }

    /// UMAP's neighbourhood size, the point itself included (umap-learn's convention). A
    /// (subsampled) layer of m ≤ n_neighbors points is embedded with m − 1 instead, down
    /// to 2. Default 15 (umap-learn's).
    pub fn n_neighbors(mut self, n_neighbors: usize) -> Self {
        self.n_neighbors = n_neighbors;
        self
    }

    /// Optimisation steps: UMAP epochs or t-SNE iterations. Default 500 for UMAP (umap-learn's
    /// for small data) and 1000 for t-SNE (scikit-learn's).
    pub fn iterations(mut self, iterations: usize) -> Self {
        self.iterations = Some(iterations);
        self
    }

    /// Checks the settings that do not depend on the data (perplexity and n_neighbors are
    /// fitted to the point count by [`embed`]).
    pub fn check(self) -> Result<ValidEmbeddingParams> {
        if self.max_points < 2 || self.max_points > MAX_POINTS {
            return Err(invalid(
                "max_points",
                format!("{} is outside 2..={MAX_POINTS}", self.max_points),
            ));
        }
        if !(self.perplexity.is_finite() && self.perplexity >= 1.0) {
            return Err(invalid(
                "perplexity",
                format!("{} is not a number ≥ 1", self.perplexity),
            ));
        }
        if !(2..=200).contains(&self.n_neighbors) {
            return Err(invalid(
                "n_neighbors",
                format!("{} is outside 2..=200", self.n_neighbors),
            ));
        }
        if let Some(it) = self.iterations {
            if !(1..=100_000).contains(&it) {
                return Err(invalid("iterations", format!("{it} is outside 1..=100000")));
            }
        }
        Ok(ValidEmbeddingParams(self))
    }
}

/// Settings that passed [`EmbeddingParams::check`].
///
/// Deserialised through [`EmbeddingParams`] and its check, so that no unchecked values get in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "EmbeddingParams")]
pub struct ValidEmbeddingParams(EmbeddingParams);

impl TryFrom<EmbeddingParams> for ValidEmbeddingParams {
    type Error = Error;

    fn try_from(params: EmbeddingParams) -> Result<ValidEmbeddingParams> {
        params.check()
    }
}

impl ValidEmbeddingParams {
    /// The algorithm.
    pub fn method(&self) -> EmbeddingMethod {
        self.0.method
    }
    /// Subsample size at most.
    pub fn max_points(&self) -> usize {
        self.0.max_points
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.0.seed
    }
    /// t-SNE perplexity.
    pub fn perplexity(&self) -> f64 {
        self.0.perplexity
    }
    /// UMAP neighbourhood size.
    pub fn n_neighbors(&self) -> usize {
        self.0.n_neighbors
    }
    /// Optimisation steps, with the method's default filled in.
    pub fn iterations(&self) -> usize {
        self.0.iterations.unwrap_or(match self.0.method {
            EmbeddingMethod::Umap => 500,
            EmbeddingMethod::Tsne => 1000,
        })
    }
}

/// `min(n, max_points)` distinct indices of `0..n`, drawn uniformly with `seed`, sorted.
pub fn subsample(n: usize, max_points: usize, seed: u64) -> Vec<usize> {
    if n <= max_points {
        return (0..n).collect();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut picked = rand::seq::index::sample(&mut rng, n, max_points).into_vec();
    picked.sort_unstable();
    picked
}

/// Embeds a layer in 2-D: subsamples `points` (a row-major `n × d` matrix, classes in
/// `labels`) to at most `max_points` with [`subsample`], then runs the chosen method.
///
/// The result holds one point and one label per subsampled row, in row order, and the
/// perplexity (t-SNE) or neighbourhood (UMAP) used: lowered from the settings when the layer
/// has too few points for them. Errors when there are no points, the shapes disagree, a
/// value is not finite, or the subsample is too small for the method at any setting
/// ([`Error::TooFewPoints`]: fewer than 7 points for t-SNE, 3 for UMAP).
pub fn embed(
    points: &[f32],
    n: usize,
    d: usize,
    labels: &[u32],
    layer: &str,
    params: &ValidEmbeddingParams,
) -> Result<LayerEmbedding> {
    points_view(points, n, d)?;
    if n == 0 {
        return Err(Error::InvalidInput {
            reason: "no points to embed".into(),
        });
    }
    if labels.len() != n {
        return Err(Error::InvalidInput {
            reason: format!("{} labels for {n} points", labels.len()),
        });
    }
    let picked = subsample(n, params.max_points(), params.seed());
    let m = picked.len();
    let mut sub = Vec::with_capacity(m * d);
    for &i in &picked {
        sub.extend_from_slice(&points[i * d..(i + 1) * d]);
    }
    let (embedded, perplexity, n_neighbors) = match params.method() {
        EmbeddingMethod::Umap => {
            // Fewer points than the neighbourhood: every other point is a neighbour.
            let k = params.n_neighbors().min(m - 1);
            if k < MIN_NEIGHBORS {
                return Err(Error::TooFewPoints {
                    method: "umap",
                    n: m,
                    min: MIN_NEIGHBORS + 1,
                });
            }
            let settings = umap::Settings {
                n_neighbors: k,
                n_epochs: params.iterations(),
                seed: params.seed(),
            };
            (umap::umap(&sub, m, d, &settings), None, Some(k))
        }
        EmbeddingMethod::Tsne => {
            // Every point needs ⌊3 × perplexity⌋ neighbours other than itself, so a small layer
            // gets the largest perplexity it can carry instead of no embedding.
            let perplexity = params.perplexity().min((m - 1) as f64 / 3.0);
            if perplexity < MIN_PERPLEXITY {
                return Err(Error::TooFewPoints {
                    method: "tsne",
                    n: m,
                    min: (3.0 * MIN_PERPLEXITY) as usize + 1,
                });
            }
            let points = tsne::tsne(&sub, m, d, perplexity, params.iterations(), params.seed());
            (points, Some(perplexity), None)
        }
    };
    Ok(LayerEmbedding {
        layer: layer.to_string(),
        method: params.method().to_string(),
        points: embedded,
        labels: picked.iter().map(|&i| labels[i]).collect(),
        perplexity,
        n_neighbors,
    })
}

fn invalid(name: &'static str, reason: String) -> Error {
    Error::InvalidParameter { name, reason }
}
