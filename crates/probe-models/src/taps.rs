//! Named taps: the outputs of submodules, by PyTorch module path, from one forward pass.

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// A model whose intermediate outputs can be read by their PyTorch module paths.
///
/// Tap names are the paths that `model.named_modules()` gives in PyTorch for the equivalent
/// module (`conv1`, `layer1.0.conv1`, `layer1.0`, `avgpool`, `fc1`, …), plus `input` for the
/// raw input batch. A tap's tensor is exactly what a forward hook on that submodule would see
/// as its output, with the batch as the first dimension and PyTorch's shape (a convolutional
/// tap is `[n, c, h, w]`, `avgpool` is `[n, 512, 1, 1]`); flatten it with
/// `t.flatten_from(1)` to get one row per sample.
pub trait Tapped {
    /// Runs the model on a batch and returns the logits `[n, classes]`.
    ///
    /// `train` selects batch statistics (and updates the running statistics) in BatchNorm
    /// layers; models without BatchNorm ignore it.
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.forward_with_taps(x, &[], train)
            .map(|(logits, _)| logits)
    }

    /// Runs the model once and returns the logits and the output of every requested tap, in
    /// the order requested (a name asked for twice is returned twice).
    ///
    /// An unknown name is an [`Error::UnknownTap`] that lists the valid names; it is
    /// reported before any computation.
    fn forward_with_taps(
        &self,
        x: &Tensor,
        taps: &[&str],
        train: bool,
    ) -> Result<(Tensor, Vec<(String, Tensor)>)>;

    /// Every valid tap name, in the order the forward pass produces them.
    fn tap_names(&self) -> Vec<String>;

    /// The requested taps alone, in eval mode; a model may stop computing once it has them.
    fn forward_taps(&self, x: &Tensor, taps: &[&str]) -> Result<Vec<(String, Tensor)>> {
        self.forward_with_taps(x, taps, false).map(|(_, t)| t)
    }
}

/// Collects the requested taps during one forward pass.
pub(crate) struct TapRecorder<'a> {
    wanted: &'a [&'a str],
    found: Vec<Option<Tensor>>,
}

impl<'a> TapRecorder<'a> {
    /// Checks every wanted name against `valid`.
    pub(crate) fn new(
        model: &'static str,
        wanted: &'a [&'a str],
        valid: &[String],
    ) -> Result<Self> {
        if let Some(bad) = wanted.iter().find(|w| !valid.iter().any(|v| v == *w)) {
            return Err(Error::UnknownTap {
                model,
                name: (*bad).to_string(),
                valid: valid.to_vec(),
            });
        }
        Ok(Self {
            wanted,
            found: vec![None; wanted.len()],
        })
    }

    /// Whether `name` was asked for (an op feeding only unrequested taps may be fused away).
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.wanted.contains(&name)
    }

    /// Keeps `t` for every request of `name`.
    pub(crate) fn record(&mut self, name: &str, t: &Tensor) {
        for (w, slot) in self.wanted.iter().zip(self.found.iter_mut()) {
            if *w == name {
                *slot = Some(t.clone());
            }
        }
    }

    /// The recorded taps in request order.
    pub(crate) fn finish(self, model: &'static str) -> Result<Vec<(String, Tensor)>> {
        self.wanted
            .iter()
            .zip(self.found)
            .map(|(name, t)| match t {
                Some(t) => Ok(((*name).to_string(), t)),
                // Every valid name is recorded by the forward pass; reaching this is a bug.
                None => Err(Error::BadInput {
                    model,
                    problem: format!("tap `{name}` was not produced by the forward pass"),
                }),
            })
            .collect()
    }
}

/// Checks an input batch's dtype and device against the model's.
pub(crate) fn check_dtype_device(
    model: &'static str,
    x: &Tensor,
    dtype: DType,
    device: &Device,
) -> Result<()> {
    if x.dtype() != dtype {
        return Err(Error::BadInput {
            model,
            problem: format!(
                "input dtype is {:?} but the weights are {dtype:?}; convert the batch with \
                 to_dtype",
                x.dtype()
            ),
        });
    }
    if !x.device().same_device(device) {
        return Err(Error::BadInput {
            model,
            problem: format!(
                "input is on {:?} but the weights are on {device:?}; move the batch with \
                 to_device",
                x.device().location()
            ),
        });
    }
    Ok(())
}

/// Checks that `x` is `[n, c, h, w]` with the given channels (and size, where given).
pub(crate) fn check_image(
    model: &'static str,
    x: &Tensor,
    channels: usize,
    size: Option<usize>,
) -> Result<()> {
    let dims = x.dims();
    let ok = dims.len() == 4
        && dims[0] > 0
        && dims[1] == channels
        && size.is_none_or(|s| dims[2] == s && dims[3] == s)
        && dims[2] > 0
        && dims[3] > 0;
    if ok {
        return Ok(());
    }
    let want = match size {
        Some(s) => format!("[n, {channels}, {s}, {s}]"),
        None => format!("[n, {channels}, h, w]"),
    };
    Err(Error::BadInput {
        model,
        problem: format!("input has shape {dims:?} but the model expects {want}"),
    })
}
