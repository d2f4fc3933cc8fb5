//! What every command shares: terminal output that survives a closed pipe, the pipeline's
//! observer rendered as progress bars and lines, worker pools and exit codes.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use probe_pipeline::{tables, Cancel, Observer};
use probe_train::EpochReport;

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
pub fn print_error(line: &str) {
    let _ = writeln!(std::io::stderr(), "error: {line}");
}

/// Fixes the thread count for candle at startup, unless the user set `RAYON_NUM_THREADS`:
/// without it, candle re-reads /proc/cpuinfo on every matrix product (a tenth of an MLP
/// training step). The count is rayon's own default, so nothing else changes. Call before any
/// thread starts.
pub fn pin_thread_count() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
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

/// A flag set by the first Ctrl-C (work stops after the current step and keeps what is
/// complete); a second Ctrl-C ends the process at once.
pub fn cancel_on_ctrl_c() -> Arc<Cancel> {
    let cancel = Arc::new(Cancel::new());
    let flag = Arc::clone(&cancel);
    let _ = ctrlc::set_handler(move || {
        if flag.request() {
            std::process::exit(130);
        }
    });
    cancel
}

/// How a command ended: 0 on success, 1 when it ran but something failed, 2 when it could
/// not run at all, 130 when stopped by Ctrl-C.
pub fn exit_code(result: anyhow::Result<bool>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            if let Some(probe_pipeline::Error::Cancelled) = err.downcast_ref() {
                print_error("stopped (Ctrl-C); complete outputs were kept");
                return ExitCode::from(130);
            }
            print_error(&one_line(&err));
            ExitCode::from(2)
        }
    }
}

/// The pipeline's observer on a terminal: progress bars on stderr (hidden when `quiet` or
/// when stderr is not a terminal), messages on stdout, failures on stderr.
pub struct Terminal {
    quiet: bool,
    bar: Mutex<Option<ProgressBar>>,
    /// Print a table row per scored file (probe-alpha), and whether stdout still takes them.
    rows: AtomicBool,
}

impl Terminal {
    /// Bars unless `quiet`; `rows` prints each scored file as a table row.
    pub fn new(quiet: bool, rows: bool) -> Terminal {
        Terminal {
            quiet,
            bar: Mutex::new(None),
            rows: AtomicBool::new(rows),
        }
    }

    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = self.bar.lock().ok().as_ref().and_then(|b| b.as_ref()) {
            f(bar);
        }
    }
}

impl Observer for Terminal {
    fn message(&self, line: &str) {
        let slot = self.bar.lock();
        match slot.as_ref().ok().and_then(|b| b.as_ref()) {
            Some(bar) => bar.suspend(|| print_line(line)),
            None => print_line(line),
        };
    }

    fn warning(&self, line: &str) {
        print_error(line);
    }

    fn start(&self, task: &str, unit: &str, total: u64) {
        if self.quiet {
            return;
        }
        let bar = ProgressBar::new(total);
        let template =
            format!("{{spinner}} {{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit}, {{elapsed}}");
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(task.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(old) = slot.replace(bar) {
                old.finish_and_clear();
            }
        }
    }

    fn progress(&self, done: u64, total: u64) {
        self.with_bar(|b| {
            b.set_length(total);
            b.set_position(done);
        });
    }

    fn step(&self) {
        self.with_bar(|b| b.inc(1));
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.lock().ok().and_then(|mut b| b.take()) {
            bar.finish_and_clear();
        }
    }

    fn epoch(&self, report: &EpochReport) {
        self.message(&tables::epoch_line(report));
    }

    fn results(&self, path: &std::path::Path, results: &probe_pipeline::Results) {
        for line in tables::run_table(results) {
            self.message(&line);
        }
        self.message(&format!("results: {}", path.display()));
    }

    fn scored(&self, file: &std::path::Path, record: &probe_alpha::LayerRecord) {
        if self.rows.load(Ordering::Relaxed) {
            let ok = print_line(&tables::alpha_row(file, record));
            self.rows.store(ok, Ordering::Relaxed);
        }
    }
}
