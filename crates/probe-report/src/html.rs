//! The self-contained `report.html`: one page with the settings and per-layer table of each
//! run and every figure inlined as a PNG data URI, so that it can be mailed, archived or
//! opened offline. It loads nothing: no fonts, scripts or styles from elsewhere.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::compare::compare_runs;
use crate::plots::Figure;
use crate::{Error, LayerResult, Result, RunReport};

/// Writes the report for `runs` with `figures` (in the given order) to `out`, atomically:
/// the page is written beside `out` and renamed into place. The parent folder is created
/// when missing.
///
/// The page has, per run, its settings, its accuracy when known, and a table of the layers
/// (width, alpha, band, clustering ARI/AMI when measured, and the flag with its reason);
/// then each figure's PNG with its title and a caption. Every string that comes from the
/// data is HTML-escaped. A small inline script sets `data-images-ok="K/N"` on `<body>` once
/// the page has loaded (K of N images decoded), for automated checks.
///
/// Fails with [`Error::Io`] when a figure's PNG cannot be read or the page cannot be
/// written.
pub fn write_report(runs: &[&RunReport], figures: &[Figure], out: &Path) -> Result<()> {
    let page = render_page(runs, figures)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let file_name =
        out.file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::InvalidParameter {
                name: "out",
                reason: format!("`{}` does not end in a UTF-8 file name", out.display()),
            })?;
    let dir = out.parent().unwrap_or(Path::new(""));
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let written = std::fs::write(&tmp, page)
        .map_err(io(&tmp))
        .and_then(|()| std::fs::rename(&tmp, out).map_err(io(out)));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

const STYLE: &str = r#"
:root { --ink: #222; --muted: #666; --line: #ddd; --band: #f6f7f9; --flag: #b3261e;
        --flag-bg: #fdecea; --accent: #1f77b4; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 12px; padding-bottom: 6px;
     border-bottom: 2px solid var(--accent); }
h3 { font-size: 16px; margin: 0 0 8px; }
.subtitle { color: var(--muted); margin: 0; }
.tables { display: flex; flex-wrap: wrap; gap: 12px 32px; align-items: flex-start; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; color: var(--muted); }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: left;
         vertical-align: top; }
th { background: var(--band); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.layers { width: 100%; }
tr.flagged td { background: var(--flag-bg); }
.badge { display: inline-block; padding: 0 6px; margin-right: 6px; border-radius: 3px;
         background: var(--flag); color: #fff; font-size: 12px; font-weight: 600; }
.reason { color: var(--flag); }
.note { color: var(--muted); font-size: 14px; }
.overlap { color: var(--muted); font-size: 12px; }
figure { margin: 0 0 32px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; margin-top: 6px; }
footer { color: var(--muted); font-size: 12px; margin-top: 40px; }
"#;

/// Counts the images that decoded, for `scripts/check-report.sh`.
const SCRIPT: &str = r#"
window.addEventListener('load', function () {
  var images = document.images, ok = 0;
  for (var i = 0; i < images.length; i++) {
    if (images[i].complete && images[i].naturalWidth > 0) { ok++; }
  }
  document.body.setAttribute('data-images-ok', ok + '/' + images.length);
});
"#;

fn render_page(runs: &[&RunReport], figures: &[Figure]) -> Result<String> {
    let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
    let heading = match names.as_slice() {
        [name] => format!("Sparsity Probe report: {name}"),
        _ => format!("Sparsity Probe report: {} runs", runs.len()),
    };
    let mut page = String::with_capacity(1 << 16);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
        escape(&heading),
        escape(&heading)
    );
    let _ = writeln!(
        page,
        "<p class=\"subtitle\">Alpha-score of each probed layer: how simply its representation \
         of the training set separates the classes (higher is simpler). Runs: {}.</p>",
        escape(&names.join(", "))
    );
    if runs.len() > 1 {
        comparison_section(&mut page, runs);
    }
    for (i, run) in runs.iter().enumerate() {
        run_section(&mut page, run, i + 1);
    }
    if !figures.is_empty() {
        page.push_str("<section class=\"figures\">\n<h2>Figures</h2>\n");
        for (i, figure) in figures.iter().enumerate() {
            figure_block(&mut page, figure, i + 1)?;
        }
        page.push_str("</section>\n");
    }
    let _ = write!(
        page,
        "<footer>Made by probe-report {}. The page is self-contained: figures are embedded, \
         nothing is loaded from elsewhere.</footer>\n</main>\n<script>{SCRIPT}</script>\n\
         </body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    Ok(page)
}

/// Every run's alpha per layer, and each later run's difference from the first, marked
/// where both intervals exist and overlap.
fn comparison_section(page: &mut String, runs: &[&RunReport]) {
    let rows = compare_runs(runs);
    page.push_str(
        "<section class=\"comparison\">\n<h2>Comparison</h2>\n<p class=\"note\">Alpha per \
         layer in each run (with the 95% interval where repeated forests measured one) and \
         the difference from the first run. <span class=\"overlap\">≈ overlap</span> marks a \
         difference whose two intervals overlap: the repeats cannot tell those runs apart \
         at that layer.</p>\n<table class=\"layers\">\n<thead><tr><th>layer</th>",
    );
    for (k, run) in runs.iter().enumerate() {
        let _ = write!(page, "<th>{}</th>", escape(&run.name));
        if k > 0 {
            let _ = write!(page, "<th>Δ vs {}</th>", escape(&runs[0].name));
        }
    }
    page.push_str("</tr></thead>\n<tbody>\n");
    for row in &rows {
        let _ = write!(page, "<tr><td>{}</td>", escape(&row.layer));
        for (k, alpha) in row.alphas.iter().enumerate() {
            let cell = alpha.map_or("—".to_string(), |a| match a.interval {
                Some([lo, hi]) => format!(
                    "{} [{}, {}]",
                    number(a.alpha, 4),
                    number(lo, 3),
                    number(hi, 3)
                ),
                None => number(a.alpha, 4),
            });
            let _ = write!(page, "<td class=\"num\">{cell}</td>");
            if k > 0 {
                let cell = row.differences[k - 1].map_or("—".to_string(), |d| {
                    let mark = match d.overlap {
                        Some(true) => " <span class=\"overlap\">≈ overlap</span>",
                        _ => "",
                    };
                    format!("{}{mark}", signed(d.delta))
                });
                let _ = write!(page, "<td class=\"num\">{cell}</td>");
            }
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody>\n</table>\n</section>\n");
}

fn signed(value: f64) -> String {
    if value.is_finite() {
        format!("{value:+.4}")
    } else {
        "—".into()
    }
}

fn run_section(page: &mut String, run: &RunReport, number: usize) {
    let _ = writeln!(
        page,
        "<section class=\"run\" id=\"run-{number}\">\n<h2>Run: {}</h2>",
        escape(&run.name)
    );
    let flagged = run
        .layers
        .iter()
        .filter(|l| l.record.flag.is_some())
        .count();
    let mut summary = format!("{} layers probed, {flagged} flagged", run.layers.len());
    if let Some(first) = run.layers.first() {
        let r = &first.record;
        let _ = write!(summary, "; {} samples, {} classes", r.n, r.classes);
    }
    let _ = writeln!(page, "<p class=\"note\">{}.</p>", escape(&summary));

    page.push_str("<div class=\"tables\">\n");
    settings_table(page, &run.settings);
    if let Some(acc) = &run.accuracy {
        page.push_str("<table class=\"accuracy\">\n<caption>Accuracy");
        if let Some(epoch) = acc.epoch {
            let _ = write!(page, " (epoch {epoch})");
        }
        page.push_str("</caption>\n");
        for (split, value) in [
            ("train", acc.train),
            ("validation", acc.val),
            ("test", acc.test),
        ] {
            let _ = writeln!(
                page,
                "<tr><th>{split}</th><td class=\"num\">{}</td></tr>",
                percent(value)
            );
        }
        page.push_str("</table>\n");
    }
    page.push_str("</div>\n");
    layer_table(page, &run.layers);
    page.push_str("</section>\n");
}

fn settings_table(page: &mut String, settings: &Value) {
    let mut rows = Vec::new();
    match settings {
        Value::Null => {}
        Value::Object(_) => flatten("", settings, &mut rows),
        other => rows.push(("value".to_string(), scalar(other))),
    }
    page.push_str("<table class=\"settings\">\n<caption>Settings</caption>\n");
    if rows.is_empty() {
        page.push_str("<tr><td class=\"note\">none recorded</td></tr>\n");
    }
    for (key, value) in rows {
        let _ = writeln!(
            page,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(&key),
            escape(&value)
        );
    }
    page.push_str("</table>\n");
}

/// Nested objects become dotted keys (`reduce.method`); arrays stay compact JSON.
fn flatten(prefix: &str, value: &Value, rows: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let key = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, inner, rows);
            }
        }
        other => rows.push((prefix.to_string(), scalar(other))),
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn layer_table(page: &mut String, layers: &[LayerResult]) {
    let clustered = layers.iter().any(|l| l.clustering.is_some());
    page.push_str(
        "<table class=\"layers\">\n<caption>Layers</caption>\n<thead><tr><th>#</th>\
         <th>layer</th><th>width</th><th>alpha</th><th>band [min α<sub>k</sub>, max \
         α<sub>k</sub>]</th>",
    );
    let repeated = layers.iter().any(|l| l.record.repeats.is_some());
    if repeated {
        page.push_str("<th>95% interval (repeats)</th>");
    }
    if clustered {
        page.push_str("<th>ARI</th><th>AMI</th>");
    }
    page.push_str("<th>flag</th></tr></thead>\n<tbody>\n");
    for (i, layer) in layers.iter().enumerate() {
        let r = &layer.record;
        let class = if r.flag.is_some() {
            " class=\"flagged\""
        } else {
            ""
        };
        let index = r.layer_index.map_or(i as i64, |k| k);
        let _ = write!(
            page,
            "<tr{class}><td class=\"num\">{index}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">[{}, {}]</td>",
            escape(&r.layer),
            escape(&width(r)),
            number(r.alpha, 4),
            number(r.band[0], 3),
            number(r.band[1], 3),
        );
        if repeated {
            let cell = r.repeats.as_ref().map_or("—".to_string(), |stats| {
                format!(
                    "[{}, {}] ({})",
                    number(stats.alpha_ci[0], 3),
                    number(stats.alpha_ci[1], 3),
                    stats.repeats()
                )
            });
            let _ = write!(page, "<td class=\"num\">{cell}</td>");
        }
        if clustered {
            let (ari, ami) = layer
                .clustering
                .as_ref()
                .map_or((f64::NAN, f64::NAN), |c| (c.ari, c.ami));
            let _ = write!(
                page,
                "<td class=\"num\">{}</td><td class=\"num\">{}</td>",
                number(ari, 3),
                number(ami, 3)
            );
        }
        match &r.flag {
            Some(reason) => {
                let _ = write!(
                    page,
                    "<td><span class=\"badge\">flagged</span><span class=\"reason\">{}</span></td>",
                    escape(reason)
                );
            }
            None => page.push_str("<td></td>"),
        }
        page.push_str("</tr>\n");
    }
    page.push_str("</tbody>\n</table>\n");
}

/// `d`, and where the probe saw fewer dimensions than the layer has, the original width and
/// how it was reduced.
fn width(r: &probe_alpha::LayerRecord) -> String {
    let mut text = r.d.to_string();
    let mut notes = Vec::new();
    if r.input_d != r.d {
        notes.push(format!("from {}", r.input_d));
    }
    if let Some(reduction) = &r.reduction {
        notes.push(reduction.clone());
    }
    if let Some(kept) = r.explained_variance_ratio.filter(|v| v.is_finite()) {
        notes.push(format!("{:.1}% variance kept", 100.0 * kept));
    }
    if !notes.is_empty() {
        let _ = write!(text, " ({})", notes.join(", "));
    }
    text
}

fn number(value: f64, digits: usize) -> String {
    if value.is_finite() {
        format!("{value:.digits$}")
    } else {
        "—".into()
    }
}

fn percent(value: Option<f64>) -> String {
    value
        .filter(|v| v.is_finite())
        .map_or("—".into(), |v| format!("{:.2}%", 100.0 * v))
}

fn figure_block(page: &mut String, figure: &Figure, number: usize) -> Result<()> {
    let png = std::fs::read(&figure.png).map_err(|source| Error::Io {
        path: figure.png.clone(),
        source,
    })?;
    let file = |p: &Path| {
        p.file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into())
    };
    let size = png_size(&png)
        .map(|(w, h)| format!(" width=\"{w}\" height=\"{h}\""))
        .unwrap_or_default();
    let _ = write!(
        page,
        "<figure>\n<h3>{title}</h3>\n<img alt=\"{title}\"{size} src=\"data:image/png;base64,",
        title = escape(&figure.title)
    );
    base64_into(page, &png);
    let _ = writeln!(
        page,
        "\">\n<figcaption>Figure {number}. Files: {} (raster) and {} (vector, for \
         print).</figcaption>\n</figure>",
        escape(&file(&figure.png)),
        escape(&file(&figure.svg)),
    );
    Ok(())
}

/// Width and height from a PNG's header, when it is one.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 24 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap_or([0; 4]));
    Some((be(16), be(20)))
}

/// Escapes the five characters that can break out of HTML text or a quoted attribute.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 with padding (RFC 4648 §4), appended to `out`.
fn base64_into(out: &mut String, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.reserve(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * k)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        let mut s = String::new();
        base64_into(&mut s, bytes);
        s
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(b64(plain.as_bytes()), encoded);
        }
        assert_eq!(b64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn settings_flatten_to_dotted_keys() {
        let mut rows = Vec::new();
        let settings = serde_json::json!({"a": 1, "b": {"c": "x", "d": null}, "e": [1, 2]});
        flatten("", &settings, &mut rows);
        let rows: Vec<(&str, &str)> = rows.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            rows,
            [("a", "1"), ("b.c", "x"), ("b.d", "none"), ("e", "[1,2]")]
        );
    }
}
