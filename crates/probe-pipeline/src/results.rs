//! `results.json`, the one schema every writer uses and every reader parses (the README
//! documents it; fields are only ever added), and reading a run folder back for a report.

use std::path::{Path, PathBuf};

use probe_alpha::Probe;
use probe_forest::{MaxFeatures, Splitter, WaveletNorm};
use probe_reduce::{Method, ValidReduceParams};
use probe_report::{Accuracy, EpochProbe, LayerEmbedding, LayerResult, RunReport};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A file (or layer, or pattern) that could not be scored, with the one-line reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// The file, layer or pattern as given.
    pub file: String,
    /// The one-line error.
    pub error: String,
}

/// The settings the layers were scored with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Trees per forest.
    pub trees: usize,
    /// Maximum tree depth.
    pub depth: usize,
    /// Candidate features per node.
    pub max_features: MaxFeatures,
    /// Threshold search.
    pub splitter: Splitter,
    /// Forest seed.
    pub seed: u64,
    /// ε₁ in degrees.
    pub epsilon: f64,
    /// Wavelet weighting.
    pub norm: WaveletNorm,
    /// K of an in-memory reduction before the forest, as asked (a layer whose samples or
    /// width are fewer is reduced to that many; its record's `reduction` says the K used).
    pub reduce_to: Option<usize>,
    /// The in-memory reduction's method.
    pub reduce_method: Option<Method>,
    /// Worker threads (results do not depend on them).
    pub threads: usize,
    /// Forests per layer (1 in files written before repeats existed).
    #[serde(default = "one")]
    pub repeats: usize,
    /// The fraction of the samples each repeated forest drew, when resampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resample: Option<f64>,
}

fn one() -> usize {
    1
}

impl Settings {
    /// The settings a checked probe (and reduction) runs with.
    pub fn new(probe: &Probe, reduce: Option<&ValidReduceParams>, threads: usize) -> Settings {
        Settings {
            trees: probe.forest().n_trees(),
            depth: probe.forest().max_depth(),
            max_features: probe.forest().max_features(),
            splitter: probe.forest().splitter(),
            seed: probe.forest().seed(),
            epsilon: probe.alpha().epsilon(),
            norm: probe.norm(),
            reduce_to: reduce.map(|r| r.n_components()),
            reduce_method: reduce.map(|r| r.method()),
            threads,
            repeats: probe.repeats(),
            resample: probe.resample(),
        }
    }
}

/// `results.json`: one record per scored layer, in order, with the files that failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// The program that wrote the file (`probe-alpha`, `probe run`, `sparsity_probe`).
    pub tool: String,
    /// Its version.
    pub version: String,
    /// What every layer was scored with.
    pub settings: Settings,
    /// The scored layers, flagged in order.
    pub layers: Vec<LayerResult>,
    /// The probed model's accuracy, when known (from training's metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<Accuracy>,
    /// 2-D embeddings per layer, when asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub embeddings: Vec<LayerEmbedding>,
    /// What could not be scored, and why.
    #[serde(default)]
    pub failures: Vec<Failure>,
    /// A sweep: every checkpoint's layers, in the sweep's order (the top-level `layers` are
    /// the last checkpoint's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checkpoints: Vec<CheckpointResults>,
}

/// One checkpoint of a sweep, as scored (its folder's `results.json`, without settings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointResults {
    /// The checkpoint's name (its file's stem; its folder is `ckpt-<name>`).
    pub checkpoint: String,
    /// The weights file.
    pub weights: String,
    /// The training epoch of the weights, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<usize>,
    /// The weights' accuracy, when they are the run's own checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<Accuracy>,
    /// The scored layers, flagged in order.
    pub layers: Vec<LayerResult>,
    /// What could not be extracted or scored.
    #[serde(default)]
    pub failures: Vec<Failure>,
}

/// Writes `value` as pretty JSON through a temporary file and a rename (so that a reader, or
/// a second writer of the same file, never sees a torn one).
pub(crate) fn save_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(|e| Error::BadResults {
        path: path.to_path_buf(),
        reason: format!("cannot encode: {e}"),
    })?;
    Ok(probe_data::write_atomic(path, &json)?)
}

impl Results {
    /// Writes the results as pretty JSON through a temporary file and a rename.
    pub fn save(&self, path: &Path) -> Result<()> {
        save_json(path, self)
    }

    /// Reads a `results.json`.
    pub fn load(path: &Path) -> Result<Results> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| Error::BadResults {
            path: path.to_path_buf(),
            reason: format!("{e}; is it a results.json written by probe-alpha or probe run?"),
        })
    }
}

/// One line of `metrics.jsonl` (probe-train), as far as a report needs it.
#[derive(Deserialize)]
pub(crate) struct MetricsLine {
    pub(crate) epoch: usize,
    train_accuracy: f64,
    val_accuracy: f64,
    #[serde(default)]
    test_accuracy: Option<f64>,
    #[serde(default)]
    best: bool,
}

impl MetricsLine {
    /// The line's accuracy figures.
    pub(crate) fn accuracy(&self) -> Accuracy {
        Accuracy {
            epoch: Some(self.epoch),
            train: Some(self.train_accuracy),
            val: Some(self.val_accuracy),
            test: self.test_accuracy,
        }
    }
}

/// Reads the run in `dir` for a report: `results.json` (or, for a training folder probed
/// during training, the last probe of `probes.jsonl`), the accuracy of the best epoch from
/// `metrics.jsonl` (the checkpoint `probe run` probes) and alpha per epoch from
/// `probes.jsonl`. The run is named after its folder.
pub fn load_run(dir: &Path) -> Result<RunReport> {
    let path = dir.join("results.json");
    let epochs = read_jsonl::<EpochProbe>(&dir.join("probes.jsonl"))?;
    // `probe run` records the accuracy of the weights it probed, or none when it probed
    // other weights than its checkpoint; other results fall back to training's metrics.
    let mut epochs = epochs;
    let (settings, layers, accuracy, embeddings, from_run) = if path.exists() {
        let r = Results::load(&path)?;
        // A sweep draws alpha against its checkpoints' epochs, as probing during training
        // does (a checkpoint without a known epoch takes its place in the sweep).
        if !r.checkpoints.is_empty() {
            epochs = r
                .checkpoints
                .iter()
                .enumerate()
                .map(|(i, c)| EpochProbe {
                    epoch: c.epoch.unwrap_or(i + 1),
                    val_accuracy: c.accuracy.and_then(|a| a.val),
                    layers: c.layers.clone(),
                })
                .collect();
        }
        let settings = serde_json::to_value(&r.settings).unwrap_or_default();
        let from_run = r.tool == "probe run";
        (settings, r.layers, r.accuracy, r.embeddings, from_run)
    } else if let Some(last) = epochs.last() {
        let settings = serde_json::json!({
            "layers from": format!("probes.jsonl, epoch {}", last.epoch)
        });
        (settings, last.layers.clone(), None, Vec::new(), false)
    } else {
        return Err(Error::BadResults {
            path,
            reason: "not found; score the run first (probe run, probe-alpha with an output \
                     file, or training with probes every few epochs)"
                .into(),
        });
    };
    let accuracy = match accuracy {
        None if !from_run => best_accuracy(&dir.join("metrics.jsonl"))?,
        known => known,
    };
    let name = dir
        .canonicalize()
        .unwrap_or_else(|_| dir.to_path_buf())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    Ok(RunReport {
        name,
        settings,
        layers,
        accuracy,
        epochs,
        embeddings,
    })
}

/// The accuracy of the last epoch marked best in a training's `metrics.jsonl` (the checkpoint
/// saved as best), or of the last epoch when none is marked; `None` when there is no file.
pub fn best_accuracy(path: &Path) -> Result<Option<Accuracy>> {
    let lines = read_jsonl::<MetricsLine>(path)?;
    let best = lines.iter().rev().find(|l| l.best).or(lines.last());
    Ok(best.map(MetricsLine::accuracy))
}

/// Every line of a JSON-lines file; an absent file is empty. A line that does not parse is
/// an error naming it.
pub(crate) fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| Error::BadResults {
                path: PathBuf::from(format!("{}:{}", path.display(), i + 1)),
                reason: e.to_string(),
            })
        })
        .collect()
}
