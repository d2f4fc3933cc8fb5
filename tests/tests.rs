//! The workspace's integration tests, as one binary (ripgrep's layout): golden files,
//! the paper's effect, determinism, and every command-line failure mode.

mod alpha_cli;
mod bad_input;
mod extract;
mod fidelity;
mod golden;
mod hostile;
mod onnx;
mod reduce_cli;
mod repeats;
mod run;
mod sweep;
mod train;
mod util;
