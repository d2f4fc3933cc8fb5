//! One epoch at a time: seeded shuffling, mini-batches, cross-entropy, the optimiser step,
//! and evaluation.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{DType, Device, Tensor, D};
use candle_nn::VarMap;
use probe_datasets::Dataset;
use probe_models::{batch, trainable_vars, Init, Model, Tapped};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::optim::{Optimizer, OptimizerConfig};

/// Settings of the loop, checked before any work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    /// Epochs to train (in all, counting those of a resumed run).
    pub epochs: usize,
    /// Samples per optimiser step. Default 32.
    pub batch_size: usize,
    /// Optimiser and learning rate. Default Adam, lr 1e-3.
    pub optimizer: OptimizerConfig,
    /// Seed of the shuffling (and of the weights, the split and the label noise upstream).
    pub seed: u64,
    /// How the weights were drawn before the first step (recorded in checkpoints). Default
    /// PyTorch's.
    pub init: Init,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 10,
            batch_size: 32,
            optimizer: OptimizerConfig::Adam {
                lr: 1e-3,
                weight_decay: 0.0,
            },
            seed: 0,
            init: Init::default(),
        }
    }
}

impl TrainParams {
    /// Checks each setting, naming the first one out of range.
    pub fn check(&self) -> Result<()> {
        let bad = |name, reason: String| Err(Error::InvalidParameter { name, reason });
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1".into());
        }
        let lr = self.optimizer.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return bad("lr", format!("{lr} is not a positive number"));
        }
        match self.optimizer {
            OptimizerConfig::Sgd {
                momentum,
                weight_decay,
                ..
            } => {
                if !(0.0..1.0).contains(&momentum) {
                    return bad("momentum", format!("{momentum} is outside [0, 1)"));
                }
                if !(weight_decay >= 0.0 && weight_decay.is_finite()) {
                    return bad("weight_decay", format!("{weight_decay} is negative"));
                }
            }
            OptimizerConfig::Adam { weight_decay, .. } => {
                if !(weight_decay >= 0.0 && weight_decay.is_finite()) {
                    return bad("weight_decay", format!("{weight_decay} is negative"));
                }
            }
        }
        Ok(())
    }
}

/// Loss and accuracy over a dataset.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Share of samples whose arg-max logit is the label.
    pub accuracy: f64,
}

/// A model, its parameters and its optimiser on one device.
pub struct Trainer {
    model: Model,
    varmap: VarMap,
    optimizer: Optimizer,
    device: Device,
    params: TrainParams,
}

/// Samples per forward pass when evaluating (no gradients are kept, so it can be large).
const EVAL_BATCH: usize = 500;

impl Trainer {
    /// Wraps a model whose parameters live in `varmap`.
    pub fn new(model: Model, varmap: VarMap, params: TrainParams, device: Device) -> Result<Self> {
        params.check()?;
        let optimizer = Optimizer::new(trainable_vars(&varmap), params.optimizer);
        Ok(Trainer {
            model,
            varmap,
            optimizer,
            device,
            params,
        })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The parameters.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The optimiser (its state goes into checkpoints).
    pub fn optimizer(&self) -> &Optimizer {
        &self.optimizer
    }

    /// The optimiser, to restore its state.
    pub fn optimizer_mut(&mut self) -> &mut Optimizer {
        &mut self.optimizer
    }

    /// The settings.
    pub fn params(&self) -> &TrainParams {
        &self.params
    }

    /// Trains one epoch (1-based `epoch`) over `data` in a shuffled order that depends only on
    /// the seed and the epoch, so a resumed run sees the same batches. Calls
    /// `on_batch(done, total)` after each step. Returns `None` if `stop` was set, in which
    /// case the epoch is incomplete and must not be checkpointed.
    pub fn train_epoch(
        &mut self,
        data: &Dataset,
        epoch: usize,
        stop: &AtomicBool,
        on_batch: &mut dyn FnMut(usize, usize),
    ) -> Result<Option<Score>> {
        let n = data.len();
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(self.params.seed);
        rng.set_stream(epoch as u64);
        order.shuffle(&mut rng);
        let batches = n.div_ceil(self.params.batch_size);
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for (b, chunk) in order.chunks(self.params.batch_size).enumerate() {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let (x, y) = batch(data, chunk, &self.device)?;
            let logits = self.model.forward_t(&x, true)?;
            let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
            let grads = loss.backward()?;
            self.optimizer.step(&grads)?;
            loss_sum += f64::from(loss.to_scalar::<f32>()?) * chunk.len() as f64;
            correct += count_correct(&logits, &y)?;
            on_batch(b + 1, batches);
        }
        Ok(Some(Score {
            loss: loss_sum / n as f64,
            accuracy: correct as f64 / n as f64,
        }))
    }

    /// Loss and accuracy on `data` in eval mode (BatchNorm running statistics).
    pub fn evaluate(&self, data: &Dataset) -> Result<Score> {
        evaluate(&self.model, data, &self.device)
    }
}

/// Loss and accuracy of a model on a dataset, in eval mode.
pub fn evaluate(model: &Model, data: &Dataset, device: &Device) -> Result<Score> {
    let n = data.len();
    if n == 0 {
        return Ok(Score {
            loss: f64::NAN,
            accuracy: f64::NAN,
        });
    }
    let order: Vec<usize> = (0..n).collect();
    let (mut loss_sum, mut correct) = (0.0f64, 0usize);
    for chunk in order.chunks(EVAL_BATCH) {
        let (x, y) = batch(data, chunk, device)?;
        let logits = model.forward_t(&x, false)?.detach();
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
        loss_sum += f64::from(loss.to_scalar::<f32>()?) * chunk.len() as f64;
        correct += count_correct(&logits, &y)?;
    }
    Ok(Score {
        loss: loss_sum / n as f64,
        accuracy: correct as f64 / n as f64,
    })
}

fn count_correct(logits: &Tensor, labels: &Tensor) -> Result<usize> {
    let predicted = logits.argmax(D::Minus1)?;
    let hits = predicted.eq(labels)?.to_dtype(DType::U32)?.sum_all()?;
    Ok(hits.to_scalar::<u32>()? as usize)
}
