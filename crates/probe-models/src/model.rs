//! The model registry: pick an architecture by name.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::cnn::{SmallCnn, SmallCnnConfig};
use crate::error::{Error, Result};
use crate::init::{init_seeded, Init};
use crate::mlp::{Mlp, MlpConfig};
use crate::resnet::{ResNet18, ResNet18Config};
use crate::taps::Tapped;
use crate::weights::load_weights;

/// The architecture names [`Model::build`] accepts.
pub const ARCHS: [&str; 3] = ["mlp", "cnn", "resnet18"];

/// One of the architectures of this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// [`Mlp`], named `mlp`.
    Mlp,
    /// [`SmallCnn`], named `cnn`.
    Cnn,
    /// [`ResNet18`], named `resnet18`.
    #[serde(rename = "resnet18")]
    ResNet18,
}

impl Arch {
    /// The architecture's name, as in [`ARCHS`].
    pub fn name(self) -> &'static str {
        match self {
            Arch::Mlp => ARCHS[0],
            Arch::Cnn => ARCHS[1],
            Arch::ResNet18 => ARCHS[2],
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mlp" => Ok(Arch::Mlp),
            "cnn" => Ok(Arch::Cnn),
            "resnet18" => Ok(Arch::ResNet18),
            _ => Err(Error::UnknownArch {
                name: s.to_string(),
                valid: ARCHS.map(String::from).into(),
            }),
        }
    }
}

/// The configs of every architecture; [`Model::build`] uses the one its `arch` names.
///
/// In TOML: `[model.resnet18]` `classes = 100`. Every field has a default; unknown fields
/// are an error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Used for `mlp`.
    pub mlp: MlpConfig,
    /// Used for `cnn`.
    pub cnn: SmallCnnConfig,
    /// Used for `resnet18`.
    pub resnet18: ResNet18Config,
}

impl ModelConfig {
    /// Sets the number of classes of every architecture.
    pub fn with_classes(mut self, classes: usize) -> Self {
        self.mlp.classes = classes;
        self.cnn.classes = classes;
        self.resnet18.classes = classes;
        self
    }
}

/// A model of one of the architectures in [`ARCHS`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Model {
    /// A multi-layer perceptron.
    Mlp(Mlp),
    /// The small MNIST CNN.
    Cnn(SmallCnn),
    /// ResNet-18 for CIFAR.
    ResNet18(ResNet18),
}

impl Model {
    /// Builds the architecture named `arch` (`mlp`, `cnn` or `resnet18`) with its config from
    /// `cfg`, taking its parameters from `vb` (PyTorch names, no prefix).
    ///
    /// An unknown `arch` is an [`Error::UnknownArch`] that lists the valid names.
    pub fn build(arch: &str, cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        Self::build_arch(arch.parse()?, cfg, vb)
    }

    /// [`Model::build`] for an already parsed [`Arch`].
    pub fn build_arch(arch: Arch, cfg: &ModelConfig, vb: VarBuilder) -> Result<Self> {
        Ok(match arch {
            Arch::Mlp => Model::Mlp(Mlp::new(&cfg.mlp, vb)?),
            Arch::Cnn => Model::Cnn(SmallCnn::new(&cfg.cnn, vb)?),
            Arch::ResNet18 => Model::ResNet18(ResNet18::new(&cfg.resnet18, vb)?),
        })
    }

    /// Builds a freshly initialised f32 model whose parameters live in the returned
    /// [`VarMap`] (hand `varmap.all_vars()`, or [`crate::trainable_vars`], to an optimiser).
    ///
    /// With `seed = None` the weights come from candle's default initialisers (Kaiming
    /// normal for weights, small uniform biases, 1/0 for BatchNorm), drawn from an unseeded
    /// RNG: candle cannot seed its CPU generator (`Device::set_seed` fails on CPU; it works
    /// on CUDA and Metal, but this crate does not rely on it).
    /// With `Some(seed)` the same distributions ([`Init::KaimingNormal`]) are drawn by
    /// [`crate::init_seeded`] from a seeded ChaCha8 stream, so the weights are identical on
    /// every run and device. Training starts from [`Model::seeded`] with PyTorch's defaults.
    pub fn fresh(
        arch: &str,
        cfg: &ModelConfig,
        device: &Device,
        seed: Option<u64>,
    ) -> Result<(Self, VarMap)> {
        if let Some(seed) = seed {
            return Self::seeded(arch, cfg, device, seed, Init::KaimingNormal);
        }
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let model = Self::build(arch, cfg, vb)?;
        Ok((model, varmap))
    }

    /// A freshly initialised f32 model with the weights drawn by `init` from `seed` (see
    /// [`crate::init_seeded`]): identical on every run and device.
    pub fn seeded(
        arch: &str,
        cfg: &ModelConfig,
        device: &Device,
        seed: u64,
        init: Init,
    ) -> Result<(Self, VarMap)> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let arch: Arch = arch.parse()?;
        let model = Self::build_arch(arch, cfg, vb)?;
        init_seeded(&varmap, seed, init, arch)?;
        Ok((model, varmap))
    }

    /// Builds an f32 model and loads its weights from a `.safetensors` or PyTorch
    /// `.pt`/`.pth`/`.bin` state_dict (see [`crate::load_weights`]): every parameter and
    /// BatchNorm buffer must be in the file with the model's shape.
    pub fn from_weights(
        arch: &str,
        cfg: &ModelConfig,
        path: &Path,
        device: &Device,
    ) -> Result<(Self, VarMap)> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let model = Self::build(arch, cfg, vb)?;
        load_weights(&varmap, path)?;
        Ok((model, varmap))
    }

    /// The model's architecture.
    pub fn arch(&self) -> Arch {
        match self {
            Model::Mlp(_) => Arch::Mlp,
            Model::Cnn(_) => Arch::Cnn,
            Model::ResNet18(_) => Arch::ResNet18,
        }
    }

    fn inner(&self) -> &dyn Tapped {
        match self {
            Model::Mlp(m) => m,
            Model::Cnn(m) => m,
            Model::ResNet18(m) => m,
        }
    }
}

impl Tapped for Model {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.inner().forward_t(x, train)
    }

    fn forward_with_taps(
        &self,
        x: &Tensor,
        taps: &[&str],
        train: bool,
    ) -> Result<(Tensor, Vec<(String, Tensor)>)> {
        self.inner().forward_with_taps(x, taps, train)
    }

    fn tap_names(&self) -> Vec<String> {
        self.inner().tap_names()
    }
}
