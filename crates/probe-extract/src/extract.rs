//! One pass of a model over a dataset, every requested layer streamed to its own file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use probe_data::FeatureSet;
use probe_datasets::{Dataset, Env};
use probe_models::resolve_weights;
use probe_reduce::{reduce_set, Backend, Method, ReduceParams, Reduced};
use serde::{Deserialize, Serialize};

use crate::config::{ExtractConfig, ReduceSection};
use crate::error::{Error, Result};
use crate::forward::{forward_batches, layer_metadata, Taps};
use crate::network::{arch_name, load_samples, resolve_layers, Network};
use crate::writer::{self, LayerFiles};

/// What was written for one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerOutput {
    /// Position of the layer in the request (the file's `NN`).
    pub index: usize,
    /// The layer's module path.
    pub layer: String,
    /// The feature-set file.
    pub file: PathBuf,
    /// Per-sample shape, as PyTorch gives it (`[64, 16, 16]`).
    pub shape: Vec<usize>,
    /// Features per sample (the product of `shape`).
    pub width: usize,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// True when an existing complete file was kept.
    pub skipped: bool,
    /// The reduced file, when the config asks for a reduction.
    pub reduced: Option<PathBuf>,
    /// The width of the reduced file: the K asked for, or fewer when the layer has fewer
    /// samples (or is no wider than K).
    #[serde(default)]
    pub reduced_to: Option<usize>,
    /// Seconds spent on this layer's file (flattening, copying and writing its rows), beside
    /// the shared forward pass.
    pub seconds: f64,
}

/// A layer that could not be written (the others were).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerFailure {
    /// The layer.
    pub layer: String,
    /// The one-line error.
    pub error: String,
}

/// `OUT/features/manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `probe-extract`.
    pub tool: String,
    /// Version of the tool.
    pub version: String,
    /// Environment.
    pub env: String,
    /// Architecture.
    pub model: String,
    /// The weights as configured (`random` for the untrained baseline).
    pub weights: String,
    /// A hash of the weights file (`fnv1a64:…`), or `random:SEED`.
    pub weights_hash: String,
    /// A hash of the samples extracted, in order (inputs and labels as loaded: folder,
    /// split, subset and its seed all change it), so that files of other samples are never
    /// taken for complete.
    #[serde(default)]
    pub data_hash: String,
    /// The dataset's name.
    pub dataset: String,
    /// `train` or `test`.
    pub split: String,
    /// Samples.
    pub n: usize,
    /// One entry per layer, in the requested order.
    pub layers: Vec<LayerOutput>,
    /// Layers that failed.
    pub failures: Vec<LayerFailure>,
    /// Wall time of the forward pass (0 when every layer was already there).
    pub seconds: f64,
    /// Samples per second of the forward pass.
    pub images_per_second: f64,
}

/// Everything resolved from a config before any long work.
struct Plan {
    env: Env,
    arch: String,
    model: Network,
    data: Dataset,
    device: Device,
    weights_hash: String,
    data_hash: String,
    layers: Vec<String>,
    features: PathBuf,
}

fn plan(config: &ExtractConfig) -> Result<Plan> {
    let env = Env::resolve(&config.model.env)?;
    let arch = arch_name(config, &env)?;
    let device = probe_models::device(&config.device)?;
    let data = load_samples(config, &env)?;
    let data_hash = hash_samples(&data);
    let model = Network::load(config, &env, &arch, data.n_classes, &device)?;
    let weights_hash = weights_hash(config.model.source(), config.model.seed)?;
    let layers = resolve_layers(config, &env)?;
    model.check_layers(&layers)?;
    let features = config.out.join("features");
    std::fs::create_dir_all(&features).map_err(|source| Error::Io {
        path: features.clone(),
        source,
    })?;
    Ok(Plan {
        env,
        arch,
        model,
        data,
        device,
        weights_hash,
        data_hash,
        layers,
        features,
    })
}

/// The file of the `index`-th layer: `NN_<layer>.safetensors`, with characters that cannot
/// be in a file name (an ONNX value's `/`, `:`) as `_` (the file's metadata keeps the name).
pub fn layer_file(features: &Path, index: usize, layer: &str) -> PathBuf {
    let safe: String = layer
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = safe.trim_start_matches(['_', '.']);
    features.join(format!("{index:02}_{safe}.safetensors"))
}

/// Runs an extraction. Layers whose file is already complete for the same weights and data are
/// kept unless `force`. `progress(done, total)` is called after each batch.
pub fn extract(
    config: &ExtractConfig,
    force: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Manifest> {
    let plan = plan(config)?;
    // One extraction per folder at a time; what a killed one left behind goes first.
    let _lock = probe_data::RunLock::acquire(&plan.features, "probe-extract")?;
    for folder in [plan.features.clone(), config.out.join("features-reduced")] {
        if folder.is_dir() {
            probe_data::remove_stale_temporaries(&folder)?;
        }
    }
    let n = plan.data.len();
    let dataset = format!("{}:{}", plan.env.name, config.dataset.split);
    let metadata = BTreeMap::from([
        ("model".to_string(), plan.arch.clone()),
        ("env".to_string(), plan.env.name.clone()),
        ("weights".to_string(), config.model.source().to_string()),
        ("weights_hash".to_string(), plan.weights_hash.clone()),
        ("data_hash".to_string(), plan.data_hash.clone()),
        ("dataset".to_string(), dataset.clone()),
        ("split".to_string(), config.dataset.split.clone()),
        (
            "producer".to_string(),
            format!("probe-extract {}", env!("CARGO_PKG_VERSION")),
        ),
    ]);
    let files: Vec<PathBuf> = plan
        .layers
        .iter()
        .enumerate()
        .map(|(i, l)| layer_file(&plan.features, i, l))
        .collect();
    let todo: Vec<usize> = (0..plan.layers.len())
        .filter(|&i| force || !is_complete(&files[i], n, &plan.weights_hash, &plan.data_hash))
        .collect();

    let labels: Vec<i64> = plan.data.labels.iter().map(|&l| i64::from(l)).collect();
    let mut layer_seconds = vec![0.0f64; plan.layers.len()];
    let mut failures: Vec<LayerFailure> = Vec::new();
    let started = Instant::now();
    if !todo.is_empty() {
        let names: Vec<&str> = todo.iter().map(|&i| plan.layers[i].as_str()).collect();
        let sinks = LayerFiles {
            names: names.clone(),
            files: todo.iter().map(|&i| files[i].as_path()).collect(),
            metadata: todo
                .iter()
                .map(|&i| layer_metadata(&metadata, i, &plan.layers[i]))
                .collect(),
            labels: &labels,
        };
        let rows: Vec<usize> = (0..n).collect();
        let (model, data, device) = (plan.model.tapped(), &plan.data, &plan.device);
        let ((), written) = writer::write_while(&sinks, |send| {
            let mut done = 0;
            let each = &mut |chunk: &[usize], taps: &Taps| -> Result<()> {
                send(chunk[0], taps.iter().map(|(_, t)| t.clone()).collect());
                done += chunk.len();
                progress(done, n);
                Ok(())
            };
            forward_batches(model, data, &rows, &names, config.batch_size, device, each)
        })?;
        for (slot, &i) in todo.iter().enumerate() {
            layer_seconds[i] = written.seconds[slot];
        }
        failures = written.failures;
    }
    let seconds = if todo.is_empty() {
        0.0
    } else {
        started.elapsed().as_secs_f64()
    };

    let manifest_path = plan.features.join("manifest.json");
    // Timings of kept layers are those of the run that wrote them.
    let previous = read_manifest(&manifest_path)
        .filter(|m| m.weights_hash == plan.weights_hash && m.data_hash == plan.data_hash);
    let mut layers = Vec::new();
    for (i, layer) in plan.layers.iter().enumerate() {
        if failures.iter().any(|f| &f.layer == layer) {
            continue;
        }
        // The header is enough here: opening the set would map (and count against this
        // process's memory) the whole file.
        let Some(header) = read_header(&files[i]) else {
            failures.push(LayerFailure {
                layer: layer.clone(),
                error: format!("{} is not a readable feature set", files[i].display()),
            });
            continue;
        };
        let (reduced, reduced_to) = match &config.reduce {
            Some(r) => match reduce_layer(&config.out, &files[i], r, &config.device, force) {
                Ok((path, k)) => (Some(path), Some(k)),
                Err(e) => {
                    failures.push(LayerFailure {
                        layer: layer.clone(),
                        error: e.to_string(),
                    });
                    (None, None)
                }
            },
            None => (None, None),
        };
        let skipped = !todo.contains(&i);
        let seconds = match (&previous, skipped) {
            (Some(m), true) => m
                .layers
                .iter()
                .find(|l| &l.layer == layer)
                .map_or(0.0, |l| l.seconds),
            _ => layer_seconds[i],
        };
        layers.push(LayerOutput {
            index: i,
            layer: layer.clone(),
            file: files[i].clone(),
            width: header.shape.iter().product(),
            shape: header.shape,
            bytes: std::fs::metadata(&files[i]).map(|m| m.len()).unwrap_or(0),
            skipped,
            reduced,
            reduced_to,
            seconds,
        });
    }
    // A rerun that wrote nothing reports the pass that wrote the files.
    let (seconds, images_per_second) = match (&previous, todo.is_empty()) {
        (Some(m), true) => (m.seconds, m.images_per_second),
        _ if seconds > 0.0 => (seconds, n as f64 / seconds),
        _ => (0.0, 0.0),
    };
    let manifest = Manifest {
        tool: "probe-extract".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        env: plan.env.name.clone(),
        model: plan.arch.clone(),
        weights: config.model.source().to_string(),
        weights_hash: plan.weights_hash.clone(),
        data_hash: plan.data_hash.clone(),
        dataset,
        split: config.dataset.split.clone(),
        n,
        layers,
        failures,
        seconds,
        images_per_second,
    };
    write_manifest(&manifest_path, &manifest)?;
    Ok(manifest)
}

/// What the header of a feature-set file says.
struct Header {
    n: usize,
    /// Per-sample shape of `features`.
    shape: Vec<usize>,
    metadata: BTreeMap<String, String>,
}

/// Reads a safetensors header (8-byte length, JSON) without mapping the data, and checks that
/// the file is as long as the header says. Files appear only when complete (they are renamed
/// into place), so a readable header of the right length is a complete file.
fn read_header(file: &Path) -> Option<Header> {
    use std::io::Read;
    let mut f = std::fs::File::open(file).ok()?;
    let len = f.metadata().ok()?.len();
    let mut size = [0u8; 8];
    f.read_exact(&mut size).ok()?;
    let size = u64::from_le_bytes(size);
    if size > len.saturating_sub(8) || size > 100 << 20 {
        return None;
    }
    let mut json = vec![0u8; size as usize];
    f.read_exact(&mut json).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&json).ok()?;
    let features = header.get("features")?;
    let dims: Vec<usize> = features
        .get("shape")?
        .as_array()?
        .iter()
        .map(|d| d.as_u64().map(|d| d as usize))
        .collect::<Option<_>>()?;
    let end = header
        .as_object()?
        .values()
        .filter_map(|t| t.get("data_offsets")?.as_array()?.get(1)?.as_u64())
        .max()?;
    if 8 + size + end != len || dims.len() < 2 {
        return None;
    }
    let metadata = header
        .get("__metadata__")
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default();
    Some(Header {
        n: dims[0],
        shape: dims[1..].to_vec(),
        metadata,
    })
}

/// A file is complete when its header describes the same samples and weights.
fn is_complete(file: &Path, n: usize, weights_hash: &str, data_hash: &str) -> bool {
    read_header(file).is_some_and(|h| {
        h.n == n
            && h.metadata.get("weights_hash").map(String::as_str) == Some(weights_hash)
            && h.metadata.get("data_hash").map(String::as_str) == Some(data_hash)
    })
}

/// The manifest an earlier extraction wrote, if readable.
fn read_manifest(path: &Path) -> Option<Manifest> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The identity of the samples of an extraction: a 64-bit FNV-1a over the inputs' bits,
/// the labels and the per-sample shape, word by word (stable across versions and platforms,
/// and fast enough to run on every extraction).
fn hash_samples(data: &Dataset) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |word: u64| {
        h ^= word;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    data.shape.iter().for_each(|&s| mix(s as u64));
    data.inputs.iter().for_each(|x| mix(u64::from(x.to_bits())));
    data.labels.iter().for_each(|&l| mix(u64::from(l)));
    format!("samples:{h:016x}")
}

/// Reduces a written layer into `OUT/features-reduced/` (this maps the whole layer file).
/// Reduces one layer's file on the extraction's device: CUDA extraction reduces on the same
/// GPU, anything else on the CPU (faer).
fn reduce_layer(
    out: &Path,
    file: &Path,
    section: &ReduceSection,
    device: &str,
    force: bool,
) -> Result<(PathBuf, usize)> {
    let (method, dim) = (section.method.as_str(), section.dim);
    let set = FeatureSet::open(file)?;
    let folder = out.join("features-reduced");
    std::fs::create_dir_all(&folder).map_err(|source| Error::Io {
        path: folder.clone(),
        source,
    })?;
    let target = folder.join(file.file_name().unwrap_or_default());
    let tag = format!("{method}:{dim}");
    let current = FeatureSet::open(&target).ok().filter(|r| {
        let asked = r
            .metadata()
            .get("reduction_requested")
            .or(r.metadata().get("reduction"));
        r.n_samples() == set.n_samples()
            && r.metadata().get("weights_hash") == set.metadata().get("weights_hash")
            && r.metadata().get("data_hash") == set.metadata().get("data_hash")
            && (asked == Some(&tag)
                || (r.n_features() <= dim && r.n_features() == set.n_features()))
    });
    if let (Some(current), false) = (current, force) {
        return Ok((target, current.n_features()));
    }
    let method: Method = method.parse().map_err(|e| Error::Config {
        path: PathBuf::from("<config>"),
        reason: format!("{e}"),
    })?;
    let backend = if device.starts_with("cuda") {
        device.parse::<Backend>().unwrap_or(Backend::Cuda(0))
    } else {
        Backend::Cpu
    };
    let params = ReduceParams::new(dim)
        .method(method)
        .backend(backend)
        .check()?;
    let k = match reduce_set(&set, &params)? {
        Reduced::Reduced(reduced, stats) => {
            reduced.write(&target)?;
            stats.k
        }
        Reduced::Unchanged => {
            set.write(&target)?;
            set.n_features()
        }
    };
    Ok((target, k))
}

fn write_manifest(path: &Path, manifest: &Manifest) -> Result<()> {
    let json = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    Ok(probe_data::write_atomic(path, &json)?)
}

/// What a manifest and every layer file record as `weights_hash` for these weights:
/// `random:SEED`, or a hash of the weights file, so that a reader can tell whether features
/// are those of the weights it was asked for.
pub fn weights_hash(weights: &str, seed: u64) -> Result<String> {
    if weights == "random" {
        return Ok(format!("random:{seed}"));
    }
    hash_file(&resolve_weights(weights)?)
}

/// FNV-1a over the file's bytes: enough to tell two weight files apart, and fast.
fn hash_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Ok(format!("fnv1a64:{h:016x}"))
}
