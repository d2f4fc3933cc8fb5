//! Scoring feature-set files: each file opened, reduced in memory when asked, scored by the
//! forest, then clustered and embedded when asked; a failed file never stops the others.

use std::path::{Path, PathBuf};
use std::time::Instant;

use probe_alpha::{flag_layers, LayerRecord, Probe};
use probe_data::FeatureSet;
use probe_reduce::{Reduced, ValidReduceParams};
use probe_report::clustering::{ClusteringParams, ValidClusteringParams};
use probe_report::embedding::{EmbeddingMethod, EmbeddingParams, ValidEmbeddingParams};
use probe_report::{layer_extras, LayerEmbedding, LayerExtras, LayerResult};

use crate::error::{Error, Result};
use crate::observer::{Cancel, Observer};
use crate::reduce::reduce_observed;
use crate::results::{Failure, Results, Settings};

/// What the alpha stage computes beside alpha, checked before any work.
#[derive(Debug, Clone, Default)]
pub struct Extras {
    /// k-means (k = number of classes) scored against the labels.
    pub clustering: Option<ValidClusteringParams>,
    /// A 2-D embedding of a seeded subsample, for the report's panel.
    pub embedding: Option<ValidEmbeddingParams>,
}

impl Extras {
    /// Clustering when `clustering`, an embedding by `embedding` of at most `points` points;
    /// both seeded with `seed`.
    pub fn new(
        clustering: bool,
        embedding: Option<EmbeddingMethod>,
        points: usize,
        seed: u64,
    ) -> Result<Extras> {
        Ok(Extras {
            clustering: clustering
                .then(|| ClusteringParams::default().seed(seed).check())
                .transpose()?,
            embedding: embedding
                .map(|m| {
                    EmbeddingParams::default()
                        .method(m)
                        .max_points(points)
                        .seed(seed)
                        .check()
                })
                .transpose()?,
        })
    }
}

/// Everything that scores a file: the probe, an optional in-memory reduction, the extras.
#[derive(Debug, Clone)]
pub struct Scoring {
    /// The forest and the estimator.
    pub probe: Probe,
    /// Reduce layers wider than K to K dimensions before the forest.
    pub reduce: Option<ValidReduceParams>,
    /// Clustering and embeddings.
    pub extras: Extras,
}

impl Scoring {
    /// Scoring with the probe alone.
    pub fn new(probe: Probe) -> Scoring {
        Scoring {
            probe,
            reduce: None,
            extras: Extras::default(),
        }
    }

    /// The `settings` block of the results these produce, with `threads` workers.
    pub fn settings(&self, threads: usize) -> Settings {
        Settings::new(&self.probe, self.reduce.as_ref(), threads)
    }
}

/// The layers scored by [`score_files`], flagged in order, with what failed.
#[derive(Debug, Clone, Default)]
pub struct Scored {
    /// One result per file that was scored, in the order given.
    pub layers: Vec<LayerResult>,
    /// The embeddings computed, per layer.
    pub embeddings: Vec<LayerEmbedding>,
    /// The files that failed.
    pub failures: Vec<Failure>,
}

impl Scored {
    /// The results file of these layers.
    pub fn into_results(self, tool: &str, settings: Settings) -> Results {
        Results {
            tool: tool.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            settings,
            layers: self.layers,
            accuracy: None,
            embeddings: self.embeddings,
            failures: self.failures,
            checkpoints: Vec::new(),
        }
    }
}

/// Paths as given, with glob patterns expanded (sorted) where the shell did not expand them;
/// a pattern that matches nothing, or is not a pattern, is a failure of its own.
pub fn expand(args: &[String]) -> (Vec<PathBuf>, Vec<Failure>) {
    let mut files = Vec::new();
    let mut failures = Vec::new();
    for arg in args {
        let is_pattern = arg.contains(['*', '?', '[']) && !Path::new(arg).exists();
        if !is_pattern {
            files.push(PathBuf::from(arg));
            continue;
        }
        match glob::glob(arg) {
            Ok(paths) => {
                let matched: Vec<PathBuf> = paths.filter_map(|p| p.ok()).collect();
                if matched.is_empty() {
                    failures.push(Failure {
                        file: arg.clone(),
                        error: format!("{arg}: no file matches this pattern"),
                    });
                }
                files.extend(matched);
            }
            Err(e) => failures.push(Failure {
                file: arg.clone(),
                error: format!("{arg}: not a valid glob pattern: {e}"),
            }),
        }
    }
    (files, failures)
}

/// Scores every file in order (on the current rayon pool). A file that fails is reported to
/// the observer and recorded without stopping the others; a stop request ends the loop
/// between files with [`Error::Cancelled`].
pub fn score_files(
    scoring: &Scoring,
    files: &[PathBuf],
    observer: &dyn Observer,
    cancel: &Cancel,
) -> Result<Scored> {
    let (mut records, mut extras, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for file in files {
        cancel.check()?;
        match score_file(scoring, file, observer) {
            Ok((record, extra)) => {
                observer.scored(file, &record);
                records.push(record);
                extras.push(extra);
            }
            Err(err) => {
                let error = err.to_string();
                observer.warning(&error);
                failures.push(Failure {
                    file: file.display().to_string(),
                    error,
                });
            }
        }
    }
    flag_layers(&mut records);
    let mut embeddings = Vec::new();
    let layers = records
        .into_iter()
        .zip(extras)
        .map(|(record, extra)| {
            embeddings.extend(extra.embedding);
            LayerResult {
                record,
                clustering: extra.clustering,
            }
        })
        .collect();
    Ok(Scored {
        layers,
        embeddings,
        failures,
    })
}

/// One file: open, reduce in memory when asked and wider than K, score, then cluster and
/// embed what the forest saw when asked. `seconds` in the record is the whole file's wall
/// time (reading, reduction, forest and extras).
pub fn score_file(
    scoring: &Scoring,
    file: &Path,
    observer: &dyn Observer,
) -> Result<(LayerRecord, LayerExtras)> {
    let in_file = |e: Error| Error::InFile {
        path: file.to_path_buf(),
        source: Box::new(e),
    };
    let start = Instant::now();
    // The forest's first pass reads every value and tests it: scanning them at open too
    // would read a large file twice (see `score_set` for the reduction).
    let set = FeatureSet::open_unscanned(file).map_err(|e| in_file(e.into()))?;
    let (mut record, extra) = score_set(scoring, set, observer).map_err(|e| match e {
        Error::Extras { source, .. } => Error::Extras {
            path: file.to_path_buf(),
            source,
        },
        e => in_file(e),
    })?;
    record.file = Some(file.display().to_string());
    record.seconds = start.elapsed().as_secs_f64();
    Ok((record, extra))
}

/// One set, in a file or in memory: reduced when asked and wider than K, scored, then
/// clustered and embedded when asked. `seconds` covers the reduction, forest and extras.
pub fn score_set(
    scoring: &Scoring,
    set: FeatureSet,
    observer: &dyn Observer,
) -> Result<(LayerRecord, LayerExtras)> {
    let start = Instant::now();
    let input_d = set.n_features();
    let set = match &scoring.reduce {
        Some(params) => {
            // The reduction trusts its input to be finite.
            set.scan_values()?;
            reduce_in_memory(set, params, observer)?
        }
        None => set,
    };
    let probe = &scoring.probe;
    let trees = probe.forest().n_trees() * probe.repeats();
    observer.start(&set.layer(), "trees", trees as u64);
    let record = probe.run(&set, &|| observer.step());
    observer.finish();
    let mut record = record?;
    record.input_d = input_d;
    let extra = layer_extras(
        &set,
        scoring.extras.clustering.as_ref(),
        scoring.extras.embedding.as_ref(),
    )
    .map_err(|e| Error::Extras {
        path: set
            .path()
            .map_or_else(|| PathBuf::from(set.layer()), Path::to_path_buf),
        source: Box::new(e),
    })?;
    for note in &extra.notes {
        observer.message(&format!("note: {}: {note}", set.layer()));
    }
    record.seconds = start.elapsed().as_secs_f64();
    Ok((record, extra))
}

/// Reduces a set in memory with progress over the passes through its data; a set no wider
/// than K is returned as it is. When the set has fewer samples than K the reduction is to
/// that many components, and the observer is told.
pub fn reduce_in_memory(
    set: FeatureSet,
    params: &ValidReduceParams,
    observer: &dyn Observer,
) -> Result<FeatureSet> {
    if set.n_features() <= params.n_components() {
        return Ok(set);
    }
    match reduce_observed(&set, params, observer)? {
        Reduced::Reduced(reduced, stats) => {
            if stats.k < params.n_components() {
                observer.message(&capped_line(&set, stats.k, params.n_components()));
            }
            Ok(*reduced)
        }
        Reduced::Unchanged => Ok(set),
    }
}

/// The line saying a reduction was capped by the number of samples.
pub(crate) fn capped_line(set: &FeatureSet, used: usize, asked: usize) -> String {
    format!(
        "{}: {} samples x {} features, so reduced to K = {used} instead of {asked} (an SVD \
         has at most min(n, d) components)",
        set.layer(),
        set.n_samples(),
        set.n_features()
    )
}
