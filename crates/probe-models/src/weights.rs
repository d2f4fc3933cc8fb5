//! Loading and saving a model's weights: `.safetensors`, PyTorch `.pt`/`.pth`, parameter counts.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

use candle_core::safetensors::Load;
use candle_core::{Device, Tensor, Var};
use candle_nn::VarMap;
use safetensors::SafeTensors;

use crate::error::{one_line, Error, Result};

/// Suffixes of BatchNorm buffers: state that is saved and loaded but not trained.
const BUFFER_SUFFIXES: [&str; 3] = ["running_mean", "running_var", "num_batches_tracked"];

/// Whether `name` is a BatchNorm buffer (`running_mean`, `running_var`,
/// `num_batches_tracked`) rather than a trainable parameter.
pub fn is_buffer(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    BUFFER_SUFFIXES.contains(&last)
}

pub(crate) fn lock(varmap: &VarMap) -> MutexGuard<'_, HashMap<String, Var>> {
    // A panic elsewhere while holding the lock leaves the map itself intact.
    varmap.data().lock().unwrap_or_else(|e| e.into_inner())
}

/// The trainable variables of `varmap` (everything but BatchNorm buffers), sorted by name.
///
/// Hand these to an optimiser; `varmap.all_vars()` also holds the running statistics, which
/// get no gradient.
pub fn trainable_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    let data = lock(varmap);
    let mut vars: Vec<(String, Var)> = data
        .iter()
        .filter(|(name, _)| !is_buffer(name))
        .map(|(name, var)| (name.clone(), var.clone()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// The number of trainable scalars in `varmap`: weights and biases of convolutions, linear
/// layers and BatchNorms, without the running statistics (PyTorch's
/// `sum(p.numel() for p in model.parameters())`).
pub fn parameter_count(varmap: &VarMap) -> usize {
    lock(varmap)
        .iter()
        .filter(|(name, _)| !is_buffer(name))
        .map(|(_, var)| var.elem_count())
        .sum()
}

/// Loads weights into the model's `varmap`, choosing the format by extension:
/// `.safetensors` ([`load_safetensors`]) or `.pt`/`.pth`/`.bin` ([`load_pth`]).
pub fn load_weights(varmap: &VarMap, path: &Path) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("safetensors") => load_safetensors(varmap, path),
        Some("pt" | "pth" | "bin") => load_pth(varmap, path, None),
        _ => Err(Error::UnknownFormat {
            path: path.to_path_buf(),
        }),
    }
}

/// Loads every variable of `varmap` from a `.safetensors` file, by PyTorch name.
///
/// Strict, like PyTorch's `load_state_dict`: a tensor the model has but the file lacks is
/// [`Error::MissingTensor`], another shape is [`Error::ShapeMismatch`] (both shapes named),
/// and tensors the model does not have are [`Error::UnexpectedTensors`] —
/// `num_batches_tracked` excepted. Nothing is changed unless every check passes. Tensors are
/// converted to the variables' dtype and device. A file whose names all start with
/// `module.` (saved from `nn.DataParallel`) is read without that prefix.
pub fn load_safetensors(varmap: &VarMap, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let shapes = st
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    assign(varmap, path, &shapes, |name, device| {
        st.tensor(name)
            .map_err(candle_core::Error::from)
            .and_then(|view| view.load(device))
    })
}

/// Keys under which training scripts commonly nest a state_dict in a PyTorch checkpoint.
const STATE_DICT_KEYS: [&str; 3] = ["state_dict", "model_state_dict", "model"];

/// Loads every variable of `varmap` from a PyTorch checkpoint written by `torch.save` (the
/// zip format of PyTorch ≥ 1.6), with the same checks as [`load_safetensors`].
///
/// `key` picks a state_dict nested in a dict (`torch.save({"state_dict": sd, …})`); with
/// `None` the top level is used, falling back to `state_dict`, `model_state_dict` and
/// `model` when it holds no tensors. Read with `candle_core::pickle`, which supports
/// contiguous f32/f64/f16/bf16/u8/i64 storages (not the legacy pre-1.6 format, nor whole
/// pickled modules from `torch.save(model)`).
pub fn load_pth(varmap: &VarMap, path: &Path, key: Option<&str>) -> Result<()> {
    if let Err(source) = std::fs::metadata(path) {
        return Err(Error::Read {
            path: path.to_path_buf(),
            source,
        });
    }
    let corrupt = |e: candle_core::Error| Error::Corrupt {
        path: path.to_path_buf(),
        detail: one_line(&e),
    };
    let mut pth = candle_core::pickle::PthTensors::new(path, key).map_err(corrupt)?;
    if key.is_none() && pth.tensor_infos().is_empty() {
        for k in STATE_DICT_KEYS {
            // A missing key is an error from candle; try the next one.
            if let Ok(nested) = candle_core::pickle::PthTensors::new(path, Some(k)) {
                if !nested.tensor_infos().is_empty() {
                    pth = nested;
                    break;
                }
            }
        }
    }
    let shapes = pth
        .tensor_infos()
        .iter()
        .map(|(name, info)| (name.clone(), info.layout.shape().dims().to_vec()))
        .collect();
    assign(varmap, path, &shapes, |name, device| {
        pth.get(name)?
            .ok_or_else(|| candle_core::Error::Msg(format!("tensor `{name}` vanished")))?
            .to_device(device)
    })
}

/// Checks `shapes` (the file's tensors) against `varmap`, then sets every variable from
/// `load`.
fn assign(
    varmap: &VarMap,
    path: &Path,
    shapes: &BTreeMap<String, Vec<usize>>,
    mut load: impl FnMut(&str, &Device) -> candle_core::Result<Tensor>,
) -> Result<()> {
    let data = lock(varmap);
    let mut expected: Vec<(&String, &Var)> = data.iter().collect();
    expected.sort_by(|a, b| a.0.cmp(b.0));

    let none_match = !expected.iter().any(|(n, _)| shapes.contains_key(*n));
    let prefix =
        if none_match && !shapes.is_empty() && shapes.keys().all(|k| k.starts_with("module.")) {
            "module."
        } else {
            ""
        };

    let mut mismatched = Vec::new();
    let mut missing = Vec::new();
    for (name, var) in &expected {
        match shapes.get(&format!("{prefix}{name}")) {
            None => missing.push((*name, var.dims().to_vec())),
            Some(found) if found.as_slice() != var.dims() => {
                mismatched.push((*name, var.dims().to_vec(), found.clone()))
            }
            Some(_) => {}
        }
    }
    let unexpected: Vec<String> = shapes
        .keys()
        .map(|k| k.strip_prefix(prefix).unwrap_or(k))
        .filter(|k| !data.contains_key(*k) && !k.ends_with("num_batches_tracked"))
        .map(String::from)
        .collect();
    let problems = mismatched.len() + missing.len() + unexpected.len();
    let path_buf = || PathBuf::from(path);
    if let Some((name, expected, found)) = mismatched.into_iter().next() {
        return Err(Error::ShapeMismatch {
            path: path_buf(),
            tensor: name.clone(),
            expected,
            found,
            more: problems - 1,
        });
    }
    if let Some((name, expected)) = missing.into_iter().next() {
        return Err(Error::MissingTensor {
            path: path_buf(),
            tensor: name.clone(),
            expected,
            found: shapes.keys().take(5).cloned().collect(),
            n_found: shapes.len(),
            more: problems - 1,
        });
    }
    if !unexpected.is_empty() {
        return Err(Error::UnexpectedTensors {
            path: path_buf(),
            names: unexpected,
        });
    }

    for (name, var) in expected {
        let file_name = format!("{prefix}{name}");
        let set = load(&file_name, var.device())
            .and_then(|t| t.to_dtype(var.dtype()))
            .and_then(|t| var.set(&t));
        set.map_err(|e| Error::Corrupt {
            path: path_buf(),
            detail: format!("tensor `{file_name}`: {}", one_line(&e)),
        })?;
    }
    Ok(())
}

/// Writes every variable of `varmap` to a `.safetensors` file, by PyTorch name, with
/// `metadata` as the header's `__metadata__` string map.
///
/// The file is written to a temporary file in the same folder, synced, then renamed over
/// `path`, so readers never see half a file. (candle's `VarMap::save` takes no metadata and
/// writes in place, hence this function.) Tensors are stored in their own dtype; reload with
/// [`load_safetensors`], or in Python with `safetensors.torch.load_file` +
/// `model.load_state_dict(sd, strict=False)` (no `num_batches_tracked`).
pub fn save_safetensors(
    varmap: &VarMap,
    path: &Path,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let werr = |detail: String| Error::Write {
        path: path.to_path_buf(),
        detail,
    };
    let tensors: Vec<(String, Tensor)> = {
        let data = lock(varmap);
        let mut t: Vec<(String, Tensor)> = data
            .iter()
            .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
            .collect();
        t.sort_by(|a, b| a.0.cmp(&b.0));
        t
    };
    let meta: HashMap<String, String> = metadata.clone().into_iter().collect();
    let bytes = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), Some(meta))
        .map_err(|e| werr(format!("cannot serialise the tensors: {e}")))?;

    // probe-data's atomic write: its temporaries are locked while written, so that
    // `probe_data::remove_stale_temporaries` can clear those of a killed run.
    probe_data::write_atomic(path, &bytes).map_err(|e| match e {
        probe_data::Error::Write { source, .. } => werr(source.to_string()),
        other => werr(other.to_string()),
    })
}

/// The `__metadata__` string map of a `.safetensors` file's header (empty when it has none).
pub fn read_safetensors_metadata(path: &Path) -> Result<BTreeMap<String, String>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    Ok(meta
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect())
}
