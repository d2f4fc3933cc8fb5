//! Datasets in memory (inputs, labels, shape), their seeded splits, subsets and label noise,
//! and per-channel normalization.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use rand::seq::{index, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use probe_data::FeatureSet;

/// Which part of a dataset to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Split {
    /// The training set (MNIST `train-*`, CIFAR-10 `data_batch_1..5.bin`).
    Train,
    /// The test set (MNIST `t10k-*`, CIFAR-10 `test_batch.bin`).
    Test,
}

impl Split {
    /// The other split.
    pub fn other(self) -> Split {
        match self {
            Split::Train => Split::Test,
            Split::Test => Split::Train,
        }
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Split::Train => "train",
            Split::Test => "test",
        })
    }
}

/// A labelled dataset held in memory.
///
/// Sample `i` is `inputs[i * sample_len() .. (i + 1) * sample_len()]`, laid out row-major in
/// `shape` (channels first for images). Inputs keep the raw scale of their source: image
/// pixels are 0..=255 as `f32`, synthetic inputs are as generated; [`Normalization`] rescales
/// them. Fields are public for easy construction; [`Dataset::new`] checks that they agree, and
/// every method that could be misled by fields that disagree returns an error instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Short name, e.g. `mnist`, `cifar10`, `synthetic`.
    pub name: String,
    /// Per-sample shape: `[1, 28, 28]` (MNIST), `[3, 32, 32]` (CIFAR-10) or `[d]` (vectors).
    pub shape: Vec<usize>,
    /// Number of classes; labels are `0..n_classes`.
    pub n_classes: usize,
    /// `len() * sample_len()` input values, sample after sample.
    pub inputs: Vec<f32>,
    /// One class id per sample.
    pub labels: Vec<u32>,
}

impl Dataset {
    /// Builds a dataset, checking that `inputs` hold one sample of `shape` per label and that
    /// every label is below `n_classes`.
    pub fn new(
        name: impl Into<String>,
        shape: Vec<usize>,
        n_classes: usize,
        inputs: Vec<f32>,
        labels: Vec<u32>,
    ) -> Result<Dataset> {
        let set = Dataset {
            name: name.into(),
            shape,
            n_classes,
            inputs,
            labels,
        };
        set.check()?;
        if let Some((index, &label)) = set
            .labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= set.n_classes)
        {
            return Err(Error::BadLabel {
                path: set.display_name(),
                index,
                label: u64::from(label),
                n_classes: set.n_classes,
            });
        }
        Ok(set)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Values per sample: the product of `shape` (saturating at `usize::MAX`).
    pub fn sample_len(&self) -> usize {
        element_count(&self.shape).unwrap_or(usize::MAX)
    }

    /// Number of channels: the first dimension of `shape` (for `[d]`, each feature is its own
    /// channel); 0 for an empty shape.
    pub fn channels(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// The inputs of sample `i`.
    ///
    /// # Panics
    ///
    /// When `i >= len()` or the fields disagree (see [`Dataset::new`]), as slice indexing does.
    pub fn sample(&self, i: usize) -> &[f32] {
        let d = self.sample_len();
        &self.inputs[i * d..(i + 1) * d]
    }

    /// Samples per class, `max(n_classes, largest label + 1)` entries.
    pub fn class_counts(&self) -> Vec<usize> {
        let top = self
            .labels
            .iter()
            .map(|&l| l as usize + 1)
            .max()
            .unwrap_or(0);
        let mut counts = vec![0usize; self.n_classes.max(top)];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// A seeded, shuffled split into (train, validation): `round(len * val_fraction)` samples
    /// go to validation, the rest to train; each part keeps the original sample order.
    ///
    /// Errors when `val_fraction` is not in `[0, 1)` or leaves no training sample.
    pub fn split(&self, val_fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&val_fraction) {
            return Err(Error::InvalidParameter {
                name: "val_fraction",
                value: format!("{val_fraction:?}"),
                expected: "a share of the samples in [0, 1), such as 0.1",
            });
        }
        self.check()?;
        let n = self.len();
        let n_val = ((n as f64) * val_fraction).round() as usize;
        if n_val >= n {
            return Err(Error::EmptyTrainSplit { val_fraction, n });
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let (val, train) = order.split_at_mut(n_val);
        val.sort_unstable();
        train.sort_unstable();
        Ok((self.select(train), self.select(val)))
    }

    /// A seeded random subset of `limit` samples (in their original order), or a copy of the
    /// whole set when `limit >= len()`.
    pub fn subset(&self, limit: usize, seed: u64) -> Result<Dataset> {
        self.check()?;
        if limit >= self.len() {
            return Ok(self.clone());
        }
        Ok(self.select(&self.subset_rows(limit, seed)))
    }

    /// The rows that [`Dataset::subset`] keeps: `limit` indices drawn at random (seeded), in
    /// increasing order, or every index when `limit >= len()`.
    pub fn subset_rows(&self, limit: usize, seed: u64) -> Vec<usize> {
        if limit >= self.len() {
            return (0..self.len()).collect();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut keep = index::sample(&mut rng, self.len(), limit).into_vec();
        keep.sort_unstable();
        keep
    }

    /// Replaces the labels of `round(len * fraction)` randomly chosen samples by labels drawn
    /// uniformly from `0..n_classes` (as in Zhang et al. 2017, so about `1 / n_classes` of
    /// them keep their old label). Returns the noisy set, whose `n_classes` is the larger of the
    /// two, and how many labels actually changed.
    ///
    /// Errors when `fraction` is not in `[0, 1]` or `n_classes` is 0.
    pub fn with_label_noise(
        &self,
        fraction: f64,
        seed: u64,
        n_classes: usize,
    ) -> Result<(Dataset, usize)> {
        if !(0.0..=1.0).contains(&fraction) {
            return Err(Error::InvalidParameter {
                name: "label_noise",
                value: format!("{fraction:?}"),
                expected: "a share of the labels in [0, 1], such as 0.2 for 20% random labels",
            });
        }
        if n_classes == 0 || u32::try_from(n_classes).is_err() {
            return Err(Error::InvalidParameter {
                name: "n_classes",
                value: n_classes.to_string(),
                expected: "at least 1 class (and at most u32::MAX)",
            });
        }
        self.check()?;
        let n = self.len();
        let k = ((n as f64) * fraction).round().min(n as f64) as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut chosen = index::sample(&mut rng, n, k).into_vec();
        chosen.sort_unstable();
        let mut noisy = self.clone();
        noisy.n_classes = self.n_classes.max(n_classes);
        let mut changed = 0;
        for i in chosen {
            let new = rng.random_range(0..n_classes as u32);
            changed += usize::from(noisy.labels[i] != new);
            noisy.labels[i] = new;
        }
        Ok((noisy, changed))
    }

    /// The inputs as an in-memory [`FeatureSet`] `[n, ...shape]` (layer `input`), e.g. to probe
    /// the raw inputs. Fails where a feature set would (fewer than 2 samples or classes,
    /// non-finite values).
    pub fn to_feature_set(&self) -> Result<FeatureSet> {
        self.check()?;
        let mut shape = Vec::with_capacity(self.shape.len() + 1);
        shape.push(self.len());
        shape.extend_from_slice(&self.shape);
        let labels: Vec<i64> = self.labels.iter().map(|&l| i64::from(l)).collect();
        let metadata = BTreeMap::from([
            ("layer".to_string(), "input".to_string()),
            ("dataset".to_string(), self.name.clone()),
        ]);
        Ok(FeatureSet::from_f32(
            self.inputs.clone(),
            &shape,
            &labels,
            metadata,
        )?)
    }

    /// The samples at `indices` (each `< len()`), in that order.
    pub(crate) fn select(&self, indices: &[usize]) -> Dataset {
        let d = self.sample_len();
        let mut inputs = Vec::with_capacity(indices.len() * d);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            inputs.extend_from_slice(&self.inputs[i * d..(i + 1) * d]);
            labels.push(self.labels[i]);
        }
        Dataset {
            name: self.name.clone(),
            shape: self.shape.clone(),
            n_classes: self.n_classes,
            inputs,
            labels,
        }
    }

    /// Checks that `shape` is a non-empty shape without zeros and that `inputs` hold `len()`
    /// samples of it.
    pub(crate) fn check(&self) -> Result<()> {
        if self.shape.is_empty() || self.shape.contains(&0) {
            return Err(Error::InvalidParameter {
                name: "shape",
                value: format!("{:?}", self.shape),
                expected: "a per-sample shape such as [1, 28, 28] or [32], with no zero dimension",
            });
        }
        let need = element_count(&self.shape).and_then(|d| d.checked_mul(self.len()));
        if need != Some(self.inputs.len()) {
            return Err(Error::DatasetShape {
                path: self.display_name(),
                values: self.inputs.len(),
                n: self.len(),
                shape: self.shape.clone(),
            });
        }
        Ok(())
    }

    /// How errors name this dataset: `<NAME dataset>`.
    pub(crate) fn display_name(&self) -> PathBuf {
        PathBuf::from(format!("<{} dataset>", self.name))
    }
}

/// The product of `shape`: `None` when it is empty or the product overflows (an empty shape is
/// not a sample shape, so it must not count as one value).
pub(crate) fn element_count(shape: &[usize]) -> Option<usize> {
    let (first, rest) = shape.split_first()?;
    rest.iter().try_fold(*first, |a, &b| a.checked_mul(b))
}

/// Per-channel normalization `(x * scale - mean[c]) / std[c]`.
///
/// `scale` maps raw inputs to the units that `mean` and `std` are given in: the standard image
/// statistics ([`standard_mnist`](Self::standard_mnist),
/// [`standard_cifar10`](Self::standard_cifar10)) are those of pixels / 255, as in PyTorch's
/// `ToTensor()` + `Normalize(mean, std)`, so they carry `scale = 1/255`; a fitted normalization
/// is in raw units (`scale = 1`). Channels are the first dimension of the sample shape; for
/// vector data (`[d]`) each feature is a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalization {
    /// Factor applied to raw inputs before the mean is subtracted.
    pub scale: f32,
    /// Per-channel mean (in scaled units).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation (in scaled units), positive.
    pub std: Vec<f32>,
}

impl Normalization {
    /// The usual MNIST statistics: mean 0.1307, std 0.3081 of pixels / 255.
    pub fn standard_mnist() -> Normalization {
        Normalization {
            scale: 1.0 / 255.0,
            mean: vec![0.1307],
            std: vec![0.3081],
        }
    }

    /// The usual CIFAR-10 statistics of pixels / 255: mean (0.4914, 0.4822, 0.4465), std
    /// (0.2470, 0.2435, 0.2616).
    pub fn standard_cifar10() -> Normalization {
        Normalization {
            scale: 1.0 / 255.0,
            mean: vec![0.4914, 0.4822, 0.4465],
            std: vec![0.2470, 0.2435, 0.2616],
        }
    }

    /// Per-channel mean and (population) standard deviation of `set`, in raw units
    /// (`scale = 1`). A constant channel gets std 1, so that it maps to zeros.
    ///
    /// Errors when `set` is empty or its fields disagree.
    pub fn fit(set: &Dataset) -> Result<Normalization> {
        set.check()?;
        if set.is_empty() {
            return Err(Error::EmptyDataset {
                path: set.display_name(),
            });
        }
        let channels = set.channels();
        let inner = set.sample_len() / channels;
        let count = (set.len() * inner) as f64;
        // Two passes (mean, then squared deviations): exact enough for large offsets too.
        let per_channel = |f: &dyn Fn(usize, f64) -> f64| {
            let mut acc = vec![0f64; channels];
            for sample in set.inputs.chunks_exact(set.sample_len()) {
                for (c, block) in sample.chunks_exact(inner).enumerate() {
                    acc[c] += block.iter().map(|&v| f(c, f64::from(v))).sum::<f64>();
                }
            }
            acc
        };
        let mean: Vec<f64> = per_channel(&|_, v| v).iter().map(|s| s / count).collect();
        let var = per_channel(&|c, v| (v - mean[c]).powi(2));
        // A channel that varies no more than rounding would (constant) gets std 1.
        let std = var
            .iter()
            .zip(&mean)
            .map(|(q, m)| {
                let sd = (q / count).sqrt();
                if (sd as f32).is_normal() && sd > f64::from(f32::EPSILON) * m.abs() {
                    sd as f32
                } else {
                    1.0
                }
            })
            .collect();
        let mean = mean.iter().map(|&m| m as f32).collect();
        Ok(Normalization {
            scale: 1.0,
            mean,
            std,
        })
    }

    /// Normalizes `set` in place.
    ///
    /// Errors when the channel counts differ, or when `scale`, a mean or a std is not finite
    /// or a std is not positive.
    pub fn apply(&self, set: &mut Dataset) -> Result<()> {
        let ok_std = self.std.iter().all(|s| s.is_finite() && *s > 0.0);
        let ok_mean = self.mean.iter().all(|m| m.is_finite());
        if !self.scale.is_finite() || !ok_std || !ok_mean || self.mean.len() != self.std.len() {
            return Err(Error::InvalidParameter {
                name: "normalization",
                value: format!("{self:?}"),
                expected: "a finite scale, and as many finite means as positive, finite stds",
            });
        }
        set.check()?;
        if set.channels() != self.mean.len() {
            return Err(Error::ChannelMismatch {
                path: set.display_name(),
                channels: set.channels(),
                shape: set.shape.clone(),
                expected: self.mean.len(),
            });
        }
        let d = set.sample_len();
        let inner = d / self.mean.len();
        for sample in set.inputs.chunks_exact_mut(d) {
            for (c, block) in sample.chunks_exact_mut(inner).enumerate() {
                let (m, s) = (self.mean[c], self.std[c]);
                for v in block {
                    *v = (*v * self.scale - m) / s;
                }
            }
        }
        Ok(())
    }
}
