//! What every command shares: atomic result files, terminal output that survives a closed
//! pipe, progress bars, and exit codes.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

/// Writes `contents` to `path` through a temporary file in the same folder and a rename, so
/// the file is either the old one or the complete new one, never a half-written one.
pub fn write_atomic(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    // probe-data's error names the file and says to check the folder.
    Ok(probe_data::write_atomic(path, contents)?)
}

/// Prints a line on stdout; a closed pipe (`probe-alpha … | head`) is not an error worth a
/// panic, so it is reported as `false` and the caller stops printing.
pub fn print_line(line: &str) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}

/// An error and its causes on one line ("cannot read X: truncated file"), leaving out a
/// cause whose text the message already carries (library errors often quote their source).
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace(['\n', '\r'], " ")
}

/// Prints a one-line error on stderr in the tools' common form.
pub fn print_error(err: &anyhow::Error) {
    let _ = writeln!(std::io::stderr(), "error: {}", one_line(err));
}

/// A progress bar over `len` steps of `unit` ("trees", "passes") on stderr; hidden when
/// stderr is not a terminal or when `quiet` is set.
pub fn progress_bar(len: u64, message: String, unit: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template = format!("{{spinner}} {{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit}, {{elapsed}}");
    bar.set_style(
        ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(message);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// A worker pool of `threads` threads (all cores when `None`).
pub fn thread_pool(threads: Option<usize>) -> anyhow::Result<rayon::ThreadPool> {
    if threads == Some(0) {
        anyhow::bail!("--threads must be at least 1");
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .build()
        .context("cannot start the worker threads")
}

/// Runs a command body and turns its outcome into an exit code: 0 on success, 1 when the
/// command ran but something failed, 2 when it could not run at all.
pub fn exit_code(result: anyhow::Result<bool>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            print_error(&err);
            ExitCode::from(2)
        }
    }
}
