//! Optimisers with PyTorch's update rules and state that can be saved in a checkpoint.
//!
//! candle-nn's `SGD` has no momentum and its `AdamW` keeps its moments private, so a resumed
//! run could not continue where it stopped; these keep their state as named tensors.

use std::collections::BTreeMap;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::adam_cpu::{self, AdamStep};
use crate::error::Result;

/// Which optimiser, with its settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// Adam (Kingma & Ba) as `torch.optim.Adam`: β = (0.9, 0.999), ε = 1e-8, L2 weight decay.
    Adam {
        /// Learning rate.
        lr: f64,
        /// L2 penalty added to the gradient.
        weight_decay: f64,
    },
    /// SGD with momentum as `torch.optim.SGD` (dampening 0, no Nesterov).
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum factor (0 for plain SGD).
        momentum: f64,
        /// L2 penalty added to the gradient.
        weight_decay: f64,
    },
}

impl OptimizerConfig {
    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            OptimizerConfig::Adam { lr, .. } | OptimizerConfig::Sgd { lr, .. } => lr,
        }
    }
}

/// An optimiser over named parameters; its state is a set of named tensors.
pub struct Optimizer {
    config: OptimizerConfig,
    params: Vec<(String, Var)>,
    /// First moments (Adam) or momentum buffers (SGD), by parameter name.
    first: BTreeMap<String, Tensor>,
    /// Second moments (Adam).
    second: BTreeMap<String, Tensor>,
    steps: u64,
}

impl Optimizer {
    /// An optimiser over the float parameters among `params` (sorted by name, so the update
    /// order never depends on a hash map).
    pub fn new(mut params: Vec<(String, Var)>, config: OptimizerConfig) -> Optimizer {
        params.retain(|(_, v)| v.dtype().is_float());
        params.sort_by(|a, b| a.0.cmp(&b.0));
        Optimizer {
            config,
            params,
            first: BTreeMap::new(),
            second: BTreeMap::new(),
            steps: 0,
        }
    }

    /// Number of steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One update from the gradients; parameters without a gradient (batch-norm running
    /// statistics, frozen layers) are left as they are.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let t = self.steps as i32;
        for (name, var) in &self.params {
            let Some(grad) = grads.get(var) else {
                continue;
            };
            match self.config {
                OptimizerConfig::Adam { lr, weight_decay } => {
                    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
                    let step = AdamStep {
                        lr,
                        beta1: b1,
                        beta2: b2,
                        eps,
                        weight_decay,
                        t,
                    };
                    let param = var.as_tensor();
                    if adam_cpu::applies(&[param, grad]) {
                        // Moments start at zero, as in PyTorch, and are updated in place.
                        let zeros = || param.zeros_like();
                        let m = match self.first.get(name) {
                            Some(m) if adam_cpu::applies(&[m]) => m.clone(),
                            Some(m) => m.contiguous()?.copy()?,
                            None => zeros()?,
                        };
                        let v = match self.second.get(name) {
                            Some(v) if adam_cpu::applies(&[v]) => v.clone(),
                            Some(v) => v.contiguous()?.copy()?,
                            None => zeros()?,
                        };
                        step.apply(param, grad, &m, &v)?;
                        self.first.insert(name.clone(), m);
                        self.second.insert(name.clone(), v);
                        continue;
                    }
                    let grad = with_decay(grad, var, weight_decay)?;
                    let m = match self.first.get(name) {
                        Some(m) => ((m * b1)? + (&grad * (1.0 - b1))?)?,
                        None => (&grad * (1.0 - b1))?,
                    };
                    let v = match self.second.get(name) {
                        Some(v) => ((v * b2)? + (grad.sqr()? * (1.0 - b2))?)?,
                        None => (grad.sqr()? * (1.0 - b2))?,
                    };
                    let m_hat = (&m / (1.0 - b1.powi(t)))?;
                    let v_hat = (&v / (1.0 - b2.powi(t)))?;
                    let update = (m_hat / (v_hat.sqrt()? + eps)?)?;
                    var.set(&var.sub(&(update * lr)?)?)?;
                    self.first.insert(name.clone(), m);
                    self.second.insert(name.clone(), v);
                }
                OptimizerConfig::Sgd {
                    lr,
                    momentum,
                    weight_decay,
                } => {
                    let grad = with_decay(grad, var, weight_decay)?;
                    let direction = if momentum > 0.0 {
                        let buf = match self.first.get(name) {
                            Some(b) => ((b * momentum)? + &grad)?,
                            None => grad,
                        };
                        self.first.insert(name.clone(), buf.clone());
                        buf
                    } else {
                        grad
                    };
                    var.set(&var.sub(&(direction * lr)?)?)?;
                }
            }
        }
        Ok(())
    }

    /// The state as named tensors (`optim.m.<param>`, `optim.v.<param>`) for a checkpoint:
    /// copies, since the next step updates the moments in place.
    pub fn state(&self) -> Result<Vec<(String, Tensor)>> {
        let first = self.first.iter().map(|(k, t)| (format!("optim.m.{k}"), t));
        let second = self.second.iter().map(|(k, t)| (format!("optim.v.{k}"), t));
        let copies = first.chain(second).map(|(k, t)| Ok((k, t.copy()?)));
        copies.collect()
    }

    /// Restores the state written by [`state`](Self::state) and the step count (copied, as
    /// the moments are then updated in place).
    pub fn restore(&mut self, tensors: &BTreeMap<String, Tensor>, steps: u64) -> Result<()> {
        self.steps = steps;
        for (key, t) in tensors {
            if let Some(name) = key.strip_prefix("optim.m.") {
                self.first.insert(name.to_string(), t.copy()?);
            } else if let Some(name) = key.strip_prefix("optim.v.") {
                self.second.insert(name.to_string(), t.copy()?);
            }
        }
        Ok(())
    }
}

fn with_decay(grad: &Tensor, var: &Var, weight_decay: f64) -> Result<Tensor> {
    Ok(if weight_decay > 0.0 {
        (grad + (var.as_tensor() * weight_decay)?)?
    } else {
        grad.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Minimises (x − 3)² from x = 0.
    fn descend(config: OptimizerConfig, steps: usize) -> f32 {
        let x = Var::new(&[0f32], &Device::Cpu).unwrap();
        let mut opt = Optimizer::new(vec![("x".into(), x.clone())], config);
        for _ in 0..steps {
            let loss = (x.as_tensor() - 3.0)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap();
            opt.step(&loss.backward().unwrap()).unwrap();
        }
        x.as_tensor().to_vec1::<f32>().unwrap()[0]
    }

    #[test]
    fn adam_and_sgd_converge_on_a_quadratic() {
        let adam = descend(
            OptimizerConfig::Adam {
                lr: 0.1,
                weight_decay: 0.0,
            },
            300,
        );
        assert!((adam - 3.0).abs() < 1e-2, "{adam}");
        let sgd = descend(
            OptimizerConfig::Sgd {
                lr: 0.05,
                momentum: 0.9,
                weight_decay: 0.0,
            },
            300,
        );
        assert!((sgd - 3.0).abs() < 1e-3, "{sgd}");
    }

    #[test]
    fn first_adam_step_moves_by_the_learning_rate() {
        // With bias correction the first step is lr · sign(grad).
        let x = descend(
            OptimizerConfig::Adam {
                lr: 0.01,
                weight_decay: 0.0,
            },
            1,
        );
        assert!((x - 0.01).abs() < 1e-6, "{x}");
    }

    #[test]
    fn restored_state_continues_the_same_trajectory() {
        let run = |split: Option<usize>| {
            let x = Var::new(&[0f32, 1.0], &Device::Cpu).unwrap();
            let config = OptimizerConfig::Adam {
                lr: 0.05,
                weight_decay: 0.01,
            };
            let mut opt = Optimizer::new(vec![("x".into(), x.clone())], config);
            for step in 0..20 {
                if split == Some(step) {
                    let state: BTreeMap<_, _> = opt.state().unwrap().into_iter().collect();
                    let steps = opt.steps();
                    opt = Optimizer::new(vec![("x".into(), x.clone())], config);
                    opt.restore(&state, steps).unwrap();
                }
                let loss = (x.as_tensor() - 3.0)
                    .unwrap()
                    .sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap();
                opt.step(&loss.backward().unwrap()).unwrap();
            }
            x.as_tensor().to_vec1::<f32>().unwrap()
        };
        assert_eq!(run(None), run(Some(7)));
    }
}
