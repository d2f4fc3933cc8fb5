//! Figures with layers (or runs) along x: alpha with its band, the clustering metrics, and
//! accuracy bars.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::axis::{draw_labels, label_layout, layer_axis, LayerAxis};
use super::key::SwatchKey;
use super::style::{
    desc_font, finite_range, padded, series, tick_font, title_font, FLAG, FRAME, GUIDE, INK,
};
use super::{render, Figure, Paint, Painter};
use crate::clustering::ClusteringScores;
use crate::{Error, Result, RunReport};

/// Draws alpha per probed layer — the original tool's result plot — to `STEM.png` and
/// `STEM.svg`.
///
/// Each run is a line with markers, its α_k band (`[min α_k, max α_k]`) a shaded area with
/// whiskers, and each flagged layer is circled in red. A layer scored with repeated forests
/// draws the 95% interval of its mean as a bold error bar instead of the band's whiskers. Several runs are overlaid with a
/// legend; their layers are put on one axis as described below.
///
/// **Layer axis.** When runs share layer names, x is the union of the names, merged so that
/// every run keeps its own order (a layer that only one run has goes right after that run's
/// previous layer), and a run is simply absent where it lacks a layer. When no two runs share
/// a name, layers are aligned by position and each tick names the layers found there.
/// Non-finite alphas are left out of the line.
///
/// Fails with [`Error::InvalidParameter`] when there is no finite alpha to draw.
pub fn alpha_plot(runs: &[&RunReport], stem: &Path) -> Result<Figure> {
    let axis = runs_axis(runs);
    let values = runs.iter().flat_map(|run| {
        run.layers.iter().flat_map(|l| {
            let [lo, hi] = interval(&l.record).unwrap_or(l.record.band);
            [l.record.alpha, l.record.band[0], l.record.band[1], lo, hi]
        })
    });
    let (lo, hi) = finite_range(values)
        .filter(|_| {
            runs.iter()
                .any(|r| r.layers.iter().any(|l| l.record.alpha.is_finite()))
        })
        .ok_or_else(|| Error::InvalidParameter {
            name: "runs",
            reason: "no layer has a finite alpha to plot".into(),
        })?;
    let title = match runs {
        [run] => format!("Alpha-score per layer: {}", run.name),
        _ => format!("Alpha-score per layer: {} runs", runs.len()),
    };
    let size = (
        axis_width(axis.labels.len(), 900),
        500 + label_room(&axis.labels),
    );
    let figure = AlphaFigure {
        title: title.clone(),
        runs,
        axis,
        y: padded((lo, hi), 0.08, 0.1),
    };
    render(stem, title, size, &figure)
}

/// The 95% interval of a repeated layer's alpha, when it has a finite one.
fn interval(r: &probe_alpha::LayerRecord) -> Option<[f64; 2]> {
    let ci = r.repeats.as_ref()?.alpha_ci;
    (r.alpha.is_finite() && ci.iter().all(|v| v.is_finite())).then_some(ci)
}

fn runs_axis(runs: &[&RunReport]) -> LayerAxis {
    let lists: Vec<Vec<&str>> = runs
        .iter()
        .map(|r| r.layers.iter().map(|l| l.record.layer.as_str()).collect())
        .collect();
    layer_axis(&lists)
}

/// Width for `n` categories: enough for short labels side by side.
fn axis_width(n: usize, min: u32) -> u32 {
    min.max(160 + 70 * n as u32)
}

/// Extra height for labels that will likely be drawn vertically (the painter measures the
/// real text; this only sizes the canvas).
fn label_room(labels: &[String]) -> u32 {
    let longest = labels
        .iter()
        .map(|l| l.chars().count().min(18))
        .max()
        .unwrap_or(0) as u32;
    (longest * 8).saturating_sub(40)
}

struct AlphaFigure<'a> {
    title: String,
    runs: &'a [&'a RunReport],
    axis: LayerAxis,
    y: (f64, f64),
}

impl Painter for AlphaFigure<'_> {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Paint
    where
        DB::ErrorType: 'static,
    {
        let width = root.dim_in_pixel().0;
        let layout = label_layout(root, &self.axis.labels, width.saturating_sub(110), true)?;
        let n = self.axis.labels.len() as f64;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, title_font())
            .margin(16)
            .x_label_area_size(layout.area)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..n - 0.5, self.y.0..self.y.1)?;
        mesh(&mut chart, "layer", "alpha", &|v| format!("{v:.2}"))?;
        draw_labels(&chart, &layout)?;

        let (mut any_band, mut any_flag, mut any_interval) = (false, false, false);
        for (i, (run, slots)) in self.runs.iter().zip(&self.axis.slots).enumerate() {
            let colour = series(i);
            let mut points: Vec<(f64, &probe_alpha::LayerRecord)> = slots
                .iter()
                .zip(&run.layers)
                .map(|(&x, l)| (x as f64, &l.record))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));

            let banded = |r: &probe_alpha::LayerRecord| {
                r.band.iter().all(|b| b.is_finite()) && r.band[0] <= r.band[1]
            };
            for segment in split_runs(&points, |r| banded(r)) {
                if segment.len() > 1 {
                    any_band = true;
                    let mut outline: Vec<(f64, f64)> =
                        segment.iter().map(|(x, r)| (*x, r.band[1])).collect();
                    outline.extend(segment.iter().rev().map(|(x, r)| (*x, r.band[0])));
                    chart.draw_series(std::iter::once(Polygon::new(
                        outline,
                        colour.mix(0.14).filled(),
                    )))?;
                }
            }
            chart.draw_series(
                points
                    .iter()
                    .filter(|(_, r)| r.repeats.is_none() && banded(r) && r.alpha.is_finite())
                    .map(|(x, r)| {
                        ErrorBar::new_vertical(
                            *x,
                            r.band[0],
                            r.alpha,
                            r.band[1],
                            colour.mix(0.7).stroke_width(1),
                            8,
                        )
                    }),
            )?;
            let intervals: Vec<(f64, f64, [f64; 2])> = points
                .iter()
                .filter_map(|(x, r)| Some((*x, r.alpha, interval(r)?)))
                .collect();
            any_interval |= !intervals.is_empty();
            chart.draw_series(intervals.into_iter().map(|(x, alpha, [lo, hi])| {
                ErrorBar::new_vertical(x, lo, alpha, hi, colour.stroke_width(3), 14)
            }))?;
            // An empty series carries the legend entry, so a run whose alphas are all
            // missing still appears in the legend.
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label(run.name.as_str())
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (20, 0)], colour.stroke_width(2))
                        + Circle::new((10, 0), 4, colour.filled())
                });
            for segment in split_runs(&points, |r| r.alpha.is_finite()) {
                chart.draw_series(LineSeries::new(
                    segment.iter().map(|(x, r)| (*x, r.alpha)),
                    colour.stroke_width(2),
                ))?;
            }
            chart.draw_series(
                points
                    .iter()
                    .filter(|(_, r)| r.alpha.is_finite())
                    .map(|(x, r)| Circle::new((*x, r.alpha), 4, colour.filled())),
            )?;
            let flagged: Vec<(f64, f64)> = points
                .iter()
                .filter(|(_, r)| r.flag.is_some() && r.alpha.is_finite())
                .map(|(x, r)| (*x, r.alpha))
                .collect();
            any_flag |= !flagged.is_empty();
            chart.draw_series(
                flagged
                    .into_iter()
                    .map(|p| Circle::new(p, 9, FLAG.stroke_width(2))),
            )?;
        }
        if any_band {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label("band [min αₖ, max αₖ]")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 20, y + 6)], INK.mix(0.15).filled())
                });
        }
        if any_interval {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label("95% interval (repeated forests)")
                .legend(|(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(10, -7), (10, 7)], INK.stroke_width(3))
                        + PathElement::new(vec![(4, -7), (16, -7)], INK.stroke_width(3))
                        + PathElement::new(vec![(4, 7), (16, 7)], INK.stroke_width(3))
                });
        }
        if any_flag {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label("flagged layer")
                .legend(|(x, y)| Circle::new((x + 10, y), 7, FLAG.stroke_width(2)));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        Ok(())
    }
}

type Chart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// Light horizontal guides only, no x ticks (the categories draw their own).
fn mesh<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    x_desc: &str,
    y_desc: &str,
    y_format: &dyn Fn(&f64) -> String,
) -> Paint
where
    DB::ErrorType: 'static,
{
    let mut mesh = chart.configure_mesh();
    mesh.disable_x_mesh()
        .x_labels(0)
        .y_labels(8)
        .bold_line_style(GUIDE)
        .light_line_style(TRANSPARENT)
        .axis_style(INK)
        .label_style(tick_font())
        .axis_desc_style(desc_font())
        .y_desc(y_desc)
        .y_label_formatter(y_format);
    if !x_desc.is_empty() {
        mesh.x_desc(x_desc);
    }
    mesh.draw()?;
    Ok(())
}

fn legend<'a, DB: DrawingBackend + 'a>(chart: &mut Chart<'a, DB>, at: SeriesLabelPosition) -> Paint
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(at)
        .margin(12)
        .legend_area_size(28)
        .background_style(WHITE.mix(0.9))
        .border_style(FRAME)
        .label_font(tick_font())
        .draw()?;
    Ok(())
}

/// Maximal runs of consecutive points that satisfy `keep`.
fn split_runs<T>(
    points: &[(f64, T)],
    keep: impl Fn(&T) -> bool,
) -> impl Iterator<Item = &[(f64, T)]> {
    points
        .split(move |(_, v)| !keep(v))
        .filter(|segment| !segment.is_empty())
}

/// Reads one metric.
type Metric = fn(&ClusteringScores) -> f64;

/// The six clustering metrics: name and accessor.
const METRICS: [(&str, Metric); 6] = [
    ("ARI", |c| c.ari),
    ("AMI", |c| c.ami),
    ("homogeneity", |c| c.homogeneity),
    ("completeness", |c| c.completeness),
    ("V-measure", |c| c.v_measure),
    ("Fowlkes–Mallows", |c| c.fowlkes_mallows),
];

/// Draws the clustering metrics per layer: with one run, one panel with a line per metric;
/// with several, one panel per metric with a line per run (layers on one axis as in
/// [`alpha_plot`]). Returns `None`, writing nothing, when no layer has clustering scores.
pub fn clustering_plot(runs: &[&RunReport], stem: &Path) -> Result<Option<Figure>> {
    let measured = |run: &&&RunReport| run.layers.iter().any(|l| l.clustering.is_some());
    if !runs.iter().any(|r| measured(&r)) {
        return Ok(None);
    }
    let axis = runs_axis(runs);
    // lines[run][metric] = (x, value) for each measured layer.
    let lines: Vec<Vec<Vec<(f64, f64)>>> = runs
        .iter()
        .zip(&axis.slots)
        .map(|(run, slots)| {
            METRICS
                .iter()
                .map(|(_, get)| {
                    let mut line: Vec<(f64, f64)> = slots
                        .iter()
                        .zip(&run.layers)
                        .filter_map(|(&x, l)| l.clustering.as_ref().map(|c| (x as f64, get(c))))
                        .filter(|(_, v)| v.is_finite())
                        .collect();
                    line.sort_by(|a, b| a.0.total_cmp(&b.0));
                    line
                })
                .collect()
        })
        .collect();
    let all = lines.iter().flatten().flatten().map(|p| p.1);
    let (lo, hi) = finite_range(all).unwrap_or((0.0, 1.0));
    let y = padded((lo.min(0.0), hi.max(1.0)), 0.04, 0.1);
    let n = axis.labels.len();
    let (title, size) = if let [run] = runs {
        let title = format!("Clustering of each layer (k-means vs labels): {}", run.name);
        (title, (axis_width(n, 900), 500 + label_room(&axis.labels)))
    } else {
        let title = format!(
            "Clustering of each layer (k-means vs labels): {} runs",
            runs.len()
        );
        let panel = (axis_width(n, 420).min(900), 340 + label_room(&axis.labels));
        (title, (3 * panel.0, 50 + 2 * panel.1))
    };
    let names = runs.iter().map(|r| r.name.clone()).collect();
    let figure = ClusteringFigure {
        title: title.clone(),
        names,
        axis,
        lines,
        y,
    };
    render(stem, title, size, &figure).map(Some)
}

struct ClusteringFigure {
    title: String,
    names: Vec<String>,
    axis: LayerAxis,
    lines: Vec<Vec<Vec<(f64, f64)>>>,
    y: (f64, f64),
}

impl Painter for ClusteringFigure {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Paint
    where
        DB::ErrorType: 'static,
    {
        if let [metrics] = self.lines.as_slice() {
            let named: Vec<(&str, &[(f64, f64)])> = METRICS
                .iter()
                .zip(metrics)
                .map(|((name, _), line)| (*name, line.as_slice()))
                .collect();
            return self.panel(root, &self.title, &named, true);
        }
        let body = root.titled(&self.title, title_font())?;
        for (m, area) in body.split_evenly((2, 3)).iter().enumerate() {
            let Some((metric, _)) = METRICS.get(m) else {
                break;
            };
            let named: Vec<(&str, &[(f64, f64)])> = self
                .names
                .iter()
                .zip(&self.lines)
                .map(|(name, metrics)| (name.as_str(), metrics[m].as_slice()))
                .collect();
            self.panel(area, metric, &named, m == 0)?;
        }
        Ok(())
    }
}

impl ClusteringFigure {
    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        caption: &str,
        lines: &[(&str, &[(f64, f64)])],
        with_legend: bool,
    ) -> Paint
    where
        DB::ErrorType: 'static,
    {
        let width = area.dim_in_pixel().0;
        let layout = label_layout(area, &self.axis.labels, width.saturating_sub(100), true)?;
        let n = self.axis.labels.len() as f64;
        let caption_font = if self.lines.len() == 1 {
            title_font()
        } else {
            super::style::panel_font()
        };
        let mut chart = ChartBuilder::on(area)
            .caption(caption, caption_font)
            .margin(14)
            .x_label_area_size(layout.area)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5..n - 0.5, self.y.0..self.y.1)?;
        mesh(&mut chart, "layer", "score", &|v| format!("{v:.1}"))?;
        draw_labels(&chart, &layout)?;
        for (i, (name, line)) in lines.iter().enumerate() {
            let colour = series(i);
            chart
                .draw_series(LineSeries::new(
                    line.iter().copied(),
                    colour.stroke_width(2),
                ))?
                .label(*name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        }
        if with_legend {
            legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        }
        Ok(())
    }
}

/// Reads one split's accuracy.
type Split = fn(&crate::Accuracy) -> Option<f64>;

/// The three splits: name, accessor, colour.
const SPLITS: [(&str, Split, RGBColor); 3] = [
    ("train", |a| a.train, RGBColor(0x4e, 0x79, 0xa7)),
    ("validation", |a| a.val, RGBColor(0xf2, 0x8e, 0x2b)),
    ("test", |a| a.test, RGBColor(0x59, 0xa1, 0x4f)),
];

/// Draws train / validation / test accuracy as grouped bars, one group per run that has
/// any, each bar labelled with its percentage. Returns `None`, writing nothing, when no run
/// has a finite accuracy.
pub fn accuracy_plot(runs: &[&RunReport], stem: &Path) -> Result<Option<Figure>> {
    let groups: Vec<(String, [Option<f64>; 3])> = runs
        .iter()
        .filter_map(|run| {
            let acc = run.accuracy.as_ref()?;
            let values = SPLITS.map(|(_, get, _)| get(acc).filter(|v| v.is_finite()));
            values
                .iter()
                .any(Option::is_some)
                .then(|| (run.name.clone(), values))
        })
        .collect();
    if groups.is_empty() {
        return Ok(None);
    }
    let top = finite_range(groups.iter().flat_map(|g| g.1.iter().flatten().copied()))
        .map_or(1.0, |r| r.1.max(1.0));
    let title = match runs {
        [run] => format!("Accuracy: {}", run.name),
        _ => "Accuracy per run".to_string(),
    };
    let labels: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
    let size = (
        600.max(220 + 200 * groups.len() as u32),
        460 + label_room(&labels),
    );
    let figure = AccuracyFigure {
        title: title.clone(),
        labels,
        groups,
        top: top * 1.1,
    };
    render(stem, title, size, &figure).map(Some)
}

struct AccuracyFigure {
    title: String,
    labels: Vec<String>,
    groups: Vec<(String, [Option<f64>; 3])>,
    top: f64,
}

impl Painter for AccuracyFigure {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Paint
    where
        DB::ErrorType: 'static,
    {
        let body = root.titled(&self.title, title_font())?;
        let present: Vec<(String, RGBColor)> = SPLITS
            .iter()
            .enumerate()
            .filter(|(s, _)| self.groups.iter().any(|g| g.1[*s].is_some()))
            .map(|(_, (name, _, colour))| (name.to_string(), *colour))
            .collect();
        let key = SwatchKey::new(&body, &present, body.dim_in_pixel().0)?;
        let (key_area, body) = body.split_vertically(key.height());
        key.draw(&key_area)?;

        let width = body.dim_in_pixel().0;
        let layout = label_layout(&body, &self.labels, width.saturating_sub(100), false)?;
        let n = self.labels.len() as f64;
        let mut chart = ChartBuilder::on(&body)
            .margin(16)
            .x_label_area_size(layout.area)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..n - 0.5, 0.0..self.top)?;
        mesh(&mut chart, "", "accuracy", &|v| {
            format!("{:.0}%", v * 100.0)
        })?;
        draw_labels(&chart, &layout)?;
        let value_font = super::style::note_font().pos(Pos::new(HPos::Center, VPos::Bottom));
        for (g, (_, values)) in self.groups.iter().enumerate() {
            for (s, value) in values.iter().enumerate() {
                let Some(v) = *value else { continue };
                let x = g as f64 + 0.27 * (s as f64 - 1.0);
                let colour = SPLITS[s].2;
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x - 0.12, 0.0), (x + 0.12, v)],
                    colour.filled(),
                )))?;
                chart.plotting_area().draw(
                    &(EmptyElement::at((x, v))
                        + Text::new(format!("{:.1}%", v * 100.0), (0, -4), value_font.clone())),
                )?;
            }
        }
        Ok(())
    }
}
