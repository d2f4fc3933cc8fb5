//! Initial weights against PyTorch's formulas: for a fixed seed, every tensor of every
//! architecture has the mean, variance and bounds its layer type gets in PyTorch
//! (`nn.Linear`, `nn.Conv2d`, `nn.BatchNorm2d`, torchvision's ResNet-18), or candle's
//! Kaiming normal when asked.

use candle_core::Device;
use probe_models::{Init, Model, ModelConfig};

/// Mean, variance, min and max of a tensor's values.
fn stats(values: &[f32]) -> (f64, f64, f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let lo = values
        .iter()
        .fold(f64::INFINITY, |a, &v| a.min(f64::from(v)));
    let hi = values
        .iter()
        .fold(f64::NEG_INFINITY, |a, &v| a.max(f64::from(v)));
    (mean, var, lo, hi)
}

/// What PyTorch draws for one tensor.
enum Law {
    /// U(−b, b): variance b²/3.
    Uniform(f64),
    /// N(0, σ²).
    Normal(f64),
    Constant(f64),
}

fn pytorch_law(arch: &str, name: &str, dims: &[usize], fan_in_of_weight: usize) -> Law {
    let leaf = name.rsplit('.').next().unwrap();
    let is_bn = name.contains("bn") || name.contains("downsample.1");
    match leaf {
        "running_mean" => Law::Constant(0.0),
        "running_var" => Law::Constant(1.0),
        "num_batches_tracked" => Law::Constant(0.0),
        "weight" if is_bn => Law::Constant(1.0),
        "bias" if is_bn => Law::Constant(0.0),
        "weight" if arch == "resnet18" && dims.len() == 4 => {
            let fan_out: usize = dims[0] * dims[2..].iter().product::<usize>();
            Law::Normal((2.0 / fan_out as f64).sqrt())
        }
        "weight" => {
            let fan_in: usize = dims[1..].iter().product();
            Law::Uniform(1.0 / (fan_in as f64).sqrt())
        }
        "bias" => Law::Uniform(1.0 / (fan_in_of_weight as f64).sqrt()),
        _ => panic!("unexpected tensor {name}"),
    }
}

fn check(arch: &str, init: Init) -> usize {
    let cfg = ModelConfig::default();
    let (_, varmap) = Model::seeded(arch, &cfg, &Device::Cpu, 7, init).unwrap();
    let data = varmap.data().lock().unwrap();
    let mut checked = 0;
    for (name, var) in data.iter() {
        let dims = var.dims().to_vec();
        let values: Vec<f32> = var.flatten_all().unwrap().to_vec1().unwrap();
        let module = name.rsplit_once('.').map_or("", |(m, _)| m);
        let weight_fan_in = data
            .get(&format!("{module}.weight"))
            .map(|w| w.dims()[1..].iter().product::<usize>())
            .unwrap_or(1);
        let law = match init {
            Init::Pytorch => pytorch_law(arch, name, &dims, weight_fan_in),
            Init::KaimingNormal if dims.len() >= 2 => {
                Law::Normal((2.0 / dims[1..].iter().product::<usize>() as f64).sqrt())
            }
            Init::KaimingNormal => pytorch_law(arch, name, &dims, weight_fan_in),
        };
        let (mean, var, lo, hi) = stats(&values);
        let n = values.len() as f64;
        match law {
            Law::Constant(c) => {
                assert!(
                    lo == c && hi == c,
                    "{arch} {name}: want all {c}, got [{lo}, {hi}]"
                )
            }
            Law::Uniform(b) => {
                assert!(
                    lo >= -b - 1e-7 && hi <= b + 1e-7,
                    "{arch} {name}: values [{lo}, {hi}] outside ±{b}"
                );
                let want = b * b / 3.0;
                // The sample variance of n uniform draws has relative sd sqrt(0.8 / n).
                let tol = 5.0 * (0.8 / n).sqrt() * want;
                assert!(
                    (var - want).abs() <= tol,
                    "{arch} {name}: variance {var}, want {want}"
                );
                assert!(
                    mean.abs() <= 5.0 * (want / n).sqrt(),
                    "{arch} {name}: mean {mean}"
                );
                if n >= 1000.0 {
                    // Spread over the whole interval, not a narrower law.
                    assert!(
                        hi > 0.99 * b && lo < -0.99 * b,
                        "{arch} {name}: [{lo}, {hi}] vs ±{b}"
                    );
                }
            }
            Law::Normal(sd) => {
                let want = sd * sd;
                let tol = 5.0 * (2.0 / n).sqrt() * want;
                assert!(
                    (var - want).abs() <= tol,
                    "{arch} {name}: variance {var}, want {want}"
                );
                assert!(
                    mean.abs() <= 5.0 * sd / n.sqrt(),
                    "{arch} {name}: mean {mean}"
                );
            }
        }
        checked += 1;
    }
    checked
}

#[test]
fn pytorch_init_matches_pytorch_formulas_for_every_tensor_of_every_architecture() {
    assert_eq!(check("mlp", Init::Pytorch), 6);
    assert_eq!(check("cnn", Init::Pytorch), 8);
    // 20 convolutions and 20 BatchNorms (4 tensors each), fc weight and bias.
    assert!(check("resnet18", Init::Pytorch) >= 100);
}

#[test]
fn kaiming_normal_init_has_candles_variance() {
    assert_eq!(check("mlp", Init::KaimingNormal), 6);
    assert_eq!(check("cnn", Init::KaimingNormal), 8);
}

#[test]
fn pytorch_linear_weights_have_a_sixth_of_kaiming_normals_variance() {
    let var_of = |init| {
        let (_, varmap) =
            Model::seeded("mlp", &ModelConfig::default(), &Device::Cpu, 3, init).unwrap();
        let w: Vec<f32> = varmap.data().lock().unwrap()["fc1.weight"]
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        stats(&w).1
    };
    let ratio = var_of(Init::KaimingNormal) / var_of(Init::Pytorch);
    assert!((ratio - 6.0).abs() < 0.1, "variance ratio {ratio}");
}

#[test]
fn init_names_parse_and_print() {
    for name in Init::NAMES {
        assert_eq!(name.parse::<Init>().unwrap().to_string(), name);
    }
    assert!("xavier"
        .parse::<Init>()
        .unwrap_err()
        .to_string()
        .contains("pytorch or kaiming-normal"));
}
