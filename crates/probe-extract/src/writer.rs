//! Each tapped batch is copied and appended to its layer's file on a thread of its own, so
//! the next batch computes meanwhile; a layer that fails to write stops alone.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use candle_core::{CpuStorage, Storage, Tensor};
use probe_data::FeatureSetWriter;

use crate::error::Result;
use crate::extract::LayerFailure;
use crate::forward::tensor_rows;

/// Batches waiting for the writer: two keep the compute thread busy without holding many
/// batches of wide layers in memory.
const QUEUE: usize = 2;

/// What the layers being written are: name, file and metadata, by position in the batch.
pub(crate) struct LayerFiles<'a> {
    pub names: Vec<&'a str>,
    pub files: Vec<&'a Path>,
    pub metadata: Vec<BTreeMap<String, String>>,
    /// Labels of every sample; a batch carries the range it covers.
    pub labels: &'a [i64],
}

/// What writing left: seconds spent per layer (copying and writing), and the failed layers.
pub(crate) struct Written {
    pub seconds: Vec<f64>,
    pub failures: Vec<LayerFailure>,
}

/// One batch: its first sample, and one tensor per layer in [`LayerFiles`] order.
type Batch = (usize, Vec<Tensor>);

/// Runs `compute(send)` on this thread while a writer thread appends every batch given to
/// `send` and finishes the files once `compute` returns. An error from `compute` drops the
/// unfinished files (their temporaries are removed) and is returned.
pub(crate) fn write_while<R>(
    layers: &LayerFiles<'_>,
    compute: impl FnOnce(&mut dyn FnMut(usize, Vec<Tensor>)) -> Result<R>,
) -> Result<(R, Written)> {
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::sync_channel::<Batch>(QUEUE);
        let writer = scope.spawn(move || write_all(layers, rx));
        let outcome = compute(&mut |start, taps| {
            // A closed channel means the writer stopped; its outcome is read below.
            let _ = tx.send((start, taps));
        });
        drop(tx);
        let written = writer.join().unwrap_or_else(|_| Written {
            seconds: vec![0.0; layers.names.len()],
            failures: layers
                .names
                .iter()
                .map(|l| LayerFailure {
                    layer: l.to_string(),
                    error: "the writer thread panicked".into(),
                })
                .collect(),
        });
        outcome.map(|r| (r, written))
    })
}

fn write_all(layers: &LayerFiles<'_>, rx: mpsc::Receiver<Batch>) -> Written {
    let count = layers.names.len();
    let n = layers.labels.len();
    let mut writers: Vec<Option<FeatureSetWriter>> = (0..count).map(|_| None).collect();
    let mut failed: Vec<Option<String>> = vec![None; count];
    let mut seconds = vec![0.0f64; count];
    for (start, taps) in rx {
        for (slot, tensor) in taps.iter().enumerate() {
            if failed[slot].is_some() {
                continue;
            }
            let t = Instant::now();
            let rows = tensor.dim(0).unwrap_or(0);
            let labels = &layers.labels[start..(start + rows).min(n)];
            let file = layers.files[slot];
            let outcome = append(
                &mut writers[slot],
                tensor,
                labels,
                n,
                file,
                &layers.metadata[slot],
            );
            seconds[slot] += t.elapsed().as_secs_f64();
            if let Err(e) = outcome {
                writers[slot] = None; // dropping removes its temporary file
                failed[slot] = Some(e.to_string());
            }
        }
    }
    for (slot, writer) in writers.iter_mut().enumerate() {
        if let Some(writer) = writer.take() {
            let t = Instant::now();
            if let Err(e) = writer.finish() {
                failed[slot] = Some(e.to_string());
            }
            seconds[slot] += t.elapsed().as_secs_f64();
        }
    }
    let failures = failed
        .into_iter()
        .enumerate()
        .filter_map(|(slot, e)| {
            e.map(|error| LayerFailure {
                layer: layers.names[slot].to_string(),
                error,
            })
        })
        .collect();
    Written { seconds, failures }
}

/// Appends one batch of a tap to its layer's writer, creating the writer on the first batch
/// (when the layer's shape becomes known).
fn append(
    writer: &mut Option<FeatureSetWriter>,
    tensor: &Tensor,
    labels: &[i64],
    n: usize,
    file: &Path,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    if writer.is_none() {
        let mut full = vec![n];
        full.extend_from_slice(&tensor.dims()[1..]);
        *writer = Some(FeatureSetWriter::create(file, &full, metadata)?);
    }
    let Some(w) = writer.as_mut() else {
        return Ok(());
    };
    // A contiguous f32 tap on the CPU is written from its own storage, without a copy.
    let (storage, layout) = tensor.storage_and_layout();
    if let (Storage::Cpu(CpuStorage::F32(values)), Some((start, end))) =
        (&*storage, layout.contiguous_offsets())
    {
        return Ok(w.append(&values[start..end], labels)?);
    }
    drop(storage);
    w.append(&tensor_rows(tensor)?, labels)?;
    Ok(())
}
