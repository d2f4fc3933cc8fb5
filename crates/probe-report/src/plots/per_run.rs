//! Figures of one run: the τ–angle diagnostic and the embeddings (a panel per layer), and
//! alpha across training epochs.

use std::collections::BTreeSet;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::axis::layer_axis;
use super::key::{draw_line_key, LineItem, SwatchKey};
use super::style::{
    centred, class, desc_font, finite_range, grid, padded, panel_font, series, tick_font,
    title_font, FLAG, FRAME, GUIDE, INK,
};
use super::{render, Figure, Paint, Painter};
use crate::{Error, LayerResult, Result, RunReport};

/// First point of the τ grid of `angle_curve` (SPEC §3: τ_i = 0.30 + i/100).
const TAU0: f64 = 0.30;
/// Shade of the ε windows.
const WINDOW: RGBColor = RGBColor(0xff, 0x7f, 0x0e);

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws the τ–angle diagnostic of every layer of `run`, one panel per layer in a grid of
/// up to three columns.
///
/// Each panel shows the angle of the τ-sparsity curve against τ (grid 0.30, 0.31, …), the
/// windows −90° ± ε₁ and −90° ± ε₂ (ε₂ = 4ε₁) shaded, and a red mark at each critical τ*_k;
/// α_k = 1/τ*_k − 1/2 comes from where the curve leaves the window. The panel's heading is
/// the layer and its alpha, in red when the layer is flagged. A layer without a finite curve
/// gets a panel that says so. Fails with [`Error::InvalidParameter`] when `run` has no layer.
pub fn angle_plot(run: &RunReport, stem: &Path) -> Result<Figure> {
    if run.layers.is_empty() {
        return Err(Error::InvalidParameter {
            name: "run",
            reason: format!("run `{}` has no layer to draw", run.name),
        });
    }
    let (cols, rows) = grid(run.layers.len(), 3);
    let title = format!("τ–angle diagnostic: {}", run.name);
    let size = (420 * cols as u32, 50 + 300 * rows as u32);
    let figure = AngleFigure {
        title: title.clone(),
        layers: &run.layers,
        grid: (cols, rows),
    };
    render(stem, title, size, &figure)
}

struct AngleFigure<'a> {
    title: String,
    layers: &'a [LayerResult],
    grid: (usize, usize),
}

impl Painter for AngleFigure<'_> {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Paint
    where
        DB::ErrorType: 'static,
    {
        let body = root.titled(&self.title, title_font())?;
        let panels = body.split_evenly((self.grid.1, self.grid.0));
        for (i, (layer, area)) in self.layers.iter().zip(&panels).enumerate() {
            angle_panel(area, layer, i == 0)?;
        }
        Ok(())
    }
}

fn angle_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    layer: &LayerResult,
    with_legend: bool,
) -> Paint
where
    DB::ErrorType: 'static,
{
    let r = &layer.record;
    let mut caption = format!("{} · α = {:.3}", r.layer, r.alpha);
    let mut caption_font = panel_font();
    if r.flag.is_some() {
        caption.push_str(" · flagged");
        caption_font = caption_font.color(&FLAG);
    }
    let curve: Vec<(f64, f64)> = r
        .angle_curve
        .iter()
        .enumerate()
        .map(|(i, &a)| (TAU0 + i as f64 / 100.0, a))
        .filter(|(_, a)| a.is_finite())
        .collect();
    let Some((lo, hi)) = finite_range(curve.iter().map(|p| p.1)) else {
        let inner = area.titled(&caption, caption_font)?;
        let (w, h) = inner.dim_in_pixel();
        inner.draw(&Text::new(
            "no finite angle curve",
            (w as i32 / 2, h as i32 / 2),
            centred(tick_font()),
        ))?;
        return Ok(());
    };
    let eps1 = Some(r.epsilon).filter(|e| e.is_finite() && *e > 0.0);
    let eps2 = eps1.map(|e| 4.0 * e);
    // Keep the outer window and a little curve above it in view even when the curve is
    // flat at −90°.
    let (lo, hi) = match eps2 {
        Some(e) => (lo.min(-90.0 - 1.5 * e), hi.max(-90.0 + 3.0 * e)),
        None => (lo, hi),
    };
    let y = padded((lo, hi), 0.05, 0.5);
    let x_end = curve.last().map_or(1.99, |p| p.0.max(TAU0 + 0.1));

    let mut chart = ChartBuilder::on(area)
        .caption(&caption, caption_font)
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(58)
        .build_cartesian_2d(TAU0..x_end, y.0..y.1)?;
    // Whole degrees read best on a tall range; a flat curve needs the decimals.
    let digits = if y.1 - y.0 > 5.0 { 0 } else { 1 };
    numeric_mesh(&mut chart, "τ", "angle (°)", 8, &|v| {
        format!("{v:.digits$}")
    })?;

    for (eps, shade, name) in [(eps2, 0.14, "−90° ± ε₂"), (eps1, 0.32, "−90° ± ε₁")] {
        let Some(e) = eps else { continue };
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(TAU0, -90.0 - e), (x_end, -90.0 + e)],
                WINDOW.mix(shade).filled(),
            )))?
            .label(format!("{name} ({e:.2}°)"))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 20, y + 6)], WINDOW.mix(shade).filled())
            });
    }
    let taus: Vec<f64> = r
        .critical_taus
        .iter()
        .copied()
        .filter(|t| t.is_finite() && (TAU0..=x_end).contains(t))
        .collect();
    for (k, &tau) in taus.iter().enumerate() {
        let drawn = chart.draw_series(LineSeries::new(
            [(tau, y.0), (tau, y.1)],
            FLAG.mix(0.55).stroke_width(1),
        ))?;
        if k == 0 {
            drawn.label("τ*ₖ (critical τ)").legend(|(x, y)| {
                PathElement::new(vec![(x + 10, y - 7), (x + 10, y + 7)], FLAG.stroke_width(1))
            });
        }
    }
    let colour = series(0);
    chart
        .draw_series(LineSeries::new(curve, colour.stroke_width(2)))?
        .label("angle(τ)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    if with_legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .margin(8)
            .legend_area_size(26)
            .background_style(WHITE.mix(0.9))
            .border_style(FRAME)
            .label_font((super::style::FONT, 12).into_font().color(&INK))
            .draw()?;
    }
    Ok(())
}

/// Light horizontal guides and numeric ticks on both axes.
fn numeric_mesh<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    x_desc: &str,
    y_desc: &str,
    x_labels: usize,
    y_format: &dyn Fn(&f64) -> String,
) -> Paint
where
    DB::ErrorType: 'static,
{
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(x_labels)
        .y_labels(6)
        .bold_line_style(GUIDE)
        .light_line_style(TRANSPARENT)
        .axis_style(INK)
        .label_style(tick_font())
        .axis_desc_style(desc_font())
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(y_format)
        .draw()?;
    Ok(())
}

/// Draws alpha per epoch, one line per layer, from the probes taken during training, with
/// the validation accuracy on a secondary axis when measured. A probe with repeated forests
/// draws its 95% interval as an error bar.
///
/// Returns `None`, writing nothing, when the run has fewer than two epochs probed or no
/// finite alpha among them. Layers are matched across epochs by name.
pub fn epoch_plot(run: &RunReport, stem: &Path) -> Result<Option<Figure>> {
    if run.epochs.len() < 2 {
        return Ok(None);
    }
    let mut epochs: Vec<&crate::EpochProbe> = run.epochs.iter().collect();
    epochs.sort_by_key(|e| e.epoch);
    let lists: Vec<Vec<&str>> = epochs
        .iter()
        .map(|e| e.layers.iter().map(|l| l.record.layer.as_str()).collect())
        .collect();
    let axis = layer_axis(&lists);
    let mut lines: Vec<Vec<EpochPoint>> = vec![Vec::new(); axis.labels.len()];
    for (probe, slots) in epochs.iter().zip(&axis.slots) {
        for (&slot, layer) in slots.iter().zip(&probe.layers) {
            let record = &layer.record;
            if record.alpha.is_finite() {
                if let Some(line) = lines.get_mut(slot) {
                    let interval = record
                        .repeats
                        .as_ref()
                        .map(|r| r.alpha_ci)
                        .filter(|ci| ci.iter().all(|v| v.is_finite()));
                    line.push(EpochPoint {
                        epoch: probe.epoch as f64,
                        alpha: record.alpha,
                        interval,
                    });
                }
            }
        }
    }
    let values = lines.iter().flatten().flat_map(|p| {
        let [lo, hi] = p.interval.unwrap_or([p.alpha; 2]);
        [p.alpha, lo, hi]
    });
    let Some(alpha_range) = finite_range(values) else {
        return Ok(None);
    };
    let val: Vec<(f64, f64)> = epochs
        .iter()
        .filter_map(|e| Some((e.epoch as f64, e.val_accuracy?)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    let first = epochs.first().map_or(0, |e| e.epoch) as f64;
    let last = epochs.last().map_or(1, |e| e.epoch) as f64;
    let title = format!("Alpha across training: {}", run.name);
    let figure = EpochFigure {
        title: title.clone(),
        labels: axis.labels,
        lines,
        val,
        x: padded((first, last), 0.06, 1.0),
        y: padded(alpha_range, 0.08, 0.1),
    };
    render(stem, title, (1000, 520), &figure).map(Some)
}

/// One layer's alpha at one epoch, with its 95% interval when repeated.
#[derive(Debug, Clone, Copy)]
struct EpochPoint {
    epoch: f64,
    alpha: f64,
    interval: Option<[f64; 2]>,
}

struct EpochFigure {
    title: String,
    labels: Vec<String>,
    lines: Vec<Vec<EpochPoint>>,
    val: Vec<(f64, f64)>,
    x: (f64, f64),
    y: (f64, f64),
}

/// Width of the key column to the right of a chart.
const KEY_WIDTH: u32 = 190;

impl Painter for EpochFigure {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Paint
    where
        DB::ErrorType: 'static,
    {
        let body = root.titled(&self.title, title_font())?;
        let width = body.dim_in_pixel().0;
        let (plot, key) = body.split_horizontally(width.saturating_sub(KEY_WIDTH));
        let has_val = !self.val.is_empty();
        let mut chart = ChartBuilder::on(&plot)
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .right_y_label_area_size(if has_val { 64 } else { 0 })
            .build_cartesian_2d(self.x.0..self.x.1, self.y.0..self.y.1)?
            .set_secondary_coord(self.x.0..self.x.1, 0.0..1.0);
        let epochs = (self.x.1 - self.x.0).round() as usize + 1;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(epochs.clamp(2, 12))
            .y_labels(8)
            .bold_line_style(GUIDE)
            .light_line_style(TRANSPARENT)
            .axis_style(INK)
            .label_style(tick_font())
            .axis_desc_style(desc_font())
            .x_desc("epoch")
            .y_desc("alpha")
            // Fractional epochs are not probed; leave their ticks unlabelled.
            .x_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-6 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| format!("{v:.2}"))
            .draw()?;
        let mut key_items: Vec<LineItem> = Vec::new();
        for (i, (label, line)) in self.labels.iter().zip(&self.lines).enumerate() {
            let colour = series(i);
            let points = || line.iter().map(|p| (p.epoch, p.alpha));
            chart.draw_series(LineSeries::new(points(), colour.stroke_width(2)))?;
            chart.draw_series(points().map(|p| Circle::new(p, 3, colour.filled())))?;
            chart.draw_series(line.iter().filter_map(|p| {
                let [lo, hi] = p.interval?;
                Some(ErrorBar::new_vertical(
                    p.epoch,
                    lo,
                    p.alpha,
                    hi,
                    colour.stroke_width(1),
                    6,
                ))
            }))?;
            key_items.push((super::style::abbreviate(label, 20), colour, false));
        }
        if has_val {
            chart
                .configure_secondary_axes()
                .axis_style(INK)
                .label_style(tick_font())
                .axis_desc_style(desc_font())
                .y_desc("validation accuracy")
                .y_labels(6)
                .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
                .draw()?;
            chart.draw_secondary_series(DashedLineSeries::new(
                self.val.iter().copied(),
                6,
                4,
                INK.stroke_width(2),
            ))?;
            chart
                .draw_secondary_series(self.val.iter().map(|&p| Circle::new(p, 3, INK.filled())))?;
            key_items.push(("validation accuracy".into(), INK, true));
        }
        draw_line_key(&key, &key_items)
    }
}

/// Draws the 2-D embedding of each layer as a scatter, points coloured by class (a fixed
/// palette of 20 colours, cycling beyond), one panel per layer in a grid of up to four
/// columns, with a key of the classes.
///
/// Returns `None`, writing nothing, when the run has no embedding. Points with a non-finite
/// coordinate are left out. Fails with [`Error::InvalidParameter`] when an embedding has a
/// different number of points and labels.
pub fn embedding_plot(run: &RunReport, stem: &Path) -> Result<Option<Figure>> {
    if run.embeddings.is_empty() {
        return Ok(None);
    }
    for e in &run.embeddings {
        if e.points.len() != e.labels.len() {
            return Err(Error::InvalidParameter {
                name: "embeddings",
                reason: format!(
                    "layer `{}` has {} points but {} labels",
                    e.layer,
                    e.points.len(),
                    e.labels.len()
                ),
            });
        }
    }
    let classes: BTreeSet<u32> = run
        .embeddings
        .iter()
        .flat_map(|e| e.labels.iter().copied())
        .collect();
    let (cols, rows) = grid(run.embeddings.len(), 4);
    let title = format!("2-D embeddings by layer: {}", run.name);
    let width = 340 * cols as u32;
    // The class key wraps; about 85 pixels per "class k" swatch.
    let key_rows = classes
        .len()
        .min(MAX_KEY)
        .div_ceil((width as usize / 85).max(1)) as u32;
    let size = (width, 58 + 22 * key_rows.max(1) + 340 * rows as u32);
    let figure = EmbeddingFigure {
        title: title.clone(),
        run,
        classes: classes.into_iter().collect(),
        grid: (cols, rows),
    };
    render(stem, title, size, &figure).map(Some)
}

struct EmbeddingFigure<'a> {
    title: String,
    run: &'a RunReport,
    classes: Vec<u32>,
    grid: (usize, usize),
}

/// More classes than this get a count instead of a key: the palette repeats anyway.
const MAX_KEY: usize = 20;

impl Painter for EmbeddingFigure<'_> {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Paint
    where
        DB::ErrorType: 'static,
    {
        let body = root.titled(&self.title, title_font())?;
        let body = if self.classes.len() <= MAX_KEY {
            let items: Vec<(String, RGBColor)> = self
                .classes
                .iter()
                .map(|&c| (format!("class {c}"), class(c)))
                .collect();
            let key = SwatchKey::new(&body, &items, body.dim_in_pixel().0.saturating_sub(20))?;
            let (key_area, body) = body.split_vertically(key.height());
            key.draw(&key_area)?;
            body
        } else {
            let (key_area, body) = body.split_vertically(30);
            let (w, h) = key_area.dim_in_pixel();
            key_area.draw(&Text::new(
                format!(
                    "{} classes (colours repeat every {MAX_KEY})",
                    self.classes.len()
                ),
                (w as i32 / 2, h as i32 / 2),
                centred(tick_font()),
            ))?;
            body
        };
        let panels = body.split_evenly((self.grid.1, self.grid.0));
        for (embedding, area) in self.run.embeddings.iter().zip(&panels) {
            let caption = format!("{} ({})", embedding.layer, embedding.method);
            let points: Vec<((f64, f64), u32)> = embedding
                .points
                .iter()
                .zip(&embedding.labels)
                .map(|(p, &c)| ((f64::from(p[0]), f64::from(p[1])), c))
                .filter(|((x, y), _)| x.is_finite() && y.is_finite())
                .collect();
            let xs = finite_range(points.iter().map(|p| p.0 .0));
            let ys = finite_range(points.iter().map(|p| p.0 .1));
            let (Some(xs), Some(ys)) = (xs, ys) else {
                let inner = area.titled(&caption, panel_font())?;
                let (w, h) = inner.dim_in_pixel();
                inner.draw(&Text::new(
                    "no finite points",
                    (w as i32 / 2, h as i32 / 2),
                    centred(tick_font()),
                ))?;
                continue;
            };
            let (x, y) = (padded(xs, 0.04, 1e-3), padded(ys, 0.04, 1e-3));
            let chart = ChartBuilder::on(area)
                .caption(&caption, panel_font())
                .margin(10)
                .build_cartesian_2d(x.0..x.1, y.0..y.1)?;
            let plotting = chart.plotting_area();
            let (w, h) = plotting.dim_in_pixel();
            plotting.strip_coord_spec().draw(&Rectangle::new(
                [(0, 0), (w as i32 - 1, h as i32 - 1)],
                FRAME,
            ))?;
            for (p, c) in points {
                plotting.draw(&Circle::new(p, 2, class(c).mix(0.8).filled()))?;
            }
        }
        Ok(())
    }
}
