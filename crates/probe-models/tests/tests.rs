//! Integration tests of probe-models: one binary, one module per topic.

#[path = "suite/util.rs"]
mod util;

#[path = "suite/env.rs"]
mod env;
#[path = "suite/hub.rs"]
mod hub;
#[path = "suite/init.rs"]
mod init;
#[path = "suite/models.rs"]
mod models;
#[cfg(feature = "onnx")]
#[path = "suite/onnx.rs"]
mod onnx;
#[path = "suite/resnet.rs"]
mod resnet;
#[path = "suite/weights.rs"]
mod weights;
