//! Runs side by side: each layer's alpha in every run, and its difference from the first
//! run, marked when the two 95% intervals overlap (a difference the repeats cannot tell).

use crate::plots::axis::layer_axis;
use crate::RunReport;

/// One run's alpha at one layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunAlpha {
    /// The alpha-score (the mean with repeated forests).
    pub alpha: f64,
    /// The 95% interval of the mean, with repeated forests.
    pub interval: Option<[f64; 2]>,
}

/// One run's alpha at one layer against the first run's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    /// This run's alpha minus the first run's.
    pub delta: f64,
    /// Whether the two 95% intervals overlap; `None` unless both layers have one.
    pub overlap: Option<bool>,
}

/// A row of the comparison: one layer (matched by name across runs, or by position when no
/// name is shared, as on the alpha plot's axis).
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonRow {
    /// The layer's name (the names found there, when aligned by position).
    pub layer: String,
    /// Per run, in the order given; `None` where a run lacks the layer.
    pub alphas: Vec<Option<RunAlpha>>,
    /// Per run after the first, against the first; `None` where either lacks the layer.
    pub differences: Vec<Option<Difference>>,
}

/// Compares `runs` layer by layer, the first run being the baseline.
pub fn compare_runs(runs: &[&RunReport]) -> Vec<ComparisonRow> {
    let lists: Vec<Vec<&str>> = runs
        .iter()
        .map(|r| r.layers.iter().map(|l| l.record.layer.as_str()).collect())
        .collect();
    let axis = layer_axis(&lists);
    let mut rows: Vec<ComparisonRow> = axis
        .labels
        .iter()
        .map(|label| ComparisonRow {
            layer: label.clone(),
            alphas: vec![None; runs.len()],
            differences: Vec::new(),
        })
        .collect();
    for (k, (run, slots)) in runs.iter().zip(&axis.slots).enumerate() {
        for (&slot, layer) in slots.iter().zip(&run.layers) {
            let record = &layer.record;
            rows[slot].alphas[k] = Some(RunAlpha {
                alpha: record.alpha,
                interval: record.repeats.as_ref().map(|r| r.alpha_ci),
            });
        }
    }
    for row in &mut rows {
        let base = row.alphas.first().copied().flatten();
        row.differences = row
            .alphas
            .iter()
            .skip(1)
            .map(|other| {
                let (a, b) = (base?, (*other)?);
                Some(Difference {
                    delta: b.alpha - a.alpha,
                    overlap: a
                        .interval
                        .zip(b.interval)
                        .map(|(x, y)| x[0] <= y[1] && y[0] <= x[1]),
                })
            })
            .collect();
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LayerResult;
    use probe_alpha::{LayerRecord, RepeatStats};

    fn layer(name: &str, alphas: &[f64]) -> LayerResult {
        let record: LayerRecord = serde_json::from_value(serde_json::json!({
            "file": null, "layer": name, "layer_index": null, "n": 100, "d": 4,
            "classes": 2, "alpha": alphas[0], "alphas": [], "critical_taus": [],
            "band": [0.0, 1.0], "n_wavelets": 10, "trees": 5, "depth": 15,
            "max_features": "sqrt", "splitter": "binned", "epsilon": 0.1,
            "norm": "samples", "seed": 2, "seconds": 0.0, "reduction": null,
            "explained_variance_ratio": null, "input_d": 4, "flag": null,
            "angle_curve": []
        }))
        .unwrap();
        let repeats = (alphas.len() > 1).then(|| RepeatStats::new(alphas.to_vec()));
        LayerResult {
            record: LayerRecord {
                alpha: repeats.as_ref().map_or(alphas[0], |r| r.alpha_mean),
                repeats,
                ..record
            },
            clustering: None,
        }
    }

    fn run(name: &str, layers: Vec<LayerResult>) -> RunReport {
        RunReport {
            name: name.into(),
            layers,
            ..RunReport::default()
        }
    }

    #[test]
    fn marks_overlapping_intervals_and_leaves_single_forests_unmarked() {
        let a = run(
            "a",
            vec![
                layer("input", &[0.30, 0.31, 0.29]),
                layer("relu1", &[0.40, 0.41, 0.39]),
                layer("relu2", &[0.5]),
            ],
        );
        let b = run(
            "b",
            vec![
                layer("input", &[0.305, 0.315, 0.295]),
                layer("relu1", &[0.60, 0.61, 0.59]),
                layer("relu2", &[0.6]),
                layer("relu3", &[0.7]),
            ],
        );
        let rows = compare_runs(&[&a, &b]);
        let names: Vec<&str> = rows.iter().map(|r| r.layer.as_str()).collect();
        assert_eq!(names, ["input", "relu1", "relu2", "relu3"]);
        let diff = |i: usize| rows[i].differences[0];
        assert_eq!(diff(0).unwrap().overlap, Some(true));
        assert!((diff(1).unwrap().delta - 0.2).abs() < 1e-12);
        assert_eq!(diff(1).unwrap().overlap, Some(false));
        assert_eq!(diff(2).unwrap().overlap, None);
        assert_eq!(diff(3), None);
        assert!(rows[3].alphas[0].is_none() && rows[3].alphas[1].is_some());
    }
}
