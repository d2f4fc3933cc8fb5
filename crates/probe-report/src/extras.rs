//! The per-layer extras of the alpha stage: k-means scores against the labels and a 2-D
//! embedding, both computed on the features the forest saw.

use probe_data::FeatureSet;

use crate::clustering::{cluster_layer, ClusteringScores, ValidClusteringParams};
use crate::embedding::{embed, ValidEmbeddingParams};
use crate::error::{Error, Result};
use crate::results::LayerEmbedding;

/// What [`layer_extras`] computed for one layer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LayerExtras {
    /// k-means (k = number of classes) against the labels.
    pub clustering: Option<ClusteringScores>,
    /// The 2-D embedding of a seeded subsample.
    pub embedding: Option<LayerEmbedding>,
    /// Why an extra that was asked for is missing (a layer too small to embed), one line
    /// each, for the caller to show; the layer's alpha does not depend on its extras.
    pub notes: Vec<String>,
}

/// Clusters and/or embeds one feature set (nothing is read when neither is asked for).
///
/// A layer with too few points for the embedding gets no embedding and a note instead of
/// an error, so that an extra never costs a layer its alpha.
pub fn layer_extras(
    set: &FeatureSet,
    clustering: Option<&ValidClusteringParams>,
    embedding: Option<&ValidEmbeddingParams>,
) -> Result<LayerExtras> {
    if clustering.is_none() && embedding.is_none() {
        return Ok(LayerExtras::default());
    }
    let (n, d) = (set.n_samples(), set.n_features());
    let mut points = vec![0f32; n * d];
    set.read_rows_f32(0, &mut points);
    let labels = set.labels();
    let mut notes = Vec::new();
    let embedding = match embedding.map(|p| embed(&points, n, d, labels, &set.layer(), p)) {
        Some(Err(e @ Error::TooFewPoints { .. })) => {
            notes.push(format!("{}: no embedding: {e}", set.layer()));
            None
        }
        other => other.transpose()?,
    };
    Ok(LayerExtras {
        clustering: clustering
            .map(|p| cluster_layer(&points, n, d, labels, p))
            .transpose()?,
        embedding,
        notes,
    })
}
