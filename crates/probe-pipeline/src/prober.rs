//! Probing during training: chosen layers of the model as it trains, on one fixed subsample of
//! its training set, so that alpha can be followed epoch by epoch.

use candle_core::Device;
use probe_alpha::{flag_layers, Probe};
use probe_datasets::Dataset;
use probe_models::Model;
use probe_report::{EpochProbe, LayerResult};

use probe_extract::{check_layers, features_in_memory};

use crate::error::{Error, Result};

/// Probes layers of a model between epochs: the same seeded subsample of the training set
/// every time, the model in eval mode, one forward pass for all layers, then the probe on
/// each layer in turn.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use candle_core::Device;
/// use probe_alpha::{AlphaParams, Probe};
/// use probe_pipeline::EpochProber;
/// use probe_forest::{ForestParams, WaveletNorm};
///
/// let env = probe_datasets::Env::builtin("synthetic")?;
/// let data = env.load(None, 0.2, 0)?;
/// let config = probe_models::ModelConfig::for_env(&env, "mlp", data.train.n_classes)?;
/// let (model, _) = probe_models::Model::fresh("mlp", &config, &Device::Cpu, Some(0))?;
/// let probe = Probe::new(ForestParams::default(), AlphaParams::default(), WaveletNorm::Samples)?;
/// let layers = vec!["input".to_string(), "relu2".to_string()];
/// let prober = EpochProber::new(probe, &model, layers, &data.train, 2000, Device::Cpu)?;
/// // … train an epoch, then:
/// let probed = prober.run(&model, &data.train, 1, None, &|| {})?;
/// println!("{}", serde_json::to_string(&probed)?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct EpochProber {
    probe: Probe,
    layers: Vec<String>,
    rows: Vec<usize>,
    n_train: usize,
    device: Device,
}

/// Samples per forward pass of a probe.
const BATCH_SIZE: usize = 256;

impl EpochProber {
    /// Checks `layers` against `model`'s taps and draws the subsample: `max_samples` of the
    /// samples of `train` (all of them when it has fewer), chosen at random with the probe's
    /// forest seed and kept for every later probe, so that a layer that does not change with
    /// training (the input) scores the same every time. `max_samples` must be at least 2.
    pub fn new(
        probe: Probe,
        model: &Model,
        layers: Vec<String>,
        train: &Dataset,
        max_samples: usize,
        device: Device,
    ) -> Result<EpochProber> {
        check_layers(model, &layers)?;
        if layers.is_empty() {
            return Err(Error::Stage {
                stage: "probe",
                reason: "layers: name at least one layer to probe".into(),
            });
        }
        if max_samples < 2 {
            return Err(Error::Stage {
                stage: "probe",
                reason: format!("max_samples {max_samples}: the probe needs at least 2 samples"),
            });
        }
        let rows = train.subset_rows(max_samples, probe.forest().seed());
        Ok(EpochProber {
            probe,
            layers,
            rows,
            n_train: train.len(),
            device,
        })
    }

    /// The probed layers, in the order given.
    pub fn layers(&self) -> &[String] {
        &self.layers
    }

    /// The training samples probed (indices into the training set, increasing).
    pub fn rows(&self) -> &[usize] {
        &self.rows
    }

    /// The probe's settings.
    pub fn probe(&self) -> &Probe {
        &self.probe
    }

    /// Probes each layer of `model` on the subsample of `train` (the set given to
    /// [`EpochProber::new`]: the same samples, labels as trained on), calling `tree_done` as
    /// each tree finishes. `epoch` and `val_accuracy` are recorded as given. Layers are
    /// flagged as in `results.json` (alpha not above the band of the layer before).
    pub fn run(
        &self,
        model: &Model,
        train: &Dataset,
        epoch: usize,
        val_accuracy: Option<f64>,
        tree_done: &(dyn Fn() + Sync),
    ) -> Result<EpochProbe> {
        if train.len() != self.n_train {
            return Err(Error::Stage {
                stage: "probe",
                reason: format!(
                    "{} training samples, but the prober drew its subsample from {}",
                    train.len(),
                    self.n_train
                ),
            });
        }
        let sets = features_in_memory(
            model,
            train,
            &self.rows,
            &self.layers,
            BATCH_SIZE,
            &self.device,
        )?;
        let mut records = Vec::with_capacity(sets.len());
        // Each set is dropped once probed, so the probe's own copy of one layer at a time is
        // what is held beside the others.
        for set in sets {
            records.push(self.probe.run(&set, tree_done)?);
        }
        flag_layers(&mut records);
        Ok(EpochProbe {
            epoch,
            val_accuracy,
            layers: records
                .into_iter()
                .map(|record| LayerResult {
                    record,
                    clustering: None,
                })
                .collect(),
        })
    }
}
