//! Training end to end on the synthetic environment: accuracy, checkpoints, metrics, resume
//! and a clean stop.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use candle_core::Device;
use probe_datasets::{Env, EnvData};
use probe_models::{Model, ModelConfig};
use probe_train::{train_run, Quiet, RunSpec, TrainParams};

fn spec(env: &Env, out: &std::path::Path, epochs: usize) -> RunSpec {
    // The defaults: batch 32, Adam 1e-3, PyTorch's initialisation.
    let params = TrainParams {
        epochs,
        seed: 1,
        ..TrainParams::default()
    };
    let config = ModelConfig::for_env(env, &env.model, env.synthetic.classes).unwrap();
    RunSpec {
        save_every: Some(2),
        ..RunSpec::new(&env.name, &env.model, config, params, out)
    }
}

#[test]
fn synthetic_mlp_reaches_95_percent_validation_accuracy_quickly() {
    let env = Env::builtin("synthetic").unwrap();
    let data = env.load(None, 0.2, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(&env, dir.path(), 20);
    let (model, varmap) =
        Model::fresh(&spec.arch, &spec.model_config, &Device::Cpu, Some(1)).unwrap();
    let start = Instant::now();
    let summary = train_run(
        &spec,
        model,
        varmap,
        &data.train,
        &data.val,
        data.test.as_ref(),
        &Device::Cpu,
        &mut Quiet,
        &AtomicBool::new(false),
    )
    .unwrap();
    let last = summary.reports.last().unwrap();
    eprintln!(
        "synthetic: {} epochs in {:.1}s, val {:.3}, test {:?}",
        summary.reports.len(),
        start.elapsed().as_secs_f64(),
        last.val_accuracy,
        last.test_accuracy
    );
    assert!(
        last.val_accuracy >= 0.95,
        "validation accuracy {}",
        last.val_accuracy
    );
    assert!(dir.path().join("checkpoint/best.safetensors").exists());
    assert!(dir.path().join("checkpoint/epoch-002.safetensors").exists());
    let lines = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 20);
}

fn fresh(spec: &RunSpec) -> (Model, candle_nn::VarMap) {
    Model::fresh(&spec.arch, &spec.model_config, &Device::Cpu, Some(1)).unwrap()
}

fn small_env() -> (Env, EnvData) {
    let mut env = Env::builtin("synthetic").unwrap();
    env.synthetic.n_train = 1000;
    env.synthetic.n_test = 200;
    let data = env.load(None, 0.2, 3).unwrap();
    (env, data)
}

fn run(spec: &RunSpec, data: &EnvData, stop: &AtomicBool) -> probe_train::RunSummary {
    let (model, varmap) = fresh(spec);
    train_run(
        spec,
        model,
        varmap,
        &data.train,
        &data.val,
        data.test.as_ref(),
        &Device::Cpu,
        &mut Quiet,
        stop,
    )
    .unwrap()
}

#[test]
fn resuming_continues_the_same_run() {
    let (env, data) = small_env();
    let straight = tempfile::tempdir().unwrap();
    let s = spec(&env, straight.path(), 4);
    let full = run(&s, &data, &AtomicBool::new(false));

    let split = tempfile::tempdir().unwrap();
    let mut first = spec(&env, split.path(), 2);
    run(&first, &data, &AtomicBool::new(false));
    first.params.epochs = 4;
    first.resume = Some(split.path().join("checkpoint/last.safetensors"));
    let resumed = run(&first, &data, &AtomicBool::new(false));
    assert_eq!(resumed.resumed_from, 2);
    assert_eq!(resumed.reports.len(), 2);
    // Same batches, same optimiser state, same weights: the same numbers.
    for (a, b) in full.reports[2..].iter().zip(&resumed.reports) {
        assert_eq!(a.epoch, b.epoch);
        assert_eq!(a.train_loss, b.train_loss);
        assert_eq!(a.val_accuracy, b.val_accuracy);
    }
    // The same weights, tensor by tensor (header key order may differ).
    let load = |dir: &std::path::Path| {
        candle_core::safetensors::load(dir.join("checkpoint/last.safetensors"), &Device::Cpu)
            .unwrap()
    };
    let (a, b) = (load(straight.path()), load(split.path()));
    assert_eq!(a.len(), b.len());
    for (name, t) in &a {
        let (x, y) = (t.flatten_all().unwrap(), b[name].flatten_all().unwrap());
        assert!(
            x.to_vec1::<f32>().unwrap() == y.to_vec1::<f32>().unwrap(),
            "{name} differs"
        );
    }
    let lines = std::fs::read_to_string(split.path().join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 4);
    // The optimiser state is written atomically, sorted, without a header map: the same
    // state gives the same bytes, and no temporary is left beside it.
    let optim = |dir: &std::path::Path| {
        std::fs::read(dir.join("checkpoint/last.optim.safetensors")).unwrap()
    };
    assert_eq!(optim(straight.path()), optim(split.path()));
    for dir in [straight.path(), split.path()] {
        let names: Vec<String> = std::fs::read_dir(dir.join("checkpoint"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .all(|n| !n.starts_with('.') && !n.contains("tmp")),
            "{names:?}"
        );
    }
}

#[test]
fn a_stop_keeps_the_last_complete_checkpoint() {
    struct StopInEpoch2<'a>(&'a AtomicBool);
    impl probe_train::Observer for StopInEpoch2<'_> {
        fn batch(&mut self, done: usize, _total: usize) {
            if done == 3 && self.0.load(std::sync::atomic::Ordering::Relaxed) {
                unreachable!()
            }
        }
        fn epoch_end(&mut self, report: &probe_train::EpochReport) {
            if report.epoch == 1 {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    let (env, data) = small_env();
    let dir = tempfile::tempdir().unwrap();
    let s = spec(&env, dir.path(), 5);
    let stop = AtomicBool::new(false);
    let (model, varmap) = fresh(&s);
    let summary = train_run(
        &s,
        model,
        varmap,
        &data.train,
        &data.val,
        None,
        &Device::Cpu,
        &mut StopInEpoch2(&stop),
        &stop,
    )
    .unwrap();
    assert!(summary.interrupted);
    assert_eq!(summary.reports.len(), 1);
    let meta =
        probe_models::read_safetensors_metadata(&dir.path().join("checkpoint/last.safetensors"))
            .unwrap();
    assert_eq!(meta["epoch"], "1");
    assert_eq!(meta["env"], "synthetic");
    assert_eq!(meta["model"], "mlp");
    // No temporary files beside the checkpoints.
    for entry in std::fs::read_dir(dir.path().join("checkpoint")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(name.ends_with(".safetensors"), "left behind: {name}");
    }
}

#[test]
fn label_noise_is_applied_and_recorded() {
    let (env, data) = small_env();
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(&env, dir.path(), 1);
    s.label_noise = 0.4;
    let summary = run(&s, &data, &AtomicBool::new(false));
    // About 40% of 800 labels redrawn, 4 in 5 of them to another class.
    assert!(
        (200..=320).contains(&summary.noisy_labels),
        "{}",
        summary.noisy_labels
    );
    let meta =
        probe_models::read_safetensors_metadata(&dir.path().join("checkpoint/last.safetensors"))
            .unwrap();
    assert_eq!(meta["label_noise"], "0.4");
    assert_eq!(meta["noisy_labels"], summary.noisy_labels.to_string());
}

#[test]
fn bad_settings_are_named() {
    let (env, data) = small_env();
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(&env, dir.path(), 1);
    s.label_noise = 1.5;
    let (model, varmap) = fresh(&s);
    let e = train_run(
        &s,
        model,
        varmap,
        &data.train,
        &data.val,
        None,
        &Device::Cpu,
        &mut Quiet,
        &AtomicBool::new(false),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("label_noise"), "{e}");
    let p = TrainParams {
        batch_size: 0,
        ..Default::default()
    };
    assert!(p.check().unwrap_err().to_string().contains("batch_size"));
    assert!(Env::builtin("imagenet")
        .unwrap_err()
        .to_string()
        .contains("synthetic, mnist, cifar10"));
    let mut s = spec(&env, dir.path(), 3);
    s.resume = Some(dir.path().join("nope.safetensors"));
    let (model, varmap) = fresh(&s);
    assert!(train_run(
        &s,
        model,
        varmap,
        &data.train,
        &data.val,
        None,
        &Device::Cpu,
        &mut Quiet,
        &AtomicBool::new(false),
    )
    .is_err());
}
