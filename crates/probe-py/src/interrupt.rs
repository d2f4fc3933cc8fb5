//! Long calls that Ctrl-C can stop: the work runs on its own thread without the GIL while the
//! calling thread (the one Python delivers signals to) looks for an interrupt.

use std::time::Duration;

use probe_pipeline::Cancel;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// How often the calling thread looks for a signal.
const POLL: Duration = Duration::from_millis(50);

/// Runs `work`, checking for signals every 50 ms. On Ctrl-C (KeyboardInterrupt in a script,
/// "interrupt kernel" in a notebook) `cancel` is set, so that the work stops at its next step
/// (between layers), and once it has stopped the interrupt is raised. A panic in the work is
/// a RuntimeError, never a crash.
pub fn interruptible<T, F>(py: Python<'_>, cancel: &Cancel, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> T + Send,
{
    std::thread::scope(|scope| {
        let handle = scope.spawn(work);
        let mut interrupt = None;
        while !handle.is_finished() {
            py.detach(|| std::thread::sleep(POLL));
            if interrupt.is_none() {
                if let Err(e) = py.check_signals() {
                    cancel.request();
                    interrupt = Some(e);
                }
            }
        }
        let result = handle.join().map_err(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown cause");
            PyRuntimeError::new_err(format!("the engine failed: {message}"))
        })?;
        match interrupt {
            Some(e) => Err(e),
            None => Ok(result),
        }
    })
}
