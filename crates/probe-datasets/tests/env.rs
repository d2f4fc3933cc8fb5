//! Environments: the built-in ones equal their TOML files, bad files are one error line, and the
//! synthetic environment loads without files.

mod common;

use std::path::Path;

use common::assert_message;
use probe_datasets::{DatasetKind, Env, Error, BUILTIN_ENVS};

#[test]
fn the_config_files_describe_the_builtin_environments() {
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/envs");
    for name in BUILTIN_ENVS {
        let from_file = Env::from_toml(&configs.join(format!("{name}.toml"))).unwrap();
        assert_eq!(
            from_file,
            Env::builtin(name).unwrap(),
            "configs/envs/{name}.toml"
        );
        let path = configs.join(format!("{name}.toml"));
        assert_eq!(Env::resolve(path.to_str().unwrap()).unwrap(), from_file);
    }
}

#[test]
fn error_unknown_field_names_the_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\ndataset = \"mnist\"\nmodel = \"mlp\"\nprobe_layers = []\nbatch = 3\n",
    )
    .unwrap();
    let err = Env::from_toml(&bad).unwrap_err();
    assert!(matches!(err, Error::Env { .. }), "{err:?}");
    assert_message(&err, "bad.toml", &["line 5", "batch", "`env`"]);
}

#[test]
fn error_unknown_builtin_and_missing_file() {
    let err = Env::resolve("imagenet").unwrap_err();
    assert_message(
        &err,
        "`imagenet`",
        &["not a built-in environment", "synthetic, mnist, cifar10"],
    );
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.toml");
    let err = Env::resolve(missing.to_str().unwrap()).unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err:?}");
    assert_message(&err, "none.toml", &["cannot read"]);
}

#[test]
fn the_synthetic_environment_loads_normalised_seeded_splits() {
    let mut env = Env::builtin("synthetic").unwrap();
    assert_eq!(env.dataset, DatasetKind::Synthetic);
    env.synthetic.n_train = 300;
    env.synthetic.n_test = 50;
    let a = env.load(None, 0.1, 4).unwrap();
    let b = env.load(None, 0.1, 4).unwrap();
    assert_eq!((a.train.len(), a.val.len()), (270, 30));
    assert_eq!(a.train, b.train);
    assert_eq!(a.test.as_ref().map(|t| t.len()), Some(50));
    // Fitted on the training split, so its mean is about 0 in every feature.
    let d = a.train.sample_len();
    let mean0: f32 = (0..a.train.len())
        .map(|i| a.train.sample(i)[0])
        .sum::<f32>()
        / 270.0;
    assert!(mean0.abs() < 0.2, "{mean0} (d = {d})");
}
