//! A categorical x axis (layers, runs) on a numeric chart: category `i` sits at x = i, the
//! range is −0.5..n−0.5, and the labels are drawn by hand because plotters centres rotated
//! tick labels on the tick, which puts half of each label inside the plot.

use std::collections::HashMap;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::{abbreviate, tick_font, INK};
use super::Paint;

/// Labels longer than this are shortened to their two ends.
const MAX_LABEL: usize = 18;

/// The layers of several runs on one axis.
pub(crate) struct LayerAxis {
    /// Tick labels, in axis order.
    pub labels: Vec<String>,
    /// For each input list, the axis position of each of its entries.
    pub slots: Vec<Vec<usize>>,
}

/// Puts several runs' layer lists on one axis.
///
/// When the runs share layer names (the usual case: the same network trained differently)
/// the axis is the union of the names, merged so that each run keeps its own order: a name
/// new to the axis goes right after the run's previous layer. When no name is shared by two
/// runs (different networks) the layers are aligned by position instead, and each tick is
/// labelled with the names found there. A name repeated within one run is kept apart by its
/// occurrence, so nothing is drawn twice at one position.
pub(crate) fn layer_axis(lists: &[Vec<&str>]) -> LayerAxis {
    let keyed: Vec<Vec<(&str, usize)>> = lists
        .iter()
        .map(|names| {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            names
                .iter()
                .map(|&name| {
                    let k = seen.entry(name).or_insert(0);
                    *k += 1;
                    (name, *k)
                })
                .collect()
        })
        .collect();

    let mut runs_with: HashMap<(&str, usize), usize> = HashMap::new();
    for list in &keyed {
        for key in list {
            *runs_with.entry(*key).or_insert(0) += 1;
        }
    }
    let shared = runs_with.values().any(|&count| count > 1);

    if lists.len() > 1 && !shared {
        let width = lists.iter().map(Vec::len).max().unwrap_or(0);
        let labels = (0..width)
            .map(|i| {
                let mut here: Vec<&str> = Vec::new();
                for names in lists {
                    if let Some(&name) = names.get(i) {
                        if !here.contains(&name) {
                            here.push(name);
                        }
                    }
                }
                here.join(" / ")
            })
            .collect();
        let slots = lists
            .iter()
            .map(|names| (0..names.len()).collect())
            .collect();
        return LayerAxis { labels, slots };
    }

    let mut axis: Vec<(&str, usize)> = Vec::new();
    for list in &keyed {
        let mut cursor: Option<usize> = None;
        for key in list {
            if let Some(at) = axis.iter().position(|k| k == key) {
                cursor = Some(at);
            } else {
                let at = cursor.map_or(0, |c| c + 1);
                axis.insert(at, *key);
                cursor = Some(at);
            }
        }
    }
    let position: HashMap<(&str, usize), usize> =
        axis.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let slots = keyed
        .iter()
        .map(|list| {
            list.iter()
                .filter_map(|k| position.get(k).copied())
                .collect()
        })
        .collect();
    let labels = axis
        .iter()
        .map(|&(name, occurrence)| {
            if occurrence == 1 {
                name.to_string()
            } else {
                format!("{name} ({occurrence})")
            }
        })
        .collect();
    LayerAxis { labels, slots }
}

/// How the category labels fit under a chart.
pub(crate) struct LabelLayout {
    /// Shortened labels.
    pub labels: Vec<String>,
    /// Whether they are drawn vertically.
    pub vertical: bool,
    /// Height in pixels of the x label area, the axis description included.
    pub area: u32,
}

/// Chooses horizontal labels when they fit side by side in `plot_width` pixels, vertical
/// ones otherwise.
pub(crate) fn label_layout<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    labels: &[String],
    plot_width: u32,
    with_desc: bool,
) -> std::result::Result<LabelLayout, Box<dyn std::error::Error + Send + Sync>>
where
    DB::ErrorType: 'static,
{
    let labels: Vec<String> = labels.iter().map(|l| abbreviate(l, MAX_LABEL)).collect();
    let style = tick_font();
    let mut widest = 0;
    let mut total = 0;
    let mut height = 0;
    for label in &labels {
        let (w, h) = root.estimate_text_size(label, &style)?;
        widest = widest.max(w);
        total += w + 10;
        height = height.max(h);
    }
    let slot = plot_width / (labels.len().max(1) as u32);
    let vertical = widest + 10 > slot || total > plot_width;
    let desc = if with_desc { 26 } else { 4 };
    let area = if vertical { widest + 14 } else { height + 12 } + desc;
    Ok(LabelLayout {
        labels,
        vertical,
        area,
    })
}

/// Draws tick marks and labels under each category of a chart built on −0.5..n−0.5.
pub(crate) fn draw_labels<DB: DrawingBackend>(
    chart: &ChartContext<DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    layout: &LabelLayout,
) -> Paint
where
    DB::ErrorType: 'static,
{
    let bottom = chart.y_range().start;
    let area = chart.plotting_area();
    let style = if layout.vertical {
        tick_font()
            .transform(FontTransform::Rotate270)
            .pos(Pos::new(HPos::Right, VPos::Center))
    } else {
        tick_font().pos(Pos::new(HPos::Center, VPos::Top))
    };
    for (i, label) in layout.labels.iter().enumerate() {
        let at = (i as f64, bottom);
        area.draw(&(EmptyElement::at(at) + PathElement::new(vec![(0, 0), (0, 5)], INK)))?;
        area.draw(&(EmptyElement::at(at) + Text::new(label.clone(), (0, 8), style.clone())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_run_keeps_its_order() {
        let axis = layer_axis(&[vec!["input", "relu1", "relu2"]]);
        assert_eq!(axis.labels, ["input", "relu1", "relu2"]);
        assert_eq!(axis.slots, [vec![0, 1, 2]]);
    }

    #[test]
    fn union_keeps_each_runs_order() {
        let axis = layer_axis(&[
            vec!["input", "relu1", "relu2"],
            vec!["input", "conv1", "relu1", "relu2", "fc"],
        ]);
        assert_eq!(axis.labels, ["input", "conv1", "relu1", "relu2", "fc"]);
        assert_eq!(axis.slots, [vec![0, 2, 3], vec![0, 1, 2, 3, 4]]);
    }

    #[test]
    fn disjoint_runs_align_by_position() {
        let axis = layer_axis(&[vec!["a1", "a2"], vec!["b1", "b2", "b3"]]);
        assert_eq!(axis.labels, ["a1 / b1", "a2 / b2", "b3"]);
        assert_eq!(axis.slots, [vec![0, 1], vec![0, 1, 2]]);
    }

    #[test]
    fn repeated_names_stay_apart() {
        let axis = layer_axis(&[vec!["block", "block"]]);
        assert_eq!(axis.labels, ["block", "block (2)"]);
        assert_eq!(axis.slots, [vec![0, 1]]);
    }
}
