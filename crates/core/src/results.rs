//! What a segmentation says: chips per class, area fractions and physical areas, the bar chart
//! of them, and the per-chip colours of the class and confidence maps.

use crate::classify::Segmentation;
use crate::dataset::{Calibration, significant};
use crate::fine::FineSummary;
use crate::guide::quality::SupportReport;
use crate::labels::{ClassLabel, Colour};
use serde::{Deserialize, Serialize};

/// Colour of unassigned chips in charts.
pub const UNASSIGNED_COLOUR: Colour = Colour([0x99, 0x99, 0x99]);

/// One class's share of the grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassShare {
    /// The class's name, or `unassigned`.
    pub name: String,
    /// The class's colour in the chart (grey for unassigned chips).
    pub colour: Colour,
    /// Chips assigned to the class.
    pub chips: usize,
    /// Fraction of the grid's chips, 0–1.
    pub fraction: f64,
    /// Area in `Summary::area_unit`, when the image is calibrated.
    pub area: Option<f64>,
}

/// Chips per class over the grid. Read back from JSON (a summary made on another machine), it
/// comes without its `fine` shares and `supports` check, which only go out to the files.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// One share per class, in class order.
    pub classes: Vec<ClassShare>,
    /// Chips farther than the threshold from every prototype.
    pub unassigned: ClassShare,
    /// Chips in the grid, assigned or not.
    pub total_chips: usize,
    /// "nm²" and so on, when calibrated.
    pub area_unit: Option<String>,
    /// The shares at the dense map's cell resolution, for dense segmentations.
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub fine: Option<FineSummary>,
    /// The supports checked by leave-one-out, in the summary of the labelled image.
    #[serde(skip_serializing_if = "Option::is_none", skip_deserializing)]
    pub supports: Option<SupportReport>,
}

impl Summary {
    /// Counts `assignments` (one per chip) for `classes`, with areas from `calibration`.
    pub fn new(
        classes: &[ClassLabel],
        assignments: &[Option<usize>],
        chip_size: usize,
        calibration: Option<&Calibration>,
    ) -> Self {
        let total = assignments.len();
        let chip_area = calibration.map(|c| (chip_size as f64 * c.pixel_size).powi(2));
        let share = |name: &str, colour: Colour, chips: usize| ClassShare {
            name: name.to_string(),
            colour,
            chips,
            fraction: chips as f64 / total.max(1) as f64,
            area: chip_area.map(|area| area * chips as f64),
        };
        let count = |class: Option<usize>| assignments.iter().filter(|&&a| a == class).count();
        Self {
            classes: classes
                .iter()
                .enumerate()
                .map(|(k, class)| share(&class.name, class.colour, count(Some(k))))
                .collect(),
            unassigned: share("unassigned", UNASSIGNED_COLOUR, count(None)),
            total_chips: total,
            area_unit: calibration.map(|c| format!("{}²", c.unit)),
            fine: None,
            supports: None,
        }
    }

    /// The summary as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("summaries serialise")
    }

    /// The classes, then "unassigned" when any chip is.
    pub fn rows(&self) -> impl Iterator<Item = &ClassShare> {
        let unassigned = (self.unassigned.chips > 0).then_some(&self.unassigned);
        self.classes.iter().chain(unassigned)
    }

    /// "12 chips · 37.5 % · 41.9 nm²".
    pub fn describe(&self, share: &ClassShare) -> String {
        let noun = if share.chips == 1 { "chip" } else { "chips" };
        let mut text = format!("{} {noun} · {:.1} %", share.chips, share.fraction * 100.0);
        if let (Some(area), Some(unit)) = (share.area, &self.area_unit) {
            text += &format!(" · {} {unit}", significant(area, 4));
        }
        text
    }

    /// A horizontal bar chart of the shares as a standalone SVG document.
    pub fn chart_svg(&self) -> String {
        const WIDTH: usize = 520;
        const LABEL: usize = 130;
        const BAR: usize = 200;
        const ROW: usize = 26;
        let rows: Vec<&ClassShare> = self.rows().collect();
        let height = ROW * rows.len() + 34;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"13\">\
             <rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>\
             <text x=\"8\" y=\"18\" font-weight=\"bold\">Area fractions ({} chips)</text>",
            self.total_chips
        );
        for (i, share) in rows.iter().enumerate() {
            let y = 30 + i * ROW;
            let bar = (share.fraction * BAR as f64).round();
            svg += &format!(
                "<text x=\"8\" y=\"{}\">{}</text>\
                 <rect x=\"{LABEL}\" y=\"{y}\" width=\"{BAR}\" height=\"18\" fill=\"#eeeeee\"/>\
                 <rect x=\"{LABEL}\" y=\"{y}\" width=\"{bar}\" height=\"18\" fill=\"{}\"/>\
                 <text x=\"{}\" y=\"{}\">{}</text>",
                y + 14,
                xml_escape(&truncate(&share.name, 16)),
                share.colour,
                LABEL + BAR + 8,
                y + 14,
                xml_escape(&self.describe(share)),
            );
        }
        svg + "</svg>"
    }
}

fn truncate(text: &str, chars: usize) -> String {
    match text.chars().count() > chars {
        true => text.chars().take(chars - 1).collect::<String>() + "…",
        false => text.to_string(),
    }
}

/// Escapes text for SVG/XML content and attributes.
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One RGBA pixel per chip (rows × cols): the class colour, transparent when unassigned.
pub fn class_map_rgba(classes: &[ClassLabel], assignments: &[Option<usize>]) -> Vec<u8> {
    assignments
        .iter()
        .flat_map(|class| match class {
            Some(k) => {
                let [r, g, b] = classes[*k].colour.0;
                [r, g, b, 255]
            }
            None => [0, 0, 0, 0],
        })
        .collect()
}

/// One RGBA pixel per chip: the confidence on the viridis colour map (dark = uncertain).
pub fn confidence_map_rgba(segmentation: &Segmentation) -> Vec<u8> {
    (0..segmentation.chip_count())
        .flat_map(|chip| {
            let [r, g, b] = viridis(segmentation.confidence(chip));
            [r, g, b, 255]
        })
        .collect()
}

/// matplotlib's viridis at `t` in 0–1, interpolated between nine of its stops.
pub fn viridis(t: f32) -> [u8; 3] {
    const STOPS: [[u8; 3]; 9] = [
        [68, 1, 84],
        [71, 44, 122],
        [59, 81, 139],
        [44, 113, 142],
        [33, 144, 141],
        [39, 173, 129],
        [92, 200, 99],
        [170, 220, 50],
        [253, 231, 37],
    ];
    let position = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f32;
    let below = (position.floor() as usize).min(STOPS.len() - 2);
    let fraction = position - below as f32;
    let mix = |c: usize| {
        let (a, b) = (STOPS[below][c] as f32, STOPS[below + 1][c] as f32);
        (a + (b - a) * fraction).round() as u8
    };
    [mix(0), mix(1), mix(2)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Vec<ClassLabel> {
        crate::labels::named_classes(&["matrix", "<particle>"])
    }

    #[test]
    fn shares_count_chips_and_physical_areas() {
        let calibration = Calibration {
            pixel_size: 0.5,
            unit: "nm".into(),
        };
        let assignments = [Some(0), Some(1), Some(0), None];
        let summary = Summary::new(&classes(), &assignments, 8, Some(&calibration));
        assert_eq!(summary.classes[0].chips, 2);
        assert_eq!(summary.classes[0].fraction, 0.5);
        assert_eq!(summary.classes[0].area, Some(32.0)); // 2 chips × (8 px × 0.5 nm)²
        assert_eq!(summary.unassigned.chips, 1);
        assert_eq!(summary.rows().count(), 3);
        assert_eq!(
            summary.describe(&summary.classes[1]),
            "1 chip · 25.0 % · 16 nm²"
        );
        let uncalibrated = Summary::new(&classes(), &assignments, 8, None);
        assert_eq!(
            uncalibrated.describe(&uncalibrated.classes[1]),
            "1 chip · 25.0 %"
        );
    }

    #[test]
    fn a_summary_read_back_from_json_has_its_shares_exactly() {
        let calibration = Calibration {
            pixel_size: 0.37,
            unit: "nm".into(),
        };
        let assignments = [Some(0), Some(1), Some(0), None, Some(0), Some(1), None];
        let summary = Summary::new(&classes(), &assignments, 7, Some(&calibration));
        let json = serde_json::to_string(&summary).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, summary);
        assert_eq!(back.classes[1].fraction.to_bits(), (2.0f64 / 7.0).to_bits());
    }

    #[test]
    fn chart_is_standalone_escaped_svg() {
        let summary = Summary::new(&classes(), &[Some(1), Some(1)], 8, None);
        let svg = summary.chart_svg();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("&lt;particle&gt;"));
        assert!(svg.contains("width=\"200\" height=\"18\" fill=\"#56b4e9\""));
        assert!(!svg.contains("unassigned"));
    }

    #[test]
    fn maps_colour_each_chip() {
        let rgba = class_map_rgba(&classes(), &[Some(1), None]);
        assert_eq!(rgba, [0x56, 0xb4, 0xe9, 255, 0, 0, 0, 0]);
        assert_eq!(viridis(0.0), [68, 1, 84]);
        assert_eq!(viridis(1.0), [253, 231, 37]);
        assert_eq!(viridis(0.5), [33, 144, 141]);
    }
}
