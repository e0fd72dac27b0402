//! Zoom and pan of the image, and the pointer gestures on its grid: a stroke that paints or
//! erases chips, a rectangle, a middle-button drag or two fingers that pan, a pinch or the wheel
//! that zooms. The viewer ([`super::viewer`]) turns their results into label edits.

use std::collections::BTreeMap;

use chipscope_core::labels::Cell;

/// The most the image is enlarged.
pub const MAX_ZOOM: f64 = 16.0;

/// How the image sits in the viewer: enlarged `zoom` times, its top-left corner at (`x`, `y`),
/// fractions of the viewer's width and height (0 or less: the image always covers the viewer).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transform {
    pub zoom: f64,
    pub x: f64,
    pub y: f64,
}

impl Transform {
    /// The whole image in the viewer.
    pub const FIT: Transform = Transform {
        zoom: 1.0,
        x: 0.0,
        y: 0.0,
    };

    /// The CSS transform of the image's layer (origin at its top-left corner), with the zoom
    /// as `--zoom` for line widths that stay the same on screen.
    pub fn css(&self) -> String {
        format!(
            "transform: translate({}%, {}%) scale({}); --zoom: {}",
            self.x * 100.0,
            self.y * 100.0,
            self.zoom,
            self.zoom
        )
    }

    /// Zoomed by `factor` about the viewer point `at` (fractions), which keeps the same piece
    /// of the image under it.
    pub fn zoom_at(self, factor: f64, at: (f64, f64)) -> Self {
        let zoom = (self.zoom * factor).clamp(1.0, MAX_ZOOM);
        let ratio = zoom / self.zoom;
        Self {
            zoom,
            x: at.0 - (at.0 - self.x) * ratio,
            y: at.1 - (at.1 - self.y) * ratio,
        }
        .clamped()
    }

    /// Moved by (`dx`, `dy`), fractions of the viewer.
    pub fn pan_by(self, (dx, dy): (f64, f64)) -> Self {
        Self {
            x: self.x + dx,
            y: self.y + dy,
            ..self
        }
        .clamped()
    }

    /// Kept covering the viewer: x and y between 1 − zoom and 0.
    fn clamped(self) -> Self {
        let low = 1.0 - self.zoom;
        Self {
            x: self.x.clamp(low, 0.0),
            y: self.y.clamp(low, 0.0),
            ..self
        }
    }
}

/// A gesture under way on the grid.
#[derive(Clone, Debug, PartialEq)]
pub enum Gesture {
    /// A stroke from one chip: the chips it crossed, in order; `erase` with Shift or the right
    /// button.
    Stroke { cells: Vec<Cell>, erase: bool },
    /// A rectangle from one chip to another (Ctrl or ⌘ held at the start).
    Rectangle { from: Cell, to: Cell, erase: bool },
    /// A pan by the middle button, following the pointer.
    Pan,
    /// Two pointers: pinch to zoom, move both to pan.
    Pinch,
}

impl Gesture {
    /// A stroke or rectangle reaching `cell`; whether its chips changed.
    pub fn reach(&mut self, cell: Cell) -> bool {
        match self {
            Gesture::Stroke { cells, .. } if !cells.contains(&cell) => {
                cells.push(cell);
                true
            }
            Gesture::Rectangle { to, .. } if *to != cell => {
                *to = cell;
                true
            }
            _ => false,
        }
    }

    /// The chips a stroke or rectangle covers, and whether it erases; none for a pan.
    pub fn chips(&self) -> Option<(Vec<Cell>, bool)> {
        match self {
            Gesture::Stroke { cells, erase } => Some((cells.clone(), *erase)),
            Gesture::Rectangle { from, to, erase } => {
                let rows = from[0].min(to[0])..=from[0].max(to[0]);
                let cols = from[1].min(to[1])..=from[1].max(to[1]);
                let cells = rows
                    .flat_map(|row| cols.clone().map(move |col| [row, col]))
                    .collect();
                Some((cells, *erase))
            }
            Gesture::Pan | Gesture::Pinch => None,
        }
    }
}

/// Where two pointers are: their midpoint and distance (client pixels).
pub fn pinch_of(pointers: &BTreeMap<i32, (f64, f64)>) -> Option<((f64, f64), f64)> {
    let mut points = pointers.values();
    let (a, b) = (points.next()?, points.next()?);
    let middle = ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0);
    Some((middle, (a.0 - b.0).hypot(a.1 - b.1)))
}
