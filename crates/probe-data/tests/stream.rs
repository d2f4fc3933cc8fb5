//! Streaming writer: batches read back like a one-shot write; bad batches and unfinished writers
//! leave nothing behind.

mod common;

use std::fs;
use std::path::Path;

use common::{all_rows, assert_message, meta};
use probe_data::{write_feature_set, Error, FeatureDtype, FeatureSet, FeatureSetWriter};
use safetensors::{Dtype, SafeTensors};

/// Names of the entries in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Deterministic feature values with fractions and signs.
fn values(len: usize) -> Vec<f32> {
    (0..len).map(|i| (i as f32 - 40.0) * 0.37).collect()
}

#[test]
fn uneven_batches_read_back_like_a_one_shot_write_rank4() {
    let dir = tempfile::tempdir().unwrap();
    let streamed = dir.path().join("stream.safetensors");
    let oneshot = dir.path().join("oneshot.safetensors");
    let shape = [7usize, 2, 3, 2];
    let width = 12;
    let features = values(7 * width);
    let labels = [4i64, -1, 4, 9, -1, 9, 4];
    let md = meta(&[("layer", "block3"), ("layer_index", "5"), ("model", "m")]);

    let mut w = FeatureSetWriter::create(&streamed, &shape, &md).unwrap();
    assert_eq!(w.rows_written(), 0);
    let mut row = 0;
    for k in [2usize, 4, 1] {
        w.append(
            &features[row * width..(row + k) * width],
            &labels[row..row + k],
        )
        .unwrap();
        row += k;
        assert_eq!(w.rows_written(), row);
    }
    // The temp file lives next to the target until finish.
    let names = entries(dir.path());
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with(".probe-data-"), "{names:?}");
    assert_eq!(w.finish().unwrap(), streamed);
    assert_eq!(entries(dir.path()), ["stream.safetensors"]);

    write_feature_set(&oneshot, &features, &shape, &labels, &md).unwrap();
    let a = FeatureSet::open(&streamed).unwrap();
    let b = FeatureSet::open(&oneshot).unwrap();
    assert_eq!(a.dtype(), FeatureDtype::F32);
    assert_eq!(
        (a.n_samples(), a.n_features(), a.n_classes()),
        (b.n_samples(), b.n_features(), b.n_classes())
    );
    assert_eq!((a.n_samples(), a.n_features()), (7, 12));
    assert_eq!(a.labels(), b.labels());
    assert_eq!(a.class_values(), &[-1, 4, 9]);
    assert_eq!(a.class_values(), b.class_values());
    assert_eq!(a.metadata(), b.metadata());
    assert_eq!(
        a.metadata().get("original_shape").map(String::as_str),
        Some("2,3,2")
    );
    assert_eq!(a.original_shape(), &[2, 3, 2]);
    assert_eq!(a.original_shape(), b.original_shape());
    assert_eq!(all_rows(&a), all_rows(&b));
    assert_eq!(a.layer(), "block3");
    // Aligned F32 data: viewed in place.
    assert_eq!(a.as_f32_slice(), Some(&features[..]));

    // Layout: labels I64 [n] first, features F32 with the shape as given, 8-byte aligned.
    let bytes = fs::read(&streamed).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let f = st.tensor("features").unwrap();
    assert_eq!((f.dtype(), f.shape()), (Dtype::F32, &shape[..]));
    let l = st.tensor("labels").unwrap();
    assert_eq!((l.dtype(), l.shape()), (Dtype::I64, &[7usize][..]));
    let raw: Vec<i64> = l
        .data()
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(raw, labels);
    let header_len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(header_len % 8, 0);
    let (_, m) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(m.info("labels").unwrap().data_offsets, (0, 56));
    assert_eq!(m.info("features").unwrap().data_offsets, (56, 56 + 7 * 48));
    assert_eq!(bytes.len(), 8 + header_len + 56 + 7 * 48);
}

#[test]
fn rank2_stream_is_byte_identical_to_a_one_shot_write() {
    let dir = tempfile::tempdir().unwrap();
    let streamed = dir.path().join("a.safetensors");
    let oneshot = dir.path().join("b.safetensors");
    let features = values(5 * 3);
    let labels = [1i64, 0, 1, 1, 0];
    // One metadata key, so that the header's key order cannot differ.
    let md = meta(&[("layer", "fc")]);
    let mut w = FeatureSetWriter::create(&streamed, &[5, 3], &md).unwrap();
    w.append(&features[..3], &labels[..1]).unwrap();
    w.append(&[], &[]).unwrap();
    w.append(&features[3..], &labels[1..]).unwrap();
    w.finish().unwrap();
    write_feature_set(&oneshot, &features, &[5, 3], &labels, &md).unwrap();
    assert_eq!(fs::read(&streamed).unwrap(), fs::read(&oneshot).unwrap());
    let set = FeatureSet::open(&streamed).unwrap();
    assert!(!set.metadata().contains_key("original_shape"));
    assert_eq!(set.original_shape(), &[3]);
}

#[test]
fn bad_batches_are_refused_and_leave_the_writer_usable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fc.safetensors");
    let mut w = FeatureSetWriter::create(&path, &[4, 2], &meta(&[])).unwrap();

    // Rows not a multiple of the width.
    let err = w.append(&[1.0, 2.0, 3.0], &[0]).unwrap_err();
    assert!(matches!(
        err,
        Error::BatchShape {
            values: 3,
            labels: 1,
            width: 2,
            ..
        }
    ));
    assert_message(
        &err,
        "fc.safetensors",
        &["3 feature value", "1 label", "2 values"],
    );
    // Labels and rows disagree.
    let err = w.append(&[1.0, 2.0, 3.0, 4.0], &[0]).unwrap_err();
    assert!(matches!(err, Error::BatchShape { labels: 1, .. }));
    let err = w.append(&[1.0, 2.0], &[0, 1]).unwrap_err();
    assert!(matches!(err, Error::BatchShape { labels: 2, .. }));
    assert_eq!(w.rows_written(), 0);

    w.append(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[0, 1, 0])
        .unwrap();
    // Too many rows.
    let err = w.append(&[1.0, 2.0, 3.0, 4.0], &[0, 1]).unwrap_err();
    assert!(matches!(
        err,
        Error::TooManyRows {
            rows: 2,
            written: 3,
            n: 4,
            ..
        }
    ));
    assert_message(&err, "fc.safetensors", &["2 row(s)", "after 3", "4 rows"]);
    assert_eq!(w.rows_written(), 3);

    // The refused batches left no trace: the writer still finishes with the right rows.
    w.append(&[7.0, 8.0], &[1]).unwrap();
    let err = w.append(&[9.0, 9.0], &[1]).unwrap_err();
    assert!(matches!(
        err,
        Error::TooManyRows {
            rows: 1,
            written: 4,
            ..
        }
    ));
    w.finish().unwrap();
    let set = FeatureSet::open(&path).unwrap();
    assert_eq!(
        set.as_f32_slice(),
        Some(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0][..])
    );
    assert_eq!(set.labels(), &[0, 1, 0, 1]);
}

#[test]
fn finish_with_too_few_rows_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("short.safetensors");
    let mut w = FeatureSetWriter::create(&path, &[5, 2], &meta(&[])).unwrap();
    w.append(&values(6), &[0, 1, 0]).unwrap();
    let err = w.finish().unwrap_err();
    assert!(matches!(
        err,
        Error::MissingRows {
            written: 3,
            n: 5,
            ..
        }
    ));
    assert_message(&err, "short.safetensors", &["3 of the 5 rows", "append"]);
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));

    // An existing file at the path is kept as it was.
    fs::write(&path, b"old").unwrap();
    let w = FeatureSetWriter::create(&path, &[5, 2], &meta(&[])).unwrap();
    assert!(matches!(
        w.finish(),
        Err(Error::MissingRows { written: 0, .. })
    ));
    assert_eq!(entries(dir.path()), ["short.safetensors"]);
    assert_eq!(fs::read(&path).unwrap(), b"old");
}

#[test]
fn non_finite_values_fail_finish_with_count_and_first_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.safetensors");
    let mut w = FeatureSetWriter::create(&path, &[6, 3], &meta(&[])).unwrap();
    w.append(&values(6), &[0, 1]).unwrap();
    let mut batch = values(9);
    batch[4] = f32::NAN; // row 2 + 1 = 3, column 1
    batch[8] = f32::INFINITY; // row 4, column 2
    w.append(&batch, &[0, 1, 0]).unwrap();
    let mut last = values(3);
    last[0] = f32::NEG_INFINITY;
    w.append(&last, &[1]).unwrap();
    let err = w.finish().unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFinite {
                count: 3,
                row: 3,
                col: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_message(
        &err,
        "nan.safetensors",
        &["3 non-finite", "row 3, column 1"],
    );
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[test]
fn a_single_class_fails_finish_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.safetensors");
    let mut w = FeatureSetWriter::create(&path, &[3, 1], &meta(&[])).unwrap();
    w.append(&[1.0, 2.0, 3.0], &[5, 5, 5]).unwrap();
    let err = w.finish().unwrap_err();
    assert!(matches!(err, Error::TooFewClasses { distinct: 1, .. }));
    assert_message(&err, "one.safetensors", &["2 classes"]);
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn dropping_an_unfinished_writer_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dropped.safetensors");
    let mut w = FeatureSetWriter::create(&path, &[4, 2], &meta(&[("layer", "x")])).unwrap();
    w.append(&values(4), &[0, 1]).unwrap();
    assert_eq!(entries(dir.path()).len(), 1);
    drop(w);
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
    // Even with every row written.
    let mut w = FeatureSetWriter::create(&path, &[2, 2], &meta(&[])).unwrap();
    w.append(&values(4), &[0, 1]).unwrap();
    drop(w);
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn create_in_a_missing_folder_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-folder");
    let path = missing.join("conv.safetensors");
    let err = FeatureSetWriter::create(&path, &[4, 2], &meta(&[])).unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err:?}");
    assert_message(
        &err,
        &missing.display().to_string(),
        &["conv.safetensors", "folder exists"],
    );
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn create_refuses_shapes_without_samples_or_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let md = meta(&[]);
    let err = FeatureSetWriter::create(&path, &[0, 4], &md).unwrap_err();
    assert!(matches!(err, Error::TooFewSamples { n: 0, .. }));
    assert_message(&err, "bad.safetensors", &["2 samples"]);
    let err = FeatureSetWriter::create(&path, &[1, 4], &md).unwrap_err();
    assert!(matches!(err, Error::TooFewSamples { n: 1, .. }));
    let err = FeatureSetWriter::create(&path, &[4, 0], &md).unwrap_err();
    assert!(matches!(err, Error::NoColumns { .. }));
    assert_message(&err, "bad.safetensors", &["zero columns"]);
    let err = FeatureSetWriter::create(&path, &[4, 3, 0, 2], &md).unwrap_err();
    assert!(matches!(err, Error::NoColumns { .. }));
    let err = FeatureSetWriter::create(&path, &[4], &md).unwrap_err();
    assert!(matches!(err, Error::BadRank { .. }));
    let err = FeatureSetWriter::create(&path, &[], &md).unwrap_err();
    assert!(matches!(err, Error::BadRank { .. }));
    let err = FeatureSetWriter::create(&path, &[usize::MAX, 1 << 40], &md).unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err:?}");
    assert_message(&err, "bad.safetensors", &["too large"]);
    assert!(entries(dir.path()).is_empty());
}

#[test]
fn large_set_in_small_batches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.safetensors");
    let (n, d, batch) = (20_000usize, 1_000usize, 256usize);
    let value = |r: usize, c: usize| ((r * 31 + c * 17) % 1009) as f32 * 0.25 - 100.0;
    let md = meta(&[("layer", "big")]);
    let mut w = FeatureSetWriter::create(&path, &[n, 10, 100], &md).unwrap();
    let mut rows = Vec::with_capacity(batch * d);
    let mut labels = Vec::with_capacity(batch);
    let mut start = 0;
    while start < n {
        let k = batch.min(n - start);
        rows.clear();
        labels.clear();
        for r in start..start + k {
            rows.extend((0..d).map(|c| value(r, c)));
            labels.push((r % 10) as i64);
        }
        w.append(&rows, &labels).unwrap();
        start += k;
    }
    assert_eq!(w.rows_written(), n);
    w.finish().unwrap();

    let set = FeatureSet::open(&path).unwrap();
    assert_eq!(
        (set.n_samples(), set.n_features(), set.n_classes()),
        (n, d, 10)
    );
    assert_eq!(set.original_shape(), &[10, 100]);
    let all = set.as_f32_slice().expect("aligned F32 view");
    for (r, row) in all.chunks_exact(d).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            assert_eq!(v, value(r, c), "row {r}, column {c}");
        }
    }
    assert!(set
        .labels()
        .iter()
        .enumerate()
        .all(|(r, &l)| l as usize == r % 10));
}
