//! The forest: bootstrap samples, trees grown in parallel, and the wavelet norms of all trees.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::binned::grouped_order;
use crate::binning::Bins;
use crate::error::{Error, Result};
use crate::grow::{mix, Grower, Lookup};
use crate::matrix::Matrix;
use crate::params::{Splitter, ValidForestParams};
use crate::tree::{Tree, WaveletNorm};

/// A fitted (or assembled) wavelet forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    trees: Vec<Tree>,
    n_classes: usize,
}

impl Forest {
    /// Assembles a forest from trees (see [`Tree::from_nodes`]); all trees must agree on
    /// the number of classes.
    pub fn from_trees(trees: Vec<Tree>) -> Result<Forest> {
        let n_classes = trees
            .first()
            .and_then(|t| t.nodes().first())
            .map(|n| n.distribution.len())
            .ok_or_else(|| Error::InvalidTree("a forest needs at least one tree".into()))?;
        if let Some(i) = trees
            .iter()
            .position(|t| t.nodes()[0].distribution.len() != n_classes)
        {
            return Err(Error::InvalidTree(format!(
                "tree {i} has a different number of classes than tree 0 ({n_classes})"
            )));
        }
        Ok(Forest { trees, n_classes })
    }

    /// The trees.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    /// Number of trees J.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Number of classes C.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// The non-zero wavelet norms of all trees, tree after tree (the input of the alpha
    /// estimator). Roots carry no wavelet and zero norms add nothing, so both are dropped.
    pub fn wavelet_norms(&self, norm: WaveletNorm) -> Vec<f64> {
        self.trees
            .iter()
            .flat_map(|t| t.wavelet_norms(norm))
            .filter(|&v| v > 0.0)
            .collect()
    }
}

impl ValidForestParams {
    /// Fits the forest to normalised inputs `x` and class ids `y` (each below `n_classes`).
    pub fn fit(&self, x: &Matrix<'_>, y: &[u32], n_classes: usize) -> Result<Forest> {
        self.fit_with_progress(x, y, n_classes, &|| {})
    }

    /// As [`fit`](Self::fit), calling `tree_done` once per finished tree (from any thread),
    /// for progress bars.
    pub fn fit_with_progress(
        &self,
        x: &Matrix<'_>,
        y: &[u32],
        n_classes: usize,
        tree_done: &(dyn Fn() + Sync),
    ) -> Result<Forest> {
        let n = x.n_rows();
        if y.len() != n {
            return Err(Error::InvalidData(format!(
                "{} labels for {n} rows",
                y.len()
            )));
        }
        if let Some(pos) = y.iter().position(|&c| c as usize >= n_classes) {
            return Err(Error::InvalidData(format!(
                "label {} at row {pos} is not below the number of classes {n_classes}",
                y[pos]
            )));
        }
        if n > u32::MAX as usize {
            return Err(Error::InvalidData(format!(
                "{n} rows is more than the forest indexes ({})",
                u32::MAX
            )));
        }
        let d = x.n_cols();
        // The binned splitter stores rows grouped by label; trees then work on those
        // positions, with labels and bootstrap weights in the same order.
        let (own_bins, own_order);
        let binned = match (self.splitter(), x.binned_layout()) {
            (Splitter::Binned, Some(binned)) => Some(Lookup::Raw(binned)),
            (Splitter::Binned, None) => {
                own_order = grouped_order(y);
                own_bins = Bins::new(x, &own_order);
                Some(Lookup::Columns(x, &own_bins, &own_order))
            }
            (Splitter::Exact, Some(_)) => {
                return Err(Error::InvalidData(
                    "the exact splitter needs the matrix's values; this matrix holds only bins"
                        .into(),
                ))
            }
            (Splitter::Exact, None) => None,
        };
        let stored = |values: &[u32]| -> Vec<u32> {
            match &binned {
                Some(lookup) => lookup.order().iter().map(|&r| values[r as usize]).collect(),
                None => values.to_vec(),
            }
        };
        let y_stored: Vec<u32> = stored(y);
        let trees = (0..self.n_trees())
            .into_par_iter()
            .map(|t| {
                let key = mix(self.seed(), t as u64);
                let mut rng = ChaCha8Rng::seed_from_u64(key);
                let mut weight = vec![0u32; n];
                for _ in 0..n {
                    weight[rng.random_range(0..n)] += 1;
                }
                let weight = stored(&weight);
                let mut inbag: Vec<u32> =
                    (0..n as u32).filter(|&i| weight[i as usize] > 0).collect();
                let mut all: Vec<u32> = (0..n as u32).collect();
                let grower = Grower {
                    x,
                    binned: binned.as_ref(),
                    y: &y_stored,
                    weight: &weight,
                    n_classes,
                    max_depth: self.max_depth(),
                    max_features: self.max_features().resolve(d),
                };
                let tree = Tree::from_preorder(grower.grow(&mut inbag, &mut all, mix(key, 0)));
                tree_done();
                tree
            })
            .collect();
        Ok(Forest { trees, n_classes })
    }
}
