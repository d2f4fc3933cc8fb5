//! Checkpoints: the weights as a PyTorch-named safetensors file with the run's facts in its
//! metadata, and the optimiser state beside it, both written atomically.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use probe_models::{load_weights, read_safetensors_metadata, save_safetensors};

use crate::error::{Error, Result};
use crate::optim::Optimizer;

/// The optimiser-state file that goes with a weights file: `last.safetensors` →
/// `last.optim.safetensors`.
pub fn optimizer_path(weights: &Path) -> PathBuf {
    weights.with_extension("optim.safetensors")
}

/// Writes `weights` (model parameters, PyTorch names, `metadata` in the header) and, when
/// given, the optimiser state beside it. Each file appears complete or not at all.
pub fn save_checkpoint(
    weights: &Path,
    varmap: &VarMap,
    optimizer: Option<&Optimizer>,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    if let Some(optimizer) = optimizer {
        // The optimiser state goes first: a checkpoint whose weights exist has its state.
        // Sorted by name and written through probe-data's atomic write: complete or absent,
        // synced, and the same bytes for the same state.
        let mut state: Vec<(String, Tensor)> = optimizer.state()?.into_iter().collect();
        state.sort_by(|a, b| a.0.cmp(&b.0));
        let bytes = safetensors::serialize(state.iter().map(|(n, t)| (n.as_str(), t)), None)
            .map_err(|e| Error::Io {
                path: optimizer_path(weights),
                source: std::io::Error::other(format!("cannot encode the optimiser state: {e}")),
            })?;
        probe_data::write_atomic(optimizer_path(weights), &bytes)?;
    }
    save_safetensors(varmap, weights, metadata)?;
    Ok(())
}

/// What a checkpoint records about its run.
#[derive(Debug, Clone)]
pub struct Resumed {
    /// The last complete epoch.
    pub epoch: usize,
    /// Best validation accuracy so far.
    pub best_val_accuracy: f64,
    /// The header metadata, as written.
    pub metadata: BTreeMap<String, String>,
}

/// Loads a checkpoint's weights into `varmap` and its optimiser state into `optimizer`,
/// checking that it was written for `arch`.
pub fn load_checkpoint(
    weights: &Path,
    arch: &str,
    varmap: &VarMap,
    optimizer: &mut Optimizer,
    device: &Device,
) -> Result<Resumed> {
    let bad = |detail: String| Error::Checkpoint {
        path: weights.to_path_buf(),
        detail,
    };
    let metadata = read_safetensors_metadata(weights)?;
    let field = |key: &str| {
        metadata.get(key).ok_or_else(|| {
            bad(format!(
                "its metadata has no `{key}`; was it written by probe-train?"
            ))
        })
    };
    let model = field("model")?;
    if model != arch {
        return Err(bad(format!("it holds a `{model}` model, not `{arch}`")));
    }
    let epoch: usize = field("epoch")?
        .parse()
        .map_err(|_| bad("its `epoch` is not a number".into()))?;
    let steps: u64 = field("steps")?
        .parse()
        .map_err(|_| bad("its `steps` is not a number".into()))?;
    let best_val_accuracy = metadata
        .get("best_val_accuracy")
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NEG_INFINITY);
    load_weights(varmap, weights)?;
    let state_path = optimizer_path(weights);
    if state_path.exists() {
        let state = candle_core::safetensors::load(&state_path, device)?;
        optimizer.restore(&state.into_iter().collect(), steps)?;
    } else {
        return Err(bad(format!(
            "the optimiser state {} is missing (only last.safetensors keeps it)",
            state_path.display()
        )));
    }
    Ok(Resumed {
        epoch,
        best_val_accuracy,
        metadata,
    })
}
