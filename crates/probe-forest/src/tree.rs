//! Fitted trees as plain, inspectable nodes, and their wavelet norms (SPEC §2 steps 4–5).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An internal node's test: a sample goes left when `x[feature] <= threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Column index of the feature.
    pub feature: usize,
    /// Threshold on the feature's normalised value.
    pub threshold: f64,
}

/// One node of a fitted tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Index of the parent in the tree's node list; `None` for the root.
    pub parent: Option<usize>,
    /// Left and right children; `None` for a leaf.
    pub children: Option<[usize; 2]>,
    /// The split of an internal node; `None` for a leaf.
    pub split: Option<Split>,
    /// Depth; the root has depth 0.
    pub depth: usize,
    /// Class distribution p_v of the bootstrap samples in the node (with multiplicity).
    pub distribution: Vec<f64>,
    /// Share of the n original (not bootstrap) samples whose path passes through the node.
    pub sample_fraction: f64,
}

/// What a node is made from when a tree is assembled by hand (for example from another
/// library's forest): the structure is derived from the parent links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Index of the parent; `None` for the root.
    pub parent: Option<usize>,
    /// The split of an internal node; `None` for a leaf.
    pub split: Option<Split>,
    /// Class distribution of the node.
    pub distribution: Vec<f64>,
    /// Share of the original samples passing through the node.
    pub sample_fraction: f64,
}

/// How a wavelet's norm is weighted (SPEC §2 step 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WaveletNorm {
    /// By the share of the original samples passing through the node (the default).
    #[default]
    Samples,
    /// By the volume of the node's cell inside [0, 1]^d.
    Volume,
}

impl std::str::FromStr for WaveletNorm {
    type Err = crate::error::ParseValueError;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "samples" => Ok(WaveletNorm::Samples),
            "volume" => Ok(WaveletNorm::Volume),
            _ => Err(crate::error::ParseValueError::new(
                s,
                "a norm",
                "samples or volume",
            )),
        }
    }
}

impl std::fmt::Display for WaveletNorm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WaveletNorm::Samples => "samples",
            WaveletNorm::Volume => "volume",
        })
    }
}

/// A fitted (or assembled) tree. Node 0 is the root and parents precede their children.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    /// Wraps nodes the builder produced in preorder.
    pub(crate) fn from_preorder(nodes: Vec<Node>) -> Tree {
        Tree { nodes }
    }

    /// Assembles a tree from parent links. Exactly one node has no parent; every node with a
    /// split has two children, and of the two the one with the lower index is the left one
    /// (as in scikit-learn's depth-first node order); a node without a split has none.
    pub fn from_nodes(specs: Vec<NodeSpec>) -> Result<Tree> {
        let len = specs.len();
        let classes = specs.first().map_or(0, |s| s.distribution.len());
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); len];
        let mut roots = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            if s.distribution.len() != classes || classes == 0 {
                return Err(Error::InvalidTree(format!(
                    "node {i} has {} class probabilities, node 0 has {classes}",
                    s.distribution.len()
                )));
            }
            if s.distribution.iter().any(|p| !p.is_finite()) || !s.sample_fraction.is_finite() {
                return Err(Error::InvalidTree(format!(
                    "node {i} has a non-finite value"
                )));
            }
            match s.parent {
                None => roots.push(i),
                Some(p) if p < len && p != i => children[p].push(i),
                Some(p) => {
                    return Err(Error::InvalidTree(format!(
                        "node {i} names parent {p}, but the tree has {len} nodes"
                    )))
                }
            }
        }
        if roots != [0] {
            return Err(Error::InvalidTree(format!(
                "a tree needs exactly one root, node 0; found roots at {roots:?}"
            )));
        }
        for (i, (s, c)) in specs.iter().zip(&children).enumerate() {
            let expected = if s.split.is_some() { 2 } else { 0 };
            if c.len() != expected {
                return Err(Error::InvalidTree(format!(
                    "node {i} has {} children but {}",
                    c.len(),
                    if expected == 2 {
                        "a split needs 2"
                    } else {
                        "no split"
                    }
                )));
            }
        }
        // Breadth-first from the root gives depths and proves every node is reachable.
        let mut depth = vec![usize::MAX; len];
        depth[0] = 0;
        let mut queue = std::collections::VecDeque::from([0usize]);
        while let Some(v) = queue.pop_front() {
            for &c in &children[v] {
                depth[c] = depth[v] + 1;
                queue.push_back(c);
            }
        }
        if let Some(i) = depth.iter().position(|&d| d == usize::MAX) {
            return Err(Error::InvalidTree(format!(
                "node {i} is not reachable from the root (its parent links form a cycle)"
            )));
        }
        let nodes = specs
            .into_iter()
            .enumerate()
            .map(|(i, s)| Node {
                parent: s.parent,
                children: (children[i].len() == 2).then(|| {
                    let (a, b) = (children[i][0], children[i][1]);
                    [a.min(b), a.max(b)]
                }),
                split: s.split,
                depth: depth[i],
                distribution: s.distribution,
                sample_fraction: s.sample_fraction,
            })
            .collect();
        Ok(Tree { nodes })
    }

    /// The nodes; node 0 is the root.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree has no nodes (never true for a fitted tree).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Depth of the deepest node.
    pub fn depth(&self) -> usize {
        self.nodes.iter().map(|n| n.depth).max().unwrap_or(0)
    }

    /// Nodes in an order where every parent precedes its children.
    fn topological_order(&self) -> Vec<usize> {
        let mut order = Vec::with_capacity(self.nodes.len());
        let mut stack = vec![0usize];
        while let Some(v) = stack.pop() {
            order.push(v);
            if let Some([l, r]) = self.nodes[v].children {
                stack.push(r);
                stack.push(l);
            }
        }
        order
    }

    /// Volume of every node's cell inside [0, 1]^d: the product of the side lengths its
    /// path's splits cut (the root's cell is the whole cube).
    pub fn cell_volumes(&self) -> Vec<f64> {
        let mut volume = vec![0.0; self.nodes.len()];
        if self.nodes.is_empty() {
            return volume;
        }
        volume[0] = 1.0;
        for v in self.topological_order() {
            let (Some(split), Some([left, right])) = (self.nodes[v].split, self.nodes[v].children)
            else {
                continue;
            };
            let (a, b) = self.cell_side(v, split.feature);
            let t = split.threshold;
            let ratio = |na: f64, nb: f64| {
                if b > a {
                    (nb - na).max(0.0) / (b - a)
                } else {
                    0.0
                }
            };
            volume[left] = volume[v] * ratio(a, t.min(b));
            volume[right] = volume[v] * ratio(t.max(a), b);
        }
        volume
    }

    /// The side [lo, hi] of node v's cell along `feature`: the splits on the way down cut
    /// [0, 1] from above (going left) and from below (going right).
    fn cell_side(&self, v: usize, feature: usize) -> (f64, f64) {
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        let mut child = v;
        let mut up = self.nodes[v].parent;
        // v itself is part of its own cell: walk its ancestors' splits.
        while let Some(p) = up {
            if let (Some(s), Some([left, _])) = (self.nodes[p].split, self.nodes[p].children) {
                if s.feature == feature {
                    if child == left {
                        hi = hi.min(s.threshold);
                    } else {
                        lo = lo.max(s.threshold);
                    }
                }
            }
            child = p;
            up = self.nodes[p].parent;
        }
        (lo, hi)
    }

    /// Wavelet norm of every node, ‖p_v − p_parent‖₂ · √w_v, with the weight chosen by
    /// `norm`; 0 for the root.
    pub fn wavelet_norms(&self, norm: WaveletNorm) -> Vec<f64> {
        let weights = match norm {
            WaveletNorm::Samples => self.nodes.iter().map(|n| n.sample_fraction).collect(),
            WaveletNorm::Volume => self.cell_volumes(),
        };
        self.nodes
            .iter()
            .zip(weights)
            .map(|(node, w)| match node.parent {
                None => 0.0,
                Some(p) => {
                    let parent = &self.nodes[p].distribution;
                    let sq: f64 = node
                        .distribution
                        .iter()
                        .zip(parent)
                        .map(|(a, b)| (a - b) * (a - b))
                        .sum();
                    sq.sqrt() * w.sqrt()
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(parent: Option<usize>, split: Option<(usize, f64)>, p: [f64; 2], w: f64) -> NodeSpec {
        NodeSpec {
            parent,
            split: split.map(|(feature, threshold)| Split { feature, threshold }),
            distribution: p.to_vec(),
            sample_fraction: w,
        }
    }

    /// root splits x0 at 0.5; its right child splits x0 again at 0.75, then x1 at 0.2.
    fn small_tree() -> Tree {
        Tree::from_nodes(vec![
            spec(None, Some((0, 0.5)), [0.5, 0.5], 1.0),
            spec(Some(0), None, [1.0, 0.0], 0.5),
            spec(Some(0), Some((0, 0.75)), [0.0, 1.0], 0.5),
            spec(Some(2), None, [0.0, 1.0], 0.25),
            spec(Some(2), Some((1, 0.2)), [0.0, 1.0], 0.25),
            spec(Some(4), None, [0.0, 1.0], 0.1),
            spec(Some(4), None, [0.0, 1.0], 0.15),
        ])
        .unwrap()
    }

    #[test]
    fn derives_children_and_depths() {
        let t = small_tree();
        assert_eq!(t.nodes()[0].children, Some([1, 2]));
        assert_eq!(t.nodes()[4].children, Some([5, 6]));
        assert_eq!(t.nodes()[6].depth, 3);
        assert_eq!(t.depth(), 3);
    }

    #[test]
    fn volumes_multiply_the_cut_sides() {
        let v = small_tree().cell_volumes();
        let expected = [1.0, 0.5, 0.5, 0.25, 0.25, 0.25 * 0.2, 0.25 * 0.8];
        for (a, b) in v.iter().zip(expected) {
            assert!((a - b).abs() < 1e-15, "{v:?}");
        }
    }

    #[test]
    fn norms_weight_the_distribution_change() {
        let t = small_tree();
        let s = t.wavelet_norms(WaveletNorm::Samples);
        assert_eq!(s[0], 0.0);
        assert!((s[1] - (0.5f64).sqrt() * 0.5f64.sqrt()).abs() < 1e-15);
        assert_eq!(s[3], 0.0);
        let v = t.wavelet_norms(WaveletNorm::Volume);
        assert!((v[2] - (0.5f64).sqrt() * 0.5f64.sqrt()).abs() < 1e-15);
    }

    #[test]
    fn rejects_malformed_trees() {
        let mut bad = vec![spec(None, Some((0, 0.5)), [0.5, 0.5], 1.0)];
        bad.push(spec(Some(0), None, [1.0, 0.0], 0.5));
        assert!(Tree::from_nodes(bad.clone())
            .unwrap_err()
            .to_string()
            .contains("node 0 has 1 children"));
        bad.push(spec(Some(9), None, [1.0, 0.0], 0.5));
        assert!(Tree::from_nodes(bad).is_err());
        let two_roots = vec![
            spec(None, None, [1.0, 0.0], 1.0),
            spec(None, None, [1.0, 0.0], 1.0),
        ];
        assert!(Tree::from_nodes(two_roots)
            .unwrap_err()
            .to_string()
            .contains("one root"));
    }
}
