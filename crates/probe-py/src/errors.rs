//! One mapping of the engine's errors into Python exceptions: a failed read or write is an
//! OSError, anything else (bad data, bad settings) a ValueError; the message is the engine's
//! one line.

use std::error::Error;

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::PyErr;

/// The exception for an engine error: OSError when an I/O error is anywhere in its chain.
pub fn to_py<E: Error + 'static>(err: E) -> PyErr {
    let message = err.to_string();
    let mut cause: Option<&(dyn Error + 'static)> = Some(&err);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
                _ => PyOSError::new_err(message),
            };
        }
        cause = e.source();
    }
    PyValueError::new_err(message)
}

/// A ValueError with `message`.
pub fn value_error(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}
