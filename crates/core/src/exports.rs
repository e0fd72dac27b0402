//! Result files, byte for byte the same from the page and the CLI: the per-chip CSV, the label
//! image and the overlay PNG (the summary JSON and chart SVG are in [`crate::results`]).

use crate::classify::Segmentation;
use crate::dataset::Image;
use crate::display::DisplayRange;
use crate::fine::FineLabels;
use crate::grid::ChipGrid;
use crate::labels::ClassLabel;
use crate::results::Summary;
use image::ImageEncoder as _;
use image::codecs::png::PngEncoder;

/// A result file of one image, named after the image file's stem; the page's downloads and
/// the CLI write the same names and bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFile {
    /// `STEM.csv`: one line per chip ([`Results::csv`]).
    Csv,
    /// `STEM-labels.png`: the class number of every pixel ([`Results::label_png`]).
    LabelImage,
    /// `STEM-overlay.png`: the classes over the image ([`Results::overlay_png`]).
    Overlay,
    /// `STEM-summary.json`: each class's share ([`Summary::to_json`]).
    Summary,
    /// `STEM-chart.svg`: the shares as a bar chart ([`Summary::chart_svg`]).
    ChartSvg,
    /// `STEM-fine-labels.png`: the class number of every pixel at the dense map's cell
    /// resolution ([`FineLabels::label_png`]); dense segmentations only.
    FineLabelImage,
}

impl ExportFile {
    /// Every result file of a per-chip segmentation, in the order the CLI writes them (a dense
    /// one adds [`ExportFile::FineLabelImage`]: [`Results::files`]).
    pub const ALL: [ExportFile; 5] = [
        ExportFile::Csv,
        ExportFile::LabelImage,
        ExportFile::Overlay,
        ExportFile::Summary,
        ExportFile::ChartSvg,
    ];

    /// The file's name for an image whose file name without extension is `stem`.
    pub fn file_name(self, stem: &str) -> String {
        let suffix = match self {
            ExportFile::Csv => ".csv",
            ExportFile::LabelImage => "-labels.png",
            ExportFile::Overlay => "-overlay.png",
            ExportFile::Summary => "-summary.json",
            ExportFile::ChartSvg => "-chart.svg",
            ExportFile::FineLabelImage => "-fine-labels.png",
        };
        format!("{stem}{suffix}")
    }

    /// The file's media type.
    pub fn media_type(self) -> &'static str {
        match self {
            ExportFile::Csv => "text/csv",
            ExportFile::LabelImage | ExportFile::Overlay | ExportFile::FineLabelImage => {
                "image/png"
            }
            ExportFile::Summary => "application/json",
            ExportFile::ChartSvg => "image/svg+xml",
        }
    }
}

/// What the overlay is drawn on: the image, its display range and the overlay's opacity.
#[derive(Clone, Copy)]
pub struct Backdrop<'a> {
    /// The micrograph, with its raw values.
    pub image: &'a Image,
    /// The raw values shown black and white under the overlay.
    pub range: DisplayRange,
    /// Opacity of the class colours, 0–1 (clamped).
    pub opacity: f32,
}

/// One segmentation with what is needed to write it out.
pub struct Results<'a> {
    /// The chip grid the segmentation was made on; it sets the exported images' size.
    pub grid: &'a ChipGrid,
    /// The classes, in the order of the segmentation's class indices.
    pub classes: &'a [ClassLabel],
    /// Each chip's confidence and distances to the class prototypes, for the CSV.
    pub segmentation: &'a Segmentation,
    /// The class of each chip (`None`: unassigned), from [`Segmentation::assignments`].
    pub assignments: &'a [Option<usize>],
    /// The cells' classes, when the chips were pooled from a dense map.
    pub fine: Option<FineResults<'a>>,
}

/// A dense segmentation's cells and their classes.
#[derive(Clone, Copy)]
pub struct FineResults<'a> {
    /// The classified cells.
    pub labels: &'a FineLabels,
    /// The class of each cell, from [`FineLabels::assignments`].
    pub assignments: &'a [Option<usize>],
}

impl Results<'_> {
    /// The bytes of `file`; `summary` is this segmentation's, `backdrop` what the overlay is
    /// drawn on.
    pub fn export(&self, file: ExportFile, summary: &Summary, backdrop: Backdrop) -> Vec<u8> {
        match file {
            ExportFile::FineLabelImage => self.fine_label_png(),
            ExportFile::Csv => self.csv().into_bytes(),
            ExportFile::LabelImage => self.label_png(),
            ExportFile::Overlay => {
                self.overlay_png(backdrop.image, backdrop.range, backdrop.opacity)
            }
            ExportFile::Summary => summary.to_json().into_bytes(),
            ExportFile::ChartSvg => summary.chart_svg().into_bytes(),
        }
    }

    /// The files these results make, in the order the CLI writes them.
    pub fn files(&self) -> Vec<ExportFile> {
        let fine = self.fine.map(|_| ExportFile::FineLabelImage);
        ExportFile::ALL.into_iter().chain(fine).collect()
    }

    /// [`FineLabels::label_png`] the size of the image; the chip label image when the
    /// segmentation has no cells.
    fn fine_label_png(&self) -> Vec<u8> {
        let Some(fine) = self.fine else {
            return self.label_png();
        };
        let (width, height) = self.image_size();
        fine.labels
            .label_png(self.classes.len(), fine.assignments, width, height)
    }

    /// One line per chip: `row,col,x,y,class,confidence,distance_<class>…` (x, y: the chip's
    /// top-left pixel; class: its name or `unassigned`).
    pub fn csv(&self) -> String {
        let mut header = vec!["row", "col", "x", "y", "class", "confidence"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        header.extend(
            self.classes
                .iter()
                .map(|c| csv_field(&format!("distance_{}", c.name))),
        );
        let mut text = header.join(",") + "\n";
        for (index, chip) in self.grid.chips().enumerate() {
            let class = match self.assignments[index] {
                Some(k) => csv_field(&self.classes[k].name),
                None => "unassigned".to_string(),
            };
            text += &format!(
                "{},{},{},{},{class},{:.6}",
                chip.row,
                chip.col,
                chip.x,
                chip.y,
                self.segmentation.confidence(index)
            );
            for distance in self.segmentation.distances(index) {
                text += &format!(",{distance:.6}");
            }
            text.push('\n');
        }
        text
    }

    /// A PNG the size of the image with one value per pixel: the class number (1, 2, …) of the
    /// chip it lies in, 0 for unassigned chips and the cropped margins. 8-bit up to 255
    /// classes, 16-bit beyond.
    pub fn label_png(&self) -> Vec<u8> {
        let (width, height) = self.image_size();
        let classes: Vec<Option<usize>> = pixel_order(width, height)
            .map(|(x, y)| self.class_at(x, y))
            .collect();
        encode_label_png(&classes, width, height, self.classes.len())
    }

    /// The image in its display range with the class colours blended in at `opacity` (0–1).
    pub fn overlay_png(&self, image: &Image, range: DisplayRange, opacity: f32) -> Vec<u8> {
        let (width, height) = self.image_size();
        let alpha = opacity.clamp(0.0, 1.0);
        let pixels: Vec<u8> = pixel_order(width, height)
            .flat_map(|(x, y)| {
                let grey = range.grey(image.get(x, y));
                let colour = self.class_at(x, y).map(|k| self.classes[k].colour.0);
                let mix = |channel: u8| {
                    (grey as f32 * (1.0 - alpha) + channel as f32 * alpha).round() as u8
                };
                match colour {
                    Some([r, g, b]) => [mix(r), mix(g), mix(b)],
                    None => [grey; 3],
                }
            })
            .collect();
        encode_png(&pixels, width, height, image::ExtendedColorType::Rgb8)
    }

    fn image_size(&self) -> (usize, usize) {
        self.grid.image_size()
    }

    fn class_at(&self, x: usize, y: usize) -> Option<usize> {
        let size = self.grid.chip_size();
        let (row, col) = (y / size, x / size);
        if row >= self.grid.rows() || col >= self.grid.cols() {
            return None;
        }
        self.assignments[row * self.grid.cols() + col]
    }
}

/// A label PNG of `width × height` pixels holding each pixel's class number (1, 2, …) from
/// `classes` (row-major), 0 where it has none: 8-bit for up to 255 classes, 16-bit beyond.
pub(crate) fn encode_label_png(
    classes: &[Option<usize>],
    width: usize,
    height: usize,
    class_count: usize,
) -> Vec<u8> {
    let value = |class: &Option<usize>| class.map_or(0, |k| k + 1);
    if class_count < 256 {
        let pixels: Vec<u8> = classes.iter().map(|c| value(c) as u8).collect();
        encode_png(&pixels, width, height, image::ExtendedColorType::L8)
    } else {
        let pixels: Vec<u8> = classes
            .iter()
            .flat_map(|c| (value(c) as u16).to_be_bytes())
            .collect();
        encode_png(&pixels, width, height, image::ExtendedColorType::L16)
    }
}

fn pixel_order(width: usize, height: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..height).flat_map(move |y| (0..width).map(move |x| (x, y)))
}

fn encode_png(
    pixels: &[u8],
    width: usize,
    height: usize,
    kind: image::ExtendedColorType,
) -> Vec<u8> {
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes)
        .write_image(pixels, width as u32, height as u32, kind)
        .expect("PNG encoding into memory cannot fail for a consistent buffer");
    bytes
}

/// The longest name [`safe_file_name`] gives, in bytes (file systems allow 255).
const MAX_FILE_NAME_BYTES: usize = 200;
/// The longest ending after the last dot that [`safe_file_name`] keeps as an extension.
const MAX_EXTENSION_BYTES: usize = 16;
/// Names Windows keeps for devices, whatever their extension.
const WINDOWS_DEVICES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// `name` made safe as the name of a downloaded file on any system, whatever a file, link or
/// answer file put in it (file stems, class names, task titles): path separators, `:*?"<>|`,
/// control characters and the invisible ones that reorder how a name reads (U+202E and kin)
/// become `_`; leading and trailing dots and spaces go (no `..`, no hidden file); a Windows
/// device name (`CON`, `NUL.csv`…) gets a leading `_`; at most 200 bytes, extension kept; an
/// empty result is `download`.
pub fn safe_file_name(name: &str) -> String {
    let replaced: String = name
        .chars()
        .map(|c| if unsafe_in_file_name(c) { '_' } else { c })
        .collect();
    let trimmed = replaced.trim_matches(|c: char| c == '.' || c.is_whitespace());
    let extension = trimmed
        .rfind('.')
        .map(|dot| &trimmed[dot..])
        .filter(|extension| extension.len() <= MAX_EXTENSION_BYTES);
    let extension = extension.unwrap_or_default();
    let stem = &trimmed[..trimmed.len() - extension.len()];
    let mut end = stem.len().min(MAX_FILE_NAME_BYTES - extension.len());
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    let stem = stem[..end].trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    let device = stem.split('.').next().unwrap_or_default();
    match (
        stem.is_empty(),
        WINDOWS_DEVICES.contains(&device.to_ascii_uppercase().as_str()),
    ) {
        (true, _) => "download".to_string(),
        (false, true) => format!("_{stem}{extension}"),
        (false, false) => format!("{stem}{extension}"),
    }
}

/// Whether `c` must not appear in a file name: separators and characters Windows refuses,
/// control characters, and the invisible formatting characters that can disguise a name.
fn unsafe_in_file_name(c: char) -> bool {
    c.is_control()
        || "/\\:*?\"<>|".contains(c)
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Quotes a CSV field when it holds a comma, quote or line break (RFC 4180).
pub(crate) fn csv_field(text: &str) -> String {
    match text.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", text.replace('"', "\"\"")),
        false => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::named_classes;

    /// A 1 row × 2 column grid (margins cropped) with two classes, one named awkwardly for CSV,
    /// and the results of `assignments` on it.
    fn check_results(assignments: &[Option<usize>], check: impl FnOnce(&Results)) {
        let grid = ChipGrid::new(20, 10, 8).unwrap();
        let classes = named_classes(&["matrix", "pore, \"big\""]);
        let segmentation = Segmentation::from_distances(2, vec![1.0, 3.0, 2.0, 0.5]);
        check(&Results {
            grid: &grid,
            classes: &classes,
            segmentation: &segmentation,
            assignments,
            fine: None,
        });
    }

    #[test]
    fn download_names_are_safe_whatever_a_hostile_name_holds() {
        let cases = [
            (
                "Phases of the example-Ada.json",
                "Phases of the example-Ada.json",
            ),
            ("électron 5 nm-overlay.png", "électron 5 nm-overlay.png"),
            ("../../x-summary.json", "_.._x-summary.json"),
            ("..\\..\\x.csv", "_.._x.csv"),
            ("a/b\\c:d*e?f\"g<h>i|j.csv", "a_b_c_d_e_f_g_h_i_j.csv"),
            ("line\nbreak\ttab\u{7}.csv", "line_break_tab_.csv"),
            ("photo\u{202E}gnp.exe", "photo_gnp.exe"),
            ("CON.csv", "_CON.csv"),
            ("nul", "_nul"),
            ("lpt1.tar.gz", "_lpt1.tar.gz"),
            ("console.csv", "console.csv"),
            (" .hidden. ", "hidden"),
            ("...", "download"),
            ("", "download"),
        ];
        for (name, safe) in cases {
            assert_eq!(safe_file_name(name), safe, "{name:?}");
        }
        let long = safe_file_name(&format!("{}-summary.json", "é".repeat(300)));
        assert!(long.len() <= MAX_FILE_NAME_BYTES, "{}", long.len());
        assert!(long.ends_with("é.json"), "{long}");
    }

    #[test]
    fn csv_has_a_line_per_chip_with_distances_and_confidence() {
        check_results(&[Some(0), Some(1)], |results| {
            assert_eq!(
                results.csv(),
                "row,col,x,y,class,confidence,distance_matrix,\"distance_pore, \"\"big\"\"\"\n\
                 0,0,0,0,matrix,0.666667,1.000000,3.000000\n\
                 0,1,8,0,\"pore, \"\"big\"\"\",0.750000,2.000000,0.500000\n"
            );
        });
    }

    #[test]
    fn label_image_numbers_classes_from_one() {
        check_results(&[Some(1), None], |results| {
            let png = image::load_from_memory(&results.label_png())
                .unwrap()
                .to_luma8();
            assert_eq!(png.dimensions(), (20, 10));
            assert_eq!(png.get_pixel(0, 0).0, [2]);
            assert_eq!(png.get_pixel(7, 7).0, [2]);
            assert_eq!(png.get_pixel(8, 0).0, [0]); // unassigned
            assert_eq!(png.get_pixel(19, 9).0, [0]); // cropped
        });
    }

    #[test]
    fn overlay_blends_class_colours_over_the_image() {
        check_results(&[Some(0), Some(1)], |results| {
            let image = Image::new(20, 10, vec![0.0; 200]);
            let range = DisplayRange {
                low: 0.0,
                high: 1.0,
            };
            let png = results.overlay_png(&image, range, 0.5);
            let rgb = image::load_from_memory(&png).unwrap().to_rgb8();
            let [r, g, b] = results.classes[0].colour.0;
            let half = |c: u8| (c as f32 * 0.5).round() as u8;
            assert_eq!(rgb.get_pixel(1, 1).0, [half(r), half(g), half(b)]);
            assert_eq!(rgb.get_pixel(19, 9).0, [0, 0, 0]);
        });
    }

    /// Dense results add the fine label image: each pixel of the 20 × 10 image takes the class
    /// of the 5-px cell it lies in (4 × 2 cells).
    #[test]
    fn dense_results_export_the_fine_label_image() {
        let fine = FineLabels {
            cols: 4,
            rows: 2,
            cell_px: 5.0,
            segmentation: Segmentation::from_distances(1, vec![0.0; 8]),
        };
        let cells = [
            Some(0),
            None,
            Some(1),
            Some(1),
            Some(0),
            Some(0),
            Some(1),
            Some(1),
        ];
        let grid = ChipGrid::new(20, 10, 8).unwrap();
        let classes = named_classes(&["a", "b"]);
        let segmentation = Segmentation::from_distances(2, vec![1.0, 3.0, 2.0, 0.5]);
        let results = Results {
            grid: &grid,
            classes: &classes,
            segmentation: &segmentation,
            assignments: &[Some(0), Some(1)],
            fine: Some(FineResults {
                labels: &fine,
                assignments: &cells,
            }),
        };
        assert_eq!(results.files().last(), Some(&ExportFile::FineLabelImage));
        let png = image::load_from_memory(&results.fine_label_png())
            .unwrap()
            .to_luma8();
        assert_eq!(png.dimensions(), (20, 10));
        let row: Vec<u8> = (0..20)
            .step_by(5)
            .map(|x| png.get_pixel(x, 0).0[0])
            .collect();
        assert_eq!(row, [1, 0, 2, 2]);
        assert_eq!(png.get_pixel(19, 9).0, [2]);
    }
}
