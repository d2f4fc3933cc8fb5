//! `probe-train`: train a network of an environment, with per-epoch metrics and checkpoints.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use probe_alpha::{AlphaParams, Probe};
use probe_datasets::Env;
use probe_forest::{ForestParams, WaveletNorm};
use probe_pipeline::{Device, TrainJob, TrainProbe};
use probe_train::{OptimizerConfig, TrainParams};

use crate::output::{cancel_on_ctrl_c, Terminal};

/// Trains a network of a built-in environment (synthetic, mnist, cifar10) or of one described
/// in a TOML file, writing metrics.jsonl and safetensors checkpoints with PyTorch names.
#[derive(Debug, Parser)]
#[command(name = "probe-train", version)]
pub struct TrainArgs {
    /// Environment: synthetic, mnist, cifar10, or a .toml file (see configs/).
    #[arg(long, default_value = "synthetic")]
    pub env: String,
    /// Dataset folder (MNIST IDX files, CIFAR-10 binary batches); downloaded when absent.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Architecture: mlp, cnn or resnet18 (default: the environment's).
    #[arg(long)]
    pub model: Option<String>,
    /// Epochs in all (a resumed run continues up to this number).
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// Samples per step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Optimiser.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    pub optimizer: OptimizerKind,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Seed of the weights, the split, the label noise and the shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Initial weights: pytorch (PyTorch's default initialisation of each layer, as a
    /// PyTorch model starts) or kaiming-normal (candle's N(0, 2/fan_in)).
    #[arg(long, default_value_t = probe_models::Init::Pytorch, value_name = "INIT")]
    pub init: probe_models::Init,
    /// Share of training labels replaced by random ones, in [0, 1].
    #[arg(long, default_value_t = 0.0)]
    pub label_noise: f64,
    /// Share of the training set held out for validation.
    #[arg(long, default_value_t = 0.2)]
    pub val_split: f64,
    /// Use at most this many training samples (a seeded subset).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output folder (default runs/<env>-<model>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Also keep checkpoint/epoch-NNN.safetensors every N epochs.
    #[arg(long, value_name = "N")]
    pub save_every: Option<usize>,
    /// Continue from a checkpoint (default OUT/checkpoint/last.safetensors), trained with
    /// the same settings.
    #[arg(long, value_name = "CHECKPOINT", num_args = 0..=1)]
    pub resume: Option<Option<PathBuf>>,
    /// Start over even when OUT already holds a checkpoint.
    #[arg(long)]
    pub force: bool,
    /// cpu, cuda, cuda:N or metal (cuda and metal need a build with that feature).
    #[arg(long, default_value = "cpu")]
    pub device: Device,
    /// Probe layers of the training set every N epochs (and after the last), appending alpha
    /// per layer to OUT/probes.jsonl.
    #[arg(long, value_name = "N")]
    pub probe_every: Option<usize>,
    /// Layers probed by --probe-every, comma-separated (default: the environment's).
    #[arg(long, value_name = "LAYERS", value_delimiter = ',')]
    pub probe_layers: Option<Vec<String>>,
    /// Trees of the forest of --probe-every.
    #[arg(long, default_value_t = 5)]
    pub probe_trees: usize,
    /// Maximum depth of the trees of --probe-every.
    #[arg(long, default_value_t = 15)]
    pub probe_depth: usize,
    /// Training samples probed by --probe-every at most (a seeded subset, the same each time).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub probe_samples: usize,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The optimisers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerKind {
    /// Adam.
    Adam,
    /// SGD with momentum.
    Sgd,
}

/// Runs `probe-train`.
pub fn run(args: &TrainArgs) -> anyhow::Result<bool> {
    let env = Env::resolve(&args.env)?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => {
            let arch = args.model.clone().unwrap_or_else(|| env.model.clone());
            PathBuf::from("runs").join(format!("{}-{arch}", env.name))
        }
    };
    let optimizer = match args.optimizer {
        OptimizerKind::Adam => OptimizerConfig::Adam {
            lr: args.lr,
            weight_decay: args.weight_decay,
        },
        OptimizerKind::Sgd => OptimizerConfig::Sgd {
            lr: args.lr,
            momentum: args.momentum,
            weight_decay: args.weight_decay,
        },
    };
    let job = TrainJob {
        env: args.env.clone(),
        data: args.data.clone(),
        arch: args.model.clone(),
        params: TrainParams {
            epochs: args.epochs,
            batch_size: args.batch_size,
            optimizer,
            seed: args.seed,
            init: args.init,
        },
        label_noise: args.label_noise,
        val_split: args.val_split,
        limit: args.limit,
        resume: args
            .resume
            .clone()
            .map(|r| r.unwrap_or_else(|| out.join("checkpoint/last.safetensors"))),
        out,
        save_every: args.save_every,
        overwrite: args.force,
        device: args.device,
        probe: probe_settings(args)?,
    };
    let terminal = Terminal::new(args.quiet, false);
    match job.run(&terminal, &cancel_on_ctrl_c()) {
        Ok(_) => Ok(true),
        Err(e @ probe_pipeline::Error::ExistingCheckpoint { .. }) => {
            anyhow::bail!("{e} (--resume continues it, --force starts over)")
        }
        Err(probe_pipeline::Error::Invalid { name, reason }) => {
            anyhow::bail!("--{} {reason}", name.replace('_', "-"))
        }
        Err(e) => Err(e.into()),
    }
}

/// The probe of `--probe-every`, checked before the data is read (`None` without it).
fn probe_settings(args: &TrainArgs) -> anyhow::Result<Option<TrainProbe>> {
    let Some(every) = args.probe_every else {
        if args.probe_layers.is_some() {
            anyhow::bail!("--probe-layers needs --probe-every N (probe every N epochs)");
        }
        return Ok(None);
    };
    let forest = ForestParams::default()
        .n_trees(args.probe_trees)
        .max_depth(args.probe_depth);
    let probe = Probe::new(forest, AlphaParams::default(), WaveletNorm::Samples)
        .context("--probe-trees / --probe-depth")?;
    Ok(Some(TrainProbe {
        probe,
        layers: args.probe_layers.clone(),
        every,
        samples: args.probe_samples,
    }))
}
