//! Seeded initialisation: candle cannot seed its CPU random generator, so this draws the
//! initial weights from a seeded stream, with PyTorch's default distributions (or candle's).

use std::fmt;
use std::str::FromStr;

use candle_core::{Shape, Tensor};
use candle_nn::VarMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::Arch;
use crate::weights::lock;

/// How fresh weights are drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// PyTorch's defaults, as a PyTorch user's model starts: `nn.Linear` and `nn.Conv2d`
    /// weights `kaiming_uniform_(a=√5)`, i.e. `U(−1/√fan_in, 1/√fan_in)`, biases with the same
    /// bound; torchvision's ResNet-18 convolutions `kaiming_normal_(mode="fan_out",
    /// nonlinearity="relu")`, i.e. `N(0, 2/fan_out)`, its `fc` as `nn.Linear`.
    #[default]
    Pytorch,
    /// candle-nn's Kaiming normal `N(0, 2/fan_in)` for every weight (biases as PyTorch): six
    /// times PyTorch's variance for linear and plain conv layers.
    KaimingNormal,
}

impl Init {
    /// Every scheme's name, as parsed.
    pub const NAMES: [&'static str; 2] = ["pytorch", "kaiming-normal"];

    /// The scheme's name.
    pub fn name(self) -> &'static str {
        match self {
            Init::Pytorch => Self::NAMES[0],
            Init::KaimingNormal => Self::NAMES[1],
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Init {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "pytorch" => Ok(Init::Pytorch),
            "kaiming-normal" => Ok(Init::KaimingNormal),
            _ => Err(Error::BadConfig {
                model: "init",
                field: "init",
                problem: format!("unknown scheme `{s}`; expected pytorch or kaiming-normal"),
            }),
        }
    }
}

/// The distribution of one weight tensor (rank ≥ 2) under `init` in `arch`.
enum WeightLaw {
    Normal(f64),
    Uniform(f64),
}

fn weight_law(init: Init, arch: Arch, dims: &[usize]) -> WeightLaw {
    let fan_in: usize = dims[1..].iter().product::<usize>().max(1);
    match init {
        Init::KaimingNormal => WeightLaw::Normal((2.0 / fan_in as f64).sqrt()),
        // torchvision's ResNet re-initialises its convolutions (rank 4) only.
        Init::Pytorch if arch == Arch::ResNet18 && dims.len() == 4 => {
            let fan_out = (dims[0] * dims[2..].iter().product::<usize>()).max(1);
            WeightLaw::Normal((2.0 / fan_out as f64).sqrt())
        }
        Init::Pytorch => WeightLaw::Uniform(1.0 / (fan_in as f64).sqrt()),
    }
}

/// Re-draws every variable of `varmap` (a model of `arch`) from a stream seeded by `seed`,
/// with the distributions of `init` for weights of rank ≥ 2 (see [`Init`]) and, whatever the
/// scheme:
///
/// * biases: `U(−1/√fan_in, 1/√fan_in)` with the sibling weight's `fan_in` (PyTorch's);
/// * BatchNorm (a module with `running_mean`): `weight` 1, `bias` 0, `running_mean` 0,
///   `running_var` 1.
///
/// Each tensor has its own ChaCha8 stream, selected by a hash of its name, so a tensor's
/// values depend only on `seed`, its name and its shape — not on the other tensors or the
/// device. Values are drawn in f32 on the CPU and then converted to the variable's dtype and
/// device.
pub fn init_seeded(varmap: &VarMap, seed: u64, init: Init, arch: Arch) -> Result<()> {
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
                let bad = |e: String| Error::BadConfig {
                    model: "init",
                    field: "seed",
                    problem: format!("cannot draw `{name}`: {e}"),
                };
                match weight_law(init, arch, dims) {
                    WeightLaw::Normal(std) => {
                        let normal =
                            Normal::new(0.0f32, std as f32).map_err(|e| bad(e.to_string()))?;
                        (0..n).map(|_| normal.sample(&mut rng)).collect()
                    }
                    WeightLaw::Uniform(bound) => {
                        let bound = bound as f32;
                        let uniform = Uniform::new_inclusive(-bound, bound)
                            .map_err(|e| bad(e.to_string()))?;
                        (0..n).map(|_| uniform.sample(&mut rng)).collect()
                    }
                }
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
