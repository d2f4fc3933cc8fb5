//! Stratified subsamples for repeated forests: each repeat may see its own draw of the
//! samples, so that the interval over repeats covers the data as well as the forest.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Keeps the subsample's stream apart from the forest's, which is seeded by the same number.
const STREAM: u64 = 0x7265_7361_6d70_6c65;

/// Rows of a stratified subsample, ascending: from each class, `fraction` of its samples
/// rounded to the nearest whole number but at least one, drawn without replacement from a
/// stream keyed by `seed`. The same labels, fraction and seed give the same rows.
pub(crate) fn stratified_rows(labels: &[u32], fraction: f64, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ STREAM);
    let n_classes = labels.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); n_classes];
    for (row, &c) in labels.iter().enumerate() {
        by_class[c as usize].push(row);
    }
    let mut rows = Vec::with_capacity((labels.len() as f64 * fraction).ceil() as usize);
    for mut members in by_class.into_iter().filter(|m| !m.is_empty()) {
        let keep = ((members.len() as f64 * fraction).round() as usize).clamp(1, members.len());
        // A partial Fisher–Yates shuffle: the first `keep` places are a uniform draw.
        for i in 0..keep {
            let j = rng.random_range(i..members.len());
            members.swap(i, j);
        }
        rows.extend_from_slice(&members[..keep]);
    }
    rows.sort_unstable();
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_each_class_share_and_is_seeded() {
        // 60 of class 0, 30 of class 1, 10 of class 2, interleaved.
        let labels: Vec<u32> = (0..100)
            .map(|i| match i % 10 {
                0..=5 => 0,
                6..=8 => 1,
                _ => 2,
            })
            .collect();
        let rows = stratified_rows(&labels, 0.5, 7);
        let count = |c: u32| rows.iter().filter(|&&r| labels[r] == c).count();
        assert_eq!((count(0), count(1), count(2)), (30, 15, 5));
        assert!(
            rows.windows(2).all(|w| w[0] < w[1]),
            "ascending, no repeats"
        );
        assert_eq!(rows, stratified_rows(&labels, 0.5, 7));
        assert_ne!(rows, stratified_rows(&labels, 0.5, 8));
        // A tiny class keeps one sample; the whole set is every row.
        let rows = stratified_rows(&labels, 0.01, 7);
        assert_eq!(rows.iter().filter(|&&r| labels[r] == 2).count(), 1);
        assert_eq!(
            stratified_rows(&labels, 1.0, 3),
            (0..100).collect::<Vec<_>>()
        );
    }
}
