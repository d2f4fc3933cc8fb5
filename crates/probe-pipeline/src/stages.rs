//! Running one stage's share of units (`probe run CONFIG --stage S --shard I/N`), and a
//! sweep as all of its units in one process; each alpha unit writes a partial record.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use probe_extract::{ExtractConfig, Manifest};
use probe_report::LayerResult;

use crate::error::{Error, Result};
use crate::merge::{merge_plan, Part};
use crate::observer::{Cancel, Observer};
use crate::results::Failure;
use crate::run::{Force, Pipeline, RunOutcome};
use crate::score::score_file;
use crate::units::{Plan, Shard, Stage, Target, Unit};

/// What one stage's shard did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageOutcome {
    /// Units run.
    pub ran: usize,
    /// Units found complete and left as they were.
    pub skipped: usize,
    /// Layers that failed (recorded in the manifest or the unit's partial record).
    pub failures: usize,
}

impl Pipeline {
    /// Every unit of this config: train (when it trains), extract per checkpoint, alpha per
    /// checkpoint × layer.
    pub fn plan(&self) -> Plan {
        let training = self
            .training()
            .map(|_| crate::sweep::training_outputs(&self.config));
        Plan::new(
            self.config.source.clone(),
            self.dir.clone(),
            self.config.model.checkpoints.is_some(),
            self.targets.clone(),
            training,
        )
    }

    /// Runs the units of `stage` that belong to `shard` (writing the run's `plan.json`
    /// first). Before any work, every input of those units is checked: a missing or stale
    /// one (an earlier stage not complete) fails the stage with one line naming it. Complete
    /// units are skipped unless `force`. Training holds the run folder's lock; extraction
    /// locks each checkpoint's features, and each alpha unit its own record, so that shards
    /// of one stage run side by side.
    pub fn run_stage(
        &self,
        stage: Stage,
        shard: Shard,
        force: bool,
        observer: &dyn Observer,
        cancel: &Cancel,
    ) -> Result<StageOutcome> {
        let plan = self.plan();
        plan.save()?;
        if stage == Stage::Train {
            let Some(train) = self.training() else {
                return Ok(StageOutcome::default());
            };
            if !shard.takes(0) {
                return Ok(StageOutcome::default());
            }
            let _lock = self.lock_dir(" (train)")?;
            self.train(train, force, observer, cancel)?;
            return Ok(StageOutcome {
                ran: 1,
                ..StageOutcome::default()
            });
        }
        self.stage_units(&plan, stage, shard, force, observer, cancel)
    }

    /// The extract or alpha units of a shard, without the run folder's lock.
    fn stage_units(
        &self,
        plan: &Plan,
        stage: Stage,
        shard: Shard,
        force: bool,
        observer: &dyn Observer,
        cancel: &Cancel,
    ) -> Result<StageOutcome> {
        let units = plan.shard(stage, shard);
        let mut outcome = StageOutcome::default();
        match stage {
            Stage::Train => {}
            Stage::Extract => {
                for unit in &units {
                    self.check_weights(unit, &plan.targets[unit.target])?;
                }
                for unit in &units {
                    cancel.check()?;
                    let target = &plan.targets[unit.target];
                    observer.message(&format!("{}: {}", unit.id, target.weights));
                    let manifest =
                        self.extract_with(&self.target_extract(target), force, observer)?;
                    if manifest.layers.iter().all(|l| l.skipped) && manifest.failures.is_empty() {
                        outcome.skipped += 1;
                    } else {
                        outcome.ran += 1;
                    }
                    outcome.failures += manifest.failures.len();
                }
            }
            Stage::Alpha => {
                let mut hashes = BTreeMap::new();
                let inputs = units
                    .iter()
                    .map(|u| self.alpha_input(u, &plan.targets[u.target], &mut hashes))
                    .collect::<Result<Vec<PathBuf>>>()?;
                let pool = crate::run::alpha_pool()?;
                for (unit, input) in units.iter().zip(&inputs) {
                    cancel.check()?;
                    let target = &plan.targets[unit.target];
                    match self.alpha_unit(unit, target, input, force, &pool, observer)? {
                        UnitDone::Skipped => outcome.skipped += 1,
                        UnitDone::Scored => outcome.ran += 1,
                        UnitDone::Failed => {
                            outcome.ran += 1;
                            outcome.failures += 1;
                        }
                    }
                }
            }
        }
        Ok(outcome)
    }

    /// A sweep in one process: train, every extraction, every alpha unit, then the merge
    /// (the same units and merge as sharded runs, so the results are the same bit for bit).
    /// The caller holds the run folder's lock.
    pub(crate) fn run_sweep(
        &self,
        force: Force,
        observer: &dyn Observer,
        cancel: &Cancel,
    ) -> Result<RunOutcome> {
        let plan = self.plan();
        plan.save()?;
        if let Some(train) = self.training() {
            self.train(train, force.train, observer, cancel)?;
        }
        cancel.check()?;
        let extracted = self.stage_units(
            &plan,
            Stage::Extract,
            Shard::ALL,
            force.extract,
            observer,
            cancel,
        )?;
        cancel.check()?;
        self.stage_units(
            &plan,
            Stage::Alpha,
            Shard::ALL,
            force.alpha,
            observer,
            cancel,
        )?;
        let merged = merge_plan(&plan, observer)?;
        Ok(RunOutcome {
            dir: self.dir.clone(),
            failures: merged.failures.max(extracted.failures),
            results: Some(merged.results),
            report: Some(merged.report),
        })
    }

    /// The extraction settings of one target: the run's, with its weights and folder.
    fn target_extract(&self, target: &Target) -> ExtractConfig {
        let mut config = self.extract.clone();
        config.model.weights = target.weights.clone();
        config.out = target.dir.clone();
        config
    }

    /// An extraction's weights must exist before any forward pass of the shard.
    fn check_weights(&self, unit: &Unit, target: &Target) -> Result<()> {
        let w = &target.weights;
        if w == "random" || w.starts_with("hf://") || Path::new(w).is_file() {
            return Ok(());
        }
        let own = Path::new(w).starts_with(self.dir.join("checkpoint"));
        Err(Error::Stage {
            stage: "extract",
            reason: format!(
                "{}: missing input {w}{}",
                unit.id,
                if own {
                    "; run the train stage first"
                } else {
                    ""
                }
            ),
        })
    }

    /// The feature file an alpha unit scores, checked to be complete and to hold the
    /// features of the target's weights (by the manifest's hash of them) and split.
    fn alpha_input(
        &self,
        unit: &Unit,
        target: &Target,
        hashes: &mut BTreeMap<String, String>,
    ) -> Result<PathBuf> {
        let layer = &target.layers[unit.layer_index];
        let manifest_path = target.manifest();
        let not_ready = |why: String| Error::Stage {
            stage: "alpha",
            reason: format!("{}: {why}; run the extract stage first", unit.id),
        };
        let text = std::fs::read_to_string(&manifest_path)
            .map_err(|_| not_ready(format!("missing input {}", manifest_path.display())))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| not_ready(format!("{} is not readable ({e})", manifest_path.display())))?;
        let hash = match hashes.get(&target.weights) {
            Some(h) => h.clone(),
            None => {
                let h = probe_extract::weights_hash(&target.weights, self.config.model.seed)?;
                hashes.insert(target.weights.clone(), h.clone());
                h
            }
        };
        if manifest.weights_hash != hash || manifest.split != self.extract.dataset.split {
            return Err(not_ready(format!(
                "{} describes features of other weights or samples than {} ({} split)",
                manifest_path.display(),
                target.weights,
                self.extract.dataset.split
            )));
        }
        if let Some(f) = manifest.failures.iter().find(|f| &f.layer == layer) {
            return Err(not_ready(format!(
                "its extraction failed ({}), as {} records",
                f.error,
                manifest_path.display()
            )));
        }
        let Some(entry) = manifest.layers.iter().find(|l| &l.layer == layer) else {
            return Err(not_ready(format!(
                "{} lists no {layer} layer",
                manifest_path.display()
            )));
        };
        let input = match (&self.config.reduce, &entry.reduced) {
            (Some(_), Some(reduced)) => reduced.clone(),
            (Some(r), None) => {
                return Err(not_ready(format!(
                    "{layer} has not been reduced to {} dimensions",
                    r.dim
                )))
            }
            (None, _) => entry.file.clone(),
        };
        if !input.is_file() {
            return Err(not_ready(format!("missing input {}", input.display())));
        }
        Ok(input)
    }

    /// One alpha unit: skipped when its record is complete for this input and these
    /// settings, else scored (a failure is recorded, not raised: other units go on).
    fn alpha_unit(
        &self,
        unit: &Unit,
        target: &Target,
        input: &Path,
        force: bool,
        pool: &rayon::ThreadPool,
        observer: &dyn Observer,
    ) -> Result<UnitDone> {
        let path = target.part(unit.layer_index);
        let folder = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(folder).map_err(|source| Error::Io {
            path: folder.to_path_buf(),
            source,
        })?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let holder = format!(
            "probe run {} (unit {})",
            self.config.source.display(),
            unit.id
        );
        let _lock = probe_data::RunLock::acquire_named(folder, &format!("{name}.lock"), &holder)?;
        // What a killed unit left behind (a live writer's temporary is locked and kept).
        probe_data::remove_stale_temporaries(folder)?;
        let settings = self.scoring.settings(pool.current_num_threads());
        if !force && Part::is_complete(&path, input, &settings) {
            observer.message(&format!(
                "{}: {} is complete; skipped",
                unit.id,
                path.display()
            ));
            return Ok(UnitDone::Skipped);
        }
        let scored = pool.install(|| score_file(&self.scoring, input, observer));
        let (part, done) = match scored {
            Ok((record, extra)) => {
                observer.scored(input, &record);
                let part = Part {
                    unit: unit.id.clone(),
                    input: input.to_path_buf(),
                    settings,
                    result: Some(LayerResult {
                        record,
                        clustering: extra.clustering,
                    }),
                    embedding: extra.embedding,
                    failure: None,
                };
                (part, UnitDone::Scored)
            }
            Err(err) => {
                let error = err.to_string();
                observer.warning(&error);
                let part = Part {
                    unit: unit.id.clone(),
                    input: input.to_path_buf(),
                    settings,
                    result: None,
                    embedding: None,
                    failure: Some(Failure {
                        file: input.display().to_string(),
                        error,
                    }),
                };
                (part, UnitDone::Failed)
            }
        };
        part.save(&path)?;
        Ok(done)
    }
}

/// How an alpha unit ended.
enum UnitDone {
    Skipped,
    Scored,
    Failed,
}
