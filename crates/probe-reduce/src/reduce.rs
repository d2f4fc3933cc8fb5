//! Reducing a feature set: the randomized SVD of its features, written as a new feature set
//! with the labels and metadata carried over.

use std::collections::BTreeMap;

use probe_data::FeatureSet;

use crate::error::{Error, Result};
use crate::params::ValidReduceParams;
use crate::source::RowSource;
use crate::svd::{truncated_svd_with_progress, Factorization, Solver};

/// The reduced features of a matrix and what was kept of it.
#[derive(Debug, Clone)]
pub struct Reduction {
    /// The metadata tag, e.g. `tsvd:256`.
    pub tag: String,
    /// n × K reduced features, row-major.
    pub features: Vec<f32>,
    /// n.
    pub n: usize,
    /// K, as used: the K asked for, or min(n, d) when that is smaller.
    pub k: usize,
    /// The K asked for.
    pub requested: usize,
    /// σ₁ ≥ … ≥ σ_K.
    pub singular_values: Vec<f64>,
    /// Variance of the reduced features over the input's total variance.
    pub explained_variance_ratio: f64,
    /// How the SVD was computed.
    pub solver: Solver,
}

/// Reduces any row source to K dimensions.
pub fn reduce_rows<S: RowSource + ?Sized>(
    src: &S,
    params: &ValidReduceParams,
) -> Result<Reduction> {
    reduce_rows_with_progress(src, params, &|_, _| {})
}

/// As [`reduce_rows`], reporting `progress(done, total)` passes over the data.
pub fn reduce_rows_with_progress<S: RowSource + ?Sized>(
    src: &S,
    params: &ValidReduceParams,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Reduction> {
    let f: Factorization = truncated_svd_with_progress(src, params, progress)?;
    let (n, k) = (f.transformed.nrows(), f.transformed.ncols());
    let mut features = vec![0f32; n * k];
    for j in 0..k {
        for (i, &v) in f.transformed.col(j).iter().enumerate() {
            features[i * k + j] = v;
        }
    }
    Ok(Reduction {
        tag: params.tag(),
        explained_variance_ratio: f.explained_variance_ratio(),
        singular_values: f.singular_values,
        solver: f.solver,
        features,
        n,
        k,
        requested: params.n_components(),
    })
}

/// What became of a feature set.
#[derive(Debug)]
pub enum Reduced {
    /// d ≤ K: the set is used as it is.
    Unchanged,
    /// The reduced set (in memory) and the reduction's figures (whose `features` were moved
    /// into the set, so are empty here).
    Reduced(Box<FeatureSet>, Reduction),
}

/// Reduces a feature set to K dimensions, keeping its labels and metadata and adding
/// `reduction` (`tsvd:K`, `pca:K`) and `explained_variance_ratio`. A set with d ≤ K is left
/// unchanged; a set with fewer samples than K (n < K < d) is reduced to K = n components,
/// recorded in `reduction` with the K asked for in `reduction_requested`. The error names
/// the file.
pub fn reduce_set(set: &FeatureSet, params: &ValidReduceParams) -> Result<Reduced> {
    reduce_set_with_progress(set, params, &|_, _| {})
}

/// As [`reduce_set`], reporting `progress(done, total)` passes over the data.
pub fn reduce_set_with_progress(
    set: &FeatureSet,
    params: &ValidReduceParams,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Reduced> {
    if set.n_features() <= params.n_components() {
        return Ok(Reduced::Unchanged);
    }
    let capped = params.capped(set.n_samples().min(set.n_features()));
    let mut reduction =
        reduce_rows_with_progress(set, &capped, progress).map_err(|e| name_file(set, e))?;
    reduction.requested = params.n_components();
    let mut metadata: BTreeMap<String, String> = set.metadata().clone();
    metadata.insert("reduction".into(), reduction.tag.clone());
    if reduction.k < reduction.requested {
        metadata.insert("reduction_requested".into(), params.tag());
    }
    metadata.insert("reduction_solver".into(), reduction.solver.to_string());
    metadata.insert(
        "explained_variance_ratio".into(),
        format!("{}", reduction.explained_variance_ratio),
    );
    metadata
        .entry("original_shape".into())
        .or_insert_with(|| join(set.original_shape()));
    metadata
        .entry("layer".into())
        .or_insert_with(|| set.layer());
    let labels: Vec<i64> = set
        .labels()
        .iter()
        .map(|&c| set.class_values()[c as usize])
        .collect();
    let features = std::mem::take(&mut reduction.features);
    let reduced = FeatureSet::from_f32(features, &[reduction.n, reduction.k], &labels, metadata)?;
    Ok(Reduced::Reduced(Box::new(reduced), reduction))
}

fn join(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Errors about the data say which file they are about.
fn name_file(set: &FeatureSet, e: Error) -> Error {
    match (set.path(), e) {
        (Some(path), Error::NonFinite { row, col }) => Error::InFile {
            path: path.to_path_buf(),
            source: Box::new(Error::NonFinite { row, col }),
        },
        (Some(path), e @ Error::TooManyComponents { .. }) => Error::InFile {
            path: path.to_path_buf(),
            source: Box::new(e),
        },
        (_, e) => e,
    }
}
