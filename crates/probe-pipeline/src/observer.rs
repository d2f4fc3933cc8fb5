//! How long work tells its caller what it is doing: an [`Observer`] that a front end renders
//! (the CLI as progress bars and lines, Python as a callback) and a library user ignores.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use probe_alpha::LayerRecord;
use probe_train::EpochReport;

/// Receives the pipeline's progress and messages. Every method has a default that ignores
/// the event, so an implementation picks what it shows. Methods take `&self` and the
/// observer is `Sync` because the forest reports finished trees from its worker threads.
pub trait Observer: Sync {
    /// A line worth showing: what a stage did or skipped, and why.
    fn message(&self, _line: &str) {}
    /// Something failed but the work goes on (a layer that could not be scored, a stage
    /// that recorded failures); the line says what and where.
    fn warning(&self, _line: &str) {}
    /// Long work starts: `total` steps of `unit` ("trees", "passes", "samples",
    /// "batches"), or an unknown total (0).
    fn start(&self, _task: &str, _unit: &str, _total: u64) {}
    /// `done` of `total` steps of the current work are done.
    fn progress(&self, _done: u64, _total: u64) {}
    /// One more step of the current work is done (from any thread).
    fn step(&self) {}
    /// The current work ended.
    fn finish(&self) {}
    /// A training epoch ended (its line in `metrics.jsonl`).
    fn epoch(&self, _report: &EpochReport) {}
    /// A file was scored.
    fn scored(&self, _file: &Path, _record: &LayerRecord) {}
    /// The alpha stage of a run wrote its results to `path`.
    fn results(&self, _path: &Path, _results: &crate::results::Results) {}
}

/// Shows nothing: for library users who only want the results.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Observer for Silent {}

/// A stop request the caller owns (set it from a signal handler or another thread); long
/// work checks it between steps and ends early with [`crate::Error::Cancelled`], leaving
/// complete outputs in place.
#[derive(Debug, Default)]
pub struct Cancel(AtomicBool);

impl Cancel {
    /// A flag that is not set.
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// Asks the work to stop; returns whether it had already been asked.
    pub fn request(&self) -> bool {
        self.0.swap(true, Ordering::SeqCst)
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// The flag, for the stage crates that take an `AtomicBool`.
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }

    /// `Err(Cancelled)` once a stop was asked for.
    pub fn check(&self) -> crate::Result<()> {
        if self.is_requested() {
            Err(crate::Error::Cancelled)
        } else {
            Ok(())
        }
    }
}
