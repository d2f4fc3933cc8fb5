//! Builds the networks whose layers the Sparsity Probe scores — an MLP, a small MNIST CNN and a
//! CIFAR ResNet-18 — as candle models with PyTorch parameter names, named taps on their
//! intermediate outputs, and weight loading from `.safetensors`, PyTorch `.pt`/`.pth` and the
//! Hugging Face hub.
//!
//! Every model is a plain struct with `new(&config, vb)` whose parameters are named through
//! `vb.pp(..)` exactly as in the equivalent PyTorch module (`conv1.weight`,
//! `layer2.0.downsample.1.running_var`, `fc.bias`, …), so a PyTorch `state_dict` loads as is.
//! The [`Tapped`] trait returns, from one forward pass, the outputs of submodules named by
//! their PyTorch module paths.
//!
//! [`ModelConfig::for_env`] fills a model's settings from a `probe_datasets::Env`, [`batch`]
//! turns dataset rows into tensors and [`device`] finds a candle device by name.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use probe_models::{parameter_count, save_safetensors, Model, ModelConfig, Tapped};
//!
//! # fn main() -> probe_models::Result<()> {
//! let device = Device::Cpu;
//! let cfg = ModelConfig::default(); // mlp: 784 → 256 → 128 → 10
//! let (model, varmap) = Model::fresh("mlp", &cfg, &device, Some(7))?;
//! assert_eq!(parameter_count(&varmap), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
//!
//! let x = Tensor::zeros((4, 1, 28, 28), DType::F32, &device).expect("batch");
//! let (logits, taps) = model.forward_with_taps(&x, &["fc1", "relu2"], false)?;
//! assert_eq!(logits.dims(), &[4, 10]);
//! assert_eq!(taps[0].0, "fc1");
//! assert_eq!(taps[1].1.dims(), &[4, 128]);
//!
//! let dir = tempfile::tempdir().expect("temp dir");
//! let path = dir.path().join("mlp.safetensors");
//! save_safetensors(&varmap, &path, &Default::default())?;
//! let (reloaded, _) = Model::from_weights("mlp", &cfg, &path, &device)?;
//! assert_eq!(reloaded.tap_names(), model.tap_names());
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod cnn;
mod device;
mod env;
mod error;
mod hub;
mod init;
mod mlp;
mod model;
#[cfg(feature = "onnx")]
mod onnx;
pub mod ops;
mod resnet;
mod taps;
mod weights;

pub use cnn::{SmallCnn, SmallCnnConfig};
pub use device::device;
pub use env::batch;
pub use error::{Error, Result};
pub use hub::{fetch_weights, resolve_weights, HubFile};
pub use init::{init_seeded, Init};
pub use mlp::{Mlp, MlpConfig};
pub use model::{Arch, Model, ModelConfig, ARCHS};
#[cfg(feature = "onnx")]
pub use onnx::{OnnxInput, OnnxModel};
pub use resnet::{adaptive_avg_pool_1x1, BasicBlock, MaxPool2d, ResNet18, ResNet18Config};
pub use taps::Tapped;
pub use weights::{
    is_buffer, load_pth, load_safetensors, load_weights, parameter_count,
    read_safetensors_metadata, save_safetensors, trainable_vars,
};
