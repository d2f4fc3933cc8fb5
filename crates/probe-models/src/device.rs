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
    // candle's own errors for these ("not compiled with cuda support") read like a fault.
    let not_built = |feature: &str| {
        bad(format!(
            "`{name}`: this build has no {} support (it was compiled without the `{feature}` \
             feature)",
            feature.to_uppercase()
        ))
    };
    match kind {
        "cpu" => Ok(Device::Cpu),
        "cuda" if !cfg!(feature = "cuda") => Err(not_built("cuda")),
        "metal" if !cfg!(feature = "metal") => Err(not_built("metal")),
        "cuda" => Device::new_cuda(index).map_err(|e| {
            bad(format!(
                "`{name}`: {} (is there a CUDA GPU with this number?)",
                first_line(e)
            ))
        }),
        "metal" => Device::new_metal(index).map_err(|e| {
            bad(format!(
                "`{name}`: {} (is there a Metal GPU with this number?)",
                first_line(e)
            ))
        }),
        other => Err(bad(format!(
            "`{other}` is not a device; use cpu, cuda, cuda:N or metal"
        ))),
    }
}
