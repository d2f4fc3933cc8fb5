//! Keys drawn by hand, where plotters' legend box would cover data: a row of colour
//! swatches above a chart (wrapped onto more rows when narrow), and a column of line samples
//! beside one.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::style::tick_font;
use super::Paint;

/// Height of one row of a key.
const ROW: u32 = 22;

/// Swatches laid out in centred rows that fit a width.
pub(super) struct SwatchKey<'a> {
    items: &'a [(String, RGBColor)],
    /// Per row, the items' indices and widths in pixels.
    rows: Vec<Vec<(usize, i32)>>,
}

impl<'a> SwatchKey<'a> {
    /// Measures `items` and packs them into rows at most `width` pixels wide.
    pub(super) fn new<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        items: &'a [(String, RGBColor)],
        width: u32,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Send + Sync>>
    where
        DB::ErrorType: 'static,
    {
        let mut rows: Vec<Vec<(usize, i32)>> = vec![Vec::new()];
        let mut used = 0;
        for (i, (name, _)) in items.iter().enumerate() {
            let w = area.estimate_text_size(name, &tick_font())?.0 as i32 + 36;
            if used + w > width as i32 && rows.last().is_some_and(|r| !r.is_empty()) {
                rows.push(Vec::new());
                used = 0;
            }
            used += w;
            if let Some(row) = rows.last_mut() {
                row.push((i, w));
            }
        }
        Ok(Self { items, rows })
    }

    /// Pixels the key needs, with a margin above and below.
    pub(super) fn height(&self) -> u32 {
        ROW * self.rows.len() as u32 + 8
    }

    /// Draws the key centred in `area`.
    pub(super) fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Paint
    where
        DB::ErrorType: 'static,
    {
        let style = tick_font().pos(Pos::new(HPos::Left, VPos::Center));
        let width = area.dim_in_pixel().0 as i32;
        for (r, row) in self.rows.iter().enumerate() {
            let total: i32 = row.iter().map(|(_, w)| w).sum();
            let mut x = ((width - total) / 2).max(0);
            let y = 4 + ROW as i32 * r as i32 + ROW as i32 / 2;
            for &(i, w) in row {
                let Some((name, colour)) = self.items.get(i) else {
                    continue;
                };
                area.draw(&Rectangle::new(
                    [(x, y - 6), (x + 14, y + 6)],
                    colour.filled(),
                ))?;
                area.draw(&Text::new(name.clone(), (x + 20, y), style.clone()))?;
                x += w;
            }
        }
        Ok(())
    }
}

/// One entry of a column key: name, colour, and whether the line is dashed.
pub(super) type LineItem = (String, RGBColor, bool);

/// A vertical key: a line sample (dashed when asked) and the name, one per row.
pub(super) fn draw_line_key<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[LineItem],
) -> Paint
where
    DB::ErrorType: 'static,
{
    let style = tick_font().pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (name, colour, dashed)) in items.iter().enumerate() {
        let y = 40 + ROW as i32 * i as i32;
        let stroke = colour.stroke_width(2);
        if *dashed {
            area.draw(&PathElement::new(vec![(4, y), (11, y)], stroke))?;
            area.draw(&PathElement::new(vec![(17, y), (24, y)], stroke))?;
        } else {
            area.draw(&PathElement::new(vec![(4, y), (24, y)], stroke))?;
            area.draw(&Circle::new((14, y), 3, colour.filled()))?;
        }
        area.draw(&Text::new(name.clone(), (32, y), style.clone()))?;
    }
    Ok(())
}
