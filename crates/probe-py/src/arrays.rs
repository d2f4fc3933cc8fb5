//! numpy arrays read in place by the engine: a borrowed C-contiguous float32 or float64
//! matrix becomes a [`FeatureBuffer`] without a copy.

use numpy::{PyReadonlyArray2, PyUntypedArrayMethods};
use probe_data::{FeatureBuffer, FeatureValues};
use pyo3::prelude::*;

use crate::errors::value_error;

/// A 2-D array borrowed read-only (numpy's borrow flag is held until this is dropped).
pub enum Features<'py> {
    F32(PyReadonlyArray2<'py, f32>),
    F64(PyReadonlyArray2<'py, f64>),
}

impl<'py> Features<'py> {
    /// Borrows a C-contiguous float32 or float64 matrix; the Python side converts anything
    /// else (float16, other layouts) first.
    pub fn borrow(array: &Bound<'py, PyAny>) -> PyResult<Features<'py>> {
        let features = if let Ok(a) = array.extract::<PyReadonlyArray2<'py, f32>>() {
            Features::F32(a)
        } else if let Ok(a) = array.extract::<PyReadonlyArray2<'py, f64>>() {
            Features::F64(a)
        } else {
            return Err(value_error(
                "features must be a 2-D float32 or float64 numpy array",
            ));
        };
        let contiguous = match &features {
            Features::F32(a) => a.is_c_contiguous(),
            Features::F64(a) => a.is_c_contiguous(),
        };
        if !contiguous {
            return Err(value_error("features must be C-contiguous"));
        }
        Ok(features)
    }

    /// The values as a buffer for a feature set that must not outlive `self`.
    pub fn buffer(&self) -> Box<dyn FeatureBuffer> {
        match self {
            Features::F32(a) => {
                let values = a.as_slice().expect("checked C-contiguous");
                Box::new(Borrowed::F32(values.as_ptr(), values.len()))
            }
            Features::F64(a) => {
                let values = a.as_slice().expect("checked C-contiguous");
                Box::new(Borrowed::F64(values.as_ptr(), values.len()))
            }
        }
    }
}

/// A pointer and length into a numpy array's data.
enum Borrowed {
    F32(*const f32, usize),
    F64(*const f64, usize),
}

// SAFETY: the data is only read, and the array it points into is kept alive and borrowed
// read-only by the `Features` that made this buffer, which callers drop after the feature
// set that holds the buffer (the array's memory does not move while it is borrowed).
unsafe impl Send for Borrowed {}
unsafe impl Sync for Borrowed {}

impl FeatureBuffer for Borrowed {
    fn values(&self) -> FeatureValues<'_> {
        // SAFETY: see above; the pointer and length came from a live slice.
        unsafe {
            match *self {
                Borrowed::F32(ptr, len) => FeatureValues::F32(std::slice::from_raw_parts(ptr, len)),
                Borrowed::F64(ptr, len) => FeatureValues::F64(std::slice::from_raw_parts(ptr, len)),
            }
        }
    }
}
