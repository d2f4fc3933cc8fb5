//! The run config (`configs/*.toml`): typed sections for the model, training, dataset,
//! reduction and probe, every value checked before any work, errors naming file and line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use probe_forest::{MaxFeatures, Splitter, WaveletNorm};
use probe_models::Arch;
use probe_reduce::Method;
use probe_report::embedding::EmbeddingMethod;
use probe_train::{OptimizerConfig, TrainParams};
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{Error, Result};

/// Where models (and the reduction's products) run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// The CPU (the default).
    #[default]
    Cpu,
    /// CUDA GPU number N (a build with the `cuda` feature).
    Cuda(usize),
    /// Metal GPU number N (a build with the `metal` feature, on macOS).
    Metal(usize),
}

/// A device name that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a device; use cpu, cuda, cuda:N, metal or metal:N")]
pub struct ParseDeviceError(pub String);

impl FromStr for Device {
    type Err = ParseDeviceError;
    fn from_str(s: &str) -> std::result::Result<Device, ParseDeviceError> {
        let bad = || ParseDeviceError(s.to_string());
        let (kind, index) = match s.split_once(':') {
            Some((k, i)) => (k, i.parse::<usize>().map_err(|_| bad())?),
            None => (s, 0),
        };
        match kind {
            "cpu" if index == 0 => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(index)),
            "metal" => Ok(Device::Metal(index)),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
            Device::Metal(i) => write!(f, "metal:{i}"),
        }
    }
}

/// Which part of the dataset is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training set: what the probe is about.
    #[default]
    Train,
    /// The test set.
    Test,
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// The network: an environment, and weights unless the run trains them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// `synthetic`, `mnist`, `cifar10` or an environment .toml file.
    pub env: String,
    /// The architecture; default: the environment's.
    #[serde(default, deserialize_with = "parsed_opt")]
    pub arch: Option<Arch>,
    /// A weights file, `hf://…`, or `random`; default: the checkpoint `[train]` writes.
    #[serde(default)]
    pub weights: Option<String>,
    /// Seed of `random` weights.
    #[serde(default)]
    pub seed: u64,
    /// An ONNX model instead of a built-in architecture; `layers` name its graph's values.
    #[serde(default)]
    pub onnx: Option<String>,
    /// ONNX: the graph input fed with the dataset (default: its first).
    #[serde(default)]
    pub input_name: Option<String>,
    /// ONNX: `nchw` (the dataset's layout, the default) or `nhwc`.
    #[serde(default)]
    pub layout: Option<String>,
    /// Per-channel mean replacing the environment's normalisation (with `std`).
    #[serde(default)]
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation, with `mean`.
    #[serde(default)]
    pub std: Option<Vec<f32>>,
    /// A sweep: probe each of these weights files (a glob pattern or a list of files and
    /// patterns) into `ckpt-<stem>/` of the run, instead of one `weights`.
    #[serde(default)]
    pub checkpoints: Option<Checkpoints>,
}

/// The weights a sweep probes: one pattern, or a list of files and patterns.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Checkpoints {
    /// `"runs/x/checkpoint/epoch-*.safetensors"`.
    Pattern(String),
    /// `["a.safetensors", "b/*.safetensors"]`.
    List(Vec<String>),
}

impl Checkpoints {
    /// The files and patterns, in the order given.
    pub fn entries(&self) -> &[String] {
        match self {
            Checkpoints::Pattern(p) => std::slice::from_ref(p),
            Checkpoints::List(l) => l,
        }
    }
}

/// What a cluster job asks its scheduler for (`probe plan --slurm` / `--k8s`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// At most this many tasks per stage (each takes every N-th unit); default: one task per
    /// unit.
    pub shards: Option<usize>,
    /// CPU cores per task.
    pub cpus: usize,
    /// Memory per task, as the scheduler writes it (`16G`).
    pub mem: String,
    /// GPUs per extraction task (other stages ask for none).
    pub gpus: usize,
    /// Wall-time limit per task, `HH:MM:SS`.
    pub time: String,
    /// Slurm partition (default: the cluster's).
    pub partition: Option<String>,
    /// Kubernetes: the container image with `probe` on its PATH.
    pub image: String,
    /// Kubernetes: the persistent volume claim holding the working folder.
    pub volume: String,
    /// Kubernetes: where the volume is mounted; jobs run there (paths in the config are
    /// relative to it).
    pub workdir: String,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            shards: None,
            cpus: 4,
            mem: "16G".into(),
            gpus: 0,
            time: "04:00:00".into(),
            partition: None,
            image: "sparsity-probe:latest".into(),
            volume: "probe-work".into(),
            workdir: "/work".into(),
        }
    }
}

/// Training, when the run trains its own model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Epochs in all (at least 1).
    pub epochs: usize,
    /// Samples per step.
    #[serde(default = "default_train_batch")]
    pub batch_size: usize,
    /// Learning rate.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// SGD with momentum instead of Adam.
    #[serde(default)]
    pub sgd: bool,
    /// SGD momentum.
    #[serde(default = "default_momentum")]
    pub momentum: f64,
    /// L2 weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// Seed of the weights, the split, the label noise and the shuffling.
    #[serde(default)]
    pub seed: u64,
    /// How the weights are drawn: `pytorch` (PyTorch's defaults) or `kaiming-normal`.
    #[serde(default)]
    pub init: probe_models::Init,
    /// Share of training labels replaced by random ones, in [0, 1].
    #[serde(default)]
    pub label_noise: f64,
    /// Share of the training set held out for validation, in (0, 1).
    #[serde(default = "default_val_split")]
    pub val_split: f64,
    /// Probe the run's layers every this many epochs (and after the last) into
    /// `probes.jsonl`, with the `[probe]` settings.
    #[serde(default)]
    pub probe_every: Option<usize>,
    /// Training samples probed by `probe_every` (a seeded subset, the same each time).
    #[serde(default = "default_probe_samples")]
    pub probe_samples: usize,
    /// Also keep `checkpoint/epoch-NNN.safetensors` every this many epochs.
    #[serde(default)]
    pub save_every: Option<usize>,
}

impl TrainSection {
    /// The optimiser these settings ask for.
    pub fn optimizer(&self) -> OptimizerConfig {
        if self.sgd {
            OptimizerConfig::Sgd {
                lr: self.lr,
                momentum: self.momentum,
                weight_decay: self.weight_decay,
            }
        } else {
            OptimizerConfig::Adam {
                lr: self.lr,
                weight_decay: self.weight_decay,
            }
        }
    }

    /// The training loop's settings.
    pub fn params(&self) -> TrainParams {
        TrainParams {
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: self.optimizer(),
            seed: self.seed,
            init: self.init,
        }
    }
}

/// Which samples are probed.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetSection {
    /// Dataset folder (default: the environment's, or a download).
    pub data: Option<PathBuf>,
    /// `train` (the default) or `test`.
    pub split: Split,
    /// A seeded subset of at most this many samples (at least 2).
    pub limit: Option<usize>,
    /// Seed of the subset and of the synthetic task.
    pub seed: u64,
}

/// A reduction of each extracted layer wider than `dim` (to `features-reduced/`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReduceSection {
    /// `tsvd` (no centring, the original tool's) or `pca`.
    #[serde(default, deserialize_with = "parsed")]
    pub method: Method,
    /// Target dimension K (capped at the layer's samples when fewer).
    pub dim: usize,
}

/// The probe's settings (those of probe-alpha).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeSection {
    /// Trees per forest.
    pub trees: usize,
    /// Maximum depth.
    pub depth: usize,
    /// Candidate features per node: `sqrt`, `log2`, `all` or a number.
    #[serde(deserialize_with = "parsed")]
    pub max_features: MaxFeatures,
    /// `binned` or `exact`.
    #[serde(deserialize_with = "parsed")]
    pub splitter: Splitter,
    /// Forest seed (and the extras').
    pub seed: u64,
    /// ε₁ in degrees.
    pub epsilon: f64,
    /// `samples` or `volume`.
    #[serde(deserialize_with = "parsed")]
    pub norm: WaveletNorm,
    /// k-means against the labels per layer.
    pub clustering: bool,
    /// `umap` or `tsne`: a 2-D panel per layer in the report.
    #[serde(deserialize_with = "parsed_opt")]
    pub embedding: Option<EmbeddingMethod>,
    /// Points per embedding (a seeded subsample).
    pub embedding_points: usize,
    /// Forests per layer (seeds seed, seed + 1, …): with more than one, each record has the
    /// mean, a 95% interval and the alpha of every forest, and flags become a t-test.
    pub repeats: usize,
    /// With repeats: each forest also draws a stratified subsample of this fraction of the
    /// samples, so that the interval covers the data as well as the forest.
    pub resample: Option<f64>,
}

impl Default for ProbeSection {
    fn default() -> Self {
        ProbeSection {
            trees: 5,
            depth: 15,
            max_features: MaxFeatures::Sqrt,
            splitter: Splitter::Binned,
            seed: 2,
            epsilon: 0.1,
            norm: WaveletNorm::Samples,
            clustering: false,
            embedding: None,
            embedding_points: 2500,
            repeats: 1,
            resample: None,
        }
    }
}

impl ProbeSection {
    /// The checked probe (forest and estimator) of these settings.
    pub fn probe(&self) -> Result<probe_alpha::Probe> {
        Ok(probe_alpha::Probe::new(
            probe_forest::ForestParams::default()
                .n_trees(self.trees)
                .max_depth(self.depth)
                .max_features(self.max_features)
                .splitter(self.splitter)
                .seed(self.seed),
            probe_alpha::AlphaParams::default().epsilon(self.epsilon),
            self.norm,
        )?
        .with_repeats(self.repeats)
        .and_then(|probe| match self.resample {
            Some(fraction) => probe.with_resample(fraction),
            None => Ok(probe),
        })?)
    }

    /// The checked extras (clustering, embedding) of these settings.
    pub fn extras(&self) -> Result<crate::score::Extras> {
        crate::score::Extras::new(
            self.clustering,
            self.embedding,
            self.embedding_points,
            self.seed,
        )
    }
}

/// A whole run: `probe run CONFIG`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The run's name: its folder is `runs/NAME` unless `out` says otherwise.
    pub name: String,
    /// The run's folder.
    #[serde(default)]
    pub out: Option<PathBuf>,
    /// The network.
    pub model: ModelSection,
    /// Training, when the run trains its model.
    #[serde(default)]
    pub train: Option<TrainSection>,
    /// The samples.
    #[serde(default)]
    pub dataset: DatasetSection,
    /// Layers by PyTorch module path (plus `input`); default: the environment's.
    #[serde(default)]
    pub layers: Option<Vec<String>>,
    /// Samples per forward pass of the extraction.
    #[serde(default = "default_extract_batch")]
    pub batch_size: usize,
    /// Where models run.
    #[serde(default, deserialize_with = "parsed")]
    pub device: Device,
    /// Reduction of the extracted layers.
    #[serde(default)]
    pub reduce: Option<ReduceSection>,
    /// The probe.
    #[serde(default)]
    pub probe: ProbeSection,
    /// Resources of cluster jobs.
    #[serde(default)]
    pub cluster: ClusterSection,
    /// Where the config was read from (for messages); not a TOML field.
    #[serde(skip)]
    pub source: PathBuf,
    #[serde(skip)]
    text: String,
}

fn default_train_batch() -> usize {
    32
}
fn default_lr() -> f64 {
    1e-3
}
fn default_momentum() -> f64 {
    0.9
}
fn default_val_split() -> f64 {
    0.2
}
fn default_probe_samples() -> usize {
    2000
}
fn default_extract_batch() -> usize {
    256
}

/// A value given as a string (or a number) in TOML, read with the type's `FromStr`.
fn parsed<'de, D, T>(de: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(u64),
    }
    let text = match Raw::deserialize(de)? {
        Raw::Text(t) => t,
        Raw::Number(n) => n.to_string(),
    };
    text.parse().map_err(serde::de::Error::custom)
}

fn parsed_opt<'de, D, T>(de: D) -> std::result::Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    parsed(de).map(Some)
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl RunConfig {
    /// Reads and checks a run config.
    pub fn from_file(path: &Path) -> Result<RunConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            line: None,
            reason: format!("cannot read the run config: {e}"),
        })?;
        RunConfig::from_toml(&text, path)
    }

    /// Parses and checks a run config's text; `path` names it in messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<RunConfig> {
        let mut config: RunConfig = toml::from_str(text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            line: e.span().map(|s| line_at(text, s.start)),
            reason: e.message().replace('\n', " "),
        })?;
        config.source = path.to_path_buf();
        config.text = text.to_string();
        config.check()?;
        Ok(config)
    }

    /// The run's folder: `out`, or `runs/NAME`.
    pub fn run_dir(&self) -> PathBuf {
        self.out
            .clone()
            .unwrap_or_else(|| PathBuf::from("runs").join(&self.name))
    }

    /// An error about `field` (as `section.key`), with the line where the config sets it.
    pub fn invalid(&self, field: &str, reason: impl Into<String>) -> Error {
        Error::Config {
            path: self.source.clone(),
            line: self.line_of(field),
            reason: format!("{field}: {}", reason.into()),
        }
    }

    /// The line where `section.key` (or a top-level `key`) is set, when it is.
    fn line_of(&self, field: &str) -> Option<usize> {
        let (section, key) = field.rsplit_once('.').unwrap_or(("", field));
        let mut current = String::new();
        for (i, raw) in self.text.lines().enumerate() {
            let line = raw.trim();
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = name.trim().to_string();
                continue;
            }
            let key_here = line.split('=').next().unwrap_or("").trim();
            if current == section && key_here == key && line.contains('=') {
                return Some(i + 1);
            }
        }
        None
    }

    /// Checks what serde cannot: ranges, names, and settings that could only fail later.
    fn check(&self) -> Result<()> {
        let name_ok = !self.name.is_empty()
            && self.name != "."
            && self.name != ".."
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !name_ok {
            return Err(self.invalid(
                "name",
                format!(
                    "{:?} cannot name a folder under runs/: use letters, digits, '.', '_' \
                     and '-' (or set `out` for another place)",
                    self.name
                ),
            ));
        }
        if self.batch_size == 0 {
            return Err(self.invalid("batch_size", "must be at least 1"));
        }
        if self.layers.as_ref().is_some_and(|l| l.is_empty()) {
            return Err(self.invalid(
                "layers",
                "is empty: list at least one layer, or leave it out",
            ));
        }
        if let Some(limit) = self.dataset.limit {
            if limit < 2 {
                return Err(self.invalid(
                    "dataset.limit",
                    format!("{limit}: the probe needs at least 2 samples"),
                ));
            }
        }
        if let Some(r) = &self.reduce {
            if r.dim == 0 {
                return Err(self.invalid("reduce.dim", "must be at least 1"));
            }
        }
        if let Some(c) = &self.model.checkpoints {
            if self.model.weights.is_some() {
                return Err(self.invalid(
                    "model.checkpoints",
                    "and model.weights are both set; a sweep probes its checkpoints, so \
                     leave weights out",
                ));
            }
            if c.entries().is_empty() {
                return Err(self.invalid(
                    "model.checkpoints",
                    "is empty: name at least one weights file or pattern",
                ));
            }
        }
        if self.cluster.shards == Some(0) {
            return Err(self.invalid("cluster.shards", "must be at least 1"));
        }
        if self.cluster.cpus == 0 {
            return Err(self.invalid("cluster.cpus", "must be at least 1"));
        }
        // Both schedulers read it: Slurm as written, Kubernetes with an `i` (16G -> 16Gi).
        let mem = &self.cluster.mem;
        let digits = mem.trim_end_matches(['K', 'M', 'G', 'T']);
        let one_unit = mem.len() - digits.len() <= 1;
        if digits.is_empty() || !one_unit || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(self.invalid(
                "cluster.mem",
                format!("{mem:?} is not a memory size; write a whole number with K, M, G or T, e.g. \"16G\""),
            ));
        }
        if self.model.onnx.is_some()
            && (self.model.weights.is_some()
                || self.model.checkpoints.is_some()
                || self.train.is_some())
        {
            return Err(self.invalid(
                "model.onnx",
                "an ONNX model holds its weights: leave out weights, checkpoints and [train]",
            ));
        }
        if self.model.weights.is_none()
            && self.model.checkpoints.is_none()
            && self.model.onnx.is_none()
            && self.train.is_none()
        {
            return Err(self.invalid(
                "model.weights",
                "[model] has no weights and there is no [train] section; set model.weights \
                 (a file, hf://…, or \"random\"), model.checkpoints or model.onnx, or add \
                 [train]",
            ));
        }
        if let Some(t) = &self.train {
            self.check_train(t)?;
        }
        let p = &self.probe;
        if p.embedding.is_some() && p.embedding_points < 2 {
            return Err(self.invalid("probe.embedding_points", "must be at least 2"));
        }
        Ok(())
    }

    fn check_train(&self, t: &TrainSection) -> Result<()> {
        let ranges = crate::train::Ranges {
            params: &t.params(),
            label_noise: t.label_noise,
            val_split: t.val_split,
            limit: None,
            save_every: t.save_every,
            probe: t.probe_every.map(|every| (every, t.probe_samples)),
        };
        match crate::train::check_ranges(&ranges) {
            Err(Error::Invalid { name, reason }) => {
                Err(self.invalid(&format!("train.{name}"), reason))
            }
            other => other,
        }
    }
}
