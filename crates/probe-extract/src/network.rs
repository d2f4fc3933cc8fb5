//! The network an extraction runs: a built-in architecture with its weights, or an ONNX graph
//! (feature `onnx`), behind one tapping interface; and the list of its taps with their shapes.

use std::path::PathBuf;

use candle_core::Device;
use probe_datasets::{Dataset, DatasetKind, Env, Normalization, NormalizationKind};
use probe_models::{resolve_weights, Model, ModelConfig, Tapped};

use crate::config::ExtractConfig;
use crate::error::{Error, Result};
use crate::forward::check_layers;

/// A model whose layers can be tapped.
pub(crate) enum Network {
    /// One of probe-models' architectures (boxed: it is far larger than the ONNX handle).
    Builtin(Box<Model>),
    /// An ONNX graph.
    #[cfg(feature = "onnx")]
    Onnx(probe_models::OnnxModel),
}

impl Network {
    /// The model of `config`, on `device`, for data of `classes` classes.
    pub(crate) fn load(
        config: &ExtractConfig,
        env: &Env,
        arch: &str,
        classes: usize,
        device: &Device,
    ) -> Result<Network> {
        let m = &config.model;
        if m.is_onnx() {
            return load_onnx(config, device);
        }
        let model_config = ModelConfig::for_env(env, arch, classes)?;
        Ok(Network::Builtin(Box::new(if m.weights == "random" {
            Model::fresh(arch, &model_config, device, Some(m.seed))?.0
        } else {
            let path = resolve_weights(&m.weights)?;
            Model::from_weights(arch, &model_config, &path, device)?.0
        })))
    }

    /// The model as taps.
    pub(crate) fn tapped(&self) -> &(dyn Tapped + Sync) {
        match self {
            Network::Builtin(m) => m.as_ref(),
            #[cfg(feature = "onnx")]
            Network::Onnx(m) => m,
        }
    }

    /// Every requested layer exists (an ONNX graph names the closest values when one does
    /// not).
    pub(crate) fn check_layers(&self, layers: &[String]) -> Result<()> {
        match self {
            Network::Builtin(m) => check_layers(m, layers),
            #[cfg(feature = "onnx")]
            Network::Onnx(m) => Ok(m.check_taps(layers)?),
        }
    }
}

#[cfg(feature = "onnx")]
fn load_onnx(config: &ExtractConfig, device: &Device) -> Result<Network> {
    let m = &config.model;
    let input = probe_models::OnnxInput {
        name: m.input_name.clone(),
        channels_last: m.layout.as_deref() == Some("nhwc"),
    };
    let path = resolve_weights(m.source())?;
    Ok(Network::Onnx(probe_models::OnnxModel::load(
        &path, &input, device,
    )?))
}

#[cfg(not(feature = "onnx"))]
fn load_onnx(config: &ExtractConfig, _device: &Device) -> Result<Network> {
    Err(Error::Config {
        path: PathBuf::from(config.model.source()),
        reason: "an ONNX model needs a build with the `onnx` feature (see the README: \
                 ONNX models)"
            .into(),
    })
}

/// The layers of an extraction: the config's, or the environment's for a built-in model (an
/// ONNX graph's values have no default: they must be named).
pub fn resolve_layers(config: &ExtractConfig, env: &Env) -> Result<Vec<String>> {
    match (&config.layers, config.model.is_onnx()) {
        (None, true) => Err(Error::Config {
            path: PathBuf::from(config.model.source()),
            reason: "an ONNX model's layers must be named: set `layers` to values of its \
                     graph, as Netron shows them (probe-extract lists them with their shapes)"
                .into(),
        }),
        (layers, _) => Ok(layers.clone().unwrap_or_else(|| env.probe_layers.clone())),
    }
}

/// An ONNX config's layers, checked against its graph (read on the CPU) before any work.
pub fn check_onnx_layers(config: &ExtractConfig) -> Result<Vec<String>> {
    let env = Env::resolve(&config.model.env)?;
    let layers = resolve_layers(config, &env)?;
    load_onnx(config, &Device::Cpu)?.check_layers(&layers)?;
    Ok(layers)
}

/// The architecture name an extraction records: the config's or the environment's, or
/// `onnx`.
pub(crate) fn arch_name(config: &ExtractConfig, env: &Env) -> Result<String> {
    if config.model.is_onnx() {
        return Ok("onnx".into());
    }
    let arch = config
        .model
        .arch
        .clone()
        .unwrap_or_else(|| env.model.clone());
    arch.parse::<probe_models::Arch>()?;
    // Checked before the data is read.
    ModelConfig::from_env(env)?;
    Ok(arch)
}

/// The split the config asks for, normalised as the environment says or as `mean`/`std`
/// override (for models trained with another normalisation), subset to `limit`.
pub(crate) fn load_samples(config: &ExtractConfig, env: &Env) -> Result<Dataset> {
    let custom = config.model.mean.clone().zip(config.model.std.clone());
    let mut env = env.clone();
    if custom.is_some() {
        env.normalization = NormalizationKind::None;
    }
    let sets = env.load(config.dataset.data.as_deref(), 0.0, config.dataset.seed)?;
    let mut data = match config.dataset.split.as_str() {
        "test" => sets.test.ok_or_else(|| Error::Config {
            path: PathBuf::from("<config>"),
            reason: format!(
                "dataset.split = \"test\": the {} data has no test split; use \"train\"",
                env.name
            ),
        })?,
        _ => sets.train,
    };
    if let Some((mean, std)) = custom {
        let scale = match env.dataset {
            DatasetKind::Mnist | DatasetKind::Cifar10 => 1.0 / 255.0,
            DatasetKind::Synthetic => 1.0,
        };
        if mean.len() != data.channels() {
            return Err(Error::Config {
                path: PathBuf::from("<config>"),
                reason: format!(
                    "model.mean has {} values but the {} data has {} channel(s)",
                    mean.len(),
                    env.name,
                    data.channels()
                ),
            });
        }
        Normalization { scale, mean, std }.apply(&mut data)?;
    }
    Ok(match config.dataset.limit {
        Some(limit) => data.subset(limit, config.dataset.seed)?,
        None => data,
    })
}

/// Every tap of the config's model with its per-sample shape (one sample of the data run
/// through it), in the order the model computes them: `probe-extract --list-layers`.
pub fn list_layers(config: &ExtractConfig) -> Result<Vec<(String, Vec<usize>)>> {
    let env = Env::resolve(&config.model.env)?;
    let arch = arch_name(config, &env)?;
    let device = probe_models::device(&config.device)?;
    let mut one = config.clone();
    one.dataset.limit = Some(1);
    let data = load_samples(&one, &env)?;
    let network = Network::load(config, &env, &arch, data.n_classes, &device)?;
    let (x, _) = probe_models::batch(&data, &[0], &device)?;
    let names = network.tapped().tap_names();
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    let taps = network.tapped().forward_taps(&x, &wanted)?;
    Ok(taps
        .into_iter()
        .map(|(name, t)| (name, t.dims()[1..].to_vec()))
        .collect())
}
