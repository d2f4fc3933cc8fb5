//! Devices by name, as the command lines and configs give them.

use candle_core::Device;

use crate::error::{Error, Result};

/// `cpu`, `cuda`, `cuda:N` or `metal`; CUDA and Metal need a build with that cargo feature.
pub fn device(name: &str) -> Result<Device> {
    let bad = |reason: String| Error::BadDevice { reason };
    let (kind, index) = match name.split_once(':') {
        Some((k, i)) => (
            k,
            i.parse::<usize>()
                .map_err(|_| bad(format!("`{name}`: `{i}` is not a device number")))?,
        ),
        None => (name, 0),
    };
    let first_line = |e: candle_core::Error| {
        e.to_string()
            .lines()
            .next()
            .unwrap_or("not available")
            .to_string()
    };
    match kind {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(index).map_err(|e| {
            bad(format!(
                "`{name}`: {}; this needs a build with `--features cuda` and a CUDA GPU",
                first_line(e)
            ))
        }),
        "metal" => Device::new_metal(index).map_err(|e| {
            bad(format!(
                "`{name}`: {}; this needs a build with `--features metal` on macOS",
                first_line(e)
            ))
        }),
        other => Err(bad(format!(
            "`{other}` is not a device; use cpu, cuda, cuda:N or metal"
        ))),
    }
}
