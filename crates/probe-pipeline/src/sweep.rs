//! Sweeps: the checkpoints a config names (files, patterns, and the epochs its own training
//! will save), each probed into a folder of its own, `ckpt-<stem>/`, under the run.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use probe_report::Accuracy;

use crate::config::RunConfig;
use crate::error::Result;
use crate::results::read_jsonl;

/// One weights file of a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The file's stem; the checkpoint's folder is `ckpt-<name>`.
    pub name: String,
    /// The weights file.
    pub path: PathBuf,
}

impl Checkpoint {
    /// The training epoch of these weights: recorded in the file by probe-train, else read
    /// from an `epoch-N` name; `None` when neither says.
    pub fn epoch(&self) -> Option<usize> {
        probe_models::read_safetensors_metadata(&self.path)
            .ok()
            .and_then(|m| m.get("epoch")?.parse().ok())
            .or_else(|| self.name.strip_prefix("epoch-")?.parse().ok())
    }
}

/// The checkpoints of a sweep config, in the order its entries name them (a pattern's
/// matches sorted), each once. A pattern matches the files that exist and those the
/// config's own `[train]` will save, so a sweep over its own training plans the same units
/// before training as after. `Ok(None)` when the config probes one set of weights.
pub fn checkpoints(config: &RunConfig) -> Result<Option<Vec<Checkpoint>>> {
    let Some(entries) = &config.model.checkpoints else {
        return Ok(None);
    };
    let planned = training_outputs(config);
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    for entry in entries.entries() {
        let is_pattern = entry.contains(['*', '?', '[']) && !Path::new(entry).exists();
        let mut matched: Vec<PathBuf> = if is_pattern {
            let pattern = glob::Pattern::new(entry).map_err(|e| {
                config.invalid(
                    "model.checkpoints",
                    format!("`{entry}` is not a valid pattern: {e}"),
                )
            })?;
            let existing = glob::glob(entry)
                .map_err(|e| {
                    config.invalid(
                        "model.checkpoints",
                        format!("`{entry}` is not a valid pattern: {e}"),
                    )
                })?
                .filter_map(|p| p.ok());
            let will_exist = planned.iter().filter(|p| pattern.matches_path(p)).cloned();
            existing.chain(will_exist).map(|p| tidy(&p)).collect()
        } else {
            vec![tidy(Path::new(entry))]
        };
        matched.sort();
        matched.dedup();
        if matched.is_empty() {
            return Err(config.invalid(
                "model.checkpoints",
                format!(
                    "`{entry}` matches no file{}",
                    if config.train.is_some() {
                        " (and [train] saves none that it matches)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        for path in matched {
            if seen.insert(path.clone()) {
                found.push(path);
            }
        }
    }
    let mut sweep = Vec::new();
    for path in found {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let clash = sweep.iter().find(|c: &&Checkpoint| c.name == name);
        if let Some(other) = clash {
            return Err(config.invalid(
                "model.checkpoints",
                format!(
                    "{} and {} would both be probed into ckpt-{name}/; a sweep names its \
                     folders after the files, so rename one",
                    other.path.display(),
                    path.display()
                ),
            ));
        }
        sweep.push(Checkpoint { name, path });
    }
    Ok(Some(sweep))
}

/// The weights files the config's `[train]` writes: every `save_every` epoch, then the last
/// and the best.
pub(crate) fn training_outputs(config: &RunConfig) -> Vec<PathBuf> {
    let Some(train) = &config.train else {
        return Vec::new();
    };
    let folder = tidy(&config.run_dir().join("checkpoint"));
    let mut files: Vec<PathBuf> = train
        .save_every
        .map(|every| {
            (every..=train.epochs)
                .step_by(every.max(1))
                .map(|e| folder.join(format!("epoch-{e:03}.safetensors")))
                .collect()
        })
        .unwrap_or_default();
    files.push(folder.join("last.safetensors"));
    files.push(folder.join("best.safetensors"));
    files
}

/// A path without `.` components, so that `./a/b` and `a/b` are one file.
fn tidy(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// Which line of the run's `metrics.jsonl` describes `weights`, when they are a checkpoint
/// of the run's own training (`checkpoint/best`, `last` or `epoch-N`); `None` otherwise.
pub(crate) fn own_accuracy(run_dir: &Path, weights: &str) -> Result<Option<Accuracy>> {
    let path = tidy(Path::new(weights));
    if path.parent() != Some(tidy(&run_dir.join("checkpoint")).as_path()) {
        return Ok(None);
    }
    let metrics = run_dir.join("metrics.jsonl");
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let epoch = match stem.as_str() {
        "best" => return crate::results::best_accuracy(&metrics),
        "last" => None,
        other => match other
            .strip_prefix("epoch-")
            .and_then(|e| e.parse::<usize>().ok())
        {
            Some(e) => Some(e),
            None => return Ok(None),
        },
    };
    let lines = read_jsonl::<crate::results::MetricsLine>(&metrics)?;
    let line = match epoch {
        Some(e) => lines.iter().rev().find(|l| l.epoch == e),
        None => lines.last(),
    };
    Ok(line.map(crate::results::MetricsLine::accuracy))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> RunConfig {
        let text =
            format!("name = \"s\"\nout = \"/tmp/never/s\"\n[model]\nenv = \"synthetic\"\n{extra}");
        RunConfig::from_toml(&text, Path::new("sweep.toml")).expect("config")
    }

    #[test]
    fn a_pattern_matches_the_epochs_training_will_save() {
        let c = config(
            "checkpoints = \"/tmp/never/s/checkpoint/epoch-*.safetensors\"\n\
             [train]\nepochs = 5\nsave_every = 2\n",
        );
        let found = checkpoints(&c).expect("expands").expect("a sweep");
        let names: Vec<&str> = found.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["epoch-002", "epoch-004"]);
        assert_eq!(found[1].epoch(), Some(4));
    }

    #[test]
    fn listed_files_keep_their_order_and_clashing_names_are_refused() {
        let c = config("checkpoints = [\"b/z.safetensors\", \"a/y.safetensors\"]\n");
        let found = checkpoints(&c).expect("expands").expect("a sweep");
        assert_eq!(found[0].name, "z");
        assert_eq!(found[1].path, PathBuf::from("a/y.safetensors"));
        let c = config("checkpoints = [\"b/z.safetensors\", \"a/z.safetensors\"]\n");
        let err = checkpoints(&c).expect_err("two ckpt-z folders").to_string();
        assert!(err.contains("ckpt-z"), "{err}");
    }

    #[test]
    fn a_pattern_that_matches_nothing_is_an_error_naming_it() {
        let c = config("checkpoints = \"/tmp/never/*.safetensors\"\n");
        let err = checkpoints(&c).expect_err("nothing matches").to_string();
        assert!(err.contains("matches no file"), "{err}");
        assert!(err.contains("line 5"), "{err}");
    }
}
