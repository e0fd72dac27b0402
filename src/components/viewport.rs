//! The pointer gestures on the image's grid: a stroke that paints or
//! erases chips, a rectangle, a middle-button drag or two fingers that pan, a pinch or the wheel
//! that zooms. The viewer ([`super::viewer`]) turns their results into label edits.

use std::collections::BTreeMap;

use chipscope_core::labels::Cell;

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
