//! A whole training run: label noise, epochs, metrics, checkpoints, resume and a clean stop.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use candle_core::Device;
use probe_datasets::Dataset;
use probe_models::{Model, ModelConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checkpoint::{load_checkpoint, save_checkpoint};
use crate::error::{Error, Result};
use crate::trainer::{Score, TrainParams, Trainer};

/// Everything a run needs besides its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// Environment name, recorded in checkpoints.
    pub env: String,
    /// Architecture (`mlp`, `cnn`, `resnet18`).
    pub arch: String,
    /// Architecture settings.
    pub model_config: ModelConfig,
    /// Loop settings.
    pub params: TrainParams,
    /// Share of training labels replaced by uniformly random ones (seeded), in [0, 1].
    pub label_noise: f64,
    /// Also keep `epoch-NNN.safetensors` every this many epochs.
    pub save_every: Option<usize>,
    /// Output folder: `checkpoint/` and `metrics.jsonl` go here.
    pub out_dir: PathBuf,
    /// Continue from this checkpoint (`checkpoint/last.safetensors`).
    pub resume: Option<PathBuf>,
}

impl RunSpec {
    /// A run of `arch` in environment `env` into `out_dir`: no label noise, no extra
    /// checkpoints, not resumed (set those fields for more).
    pub fn new(
        env: &str,
        arch: &str,
        model_config: ModelConfig,
        params: TrainParams,
        out_dir: &Path,
    ) -> RunSpec {
        RunSpec {
            env: env.into(),
            arch: arch.into(),
            model_config,
            params,
            label_noise: 0.0,
            save_every: None,
            out_dir: out_dir.to_path_buf(),
            resume: None,
        }
    }
}

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss over the epoch (train mode, as the steps saw it).
    pub train_loss: f64,
    /// Training accuracy over the epoch.
    pub train_accuracy: f64,
    /// Validation loss (eval mode).
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Test accuracy, when the dataset has a test split.
    pub test_accuracy: Option<f64>,
    /// Wall time of the epoch, evaluation included.
    pub seconds: f64,
    /// Training samples per second (the steps only).
    pub samples_per_second: f64,
    /// Whether this epoch has the best validation accuracy so far (and was saved as best).
    pub best: bool,
}

/// How the run ended.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Epochs completed in this invocation.
    pub reports: Vec<EpochReport>,
    /// The epoch the run started after (0 unless resumed).
    pub resumed_from: usize,
    /// Labels the noise changed.
    pub noisy_labels: usize,
    /// True when stopped early by the stop flag (the last complete checkpoint is intact).
    pub interrupted: bool,
    /// `checkpoint/best.safetensors`.
    pub best: PathBuf,
}

/// Progress events, for bars and log lines.
pub trait Observer {
    /// An epoch starts, with this many batches.
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {}
    /// `done` of `total` batches of the current epoch are done.
    fn batch(&mut self, _done: usize, _total: usize) {}
    /// An epoch ended and was checkpointed.
    fn epoch_end(&mut self, _report: &EpochReport) {}
    /// Called after [`Observer::epoch_end`] with the epoch's model (the weights just
    /// checkpointed) and the training set as trained on (label noise applied), e.g. to probe
    /// its layers; the model is read in eval mode with `forward_t(x, false)`, which leaves
    /// training unchanged. An error ends the run with [`Error::Observer`]; the epoch stays
    /// checkpointed and in `metrics.jsonl`.
    fn epoch_model(
        &mut self,
        _report: &EpochReport,
        _model: &Model,
        _train: &Dataset,
    ) -> std::result::Result<(), ObserverError> {
        Ok(())
    }
}

/// What an [`Observer`] can fail with.
pub type ObserverError = Box<dyn std::error::Error + Send + Sync>;

/// Observes nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// Trains `model` (parameters in `varmap`) on `train`, validating on `val` and testing on
/// `test` after each epoch; writes `metrics.jsonl` and checkpoints under `spec.out_dir`.
/// Setting `stop` ends the run after the current batch, leaving the last complete
/// checkpoint intact.
#[allow(clippy::too_many_arguments)]
pub fn train_run(
    spec: &RunSpec,
    model: Model,
    varmap: candle_nn::VarMap,
    train: &Dataset,
    val: &Dataset,
    test: Option<&Dataset>,
    device: &Device,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<RunSummary> {
    if !(0.0..=1.0).contains(&spec.label_noise) {
        return Err(Error::InvalidParameter {
            name: "label_noise",
            reason: format!("{} is outside [0, 1]", spec.label_noise),
        });
    }
    if spec.save_every == Some(0) {
        return Err(Error::InvalidParameter {
            name: "save_every",
            reason: "must be at least 1".into(),
        });
    }
    let (train, noisy_labels) =
        train.with_label_noise(spec.label_noise, spec.params.seed, train.n_classes)?;
    let checkpoints = spec.out_dir.join("checkpoint");
    std::fs::create_dir_all(&checkpoints).map_err(|source| Error::Io {
        path: checkpoints.clone(),
        source,
    })?;
    let mut trainer = Trainer::new(model, varmap, spec.params.clone(), device.clone())?;
    let (start, mut best_val) = match &spec.resume {
        Some(path) => {
            let arch = spec.arch.clone();
            let varmap = trainer.varmap().clone();
            let resumed = load_checkpoint(path, &arch, &varmap, trainer.optimizer_mut(), device)?;
            (resumed.epoch, resumed.best_val_accuracy)
        }
        None => (0, f64::NEG_INFINITY),
    };
    let metrics_path = spec.out_dir.join("metrics.jsonl");
    keep_epochs_up_to(&metrics_path, start)?;

    let best_path = checkpoints.join("best.safetensors");
    let mut reports = Vec::new();
    let mut interrupted = false;
    for epoch in start + 1..=spec.params.epochs {
        let started = Instant::now();
        let batches = train.len().div_ceil(spec.params.batch_size);
        observer.epoch_start(epoch, spec.params.epochs, batches);
        let Some(train_score) = trainer.train_epoch(&train, epoch, stop, &mut |done, total| {
            observer.batch(done, total)
        })?
        else {
            interrupted = true;
            break;
        };
        let train_seconds = started.elapsed().as_secs_f64();
        let val_score = trainer.evaluate(val)?;
        let test_score: Option<Score> = test.map(|t| trainer.evaluate(t)).transpose()?;
        let best = val_score.accuracy > best_val;
        if best {
            best_val = val_score.accuracy;
        }
        let report = EpochReport {
            epoch,
            train_loss: train_score.loss,
            train_accuracy: train_score.accuracy,
            val_loss: val_score.loss,
            val_accuracy: val_score.accuracy,
            test_accuracy: test_score.map(|s| s.accuracy),
            seconds: started.elapsed().as_secs_f64(),
            samples_per_second: train.len() as f64 / train_seconds.max(1e-9),
            best,
        };
        let meta = metadata(
            spec,
            &report,
            best_val,
            trainer.optimizer().steps(),
            noisy_labels,
        );
        let varmap = trainer.varmap();
        save_checkpoint(
            &checkpoints.join("last.safetensors"),
            varmap,
            Some(trainer.optimizer()),
            &meta,
        )?;
        if best {
            save_checkpoint(&best_path, varmap, None, &meta)?;
        }
        if spec.save_every.is_some_and(|k| epoch % k == 0) {
            let path = checkpoints.join(format!("epoch-{epoch:03}.safetensors"));
            save_checkpoint(&path, varmap, None, &meta)?;
        }
        append_json_line(&metrics_path, &report)?;
        observer.epoch_end(&report);
        observer
            .epoch_model(&report, trainer.model(), &train)
            .map_err(|source| Error::Observer { epoch, source })?;
        reports.push(report);
    }
    Ok(RunSummary {
        reports,
        resumed_from: start,
        noisy_labels,
        interrupted,
        best: best_path,
    })
}

fn metadata(
    spec: &RunSpec,
    report: &EpochReport,
    best_val: f64,
    steps: u64,
    noisy_labels: usize,
) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    put("env", spec.env.clone());
    put("model", spec.arch.clone());
    put("epoch", report.epoch.to_string());
    put("train_accuracy", report.train_accuracy.to_string());
    put("val_accuracy", report.val_accuracy.to_string());
    if let Some(t) = report.test_accuracy {
        put("test_accuracy", t.to_string());
    }
    put("best_val_accuracy", best_val.to_string());
    put("label_noise", spec.label_noise.to_string());
    put("noisy_labels", noisy_labels.to_string());
    put("seed", spec.params.seed.to_string());
    put("init", spec.params.init.to_string());
    put("batch_size", spec.params.batch_size.to_string());
    put("steps", steps.to_string());
    if let Ok(o) = serde_json::to_string(&spec.params.optimizer) {
        put("optimizer", o);
    }
    if let Ok(c) = serde_json::to_string(&spec.model_config) {
        put("model_config", c);
    }
    put(
        "producer",
        format!("probe-train {}", env!("CARGO_PKG_VERSION")),
    );
    m
}

/// Keeps the lines of a JSON-lines log (`metrics.jsonl`, `probes.jsonl`) whose `epoch` is at
/// most `epoch`: a run resumed from an earlier checkpoint rewrites the later ones. A missing
/// file is left missing.
pub fn keep_epochs_up_to(path: &Path, epoch: usize) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .and_then(|v| v.get("epoch")?.as_u64())
                .is_some_and(|e| e <= epoch as u64)
        })
        .collect();
    let mut body = kept.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    // Atomic: an interrupted rewrite must not lose the lines that are kept.
    Ok(probe_data::write_atomic(path, body.as_bytes())?)
}

/// Appends `value` as one JSON line to a log and syncs it, so that an interrupted run leaves
/// only complete lines.
pub fn append_json_line<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    let mut line = serde_json::to_string(value).unwrap_or_default();
    line.push('\n');
    file.write_all(line.as_bytes()).map_err(io)?;
    file.sync_data().map_err(io)
}
