//! One layer through the probe: normalise, fit the forest, read its wavelet norms, estimate
//! alpha, and describe the result as a stable record.

use std::time::Instant;

use probe_data::{FeatureDtype, FeatureSet};
use probe_forest::{ForestParams, Matrix, MaxFeatures, Splitter, ValidForestParams, WaveletNorm};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::estimate::{AlphaEstimate, AlphaParams, ValidAlphaParams};
use crate::resample::stratified_rows;
use crate::stats::{t_cdf, t_quantile};

/// The fewest samples the probe scores. A tree of n samples has at most 2(n − 1) wavelets,
/// and with fewer than this many samples the τ-sparsity curve of a small forest stays too
/// flat to reach within ε of −90° at any τ (a wider ε would only move the estimate to where
/// it means nothing).
pub const MIN_SAMPLES: usize = 10;

/// Everything the probe needs to score a layer, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    forest: ValidForestParams,
    alpha: ValidAlphaParams,
    norm: WaveletNorm,
    repeats: usize,
    resample: Option<f64>,
}

impl Probe {
    /// Checks the forest and estimator settings before any work starts.
    pub fn new(forest: ForestParams, alpha: AlphaParams, norm: WaveletNorm) -> Result<Probe> {
        Ok(Probe {
            forest: forest.check()?,
            alpha: alpha.check()?,
            norm,
            repeats: 1,
            resample: None,
        })
    }

    /// Scores each layer with `r` forests (seeds seed, seed + 1, …; each with its own
    /// bootstrap) and reports their mean with an interval (see [`RepeatStats`]). 1, the
    /// default, is a single forest, exactly as without repeats.
    pub fn with_repeats(mut self, r: usize) -> Result<Probe> {
        if r == 0 {
            return Err(Error::InvalidParameter {
                name: "repeats",
                reason: "is 0; it must be at least 1".into(),
            });
        }
        if r == 1 && self.resample.is_some() {
            return Err(resample_needs_repeats());
        }
        self.repeats = r;
        Ok(self)
    }

    /// Each repeated forest also sees its own stratified subsample of a `fraction` of the
    /// samples (per class, seeded by the forest's seed), so that the interval covers the
    /// draw of the data as well as the forest's. Needs more than one repeat
    /// ([`Probe::with_repeats`] first); a fraction in (0, 1].
    pub fn with_resample(mut self, fraction: f64) -> Result<Probe> {
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(Error::InvalidParameter {
                name: "resample",
                reason: format!("is {fraction}; it must be a fraction in (0, 1]"),
            });
        }
        if self.repeats < 2 {
            return Err(resample_needs_repeats());
        }
        self.resample = Some(fraction);
        Ok(self)
    }

    /// The fraction of samples each repeated forest draws, when resampling.
    pub fn resample(&self) -> Option<f64> {
        self.resample
    }

    /// Forests per layer.
    pub fn repeats(&self) -> usize {
        self.repeats
    }

    /// The forest settings.
    pub fn forest(&self) -> &ValidForestParams {
        &self.forest
    }

    /// The estimator settings.
    pub fn alpha(&self) -> &ValidAlphaParams {
        &self.alpha
    }

    /// How wavelets are weighted.
    pub fn norm(&self) -> WaveletNorm {
        self.norm
    }

    /// Scores normalised inputs with class ids below `n_classes`.
    ///
    /// Errors before fitting when there are fewer than [`MIN_SAMPLES`] rows
    /// ([`Error::TooFewSamples`]); when the forest has no wavelets, says whether that is
    /// because every feature is constant ([`Error::ConstantFeatures`]).
    pub fn estimate(
        &self,
        x: &Matrix<'_>,
        y: &[u32],
        n_classes: usize,
        tree_done: &(dyn Fn() + Sync),
    ) -> Result<AlphaEstimate> {
        let (n, d) = (x.n_rows(), x.n_cols());
        if n < MIN_SAMPLES {
            return Err(Error::TooFewSamples {
                n,
                min: MIN_SAMPLES,
            });
        }
        let forest = self.forest.fit_with_progress(x, y, n_classes, tree_done)?;
        let norms = forest.wavelet_norms(self.norm);
        // Normalisation maps a constant column to zeros and any other to a range with 1 in it.
        if norms.is_empty() && (0..d).all(|j| x.is_constant(j)) {
            return Err(Error::ConstantFeatures { n, d });
        }
        self.alpha.estimate(&norms, forest.n_trees())
    }

    /// Scores a feature set, calling `tree_done` as each tree finishes. The forest's first
    /// pass reads and tests every value, so a set from
    /// [`FeatureSet::open_unscanned`](probe_data::FeatureSet::open_unscanned) needs no scan of
    /// its own: a non-finite value gets the error the scan gives.
    pub fn run(&self, set: &FeatureSet, tree_done: &(dyn Fn() + Sync)) -> Result<LayerRecord> {
        let start = Instant::now();
        let d = set.n_features();
        let n = set.n_samples();
        let built = match (self.forest.splitter(), set.as_f32_slice()) {
            // The binned splitter keeps only the bins and reads values where they lie.
            (Splitter::Binned, Some(raw)) => Matrix::binned(n, d, raw, set.labels()),
            // Otherwise each block is released once decoded: the forest keeps its own
            // normalised copy, so a mapped file need not stay resident beside it.
            _ if set.dtype() == FeatureDtype::F64 => Matrix::from_rows(n, d, |row, out| {
                set.read_rows_f64(row, out);
                set.release_rows(row, out.len() / d);
            }),
            // f32 and narrower: read once (f32 holds them exactly).
            _ => Matrix::from_rows_f32(n, d, |row, out| {
                set.read_rows_f32(row, out);
                set.release_rows(row, out.len() / d);
            }),
        };
        // Each way of building reads every value and refuses a non-finite one; a set opened
        // without its scan gets the error its scan gives (with the count of such values).
        let x = match built {
            Ok(x) => x,
            Err(e) => {
                set.scan_values()?;
                return Err(e.into());
            }
        };
        let (estimate, repeats) = if self.repeats == 1 {
            let estimate = self.estimate(&x, set.labels(), set.n_classes(), tree_done)?;
            (estimate, None)
        } else {
            // The repeats share the normalised matrix and run side by side; each forest
            // also spreads its trees over the pool.
            let estimates = (0..self.repeats as u64)
                .into_par_iter()
                .map(|r| {
                    let seed = self.forest.seed().wrapping_add(r);
                    let probe = Probe {
                        forest: self.forest.with_seed(seed),
                        repeats: 1,
                        resample: None,
                        ..self.clone()
                    };
                    let (n_classes, labels) = (set.n_classes(), set.labels());
                    // Each estimate comes with the number of samples its forest saw.
                    match self.resample {
                        None => Ok((
                            probe.estimate(&x, labels, n_classes, tree_done)?,
                            x.n_rows(),
                        )),
                        Some(fraction) => {
                            let rows = stratified_rows(labels, fraction, seed);
                            let sub = x.select_rows(&rows)?;
                            let y: Vec<u32> = rows.iter().map(|&i| labels[i]).collect();
                            Ok((probe.estimate(&sub, &y, n_classes, tree_done)?, rows.len()))
                        }
                    }
                })
                .collect::<Result<Vec<_>>>()?;
            let alphas: Vec<f64> = estimates.iter().map(|(e, _)| e.alpha).collect();
            let mut stats = RepeatStats::new(alphas);
            let (mut first, seen) = estimates.into_iter().next().expect("at least two repeats");
            if let Some(fraction) = self.resample {
                stats.resample = Some(fraction);
                stats.resample_n = Some(seen);
            }
            first.alpha = stats.alpha_mean;
            (first, Some(stats))
        };
        Ok(LayerRecord {
            file: set.path().map(|p| p.display().to_string()),
            layer: set.layer(),
            layer_index: set.layer_index(),
            n: set.n_samples(),
            d: set.n_features(),
            classes: set.n_classes(),
            alpha: estimate.alpha,
            alphas: estimate.alphas,
            critical_taus: estimate.critical_taus,
            band: [estimate.band.0, estimate.band.1],
            n_wavelets: estimate.n_wavelets,
            trees: self.forest.n_trees(),
            depth: self.forest.max_depth(),
            max_features: self.forest.max_features(),
            splitter: self.forest.splitter(),
            epsilon: self.alpha.epsilon(),
            norm: self.norm,
            seed: self.forest.seed(),
            seconds: start.elapsed().as_secs_f64(),
            reduction: set.metadata().get("reduction").cloned(),
            reduction_solver: set.metadata().get("reduction_solver").cloned(),
            explained_variance_ratio: set
                .metadata()
                .get("explained_variance_ratio")
                .and_then(|v| v.parse().ok()),
            input_d: set.n_features(),
            flag: None,
            angle_curve: estimate.angle_curve,
            repeats,
        })
    }
}

/// The result of one layer, as written to `results.json` (the schema is documented in the
/// README; fields are only ever added).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The feature-set file, when read from one.
    pub file: Option<String>,
    /// Layer name (metadata `layer`, else the file stem).
    pub layer: String,
    /// Position of the layer in the network (metadata `layer_index`).
    pub layer_index: Option<i64>,
    /// Number of samples.
    pub n: usize,
    /// Number of features per sample.
    pub d: usize,
    /// Number of classes.
    pub classes: usize,
    /// The alpha-score: mean of `alphas`.
    pub alpha: f64,
    /// α_k for the ten ε windows.
    pub alphas: Vec<f64>,
    /// τ*_k for the ten ε windows.
    pub critical_taus: Vec<f64>,
    /// [min α_k, max α_k].
    pub band: [f64; 2],
    /// N, the number of non-zero wavelet norms.
    pub n_wavelets: usize,
    /// J, the number of trees.
    pub trees: usize,
    /// Maximum tree depth.
    pub depth: usize,
    /// Candidate features per node.
    pub max_features: MaxFeatures,
    /// Threshold search.
    pub splitter: Splitter,
    /// ε₁ in degrees.
    pub epsilon: f64,
    /// Wavelet weighting.
    pub norm: WaveletNorm,
    /// Forest seed.
    pub seed: u64,
    /// Wall time of the layer in seconds. [`Probe::run`] sets it to the normalisation,
    /// forest and estimator; scoring a file (the pipeline's `score_file`) replaces it by the
    /// whole layer, from opening the file to the record (reading, any in-memory reduction
    /// and the extras included), which is what `results.json` reports.
    pub seconds: f64,
    /// How the features were reduced before the forest (`tsvd:K`, `pca:K`; metadata
    /// `reduction`), or `None`.
    pub reduction: Option<String>,
    /// How the reduction's SVD was computed (`randomized (q=3)`, `gram (exact)`,
    /// `gram (q=3)`; metadata `reduction_solver`), when reduced by a version that records it.
    #[serde(default)]
    pub reduction_solver: Option<String>,
    /// Share of the input's variance the reduction kept, when reduced.
    pub explained_variance_ratio: Option<f64>,
    /// Width of the layer before any reduction done in memory by the probe (equal to `d`
    /// otherwise).
    pub input_d: usize,
    /// Why the layer is flagged as under-performing (its alpha does not rise above the
    /// previous probed layer's band), or `None`; see [`flag_layers`].
    pub flag: Option<String>,
    /// Angle of the τ-sparsity curve in degrees on the τ grid 0.30..1.99 (diagnostic plot).
    pub angle_curve: Vec<f64>,
    /// With repeated forests: their alphas, mean, spread and interval (`alpha` is then the
    /// mean, and `alphas` … `angle_curve` are those of the first forest, seed `seed`).
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<RepeatStats>,
}

/// Alpha over R > 1 forests of seeds seed, seed + 1, …, seed + R − 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RepeatStats {
    /// The mean of `alphas_by_repeat`.
    pub alpha_mean: f64,
    /// Their sample standard deviation (R − 1 in the denominator).
    pub alpha_std: f64,
    /// 95% interval of the mean: mean ± t(0.975, R − 1) · std / √R (Student's t).
    pub alpha_ci: [f64; 2],
    /// Each forest's alpha, in seed order.
    pub alphas_by_repeat: Vec<f64>,
    /// The fraction of the samples each forest drew (stratified by class), when resampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resample: Option<f64>,
    /// The samples in each forest's draw, when resampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resample_n: Option<usize>,
}

impl RepeatStats {
    /// The statistics of `alphas` (at least two).
    pub fn new(alphas: Vec<f64>) -> RepeatStats {
        let r = alphas.len() as f64;
        let mean = alphas.iter().sum::<f64>() / r;
        let var = alphas.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (r - 1.0).max(1.0);
        let half = t_quantile(0.975, (r - 1.0).max(1.0)) * (var / r).sqrt();
        RepeatStats {
            alpha_mean: mean,
            alpha_std: var.sqrt(),
            alpha_ci: [mean - half, mean + half],
            alphas_by_repeat: alphas,
            resample: None,
            resample_n: None,
        }
    }

    /// Forests.
    pub fn repeats(&self) -> usize {
        self.alphas_by_repeat.len()
    }
}

fn resample_needs_repeats() -> Error {
    Error::InvalidParameter {
        name: "resample",
        reason: "needs more than one repeat: it spreads the repeated forests over draws of \
                 the data"
            .into(),
    }
}

/// Flags, in probing order, each layer that does not rise above the layer probed before it:
/// the paper's sign of a layer that adds little to the classification. The first layer is
/// never flagged.
///
/// With repeated forests on both layers the rule is a test: flagged unless the mean alpha is
/// significantly above the previous layer's (Welch's one-sided t-test at 5% on the repeats);
/// the flag gives the difference, its 95% interval and the p-value. Otherwise, a single
/// forest's alpha is flagged when it is not above the previous layer's band.
pub fn flag_layers(records: &mut [LayerRecord]) {
    if let Some(first) = records.first_mut() {
        first.flag = None;
    }
    for i in 1..records.len() {
        let (before, after) = records.split_at_mut(i);
        let (previous, layer) = (&before[i - 1], &mut after[0]);
        layer.flag = match (&previous.repeats, &layer.repeats) {
            (Some(a), Some(b)) => welch_flag(a, b, &previous.layer),
            _ => (layer.alpha <= previous.band[1]).then(|| {
                format!(
                    "alpha {:.3} does not rise above the band [{:.3}, {:.3}] of `{}`",
                    layer.alpha, previous.band[0], previous.band[1], previous.layer
                )
            }),
        };
    }
}

/// The flag of a layer with repeats `b` after one with repeats `a`, or `None` when its mean
/// is significantly higher.
fn welch_flag(a: &RepeatStats, b: &RepeatStats, previous: &str) -> Option<String> {
    let (ra, rb) = (a.repeats() as f64, b.repeats() as f64);
    let (va, vb) = (a.alpha_std.powi(2) / ra, b.alpha_std.powi(2) / rb);
    let diff = b.alpha_mean - a.alpha_mean;
    let se = (va + vb).sqrt();
    let (p, half) = if se > 0.0 {
        let df = (va + vb).powi(2) / (va.powi(2) / (ra - 1.0) + vb.powi(2) / (rb - 1.0));
        (1.0 - t_cdf(diff / se, df), t_quantile(0.975, df) * se)
    } else if diff > 0.0 {
        (0.0, 0.0)
    } else {
        (1.0, 0.0)
    };
    (p >= 0.05).then(|| {
        format!(
            "alpha {:.3} is not significantly above `{previous}`'s {:.3} (difference {:+.4}, \
             95% interval [{:+.4}, {:+.4}]; Welch's one-sided t-test, p = {p:.3})",
            b.alpha_mean,
            a.alpha_mean,
            diff,
            diff - half,
            diff + half
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(layer: &str, alpha: f64, band: [f64; 2]) -> LayerRecord {
        LayerRecord {
            file: None,
            layer: layer.into(),
            layer_index: None,
            n: 10,
            d: 2,
            classes: 2,
            alpha,
            alphas: vec![alpha; 10],
            critical_taus: vec![1.0; 10],
            band,
            n_wavelets: 5,
            trees: 5,
            depth: 15,
            max_features: MaxFeatures::Sqrt,
            splitter: Splitter::Binned,
            epsilon: 0.1,
            norm: WaveletNorm::Samples,
            seed: 2,
            seconds: 0.0,
            reduction: None,
            reduction_solver: None,
            explained_variance_ratio: None,
            input_d: 2,
            flag: Some("stale".into()),
            angle_curve: Vec::new(),
            repeats: None,
        }
    }

    fn probe() -> Probe {
        Probe::new(
            ForestParams::default(),
            AlphaParams::default(),
            WaveletNorm::Samples,
        )
        .unwrap()
    }

    #[test]
    fn constant_features_say_that_no_split_is_possible() {
        let (n, d) = (40, 3);
        let x = Matrix::from_row_major(n, d, &vec![7.5; n * d]).unwrap();
        let y: Vec<u32> = (0..n as u32).map(|i| i % 2).collect();
        let err = probe().estimate(&x, &y, 2, &|| {}).unwrap_err();
        assert!(
            matches!(err, Error::ConstantFeatures { n: 40, d: 3 }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("every one of the 3 feature(s) is constant across the 40 samples")
                && msg.contains("no split is possible")
                && !msg.contains("one class"),
            "{msg}"
        );
    }

    #[test]
    fn too_few_samples_name_the_count_and_the_minimum() {
        let x = Matrix::from_row_major(2, 2, &[0.0, 1.0, 1.0, 0.0]).unwrap();
        let err = probe().estimate(&x, &[0, 1], 2, &|| {}).unwrap_err();
        assert!(
            matches!(
                err,
                Error::TooFewSamples {
                    n: 2,
                    min: MIN_SAMPLES
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("only 2 samples") && msg.contains(&format!("at least {MIN_SAMPLES}")),
            "{msg}"
        );
        assert!(!msg.contains("epsilon"), "{msg}");
    }

    #[test]
    fn the_minimum_sample_count_scores_separable_data() {
        // Two classes on either side of 0.5 in one of two features.
        let n = MIN_SAMPLES;
        let data: Vec<f64> = (0..n)
            .flat_map(|i| [i as f64 / n as f64, ((i * 7) % n) as f64])
            .collect();
        let y: Vec<u32> = (0..n).map(|i| u32::from(2 * i >= n)).collect();
        let x = Matrix::from_row_major(n, 2, &data).unwrap();
        let estimate = probe().estimate(&x, &y, 2, &|| {}).unwrap();
        assert!(estimate.alpha.is_finite());
    }

    #[test]
    fn flags_layers_that_do_not_rise_above_the_previous_band() {
        let mut records = vec![
            record("input", 0.30, [0.25, 0.37]),
            record("relu1", 0.35, [0.30, 0.42]), // inside the input's band: flagged
            record("relu2", 0.50, [0.44, 0.60]), // above relu1's band: fine
            record("relu3", 0.48, [0.40, 0.55]), // lower: flagged
        ];
        flag_layers(&mut records);
        let flags: Vec<bool> = records.iter().map(|r| r.flag.is_some()).collect();
        assert_eq!(flags, [false, true, false, true]);
        assert!(records[1].flag.as_ref().unwrap().contains("`input`"));
    }
}
