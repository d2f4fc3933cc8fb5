//! Colours, fonts and number ranges shared by every figure.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Font family for everything; fontconfig resolves it (DejaVu Sans on Debian).
pub(crate) const FONT: &str = "sans-serif";

/// Lines of different runs (or layers). Red is left out: it marks flagged layers.
pub(crate) const SERIES: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0x39, 0x3b, 0x79),
];

/// Classes in embeddings: Tableau's tab10 then its lighter tab20 partners, so the first ten
/// classes get the strongest, most distinct colours.
pub(crate) const CLASSES: [RGBColor; 20] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
    RGBColor(0xae, 0xc7, 0xe8),
    RGBColor(0xff, 0xbb, 0x78),
    RGBColor(0x98, 0xdf, 0x8a),
    RGBColor(0xff, 0x98, 0x96),
    RGBColor(0xc5, 0xb0, 0xd5),
    RGBColor(0xc4, 0x9c, 0x94),
    RGBColor(0xf7, 0xb6, 0xd2),
    RGBColor(0xc7, 0xc7, 0xc7),
    RGBColor(0xdb, 0xdb, 0x8d),
    RGBColor(0x9e, 0xda, 0xe5),
];

/// Flagged layers and the critical τ marks.
pub(crate) const FLAG: RGBColor = RGBColor(0xd6, 0x27, 0x28);
/// Text and axes: near-black reads softer than pure black.
pub(crate) const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
/// The only mesh lines drawn: faint horizontal guides.
pub(crate) const GUIDE: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
/// Frames and legend borders.
pub(crate) const FRAME: RGBColor = RGBColor(0xb0, 0xb0, 0xb0);

/// Colour of series `i`, cycling.
pub(crate) fn series(i: usize) -> RGBColor {
    SERIES[i % SERIES.len()]
}

/// Colour of class `label`, cycling.
pub(crate) fn class(label: u32) -> RGBColor {
    CLASSES[label as usize % CLASSES.len()]
}

/// Figure heading.
pub(crate) fn title_font() -> TextStyle<'static> {
    (FONT, 22).into_font().color(&INK)
}

/// Heading of one panel in a grid.
pub(crate) fn panel_font() -> TextStyle<'static> {
    (FONT, 15).into_font().color(&INK)
}

/// Axis descriptions.
pub(crate) fn desc_font() -> TextStyle<'static> {
    (FONT, 15).into_font().color(&INK)
}

/// Tick labels and legends.
pub(crate) fn tick_font() -> TextStyle<'static> {
    (FONT, 13).into_font().color(&INK)
}

/// Small annotations (values on bars).
pub(crate) fn note_font() -> TextStyle<'static> {
    (FONT, 12).into_font().color(&INK)
}

/// Centred text, for messages inside an empty panel.
pub(crate) fn centred(style: TextStyle<'static>) -> TextStyle<'static> {
    style.pos(Pos::new(HPos::Center, VPos::Center))
}

/// The smallest and largest finite value, or `None` when there is none.
pub(crate) fn finite_range(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

/// Widens `[lo, hi]` by `frac` of its span on each side, and to at least `min_span`, so
/// that markers at the extremes are not cut and a constant series still gets an axis.
pub(crate) fn padded((lo, hi): (f64, f64), frac: f64, min_span: f64) -> (f64, f64) {
    let span = hi - lo;
    if span < min_span {
        let mid = 0.5 * (lo + hi);
        return (mid - 0.5 * min_span, mid + 0.5 * min_span);
    }
    (lo - frac * span, hi + frac * span)
}

/// Shortens a label longer than `max` characters to a short start and a longer end: deep
/// layer names share a prefix and differ at the end (`features.block3.conv2`).
pub(crate) fn abbreviate(label: &str, max: usize) -> String {
    let chars: Vec<char> = label.chars().collect();
    if chars.len() <= max || max < 5 {
        return label.to_string();
    }
    let head = (max - 1) / 3;
    let tail = max - 1 - head;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Columns and rows of a grid of `n` panels at most `max_cols` wide.
pub(crate) fn grid(n: usize, max_cols: usize) -> (usize, usize) {
    let cols = n.clamp(1, max_cols.max(1));
    (cols, n.div_ceil(cols).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_skip_non_finite_values() {
        assert_eq!(
            finite_range([f64::NAN, 2.0, -1.0, f64::INFINITY]),
            Some((-1.0, 2.0))
        );
        assert_eq!(finite_range([f64::NAN]), None);
        assert_eq!(padded((1.0, 1.0), 0.1, 0.2), (0.9, 1.1));
    }

    #[test]
    fn long_labels_keep_both_ends() {
        assert_eq!(abbreviate("relu1", 10), "relu1");
        let short = abbreviate("features.denseblock4.denselayer16.conv2", 16);
        assert_eq!(short.chars().count(), 16);
        assert_eq!(short, "featu…er16.conv2");
    }

    #[test]
    fn grids_fill_rows_first() {
        assert_eq!(grid(1, 3), (1, 1));
        assert_eq!(grid(4, 3), (3, 2));
        assert_eq!(grid(0, 3), (1, 1));
    }
}
