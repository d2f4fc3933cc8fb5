//! The forward pass that extraction and probing share: a model in eval mode over chosen rows
//! of a dataset, batch by batch, with the requested taps; and the layers in memory.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor};
use probe_data::FeatureSet;
use probe_datasets::Dataset;
use probe_models::{batch, Model, Tapped};

use crate::error::{Error, Result};

/// Checks every layer name against the model's taps, before any work.
pub fn check_layers(model: &Model, layers: &[String]) -> Result<()> {
    let valid = model.tap_names();
    if let Some(bad) = layers.iter().find(|l| !valid.contains(l)) {
        return Err(Error::UnknownLayer {
            layer: bad.clone(),
            model: model.arch().name().to_string(),
            valid,
        });
    }
    Ok(())
}

/// The requested taps of one batch, by name, in request order.
pub(crate) type Taps = [(String, Tensor)];

/// Runs `model` in eval mode (BatchNorm reads its running statistics and leaves them alone)
/// over `rows` of `data`, `batch_size` rows at a time, and calls `each(chunk, taps)` with each
/// batch's rows and the requested taps, in request order.
pub(crate) fn forward_batches(
    model: &(dyn Tapped + Sync),
    data: &Dataset,
    rows: &[usize],
    layers: &[&str],
    batch_size: usize,
    device: &Device,
    each: &mut dyn FnMut(&[usize], &Taps) -> Result<()>,
) -> Result<()> {
    for chunk in rows.chunks(batch_size.max(1)) {
        let (x, _) = batch(data, chunk, device)?;
        let taps = model.forward_taps(&x, layers)?;
        each(chunk, &taps)?;
    }
    Ok(())
}

/// A tap's batch as row-major `f32` values, one row per sample.
pub(crate) fn tensor_rows(tensor: &Tensor) -> Result<Vec<f32>> {
    Ok(tensor
        .flatten_all()?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?)
}

/// `base` plus the layer's `layer` and `layer_index` (its position in the request).
pub(crate) fn layer_metadata(
    base: &BTreeMap<String, String>,
    index: usize,
    layer: &str,
) -> BTreeMap<String, String> {
    let mut m = base.clone();
    m.insert("layer".into(), layer.into());
    m.insert("layer_index".into(), index.to_string());
    m
}

/// Runs `model` in eval mode over the samples `rows` of `data` (indices below `data.len()`, in
/// the order given), `batch_size` at a time, and returns each of `layers` as an in-memory
/// feature set `[rows.len(), per-sample shape…]` with the samples' labels and metadata
/// `layer`, `layer_index` (position in `layers`) and `dataset`.
///
/// One forward pass serves every layer, so all of them are held in memory at once
/// (`rows.len()` × the layers' widths × 4 bytes); extract wide layers of many samples to
/// files with [`crate::extract`] instead. An unknown layer is an [`Error::UnknownLayer`]
/// listing the valid ones, reported before any computation.
pub fn features_in_memory(
    model: &Model,
    data: &Dataset,
    rows: &[usize],
    layers: &[String],
    batch_size: usize,
    device: &Device,
) -> Result<Vec<FeatureSet>> {
    check_layers(model, layers)?;
    if batch_size == 0 {
        return Err(Error::InvalidParameter {
            name: "batch_size",
            reason: "must be at least 1".into(),
        });
    }
    if let Some(bad) = rows.iter().find(|&&r| r >= data.len()) {
        return Err(Error::InvalidParameter {
            name: "rows",
            reason: format!("row {bad} is past the {} samples of the data", data.len()),
        });
    }
    let names: Vec<&str> = layers.iter().map(String::as_str).collect();
    let mut values: Vec<Vec<f32>> = vec![Vec::new(); layers.len()];
    let mut shapes: Vec<Vec<usize>> = vec![vec![rows.len()]; layers.len()];
    forward_batches(
        model,
        data,
        rows,
        &names,
        batch_size,
        device,
        &mut |_, taps| {
            for (i, (_, tensor)) in taps.iter().enumerate() {
                if shapes[i].len() == 1 {
                    shapes[i].extend_from_slice(&tensor.dims()[1..]);
                    let width: usize = shapes[i][1..].iter().product();
                    values[i].reserve_exact(rows.len() * width);
                }
                values[i].extend(tensor_rows(tensor)?);
            }
            Ok(())
        },
    )?;
    let labels: Vec<i64> = rows.iter().map(|&r| i64::from(data.labels[r])).collect();
    let base = BTreeMap::from([("dataset".to_string(), data.name.clone())]);
    let mut sets = Vec::with_capacity(layers.len());
    for (i, ((layer, values), shape)) in layers.iter().zip(values).zip(&shapes).enumerate() {
        let metadata = layer_metadata(&base, i, layer);
        sets.push(FeatureSet::from_f32(values, shape, &labels, metadata)?);
    }
    Ok(sets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_and_data() -> (Model, Dataset) {
        let data = Dataset::new(
            "toy",
            vec![4],
            2,
            (0..40).map(|v| v as f32 / 10.0).collect(),
            (0..10).map(|i| i % 2).collect(),
        )
        .unwrap();
        let mut config = probe_models::ModelConfig::default().with_classes(2);
        config.mlp.input_dim = 4;
        config.mlp.hidden = vec![8, 6];
        let (model, _) = Model::fresh("mlp", &config, &Device::Cpu, Some(0)).unwrap();
        (model, data)
    }

    #[test]
    fn in_memory_layers_are_the_taps_of_the_chosen_rows() {
        let (model, data) = model_and_data();
        let rows = [7, 1, 4];
        let layers = ["input".to_string(), "relu2".to_string()];
        let sets = features_in_memory(&model, &data, &rows, &layers, 2, &Device::Cpu).unwrap();
        let (x, _) = batch(&data, &rows, &Device::Cpu).unwrap();
        let (_, taps) = model.forward_with_taps(&x, &["relu2"], false).unwrap();
        let expected = tensor_rows(&taps[0].1).unwrap();
        let relu2 = &sets[1];
        assert_eq!((relu2.n_samples(), relu2.n_features()), (3, 6));
        let mut got = vec![0.0; 18];
        relu2.read_rows_f64(0, &mut got);
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - f64::from(*e)).abs() < 1e-6, "{g} vs {e}");
        }
        assert_eq!(
            (relu2.layer(), relu2.layer_index()),
            ("relu2".into(), Some(1))
        );
        let mut input = vec![0.0; 4];
        sets[0].read_rows_f64(1, &mut input);
        assert_eq!(input, [0.4, 0.5, 0.6, 0.7].map(|v: f32| f64::from(v)));
        assert_eq!(sets[0].labels().len(), 3);
    }

    #[test]
    fn an_unknown_layer_lists_the_valid_ones() {
        let (model, data) = model_and_data();
        let err = features_in_memory(&model, &data, &[0, 1], &["fc9".into()], 8, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("fc9") && err.contains("relu1"), "{err}");
    }
}
