//! `download_mnist` / `download_cifar10` from a Hugging Face cache laid out by hand (offline):
//! the official parquet files are converted once into IDX files and CIFAR-10 binary batches,
//! which the loaders read; a complete conversion is reused; a bad parquet file is one error
//! line naming it. The fixtures are made by scripts/make_hub_fixtures.py.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use common::{assert_message, mnist_10k_dir, with_env};
use probe_datasets::{
    download_cifar10, download_mnist, load_cifar10, load_mnist, Error, Split, CIFAR10_FILES,
    CIFAR10_RECORD_BYTES, CIFAR10_REPO, MNIST_FILES, MNIST_REPO,
};

/// A commit hash, as the Hub's are.
const COMMIT: &str = "77f3279092a1c1579b2250db8eafed0ad422088c";
/// FNV-1a 64 of the 40 CIFAR-10 records of the fixtures, as the script prints it.
const CIFAR_FNV: u64 = 0xc583_2657_c156_9a7d;
/// The IDX files a converted MNIST folder holds, with their sizes for 48 + 16 digits.
const MNIST_CONVERTED: [(&str, u64); 4] = [
    ("train-images-idx3-ubyte", 16 + 48 * 784),
    ("train-labels-idx1-ubyte", 8 + 48),
    ("t10k-images-idx3-ubyte", 16 + 16 * 784),
    ("t10k-labels-idx1-ubyte", 8 + 16),
];

/// The fixture folder of `repo` (`owner/name` as `owner--name`), or a file in the fixtures.
fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hub")
        .join(path)
}

/// Puts `files` (path in the repository, file to copy) into the cache under `home` as
/// snapshot `commit` of the dataset repository `repo`, with `refs/main` naming it; returns the
/// snapshot folder.
fn cache_snapshot(home: &Path, repo: &str, commit: &str, files: &[(&str, PathBuf)]) -> PathBuf {
    let repo_dir = home
        .join("hub")
        .join(format!("datasets--{}", repo.replace('/', "--")));
    let snapshot = repo_dir.join("snapshots").join(commit);
    for (name, source) in files {
        let target = snapshot.join(name);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(source, &target).unwrap();
    }
    fs::create_dir_all(repo_dir.join("refs")).unwrap();
    fs::write(repo_dir.join("refs/main"), commit).unwrap();
    snapshot
}

/// The official MNIST files, from the fixtures.
fn mnist_fixtures() -> Vec<(&'static str, PathBuf)> {
    MNIST_FILES
        .iter()
        .map(|f| (*f, fixture(&format!("ylecun--mnist/{f}"))))
        .collect()
}

/// The official CIFAR-10 files, from the fixtures.
fn cifar_fixtures() -> Vec<(&'static str, PathBuf)> {
    CIFAR10_FILES
        .iter()
        .map(|f| (*f, fixture(&format!("uoft-cs--cifar10/{f}"))))
        .collect()
}

/// Modification times of the files of `dir`, by name.
fn mtimes(dir: &Path) -> Vec<(String, SystemTime)> {
    let mut times: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, e.metadata().unwrap().modified().unwrap())
        })
        .collect();
    times.sort();
    times
}

/// Channel `c` at row `y`, column `x` of fixture image `i` (`cifar_pixel` of the script).
fn cifar_pixel(i: u32, c: u32, y: u32, x: u32) -> u8 {
    let mut h = i.wrapping_mul(73_856_093)
        ^ c.wrapping_mul(19_349_663)
        ^ (y >> 2).wrapping_mul(83_492_791)
        ^ (x >> 2).wrapping_mul(2_654_435_761);
    h ^= h >> 13;
    h = h.wrapping_mul(0x5BD1_E995);
    h ^= h >> 15;
    (h.wrapping_add(3 * x + 7 * y) & 0xFF) as u8
}

/// The CIFAR-10 binary record of fixture image `i`: its label, then the R, G, B planes.
fn cifar_record(i: u32) -> Vec<u8> {
    let mut record = vec![((i * 7 + 3) % 10) as u8];
    for c in 0..3 {
        for y in 0..32 {
            for x in 0..32 {
                record.push(cifar_pixel(i, c, y, x));
            }
        }
    }
    record
}

/// FNV-1a 64 of `bytes`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[test]
fn mnist_is_converted_once_into_idx_files_equal_to_the_digits() {
    with_env(&[("HF_HUB_OFFLINE", "1")], |home| {
        let snapshot = cache_snapshot(home, MNIST_REPO, COMMIT, &mnist_fixtures());
        let dir = download_mnist().unwrap();
        assert_eq!(dir, home.join(format!("sparsity-probe/mnist-{COMMIT}")));
        for (name, size) in MNIST_CONVERTED {
            assert_eq!(fs::metadata(dir.join(name)).unwrap().len(), size, "{name}");
        }

        let train = load_mnist(&dir, Split::Train).unwrap();
        let test = load_mnist(&dir, Split::Test).unwrap();
        assert_eq!((train.len(), test.len()), (48, 16));
        assert_eq!(train.shape, [1, 28, 28]);
        if let Some(shared) = mnist_10k_dir() {
            // The fixtures are the first 64 digits of mnist-10k: 48 train, then 16 test.
            let digits = load_mnist(shared, Split::Train).unwrap();
            assert_eq!(train.inputs, digits.inputs[..48 * 784]);
            assert_eq!(train.labels, digits.labels[..48]);
            assert_eq!(test.inputs, digits.inputs[48 * 784..64 * 784]);
            assert_eq!(test.labels, digits.labels[48..64]);
        }

        // A second call reuses the folder: nothing is rewritten.
        let before = mtimes(&dir);
        assert_eq!(download_mnist().unwrap(), dir);
        assert_eq!(mtimes(&dir), before);

        // An incomplete folder (a file lost) is converted again.
        fs::remove_file(dir.join("t10k-labels-idx1-ubyte")).unwrap();
        assert_eq!(download_mnist().unwrap(), dir);
        assert_eq!(load_mnist(&dir, Split::Test).unwrap().labels, test.labels);

        // Once complete, the parquet files are not read again.
        fs::write(snapshot.join(MNIST_FILES[0]), b"no longer parquet").unwrap();
        assert_eq!(download_mnist().unwrap(), dir);
        assert_eq!(load_mnist(&dir, Split::Train).unwrap().inputs, train.inputs);

        // Another commit is converted into its own folder.
        cache_snapshot(home, MNIST_REPO, "0123abcd", &mnist_fixtures());
        let other = download_mnist().unwrap();
        assert_eq!(other, home.join("sparsity-probe/mnist-0123abcd"));
        assert_eq!(
            load_mnist(&other, Split::Train).unwrap().inputs,
            train.inputs
        );
    });
}

#[test]
fn cifar10_is_converted_once_into_five_training_batches_and_a_test_batch() {
    with_env(&[("HF_HUB_OFFLINE", "1")], |home| {
        cache_snapshot(home, CIFAR10_REPO, COMMIT, &cifar_fixtures());
        let dir = download_cifar10().unwrap();
        assert_eq!(dir, home.join(format!("sparsity-probe/cifar10-{COMMIT}")));

        // 30 training rows in order, 6 per batch; 10 test rows.
        let expected: Vec<Vec<u8>> = (0..40).map(cifar_record).collect();
        assert_eq!(
            fnv1a64(&expected.concat()),
            CIFAR_FNV,
            "the script's images"
        );
        for (k, name) in probe_datasets::cifar10_files(Split::Train)
            .iter()
            .enumerate()
        {
            let bytes = fs::read(dir.join(name)).unwrap();
            assert_eq!(bytes.len(), 6 * CIFAR10_RECORD_BYTES, "{name}");
            assert!(bytes == expected[6 * k..6 * (k + 1)].concat(), "{name}");
        }
        let bytes = fs::read(dir.join("test_batch.bin")).unwrap();
        assert!(bytes == expected[30..].concat(), "test_batch.bin");

        let train = load_cifar10(&dir, Split::Train).unwrap();
        let test = load_cifar10(&dir, Split::Test).unwrap();
        assert_eq!(
            (train.len(), test.len(), train.shape.as_slice()),
            (30, 10, &[3, 32, 32][..])
        );
        assert_eq!(train.labels[..4], [3, 0, 7, 4]);
        // Sample 1, green plane, row 5, column 9.
        let g = train.sample(1)[1024 + 5 * 32 + 9];
        assert_eq!(g, f32::from(cifar_pixel(1, 1, 5, 9)));

        let before = mtimes(&dir);
        assert_eq!(download_cifar10().unwrap(), dir);
        assert_eq!(mtimes(&dir), before);
    });
}

/// Converts MNIST with `train` as the training file and returns the error and its path in
/// the cache.
fn mnist_error(home: &Path, commit: &str, train: PathBuf) -> (Error, PathBuf) {
    let files = [
        (MNIST_FILES[0], train),
        (
            MNIST_FILES[1],
            fixture(&format!("ylecun--mnist/{}", MNIST_FILES[1])),
        ),
    ];
    let snapshot = cache_snapshot(home, MNIST_REPO, commit, &files);
    let err = download_mnist().unwrap_err();
    assert!(matches!(err, Error::Parquet { .. }), "{err:?}");
    let path = snapshot.join(MNIST_FILES[0]);
    assert_message(
        &err,
        &path.display().to_string(),
        &[
            "cannot convert this Hugging Face parquet file",
            "--data DIR",
        ],
    );
    (err, path)
}

#[test]
fn a_bad_parquet_file_is_one_error_line_naming_it() {
    with_env(&[("HF_HUB_OFFLINE", "1")], |home| {
        let tmp = tempfile::tempdir().unwrap();
        let good = fixture(&format!("ylecun--mnist/{}", MNIST_FILES[0]));
        let bytes = fs::read(&good).unwrap();

        let garbage = tmp.path().join("garbage.parquet");
        fs::write(&garbage, b"this is not a parquet file at all").unwrap();
        let (err, _) = mnist_error(home, "c1", garbage);
        assert_message(&err, "parquet", &["not a readable parquet file"]);

        let cut = tmp.path().join("cut.parquet");
        fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        mnist_error(home, "c2", cut);

        // The data pages damaged, the footer intact: an error (or at worst a conversion),
        // never a panic.
        let damaged = tmp.path().join("damaged.parquet");
        let mut copy = bytes.clone();
        for b in copy[4..bytes.len() / 2].iter_mut().step_by(97) {
            *b ^= 0x5a;
        }
        fs::write(&damaged, &copy).unwrap();
        mnist_error(home, "c3", damaged);

        // CIFAR-10 images where MNIST digits belong.
        let cifar = fixture(&format!("uoft-cs--cifar10/{}", CIFAR10_FILES[0]));
        let (err, _) = mnist_error(home, "c4", cifar);
        assert_message(&err, "row 0", &["image is 32x32 pixels, expected 28x28"]);

        // No `label` column (it is called `digit`).
        let (err, _) = mnist_error(home, "c5", fixture("no-label.parquet"));
        assert_message(&err, "`digit`", &["no integer `label` column", "`image`"]);

        // Nothing was left looking complete.
        for commit in ["c1", "c2", "c3", "c4", "c5"] {
            let dir = home.join(format!("sparsity-probe/mnist-{commit}"));
            assert!(!dir.join("manifest.json").exists(), "{commit}");
        }
    });
}
