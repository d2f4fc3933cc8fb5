//! Reduction settings, in linfa's shape: builder setters with documented defaults and a
//! checked form.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ParseValueError, Result};

/// Which reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Truncated SVD without centring, as scikit-learn's `TruncatedSVD` (the original tool's).
    #[default]
    Tsvd,
    /// PCA: the truncated SVD of the column-centred matrix (centred implicitly, no copy).
    Pca,
}

impl std::str::FromStr for Method {
    type Err = ParseValueError;

    fn from_str(s: &str) -> std::result::Result<Self, ParseValueError> {
        match s {
            "tsvd" => Ok(Method::Tsvd),
            "pca" => Ok(Method::Pca),
            _ => Err(ParseValueError::new(s, "a reduction method", "tsvd or pca")),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Tsvd => "tsvd",
            Method::Pca => "pca",
        })
    }
}

/// Which route computes the truncated SVD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// The cheaper of the two for the input's shape (see [`crate::choose_solver`]).
    #[default]
    Auto,
    /// The randomized SVD: 1 + 2q passes over the data.
    Randomized,
    /// The Gram matrix of the shorter side, then its exact eigendecomposition when that side
    /// is short enough, q subspace iterations on it otherwise.
    Gram,
}

impl std::str::FromStr for Algorithm {
    type Err = ParseValueError;

    fn from_str(s: &str) -> std::result::Result<Self, ParseValueError> {
        match s {
            "auto" => Ok(Algorithm::Auto),
            "randomized" => Ok(Algorithm::Randomized),
            "gram" => Ok(Algorithm::Gram),
            _ => Err(ParseValueError::new(
                s,
                "a reduction algorithm",
                "auto, randomized or gram",
            )),
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Algorithm::Auto => "auto",
            Algorithm::Randomized => "randomized",
            Algorithm::Gram => "gram",
        })
    }
}

/// Where the products with the data run. The small factorizations always run on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// faer on every CPU core, streaming the input from its memory map: the default.
    #[default]
    Cpu,
    /// candle on CUDA GPU N (a build with the `cuda` feature). The input is copied to the GPU
    /// once and stays there for every pass, so it needs n·d·4 bytes of GPU memory.
    Cuda(usize),
    /// candle on the CPU: the GPU code path run where there is no GPU, to check it.
    CandleCpu,
}

impl std::str::FromStr for Backend {
    type Err = ParseValueError;

    fn from_str(s: &str) -> std::result::Result<Self, ParseValueError> {
        match s {
            "cpu" => Ok(Backend::Cpu),
            "cuda" => Ok(Backend::Cuda(0)),
            "candle-cpu" => Ok(Backend::CandleCpu),
            _ => match s.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(i)) => Ok(Backend::Cuda(i)),
                _ => Err(ParseValueError::new(
                    s,
                    "a reduction device",
                    "cpu, cuda, cuda:N or candle-cpu",
                )),
            },
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Cpu => f.write_str("cpu"),
            Backend::Cuda(i) => write!(f, "cuda:{i}"),
            Backend::CandleCpu => f.write_str("candle-cpu"),
        }
    }
}

/// Settings of the randomized SVD (Halko, Martinsson & Tropp 2011).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReduceParams {
    method: Method,
    n_components: usize,
    oversamples: usize,
    power_iters: usize,
    seed: u64,
    #[serde(default)]
    backend: Backend,
    #[serde(default)]
    algorithm: Algorithm,
}

impl ReduceParams {
    /// Reduce to `n_components` dimensions with the defaults below.
    pub fn new(n_components: usize) -> ReduceParams {
        ReduceParams {
            method: Method::Tsvd,
            n_components,
            oversamples: 10,
            power_iters: 3,
            seed: 0,
            backend: Backend::Cpu,
            algorithm: Algorithm::Auto,
        }
    }

    /// The method. Default [`Method::Tsvd`].
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Extra random directions beyond `n_components` (scikit-learn's `n_oversamples`).
    /// Default 10.
    pub fn oversamples(mut self, p: usize) -> Self {
        self.oversamples = p;
        self
    }

    /// Power iterations, each one pass of Aᵀ and one of A over the data with
    /// re-orthonormalisation. Default 3: on the benchmarks in the README it captures the
    /// same variance as scikit-learn's `n_iter=5` to well under 1%.
    pub fn power_iters(mut self, q: usize) -> Self {
        self.power_iters = q;
        self
    }

    /// Seed of the Gaussian test matrix. Default 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Where the products run. Default [`Backend::Cpu`].
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The route. Default [`Algorithm::Auto`]. The Gram route runs on the CPU only.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Checks the settings that do not depend on the data.
    pub fn check(self) -> Result<ValidReduceParams> {
        if self.n_components == 0 {
            return Err(Error::InvalidParameter {
                name: "n_components",
                reason: "must be at least 1".into(),
            });
        }
        if self.power_iters > 100 {
            return Err(Error::InvalidParameter {
                name: "power_iters",
                reason: format!("{} is more than 100", self.power_iters),
            });
        }
        if self.algorithm == Algorithm::Gram && self.backend != Backend::Cpu {
            return Err(Error::InvalidParameter {
                name: "algorithm",
                reason: format!("gram runs on the CPU only, not {}", self.backend),
            });
        }
        Ok(ValidReduceParams(self))
    }
}

/// Settings that passed [`ReduceParams::check`].
///
/// Deserialised through [`ReduceParams`] and its check, so that no unchecked values get in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ReduceParams")]
pub struct ValidReduceParams(ReduceParams);

impl TryFrom<ReduceParams> for ValidReduceParams {
    type Error = Error;

    fn try_from(params: ReduceParams) -> Result<ValidReduceParams> {
        params.check()
    }
}

impl ValidReduceParams {
    /// The method.
    pub fn method(&self) -> Method {
        self.0.method
    }
    /// Target dimension K.
    pub fn n_components(&self) -> usize {
        self.0.n_components
    }
    /// Oversampling.
    pub fn oversamples(&self) -> usize {
        self.0.oversamples
    }
    /// Power iterations.
    pub fn power_iters(&self) -> usize {
        self.0.power_iters
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.0.seed
    }
    /// Where the products run.
    pub fn backend(&self) -> Backend {
        self.0.backend
    }
    /// The route.
    pub fn algorithm(&self) -> Algorithm {
        self.0.algorithm
    }
    /// The metadata tag of a set reduced with these settings, e.g. `tsvd:256`.
    pub fn tag(&self) -> String {
        format!("{}:{}", self.0.method, self.0.n_components)
    }
    /// The same settings with K lowered to `max` when it is larger (an SVD of an n × d
    /// matrix has at most min(n, d) components; a config written for 50,000 samples must
    /// also run on a subset).
    pub fn capped(&self, max: usize) -> ValidReduceParams {
        let mut params = self.0.clone();
        params.n_components = params.n_components.min(max.max(1));
        ValidReduceParams(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_zero_components_and_absurd_iterations() {
        assert!(ReduceParams::new(0).check().is_err());
        assert!(ReduceParams::new(5).power_iters(1000).check().is_err());
        assert_eq!(
            ReduceParams::new(5)
                .method(Method::Pca)
                .check()
                .unwrap()
                .tag(),
            "pca:5"
        );
        assert!("svd".parse::<Method>().is_err());
        assert_eq!("cuda:1".parse::<Backend>(), Ok(Backend::Cuda(1)));
        assert_eq!("cuda".parse::<Backend>(), Ok(Backend::Cuda(0)));
        assert!("cuda:x".parse::<Backend>().is_err());
        assert!("gpu".parse::<Backend>().is_err());
    }
}
