//! `probe run`: train (when asked and not done) → extract → (reduce) → alpha → report, each
//! stage writing under the run's folder and skipped when its outputs are up to date.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use probe_extract::{extract, ExtractConfig, Manifest};
use probe_report::RunReport;

use crate::config::{RunConfig, TrainSection};
use crate::error::{Error, Result};
use crate::observer::{Cancel, Observer};
use crate::results::{best_accuracy, load_run, Failure, Results};
use crate::score::{score_files, Scoring};
use crate::train::{checkpoint_epoch, TrainJob, TrainProbe, TrainSettings};
use crate::units::{Stage, Target};

/// The stages of a run, in order.
pub const STAGES: [&str; 4] = ["train", "extract", "alpha", "report"];

/// Stages to redo even when their outputs are up to date.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Force {
    /// Train from scratch.
    pub train: bool,
    /// Rewrite every layer file.
    pub extract: bool,
    /// Score again.
    pub alpha: bool,
    /// Draw the report again.
    pub report: bool,
}

impl Force {
    /// Every stage.
    pub fn all() -> Force {
        Force {
            train: true,
            extract: true,
            alpha: true,
            report: true,
        }
    }

    /// Whether a sharded stage is to be redone.
    pub fn of(&self, stage: Stage) -> bool {
        match stage {
            Stage::Train => self.train,
            Stage::Extract => self.extract,
            Stage::Alpha => self.alpha,
        }
    }

    /// Adds a stage by name (`train`, `extract`, `alpha`, `report` or `all`).
    pub fn add(&mut self, stage: &str) -> Result<()> {
        match stage {
            "train" => self.train = true,
            "extract" => self.extract = true,
            "alpha" => self.alpha = true,
            "report" => self.report = true,
            "all" => *self = Force::all(),
            other => {
                return Err(Error::Stage {
                    stage: "run",
                    reason: format!(
                        "`{other}` is not a stage; the stages are train, extract, alpha, \
                         report (or all)"
                    ),
                })
            }
        }
        Ok(())
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunOutcome {
    /// The run's folder.
    pub dir: PathBuf,
    /// The results the alpha stage wrote (`None` when it was up to date and skipped).
    pub results: Option<Results>,
    /// `report.html`, when drawn in this run.
    pub report: Option<PathBuf>,
    /// Layers that failed in extraction or scoring, as last recorded (a skipped stage still
    /// counts the failures it recorded before).
    pub failures: usize,
}

/// A checked run config, ready to run stage by stage.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub(crate) config: RunConfig,
    pub(crate) scoring: Scoring,
    pub(crate) extract: ExtractConfig,
    pub(crate) dir: PathBuf,
    /// What is probed: the run's weights, or each checkpoint of a sweep.
    pub(crate) targets: Vec<Target>,
}

impl Pipeline {
    /// Checks everything that can be checked before the first stage: the probe's settings,
    /// the extras, the extraction settings and the layer names.
    pub fn new(config: RunConfig) -> Result<Pipeline> {
        let probe = config
            .probe
            .probe()
            .map_err(|e| config.invalid("probe", e.to_string()))?;
        let extras = config
            .probe
            .extras()
            .map_err(|e| config.invalid("probe", e.to_string()))?;
        let dir = config.run_dir();
        let weights = match (&config.model.weights, &config.model.onnx) {
            (Some(w), _) | (None, Some(w)) => w.clone(),
            (None, None) => dir
                .join("checkpoint/best.safetensors")
                .display()
                .to_string(),
        };
        let extract = ExtractConfig {
            model: probe_extract::ModelSection {
                env: config.model.env.clone(),
                arch: config.model.arch.map(|a| a.to_string()),
                weights,
                seed: config.model.seed,
                onnx: None,
                input_name: config.model.input_name.clone(),
                layout: config.model.layout.clone(),
                mean: config.model.mean.clone(),
                std: config.model.std.clone(),
            },
            dataset: probe_extract::DatasetSection {
                data: config.dataset.data.clone(),
                split: config.dataset.split.to_string(),
                limit: config.dataset.limit,
                seed: config.dataset.seed,
            },
            layers: config.layers.clone(),
            batch_size: config.batch_size,
            device: config.device.to_string(),
            out: dir.clone(),
            reduce: config
                .reduce
                .as_ref()
                .map(|r| probe_extract::ReduceSection {
                    method: r.method.to_string(),
                    dim: r.dim,
                }),
        };
        extract.check(&config.source)?;
        let layers = if extract.model.is_onnx() {
            probe_extract::check_onnx_layers(&extract)
                .map_err(|e| config.invalid("layers", e.to_string()))?
        } else {
            check_layers(&config)?
        };
        let targets = match crate::sweep::checkpoints(&config)? {
            Some(sweep) => sweep
                .into_iter()
                .map(|c| Target {
                    dir: dir.join(format!("ckpt-{}", c.name)),
                    checkpoint: Some(c.name),
                    weights: c.path.display().to_string(),
                    layers: layers.clone(),
                })
                .collect(),
            None => vec![Target {
                checkpoint: None,
                dir: dir.clone(),
                weights: extract.model.weights.clone(),
                layers,
            }],
        };
        Ok(Pipeline {
            scoring: Scoring {
                probe,
                reduce: None,
                extras,
            },
            config,
            extract,
            dir,
            targets,
        })
    }

    /// The run's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The checked config.
    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// Runs every stage in order, under an exclusive lock on the run's folder (a second
    /// run of the same folder fails at once, saying who holds it). Temporary files that an
    /// interrupted run left behind are removed first.
    pub fn run(
        &self,
        force: Force,
        observer: &dyn Observer,
        cancel: &Cancel,
    ) -> Result<RunOutcome> {
        let _lock = self.lock_dir("")?;
        for sub in ["", "features", "features-reduced", "checkpoint"] {
            let folder = self.dir.join(sub);
            if folder.is_dir() {
                for stale in probe_data::remove_stale_temporaries(&folder)? {
                    observer.message(&format!(
                        "removed {}, left by an interrupted run",
                        stale.display()
                    ));
                }
            }
        }
        if self.config.model.checkpoints.is_some() {
            return self.run_sweep(force, observer, cancel);
        }
        match (self.training(), &self.config.model.weights) {
            (Some(train), _) => self.train(train, force.train, observer, cancel)?,
            (None, Some(weights)) if self.config.train.is_some() => observer.message(&format!(
                "train: skipped: the run probes model.weights = \"{weights}\", not the \
                 checkpoint [train] writes (set train.probe_every to probe during training)"
            )),
            (None, _) => {}
        }
        cancel.check()?;
        let manifest = self.extract(force.extract, observer)?;
        cancel.check()?;
        let results = self.alpha(&manifest, force.alpha, observer, cancel)?;
        let report = self.report(force.report, observer)?;
        // A skipped alpha stage still reports the failures it recorded before.
        let recorded = match &results {
            Some(r) => r.failures.len(),
            None => Results::load(&self.dir.join("results.json"))
                .map(|r| r.failures.len())
                .unwrap_or(0),
        };
        Ok(RunOutcome {
            dir: self.dir.clone(),
            results,
            report,
            failures: manifest.failures.len().max(recorded),
        })
    }

    /// The config's `[train]`, when training serves the run: its checkpoint is probed (the
    /// default weights, or a sweep's checkpoints), or it probes between epochs. A run that
    /// probes other weights and asks for no probes during training would train for nothing.
    pub fn training(&self) -> Option<&TrainSection> {
        let train = self.config.train.as_ref()?;
        let probes_other_weights = self.config.model.weights.is_some();
        (!probes_other_weights || train.probe_every.is_some()).then_some(train)
    }

    /// Creates the run's folder and locks it for this process, recorded as `probe run CONFIG`
    /// followed by `what`.
    pub(crate) fn lock_dir(&self, what: &str) -> Result<probe_data::RunLock> {
        std::fs::create_dir_all(&self.dir).map_err(|source| Error::Io {
            path: self.dir.clone(),
            source,
        })?;
        let holder = format!("probe run {}{what}", self.config.source.display());
        Ok(probe_data::RunLock::acquire(&self.dir, &holder)?)
    }

    /// The training job of the config's `[train]`.
    fn train_job(&self, train: &TrainSection) -> TrainJob {
        TrainJob {
            env: self.config.model.env.clone(),
            data: self.config.dataset.data.clone(),
            arch: self.config.model.arch.map(|a| a.to_string()),
            params: train.params(),
            label_noise: train.label_noise,
            val_split: train.val_split,
            limit: None,
            out: self.dir.clone(),
            save_every: train.save_every,
            resume: None,
            overwrite: true,
            device: self.config.device,
            probe: train.probe_every.map(|every| TrainProbe {
                probe: self.scoring.probe.clone(),
                layers: self.config.layers.clone(),
                every,
                samples: train.probe_samples,
            }),
        }
    }

    /// Trains when the checkpoint is missing, shorter than asked, or trained under other
    /// settings (then from scratch); resumes a shorter one trained under these settings.
    pub fn train(
        &self,
        train: &TrainSection,
        force: bool,
        observer: &dyn Observer,
        cancel: &Cancel,
    ) -> Result<()> {
        let mut job = self.train_job(train);
        let done = checkpoint_epoch(&self.dir);
        let reusable = match (done, TrainSettings::read(&self.dir)) {
            (None, _) => None,
            (Some(_), None) => {
                observer.message(&format!(
                    "train: the checkpoint in {} has no record of its settings; training \
                     again from scratch",
                    self.dir.display()
                ));
                None
            }
            (Some(epoch), Some(old)) => match job.settings()?.changed_from(&old) {
                Some(what) => {
                    observer.message(&format!(
                        "train: [train] {what} changed since the checkpoint was trained; \
                         training again from scratch"
                    ));
                    None
                }
                None => Some(epoch),
            },
        };
        if let (Some(epoch), false) = (reusable, force) {
            if epoch >= train.epochs {
                observer.message(&format!(
                    "train: {} has {epoch} epochs; skipped",
                    self.dir.join("checkpoint/last.safetensors").display()
                ));
                return Ok(());
            }
            job.resume = Some(self.dir.join("checkpoint/last.safetensors"));
        }
        job.run(observer, cancel)?;
        Ok(())
    }

    /// Extracts every layer (complete files of the same weights and samples are kept) and
    /// reduces them when the config asks.
    pub fn extract(&self, force: bool, observer: &dyn Observer) -> Result<Manifest> {
        self.extract_with(&self.extract, force, observer)
    }

    /// Extracts as `extract` asks (the run's settings, another target's weights and folder).
    pub(crate) fn extract_with(
        &self,
        extract_config: &ExtractConfig,
        force: bool,
        observer: &dyn Observer,
    ) -> Result<Manifest> {
        observer.start("extract", "samples", 0);
        let manifest = extract(extract_config, force, &mut |done, total| {
            observer.progress(done as u64, total as u64)
        });
        observer.finish();
        let manifest = manifest?;
        let kept = manifest.layers.iter().filter(|l| l.skipped).count();
        observer.message(&format!(
            "extract: {} layers of {} samples ({kept} kept as they were)",
            manifest.layers.len(),
            manifest.n,
        ));
        if let Some(r) = &self.config.reduce {
            for l in &manifest.layers {
                if let Some(k) = l.reduced_to.filter(|&k| k < r.dim && k < l.width) {
                    observer.message(&format!(
                        "reduce: {} has {} samples, so it was reduced to K = {k} instead of {}",
                        l.layer, manifest.n, r.dim
                    ));
                }
            }
        }
        for f in &manifest.failures {
            observer.warning(&format!("extract: layer {}: {}", f.layer, f.error));
        }
        Ok(manifest)
    }

    /// Scores every layer unless `results.json` is newer than every layer file and the
    /// config. Returns the results written, or `None` when up to date. When no layer could be
    /// scored, an earlier `results.json` is kept and the stage fails.
    pub fn alpha(
        &self,
        manifest: &Manifest,
        force: bool,
        observer: &dyn Observer,
        cancel: &Cancel,
    ) -> Result<Option<Results>> {
        let path = self.dir.join("results.json");
        let inputs: Vec<PathBuf> = manifest
            .layers
            .iter()
            .map(|l| l.reduced.clone().unwrap_or_else(|| l.file.clone()))
            .collect();
        let newest_input = inputs
            .iter()
            .chain(std::iter::once(&self.config.source))
            .filter_map(|p| modified(p))
            .max();
        let up_to_date = modified(&path)
            .zip(newest_input)
            .is_some_and(|(r, i)| r >= i)
            && manifest.failures.is_empty();
        if up_to_date && !force {
            observer.message(&format!(
                "alpha: {} is up to date; nothing to do",
                path.display()
            ));
            return Ok(None);
        }
        let pool = alpha_pool()?;
        let scored = pool.install(|| score_files(&self.scoring, &inputs, observer, cancel))?;
        if scored.layers.is_empty() && path.exists() {
            return Err(Error::Stage {
                stage: "alpha",
                reason: format!(
                    "no layer could be scored; {} was left as it was",
                    path.display()
                ),
            });
        }
        let mut results = scored.into_results(
            "probe run",
            self.scoring.settings(pool.current_num_threads()),
        );
        let extraction_failures = manifest.failures.iter().map(|f| Failure {
            file: f.layer.clone(),
            error: f.error.clone(),
        });
        results.failures.splice(0..0, extraction_failures);
        // Training's accuracy belongs to its checkpoint: a run that probes other weights
        // (`random`, a file) has no known accuracy.
        if self.probes_own_checkpoint() {
            results.accuracy = best_accuracy(&self.dir.join("metrics.jsonl"))?;
        }
        results.save(&path)?;
        observer.results(&path, &results);
        Ok(Some(results))
    }

    /// Whether the probed weights are the checkpoint this run's training writes.
    fn probes_own_checkpoint(&self) -> bool {
        Path::new(&self.extract.model.weights) == self.dir.join("checkpoint/best.safetensors")
    }

    /// Draws the report unless `report.html` is newer than what it shows.
    pub fn report(&self, force: bool, observer: &dyn Observer) -> Result<Option<PathBuf>> {
        let page = self.dir.join("report.html");
        let newest_shown = [self.dir.join("results.json"), self.dir.join("probes.jsonl")]
            .iter()
            .filter_map(|p| modified(p))
            .max();
        let current = modified(&page)
            .zip(newest_shown)
            .is_some_and(|(r, i)| r >= i);
        if current && !force {
            observer.message(&format!(
                "report: {} is up to date; nothing to do",
                page.display()
            ));
            return Ok(None);
        }
        let run = load_run(&self.dir)?;
        let page = write_report(&[run], &self.dir)?;
        observer.message(&format!(
            "report: {} (open it in a browser; figures beside it)",
            page.display()
        ));
        Ok(Some(page))
    }
}

/// Writes the figures and `report.html` of `runs` into `out`; returns the page.
pub fn write_report(runs: &[RunReport], out: &Path) -> Result<PathBuf> {
    let refs: Vec<&RunReport> = runs.iter().collect();
    let (page, _) = probe_report::write_report_folder(&refs, out)?;
    Ok(page)
}

/// The alpha stage's workers (all cores, or `RAYON_NUM_THREADS`; results do not depend on
/// how many).
pub(crate) fn alpha_pool() -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .build()
        .map_err(|e| Error::Stage {
            stage: "alpha",
            reason: format!("cannot start the worker threads: {e}"),
        })
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Unknown layers are found before training: tap names do not depend on the weights or the
/// number of classes, so a throw-away model on the CPU lists them.
/// Returns the layers probed: the config's, or the environment's.
fn check_layers(config: &RunConfig) -> Result<Vec<String>> {
    let env = probe_datasets::Env::resolve(&config.model.env)?;
    let Some(layers) = &config.layers else {
        return Ok(env.probe_layers.clone());
    };
    let arch = config
        .model
        .arch
        .map(|a| a.to_string())
        .unwrap_or_else(|| env.model.clone());
    let model_config = probe_models::ModelConfig::for_env(&env, &arch, 10)?;
    let (model, _) =
        probe_models::Model::fresh(&arch, &model_config, &candle_core::Device::Cpu, Some(0))?;
    probe_extract::check_layers(&model, layers)
        .map_err(|e| config.invalid("layers", e.to_string()))?;
    Ok(layers.clone())
}
