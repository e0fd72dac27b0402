//! How the image sits in the viewer: its zoom and pan, shared by the viewer's gestures and by
//! whatever leads the eye to a chip (a suggestion, a flagged support).

/// The most the image is enlarged.
pub const MAX_ZOOM: f64 = 16.0;

/// How far inside the viewer's edges (a fraction of it) a revealed point must lie to stay put.
const REVEAL_MARGIN: f64 = 0.1;

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

    /// Re-centred on `centre` (fractions of the image) when that point is not well inside the
    /// viewer; unchanged when it is.
    pub fn reveal(self, centre: (f64, f64)) -> Self {
        let on_screen = |offset: f64, at: f64| {
            (REVEAL_MARGIN..=1.0 - REVEAL_MARGIN).contains(&(offset + self.zoom * at))
        };
        if on_screen(self.x, centre.0) && on_screen(self.y, centre.1) {
            return self;
        }
        Self {
            x: 0.5 - self.zoom * centre.0,
            y: 0.5 - self.zoom * centre.1,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reveal_recentres_only_a_point_out_of_sight() {
        let zoomed = Transform {
            zoom: 4.0,
            x: 0.0,
            y: 0.0,
        };
        // The image's point (0.1, 0.1) is at (0.4, 0.4) of the viewer: in sight.
        assert_eq!(zoomed.reveal((0.1, 0.1)), zoomed);
        // (0.5, 0.5) is at (2, 2): out of sight, so it moves to the centre.
        let moved = zoomed.reveal((0.5, 0.5));
        assert_eq!((moved.x, moved.y), (-1.5, -1.5));
        // The image's corner cannot reach the centre; the view stops at the image's edge.
        let corner = zoomed.reveal((1.0, 1.0));
        assert_eq!((corner.x, corner.y), (-3.0, -3.0));
        assert_eq!(Transform::FIT.reveal((0.99, 0.99)), Transform::FIT);
    }

    #[test]
    fn zoom_keeps_the_point_under_it_and_pan_keeps_the_image_covering() {
        let zoomed = Transform::FIT.zoom_at(4.0, (0.25, 0.75));
        assert_eq!((zoomed.zoom, zoomed.x, zoomed.y), (4.0, -0.75, -2.25));
        assert_eq!(zoomed.zoom_at(100.0, (0.5, 0.5)).zoom, MAX_ZOOM);
        assert_eq!(
            zoomed.pan_by((1.0, -1.0)),
            Transform {
                zoom: 4.0,
                x: 0.0,
                y: -3.0
            }
        );
        assert_eq!(
            zoomed.css(),
            "transform: translate(-75%, -225%) scale(4); --zoom: 4"
        );
    }
}
