//! The feature-set file format from Python: read a file into arrays, write arrays into a
//! file, or stream batches into one (what the PyTorch helper does with hooked activations).

use std::collections::BTreeMap;
use std::path::PathBuf;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use probe_data::{write_feature_set, FeatureDtype, FeatureSet, FeatureSetWriter};
use pyo3::prelude::*;

use crate::errors::{to_py, value_error};

/// A feature-set file's parts: (features n × d, raw labels, metadata, per-sample shape).
type FileParts<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyArray1<i64>>,
    BTreeMap<String, String>,
    Vec<usize>,
);

/// Reads a feature-set file: float64 features when the file holds F64, float32 otherwise.
#[pyfunction]
pub fn read_features(py: Python<'_>, path: PathBuf) -> PyResult<FileParts<'_>> {
    let set = py.detach(|| FeatureSet::open(&path)).map_err(to_py)?;
    let (n, d) = (set.n_samples(), set.n_features());
    let features = if set.dtype() == FeatureDtype::F64 {
        let mut values = vec![0f64; n * d];
        py.detach(|| set.read_rows_f64(0, &mut values));
        matrix(values, n, d)?.into_pyarray(py).into_any()
    } else {
        let mut values = vec![0f32; n * d];
        py.detach(|| set.read_rows_f32(0, &mut values));
        matrix(values, n, d)?.into_pyarray(py).into_any()
    };
    let labels: Vec<i64> = set
        .labels()
        .iter()
        .map(|&k| set.class_values()[k as usize])
        .collect();
    Ok((
        features,
        labels.into_pyarray(py),
        set.metadata().clone(),
        set.original_shape().to_vec(),
    ))
}

fn matrix<T>(values: Vec<T>, n: usize, d: usize) -> PyResult<Array2<T>> {
    Array2::from_shape_vec((n, d), values).map_err(|e| value_error(e.to_string()))
}

/// Writes a feature-set file atomically from C-contiguous float32 features of `shape`
/// ([n, ...]; the array is n × prod(rest)) and raw integer labels.
#[pyfunction]
pub fn write_features(
    py: Python<'_>,
    path: PathBuf,
    features: PyReadonlyArray2<'_, f32>,
    shape: Vec<usize>,
    labels: PyReadonlyArray1<'_, i64>,
    metadata: BTreeMap<String, String>,
) -> PyResult<()> {
    let values = features.as_slice()?;
    let labels = labels.as_slice()?;
    py.detach(|| write_feature_set(&path, values, &shape, labels, &metadata))
        .map_err(to_py)
}

/// A feature-set file written batch by batch into a temporary file, renamed onto its path
/// by `finish` (nothing is left behind when it is dropped unfinished).
#[pyclass(module = "sparsity_probe._core")]
pub struct FeatureWriter {
    writer: Option<FeatureSetWriter>,
}

#[pymethods]
impl FeatureWriter {
    /// Starts a set of `shape` = [n, ...per-sample dims] at `path`.
    #[new]
    fn new(path: PathBuf, shape: Vec<usize>, metadata: BTreeMap<String, String>) -> PyResult<Self> {
        let writer = FeatureSetWriter::create(&path, &shape, &metadata).map_err(to_py)?;
        Ok(FeatureWriter {
            writer: Some(writer),
        })
    }

    /// Appends k rows (a C-contiguous float32 k × width array) and their k raw labels.
    fn append(
        &mut self,
        py: Python<'_>,
        rows: PyReadonlyArray2<'_, f32>,
        labels: PyReadonlyArray1<'_, i64>,
    ) -> PyResult<()> {
        let writer = self.writer.as_mut().ok_or_else(finished)?;
        let (rows, labels) = (rows.as_slice()?, labels.as_slice()?);
        py.detach(|| writer.append(rows, labels)).map_err(to_py)
    }

    /// Rows written so far.
    #[getter]
    fn rows_written(&self) -> usize {
        self.writer
            .as_ref()
            .map_or(0, FeatureSetWriter::rows_written)
    }

    /// Checks the set (every row written, two classes, finite values) and renames it onto
    /// its path; returns the path.
    fn finish(&mut self, py: Python<'_>) -> PyResult<PathBuf> {
        let writer = self.writer.take().ok_or_else(finished)?;
        py.detach(|| writer.finish()).map_err(to_py)
    }

    /// Drops the temporary file without writing anything.
    fn abort(&mut self) {
        self.writer = None;
    }
}

fn finished() -> PyErr {
    value_error("this feature writer has already finished")
}
