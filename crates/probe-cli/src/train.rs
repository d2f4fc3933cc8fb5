//! `probe-train`: train a network of an environment, with per-epoch metrics and checkpoints.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use indicatif::ProgressBar;
use probe_models::Model;
use probe_train::{train_run, Env, EpochReport, Observer, OptimizerConfig, RunSpec, TrainParams};

use crate::output::{print_line, progress_bar};

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
    /// Continue from a checkpoint (OUT/checkpoint/last.safetensors).
    #[arg(long, value_name = "CHECKPOINT")]
    pub resume: Option<PathBuf>,
    /// cpu, cuda, cuda:N or metal (cuda and metal need a build with that feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
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

struct Printer {
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl Observer for Printer {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.bar = Some(progress_bar(
            batches as u64,
            format!("epoch {epoch}/{epochs}"),
            "batches",
            self.quiet,
        ));
    }

    fn batch(&mut self, done: usize, _total: usize) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
        }
    }

    fn epoch_end(&mut self, r: &EpochReport) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let test = r
            .test_accuracy
            .map(|t| format!("  test acc {:.2}%", 100.0 * t))
            .unwrap_or_default();
        print_line(&format!(
            "epoch {:>3}  train loss {:.4} acc {:.2}%  val loss {:.4} acc {:.2}%{test}  {:.0} samples/s  {:.1}s{}",
            r.epoch,
            r.train_loss,
            100.0 * r.train_accuracy,
            r.val_loss,
            100.0 * r.val_accuracy,
            r.samples_per_second,
            r.seconds,
            if r.best { "  *best" } else { "" }
        ));
    }
}

/// Runs `probe-train`.
pub fn run(args: &TrainArgs) -> anyhow::Result<bool> {
    let env = Env::resolve(&args.env)?;
    let arch = args.model.clone().unwrap_or_else(|| env.model.clone());
    // Checked before the data is read.
    arch.parse::<probe_models::Arch>()?;
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
    let params = TrainParams {
        epochs: args.epochs,
        batch_size: args.batch_size,
        optimizer,
        seed: args.seed,
    };
    params.check()?;
    if !(0.0..=1.0).contains(&args.label_noise) {
        anyhow::bail!(
            "--label-noise {}: must be in [0, 1] (the share of training labels to randomise)",
            args.label_noise
        );
    }
    let device = probe_train::device(&args.device)?;
    let data = env.load(args.data.as_deref(), args.val_split, args.seed)?;
    let train = match args.limit {
        Some(limit) => data.train.subset(limit, args.seed)?,
        None => data.train,
    };
    let model_config = env.model_config(&arch, train.n_classes);
    let (model, varmap) = Model::fresh(&arch, &model_config, &device, Some(args.seed))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-{arch}", env.name)));
    let spec = RunSpec {
        env: env.name.clone(),
        arch: arch.clone(),
        model_config,
        params,
        label_noise: args.label_noise,
        save_every: args.save_every,
        out_dir: out.clone(),
        resume: args.resume.clone(),
    };

    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    // A second Ctrl-C, or one before the handler is set, ends the process at once.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    print_line(&format!(
        "{} / {arch}: {} train, {} validation{} samples; writing {}",
        env.name,
        train.len(),
        data.val.len(),
        data.test
            .as_ref()
            .map(|t| format!(", {} test", t.len()))
            .unwrap_or_default(),
        out.display()
    ));
    let mut printer = Printer {
        bar: None,
        quiet: args.quiet,
    };
    let summary = train_run(
        &spec,
        model,
        varmap,
        &train,
        &data.val,
        data.test.as_ref(),
        &device,
        &mut printer,
        &stop,
    )?;
    if summary.interrupted {
        print_line(&format!(
            "stopped; the last complete epoch is in {} (resume with --resume)",
            out.join("checkpoint/last.safetensors").display()
        ));
    }
    Ok(true)
}
