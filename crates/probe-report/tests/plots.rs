//! Every figure is drawn, as a PNG that decodes to a non-blank image of the announced size
//! and an SVG that names what it shows; empty inputs give `None` or a typed error, never a
//! panic.

mod report_fixtures;

use std::collections::HashSet;
use std::path::Path;

use probe_report::plots::{
    accuracy_plot, alpha_plot, angle_plot, clustering_plot, draw_all, embedding_plot, epoch_plot,
    Figure,
};
use probe_report::{Error, RunReport};
use report_fixtures::{run_a, run_b};

/// Width and height from the IHDR chunk, after checking the signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert!(bytes.len() > 33, "PNG too short: {} bytes", bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&bytes[12..16], b"IHDR", "first chunk is IHDR");
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    (be(16), be(20))
}

/// Checks both files of a figure and returns the SVG text and the PNG size.
fn check_figure(figure: &Figure) -> (String, (u32, u32)) {
    let bytes = std::fs::read(&figure.png).expect("PNG written");
    let size = png_size(&bytes);
    let image = image::load_from_memory(&bytes)
        .expect("PNG decodes")
        .to_rgb8();
    assert_eq!(image.dimensions(), size, "decoded size equals IHDR");
    let colours: HashSet<[u8; 3]> = image.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() >= 8,
        "{} looks blank: {} distinct colours",
        figure.png.display(),
        colours.len()
    );
    let svg = std::fs::read_to_string(&figure.svg).expect("SVG written");
    assert!(svg.trim_start().starts_with("<svg"), "SVG opens with <svg");
    assert!(svg.trim_end().ends_with("</svg>"), "SVG is complete");
    assert!(svg.contains("<text"), "SVG has text");
    assert!(!figure.title.is_empty());
    (svg, size)
}

fn assert_names(svg: &str, names: &[&str]) {
    for name in names {
        assert!(svg.contains(name), "SVG lacks `{name}`");
    }
}

/// Only the figures themselves are left: no temporary file of the atomic writes.
fn assert_no_temporaries(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            !name.starts_with('.') && !name.contains(".tmp-"),
            "left over: {name}"
        );
    }
}

#[test]
fn alpha_plot_overlays_runs_on_the_union_of_layers() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (run_a(), run_b());
    assert!(
        a.layers[1].record.flag.is_some(),
        "fixture has a flagged layer"
    );
    let figure = alpha_plot(&[&a, &b], &dir.path().join("alpha")).unwrap();
    assert_eq!(figure.png, dir.path().join("alpha.png"));
    assert_eq!(figure.svg, dir.path().join("alpha.svg"));
    let (svg, (w, h)) = check_figure(&figure);
    assert!(w >= 900 && h >= 500, "{w}×{h}");
    assert_names(
        &svg,
        &["input", "conv0", "relu1", "relu2", "mlp-clean", "mlp-noisy"],
    );
    assert_names(&svg, &["flagged layer", "alpha"]);
    assert_no_temporaries(dir.path());
}

#[test]
fn alpha_plot_of_one_run_and_many_long_layers() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = run_a();
    let figure = alpha_plot(&[&run], &dir.path().join("one")).unwrap();
    let (svg, _) = check_figure(&figure);
    assert_names(&svg, &["mlp-clean", "input", "relu2"]);

    // Forty layers with long names: the canvas widens and the labels turn vertical.
    let names: Vec<String> = (0..40)
        .map(|i| format!("features.block{i}.conv2"))
        .collect();
    let spec: Vec<(&str, f64, Option<f64>)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), 2.0 + i as f64, None))
        .collect();
    run.layers = report_fixtures::layers(&spec);
    let figure = alpha_plot(&[&run], &dir.path().join("wide")).unwrap();
    let (svg, (w, _)) = check_figure(&figure);
    assert!(w > 2000, "canvas grows with the number of layers: {w}");
    assert!(svg.contains("rotate(270"), "long labels are vertical");
}

#[test]
fn alpha_plot_skips_non_finite_values_and_refuses_nothing_to_draw() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = run_a();
    run.layers[1].record.alpha = f64::NAN;
    run.layers[2].record.band = [f64::NAN, f64::INFINITY];
    check_figure(&alpha_plot(&[&run], &dir.path().join("nan")).unwrap());

    // Absurd magnitudes must not hang or panic the axis code; an error is fine.
    let mut huge = run_a();
    huge.layers[0].record.alpha = 1e300;
    huge.layers[1].record.band = [-1e300, 1e300];
    let _ = alpha_plot(&[&huge], &dir.path().join("huge"));

    for layer in &mut run.layers {
        layer.record.alpha = f64::NAN;
    }
    let err = alpha_plot(&[&run], &dir.path().join("all-nan")).unwrap_err();
    assert!(
        matches!(err, Error::InvalidParameter { name: "runs", .. }),
        "{err}"
    );
    let empty = RunReport::default();
    assert!(alpha_plot(&[&empty], &dir.path().join("empty")).is_err());
    assert!(alpha_plot(&[], &dir.path().join("none")).is_err());
    assert!(!dir.path().join("all-nan.png").exists());
}

#[test]
fn angle_plot_has_a_panel_per_layer() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_b();
    let figure = angle_plot(&run, &dir.path().join("angle")).unwrap();
    let (svg, (w, h)) = check_figure(&figure);
    assert_names(
        &svg,
        &[
            "input",
            "conv0",
            "relu1",
            "relu2",
            "mlp-noisy",
            "τ*ₖ",
            "ε₁",
            "ε₂",
        ],
    );
    assert!(w >= 1200 && h >= 600, "3 columns × 2 rows: {w}×{h}");

    let mut odd = run_a();
    odd.layers[0].record.angle_curve.clear();
    odd.layers[1].record.angle_curve = vec![f64::NAN; 170];
    odd.layers[2].record.epsilon = f64::NAN;
    odd.layers[2].record.critical_taus = vec![f64::NAN, 7.0];
    let (svg, _) = check_figure(&angle_plot(&odd, &dir.path().join("odd")).unwrap());
    assert!(svg.contains("no finite angle curve"));

    let err = angle_plot(&RunReport::default(), &dir.path().join("none")).unwrap_err();
    assert!(matches!(err, Error::InvalidParameter { .. }), "{err}");
}

#[test]
fn clustering_plot_draws_metrics_per_layer() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (run_a(), run_b());
    let one = clustering_plot(&[&a], &dir.path().join("one"))
        .unwrap()
        .unwrap();
    let (svg, _) = check_figure(&one);
    assert_names(
        &svg,
        &[
            "ARI",
            "AMI",
            "homogeneity",
            "completeness",
            "V-measure",
            "relu2",
        ],
    );

    let both = clustering_plot(&[&a, &b], &dir.path().join("both"))
        .unwrap()
        .unwrap();
    let (svg, _) = check_figure(&both);
    assert_names(&svg, &["Fowlkes", "mlp-clean", "mlp-noisy", "conv0"]);

    let mut bare = run_a();
    bare.layers.iter_mut().for_each(|l| l.clustering = None);
    assert_eq!(
        clustering_plot(&[&bare], &dir.path().join("bare")).unwrap(),
        None
    );
    assert!(!dir.path().join("bare.png").exists() && !dir.path().join("bare.svg").exists());
}

#[test]
fn accuracy_plot_draws_bars_per_run() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (run_a(), run_b());
    let figure = accuracy_plot(&[&a, &b], &dir.path().join("acc"))
        .unwrap()
        .unwrap();
    let (svg, _) = check_figure(&figure);
    assert_names(
        &svg,
        &[
            "mlp-clean",
            "mlp-noisy",
            "train",
            "validation",
            "test",
            "97.0%",
        ],
    );

    let mut none = run_b();
    none.accuracy = None;
    assert_eq!(
        accuracy_plot(&[&none], &dir.path().join("x")).unwrap(),
        None
    );
    none.accuracy = Some(probe_report::Accuracy {
        val: Some(f64::NAN),
        ..Default::default()
    });
    assert_eq!(
        accuracy_plot(&[&none], &dir.path().join("x")).unwrap(),
        None
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "only acc.png and acc.svg"
    );
}

#[test]
fn epoch_plot_draws_alpha_per_epoch_with_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_a();
    let figure = epoch_plot(&run, &dir.path().join("epochs"))
        .unwrap()
        .unwrap();
    let (svg, _) = check_figure(&figure);
    assert_names(
        &svg,
        &["input", "relu1", "relu2", "validation accuracy", "epoch"],
    );

    let mut short = run_a();
    short.epochs.truncate(1);
    assert_eq!(epoch_plot(&short, &dir.path().join("short")).unwrap(), None);
    assert_eq!(epoch_plot(&run_b(), &dir.path().join("b")).unwrap(), None);
}

/// Gives every layer of `run` (and of its epochs) five repeated forests around its alpha.
fn with_repeats(mut run: RunReport) -> RunReport {
    let repeat = |l: &mut probe_report::LayerResult| {
        let a = l.record.alpha;
        let stats = probe_alpha::RepeatStats::new(vec![a - 0.02, a - 0.01, a, a + 0.01, a + 0.02]);
        l.record.alpha = stats.alpha_mean;
        l.record.repeats = Some(stats);
    };
    run.layers.iter_mut().for_each(repeat);
    run.epochs
        .iter_mut()
        .flat_map(|e| e.layers.iter_mut())
        .for_each(repeat);
    run
}

#[test]
fn repeated_layers_draw_their_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, repeated) = (run_a(), with_repeats(run_a()));
    let figure = alpha_plot(&[&repeated], &dir.path().join("alpha")).unwrap();
    let (svg, _) = check_figure(&figure);
    assert_names(&svg, &["95% interval (repeated forests)"]);
    let figure = alpha_plot(&[&plain], &dir.path().join("plain")).unwrap();
    assert!(!check_figure(&figure).0.contains("95% interval"));

    // Each epoch's point gets an error bar: a bar and two caps, as lines.
    let lines = |run: &RunReport, stem: &str| {
        let figure = epoch_plot(run, &dir.path().join(stem)).unwrap().unwrap();
        check_figure(&figure).0.matches("<line").count()
    };
    let points: usize = repeated.epochs.iter().map(|e| e.layers.len()).sum();
    assert!(
        lines(&repeated, "epochs") >= lines(&plain, "epochs-plain") + 3 * points,
        "the epoch plot lacks error bars"
    );
}

#[test]
fn embedding_plot_has_a_panel_per_layer() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = run_a();
    run.embeddings[0].points[3] = [f32::NAN, 1.0];
    let figure = embedding_plot(&run, &dir.path().join("emb"))
        .unwrap()
        .unwrap();
    let (svg, _) = check_figure(&figure);
    assert_names(
        &svg,
        &["input (umap)", "relu2 (umap)", "class 0", "class 9"],
    );
    let png = image::open(&figure.png).unwrap().to_rgb8();
    let colours: HashSet<[u8; 3]> = png.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() >= 20,
        "ten classes in ten colours: {}",
        colours.len()
    );

    assert_eq!(
        embedding_plot(&run_b(), &dir.path().join("none")).unwrap(),
        None
    );
    run.embeddings[1].labels.pop();
    let err = embedding_plot(&run, &dir.path().join("bad")).unwrap_err();
    assert!(err.to_string().contains("relu2"), "{err}");
}

#[test]
fn draw_all_names_figures_by_run() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (run_a(), run_b());
    let one = draw_all(&[&a], dir.path()).unwrap();
    let stems: Vec<String> = one
        .iter()
        .map(|f| f.png.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        stems,
        [
            "alpha",
            "accuracy",
            "clustering",
            "epochs",
            "angle",
            "embedding"
        ]
    );
    one.iter().for_each(|f| assert!(f.svg.exists()));

    let twin = RunReport {
        name: "mlp clean".into(),
        ..run_b()
    };
    let many = draw_all(&[&a, &b, &twin], &dir.path().join("many")).unwrap();
    let stems: Vec<String> = many
        .iter()
        .map(|f| f.png.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(stems.contains(&"angle-mlp-noisy".to_string()), "{stems:?}");
    assert!(stems.contains(&"angle-mlp_clean".to_string()), "{stems:?}");
    assert_no_temporaries(&dir.path().join("many"));
}

#[test]
fn a_stem_without_a_file_name_is_refused() {
    let run = run_a();
    let err = alpha_plot(&[&run], Path::new("/")).unwrap_err();
    assert!(
        matches!(err, Error::InvalidParameter { name: "stem", .. }),
        "{err}"
    );
}
