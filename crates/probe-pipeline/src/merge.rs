//! `probe merge RUN_DIR`: the alpha units' partial records joined, in layer order, into each
//! checkpoint's `results.json` and the run's (a sweep's with every checkpoint), then the report.

use std::path::{Path, PathBuf};

use probe_alpha::flag_layers;
use probe_report::{LayerEmbedding, LayerResult};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::observer::Observer;
use crate::results::{load_run, CheckpointResults, Failure, Results, Settings};
use crate::run::write_report;
use crate::sweep::{own_accuracy, Checkpoint};
use crate::units::{Plan, Target};

/// What one alpha unit wrote: its layer's record, or why it failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Part {
    /// The unit's id.
    pub unit: String,
    /// The feature file it scored.
    pub input: PathBuf,
    /// The settings it was scored with.
    pub settings: Settings,
    /// The record (with clustering scores when asked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<LayerResult>,
    /// The layer's embedding, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<LayerEmbedding>,
    /// Why the layer could not be scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

impl Part {
    /// Writes the record through a temporary file and a rename.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        crate::results::save_json(path, self)
    }

    /// Reads a unit's record.
    pub(crate) fn load(path: &Path) -> Result<Part> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| Error::BadResults {
            path: path.to_path_buf(),
            reason: format!("not a partial record written by an alpha unit: {e}"),
        })
    }

    /// Whether the record at `path` scored `input` as it is now (not older than it) with
    /// `settings` (the thread count aside: results do not depend on it), without failing.
    pub(crate) fn is_complete(path: &Path, input: &Path, settings: &Settings) -> bool {
        let Ok(part) = Part::load(path) else {
            return false;
        };
        let newer = modified(path)
            .zip(modified(input))
            .is_some_and(|(p, i)| p >= i);
        newer
            && part.failure.is_none()
            && part.result.is_some()
            && part.input == input
            && same_settings(&part.settings, settings)
    }
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn same_settings(a: &Settings, b: &Settings) -> bool {
    Settings {
        threads: 0,
        ..a.clone()
    } == Settings {
        threads: 0,
        ..b.clone()
    }
}

/// What a merge wrote.
#[derive(Debug, Clone)]
pub struct Merged {
    /// The run's `results.json` as written.
    pub results: Results,
    /// `report.html`.
    pub report: PathBuf,
    /// Layers that failed in extraction or scoring, over every checkpoint.
    pub failures: usize,
}

/// Joins the partial records of the run in `run_dir` (the units its `plan.json` lists) under
/// the run folder's lock. Fails, writing nothing, when an alpha unit has not run.
pub fn merge(run_dir: &Path, observer: &dyn Observer) -> Result<Merged> {
    let plan = Plan::load(run_dir)?;
    let _lock = probe_data::RunLock::acquire(run_dir, "probe merge")?;
    merge_plan(&plan, observer)
}

/// The merge itself; the caller holds the run folder's lock.
pub(crate) fn merge_plan(plan: &Plan, observer: &dyn Observer) -> Result<Merged> {
    let missing: Vec<&str> = plan
        .units_of(crate::units::Stage::Alpha)
        .filter(|u| !plan.targets[u.target].part(u.layer_index).is_file())
        .map(|u| u.id.as_str())
        .collect();
    let total = plan.units_of(crate::units::Stage::Alpha).count();
    if let Some(first) = missing.first() {
        return Err(Error::Stage {
            stage: "merge",
            reason: format!(
                "{} of {total} alpha units have no record yet (the first: {first}); run the \
                 alpha stage, every shard, first",
                missing.len()
            ),
        });
    }
    let mut scored = Vec::new();
    for target in &plan.targets {
        scored.push(merge_target(plan, target)?);
    }
    let failures = scored.iter().map(|r| r.failures.len()).sum();
    let path = plan.run.join("results.json");
    if scored.iter().all(|r| r.layers.is_empty()) && path.exists() {
        return Err(Error::Stage {
            stage: "merge",
            reason: format!(
                "no layer could be scored; {} was left as it was",
                path.display()
            ),
        });
    }
    let results = if plan.sweep {
        for (target, results) in plan.targets.iter().zip(&scored) {
            results.save(&target.dir.join("results.json"))?;
        }
        sweep_results(plan, &scored)?
    } else {
        scored.into_iter().next().ok_or_else(|| Error::Stage {
            stage: "merge",
            reason: "the plan has nothing to merge".into(),
        })?
    };
    results.save(&path)?;
    observer.results(&path, &results);
    let report = write_report(&[load_run(&plan.run)?], &plan.run)?;
    observer.message(&format!(
        "report: {} (open it in a browser; figures beside it)",
        report.display()
    ));
    Ok(Merged {
        results,
        report,
        failures,
    })
}

/// One target's results: its extraction's failures, then its layers in order, flagged.
fn merge_target(plan: &Plan, target: &Target) -> Result<Results> {
    let mut failures: Vec<Failure> = std::fs::read_to_string(target.manifest())
        .ok()
        .and_then(|t| serde_json::from_str::<probe_extract::Manifest>(&t).ok())
        .map(|m| {
            m.failures
                .into_iter()
                .map(|f| Failure {
                    file: f.layer,
                    error: f.error,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut settings: Option<Settings> = None;
    let (mut layers, mut embeddings) = (Vec::new(), Vec::new());
    for i in 0..target.layers.len() {
        let path = target.part(i);
        let part = Part::load(&path)?;
        match &settings {
            None => settings = Some(part.settings.clone()),
            Some(s) if !same_settings(s, &part.settings) => {
                return Err(Error::Stage {
                    stage: "merge",
                    reason: format!(
                        "{} was scored with other settings than the layers before it (was \
                         the config changed between shards?); score it again by forcing \
                         the alpha stage",
                        path.display()
                    ),
                })
            }
            Some(s) => {
                let threads = s.threads.max(part.settings.threads);
                settings = Some(Settings {
                    threads,
                    ..s.clone()
                });
            }
        }
        failures.extend(part.failure);
        layers.extend(part.result);
        embeddings.extend(part.embedding);
    }
    let mut records: Vec<_> = layers.iter().map(|l| l.record.clone()).collect();
    flag_layers(&mut records);
    for (layer, record) in layers.iter_mut().zip(records) {
        layer.record = record;
    }
    let settings = settings.ok_or_else(|| Error::Stage {
        stage: "merge",
        reason: format!("{} has no layers to merge", target.dir.display()),
    })?;
    Ok(Results {
        tool: "probe run".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        settings,
        layers,
        accuracy: own_accuracy(&plan.run, &target.weights)?,
        embeddings,
        failures,
        checkpoints: Vec::new(),
    })
}

/// The run's results of a sweep: every checkpoint's, and the last one's at the top level
/// (so that readers of one-checkpoint results read a sweep too).
fn sweep_results(plan: &Plan, scored: &[Results]) -> Result<Results> {
    let mut checkpoints = Vec::new();
    let mut failures = Vec::new();
    for (target, results) in plan.targets.iter().zip(scored) {
        let name = target.checkpoint.clone().unwrap_or_default();
        let checkpoint = Checkpoint {
            name: name.clone(),
            path: PathBuf::from(&target.weights),
        };
        failures.extend(results.failures.iter().map(|f| Failure {
            file: format!("ckpt-{name}/{}", f.file),
            error: f.error.clone(),
        }));
        checkpoints.push(CheckpointResults {
            checkpoint: name,
            weights: target.weights.clone(),
            epoch: checkpoint.epoch(),
            accuracy: results.accuracy,
            layers: results.layers.clone(),
            failures: results.failures.clone(),
        });
    }
    let mut last = scored.last().cloned().ok_or_else(|| Error::Stage {
        stage: "merge",
        reason: "the plan has no checkpoint to merge".into(),
    })?;
    last.failures = failures;
    last.checkpoints = checkpoints;
    Ok(last)
}
