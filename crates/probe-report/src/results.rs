//! What one run has to show: its per-layer records, with clustering scores when measured,
//! the model's accuracy when known, alpha per epoch when probed during training, and 2-D
//! embeddings when computed.

use probe_alpha::LayerRecord;
use serde::{Deserialize, Serialize};

use crate::clustering::ClusteringScores;

/// One probed layer: the alpha record plus the optional extras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerResult {
    /// The alpha-score and its diagnostics.
    #[serde(flatten)]
    pub record: LayerRecord,
    /// k-means against the labels, when `--clustering` was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clustering: Option<ClusteringScores>,
}

/// Accuracy of the probed model, when known (from training's metrics).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Accuracy {
    /// The epoch these figures belong to.
    pub epoch: Option<usize>,
    /// Training accuracy in [0, 1].
    pub train: Option<f64>,
    /// Validation accuracy in [0, 1].
    pub val: Option<f64>,
    /// Test accuracy in [0, 1].
    pub test: Option<f64>,
}

/// The probe of one checkpoint taken during training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochProbe {
    /// Epoch (1-based) whose weights were probed.
    pub epoch: usize,
    /// Validation accuracy at that epoch, when measured.
    #[serde(default)]
    pub val_accuracy: Option<f64>,
    /// The probed layers, in network order.
    pub layers: Vec<LayerResult>,
}

/// A 2-D embedding of one layer's (subsampled) points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerEmbedding {
    /// Layer name.
    pub layer: String,
    /// `umap` or `tsne`.
    pub method: String,
    /// One (x, y) per point.
    pub points: Vec<[f32; 2]>,
    /// The class of each point.
    pub labels: Vec<u32>,
    /// t-SNE: the perplexity actually used, which is lowered from the one asked for when
    /// the layer has too few points for it (at most (points − 1) / 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity: Option<f64>,
    /// UMAP: the neighbourhood actually used, lowered to (points − 1) on tiny layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_neighbors: Option<usize>,
}

/// Everything one run has to show.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunReport {
    /// The run's name (its folder's name), used in legends.
    pub name: String,
    /// Settings to show as a table (free-form JSON object).
    #[serde(default)]
    pub settings: serde_json::Value,
    /// The probed layers, in network order.
    pub layers: Vec<LayerResult>,
    /// The model's accuracy, when known.
    #[serde(default)]
    pub accuracy: Option<Accuracy>,
    /// Probes taken during training, by epoch.
    #[serde(default)]
    pub epochs: Vec<EpochProbe>,
    /// 2-D embeddings per layer.
    #[serde(default)]
    pub embeddings: Vec<LayerEmbedding>,
}
