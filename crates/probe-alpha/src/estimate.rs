//! The τ-sparsity curve and the angle estimator of the alpha-score (SPEC §3).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Number of ε levels averaged into the alpha-score.
pub const N_EPSILONS: usize = 10;
/// Number of points of the τ grid 0.30, 0.31, …, 1.99.
pub const N_TAUS: usize = 170;

/// The τ grid, 0.30 to 1.99 in steps of 0.01, each the double nearest its decimal.
pub fn tau_grid() -> Vec<f64> {
    (0..N_TAUS).map(|k| (30 + k) as f64 / 100.0).collect()
}

/// Settings of the angle estimator.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlphaParams {
    epsilon: f64,
    epsilon_high: Option<f64>,
}

impl Default for AlphaParams {
    fn default() -> Self {
        AlphaParams {
            epsilon: 0.1,
            epsilon_high: None,
        }
    }
}

impl AlphaParams {
    /// ε₁, the narrowest window (degrees) around −90° in which τ may lie. Default 0.1.
    pub fn epsilon(mut self, eps: f64) -> Self {
        self.epsilon = eps;
        self
    }

    /// ε₂, the widest window. Default 4·ε₁.
    pub fn epsilon_high(mut self, eps: f64) -> Self {
        self.epsilon_high = Some(eps);
        self
    }

    /// Checks the window, naming the first parameter out of range.
    pub fn check(self) -> Result<ValidAlphaParams> {
        if !(self.epsilon.is_finite() && self.epsilon > 0.0 && self.epsilon < 90.0) {
            return Err(Error::InvalidParameter {
                name: "epsilon",
                reason: format!("{} is not in (0, 90) degrees", self.epsilon),
            });
        }
        let high = self.epsilon_high.unwrap_or(4.0 * self.epsilon);
        if !(high.is_finite() && high >= self.epsilon && high < 90.0) {
            return Err(Error::InvalidParameter {
                name: "epsilon_high",
                reason: format!("{high} is not in [epsilon, 90) degrees"),
            });
        }
        Ok(ValidAlphaParams {
            low: self.epsilon,
            high,
        })
    }
}

/// Estimator settings that passed [`AlphaParams::check`].
///
/// (De)serialised as [`AlphaParams`], through its check, so that no unchecked values get in.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AlphaParams", into = "AlphaParams")]
pub struct ValidAlphaParams {
    low: f64,
    high: f64,
}

impl TryFrom<AlphaParams> for ValidAlphaParams {
    type Error = Error;

    fn try_from(params: AlphaParams) -> Result<ValidAlphaParams> {
        params.check()
    }
}

impl From<ValidAlphaParams> for AlphaParams {
    fn from(valid: ValidAlphaParams) -> AlphaParams {
        AlphaParams {
            epsilon: valid.low,
            epsilon_high: Some(valid.high),
        }
    }
}

impl ValidAlphaParams {
    /// ε₁.
    pub fn epsilon(&self) -> f64 {
        self.low
    }

    /// ε₂.
    pub fn epsilon_high(&self) -> f64 {
        self.high
    }

    /// The ten windows ε_k = ε₁ + k(ε₂ − ε₁)/10.
    pub fn epsilons(&self) -> Vec<f64> {
        (0..N_EPSILONS)
            .map(|k| self.low + k as f64 * (self.high - self.low) / N_EPSILONS as f64)
            .collect()
    }

    /// Estimates alpha from the non-zero wavelet norms of a forest of `n_trees` trees.
    pub fn estimate(&self, norms: &[f64], n_trees: usize) -> Result<AlphaEstimate> {
        if norms.is_empty() {
            return Err(Error::NoWavelets);
        }
        if let Some(v) = norms.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
            return Err(Error::InvalidNorm(*v));
        }
        let taus = tau_grid();
        let s_curve = sparsity_curve(norms, n_trees, &taus);
        let angle_curve: Vec<f64> = s_curve.iter().map(|s| (-s).atan().to_degrees()).collect();
        let epsilons = self.epsilons();
        let mut critical_taus = Vec::with_capacity(N_EPSILONS);
        for &eps in &epsilons {
            let last = angle_curve
                .iter()
                .rposition(|a| (a + 90.0).abs() <= eps)
                .ok_or_else(|| Error::NoTauWithinEpsilon {
                    epsilon: eps,
                    closest: angle_curve
                        .iter()
                        .map(|a| (a + 90.0).abs())
                        .fold(f64::INFINITY, f64::min),
                })?;
            critical_taus.push(taus[last]);
        }
        let alphas: Vec<f64> = critical_taus.iter().map(|t| 1.0 / t - 0.5).collect();
        let alpha = alphas.iter().sum::<f64>() / alphas.len() as f64;
        let band = (
            alphas.iter().copied().fold(f64::INFINITY, f64::min),
            alphas.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        Ok(AlphaEstimate {
            alpha,
            alphas,
            critical_taus,
            band,
            epsilons,
            taus,
            s_curve,
            angle_curve,
            n_wavelets: norms.len(),
            n_trees,
        })
    }
}

/// Points of the τ grid between two exact powers (see `sparsity_curve`).
const STEPS_PER_POWER: usize = 10;

/// S(τ) = (1/J) · (Σ nᵢ^τ)^{1/τ − 1} · Σ nᵢ^{τ−1} at each τ of `taus`, which must step by
/// 0.01. Powers come from one exponential per norm every `STEPS_PER_POWER` points, as
/// exp((τ − 1) · ln nᵢ), and in between from multiplying by nᵢ^0.01: ten times fewer
/// exponentials, within 1e-13 of computing each power on its own. Each stretch of the grid
/// sums the norms in their order on its own, so the curve does not depend on threads.
fn sparsity_curve(norms: &[f64], n_trees: usize, taus: &[f64]) -> Vec<f64> {
    let logs: Vec<f64> = norms.iter().map(|v| v.ln()).collect();
    let step: Vec<f64> = logs.iter().map(|&log| (0.01 * log).exp()).collect();
    taus.par_chunks(STEPS_PER_POWER)
        .flat_map_iter(|stretch| {
            let (mut sum_tau, mut sum_tau_minus_1) =
                ([0.0; STEPS_PER_POWER], [0.0; STEPS_PER_POWER]);
            for ((&v, &log), &step) in norms.iter().zip(&logs).zip(&step) {
                // nᵢ^(τ − 1) at the stretch's first τ, then at each next one.
                let mut p = ((stretch[0] - 1.0) * log).exp();
                for k in 0..stretch.len() {
                    sum_tau_minus_1[k] += p;
                    sum_tau[k] += p * v;
                    p *= step;
                }
            }
            stretch.iter().enumerate().map(move |(k, &tau)| {
                sum_tau[k].powf(1.0 / tau - 1.0) * sum_tau_minus_1[k] / n_trees as f64
            })
        })
        .collect()
}

/// The alpha-score of one set of wavelet norms, with what it was read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlphaEstimate {
    /// Mean of the ten α_k.
    pub alpha: f64,
    /// α_k = 1/τ*_k − 1/2, k = 0..9.
    pub alphas: Vec<f64>,
    /// τ*_k: the largest τ whose angle lies within ε_k of −90°.
    pub critical_taus: Vec<f64>,
    /// Smallest and largest α_k.
    pub band: (f64, f64),
    /// The windows ε_k in degrees.
    pub epsilons: Vec<f64>,
    /// The τ grid.
    pub taus: Vec<f64>,
    /// S(τ) on the grid.
    pub s_curve: Vec<f64>,
    /// degrees(arctan(−S(τ))) on the grid.
    pub angle_curve: Vec<f64>,
    /// N, the number of non-zero wavelet norms.
    pub n_wavelets: usize,
    /// J, the number of trees.
    pub n_trees: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_exact_decimals() {
        let t = tau_grid();
        assert_eq!(t.len(), 170);
        assert_eq!(t[0], 0.30);
        assert_eq!(t[5], 0.35);
        assert_eq!(t[169], 1.99);
    }

    #[test]
    fn curve_is_scale_invariant_and_its_definition() {
        let norms: Vec<f64> = (1..2000).map(|i| 1.0 / (i as f64).powf(1.7)).collect();
        let scaled: Vec<f64> = norms.iter().map(|v| v * 37.0).collect();
        let taus = tau_grid();
        let (a, b) = (
            sparsity_curve(&norms, 3, &taus),
            sparsity_curve(&scaled, 3, &taus),
        );
        for (k, &tau) in taus.iter().enumerate() {
            // Against the definition with general powers.
            let sum = |t: f64| norms.iter().map(|v| v.powf(t)).sum::<f64>();
            let direct = sum(tau).powf(1.0 / tau - 1.0) * sum(tau - 1.0) / 3.0;
            assert!(
                (a[k] - direct).abs() <= 1e-13 * direct.abs(),
                "τ = {tau}: {} vs {direct}",
                a[k]
            );
            assert!(
                (a[k] - b[k]).abs() <= 1e-9 * a[k].abs(),
                "{} vs {}",
                a[k],
                b[k]
            );
        }
    }

    #[test]
    fn faster_decay_scores_higher() {
        let params = AlphaParams::default().check().unwrap();
        let decay = |p: f64| -> Vec<f64> { (1..5000).map(|i| (i as f64).powf(-p)).collect() };
        let slow = params.estimate(&decay(0.8), 1).unwrap();
        let fast = params.estimate(&decay(1.6), 1).unwrap();
        assert!(fast.alpha > slow.alpha, "{} vs {}", fast.alpha, slow.alpha);
        assert!(slow.band.0 <= slow.alpha && slow.alpha <= slow.band.1);
    }

    #[test]
    fn says_which_epsilon_to_raise() {
        let params = AlphaParams::default().epsilon(1e-9).check().unwrap();
        let e = params.estimate(&[0.5, 0.25], 1).unwrap_err().to_string();
        assert!(e.contains("a larger epsilon") && !e.contains("--"), "{e}");
    }

    #[test]
    fn checked_params_deserialise_only_through_the_check() {
        let good = AlphaParams::default().epsilon(0.2).check().unwrap();
        let json = serde_json::to_string(&good).unwrap();
        assert_eq!(json, r#"{"epsilon":0.2,"epsilon_high":0.8}"#);
        assert_eq!(
            serde_json::from_str::<ValidAlphaParams>(&json).unwrap(),
            good
        );
        let bad = r#"{"epsilon":-1.0,"epsilon_high":null}"#;
        let e = serde_json::from_str::<ValidAlphaParams>(bad).unwrap_err();
        assert!(e.to_string().contains("epsilon"), "{e}");
    }

    #[test]
    fn rejects_bad_settings_and_norms() {
        assert!(AlphaParams::default().epsilon(0.0).check().is_err());
        assert!(AlphaParams::default().epsilon(f64::NAN).check().is_err());
        assert!(AlphaParams::default()
            .epsilon(0.2)
            .epsilon_high(0.1)
            .check()
            .is_err());
        let params = AlphaParams::default().check().unwrap();
        assert!(matches!(params.estimate(&[], 5), Err(Error::NoWavelets)));
        assert!(params.estimate(&[0.1, 0.0], 5).is_err());
    }
}
