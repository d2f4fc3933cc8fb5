//! Training a network of an environment, with its settings kept beside the checkpoints and
//! checked on every resume, and optional probes of chosen layers between epochs
//! (`probes.jsonl`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use probe_alpha::Probe;
use probe_datasets::{Dataset, Env};
use probe_models::Model;
use probe_train::{
    append_json_line, keep_epochs_up_to, train_run, EpochReport, ObserverError, OptimizerConfig,
    RunSpec, TrainParams,
};
use serde::{Deserialize, Serialize};

use crate::config::Device;
use crate::error::{Error, Result};
use crate::observer::{Cancel, Observer};
use crate::prober::EpochProber;

/// What a checkpoint depends on besides its number of epochs, kept in
/// `OUT/train-settings.json` from the start of training: a resume under other settings
/// would mix two trainings in one checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// Environment.
    pub env: String,
    /// Architecture.
    pub arch: String,
    /// Dataset folder, when not the environment's.
    pub data: Option<PathBuf>,
    /// Samples per step.
    pub batch_size: usize,
    /// Learning rate.
    pub lr: f64,
    /// SGD (else Adam).
    pub sgd: bool,
    /// SGD momentum.
    pub momentum: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Seed of weights, split, noise and shuffling.
    pub seed: u64,
    /// How the weights were drawn.
    pub init: probe_models::Init,
    /// Share of noisy labels.
    pub label_noise: f64,
    /// Validation share.
    pub val_split: f64,
    /// Training samples used, when limited.
    pub limit: Option<usize>,
}

impl TrainSettings {
    /// The first setting that differs from those recorded, as `name (old → new)`. A setting
    /// the record does not have (written by an earlier version) is not compared.
    pub fn changed_from(&self, recorded: &serde_json::Value) -> Option<String> {
        let new = serde_json::to_value(self).ok()?;
        new.as_object()?.iter().find_map(|(name, value)| {
            let before = recorded.get(name)?;
            (before != value).then(|| format!("{name} ({before} → {value})"))
        })
    }

    /// The settings recorded in a run folder, if any (unreadable counts as none).
    pub fn read(out: &Path) -> Option<serde_json::Value> {
        let bytes = std::fs::read(out.join(SETTINGS_FILE)).ok()?;
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .filter(|v| v.is_object())
    }

    fn write(&self, out: &Path) -> Result<()> {
        let json = serde_json::to_vec_pretty(self).unwrap_or_default();
        Ok(probe_data::write_atomic(out.join(SETTINGS_FILE), &json)?)
    }
}

/// The file beside the checkpoints that records how they were trained.
pub const SETTINGS_FILE: &str = "train-settings.json";

/// The settings of a training whose ranges are checked before any work.
pub(crate) struct Ranges<'a> {
    pub params: &'a TrainParams,
    pub label_noise: f64,
    pub val_split: f64,
    pub limit: Option<usize>,
    pub save_every: Option<usize>,
    /// Probes between epochs: every, samples.
    pub probe: Option<(usize, usize)>,
}

/// One check of training settings for run configs and probe-train alike: the first setting
/// out of range as [`Error::Invalid`] with its name (`val_split`, `lr`, …).
pub(crate) fn check_ranges(r: &Ranges<'_>) -> Result<()> {
    let invalid = |name: &'static str, reason: String| Err(Error::Invalid { name, reason });
    if r.params.epochs == 0 {
        return invalid("epochs", "0: must be at least 1".into());
    }
    if let Err(probe_train::Error::InvalidParameter { name, reason }) = r.params.check() {
        return invalid(name, reason);
    }
    if !(0.0..=1.0).contains(&r.label_noise) {
        return invalid(
            "label_noise",
            format!(
                "{}: must be in [0, 1] (the share of training labels to randomise)",
                r.label_noise
            ),
        );
    }
    if !(r.val_split > 0.0 && r.val_split < 1.0) {
        return invalid(
            "val_split",
            format!(
                "{}: must be in (0, 1); the validation share picks the best checkpoint",
                r.val_split
            ),
        );
    }
    if let Some(limit) = r.limit.filter(|&l| l < 2) {
        return invalid(
            "limit",
            format!("{limit}: training needs at least 2 samples"),
        );
    }
    if r.save_every == Some(0) {
        return invalid("save_every", "0: must be at least 1".into());
    }
    match r.probe {
        Some((0, _)) => invalid("probe_every", "0: must be at least 1".into()),
        Some((_, samples)) if samples < 2 => invalid(
            "probe_samples",
            format!("{samples}: the probe needs at least 2 samples"),
        ),
        _ => Ok(()),
    }
}

/// Probing during training: which layers, how often, on how many samples.
#[derive(Debug, Clone)]
pub struct TrainProbe {
    /// The forest and estimator.
    pub probe: Probe,
    /// Layers to probe (default: the environment's).
    pub layers: Option<Vec<String>>,
    /// Every this many epochs, and after the last.
    pub every: usize,
    /// Training samples probed (a seeded subset, the same every time).
    pub samples: usize,
}

/// A training run, as `probe-train` and `probe run` ask for it.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// Environment name or file.
    pub env: String,
    /// Dataset folder (default: the environment's, or a download).
    pub data: Option<PathBuf>,
    /// Architecture (default: the environment's).
    pub arch: Option<String>,
    /// Epochs, batch, optimiser, seed.
    pub params: TrainParams,
    /// Share of noisy labels.
    pub label_noise: f64,
    /// Validation share, in (0, 1).
    pub val_split: f64,
    /// At most this many training samples (seeded).
    pub limit: Option<usize>,
    /// Output folder.
    pub out: PathBuf,
    /// Keep `epoch-NNN` checkpoints every this many epochs.
    pub save_every: Option<usize>,
    /// Continue from this checkpoint (normally `out/checkpoint/last.safetensors`); the
    /// settings recorded in `out` must be these.
    pub resume: Option<PathBuf>,
    /// Start over even when `out` holds a checkpoint.
    pub overwrite: bool,
    /// Where the model trains.
    pub device: Device,
    /// Probing between epochs.
    pub probe: Option<TrainProbe>,
}

/// What training did.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The epochs of this invocation.
    pub reports: Vec<EpochReport>,
    /// The epoch it resumed after (0 for a fresh start).
    pub resumed_from: usize,
    /// `checkpoint/best.safetensors`.
    pub best: PathBuf,
}

/// The epoch a run folder's `checkpoint/last.safetensors` reached, if it has one.
pub fn checkpoint_epoch(out: &Path) -> Option<usize> {
    epoch_of(&out.join("checkpoint/last.safetensors"))
}

/// The epoch recorded in a checkpoint's metadata; `None` when it is not a checkpoint.
fn epoch_of(checkpoint: &Path) -> Option<usize> {
    probe_models::read_safetensors_metadata(checkpoint)
        .ok()
        .and_then(|m| m.get("epoch")?.parse().ok())
}

impl TrainJob {
    /// The architecture this job trains.
    fn resolved(&self) -> Result<(Env, String)> {
        let env = Env::resolve(&self.env)?;
        let arch = self.arch.clone().unwrap_or_else(|| env.model.clone());
        arch.parse::<probe_models::Arch>()?;
        Ok((env, arch))
    }

    /// The settings this job records beside its checkpoints.
    pub fn settings(&self) -> Result<TrainSettings> {
        let (env, arch) = self.resolved()?;
        Ok(self.settings_for(&env, &arch))
    }

    fn settings_for(&self, env: &Env, arch: &str) -> TrainSettings {
        TrainSettings {
            env: env.name.clone(),
            arch: arch.to_string(),
            data: self.data.clone(),
            batch_size: self.params.batch_size,
            lr: self.params.optimizer.lr(),
            sgd: matches!(self.params.optimizer, OptimizerConfig::Sgd { .. }),
            momentum: match self.params.optimizer {
                OptimizerConfig::Sgd { momentum, .. } => momentum,
                OptimizerConfig::Adam { .. } => 0.0,
            },
            weight_decay: match self.params.optimizer {
                OptimizerConfig::Sgd { weight_decay, .. }
                | OptimizerConfig::Adam { weight_decay, .. } => weight_decay,
            },
            seed: self.params.seed,
            init: self.params.init,
            label_noise: self.label_noise,
            val_split: self.val_split,
            limit: self.limit,
        }
    }

    /// Checks every setting before any data is read.
    pub fn check(&self) -> Result<()> {
        self.check_ranges()?;
        self.resolved()?;
        Ok(())
    }

    fn check_ranges(&self) -> Result<()> {
        check_ranges(&Ranges {
            params: &self.params,
            label_noise: self.label_noise,
            val_split: self.val_split,
            limit: self.limit,
            save_every: self.save_every,
            probe: self.probe.as_ref().map(|p| (p.every, p.samples)),
        })
    }

    /// Trains: from scratch, or from the checkpoint in `out` when `resume` (whose recorded
    /// settings must equal this job's). A folder that already holds a checkpoint is not
    /// started over unless `overwrite`. A stop request ends training after the current batch
    /// with [`Error::Cancelled`]; the last complete epoch stays checkpointed.
    pub fn run(&self, observer: &dyn Observer, cancel: &Cancel) -> Result<Trained> {
        self.check_ranges()?;
        let (env, arch) = self.resolved()?;
        let settings = self.settings_for(&env, &arch);
        let last = self.out.join("checkpoint/last.safetensors");
        let done = checkpoint_epoch(&self.out);
        if let Some(from) = &self.resume {
            let Some(epoch) = epoch_of(from) else {
                return Err(Error::Stage {
                    stage: "train",
                    reason: format!("cannot resume: {} is not a checkpoint", from.display()),
                });
            };
            match TrainSettings::read(&self.out) {
                Some(old) => {
                    if let Some(what) = settings.changed_from(&old) {
                        return Err(Error::Stage {
                            stage: "train",
                            reason: format!(
                                "cannot resume the checkpoint of epoch {epoch} in {}: {what} \
                                 changed since it was trained",
                                self.out.display()
                            ),
                        });
                    }
                }
                None => settings.write(&self.out)?,
            }
        } else if let (Some(epoch), false) = (done, self.overwrite) {
            return Err(Error::ExistingCheckpoint { path: last, epoch });
        }
        let device = probe_models::device(&self.device.to_string())?;
        let data = env.load(self.data.as_deref(), self.val_split, self.params.seed)?;
        let train = match self.limit {
            Some(limit) => data.train.subset(limit, self.params.seed)?,
            None => data.train,
        };
        if train.is_empty() || data.val.is_empty() {
            return Err(Error::Stage {
                stage: "train",
                reason: format!(
                    "{} training and {} validation samples: both need at least one (check \
                     the limit and the validation share)",
                    train.len(),
                    data.val.len()
                ),
            });
        }
        let model_config = probe_models::ModelConfig::for_env(&env, &arch, train.n_classes)?;
        let (model, varmap) = Model::seeded(
            &arch,
            &model_config,
            &device,
            self.params.seed,
            self.params.init,
        )?;
        let probing = match &self.probe {
            Some(p) => {
                let layers = p.layers.clone().unwrap_or_else(|| env.probe_layers.clone());
                let prober = EpochProber::new(
                    p.probe.clone(),
                    &model,
                    layers,
                    &train,
                    p.samples,
                    device.clone(),
                )?;
                Some(Probing {
                    prober,
                    every: p.every,
                    epochs: self.params.epochs,
                    log: self.out.join("probes.jsonl"),
                    trimmed: false,
                })
            }
            None => None,
        };
        let checkpoints = self.out.join("checkpoint");
        std::fs::create_dir_all(&checkpoints).map_err(|source| Error::Io {
            path: checkpoints.clone(),
            source,
        })?;
        // One training per folder at a time; what a killed one left behind goes first.
        let _lock = probe_data::RunLock::acquire(&checkpoints, "training")?;
        probe_data::remove_stale_temporaries(&checkpoints)?;
        if self.resume.is_none() {
            // Recorded before the first checkpoint exists, so that no checkpoint is ever
            // without its settings.
            settings.write(&self.out)?;
        }
        let spec = RunSpec {
            env: env.name.clone(),
            arch: arch.clone(),
            model_config,
            params: self.params.clone(),
            label_noise: self.label_noise,
            save_every: self.save_every,
            out_dir: self.out.clone(),
            resume: self.resume.clone(),
        };
        observer.message(&format!(
            "{} / {arch}: {} train, {} validation{} samples; writing {}",
            env.name,
            train.len(),
            data.val.len(),
            data.test
                .as_ref()
                .map(|t| format!(", {} test", t.len()))
                .unwrap_or_default(),
            self.out.display()
        ));
        let mut relay = Relay { observer, probing };
        let summary = train_run(
            &spec,
            model,
            varmap,
            &train,
            &data.val,
            data.test.as_ref(),
            &device,
            &mut relay,
            cancel.flag(),
        )?;
        if summary.interrupted {
            observer.message(&format!(
                "stopped; the last complete epoch is in {}",
                last.display()
            ));
            return Err(Error::Cancelled);
        }
        Ok(Trained {
            reports: summary.reports,
            resumed_from: summary.resumed_from,
            best: summary.best,
        })
    }
}

/// Passes training's events to the pipeline's observer and probes between epochs.
struct Relay<'a> {
    observer: &'a dyn Observer,
    probing: Option<Probing>,
}

impl probe_train::Observer for Relay<'_> {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.observer.start(
            &format!("epoch {epoch}/{epochs}"),
            "batches",
            batches as u64,
        );
    }

    fn batch(&mut self, done: usize, total: usize) {
        self.observer.progress(done as u64, total as u64);
    }

    fn epoch_end(&mut self, report: &EpochReport) {
        self.observer.finish();
        self.observer.epoch(report);
    }

    fn epoch_model(
        &mut self,
        report: &EpochReport,
        model: &Model,
        train: &Dataset,
    ) -> std::result::Result<(), ObserverError> {
        match self.probing.as_mut() {
            Some(probing) => probing
                .after_epoch(report, model, train, self.observer)
                .map_err(|e| e.to_string().into()),
            None => Ok(()),
        }
    }
}

/// Probing between epochs: the prober and its log.
struct Probing {
    prober: EpochProber,
    every: usize,
    epochs: usize,
    /// `OUT/probes.jsonl`.
    log: PathBuf,
    /// Whether lines of epochs this invocation redoes have been dropped from the log.
    trimmed: bool,
}

impl Probing {
    /// Probes after epochs `every`, `2·every`, … and the last, appending to the log.
    fn after_epoch(
        &mut self,
        report: &EpochReport,
        model: &Model,
        train: &Dataset,
        observer: &dyn Observer,
    ) -> Result<()> {
        let epoch = report.epoch;
        if !self.trimmed {
            keep_epochs_up_to(&self.log, epoch - 1)?;
            self.trimmed = true;
        }
        if epoch % self.every != 0 && epoch != self.epochs {
            return Ok(());
        }
        let started = Instant::now();
        let trees = self.prober.layers().len() * self.prober.probe().forest().n_trees();
        observer.start(&format!("probe epoch {epoch}"), "trees", trees as u64);
        let probed = self
            .prober
            .run(model, train, epoch, Some(report.val_accuracy), &|| {
                observer.step()
            });
        observer.finish();
        let probed = probed?;
        append_json_line(&self.log, &probed)?;
        let alphas: Vec<String> = probed
            .layers
            .iter()
            .map(|l| format!("{} {:.2}", l.record.layer, l.record.alpha))
            .collect();
        observer.message(&format!(
            "probe epoch {epoch}: {}  ({:.1}s)",
            alphas.join("  "),
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }
}
