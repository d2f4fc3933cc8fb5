//! Feature-set files: round trips, accepted dtypes, label mapping, row access.

mod common;

use std::collections::BTreeMap;
use std::fs;

use common::{all_rows, i64_bytes, meta, valid_file, write_raw};
use half::{bf16, f16};
use probe_data::{write_feature_set, Error, FeatureDtype, FeatureSet};
use safetensors::{Dtype, SafeTensors};

#[test]
fn round_trip_rank4_keeps_features_labels_metadata_and_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("block2.safetensors");
    let features: Vec<f32> = (0..24).map(|i| i as f32 - 7.25).collect();
    let labels = [5i64, -2, 5];
    let md = meta(&[("layer", "block2"), ("layer_index", "4"), ("model", "m")]);
    write_feature_set(&path, &features, &[3, 2, 2, 2], &labels, &md).unwrap();

    let set = FeatureSet::open(&path).unwrap();
    assert_eq!(set.path(), Some(path.as_path()));
    assert_eq!(set.dtype(), FeatureDtype::F32);
    assert_eq!(
        (set.n_samples(), set.n_features(), set.n_classes()),
        (3, 8, 2)
    );
    assert_eq!(set.original_shape(), &[2, 2, 2]);
    assert_eq!(set.class_values(), &[-2, 5]);
    assert_eq!(set.labels(), &[1, 0, 1]);
    assert_eq!(set.layer(), "block2");
    assert_eq!(set.layer_index(), Some(4));
    assert_eq!(set.metadata().get("model").map(String::as_str), Some("m"));
    assert_eq!(
        set.metadata().get("original_shape").map(String::as_str),
        Some("2,2,2")
    );
    let want: Vec<f64> = features.iter().map(|&v| f64::from(v)).collect();
    assert_eq!(all_rows(&set), want);
    let mut row = [0.0; 8];
    set.read_rows_f64(2, &mut row);
    assert_eq!(&row[..], &want[16..24]);

    // The stored layout is the contract: F32 [n, d], I64 raw labels.
    let bytes = fs::read(&path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let f = st.tensor("features").unwrap();
    assert_eq!((f.dtype(), f.shape()), (Dtype::F32, &[3usize, 8][..]));
    let l = st.tensor("labels").unwrap();
    assert_eq!((l.dtype(), l.shape()), (Dtype::I64, &[3usize][..]));
    assert_eq!(l.data(), &i64_bytes(&labels)[..]);

    // Writing an opened set gives the same set back.
    let copy = dir.path().join("copy.safetensors");
    set.write(&copy).unwrap();
    let again = FeatureSet::open(&copy).unwrap();
    assert_eq!(all_rows(&again), want);
    assert_eq!(again.labels(), set.labels());
    assert_eq!(again.class_values(), set.class_values());
    assert_eq!(again.metadata(), set.metadata());
    assert_eq!(again.original_shape(), &[2, 2, 2]);
}

#[test]
fn from_f32_round_trip_and_original_shape_from_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let features: Vec<f32> = (0..16).map(|i| i as f32).collect();
    let set = FeatureSet::from_f32(
        features.clone(),
        &[2, 8],
        &[1, 2],
        meta(&[("original_shape", "2,4")]),
    )
    .unwrap();
    assert_eq!(set.path(), None);
    assert_eq!(set.layer(), "features");
    assert_eq!(set.layer_index(), None);
    assert_eq!(set.original_shape(), &[2, 4]);
    let path = dir.path().join("in_memory.safetensors");
    set.write(&path).unwrap();
    let back = FeatureSet::open(&path).unwrap();
    assert_eq!(back.original_shape(), &[2, 4]);
    assert_eq!(back.layer(), "in_memory");
    assert_eq!(all_rows(&back), all_rows(&set));

    // Metadata that does not match d (e.g. a reduced set) is ignored and kept as it was.
    let reduced = FeatureSet::from_f32(
        features,
        &[2, 8],
        &[1, 2],
        meta(&[("original_shape", "64,16,16")]),
    )
    .unwrap();
    assert_eq!(reduced.original_shape(), &[8]);
    let path = dir.path().join("reduced.safetensors");
    reduced.write(&path).unwrap();
    let back = FeatureSet::open(&path).unwrap();
    assert_eq!(back.original_shape(), &[8]);
    assert_eq!(back.metadata()["original_shape"], "64,16,16");
}

#[test]
fn labels_map_to_dense_ids_in_sorted_order() {
    let set = FeatureSet::from_f32(vec![0.0; 8], &[4, 2], &[7, -1, 7, 3], BTreeMap::new()).unwrap();
    assert_eq!(set.labels(), &[2, 0, 2, 1]);
    assert_eq!(set.class_values(), &[-1, 3, 7]);
    assert_eq!(set.n_classes(), 3);
}

#[test]
fn every_accepted_dtype_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let values = [0.5f64, -1.25, 3.0, 1024.0, -0.0, 7.5];
    let f16b: Vec<u8> = values
        .iter()
        .flat_map(|&v| f16::from_f64(v).to_le_bytes())
        .collect();
    let bf16b: Vec<u8> = values
        .iter()
        .flat_map(|&v| bf16::from_f64(v).to_le_bytes())
        .collect();
    let f64b: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let raw = [9i64, 2, 9];
    let i32b: Vec<u8> = raw.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect();
    let u32b: Vec<u8> = raw.iter().flat_map(|&v| (v as u32).to_le_bytes()).collect();
    let u8b: Vec<u8> = raw.iter().map(|&v| v as u8).collect();
    let cases = [
        (
            Dtype::F16,
            FeatureDtype::F16,
            f16b,
            Dtype::I32,
            i32b,
            vec![3],
        ),
        (
            Dtype::BF16,
            FeatureDtype::BF16,
            bf16b,
            Dtype::U32,
            u32b,
            vec![3],
        ),
        (
            Dtype::F64,
            FeatureDtype::F64,
            f64b.clone(),
            Dtype::U8,
            u8b,
            vec![3, 1],
        ),
        (
            Dtype::F64,
            FeatureDtype::F64,
            f64b,
            Dtype::I64,
            i64_bytes(&raw),
            vec![3],
        ),
    ];
    for (i, (fd, want_dtype, fb, ld, lb, lshape)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("dtype{i}.safetensors"));
        write_raw(
            &path,
            &[("features", fd, vec![3, 2], fb), ("labels", ld, lshape, lb)],
            &[],
        );
        let set = FeatureSet::open(&path).unwrap_or_else(|e| panic!("case {i}: {e}"));
        assert_eq!(set.dtype(), want_dtype, "case {i}");
        assert_eq!(set.dtype().to_string(), format!("{fd}"), "case {i}");
        assert_eq!(all_rows(&set), values, "case {i}");
        assert_eq!(set.labels(), &[1, 0, 1], "case {i}");
        assert_eq!(set.class_values(), &[2, 9], "case {i}");
        // Written back as F32 + I64.
        let out = dir.path().join(format!("dtype{i}-f32.safetensors"));
        set.write(&out).unwrap();
        let back = FeatureSet::open(&out).unwrap();
        assert_eq!(back.dtype(), FeatureDtype::F32);
        assert_eq!(all_rows(&back), values, "case {i}");
        assert_eq!(back.class_values(), &[2, 9], "case {i}");
    }
}

#[cfg(unix)]
#[test]
fn written_files_are_not_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = valid_file(dir.path(), "perm.safetensors");
    let mode = fs::metadata(&path).unwrap().permissions().mode();
    // Not the 0600 of a temp file: whatever the umask, the owner may read and write.
    assert_eq!(mode & 0o600, 0o600);
    let plain = dir.path().join("plain");
    fs::write(&plain, b"x").unwrap();
    assert_eq!(
        mode & 0o777,
        fs::metadata(&plain).unwrap().permissions().mode() & 0o777
    );
}

#[test]
#[should_panic(expected = "not a multiple of d")]
fn read_rows_rejects_partial_rows() {
    let set = FeatureSet::from_f32(vec![0.0; 6], &[2, 3], &[0, 1], BTreeMap::new()).unwrap();
    let mut out = [0.0; 4];
    set.read_rows_f64(0, &mut out);
}

#[test]
#[should_panic(expected = "out of range")]
fn read_rows_rejects_rows_past_the_end() {
    let set = FeatureSet::from_f32(vec![0.0; 6], &[2, 3], &[0, 1], BTreeMap::new()).unwrap();
    let mut out = [0.0; 6];
    set.read_rows_f64(1, &mut out);
}

#[test]
fn unaligned_features_decode() {
    // Hand-made file (other writers may not align): U8 labels first, so the F32 and F64 data
    // start at odd offsets.
    let dir = tempfile::tempdir().unwrap();
    for (dtype, size) in [("F32", 4usize), ("F64", 8)] {
        let values = [1.5f64, -2.0, 0.25, 8.0, 3.0, -0.5];
        let header = format!(
            "{{\"__metadata__\":{{\"layer\":\"odd\"}},\
             \"labels\":{{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}},\
             \"features\":{{\"dtype\":\"{dtype}\",\"shape\":[3,2],\"data_offsets\":[3,{}]}}}}",
            3 + 6 * size
        );
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&[1, 0, 1]);
        for v in values {
            if size == 4 {
                bytes.extend_from_slice(&(v as f32).to_le_bytes());
            } else {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        let path = dir.path().join(format!("odd-{dtype}.safetensors"));
        fs::write(&path, &bytes).unwrap();
        let set = FeatureSet::open(&path).unwrap();
        assert_eq!(all_rows(&set), values, "{dtype}");
        assert_eq!(set.labels(), &[1, 0, 1]);
        assert_eq!(set.layer(), "odd");
    }
}

#[test]
fn feature_sets_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<FeatureSet>();
    assert_send_sync::<Error>();
}

#[test]
fn f32_access_is_zero_copy_for_aligned_f32_files_and_decodes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.safetensors");
    let values: Vec<f32> = (0..12).map(|v| v as f32 * 0.5).collect();
    probe_data::write_feature_set(&path, &values, &[4, 3], &[0, 1, 0, 1], &Default::default())
        .unwrap();
    let set = probe_data::FeatureSet::open(&path).unwrap();
    assert_eq!(set.as_f32_slice(), Some(values.as_slice()));
    let mut rows = [0f32; 6];
    set.read_rows_f32(2, &mut rows);
    assert_eq!(rows, values[6..12]);
    let owned = probe_data::FeatureSet::from_f32(
        values.clone(),
        &[4, 3],
        &[0, 1, 0, 1],
        Default::default(),
    )
    .unwrap();
    assert_eq!(owned.as_f32_slice(), Some(values.as_slice()));
}

#[test]
fn sets_over_a_caller_buffer_read_f64_exactly_and_check_like_files() {
    // 0.1 is not a float32: the set must hand the forest the f64 value, as from an F64 file.
    let values: Vec<f64> = (0..12).map(|i| i as f64 * 0.1).collect();
    let set = FeatureSet::from_buffer(
        Box::new(values.clone()),
        &[4, 3],
        &[0, 1, 0, 1],
        meta(&[("layer", "x")]),
    )
    .unwrap();
    assert_eq!(set.dtype(), FeatureDtype::F64);
    assert_eq!(all_rows(&set), values);
    assert!(set.as_f32_slice().is_none());
    // Written out, it is the narrowed F32 file every writer produces.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.safetensors");
    set.write(&path).unwrap();
    let back = FeatureSet::open(&path).unwrap();
    let want: Vec<f64> = values.iter().map(|&v| f64::from(v as f32)).collect();
    assert_eq!(all_rows(&back), want);

    let mut bad = values;
    bad[7] = f64::NAN;
    let err = FeatureSet::from_buffer(Box::new(bad), &[4, 3], &[0, 1, 0, 1], BTreeMap::new())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFinite {
                count: 1,
                row: 2,
                col: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn released_rows_of_a_mapped_file_read_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.safetensors");
    let (n, d) = (3000, 700); // 8.4 MB: many pages
    let features: Vec<f32> = (0..n * d).map(|i| (i % 977) as f32 * 0.5).collect();
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
    write_feature_set(&path, &features, &[n, d], &labels, &meta(&[])).unwrap();
    let set = FeatureSet::open(&path).unwrap();
    let before = all_rows(&set);
    set.release_rows(0, n);
    set.release_rows(n - 1, 10); // past the end: clamped, not a panic
    assert_eq!(all_rows(&set), before);
    assert_eq!(set.as_f32_slice().unwrap(), &features[..]);
}
