//! The `sparsity_probe._core` extension module: numpy arrays and feature-set files scored by
//! the pipeline library, with the GIL released for every long call.
//!
//! Thin on purpose: settings arrive as the JSON of `[probe]` (checked by the pipeline's own
//! types), results leave as the JSON of `results.json`, and the pure-Python package
//! (`python/sparsity_probe`) wraps both in classes.

mod arrays;
mod errors;
mod files;
mod interrupt;

use std::collections::BTreeMap;
use std::path::PathBuf;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use probe_alpha::AlphaParams;
use probe_data::{FeatureSet, IN_MEMORY};
use probe_pipeline::{
    expand, load_run, score_files as score_paths, score_set, write_report, Cancel, ProbeSection,
    Results, Scored, Scoring, Silent,
};
use probe_reduce::{reduce_rows, DenseRows, Method, ReduceParams, ValidReduceParams};
use pyo3::prelude::*;

use crate::arrays::Features;
use crate::errors::{to_py, value_error};
use crate::interrupt::interruptible;

/// The checked scoring settings: `probe` is the JSON object of a run config's `[probe]`.
fn scoring(probe: &str, reduce_to: Option<usize>, reduce_method: &str) -> PyResult<Scoring> {
    let section: ProbeSection =
        serde_json::from_str(probe).map_err(|e| value_error(format!("settings: {e}")))?;
    let reduce = reduce_to
        .map(|k| reduce_params(k, reduce_method, section.seed))
        .transpose()?;
    Ok(Scoring {
        probe: section.probe().map_err(to_py)?,
        reduce,
        extras: section.extras().map_err(to_py)?,
    })
}

fn reduce_params(k: usize, method: &str, seed: u64) -> PyResult<ValidReduceParams> {
    let method: Method = method.parse().map_err(to_py)?;
    ReduceParams::new(k)
        .method(method)
        .seed(seed)
        .check()
        .map_err(to_py)
}

/// A pool of `threads` workers (one per core when None); results do not depend on it.
fn pool(threads: Option<usize>) -> PyResult<rayon::ThreadPool> {
    if threads == Some(0) {
        return Err(value_error("threads must be at least 1"));
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .map_err(|e| value_error(format!("cannot start the worker threads: {e}")))
}

/// Scores one layer held in a numpy array; returns the `results.json` of that one layer.
#[pyfunction]
#[pyo3(signature = (features, labels, shape, probe, layer, reduce_to=None, reduce_method="tsvd", threads=None))]
#[allow(clippy::too_many_arguments)]
fn alpha(
    py: Python<'_>,
    features: &Bound<'_, PyAny>,
    labels: PyReadonlyArray1<'_, i64>,
    shape: Vec<usize>,
    probe: &str,
    layer: &str,
    reduce_to: Option<usize>,
    reduce_method: &str,
    threads: Option<usize>,
) -> PyResult<String> {
    let scoring = scoring(probe, reduce_to, reduce_method)?;
    let pool = pool(threads)?;
    let features = Features::borrow(features)?;
    let labels = labels.as_slice()?;
    let metadata = BTreeMap::from([("layer".to_string(), layer.to_string())]);
    // The set reads the array in place; it is dropped before `features` releases it.
    let buffer = features.buffer();
    let results = interruptible(py, &Cancel::new(), || {
        // Errors name the layer, not `<in-memory feature set>`.
        let named = |e: probe_data::Error| value_error(e.to_string().replace(IN_MEMORY, layer));
        let set = FeatureSet::from_buffer(buffer, &shape, labels, metadata).map_err(named)?;
        pool.install(|| score_set(&scoring, set, &Silent))
            .map_err(to_py)
            .map(|(record, extra)| {
                let mut scored = Scored::default();
                scored.layers.push(probe_report::LayerResult {
                    record,
                    clustering: extra.clustering,
                });
                scored.embeddings.extend(extra.embedding);
                scored.into_results(
                    "sparsity_probe",
                    scoring.settings(pool.current_num_threads()),
                )
            })
    })??;
    drop(features);
    to_json(&results)
}

/// Alpha from the non-zero wavelet norms of a forest of `trees` trees (any forest: the
/// estimator alone); returns the estimate as JSON.
#[pyfunction]
#[pyo3(signature = (norms, trees, epsilon=0.1, epsilon_high=None))]
fn alpha_from_norms(
    py: Python<'_>,
    norms: PyReadonlyArray1<'_, f64>,
    trees: usize,
    epsilon: f64,
    epsilon_high: Option<f64>,
) -> PyResult<String> {
    let mut params = AlphaParams::default().epsilon(epsilon);
    if let Some(high) = epsilon_high {
        params = params.epsilon_high(high);
    }
    let params = params.check().map_err(to_py)?;
    let norms = norms.as_slice()?;
    let e = py.detach(|| params.estimate(norms, trees)).map_err(to_py)?;
    Ok(serde_json::json!({
        "alpha": e.alpha,
        "alphas": e.alphas,
        "critical_taus": e.critical_taus,
        "band": [e.band.0, e.band.1],
        "epsilons": e.epsilons,
        "taus": e.taus,
        "s_curve": e.s_curve,
        "angle_curve": e.angle_curve,
        "n_wavelets": e.n_wavelets,
        "trees": e.n_trees,
    })
    .to_string())
}

/// Scores feature-set files (paths or glob patterns) in order; a file that fails is recorded
/// and the others still run. Returns the JSON of `results.json`.
#[pyfunction]
#[pyo3(signature = (paths, probe, reduce_to=None, reduce_method="tsvd", threads=None))]
fn score_files(
    py: Python<'_>,
    paths: Vec<String>,
    probe: &str,
    reduce_to: Option<usize>,
    reduce_method: &str,
    threads: Option<usize>,
) -> PyResult<String> {
    let scoring = scoring(probe, reduce_to, reduce_method)?;
    let pool = pool(threads)?;
    let cancel = Cancel::new();
    let results = interruptible(py, &cancel, || {
        let (files, pattern_failures) = expand(&paths);
        let mut scored = pool
            .install(|| score_paths(&scoring, &files, &Silent, &cancel))
            .map_err(to_py)?;
        scored.failures.splice(0..0, pattern_failures);
        Ok::<_, PyErr>(scored.into_results(
            "sparsity_probe",
            scoring.settings(pool.current_num_threads()),
        ))
    })??;
    to_json(&results)
}

/// Checks results JSON against the schema and writes it atomically to `path`.
#[pyfunction]
fn save_results(py: Python<'_>, results: &str, path: PathBuf) -> PyResult<()> {
    let results: Results = serde_json::from_str(results)
        .map_err(|e| value_error(format!("not results in the results.json schema: {e}")))?;
    py.detach(|| results.save(&path)).map_err(to_py)
}

/// Reads and checks a `results.json`; returns its JSON.
#[pyfunction]
fn load_results(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    let results = py.detach(|| Results::load(&path)).map_err(to_py)?;
    to_json(&results)
}

/// Reduces an n × d float32 array to K dimensions; returns (n × K array, explained variance ratio).
#[pyfunction]
#[pyo3(signature = (x, dim, method="tsvd", seed=0, threads=None))]
fn reduce<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f32>,
    dim: usize,
    method: &str,
    seed: u64,
    threads: Option<usize>,
) -> PyResult<(Bound<'py, PyArray2<f32>>, f64)> {
    let params = reduce_params(dim, method, seed)?;
    let pool = pool(threads)?;
    let (n, d) = (x.shape()[0], x.shape()[1]);
    // As for layers: an SVD has at most min(n, d) components.
    let params = params.capped(n.min(d));
    let values = x.as_slice()?;
    let reduction = interruptible(py, &Cancel::new(), || {
        pool.install(|| reduce_rows(&DenseRows::new(values, n, d), &params))
    })?
    .map_err(to_py)?;
    let k = reduction.k;
    let reduced = Array2::from_shape_vec((reduction.n, k), reduction.features)
        .map_err(|e| value_error(format!("reduction output: {e}")))?;
    Ok((reduced.into_pyarray(py), reduction.explained_variance_ratio))
}

/// Draws the report of run folders (each with a results.json) into `out`; returns report.html.
#[pyfunction]
fn report(py: Python<'_>, runs: Vec<PathBuf>, out: PathBuf) -> PyResult<PathBuf> {
    py.detach(|| {
        let runs = runs
            .iter()
            .map(|dir| load_run(dir))
            .collect::<Result<Vec<_>, _>>()?;
        write_report(&runs, &out)
    })
    .map_err(to_py)
}

fn to_json(results: &Results) -> PyResult<String> {
    serde_json::to_string(results).map_err(|e| value_error(format!("cannot encode results: {e}")))
}

/// The extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(alpha, m)?)?;
    m.add_function(wrap_pyfunction!(alpha_from_norms, m)?)?;
    m.add_function(wrap_pyfunction!(score_files, m)?)?;
    m.add_function(wrap_pyfunction!(save_results, m)?)?;
    m.add_function(wrap_pyfunction!(load_results, m)?)?;
    m.add_function(wrap_pyfunction!(reduce, m)?)?;
    m.add_function(wrap_pyfunction!(report, m)?)?;
    m.add_function(wrap_pyfunction!(files::read_features, m)?)?;
    m.add_function(wrap_pyfunction!(files::write_features, m)?)?;
    m.add_class::<files::FeatureWriter>()?;
    Ok(())
}
