//! `probe-train`: train a network of an environment, with per-epoch metrics and checkpoints.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use indicatif::ProgressBar;
use probe_alpha::{AlphaParams, Probe};
use probe_datasets::{Dataset, Env};
use probe_extract::EpochProber;
use probe_forest::{ForestParams, WaveletNorm};
use probe_models::{Model, ModelConfig};
use probe_train::{
    append_json_line, keep_epochs_up_to, train_run, EpochReport, Observer, ObserverError,
    OptimizerConfig, RunSpec, TrainParams,
};

use crate::output::{one_line, print_line, progress_bar};

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

struct Printer {
    bar: Option<ProgressBar>,
    quiet: bool,
    probing: Option<Probing>,
}

/// `--probe-every`: the prober, when it runs, and its log.
struct Probing {
    prober: EpochProber,
    every: usize,
    epochs: usize,
    /// `OUT/probes.jsonl`.
    log: PathBuf,
    /// Whether lines of epochs this invocation redoes have been dropped from the log.
    trimmed: bool,
}

impl Probing {
    /// Probes the model after epochs `every`, `2·every`, … and the last, appending the
    /// result to the log and printing one line.
    fn after_epoch(
        &mut self,
        report: &EpochReport,
        model: &Model,
        train: &Dataset,
        quiet: bool,
    ) -> anyhow::Result<()> {
        let epoch = report.epoch;
        if !self.trimmed {
            keep_epochs_up_to(&self.log, epoch - 1)?;
            self.trimmed = true;
        }
        if epoch % self.every != 0 && epoch != self.epochs {
            return Ok(());
        }
        let started = Instant::now();
        let trees = self.prober.layers().len() * self.prober.probe().forest().n_trees();
        let bar = progress_bar(trees as u64, format!("probe epoch {epoch}"), "trees", quiet);
        let probed = self
            .prober
            .run(model, train, epoch, Some(report.val_accuracy), &|| {
                bar.inc(1)
            });
        bar.finish_and_clear();
        let probed = probed?;
        append_json_line(&self.log, &probed)?;
        let alphas: Vec<String> = probed
            .layers
            .iter()
            .map(|l| format!("{} {:.2}", l.record.layer, l.record.alpha))
            .collect();
        print_line(&format!(
            "probe epoch {epoch}: {}  ({:.1}s)",
            alphas.join("  "),
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }
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

    fn epoch_model(
        &mut self,
        report: &EpochReport,
        model: &Model,
        train: &Dataset,
    ) -> Result<(), ObserverError> {
        match self.probing.as_mut() {
            Some(probing) => probing
                .after_epoch(report, model, train, self.quiet)
                .map_err(|e| one_line(&e).into()),
            None => Ok(()),
        }
    }
}

/// Runs `probe-train`.
pub fn run(args: &TrainArgs) -> anyhow::Result<bool> {
    let env = Env::resolve(&args.env)?;
    let arch = args.model.clone().unwrap_or_else(|| env.model.clone());
    // Checked before the data is read.
    arch.parse::<probe_models::Arch>()?;
    ModelConfig::from_env(&env)?;
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
    let probe = probe_settings(args)?;
    let device = probe_models::device(&args.device)?;
    let data = env.load(args.data.as_deref(), args.val_split, args.seed)?;
    let train = match args.limit {
        Some(limit) => data.train.subset(limit, args.seed)?,
        None => data.train,
    };
    let model_config = ModelConfig::for_env(&env, &arch, train.n_classes)?;
    let (model, varmap) = Model::fresh(&arch, &model_config, &device, Some(args.seed))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs").join(format!("{}-{arch}", env.name)));
    let probing = match (probe, args.probe_every) {
        (Some(probe), Some(every)) => {
            let layers = args
                .probe_layers
                .clone()
                .unwrap_or_else(|| env.probe_layers.clone());
            let prober = EpochProber::new(
                probe,
                &model,
                layers,
                &train,
                args.probe_samples,
                device.clone(),
            )
            .context("--probe-layers")?;
            Some(Probing {
                prober,
                every,
                epochs: args.epochs,
                log: out.join("probes.jsonl"),
                trimmed: false,
            })
        }
        _ => None,
    };
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
        probing,
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

/// The probe of `--probe-every`, checked before the data is read (`None` without it).
fn probe_settings(args: &TrainArgs) -> anyhow::Result<Option<Probe>> {
    let Some(every) = args.probe_every else {
        if args.probe_layers.is_some() {
            anyhow::bail!("--probe-layers needs --probe-every N (probe every N epochs)");
        }
        return Ok(None);
    };
    if every == 0 {
        anyhow::bail!("--probe-every 0: must be at least 1 (probe every N epochs)");
    }
    if args.probe_samples < 2 {
        anyhow::bail!(
            "--probe-samples {}: the probe needs at least 2 samples",
            args.probe_samples
        );
    }
    let forest = ForestParams::default()
        .n_trees(args.probe_trees)
        .max_depth(args.probe_depth);
    let probe = Probe::new(forest, AlphaParams::default(), WaveletNorm::Samples)
        .context("--probe-trees / --probe-depth")?;
    Ok(Some(probe))
}
