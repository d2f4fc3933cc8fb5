//! Units of work with stable ids (train; extract per checkpoint; alpha per checkpoint ×
//! layer), the shards of a stage, and the plan (`plan.json`) that `probe merge` reads back.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The stages that split into units, in the order they must run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Training (one unit, when the config trains).
    Train,
    /// One forward pass per checkpoint, writing all its layers.
    Extract,
    /// One forest (or repeats) per checkpoint × layer.
    Alpha,
}

impl Stage {
    /// Every stage, in order.
    pub const ALL: [Stage; 3] = [Stage::Train, Stage::Extract, Stage::Alpha];
}

/// A stage name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a stage that runs in shards; use train, extract or alpha")]
pub struct ParseStageError(pub String);

impl FromStr for Stage {
    type Err = ParseStageError;
    fn from_str(s: &str) -> std::result::Result<Stage, ParseStageError> {
        match s {
            "train" => Ok(Stage::Train),
            "extract" => Ok(Stage::Extract),
            "alpha" => Ok(Stage::Alpha),
            _ => Err(ParseStageError(s.to_string())),
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Train => "train",
            Stage::Extract => "extract",
            Stage::Alpha => "alpha",
        })
    }
}

/// Shard `index` of `count`: the units at positions index, index + count, … of a stage.
/// The split depends only on the plan, so every process of a job array agrees on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based, below `count` (Slurm's `SLURM_ARRAY_TASK_ID` with `--array=0-(N-1)`,
    /// Kubernetes' `JOB_COMPLETION_INDEX`).
    pub index: usize,
    /// Shards of the stage.
    pub count: usize,
}

impl Shard {
    /// The whole stage.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether the unit at `position` of its stage belongs to this shard.
    pub fn takes(&self, position: usize) -> bool {
        position % self.count == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A shard that is not `I/N` with I < N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a shard; write I/N with 0 <= I < N, e.g. 0/4")]
pub struct ParseShardError(pub String);

impl FromStr for Shard {
    type Err = ParseShardError;
    fn from_str(s: &str) -> std::result::Result<Shard, ParseShardError> {
        let bad = || ParseShardError(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// One piece of work: what it reads and what it writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    /// Stable id: `train`, `extract[/CKPT]`, `alpha[/CKPT]/LAYER`.
    pub id: String,
    /// Its stage.
    pub stage: Stage,
    /// The sweep's checkpoint it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// The layer it scores (alpha units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
    /// Files it needs (written by an earlier stage, or given).
    pub inputs: Vec<PathBuf>,
    /// Files it writes.
    pub outputs: Vec<PathBuf>,
    /// Its target in [`Plan::targets`].
    #[serde(skip)]
    pub(crate) target: usize,
    /// Its layer's position in the target's layers.
    #[serde(skip)]
    pub(crate) layer_index: usize,
}

/// Where one set of weights is probed: the run's folder, or a sweep checkpoint's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The sweep checkpoint's name (`None` for a run of one set of weights).
    pub checkpoint: Option<String>,
    /// The folder its features, parts and `results.json` go to.
    pub dir: PathBuf,
    /// The weights probed.
    pub weights: String,
    /// The layers, in network order.
    pub layers: Vec<String>,
}

impl Target {
    /// The unit id of its extraction.
    fn extract_id(&self) -> String {
        match &self.checkpoint {
            Some(c) => format!("extract/{c}"),
            None => "extract".into(),
        }
    }

    /// The features' manifest, written by the extraction.
    pub fn manifest(&self) -> PathBuf {
        self.dir.join("features/manifest.json")
    }

    /// The partial record of the `index`-th layer, written by its alpha unit.
    pub fn part(&self, index: usize) -> PathBuf {
        // Named as the layer's feature file, which makes any layer name a file name.
        let file = probe_extract::layer_file(Path::new(""), index, &self.layers[index]);
        let stem = file.file_stem().unwrap_or_default().to_string_lossy();
        self.dir.join("parts").join(format!("{stem}.json"))
    }
}

/// Every unit of a run config, in stage order, with the targets they work on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The config it was made from.
    pub config: PathBuf,
    /// The run's folder.
    pub run: PathBuf,
    /// Whether the run is a sweep over checkpoints.
    pub sweep: bool,
    /// What is probed, in order.
    pub targets: Vec<Target>,
    /// The units, train first, then extract, then alpha.
    pub units: Vec<Unit>,
}

/// The name of the plan file in a run folder.
pub const PLAN_FILE: &str = "plan.json";

impl Plan {
    /// The plan of `targets`; `training` names the checkpoint files training writes when the
    /// run trains.
    pub(crate) fn new(
        config: PathBuf,
        run: PathBuf,
        sweep: bool,
        targets: Vec<Target>,
        training: Option<Vec<PathBuf>>,
    ) -> Plan {
        let mut units = Vec::new();
        if let Some(outputs) = training {
            units.push(Unit {
                id: "train".into(),
                stage: Stage::Train,
                checkpoint: None,
                layer: None,
                inputs: Vec::new(),
                outputs,
                target: 0,
                layer_index: 0,
            });
        }
        for (t, target) in targets.iter().enumerate() {
            let features = target.dir.join("features");
            let mut outputs = vec![target.manifest()];
            outputs.extend(
                target
                    .layers
                    .iter()
                    .enumerate()
                    .map(|(i, l)| probe_extract::layer_file(&features, i, l)),
            );
            units.push(Unit {
                id: target.extract_id(),
                stage: Stage::Extract,
                checkpoint: target.checkpoint.clone(),
                layer: None,
                inputs: vec![PathBuf::from(&target.weights)],
                outputs,
                target: t,
                layer_index: 0,
            });
        }
        for (t, target) in targets.iter().enumerate() {
            for (i, layer) in target.layers.iter().enumerate() {
                let id = match &target.checkpoint {
                    Some(c) => format!("alpha/{c}/{layer}"),
                    None => format!("alpha/{layer}"),
                };
                units.push(Unit {
                    id,
                    stage: Stage::Alpha,
                    checkpoint: target.checkpoint.clone(),
                    layer: Some(layer.clone()),
                    inputs: vec![target.manifest()],
                    outputs: vec![target.part(i)],
                    target: t,
                    layer_index: i,
                });
            }
        }
        Plan {
            config,
            run,
            sweep,
            targets,
            units,
        }
    }

    /// The units of `stage` that belong to `shard`, in order.
    pub fn shard(&self, stage: Stage, shard: Shard) -> Vec<&Unit> {
        self.units_of(stage)
            .enumerate()
            .filter(|(position, _)| shard.takes(*position))
            .map(|(_, u)| u)
            .collect()
    }

    /// The units of `stage`, in order.
    pub fn units_of(&self, stage: Stage) -> impl Iterator<Item = &Unit> {
        self.units.iter().filter(move |u| u.stage == stage)
    }

    /// Writes `plan.json` into the run's folder (through a temporary file and a rename, so
    /// that shards writing the same plan at once never leave a torn one).
    pub fn save(&self) -> Result<()> {
        std::fs::create_dir_all(&self.run).map_err(|source| Error::Io {
            path: self.run.clone(),
            source,
        })?;
        crate::results::save_json(&self.run.join(PLAN_FILE), self)
    }

    /// Reads the plan a run wrote into `run_dir`.
    pub fn load(run_dir: &Path) -> Result<Plan> {
        let path = run_dir.join(PLAN_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::BadResults {
            path: path.clone(),
            reason: format!(
                "cannot read the run's plan ({e}); is {} a run folder that a sharded stage \
                 ran in?",
                run_dir.display()
            ),
        })?;
        let mut plan: Plan = serde_json::from_str(&text).map_err(|e| Error::BadResults {
            path: path.clone(),
            reason: format!("not a plan written by probe: {e}"),
        })?;
        // Positions are not stored: they follow from the ids' order.
        for unit in &mut plan.units {
            let found = plan.targets.iter().enumerate().find_map(|(t, target)| {
                if target.checkpoint != unit.checkpoint {
                    return None;
                }
                let i = match &unit.layer {
                    Some(l) => target.layers.iter().position(|x| x == l)?,
                    None => 0,
                };
                Some((t, i))
            });
            if let Some((t, i)) = found {
                unit.target = t;
                unit.layer_index = i;
            }
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_split_a_stage_stably() {
        assert_eq!("1/3".parse::<Shard>(), Ok(Shard { index: 1, count: 3 }));
        for bad in ["3/3", "0/0", "1", "a/2", "-1/2"] {
            let err = bad.parse::<Shard>().expect_err(bad).to_string();
            assert!(err.contains("I/N"), "{err}");
        }
        let target = |c: &str| Target {
            checkpoint: Some(c.into()),
            dir: PathBuf::from(format!("r/ckpt-{c}")),
            weights: format!("{c}.safetensors"),
            layers: vec!["a".into(), "b".into()],
        };
        let plan = Plan::new(
            "c.toml".into(),
            "r".into(),
            true,
            vec![target("x"), target("y")],
            None,
        );
        let ids = |s: Shard| -> Vec<String> {
            plan.shard(Stage::Alpha, s)
                .iter()
                .map(|u| u.id.clone())
                .collect()
        };
        assert_eq!(ids("0/3".parse().unwrap()), ["alpha/x/a", "alpha/y/b"]);
        assert_eq!(ids("2/3".parse().unwrap()), ["alpha/y/a"]);
        assert_eq!(plan.shard(Stage::Train, Shard::ALL).len(), 0);
        let all: usize = (0..5)
            .map(|i| plan.shard(Stage::Alpha, Shard { index: i, count: 5 }).len())
            .sum();
        assert_eq!(all, 4);
        assert_eq!(plan.units_of(Stage::Extract).count(), 2);
    }

    #[test]
    fn a_saved_plan_reads_back_with_its_units_placed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = |c: &str| Target {
            checkpoint: Some(c.into()),
            dir: dir.path().join(format!("ckpt-{c}")),
            weights: format!("{c}.safetensors"),
            layers: vec!["a".into(), "b".into()],
        };
        let plan = Plan::new(
            "c.toml".into(),
            dir.path().to_path_buf(),
            true,
            vec![target("x"), target("y")],
            Some(vec![]),
        );
        plan.save().expect("saved");
        assert_eq!(Plan::load(dir.path()).expect("read back"), plan);
        let err = Plan::load(&dir.path().join("nothing")).expect_err("no plan");
        assert!(err.to_string().contains("plan"), "{err}");
    }
}
