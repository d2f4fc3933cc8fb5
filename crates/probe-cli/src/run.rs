//! `probe run CONFIG.toml`: train (when asked and not done) → extract → (reduce) → alpha →
//! report, each stage writing under `runs/NAME/` and skipped when its outputs are up to date.
//!
//! This is glue over the stage crates.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use clap::Parser;
use probe_alpha::{AlphaParams, Probe};
use probe_extract::{extract, DatasetSection, ExtractConfig, ModelSection, ReduceSection};
use probe_forest::ForestParams;
use serde::Deserialize;

use crate::alpha::{probe_files, ExtrasParams, Results, Settings};
use crate::files::Failure;
use crate::output::{print_line, progress_bar, thread_pool, write_atomic};
use crate::train::{OptimizerKind, TrainArgs};

/// Runs the whole probe from one config: train, extract, reduce, alpha.
#[derive(Debug, Parser)]
#[command(name = "probe run", version)]
pub struct RunArgs {
    /// The run's config (see configs/quickstart.toml).
    pub config: PathBuf,
    /// Redo a stage even when its outputs are up to date: train, extract, alpha, report or
    /// all.
    #[arg(long, value_name = "STAGE")]
    pub force: Vec<String>,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Training settings; present when the run trains its own model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainSection {
    epochs: usize,
    #[serde(default = "default_batch")]
    batch_size: usize,
    #[serde(default = "default_lr")]
    lr: f64,
    #[serde(default)]
    sgd: bool,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    label_noise: f64,
    #[serde(default = "default_val_split")]
    val_split: f64,
    /// Probe the run's `layers` of the training set every this many epochs (and after the
    /// last), into `probes.jsonl`, with the [probe] section's trees and depth.
    #[serde(default)]
    probe_every: Option<usize>,
}

/// Probe settings (those of probe-alpha).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ProbeSection {
    trees: usize,
    depth: usize,
    max_features: String,
    splitter: String,
    seed: u64,
    epsilon: f64,
    norm: String,
    /// k-means against the labels per layer.
    clustering: bool,
    /// `umap` or `tsne`: a 2-D embedding per layer for the report.
    embedding: Option<String>,
    /// Points per embedding (seeded subsample).
    embedding_points: usize,
}

impl Default for ProbeSection {
    fn default() -> Self {
        ProbeSection {
            trees: 5,
            depth: 15,
            max_features: "sqrt".into(),
            splitter: "binned".into(),
            seed: 2,
            epsilon: 0.1,
            norm: "samples".into(),
            clustering: false,
            embedding: None,
            embedding_points: 2500,
        }
    }
}

/// The model of a run: an environment, and weights unless the run trains them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunModel {
    env: String,
    #[serde(default)]
    arch: Option<String>,
    /// Default: the run's trained checkpoint (`checkpoint/best.safetensors`).
    #[serde(default)]
    weights: Option<String>,
    #[serde(default)]
    seed: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunConfig {
    name: String,
    #[serde(default)]
    out: Option<PathBuf>,
    model: RunModel,
    #[serde(default)]
    train: Option<TrainSection>,
    #[serde(default)]
    dataset: DatasetSection,
    #[serde(default)]
    layers: Option<Vec<String>>,
    #[serde(default = "default_extract_batch")]
    batch_size: usize,
    #[serde(default = "default_device")]
    device: String,
    #[serde(default)]
    reduce: Option<ReduceSection>,
    #[serde(default)]
    probe: ProbeSection,
}

fn default_batch() -> usize {
    32
}
fn default_lr() -> f64 {
    1e-3
}
fn default_val_split() -> f64 {
    0.2
}
fn default_extract_batch() -> usize {
    256
}
fn default_device() -> String {
    "cpu".into()
}

fn read_config(path: &Path) -> anyhow::Result<RunConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the run config {}", path.display()))?;
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        anyhow::anyhow!(
            "{}{}: {}",
            path.display(),
            line.map(|l| format!(" line {l}")).unwrap_or_default(),
            e.message().replace('\n', " ")
        )
    })
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Runs `probe run`.
pub fn run(args: &RunArgs) -> anyhow::Result<bool> {
    let config = read_config(&args.config)?;
    let forced = |stage: &str| args.force.iter().any(|f| f == stage || f == "all");
    if let Some(bad) = args
        .force
        .iter()
        .find(|f| !["train", "extract", "alpha", "report", "all"].contains(&f.as_str()))
    {
        anyhow::bail!("--force {bad}: the stages are train, extract, alpha, report (or all)");
    }
    let out = config
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(&config.name));
    // Everything that can be checked is checked before the first stage.
    let probe = Probe::new(
        ForestParams::default()
            .n_trees(config.probe.trees)
            .max_depth(config.probe.depth)
            .max_features(parse(&config.probe.max_features, "probe.max_features")?)
            .splitter(parse(&config.probe.splitter, "probe.splitter")?)
            .seed(config.probe.seed),
        AlphaParams::default().epsilon(config.probe.epsilon),
        parse(&config.probe.norm, "probe.norm")?,
    )?;
    let extras = ExtrasParams::new(
        config.probe.clustering,
        config
            .probe
            .embedding
            .as_deref()
            .map(|m| parse(m, "probe.embedding"))
            .transpose()?,
        config.probe.embedding_points,
        config.probe.seed,
    )
    .context("[probe]")?;
    let weights = match (&config.model.weights, &config.train) {
        (Some(w), _) => w.clone(),
        (None, Some(_)) => out
            .join("checkpoint/best.safetensors")
            .display()
            .to_string(),
        (None, None) => anyhow::bail!(
            "{}: [model] has no weights and there is no [train] section; set model.weights \
             (a file, hf://…, or \"random\") or add [train]",
            args.config.display()
        ),
    };
    let extract_config = ExtractConfig {
        model: ModelSection {
            env: config.model.env.clone(),
            arch: config.model.arch.clone(),
            weights,
            seed: config.model.seed,
        },
        dataset: config.dataset.clone(),
        layers: config.layers.clone(),
        batch_size: config.batch_size,
        device: config.device.clone(),
        out: out.clone(),
        reduce: config.reduce.clone(),
    };
    extract_config.check(&args.config)?;
    check_layers(&config)?;

    // 1. Train, when asked and not already done for this many epochs (a shorter run resumes).
    if let Some(train) = &config.train {
        let last = out.join("checkpoint/last.safetensors");
        let done = probe_models::read_safetensors_metadata(&last)
            .ok()
            .and_then(|m| m.get("epoch")?.parse::<usize>().ok());
        // Settings other than `epochs` that changed since the checkpoint was trained make
        // the checkpoint stale: train again from scratch instead of resuming or skipping.
        let settings_path = out.join("train-settings.json");
        let settings = train_settings(&config, train);
        let changed = std::fs::read(&settings_path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|old| changed_setting(&old, &settings));
        let done = if let (Some(what), Some(_)) = (&changed, done) {
            print_line(&format!(
                "train: {what} changed since the checkpoint was trained; training again from \
                 scratch"
            ));
            None
        } else {
            done
        };
        if done.is_some_and(|d| d >= train.epochs) && !forced("train") {
            print_line(&format!(
                "train: {} has {} epochs; skipped (--force train redoes it)",
                last.display(),
                done.unwrap_or(0)
            ));
        } else {
            let resume = done.filter(|_| !forced("train")).map(|_| last.clone());
            crate::train::run(&TrainArgs {
                env: config.model.env.clone(),
                data: config.dataset.data.clone(),
                model: config.model.arch.clone(),
                epochs: train.epochs,
                batch_size: train.batch_size,
                lr: train.lr,
                optimizer: if train.sgd {
                    OptimizerKind::Sgd
                } else {
                    OptimizerKind::Adam
                },
                momentum: 0.9,
                weight_decay: 0.0,
                seed: train.seed,
                label_noise: train.label_noise,
                val_split: train.val_split,
                limit: None,
                out: Some(out.clone()),
                save_every: None,
                resume,
                device: config.device.clone(),
                probe_every: train.probe_every,
                probe_layers: train.probe_every.and(config.layers.clone()),
                probe_trees: config.probe.trees,
                probe_depth: config.probe.depth,
                probe_samples: 2000,
                quiet: args.quiet,
            })?;
            write_atomic(
                &settings_path,
                &serde_json::to_vec_pretty(&settings).unwrap_or_default(),
            )?;
        }
    }

    // 2. Extract (complete layers of the same weights and data are kept).
    let bar = progress_bar(0, "extract".into(), "samples", args.quiet);
    let manifest = extract(&extract_config, forced("extract"), &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let manifest = manifest?;
    let kept = manifest.layers.iter().filter(|l| l.skipped).count();
    print_line(&format!(
        "extract: {} layers of {} samples ({} kept as they were)",
        manifest.layers.len(),
        manifest.n,
        kept
    ));

    // 3. Alpha, unless results.json is newer than every layer file and the config.
    let results_path = out.join("results.json");
    let inputs: Vec<PathBuf> = manifest
        .layers
        .iter()
        .map(|l| l.reduced.clone().unwrap_or_else(|| l.file.clone()))
        .collect();
    let newest_input = inputs
        .iter()
        .chain(std::iter::once(&args.config))
        .filter_map(|p| modified(p))
        .max();
    let up_to_date = modified(&results_path)
        .zip(newest_input)
        .is_some_and(|(r, i)| r >= i);
    if up_to_date && !forced("alpha") {
        print_line(&format!(
            "alpha: {} is up to date; nothing to do (--force alpha redoes it)",
            results_path.display()
        ));
    } else {
        alpha_stage(&probe, &extras, &inputs, &manifest, &out, args.quiet)?;
    }

    // 4. Report, unless report.html is newer than what it shows.
    let page = out.join("report.html");
    let newest_shown = [results_path.clone(), out.join("probes.jsonl")]
        .iter()
        .filter_map(|p| modified(p))
        .max();
    let report_current = modified(&page)
        .zip(newest_shown)
        .is_some_and(|(r, i)| r >= i);
    if report_current && !forced("report") {
        print_line(&format!(
            "report: {} is up to date; nothing to do (--force report redoes it)",
            page.display()
        ));
    } else {
        let run = probe_report::RunReport::load(&out)?;
        let page = crate::report::report(std::slice::from_ref(&run), &out)?;
        print_line(&format!(
            "report: {} (open it in a browser; figures beside it)",
            page.display()
        ));
    }
    let results_failures = recorded_failures(&results_path);
    Ok(manifest.failures.is_empty() && results_failures == 0)
}

/// Scores every layer (with the extras the config asks for), flags, writes results.json and
/// prints the table.
fn alpha_stage(
    probe: &Probe,
    extras: &ExtrasParams,
    inputs: &[PathBuf],
    manifest: &probe_extract::Manifest,
    out: &Path,
    quiet: bool,
) -> anyhow::Result<()> {
    let results_path = out.join("results.json");
    let pool = thread_pool(None)?;
    let mut failures: Vec<Failure> = manifest
        .failures
        .iter()
        .map(|f| Failure {
            file: f.layer.clone(),
            error: f.error.clone(),
        })
        .collect();
    let (layers, embeddings) =
        pool.install(|| probe_files(probe, None, extras, inputs, quiet, &mut failures, |_, _| {}));
    let accuracy = probe_report::best_accuracy(&out.join("metrics.jsonl"))?;
    Results {
        tool: "probe run",
        version: env!("CARGO_PKG_VERSION"),
        settings: Settings::new(probe, None, pool.current_num_threads()),
        layers: &layers,
        accuracy,
        embeddings: &embeddings,
        failures: &failures,
    }
    .write(&results_path)?;
    let clustered = layers.iter().any(|l| l.clustering.is_some());
    print_line(&format!(
        "{:<20} {:>8} {:>8} {:>16} {:>7}  flag",
        "layer",
        "width",
        "alpha",
        "band",
        if clustered { "ARI" } else { "" }
    ));
    for l in &layers {
        let r = &l.record;
        print_line(&format!(
            "{:<20} {:>8} {:>8.4} {:>16} {:>7}  {}",
            r.layer,
            r.input_d,
            r.alpha,
            format!("[{:.3}, {:.3}]", r.band[0], r.band[1]),
            l.clustering
                .map(|c| format!("{:.3}", c.ari))
                .unwrap_or_default(),
            r.flag.as_deref().unwrap_or("")
        ));
    }
    if let Some(a) = accuracy {
        print_line(&format!(
            "model: validation accuracy {:.2}%{}",
            100.0 * a.val.unwrap_or(f64::NAN),
            a.test
                .map(|t| format!(", test {:.2}%", 100.0 * t))
                .unwrap_or_default()
        ));
    }
    print_line(&format!("results: {}", results_path.display()));
    Ok(())
}

/// How many layers failed in the last alpha stage (read back, so a skipped stage still
/// reports an earlier failure through the exit code).
fn recorded_failures(results: &Path) -> usize {
    std::fs::read(results)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("failures")?.as_array().map(Vec::len))
        .unwrap_or(0)
}

/// What a checkpoint depends on besides its number of epochs.
fn train_settings(config: &RunConfig, train: &TrainSection) -> serde_json::Value {
    serde_json::json!({
        "env": config.model.env,
        "arch": config.model.arch,
        "data": config.dataset.data,
        "batch_size": train.batch_size,
        "lr": train.lr,
        "sgd": train.sgd,
        "seed": train.seed,
        "label_noise": train.label_noise,
        "val_split": train.val_split,
    })
}

/// The first setting whose value differs, as `name (old → new)`.
fn changed_setting(old: &serde_json::Value, new: &serde_json::Value) -> Option<String> {
    let new = new.as_object()?;
    new.iter().find_map(|(name, value)| {
        let before = old.get(name).unwrap_or(&serde_json::Value::Null);
        (before != value).then(|| format!("[train] {name} ({before} → {value})"))
    })
}

/// Unknown layers are found before training: tap names do not depend on the weights or the
/// number of classes, so a throw-away model on the CPU lists them.
fn check_layers(config: &RunConfig) -> anyhow::Result<()> {
    use probe_models::Tapped;
    let Some(layers) = &config.layers else {
        return Ok(());
    };
    let env = probe_train::Env::resolve(&config.model.env)?;
    let arch = config
        .model
        .arch
        .clone()
        .unwrap_or_else(|| env.model.clone());
    let model_config = env.model_config(&arch, 10);
    let (model, _) =
        probe_models::Model::fresh(&arch, &model_config, &candle_core::Device::Cpu, Some(0))?;
    let valid = model.tap_names();
    if let Some(bad) = layers.iter().find(|l| !valid.contains(l)) {
        anyhow::bail!(
            "unknown layer `{bad}` for model `{arch}`; valid layers: {}",
            valid.join(", ")
        );
    }
    Ok(())
}

fn parse<T>(value: &str, field: &str) -> anyhow::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| anyhow::anyhow!("{field}: {e}"))
}
