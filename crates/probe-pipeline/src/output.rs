//! Outputs that never replace what they must not: an input, a device, a FIFO, a folder or a
//! link; and whose folder is checked to be writable before any long work.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Checks, before any work, that `out` can be written as a results file: its folder exists
/// and takes new files, and `out` is not one of `inputs` nor anything but a regular file.
pub fn check_output(out: &Path, inputs: &[PathBuf]) -> Result<()> {
    let refuse = |reason: String| {
        Err(Error::Output {
            path: out.to_path_buf(),
            reason,
        })
    };
    if let Ok(meta) = std::fs::symlink_metadata(out) {
        let kind = meta.file_type();
        if kind.is_symlink() {
            return refuse("it is a symbolic link; name the file itself".into());
        }
        if kind.is_dir() {
            return refuse("it is a folder; name a file inside it".into());
        }
        if !kind.is_file() {
            return refuse("it is not a regular file (a device, FIFO or socket)".into());
        }
        let same =
            |input: &PathBuf| match (std::fs::canonicalize(input), std::fs::canonicalize(out)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
        if let Some(input) = inputs.iter().find(|i| same(i)) {
            return refuse(format!(
                "it is the input {}; results go to another file",
                input.display()
            ));
        }
    }
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return refuse(format!("the folder {} does not exist", dir.display()));
    }
    // Writability is only known by writing: a read-only folder (or a full one) fails here,
    // before the first layer, instead of after all of them.
    tempfile::Builder::new()
        .prefix(".probe-write-check-")
        .tempfile_in(dir)
        .map(drop)
        .or_else(|e| refuse(format!("cannot create files in {}: {e}", dir.display())))
}
