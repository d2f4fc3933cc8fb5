//! Seeded initialisation: candle cannot seed its CPU random generator, so this draws candle's
//! default initial weights from a seeded stream instead.

use candle_core::{Shape, Tensor};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::error::{Error, Result};
use crate::weights::lock;

/// Re-draws every variable of `varmap` from a stream seeded by `seed`, with candle-nn's
/// default initial distributions (biases as in PyTorch):
///
/// * weights of rank ≥ 2 (convolutions, linear layers): Kaiming normal for ReLU,
///   `N(0, 2 / fan_in)` with `fan_in` the product of all but the first dimension;
/// * biases of those layers: `U(−1/√fan_in, 1/√fan_in)` with the sibling weight's `fan_in`
///   (PyTorch's bound; candle's own conv init uses the input channels alone);
/// * BatchNorm (a module with `running_mean`): `weight` 1, `bias` 0, `running_mean` 0,
///   `running_var` 1.
///
/// Each tensor has its own ChaCha8 stream, selected by a hash of its name, so a tensor's
/// values depend only on `seed`, its name and its shape — not on the other tensors or the
/// device. Values are drawn in f32 on the CPU and then converted to the variable's dtype and
/// device.
pub fn init_seeded(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = lock(varmap);
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let (module, leaf) = match name.rsplit_once('.') {
            Some((m, l)) => (m, l),
            None => ("", name.as_str()),
        };
        let sibling = |leaf: &str| {
            if module.is_empty() {
                leaf.to_string()
            } else {
                format!("{module}.{leaf}")
            }
        };
        let is_bn = data.contains_key(&sibling("running_mean"));
        let dims = var.dims();
        let n = var.elem_count();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(fnv1a(name));
        let values: Vec<f32> = match leaf {
            "running_mean" => vec![0.0; n],
            "running_var" => vec![1.0; n],
            "weight" if is_bn => vec![1.0; n],
            "bias" if is_bn => vec![0.0; n],
            _ if dims.len() >= 2 => {
                let fan_in: usize = dims[1..].iter().product();
                let std = (2.0 / fan_in.max(1) as f64).sqrt() as f32;
                let normal = Normal::new(0.0f32, std).map_err(|e| Error::BadConfig {
                    model: "init",
                    field: "seed",
                    problem: format!("cannot build N(0, {std}) for `{name}`: {e}"),
                })?;
                (0..n).map(|_| normal.sample(&mut rng)).collect()
            }
            _ => {
                let fan_in = data
                    .get(&sibling("weight"))
                    .map(|w| w.dims()[1..].iter().product::<usize>())
                    .unwrap_or(n)
                    .max(1);
                let bound = (1.0 / (fan_in as f64).sqrt()) as f32;
                let uniform =
                    Uniform::new_inclusive(-bound, bound).map_err(|e| Error::BadConfig {
                        model: "init",
                        field: "seed",
                        problem: format!("cannot build U(±{bound}) for `{name}`: {e}"),
                    })?;
                (0..n).map(|_| uniform.sample(&mut rng)).collect()
            }
        };
        let ctx = format!("seeded init of `{name}`");
        let t = Tensor::from_vec(values, Shape::from(dims), &candle_core::Device::Cpu)
            .and_then(|t| t.to_dtype(var.dtype()))
            .and_then(|t| t.to_device(var.device()))
            .map_err(Error::candle(&ctx))?;
        var.set(&t).map_err(Error::candle(ctx))?;
    }
    Ok(())
}

/// 64-bit FNV-1a: a stable hash (unlike `DefaultHasher`, fixed across Rust releases).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
