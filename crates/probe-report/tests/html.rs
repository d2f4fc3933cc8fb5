//! The report is one self-contained page: every figure inlined, every string from the data
//! escaped, nothing fetched from elsewhere.
//!
//! Set `PROBE_REPORT_KEEP=DIR` to keep the two-run report and its figures in DIR, e.g. to
//! check it in a browser with `scripts/check-report.sh DIR/report.html`.

mod report_fixtures;

use std::path::Path;

use probe_report::html::write_report;
use probe_report::plots::{draw_all, Figure};
use probe_report::{Error, RunReport};
use report_fixtures::{run_a, run_b};

/// Draws the figures and writes the report into `dir`; returns the page and its figures.
fn report(runs: &[&RunReport], dir: &Path) -> (String, Vec<Figure>) {
    let figures = draw_all(runs, &dir.join("figures")).unwrap();
    let out = dir.join("report.html");
    write_report(runs, &figures, &out).unwrap();
    (std::fs::read_to_string(&out).unwrap(), figures)
}

/// Base64 written independently of the crate's encoder, bit by bit the slow way.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for (i, b) in chunk.iter().enumerate() {
            n |= u32::from(*b) << (16 - 8 * i);
        }
        for k in 0..4 {
            out.push(if k <= chunk.len() {
                A[(n >> (18 - 6 * k)) as usize & 63] as char
            } else {
                '='
            });
        }
    }
    out
}

#[test]
fn the_page_inlines_every_figure_and_names_every_layer() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (run_a(), run_b());
    let (page, figures) = report(&[&a, &b], dir.path());

    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    assert!(figures.len() >= 6, "{} figures", figures.len());
    for figure in &figures {
        let png = std::fs::read(&figure.png).unwrap();
        let uri = format!("data:image/png;base64,{}", base64(&png));
        assert!(
            page.contains(&uri),
            "{} is not inlined",
            figure.png.display()
        );
        assert!(page.contains(&format!("<h3>{}</h3>", figure.title)));
    }
    assert_eq!(page.matches("<img ").count(), figures.len());
    for name in ["input", "conv0", "relu1", "relu2"] {
        assert!(
            page.contains(&format!("<td>{name}</td>")),
            "layer `{name}` missing"
        );
    }
    for name in ["mlp-clean", "mlp-noisy"] {
        assert!(
            page.contains(&format!("<h2>Run: {name}</h2>")),
            "run `{name}` missing"
        );
    }
    // The flag is shown with its reason, the settings and accuracy as tables.
    let reason = a.layers[1].record.flag.as_ref().unwrap();
    assert!(page.contains("class=\"flagged\""));
    assert!(page.contains(&format!("<span class=\"reason\">{reason}</span>")));
    assert!(page.contains("<th>epsilon</th><td>0.1</td>"));
    assert!(page.contains("<th>noise</th><td>0.2</td>"));
    assert!(page.contains("97.00%"));
    assert!(page.contains("<th>ARI</th><th>AMI</th>"));
    assert!(
        page.contains("data-images-ok"),
        "the load-check script is there"
    );

    if let Some(keep) = std::env::var_os("PROBE_REPORT_KEEP") {
        let keep = Path::new(&keep);
        let figures = draw_all(&[&a, &b], &keep.join("figures")).unwrap();
        write_report(&[&a, &b], &figures, &keep.join("report.html")).unwrap();
    }
}

#[test]
fn the_page_loads_nothing_from_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let a = run_a();
    let (page, _) = report(&[&a], dir.path());
    for forbidden in [
        "http://", "https://", "<link", "@import", "url(", "src=\"/", "src=\".",
    ] {
        assert!(!page.contains(forbidden), "page contains `{forbidden}`");
    }
    for src in page.split("src=\"").skip(1) {
        assert!(
            src.starts_with("data:image/png;base64,"),
            "src={}",
            &src[..40.min(src.len())]
        );
    }
}

#[test]
fn strings_from_the_data_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = run_b();
    run.name = "<a&b>".into();
    run.layers[1].record.layer = "conv<script>".into();
    run.layers[2].record.flag = Some("alpha < band & \"quoted\"".into());
    run.settings = serde_json::json!({"<key>": "<value onload='x'>"});
    let (page, _) = report(&[&run], dir.path());
    assert!(page.contains("&lt;a&amp;b&gt;"));
    assert!(!page.contains("<a&b>"));
    assert!(page.contains("conv&lt;script&gt;"));
    assert_eq!(
        page.matches("<script>").count(),
        1,
        "only the page's own script"
    );
    assert!(page.contains("alpha &lt; band &amp; &quot;quoted&quot;"));
    assert!(page.contains("<th>&lt;key&gt;</th><td>&lt;value onload=&#39;x&#39;&gt;</td>"));
}

#[test]
fn a_report_without_figures_still_has_the_tables_and_the_write_is_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let mut run = run_a();
    run.settings = serde_json::Value::Null;
    run.layers[0].record.alpha = f64::NAN;
    run.layers[0].record.input_d = 4096;
    run.layers[0].record.reduction = Some("tsvd:64".into());
    run.layers[0].record.explained_variance_ratio = Some(0.921);
    let out = dir.path().join("nested/report.html");
    write_report(&[&run], &[], &out).unwrap();
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(!page.contains("<img"));
    assert!(page.contains("none recorded"));
    assert!(page.contains("64 (from 4096, tsvd:64, 92.1% variance kept)"));
    assert!(
        page.contains("<td class=\"num\">—</td>"),
        "NaN shown as a dash"
    );
    let names: Vec<String> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["report.html"], "no temporary file left");
}

#[test]
fn a_missing_figure_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_a();
    let figure = Figure {
        title: "gone".into(),
        png: dir.path().join("gone.png"),
        svg: dir.path().join("gone.svg"),
    };
    let out = dir.path().join("report.html");
    let err = write_report(&[&run], &[figure], &out).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, .. } if path.ends_with("gone.png")),
        "{err}"
    );
    assert!(!out.exists());
}
