//! The summaries the front ends show, as lines of text: the alpha table, a run's table, the
//! extraction's layers, the reductions and the epochs. Nothing here prints.

use std::path::Path;

use probe_alpha::LayerRecord;
use probe_extract::Manifest;
use probe_report::compare::compare_runs;
use probe_report::RunReport;
use probe_train::EpochReport;

use crate::reduce::ReducedFile;
use crate::results::Results;
use crate::stages::StageOutcome;
use crate::units::{Shard, Stage};

/// The header of [`alpha_row`]'s table; with `repeats` (more than one forest per layer) the
/// band column holds the 95% interval instead.
pub fn alpha_header(repeats: bool) -> String {
    format!(
        "{:<40} {:<20} {:>7} {:>7} {:>7} {:>15} {:>9} {:>8}",
        "file",
        "layer",
        "n",
        "d",
        "alpha",
        band_header(repeats),
        "wavelets",
        "seconds"
    )
}

fn band_header(repeats: bool) -> &'static str {
    if repeats {
        "95% interval"
    } else {
        "band"
    }
}

/// One scored file as a table row.
pub fn alpha_row(file: &Path, r: &LayerRecord) -> String {
    format!(
        "{:<40} {:<20} {:>7} {:>7} {:>7.4} {:>15} {:>9} {:>8.2}",
        file.display(),
        r.layer,
        r.n,
        r.d,
        r.alpha,
        band(r),
        r.n_wavelets,
        r.seconds
    )
}

/// The ε band, or with repeated forests the 95% interval of the mean.
fn band(r: &LayerRecord) -> String {
    match &r.repeats {
        Some(stats) => format!("[{:.3}, {:.3}]", stats.alpha_ci[0], stats.alpha_ci[1]),
        None => format!("[{:.3}, {:.3}]", r.band[0], r.band[1]),
    }
}

/// A run's layers (width, alpha, band, ARI when clustered, flag), then the model's accuracy
/// when known.
pub fn run_table(results: &Results) -> Vec<String> {
    if !results.checkpoints.is_empty() {
        return sweep_table(results);
    }
    let clustered = results.layers.iter().any(|l| l.clustering.is_some());
    let w = results
        .layers
        .iter()
        .map(|l| l.record.layer.chars().count())
        .max()
        .unwrap_or(0)
        .max(20);
    let mut lines = vec![format!(
        "{:<w$} {:>8} {:>8} {:>16} {:>7}  flag",
        "layer",
        "width",
        "alpha",
        band_header(results.settings.repeats > 1),
        if clustered { "ARI" } else { "" }
    )];
    for l in &results.layers {
        let r = &l.record;
        lines.push(format!(
            "{:<w$} {:>8} {:>8.4} {:>16} {:>7}  {}",
            r.layer,
            r.input_d,
            r.alpha,
            band(r),
            l.clustering
                .map(|c| format!("{:.3}", c.ari))
                .unwrap_or_default(),
            r.flag.as_deref().unwrap_or("")
        ));
    }
    if let Some(a) = results.accuracy {
        lines.push(format!(
            "model: validation accuracy {:.2}%{}",
            100.0 * a.val.unwrap_or(f64::NAN),
            a.test
                .map(|t| format!(", test {:.2}%", 100.0 * t))
                .unwrap_or_default()
        ));
    }
    lines
}

/// A sweep: alpha per checkpoint (rows) and layer (columns), with the epoch and the
/// validation accuracy when known; a layer a checkpoint could not score shows `-`.
pub fn sweep_table(results: &Results) -> Vec<String> {
    let layers: Vec<&str> = results
        .checkpoints
        .iter()
        .flat_map(|c| c.layers.iter().map(|l| l.record.layer.as_str()))
        .fold(Vec::new(), |mut names, name| {
            if !names.contains(&name) {
                names.push(name);
            }
            names
        });
    let mut header = format!("{:<20} {:>5} {:>8}", "checkpoint", "epoch", "val acc");
    for name in &layers {
        header.push_str(&format!(" {name:>10}"));
    }
    let mut lines = vec![header];
    for c in &results.checkpoints {
        let mut line = format!(
            "{:<20} {:>5} {:>8}",
            c.checkpoint,
            c.epoch.map(|e| e.to_string()).unwrap_or_default(),
            c.accuracy
                .and_then(|a| a.val)
                .map(|v| format!("{:.2}%", 100.0 * v))
                .unwrap_or_default()
        );
        for name in &layers {
            let alpha = c.layers.iter().find(|l| l.record.layer == *name);
            match alpha {
                Some(l) => line.push_str(&format!(" {:>10.4}", l.record.alpha)),
                None => line.push_str(&format!(" {:>10}", "-")),
            }
        }
        lines.push(line);
    }
    lines
}

/// A model's taps with their per-sample shapes, a line each, names aligned
/// (`probe-extract --list-layers`).
pub fn layers_table(layers: &[(String, Vec<usize>)]) -> Vec<String> {
    let width = layers
        .iter()
        .map(|(n, _)| n.chars().count())
        .max()
        .unwrap_or(0);
    layers
        .iter()
        .map(|(name, shape)| {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("{name:<width$}  [{}]", dims.join(", "))
        })
        .collect()
}

/// What one shard of a stage did, in a line.
pub fn stage_line(stage: Stage, shard: Shard, outcome: &StageOutcome) -> String {
    format!(
        "{stage} shard {shard}: {} unit(s) run, {} complete and skipped{}",
        outcome.ran,
        outcome.skipped,
        if outcome.failures > 0 {
            format!(", {} layer(s) failed", outcome.failures)
        } else {
            String::new()
        }
    )
}

/// The extraction's layers (shape, width, size, seconds, file), a line per capped
/// reduction, and the pass's throughput.
pub fn manifest_table(manifest: &Manifest, reduce_dim: Option<usize>) -> Vec<String> {
    // As wide as the longest name: an ONNX graph's values are long (`/layer4/…/Relu_output_0`).
    let w = manifest
        .layers
        .iter()
        .map(|l| l.layer.chars().count())
        .max()
        .unwrap_or(0)
        .max(20);
    let mut lines = vec![format!(
        "{:<4} {:<w$} {:>16} {:>9} {:>9} {:>8}  {}",
        "#", "layer", "shape", "width", "MB", "seconds", "file"
    )];
    for l in &manifest.layers {
        let shape: Vec<String> = l.shape.iter().map(|s| s.to_string()).collect();
        lines.push(format!(
            "{:<4} {:<w$} {:>16} {:>9} {:>9.1} {:>8.2}  {}{}",
            l.index,
            l.layer,
            shape.join("x"),
            l.width,
            l.bytes as f64 / 1e6,
            l.seconds,
            l.file.display(),
            if l.skipped { "  (complete, kept)" } else { "" }
        ));
        if let (Some(k), Some(dim)) = (l.reduced_to, reduce_dim) {
            if k < dim && k < l.width {
                lines.push(format!(
                    "     reduction capped: {} samples, so K = {k} instead of {dim} ({})",
                    manifest.n,
                    l.reduced
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ));
            }
        }
    }
    if manifest.layers.iter().any(|l| !l.skipped) {
        lines.push(format!(
            "{} samples through {} in one pass: {:.1} s, {:.0} samples/s",
            manifest.n, manifest.model, manifest.seconds, manifest.images_per_second
        ));
    } else {
        lines.push("every layer was already complete; nothing to do".into());
    }
    lines
}

/// The header of [`reduced_row`]'s table.
pub fn reduced_header() -> String {
    format!(
        "{:<40} {:<20} {:>7} {:>7} {:>6} {:>9} {:>8}  {:<16} {}",
        "file", "layer", "n", "d", "K", "variance", "seconds", "solver", "output"
    )
}

/// One reduced file as a table row; `asked` is the K asked for.
pub fn reduced_row(r: &ReducedFile, asked: usize) -> String {
    let mut line = format!(
        "{:<40} {:<20} {:>7} {:>7} {:>6} {:>9} {:>8.2}  {:<16} {}",
        r.input.display(),
        r.layer,
        r.n,
        r.d,
        r.k,
        r.explained_variance_ratio
            .map_or("unchanged".into(), |v| format!("{v:.4}")),
        r.seconds,
        r.solver.map_or("-".into(), |s| s.to_string()),
        r.output.display()
    );
    if r.explained_variance_ratio.is_none() {
        line += &format!("  (d = {} <= K = {asked}: passed through)", r.d);
    } else if r.k < asked {
        line += &format!("  ({} samples: K capped at {})", r.n, r.k);
    }
    line
}

/// One training epoch as a log line.
pub fn epoch_line(r: &EpochReport) -> String {
    let test = r
        .test_accuracy
        .map(|t| format!("  test acc {:.2}%", 100.0 * t))
        .unwrap_or_default();
    format!(
        "epoch {:>3}  train loss {:.4} acc {:.2}%  val loss {:.4} acc {:.2}%{test}  {:.0} samples/s  {:.1}s{}",
        r.epoch,
        r.train_loss,
        100.0 * r.train_accuracy,
        r.val_loss,
        100.0 * r.val_accuracy,
        r.samples_per_second,
        r.seconds,
        if r.best { "  *best" } else { "" }
    )
}

/// Runs side by side: alpha per layer in each run (with its 95% interval where repeated)
/// and each later run's difference from the first, `≈` where the two intervals overlap.
pub fn comparison_table(runs: &[RunReport]) -> Vec<String> {
    let refs: Vec<&RunReport> = runs.iter().collect();
    let mut header = format!("{:<20}", "layer");
    for (k, run) in runs.iter().enumerate() {
        header.push_str(&format!(" {:>24}", clip(&run.name, 24)));
        if k > 0 {
            header.push_str(&format!(" {:>10}", "Δ"));
        }
    }
    let mut lines = vec![header];
    for row in compare_runs(&refs) {
        let mut line = format!("{:<20}", clip(&row.layer, 20));
        for (k, alpha) in row.alphas.iter().enumerate() {
            let cell = alpha.map_or("-".to_string(), |a| match a.interval {
                Some([lo, hi]) => format!("{:.4} [{lo:.3}, {hi:.3}]", a.alpha),
                None => format!("{:.4}", a.alpha),
            });
            line.push_str(&format!(" {cell:>24}"));
            if k > 0 {
                let cell = row.differences[k - 1].map_or("-".to_string(), |d| {
                    let mark = if d.overlap == Some(true) { "≈" } else { " " };
                    format!("{:+.4}{mark}", d.delta)
                });
                line.push_str(&format!(" {cell:>10}"));
            }
        }
        lines.push(line);
    }
    if runs.len() > 1 {
        lines.push(format!(
            "Δ: difference from {}; ≈: the two 95% intervals overlap (repeated forests only)",
            runs[0].name
        ));
    }
    lines
}

/// `text`, shortened to `width` characters.
fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let head: String = text.chars().take(width - 1).collect();
        format!("{head}…")
    }
}
