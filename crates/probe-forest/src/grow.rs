//! Growing one CART tree (SPEC §2 step 3) on bootstrap weights.
//!
//! Every node draws its candidate features from its own random stream, keyed by its path
//! from the root, so a tree is the same whichever thread grows which subtree: large subtrees
//! are grown in parallel with `rayon::join` without giving up determinism.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::binned::Binned;
use crate::binning::Bins;
use crate::matrix::Matrix;
use crate::params::MAX_BINS;
use crate::quantiles::ordered_bits;
use crate::tree::{Node, Split};

/// Nodes with at least this many bootstrap samples grow their two subtrees in parallel.
const PARALLEL_NODE: usize = 4096;
/// Below this many samples a node sorts (bin, sample) keys instead of filling a histogram.
const SMALL_NODE: usize = 128;
/// How many samples ahead a histogram scan asks for the bins it will read.
const AHEAD: usize = 16;

/// Where a binned tree finds its bins and a sample's exact value; a sample is a stored
/// position of the bins (rows are stored grouped by label).
pub(crate) enum Lookup<'a> {
    /// Bins made for this forest from a matrix of values, sample i being row `order[i]`.
    Columns(&'a Matrix<'a>, &'a Bins, &'a [u32]),
    /// A matrix of bins, which reads its raw values.
    Raw(&'a Binned<'a>),
}

impl Lookup<'_> {
    /// The matrix row held at each stored position.
    pub(crate) fn order(&self) -> &[u32] {
        match self {
            Lookup::Columns(_, _, order) => order,
            Lookup::Raw(binned) => &binned.row_of,
        }
    }

    fn bins(&self) -> &Bins {
        match self {
            Lookup::Columns(_, bins, _) => bins,
            Lookup::Raw(binned) => &binned.bins,
        }
    }

    /// The normalised value of feature `j` of sample `i`.
    #[inline]
    fn value(&self, i: u32, j: usize) -> f32 {
        match self {
            Lookup::Columns(x, _, order) => {
                x.column(j).expect("a matrix of values")[order[i as usize] as usize]
            }
            Lookup::Raw(binned) => binned.value(i, j),
        }
    }
}

/// What every node of one tree reads. With bins, samples are their stored positions and
/// `y` and `weight` are in that order; without, samples are the matrix's rows.
pub(crate) struct Grower<'a> {
    pub x: &'a Matrix<'a>,
    /// Present for the binned splitter.
    pub binned: Option<&'a Lookup<'a>>,
    pub y: &'a [u32],
    /// Bootstrap multiplicity of each sample (0 when out of bag).
    pub weight: &'a [u32],
    pub n_classes: usize,
    pub max_depth: usize,
    pub max_features: usize,
}

/// Per-task buffers, reused from node to node.
struct Scratch {
    /// Two class histograms over the bins (see `scan_histogram`).
    hist: Vec<u32>,
    keys: Vec<u64>,
    features: Vec<u32>,
    left: Vec<u64>,
    /// Where each class's samples start in the node's list (see `class_bounds`).
    bounds: Vec<usize>,
}

impl Scratch {
    fn new(d: usize, n_classes: usize) -> Scratch {
        Scratch {
            hist: vec![0; 2 * MAX_BINS * n_classes],
            keys: Vec::new(),
            features: Vec::with_capacity(d),
            left: vec![0; n_classes],
            bounds: Vec::with_capacity(n_classes + 1),
        }
    }
}

/// The best split found so far in a node: the score is Σ_c L_c²/W_L + Σ_c R_c²/W_R, which
/// the Gini criterion maximises; a key ≤ `cut` goes left.
#[derive(Clone, Copy)]
struct Candidate {
    score: f64,
    feature: usize,
    cut: u32,
}

enum Scan {
    Constant,
    Best { score: f64, cut: u32 },
}

impl Grower<'_> {
    /// Grows the tree over `inbag` (distinct in-bag samples) and routes `all` (every
    /// original sample) alongside to measure sample fractions. Returns nodes in preorder.
    pub(crate) fn grow(&self, inbag: &mut [u32], all: &mut [u32], key: u64) -> Vec<Node> {
        let mut scratch = Scratch::new(self.x.n_cols(), self.n_classes);
        self.grow_node(inbag, all, 0, key, &mut scratch)
    }

    fn grow_node(
        &self,
        inbag: &mut [u32],
        all: &mut [u32],
        depth: usize,
        key: u64,
        scratch: &mut Scratch,
    ) -> Vec<Node> {
        let mut counts = vec![0u64; self.n_classes];
        for &i in inbag.iter() {
            counts[self.y[i as usize] as usize] += u64::from(self.weight[i as usize]);
        }
        let total: u64 = counts.iter().sum();
        let mut node = Node {
            parent: None,
            children: None,
            split: None,
            depth,
            distribution: counts.iter().map(|&c| c as f64 / total as f64).collect(),
            sample_fraction: all.len() as f64 / self.x.n_rows() as f64,
        };
        let pure = counts.iter().filter(|&&c| c > 0).count() <= 1;
        if depth >= self.max_depth || inbag.len() < 2 || pure {
            return vec![node];
        }
        let mut rng = ChaCha8Rng::seed_from_u64(key);
        let Some((split, cut)) = self.best_split(inbag, &counts, &mut rng, scratch) else {
            return vec![node];
        };
        node.split = Some(split);
        let (n_left, a_left) = match self.binned {
            Some(lookup) => {
                let column = lookup.bins().column(split.feature);
                // In-bag samples never fall between the two bins around the cut.
                let n_left = partition(inbag, |i| column[i as usize] <= cut.left);
                // The threshold lies between the values of the cut's two bins: a bin of one
                // value goes wholly to its side; a bin of several may straddle it.
                let single = |b| lookup.bins().single_valued(split.feature, b);
                let (left_single, right_single) = (single(cut.left), single(cut.right));
                let goes_left = |i: u32| match column[i as usize] {
                    b if b < cut.left || (left_single && b == cut.left) => true,
                    b if b > cut.right || (right_single && b == cut.right) => false,
                    // Near the cut only the value can tell.
                    _ => f64::from(lookup.value(i, split.feature)) <= split.threshold,
                };
                (n_left, partition(all, goes_left))
            }
            None => {
                let column = self.exact_column(split.feature);
                let goes_left = |i: u32| f64::from(column[i as usize]) <= split.threshold;
                (partition(inbag, goes_left), partition(all, goes_left))
            }
        };
        let (in_l, in_r) = inbag.split_at_mut(n_left);
        let (all_l, all_r) = all.split_at_mut(a_left);
        let (kl, kr) = (mix(key, 1), mix(key, 2));
        let (left, right) = if in_l.len() + in_r.len() >= PARALLEL_NODE {
            rayon::join(
                || self.grow_node(in_l, all_l, depth + 1, kl, scratch),
                || {
                    let mut own = Scratch::new(self.x.n_cols(), self.n_classes);
                    self.grow_node(in_r, all_r, depth + 1, kr, &mut own)
                },
            )
        } else {
            (
                self.grow_node(in_l, all_l, depth + 1, kl, scratch),
                self.grow_node(in_r, all_r, depth + 1, kr, scratch),
            )
        };
        // Preorder: this node, its left subtree, its right subtree.
        let left_root = 1;
        let right_root = 1 + left.len();
        node.children = Some([left_root, right_root]);
        let mut nodes = Vec::with_capacity(1 + left.len() + right.len());
        nodes.push(node);
        for (offset, subtree) in [(left_root, left), (right_root, right)] {
            nodes.extend(subtree.into_iter().map(|mut n| {
                n.parent = Some(n.parent.map_or(0, |p| p + offset));
                n.children = n.children.map(|[l, r]| [l + offset, r + offset]);
                n
            }));
        }
        nodes
    }

    /// The values of column `j`, for the exact splitter (given only matrices of values).
    fn exact_column(&self, j: usize) -> &[f32] {
        self.x
            .column(j)
            .expect("the exact splitter reads a matrix of values")
    }

    /// Draws `max_features` features without replacement; if none of them varies in the
    /// node, keeps drawing until one does or all were tried (scikit-learn's rule), and
    /// returns the best split among them (with its bins, for the binned splitter).
    fn best_split(
        &self,
        inbag: &[u32],
        counts: &[u64],
        rng: &mut ChaCha8Rng,
        scratch: &mut Scratch,
    ) -> Option<(Split, BinCut)> {
        let d = self.x.n_cols();
        scratch.features.clear();
        scratch.features.extend(0..d as u32);
        if self.binned.is_some() && inbag.len() > SMALL_NODE {
            class_bounds(inbag, self.y, self.n_classes, &mut scratch.bounds);
        }
        // The first max_features draws always happen: drawn ahead (the same stream, in the
        // same order), the next feature's samples can be fetched while one is scanned.
        let ahead = self.max_features.min(d);
        for i in 0..ahead {
            let j = rng.random_range(i..d);
            scratch.features.swap(i, j);
        }
        let mut best: Option<Candidate> = None;
        for i in 0..d {
            if i >= self.max_features && best.is_some() {
                break;
            }
            if i >= ahead {
                let j = rng.random_range(i..d);
                scratch.features.swap(i, j);
            }
            let feature = scratch.features[i] as usize;
            if let (Some(lookup), true) = (self.binned, i + 1 < ahead) {
                let next = lookup.bins().column(scratch.features[i + 1] as usize);
                // A small node's every sample; a large one's first (the scan fetches the
                // rest ahead of itself).
                for &s in &inbag[..inbag.len().min(SMALL_NODE.max(AHEAD))] {
                    prefetch(&next[s as usize]);
                }
            }
            let scan = match self.binned {
                Some(lookup) if inbag.len() > SMALL_NODE => {
                    self.scan_histogram(lookup.bins().column(feature), inbag, counts, scratch)
                }
                Some(lookup) => {
                    let col = lookup.bins().column(feature);
                    self.scan_sorted(|i| u32::from(col[i]), inbag, counts, scratch)
                }
                None => {
                    let col = self.exact_column(feature);
                    self.scan_sorted(|i| ordered_bits(col[i]), inbag, counts, scratch)
                }
            };
            if let Scan::Best { score, cut } = scan {
                if best.is_none_or(|b| score > b.score) {
                    best = Some(Candidate {
                        score,
                        feature,
                        cut,
                    });
                }
            }
        }
        let best = best?;
        let (threshold, cut) = match self.binned {
            Some(lookup) => binned_threshold(lookup, best, inbag),
            None => (self.exact_threshold(best, inbag), BinCut::default()),
        };
        let split = Split {
            feature: best.feature,
            threshold,
        };
        Some((split, cut))
    }

    /// The midpoint between the largest value that goes left and the smallest that goes
    /// right, computed as scikit-learn does (and never equal to the right value).
    fn exact_threshold(&self, best: Candidate, inbag: &[u32]) -> f64 {
        let values = self.exact_column(best.feature);
        let (mut left_max, mut right_min) = (f32::NEG_INFINITY, f32::INFINITY);
        for &i in inbag {
            let v = values[i as usize];
            if ordered_bits(v) <= best.cut {
                left_max = left_max.max(v);
            } else {
                right_min = right_min.min(v);
            }
        }
        midpoint(f64::from(left_max), f64::from(right_min))
    }

    fn scan_histogram(
        &self,
        bins: &[u8],
        inbag: &[u32],
        counts: &[u64],
        scratch: &mut Scratch,
    ) -> Scan {
        let c = self.n_classes;
        // Two histograms, for even and odd samples: consecutive samples often share a bin
        // and a class (rows are grouped by label, and layers are sparse), and one counter
        // would make each update wait for the previous one.
        let (even, odd) = scratch.hist.split_at_mut(MAX_BINS * c);
        // Which bins the node's samples use, so that the sweep visits only those: a byte
        // per bin, set by a plain store (a bitmap's read-modify-write would chain samples
        // that share a word, as a sparse layer's zeros do), packed into bits afterwards.
        let mut marks = [0u8; MAX_BINS];
        // Stored grouped by label and kept in order, a node's samples run class by class:
        // each run adds to its class's counters without reading labels.
        for (class, run) in scratch.bounds.windows(2).enumerate() {
            let mut add = |i: u32, hist: &mut [u32]| {
                let i = i as usize;
                let b = bins[i] as usize;
                marks[b] = 1;
                hist[b * c + class] += self.weight[i];
            };
            let upcoming = inbag.get(run[0] + AHEAD..).unwrap_or_default();
            for (k, pair) in inbag[run[0]..run[1]].chunks(2).enumerate() {
                if let Some(&next) = upcoming.get(2 * k) {
                    prefetch(&bins[next as usize]);
                }
                if let Some(&next) = upcoming.get(2 * k + 1) {
                    prefetch(&bins[next as usize]);
                }
                add(pair[0], even);
                if let Some(&i) = pair.get(1) {
                    add(i, odd);
                }
            }
        }
        let used = pack_marks(&marks);
        let n_used: u32 = used.iter().map(|w| w.count_ones()).sum();
        let mut sweep = Sweep::new(counts, &mut scratch.left);
        let mut seen = 0;
        for (w, &word) in used.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let b = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                seen += 1;
                let rows = even[b * c..(b + 1) * c]
                    .iter_mut()
                    .zip(&mut odd[b * c..(b + 1) * c]);
                for (class, (h0, h1)) in rows.enumerate() {
                    let h = *h0 + *h1;
                    (*h0, *h1) = (0, 0);
                    // The last bin moves nothing: every cut lies below it.
                    if h > 0 && seen < n_used {
                        sweep.move_left(class, u64::from(h));
                    }
                }
                if seen < n_used {
                    sweep.offer(b as u32);
                }
            }
        }
        // With fewer than two bins used nothing was offered: the feature is constant here.
        sweep.finish()
    }

    fn scan_sorted(
        &self,
        key: impl Fn(usize) -> u32,
        inbag: &[u32],
        counts: &[u64],
        scratch: &mut Scratch,
    ) -> Scan {
        let keys = &mut scratch.keys;
        keys.clear();
        keys.extend(
            inbag
                .iter()
                .map(|&i| (u64::from(key(i as usize)) << 32) | u64::from(i)),
        );
        keys.sort_unstable();
        let key_at = |k: u64| (k >> 32) as u32;
        if key_at(keys[0]) == key_at(keys[keys.len() - 1]) {
            return Scan::Constant;
        }
        let mut sweep = Sweep::new(counts, &mut scratch.left);
        for (pos, &k) in keys.iter().enumerate() {
            let i = (k & 0xffff_ffff) as usize;
            sweep.move_left(self.y[i] as usize, u64::from(self.weight[i]));
            if let Some(&next) = keys.get(pos + 1) {
                if key_at(next) != key_at(k) {
                    sweep.offer(key_at(k));
                }
            }
        }
        sweep.finish()
    }
}

/// Bit b of the result is set where `marks[b]` is 1 (marks are 0 or 1).
fn pack_marks(marks: &[u8; MAX_BINS]) -> [u64; MAX_BINS / 64] {
    let mut used = [0u64; MAX_BINS / 64];
    for (word, marks) in used.iter_mut().zip(marks.chunks_exact(64)) {
        for (k, group) in marks.chunks_exact(8).enumerate() {
            let bytes = u64::from_le_bytes(group.try_into().expect("8 marks"));
            // Each byte's low bit lands in the top byte, byte k at bit k.
            *word |= (bytes.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k);
        }
    }
    used
}

/// As `Grower::exact_threshold` for a cut between bins: the largest value left lies in the
/// cut's bin and the smallest right in the next bin an in-bag sample uses, so only the
/// values in those two bins are read.
fn binned_threshold(lookup: &Lookup<'_>, best: Candidate, inbag: &[u32]) -> (f64, BinCut) {
    let column = lookup.bins().column(best.feature);
    let left = best.cut as u8;
    let right = inbag
        .iter()
        .map(|&i| column[i as usize])
        .filter(|&b| b > left)
        .min()
        .expect("a cut has in-bag samples on its right");
    // A bin of one value gives it from any of its samples; otherwise every sample in the
    // bin is read.
    let extreme = |bin: u8, pick: fn(f32, f32) -> f32, start: f32| {
        let mut in_bin = inbag.iter().filter(|&&i| column[i as usize] == bin);
        if lookup.bins().single_valued(best.feature, bin) {
            let &i = in_bin.next().expect("the cut's bins hold in-bag samples");
            lookup.value(i, best.feature)
        } else {
            in_bin.fold(start, |m, &i| pick(m, lookup.value(i, best.feature)))
        }
    };
    let left_max = extreme(left, f32::max, f32::NEG_INFINITY);
    let right_min = extreme(right, f32::min, f32::INFINITY);
    let threshold = midpoint(f64::from(left_max), f64::from(right_min));
    (threshold, BinCut { left, right })
}

/// `bounds[c]..bounds[c + 1]` is where class c's samples lie in `inbag`, whose labels `y`
/// must not decrease along it (stored grouped by label, in order).
fn class_bounds(inbag: &[u32], y: &[u32], n_classes: usize, bounds: &mut Vec<usize>) {
    bounds.clear();
    bounds
        .extend((0..=n_classes).map(|c| inbag.partition_point(|&i| (y[i as usize] as usize) < c)));
}

/// The midpoint of a and b (a < b) as scikit-learn computes it, never equal to b.
fn midpoint(a: f64, b: f64) -> f64 {
    let mid = a / 2.0 + b / 2.0;
    if mid == b || !mid.is_finite() {
        a
    } else {
        mid
    }
}

/// The bins around a binned split: the cut's own (the last that goes left) and the next
/// one an in-bag sample of the node uses (the first that goes right).
#[derive(Clone, Copy, Default)]
struct BinCut {
    left: u8,
    right: u8,
}

/// Moves class weight from the right side to the left while scanning thresholds in order,
/// keeping Σ L_c² and Σ R_c² up to date in O(1) per move, in integers (the weights are;
/// below 2^53 the sums convert to f64 exactly, so scores are the same as summed in f64).
struct Sweep<'a> {
    total: &'a [u64],
    left: &'a mut [u64],
    w_left: u64,
    w_total: u64,
    sq_left: u64,
    sq_right: u64,
    best: Option<(f64, u32)>,
}

impl<'a> Sweep<'a> {
    fn new(total: &'a [u64], left: &'a mut [u64]) -> Sweep<'a> {
        left.fill(0);
        Sweep {
            total,
            left,
            w_left: 0,
            w_total: total.iter().sum(),
            sq_left: 0,
            sq_right: total.iter().map(|&t| t * t).sum(),
            best: None,
        }
    }

    fn move_left(&mut self, class: usize, w: u64) {
        let l = self.left[class];
        let r = self.total[class] - l;
        self.sq_left += w * (2 * l + w);
        self.sq_right -= w * (2 * r - w);
        self.left[class] += w;
        self.w_left += w;
    }

    fn offer(&mut self, cut: u32) {
        let w_right = self.w_total - self.w_left;
        if self.w_left == 0 || w_right == 0 {
            return;
        }
        let score =
            self.sq_left as f64 / self.w_left as f64 + self.sq_right as f64 / w_right as f64;
        if self.best.is_none_or(|(s, _)| score > s) {
            self.best = Some((score, cut));
        }
    }

    fn finish(self) -> Scan {
        match self.best {
            Some((score, cut)) => Scan::Best { score, cut },
            None => Scan::Constant,
        }
    }
}

/// Reorders sample ids so that those for which `goes_left` holds come first, each side
/// keeping its order (ascending ids stay ascending, so a node reads each column front to
/// back); returns how many go left.
fn partition(items: &mut [u32], mut goes_left: impl FnMut(u32) -> bool) -> usize {
    let mut right = Vec::new();
    let mut first_false = 0;
    for k in 0..items.len() {
        let item = items[k];
        if goes_left(item) {
            items[first_false] = item;
            first_false += 1;
        } else {
            right.push(item);
        }
    }
    items[first_false..].copy_from_slice(&right);
    first_false
}

/// Asks for the cache line holding `at`, so that a gather over scattered samples waits on
/// several memory loads at once instead of one after another.
#[inline(always)]
fn prefetch<T>(at: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; `at` is a valid reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch(
            (at as *const T).cast::<i8>(),
            std::arch::x86_64::_MM_HINT_T0,
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// SplitMix64 finaliser over (key, salt): independent streams for the nodes of a tree.
pub(crate) fn mix(key: u64, salt: u64) -> u64 {
    let mut z = key ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_bits_preserve_order() {
        let v = [-2.5f32, -0.0, 0.0, 1e-30, 0.5, 1.0, 3.0];
        for w in v.windows(2) {
            assert!(ordered_bits(w[0]) <= ordered_bits(w[1]), "{w:?}");
        }
    }

    #[test]
    fn marks_pack_into_bits() {
        let mut marks = [0u8; MAX_BINS];
        let set = [0usize, 1, 7, 8, 63, 64, 100, 200, 254, 255];
        for &b in &set {
            marks[b] = 1;
        }
        let used = pack_marks(&marks);
        for b in 0..MAX_BINS {
            assert_eq!(
                used[b / 64] >> (b % 64) & 1 == 1,
                set.contains(&b),
                "bin {b}"
            );
        }
    }

    #[test]
    fn sweep_scores_match_gini_by_hand() {
        // classes: left side {0: 2}, right side {1: 3, 0: 1}
        let total = [3u64, 3];
        let mut left = [0u64; 2];
        let mut s = Sweep::new(&total, &mut left);
        s.move_left(0, 2);
        s.offer(7);
        let expected = 4.0 / 2.0 + (1.0 + 9.0) / 4.0;
        match s.finish() {
            Scan::Best { score, cut } => {
                assert_eq!(cut, 7);
                assert!((score - expected).abs() < 1e-12);
            }
            Scan::Constant => panic!("a split exists"),
        }
    }
}
