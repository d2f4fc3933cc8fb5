//! `probe-extract`: one pass of a model over a dataset, one feature-set file per layer.

use std::path::PathBuf;

use clap::Parser;
use probe_extract::{extract, ExtractConfig};
use probe_pipeline::{tables, Observer};

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
    /// Override the weights: a file, hf://owner/repo/file, `random` (untrained baseline),
    /// or an .onnx model.
    #[arg(long, value_name = "PATH|random")]
    pub weights: Option<String>,
    /// Print every layer the model can tap (for an ONNX model, every value of its graph)
    /// with its per-sample shape, for one sample of the data, and write nothing.
    #[arg(long)]
    pub list_layers: bool,
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
        config.model.set_weights(w);
    }
    config.check(&args.config)?;
    if args.list_layers {
        let layers = probe_extract::list_layers(&config)?;
        for line in tables::layers_table(&layers) {
            if !print_line(&line) {
                break;
            }
        }
        return Ok(true);
    }
    let terminal = Terminal::new(args.quiet, false);
    terminal.start("extracting", "samples", 0);
    let manifest = extract(&config, args.force, &mut |done, total| {
        terminal.progress(done as u64, total as u64)
    });
    terminal.finish();
    let manifest = manifest?;
    for line in tables::manifest_table(&manifest, config.reduce.as_ref().map(|r| r.dim)) {
        print_line(&line);
    }
    for f in &manifest.failures {
        print_error(&format!("layer {}: {}", f.layer, f.error));
    }
    Ok(manifest.failures.is_empty())
}
