//! Run configs: typed values, and every bad value refused before any work with the file,
//! the line and the field.

use std::path::Path;

use probe_pipeline::{Device, RunConfig, Split};

const BASE: &str = "name = \"x\"\n[model]\nenv = \"synthetic\"\n";

fn parse(text: &str) -> Result<RunConfig, String> {
    RunConfig::from_toml(text, Path::new("run.toml")).map_err(|e| e.to_string())
}

#[test]
fn values_are_typed() {
    let c = parse(&format!(
        "{BASE}arch = \"cnn\"\nweights = \"random\"\n[probe]\nmax_features = 12\nsplitter = \"exact\"\n\
         norm = \"volume\"\nembedding = \"tsne\"\n[reduce]\nmethod = \"pca\"\ndim = 8\n[dataset]\nsplit = \"test\"\n"
    ))
    .unwrap();
    assert_eq!(c.model.arch.unwrap().to_string(), "cnn");
    assert_eq!(c.probe.max_features.to_string(), "12");
    assert_eq!(c.probe.splitter.to_string(), "exact");
    assert_eq!(c.reduce.unwrap().method.to_string(), "pca");
    assert_eq!(c.dataset.split, Split::Test);
    assert_eq!(c.device, Device::Cpu);
    assert_eq!("cuda:1".parse::<Device>().unwrap(), Device::Cuda(1));
    assert!("gpu".parse::<Device>().is_err());
}

#[test]
fn bad_values_name_file_line_and_field() {
    let train = |body: &str| parse(&format!("{BASE}[train]\nepochs = 3\n{body}\n"));
    for (body, needles) in [
        ("val_split = 0", vec!["line 6", "train.val_split", "(0, 1)"]),
        (
            "label_noise = 1.5",
            vec!["line 6", "train.label_noise", "[0, 1]"],
        ),
        ("lr = 0", vec!["train.lr"]),
        ("probe_every = 0", vec!["train.probe_every"]),
    ] {
        let err = train(body).unwrap_err();
        for n in needles {
            assert!(
                err.contains(n) && err.contains("run.toml"),
                "`{n}` not in {err}"
            );
        }
    }
    let err = parse(&format!("{BASE}[train]\nepochs = 0\n")).unwrap_err();
    assert!(
        err.contains("train.epochs") && err.contains("line 5"),
        "{err}"
    );
    let err = parse(&format!(
        "{BASE}weights = \"random\"\n[dataset]\nlimit = 1\n"
    ))
    .unwrap_err();
    assert!(err.contains("dataset.limit"), "{err}");
    let err = parse(&format!(
        "{BASE}weights = \"random\"\n[probe]\nsplitter = \"fast\"\n"
    ))
    .unwrap_err();
    assert!(err.contains("line 6") && err.contains("fast"), "{err}");
    let err = parse(
        "name = \"x\"\ndevice = \"gpu\"\n[model]\nenv = \"synthetic\"\nweights = \"random\"\n",
    )
    .unwrap_err();
    assert!(err.contains("gpu") && err.contains("cuda"), "{err}");
}

#[test]
fn names_cannot_leave_the_runs_folder() {
    for name in ["", ".", "..", "../../escape", "a/b"] {
        let err = parse(&format!(
            "name = {name:?}\n[model]\nenv = \"synthetic\"\nweights = \"random\"\n"
        ))
        .unwrap_err();
        assert!(
            err.contains("name") && err.contains("line 1"),
            "{name:?}: {err}"
        );
    }
    let c = parse(&format!("{BASE}weights = \"random\"\n")).unwrap();
    assert_eq!(c.run_dir(), Path::new("runs/x"));
}
