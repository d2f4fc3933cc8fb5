//! Input files: glob patterns expanded where the shell did not, and the failures record
//! that every command writes.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::output::print_error;

/// A file that could not be processed, as recorded in results files.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// The file (or pattern) as given.
    pub file: String,
    /// The one-line error.
    pub error: String,
}

/// Paths as given, with glob patterns expanded (sorted) where the shell did not expand them;
/// a pattern that matches nothing is a failure of its own.
pub fn expand(args: &[String]) -> (Vec<PathBuf>, Vec<Failure>) {
    let mut files = Vec::new();
    let mut failures = Vec::new();
    for arg in args {
        let is_pattern = arg.contains(['*', '?', '[']) && !Path::new(arg).exists();
        if !is_pattern {
            files.push(PathBuf::from(arg));
            continue;
        }
        let matched: Vec<PathBuf> = match glob::glob(arg) {
            Ok(paths) => paths.filter_map(Result::ok).collect(),
            Err(e) => {
                failures.push(Failure {
                    file: arg.clone(),
                    error: format!("{arg}: not a valid glob pattern: {e}"),
                });
                continue;
            }
        };
        if matched.is_empty() {
            let error = format!("{arg}: no file matches this pattern");
            print_error(&anyhow::anyhow!(error.clone()));
            failures.push(Failure {
                file: arg.clone(),
                error,
            });
        }
        files.extend(matched);
    }
    (files, failures)
}
