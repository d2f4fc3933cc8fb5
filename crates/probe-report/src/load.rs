//! Reading a run folder back: `results.json` (written by `probe run` or `probe-alpha --out`),
//! the training metrics (`metrics.jsonl`) for the accuracy of the probed checkpoint, and the
//! probes taken during training (`probes.jsonl`).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::results::{Accuracy, EpochProbe, LayerEmbedding, LayerResult, RunReport};

/// The parts of `results.json` a report shows; other fields are ignored.
#[derive(Deserialize)]
struct ResultsFile {
    #[serde(default)]
    settings: serde_json::Value,
    layers: Vec<LayerResult>,
    #[serde(default)]
    accuracy: Option<Accuracy>,
    #[serde(default)]
    embeddings: Vec<LayerEmbedding>,
}

/// One line of `metrics.jsonl` (probe-train), as far as a report needs it.
#[derive(Deserialize)]
struct MetricsLine {
    epoch: usize,
    train_accuracy: f64,
    val_accuracy: f64,
    #[serde(default)]
    test_accuracy: Option<f64>,
    #[serde(default)]
    best: bool,
}

impl RunReport {
    /// Reads the run in `dir`: `results.json` is required; `metrics.jsonl` (the accuracy of
    /// the best epoch, which is the checkpoint `probe run` probes) and `probes.jsonl` (alpha
    /// per epoch) are read when present. The run is named after the folder.
    pub fn load(dir: &Path) -> Result<RunReport> {
        let results = dir.join("results.json");
        let epochs = read_jsonl::<EpochProbe>(&dir.join("probes.jsonl"))?;
        let parsed = match std::fs::read_to_string(&results) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::BadResults {
                path: results.clone(),
                reason: format!("{e}; is it a results.json written by probe-alpha or probe run?"),
            })?,
            // A training folder probed with --probe-every: its last probe stands for the run.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !epochs.is_empty() => {
                let last = &epochs[epochs.len() - 1];
                ResultsFile {
                    settings: serde_json::json!({
                        "layers from": format!("probes.jsonl, epoch {}", last.epoch)
                    }),
                    layers: last.layers.clone(),
                    accuracy: None,
                    embeddings: Vec::new(),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoResults { path: results });
            }
            Err(source) => {
                return Err(Error::Io {
                    path: results,
                    source,
                })
            }
        };
        let ResultsFile {
            settings,
            layers,
            accuracy,
            embeddings,
        } = parsed;
        let accuracy = match accuracy {
            Some(a) => Some(a),
            None => best_accuracy(&dir.join("metrics.jsonl"))?,
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
}

/// The accuracy of the last epoch marked best in a training's `metrics.jsonl` (the checkpoint
/// saved as best), or of the last epoch when none is marked; `None` when there is no file.
pub fn best_accuracy(path: &Path) -> Result<Option<Accuracy>> {
    let lines = read_jsonl::<MetricsLine>(path)?;
    let best = lines.iter().rev().find(|l| l.best).or(lines.last());
    Ok(best.map(|l| Accuracy {
        epoch: Some(l.epoch),
        train: Some(l.train_accuracy),
        val: Some(l.val_accuracy),
        test: l.test_accuracy,
    }))
}

/// Every line of a JSON-lines file; an absent file is empty. A line that does not parse is
/// an error naming it.
fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: e,
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
