//! `probe-extract`: one pass of a model over a dataset, one feature-set file per layer.

use std::path::PathBuf;

use clap::Parser;
use probe_extract::{extract, ExtractConfig};
use probe_pipeline::Observer;

use crate::output::{print_error, print_line, Terminal};

/// Runs a model over a dataset once and writes the representation of every requested layer
/// as its own feature-set file (OUT/features/NN_<layer>.safetensors) with a manifest.
#[derive(Debug, Parser)]
#[command(name = "probe-extract", version)]
pub struct ExtractArgs {
    /// The extraction config (see configs/*.toml).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Override the device (cpu, cuda, cuda:N, metal).
    #[arg(long)]
    pub device: Option<String>,
    /// Override the output folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Override the dataset folder.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Use a seeded subset of at most N samples.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Override the weights: a file, hf://owner/repo/file, or `random` (untrained baseline).
    #[arg(long, value_name = "PATH|random")]
    pub weights: Option<String>,
    /// Rewrite layers whose files are already complete.
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `probe-extract`; `Ok(false)` when a layer failed (the others were written).
pub fn run(args: &ExtractArgs) -> anyhow::Result<bool> {
    let mut config = ExtractConfig::from_toml(&args.config)?;
    if let Some(d) = &args.device {
        config.device = d.clone();
    }
    if let Some(o) = &args.out {
        config.out = o.clone();
    }
    if let Some(d) = &args.data {
        config.dataset.data = Some(d.clone());
    }
    if let Some(l) = args.limit {
        config.dataset.limit = Some(l);
    }
    if let Some(w) = &args.weights {
        config.model.weights = w.clone();
    }
    config.check(&args.config)?;
    let terminal = Terminal::new(args.quiet, false);
    terminal.start("extracting", "samples", 0);
    let manifest = extract(&config, args.force, &mut |done, total| {
        terminal.progress(done as u64, total as u64)
    });
    terminal.finish();
    let manifest = manifest?;
    print_line(&format!(
        "{:<4} {:<20} {:>16} {:>9} {:>9} {:>8}  {}",
        "#", "layer", "shape", "width", "MB", "seconds", "file"
    ));
    for l in &manifest.layers {
        let shape: Vec<String> = l.shape.iter().map(|s| s.to_string()).collect();
        print_line(&format!(
            "{:<4} {:<20} {:>16} {:>9} {:>9.1} {:>8.2}  {}{}",
            l.index,
            l.layer,
            shape.join("x"),
            l.width,
            l.bytes as f64 / 1e6,
            l.seconds,
            l.file.display(),
            if l.skipped { "  (complete, kept)" } else { "" }
        ));
        if let (Some(k), Some(r)) = (l.reduced_to, &config.reduce) {
            if k < r.dim && k < l.width {
                print_line(&format!(
                    "     reduction capped: {} samples, so K = {k} instead of {} ({})",
                    manifest.n,
                    r.dim,
                    l.reduced
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ));
            }
        }
    }
    if manifest.layers.iter().any(|l| !l.skipped) {
        print_line(&format!(
            "{} samples through {} in one pass: {:.1} s, {:.0} samples/s",
            manifest.n, manifest.model, manifest.seconds, manifest.images_per_second
        ));
    } else {
        print_line("every layer was already complete; nothing to do (--force redoes them)");
    }
    for f in &manifest.failures {
        print_error(&format!("layer {}: {}", f.layer, f.error));
    }
    Ok(manifest.failures.is_empty())
}
