//! Forest hyperparameters, in linfa's shape: a builder with defaults and a checked form.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ParseValueError, Result};

/// How many candidate features each node draws.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaxFeatures {
    /// ⌊√d⌋, at least 1 (the default, as in scikit-learn's classifier).
    Sqrt,
    /// ⌊log₂ d⌋, at least 1.
    Log2,
    /// Every feature.
    All,
    /// A fixed number, capped at d.
    Count(usize),
}

impl MaxFeatures {
    /// The number of features to draw for `d` columns.
    pub fn resolve(self, d: usize) -> usize {
        let k = match self {
            MaxFeatures::Sqrt => (d as f64).sqrt().floor() as usize,
            MaxFeatures::Log2 => (d as f64).log2().floor() as usize,
            MaxFeatures::All => d,
            MaxFeatures::Count(k) => k,
        };
        k.clamp(1, d.max(1))
    }
}

impl std::str::FromStr for MaxFeatures {
    type Err = ParseValueError;

    fn from_str(s: &str) -> std::result::Result<Self, ParseValueError> {
        match s {
            "sqrt" => Ok(MaxFeatures::Sqrt),
            "log2" => Ok(MaxFeatures::Log2),
            "all" => Ok(MaxFeatures::All),
            _ => match s.parse::<usize>() {
                Ok(k) if k > 0 => Ok(MaxFeatures::Count(k)),
                _ => Err(ParseValueError::new(
                    s,
                    "a max-features value",
                    "sqrt, log2, all or a positive integer",
                )),
            },
        }
    }
}

impl std::fmt::Display for MaxFeatures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxFeatures::Sqrt => f.write_str("sqrt"),
            MaxFeatures::Log2 => f.write_str("log2"),
            MaxFeatures::All => f.write_str("all"),
            MaxFeatures::Count(k) => write!(f, "{k}"),
        }
    }
}

/// How a node searches thresholds on a candidate feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Splitter {
    /// Every midpoint between consecutive distinct values (CART as in scikit-learn):
    /// O(m log m) per candidate feature.
    Exact,
    /// Candidate thresholds at the edges of at most 256 quantile bins per feature, computed
    /// once per forest: O(m) per candidate feature. Identical to `Exact` on features with at
    /// most 256 distinct values (8-bit images, for example).
    Binned,
}

impl std::str::FromStr for Splitter {
    type Err = ParseValueError;

    fn from_str(s: &str) -> std::result::Result<Self, ParseValueError> {
        match s {
            "exact" => Ok(Splitter::Exact),
            "binned" => Ok(Splitter::Binned),
            _ => Err(ParseValueError::new(s, "a splitter", "exact or binned")),
        }
    }
}

impl std::fmt::Display for Splitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Splitter::Exact => "exact",
            Splitter::Binned => "binned",
        })
    }
}

/// Largest number of bins the binned splitter uses per feature (bins are stored as `u8`).
pub const MAX_BINS: usize = 256;

/// Hyperparameters of the wavelet forest. Build with [`ForestParams::default`] and the
/// setters, then [`ForestParams::check`] before fitting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    n_trees: usize,
    max_depth: usize,
    max_features: MaxFeatures,
    splitter: Splitter,
    seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            n_trees: 5,
            max_depth: 15,
            max_features: MaxFeatures::Sqrt,
            splitter: Splitter::Binned,
            seed: 2,
        }
    }
}

impl ForestParams {
    /// Number of trees J. Default 5.
    pub fn n_trees(mut self, n: usize) -> Self {
        self.n_trees = n;
        self
    }

    /// Maximum depth; the root has depth 0. Default 15.
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// Candidate features per node. Default [`MaxFeatures::Sqrt`].
    pub fn max_features(mut self, m: MaxFeatures) -> Self {
        self.max_features = m;
        self
    }

    /// Threshold search. Default [`Splitter::Binned`].
    pub fn splitter(mut self, s: Splitter) -> Self {
        self.splitter = s;
        self
    }

    /// Seed of the bootstrap and feature draws. Default 2 (the original tool's).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks every parameter, naming the first one out of range.
    pub fn check(self) -> Result<ValidForestParams> {
        if self.n_trees == 0 {
            return Err(Error::InvalidParameter {
                name: "n_trees",
                reason: "must be at least 1".into(),
            });
        }
        if self.max_depth == 0 || self.max_depth > 64 {
            return Err(Error::InvalidParameter {
                name: "max_depth",
                reason: format!("{} is outside 1..=64", self.max_depth),
            });
        }
        if self.max_features == MaxFeatures::Count(0) {
            return Err(Error::InvalidParameter {
                name: "max_features",
                reason: "must be at least 1".into(),
            });
        }
        Ok(ValidForestParams(self))
    }
}

/// Parameters that passed [`ForestParams::check`]; the only form that can fit.
///
/// Deserialised through [`ForestParams`] and its check, so that no unchecked values get in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ForestParams")]
pub struct ValidForestParams(ForestParams);

impl TryFrom<ForestParams> for ValidForestParams {
    type Error = Error;

    fn try_from(params: ForestParams) -> Result<ValidForestParams> {
        params.check()
    }
}

impl ValidForestParams {
    /// Number of trees.
    pub fn n_trees(&self) -> usize {
        self.0.n_trees
    }
    /// Maximum depth.
    pub fn max_depth(&self) -> usize {
        self.0.max_depth
    }
    /// Candidate features per node.
    pub fn max_features(&self) -> MaxFeatures {
        self.0.max_features
    }
    /// Threshold search.
    pub fn splitter(&self) -> Splitter {
        self.0.splitter
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.0.seed
    }
    /// The same settings with another seed (any seed is valid).
    pub fn with_seed(&self, seed: u64) -> ValidForestParams {
        ValidForestParams(ForestParams {
            seed,
            ..self.0.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_max_features_like_scikit_learn() {
        assert_eq!(MaxFeatures::Sqrt.resolve(784), 28);
        assert_eq!(MaxFeatures::Sqrt.resolve(1), 1);
        assert_eq!(MaxFeatures::Log2.resolve(512), 9);
        assert_eq!(MaxFeatures::All.resolve(7), 7);
        assert_eq!(MaxFeatures::Count(50).resolve(7), 7);
    }

    #[test]
    fn rejects_each_bad_parameter() {
        assert!(ForestParams::default().n_trees(0).check().is_err());
        assert!(ForestParams::default().max_depth(0).check().is_err());
        assert!(ForestParams::default().max_depth(65).check().is_err());
        let e = ForestParams::default()
            .max_features(MaxFeatures::Count(0))
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("max_features"));
        assert!("0".parse::<MaxFeatures>().is_err());
        assert!("foo".parse::<MaxFeatures>().is_err());
        assert_eq!("12".parse::<MaxFeatures>(), Ok(MaxFeatures::Count(12)));
    }

    #[test]
    fn names_that_are_no_setting_are_typed_errors() {
        let e = "foo".parse::<MaxFeatures>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "`foo` is not a max-features value: use sqrt, log2, all or a positive integer"
        );
        let e = "random".parse::<Splitter>().unwrap_err();
        assert_eq!((e.value.as_str(), e.kind), ("random", "a splitter"));
        let e = "l2".parse::<crate::WaveletNorm>().unwrap_err();
        assert_eq!(e.to_string(), "`l2` is not a norm: use samples or volume");
        // What clap's value parsers need.
        let _: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
    }

    #[test]
    fn checked_params_deserialise_only_through_the_check() {
        let good = ForestParams::default().n_trees(3).check().unwrap();
        let json = serde_json::to_string(&good).unwrap();
        assert_eq!(
            serde_json::from_str::<ValidForestParams>(&json).unwrap(),
            good
        );
        let bad = json.replace("\"n_trees\":3", "\"n_trees\":0");
        assert_ne!(bad, json);
        let e = serde_json::from_str::<ValidForestParams>(&bad).unwrap_err();
        assert!(e.to_string().contains("n_trees"), "{e}");
    }
}
