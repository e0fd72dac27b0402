//! A report per class of one segmentation: each class's chips, area fraction and area (from
//! [`Summary`]) and, where the modalities were measured, the counts of chosen X-ray lines in the
//! class's mean chip spectrum and the class's mean column spacing; as typed rows for the page
//! and as CSV. A project's images pool their reports into one ([`ProjectReport`]).

use crate::atoms::AtomChips;
use crate::atoms::pdf::RGrid;
use crate::dataset::{Calibration, significant};
use crate::exports::csv_field;
use crate::results::{ClassShare, Summary};
use crate::spectra::lines::{XrayLine, map_channels, map_line};
use crate::spectra::modality::SpectralChips;
use serde::{Deserialize, Serialize};

/// One row of a [`ClassReport`]: a class, or the unassigned chips.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassRow {
    /// Name, colour, chips, fraction and area, as the summary has them.
    pub share: ClassShare,
    /// Mean spectrum of the row's chips (counts per chip and channel); `None` without spectra
    /// or without chips.
    pub mean_spectrum: Option<Vec<f64>>,
    /// Per line of [`ClassReport::lines`]: the mean spectrum's counts in the line's window.
    pub line_counts: Vec<Option<f64>>,
    /// Mean nearest-neighbour column spacing of the row's chips with columns, pixels.
    pub spacing_px: Option<f64>,
    /// The same in nm, when the image's calibration is a length.
    pub spacing_nm: Option<f64>,
    /// The row's chips with columns, which the spacing is the mean over.
    pub spaced_chips: usize,
}

/// Each class's share of the grid and what the modalities say about its chips. It travels
/// between processes as JSON ([`ClassReport::to_json`]), so the reports of images segmented on
/// many machines pool into one [`ProjectReport`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    rows: Vec<ClassRow>,
    /// How many of the rows are classes (unassigned may follow).
    classes: usize,
    /// The row of every chip, in grid order: its class, or the unassigned row after them.
    members: Vec<Option<usize>>,
    area_unit: Option<String>,
    #[serde(with = "line_names")]
    lines: Vec<XrayLine>,
    atoms: bool,
    pixel_nm: Option<f64>,
}

impl ClassReport {
    /// The rows of `summary` (the classes, then unassigned when it has chips), made from
    /// `assignments` (one per chip, in grid order).
    pub fn new(summary: &Summary, assignments: &[Option<usize>]) -> Self {
        let classes = summary.classes.len();
        let members = assignments
            .iter()
            .map(|class| class.map_or(Some(classes), |k| (k < classes).then_some(k)))
            .collect();
        let rows = summary
            .rows()
            .map(|share| ClassRow {
                share: share.clone(),
                mean_spectrum: None,
                line_counts: Vec::new(),
                spacing_px: None,
                spacing_nm: None,
                spaced_chips: 0,
            })
            .collect();
        Self {
            rows,
            classes,
            members,
            area_unit: summary.area_unit.clone(),
            lines: Vec::new(),
            atoms: false,
            pixel_nm: None,
        }
    }

    /// Adds each row's mean chip spectrum ([`SpectralChips::class_means`]) and, for the line of
    /// each of `elements` that an element map shows ([`map_line`]: Kα before Lα before Mα,
    /// inside the axis; others are left out), its counts in that mean spectrum summed over the
    /// line's window ([`map_channels`], ± one detector FWHM). The window sum is gross counts:
    /// the bremsstrahlung background and any overlapping line under the window are included.
    pub fn with_spectra(mut self, chips: &SpectralChips, elements: &[impl AsRef<str>]) -> Self {
        self.lines.clear();
        for line in elements
            .iter()
            .filter_map(|e| map_line(e.as_ref(), &chips.axis))
        {
            if !self.lines.contains(&line) {
                self.lines.push(line);
            }
        }
        let windows: Vec<(usize, usize)> = self
            .lines
            .iter()
            .map(|line| map_channels(line, &chips.axis))
            .collect();
        let means = chips.class_means(&self.members, self.rows.len());
        for (row, mean) in self.rows.iter_mut().zip(means) {
            row.line_counts = windows
                .iter()
                .map(|&window| mean.as_deref().map(|m| window_sum(m, window)))
                .collect();
            row.mean_spectrum = mean;
        }
        self
    }

    /// Adds each row's mean column spacing, in pixels and, when `calibration` is a length, in
    /// nm: the mean over its chips with columns of each chip's nearest-neighbour distance, the
    /// mean pair distance under the first peak of its g(r) (the first local maximum reaching
    /// half the highest bin, with the bins either side down to the nearest minimum or empty
    /// bin, each bin's centre weighted by its pair count g · r).
    pub fn with_atoms(mut self, chips: &AtomChips, calibration: Option<&Calibration>) -> Self {
        self.atoms = true;
        self.pixel_nm = calibration.and_then(Calibration::pixel_nm);
        let mut sums = vec![(0.0, 0usize); self.rows.len()];
        for (pdf, member) in chips.pdfs.iter().zip(&self.members) {
            let row = member.filter(|&row| row < sums.len());
            if let (Some(row), Some(spacing)) = (row, first_peak(pdf, &chips.r)) {
                sums[row].0 += spacing;
                sums[row].1 += 1;
            }
        }
        for (row, (sum, count)) in self.rows.iter_mut().zip(sums) {
            row.spaced_chips = count;
            row.spacing_px = (count > 0).then(|| sum / count as f64);
            row.spacing_nm = row.spacing_px.zip(self.pixel_nm).map(|(px, nm)| px * nm);
        }
        self
    }

    /// The rows: the classes in class order, then unassigned when it has chips.
    pub fn rows(&self) -> &[ClassRow] {
        &self.rows
    }

    /// The lines whose counts the rows give, in column order (empty without spectra).
    pub fn lines(&self) -> &[XrayLine] {
        &self.lines
    }

    /// The column names: `class`, `chips`, `fraction`, `area (nm²)` when calibrated, `Fe Ka
    /// counts` per line, `column spacing (px)` and `column spacing (nm)` with atoms (nm when
    /// calibrated in a length).
    pub fn header(&self) -> Vec<String> {
        let mut header: Vec<String> = ["class", "chips", "fraction"].map(String::from).into();
        header.extend(self.area_unit.iter().map(|unit| format!("area ({unit})")));
        header.extend(
            self.lines
                .iter()
                .map(|line| format!("{} {} counts", line.element, line.line)),
        );
        if self.atoms {
            header.push("column spacing (px)".into());
            header.extend(self.pixel_nm.map(|_| "column spacing (nm)".to_string()));
        }
        header
    }

    /// The report as JSON, which [`ClassReport::from_json`] reads back unchanged.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report serialises")
    }

    /// A report [`ClassReport::to_json`] wrote, refused when its parts disagree (so pooling
    /// it cannot fail).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let report: Self =
            serde_json::from_str(text).map_err(|error| format!("not a class report: {error}"))?;
        let chips = report.members.len();
        let consistent = (report.classes..=report.classes + 1).contains(&report.rows.len())
            && report
                .members
                .iter()
                .flatten()
                .all(|&row| row < report.rows.len())
            && report
                .rows
                .iter()
                .all(|row| row.share.chips <= chips && row.line_counts.len() == report.lines.len());
        match consistent {
            true => Ok(report),
            false => Err("not a class report: its rows, chips and lines disagree".into()),
        }
    }

    /// The names of its classes, in order (without the unassigned row).
    pub fn class_names(&self) -> impl Iterator<Item = &str> {
        self.rows[..self.classes]
            .iter()
            .map(|row| row.share.name.as_str())
    }

    /// The report as CSV: [`ClassReport::header`], then one line per row of
    /// [`ClassReport::table`], names quoted where CSV needs it.
    pub fn to_csv(&self) -> String {
        let header: Vec<String> = self.header().iter().map(|name| csv_field(name)).collect();
        let mut csv = header.join(",") + "\n";
        for mut cells in self.table() {
            cells[0] = csv_field(&cells[0]);
            csv += &(cells.join(",") + "\n");
        }
        csv
    }

    /// The rows as text under [`ClassReport::header`]: fractions to 6 decimals, areas and
    /// counts to 6 significant digits, spacings to 4; unknown values empty.
    pub fn table(&self) -> Vec<Vec<String>> {
        self.rows.iter().map(|row| self.cells(row)).collect()
    }

    /// The cells of `row`.
    fn cells(&self, row: &ClassRow) -> Vec<String> {
        let number =
            |value: Option<f64>, digits| value.map_or(String::new(), |v| significant(v, digits));
        let share = &row.share;
        let mut cells = vec![
            share.name.clone(),
            share.chips.to_string(),
            format!("{:.6}", share.fraction),
        ];
        if self.area_unit.is_some() {
            cells.push(number(share.area, 6));
        }
        let lines = row.line_counts.iter().take(self.lines.len());
        cells.extend(lines.map(|&counts| number(counts, 6)));
        if self.atoms {
            cells.push(number(row.spacing_px, 4));
            if self.pixel_nm.is_some() {
                cells.push(number(row.spacing_nm, 4));
            }
        }
        cells
    }
}

impl ClassReport {
    /// One report of several segmentations with the same classes (a project's images): each
    /// row's chips and area summed and its fraction of all their chips; its line counts, mean
    /// spectrum and column spacings the means over the images weighted by the chips each
    /// averaged. Line counts are pooled only when every report has the same lines and
    /// spectrum length, areas only when every image is calibrated in the same unit.
    ///
    /// # Panics
    /// If `reports` is empty.
    pub fn pooled(reports: &[&ClassReport]) -> ClassReport {
        let first = reports[0];
        let total: usize = reports.iter().map(|r| r.members.len()).sum();
        let same = |f: &dyn Fn(&ClassReport) -> bool| reports.iter().all(|r| f(r));
        let area_unit = first
            .area_unit
            .clone()
            .filter(|_| same(&|r| r.area_unit == first.area_unit));
        let lines = match same(&|r| r.lines == first.lines) {
            true => first.lines.clone(),
            false => Vec::new(),
        };
        let pixel_nm = first.pixel_nm.filter(|_| same(&|r| r.pixel_nm.is_some()));
        let mut rows: Vec<ClassRow> = (0..first.classes)
            .map(|k| pool_rows(reports.iter().map(|r| &r.rows[k]), total, &lines))
            .collect();
        let unassigned = reports.iter().filter_map(|r| r.rows.get(r.classes));
        if unassigned.clone().next().is_some() {
            rows.push(pool_rows(unassigned, total, &lines));
        }
        if area_unit.is_none() {
            rows.iter_mut().for_each(|row| row.share.area = None);
        }
        ClassReport {
            rows,
            classes: first.classes,
            members: Vec::new(),
            area_unit,
            lines,
            atoms: reports.iter().any(|r| r.atoms),
            pixel_nm,
        }
    }
}

/// One row from the same row of several reports, as [`ClassReport::pooled`] says.
fn pool_rows<'a>(
    rows: impl Iterator<Item = &'a ClassRow> + Clone,
    total: usize,
    lines: &[XrayLine],
) -> ClassRow {
    let first = rows.clone().next().expect("a row to pool");
    let chips: usize = rows.clone().map(|row| row.share.chips).sum();
    let area = rows.clone().map(|row| row.share.area).sum::<Option<f64>>();
    let weighted = |value: &dyn Fn(&ClassRow) -> Option<f64>,
                    weight: &dyn Fn(&ClassRow) -> usize| {
        let (sum, count) = rows
            .clone()
            .filter_map(|row| value(row).map(|v| (v * weight(row) as f64, weight(row))))
            .fold((0.0, 0), |(s, c), (v, w)| (s + v, c + w));
        (count > 0).then(|| sum / count as f64)
    };
    let chips_of = |row: &ClassRow| row.share.chips;
    let spectra = rows.clone().map(|row| row.mean_spectrum.as_ref());
    let channels = first.mean_spectrum.as_ref().map(Vec::len);
    let mean_spectrum = channels
        .filter(|&n| spectra.clone().flatten().all(|s| s.len() == n))
        .map(|n| {
            (0..n)
                .map(|c| weighted(&|row| row.mean_spectrum.as_ref().map(|s| s[c]), &chips_of))
                .map(Option::unwrap_or_default)
                .collect()
        });
    ClassRow {
        share: ClassShare {
            chips,
            fraction: chips as f64 / total.max(1) as f64,
            area,
            ..first.share.clone()
        },
        mean_spectrum,
        line_counts: (0..lines.len())
            .map(|l| weighted(&|row| row.line_counts.get(l).copied().flatten(), &chips_of))
            .collect(),
        spacing_px: weighted(&|row| row.spacing_px, &|row| row.spaced_chips),
        spacing_nm: weighted(&|row| row.spacing_nm, &|row| row.spaced_chips),
        spaced_chips: rows.map(|row| row.spaced_chips).sum(),
    }
}

/// The class reports of a project's images, and all of them pooled, as one table.
#[derive(Clone, Debug, PartialEq)]
pub struct ProjectReport {
    /// Each image's name and report, in project order.
    pub images: Vec<(String, ClassReport)>,
    /// Every image pooled ([`ClassReport::pooled`]).
    pub pooled: ClassReport,
}

impl ProjectReport {
    /// The project's reports, pooled.
    ///
    /// # Panics
    /// If `images` is empty.
    pub fn new(images: Vec<(String, ClassReport)>) -> Self {
        let reports: Vec<&ClassReport> = images.iter().map(|(_, report)| report).collect();
        let pooled = ClassReport::pooled(&reports);
        Self { images, pooled }
    }

    /// The reports of images segmented apart (perhaps on many machines, read back with
    /// [`ClassReport::from_json`]), pooled; refused when there are none, or when one was
    /// segmented with other classes (another session's), so pooling cannot fail.
    pub fn pool(images: Vec<(String, ClassReport)>) -> Result<Self, String> {
        let Some((first_name, first)) = images.first() else {
            return Err("a project report needs at least one image".into());
        };
        let other = images
            .iter()
            .find(|(_, report)| !report.class_names().eq(first.class_names()));
        if let Some((name, _)) = other {
            return Err(format!(
                "{name} was segmented with other classes than {first_name}; pool reports of \
                 one session"
            ));
        }
        Ok(Self::new(images))
    }

    /// The name of the pooled rows' image column.
    pub const ALL: &'static str = "all images";

    /// One CSV: an `image` column, then the pooled report's columns; each image's rows, then
    /// the pooled rows under [`Self::ALL`].
    pub fn to_csv(&self) -> String {
        let mut header = vec!["image".to_string()];
        header.extend(self.pooled.header().iter().map(|name| csv_field(name)));
        let mut csv = header.join(",") + "\n";
        let named = self
            .images
            .iter()
            .map(|(name, report)| (name.as_str(), report))
            .chain([(Self::ALL, &self.pooled)]);
        for (name, report) in named {
            for row in &report.rows {
                let mut cells = self.pooled.cells(row);
                cells[0] = csv_field(&cells[0]);
                csv += &format!("{},{}\n", csv_field(name), cells.join(","));
            }
        }
        csv
    }
}

/// The sum of `spectrum` over channels `first..=last` (0 when they do not fit in it).
fn window_sum(spectrum: &[f64], (first, last): (usize, usize)) -> f64 {
    spectrum
        .get(first..=last)
        .map_or(0.0, |window| window.iter().sum())
}

/// The nearest-neighbour distance, pixels, of a chip's g(r) `pdf` on `r`, as
/// [`ClassReport::with_atoms`] says; `None` for a chip without columns.
fn first_peak(pdf: &[f32], r: &RGrid) -> Option<f64> {
    let g: Vec<f64> = pdf.iter().map(|&v| f64::from(v.max(0.0))).collect();
    let highest = g.iter().copied().fold(0.0, f64::max);
    if !(highest > 0.0 && highest.is_finite()) {
        return None;
    }
    let mut top = g.iter().position(|&v| v >= highest / 2.0)?;
    while top + 1 < g.len() && g[top + 1] > g[top] {
        top += 1;
    }
    let downhill = |from: usize, to: usize| g[to] > 0.0 && g[to] <= g[from];
    let (mut first, mut last) = (top, top);
    while first > 0 && downhill(first, first - 1) {
        first -= 1;
    }
    while last + 1 < g.len() && downhill(last, last + 1) {
        last += 1;
    }
    let centres = r.centres();
    let (mass, moment) = (first..=last).fold((0.0, 0.0), |(mass, moment), bin| {
        let centre = f64::from(centres[bin]);
        let pairs = g[bin] * centre;
        (mass + pairs, moment + pairs * centre)
    });
    Some(moment / mass)
}

/// The report's X-ray lines as their names ("Fe Ka"), found again in the line table on reading.
mod line_names {
    use crate::spectra::lines::{XrayLine, lines_of};
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(lines: &[XrayLine], serializer: S) -> Result<S::Ok, S::Error> {
        let names: Vec<String> = lines
            .iter()
            .map(|l| format!("{} {}", l.element, l.line))
            .collect();
        names.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<XrayLine>, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        names
            .iter()
            .map(|name| {
                let (element, line) = name.split_once(' ').unwrap_or((name, ""));
                let found = lines_of(element).into_iter().find(|l| l.line == line);
                found.ok_or_else(|| D::Error::custom(format!("no X-ray line {name:?}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atoms::{AtomParams, find_atoms};
    use crate::grid::ChipGrid;
    use crate::labels::named_classes;
    use crate::simulate::{GRAIN_SPACINGS_PX, grains};
    use crate::spectra::synthetic::{Acquisition, Composition, eds_map};
    use crate::spectra::{EnergyAxis, SpectrumImageBuilder};

    /// Pooling weighs each image by its chips; columns not every image has are left out.
    #[test]
    fn a_project_pools_its_images_reports() {
        let full = full_report();
        let twice = ClassReport::pooled(&[&full, &full]);
        let doubled = |csv: &str| csv.replace("matrix,2,", "matrix,4,");
        assert_eq!(twice.rows()[0].share.chips, 4);
        assert_eq!(twice.rows()[0].share.area, Some(256.0));
        assert_eq!(twice.rows()[0].line_counts, full.rows()[0].line_counts);
        assert_eq!(twice.rows()[0].spacing_nm, Some(3.5));
        assert!(doubled(&full.to_csv()).starts_with(&twice.to_csv()[..60]));
        let plain = ClassReport::new(&summary(None), &ASSIGNMENTS);
        let project = ProjectReport::new(vec![("a.tif".into(), full), ("b, c.tif".into(), plain)]);
        assert_eq!(
            project.to_csv(),
            "image,class,chips,fraction,column spacing (px)\n\
             a.tif,matrix,2,0.500000,7\n\
             a.tif,\"oxide, rich\",1,0.250000,\n\
             a.tif,unassigned,1,0.250000,4.5\n\
             \"b, c.tif\",matrix,2,0.500000,\n\
             \"b, c.tif\",\"oxide, rich\",1,0.250000,\n\
             \"b, c.tif\",unassigned,1,0.250000,\n\
             all images,matrix,4,0.500000,7\n\
             all images,\"oxide, rich\",2,0.250000,\n\
             all images,unassigned,2,0.250000,4.5\n"
        );
    }

    /// Reports read back from JSON pool only when they share their classes.
    #[test]
    fn reports_of_other_classes_or_none_are_not_pooled() {
        let full = full_report();
        let back = ClassReport::from_json(&full.to_json()).unwrap();
        let pooled = ProjectReport::pool(vec![("a".into(), full.clone()), ("b".into(), back)]);
        let direct =
            ProjectReport::new(vec![("a".into(), full.clone()), ("b".into(), full.clone())]);
        assert_eq!(pooled.unwrap().to_csv(), direct.to_csv());
        let mut renamed = full.clone();
        renamed.rows[1].share.name = "another".into();
        let mixed = ProjectReport::pool(vec![("a".into(), full), ("b".into(), renamed)]);
        assert_eq!(
            mixed.err().as_deref(),
            Some("b was segmented with other classes than a; pool reports of one session")
        );
        assert!(ProjectReport::pool(Vec::new()).is_err());
    }

    /// 100 channels of 0.1 keV from 0: Fe Kα's window (6.269–6.539 keV) is channels 62–65,
    /// O Kα's (0.466–0.584 keV) channels 4–5.
    fn tenth_kev_axis() -> EnergyAxis {
        EnergyAxis {
            offset_kev: 0.0,
            scale_kev: 0.1,
            channels: 100,
        }
    }

    /// Four chips of a 64 × 16 image (one map pixel each) with counts in and around the Fe Kα
    /// and O Kα windows.
    fn four_chip_spectra() -> SpectralChips {
        let pixels: [&[(usize, u64)]; 4] = [
            &[(61, 7), (62, 1), (65, 2)], // Fe window: 3
            &[(63, 4), (64, 2), (66, 9)], // Fe window: 6
            &[(64, 5)],                   // Fe window: 5
            &[(5, 3), (20, 1)],           // O window: 3
        ];
        let mut builder = SpectrumImageBuilder::new(4, 1, tenth_kev_axis(), 1).unwrap();
        for pixel in pixels {
            builder.push_sparse(pixel.iter().copied()).unwrap();
        }
        let map = builder.finish(None, None).unwrap();
        SpectralChips::new(&map, &ChipGrid::new(64, 16, 16).unwrap())
    }

    /// g(r) on 10 bins of 1 px: chips 0 and 1 peak at 6.5 and 7.5 px, chip 2 has no columns,
    /// chip 3 peaks at 4.5 px.
    fn four_chip_atoms() -> AtomChips {
        let peak = |bin: usize| (0..10).map(|b| f32::from(u8::from(b == bin))).collect();
        AtomChips {
            r: RGrid {
                r_max: 10.0,
                bins: 10,
            },
            pdfs: vec![peak(6), peak(7), vec![0.0; 10], peak(4)],
        }
    }

    const ASSIGNMENTS: [Option<usize>; 4] = [Some(0), Some(0), Some(1), None];

    fn summary(calibration: Option<&Calibration>) -> Summary {
        let classes = named_classes(&["matrix", "oxide, rich"]);
        Summary::new(&classes, &ASSIGNMENTS, 16, calibration)
    }

    #[test]
    fn line_counts_are_the_mean_of_the_chips_window_sums() {
        let chips = four_chip_spectra();
        let report =
            ClassReport::new(&summary(None), &ASSIGNMENTS).with_spectra(&chips, &["Fe", "o", "fe"]);
        let names: Vec<(&str, &str)> = report.lines().iter().map(|l| (l.element, l.line)).collect();
        assert_eq!(names, [("Fe", "Ka"), ("O", "Ka")]);
        let counts: Vec<&[Option<f64>]> =
            report.rows().iter().map(|r| &r.line_counts[..]).collect();
        assert_eq!(
            counts,
            [
                &[Some(4.5), Some(0.0)][..],
                &[Some(5.0), Some(0.0)],
                &[Some(0.0), Some(3.0)]
            ]
        );
        // The same as each class's mean of its chips' own window sums.
        let (first, last) = map_channels(&report.lines()[0], &chips.axis);
        assert_eq!((first, last), (62, 65));
        let fe = |chip: usize| chips.spectra[chip][first..=last].iter().sum::<u64>() as f64;
        assert_eq!(report.rows()[0].line_counts[0], Some((fe(0) + fe(1)) / 2.0));
        assert_eq!(report.rows()[1].mean_spectrum.as_ref().unwrap()[64], 5.0);
    }

    #[test]
    fn first_peak_is_the_pair_weighted_mean_distance_under_it() {
        let r = RGrid {
            r_max: 10.0,
            bins: 10,
        };
        // Bins 5 and 6 (centres 5.5, 6.5) make the first peak; bin 3 is below half the highest
        // bin, bins 8–9 a second peak. Pair weights g·r: 11 and 39.
        let g = [0.0, 0.0, 0.0, 0.1, 0.0, 2.0, 6.0, 0.0, 1.0, 2.0];
        let expected = (11.0 * 5.5 + 39.0 * 6.5) / 50.0;
        assert!((first_peak(&g, &r).unwrap() - expected).abs() < 1e-12);
        // The first peak, even when a later one is higher.
        let g = [0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0];
        assert_eq!(first_peak(&g, &r), Some(2.5));
        assert_eq!(first_peak(&[0.0; 10], &r), None);
    }

    /// The report of [`ASSIGNMENTS`] at 0.5 nm/px, with Fe and O line counts and spacings.
    fn full_report() -> ClassReport {
        let calibration = Calibration {
            pixel_size: 0.5,
            unit: "nm".into(),
        };
        ClassReport::new(&summary(Some(&calibration)), &ASSIGNMENTS)
            .with_spectra(&four_chip_spectra(), &["Fe", "O"])
            .with_atoms(&four_chip_atoms(), Some(&calibration))
    }

    #[test]
    fn csv_has_shares_lines_and_spacings() {
        let report = full_report();
        assert_eq!(
            report.to_csv(),
            "class,chips,fraction,area (nm²),Fe Ka counts,O Ka counts,column spacing (px),\
             column spacing (nm)\n\
             matrix,2,0.500000,128,4.5,0,7,3.5\n\
             \"oxide, rich\",1,0.250000,64,5,0,,\n\
             unassigned,1,0.250000,64,0,3,4.5,2.25\n"
        );
        let plain = ClassReport::new(&summary(None), &ASSIGNMENTS);
        assert_eq!(plain.header(), ["class", "chips", "fraction"]);
        assert_eq!(
            plain.to_csv().lines().nth(2),
            Some("\"oxide, rich\",1,0.250000")
        );
        let no_nm =
            ClassReport::new(&summary(None), &ASSIGNMENTS).with_atoms(&four_chip_atoms(), None);
        assert_eq!(no_nm.to_csv().lines().nth(1), Some("matrix,2,0.500000,7"));
    }

    #[test]
    fn a_report_comes_back_from_its_json_unchanged() {
        let report = full_report();
        let json = report.to_json();
        assert!(json.contains(r#""lines":["Fe Ka","O Ka"]"#), "{json}");
        assert_eq!(ClassReport::from_json(&json).as_ref(), Ok(&report));
        let tampered = json.replace("Fe Ka", "Fe Kz");
        let refused = ClassReport::from_json(&tampered).unwrap_err();
        assert!(refused.contains("no X-ray line \"Fe Kz\""), "{refused}");
        let mut short = report.clone();
        short.rows.truncate(1);
        let refused = ClassReport::from_json(&short.to_json()).unwrap_err();
        assert_eq!(
            refused,
            "not a class report: its rows, chips and lines disagree"
        );
        let names: Vec<&str> = report.class_names().collect();
        assert_eq!(names, ["matrix", "oxide, rich"]);
    }

    #[test]
    fn line_counts_rank_the_elements_of_a_synthetic_map() {
        // Left half: Fe > Cu > Si; right half: Si > Cu > Fe.
        let compositions = [
            Composition {
                elements: vec![("Fe", 1.0), ("Cu", 0.5), ("Si", 0.2)],
            },
            Composition {
                elements: vec![("Si", 1.0), ("Cu", 0.4), ("Fe", 0.1)],
            },
        ];
        let (width, height) = (128, 64);
        let labels: Vec<u8> = (0..width * height)
            .map(|i| u8::from(i % width >= 64))
            .collect();
        let acquisition = Acquisition {
            counts_per_pixel: 20.0,
            axis: EnergyAxis {
                offset_kev: 0.0,
                scale_kev: 0.02,
                channels: 1024,
            },
            beam_kv: 200.0,
            seed: 3,
        };
        let map = eds_map(&labels, (width, height), &compositions, acquisition).unwrap();
        let grid = ChipGrid::new(width, height, 16).unwrap();
        let chips = SpectralChips::new(&map, &grid);
        let assignments: Vec<Option<usize>> = grid
            .chips()
            .map(|chip| Some(usize::from(chip.x >= 64)))
            .collect();
        let classes = named_classes(&["iron-rich", "silicon-rich"]);
        let summary = Summary::new(&classes, &assignments, 16, None);
        let report =
            ClassReport::new(&summary, &assignments).with_spectra(&chips, &["Si", "Fe", "Cu"]);
        let counts = |row: usize| -> Vec<f64> {
            report.rows()[row]
                .line_counts
                .iter()
                .map(|c| c.unwrap())
                .collect()
        };
        let ([si_a, fe_a, cu_a], [si_b, fe_b, cu_b]) = (
            <[f64; 3]>::try_from(counts(0)).unwrap(),
            <[f64; 3]>::try_from(counts(1)).unwrap(),
        );
        assert!(fe_a > cu_a && cu_a > si_a, "{fe_a} {cu_a} {si_a}");
        assert!(si_b > cu_b && cu_b > fe_b, "{si_b} {cu_b} {fe_b}");
        assert!(
            fe_a > 5.0 * fe_b && si_b > 3.0 * si_a,
            "{fe_a} {fe_b} {si_a} {si_b}"
        );
        assert_eq!(report.rows().len(), 2);
    }

    #[test]
    fn mean_spacings_of_two_grain_phases_are_the_simulated_ones() {
        let (size, chip) = (256, 32);
        let simulation = grains(size, 1);
        let grid = ChipGrid::new(size, size, chip).unwrap();
        // A chip's phase where at least 95 % of its pixels have it; mixed chips unassigned.
        let assignments: Vec<Option<usize>> = grid
            .chips()
            .map(|c| {
                let second = (c.y..c.y + chip)
                    .flat_map(|y| (c.x..c.x + chip).map(move |x| y * size + x))
                    .filter(|&i| simulation.labels[i] == 1)
                    .count() as f64
                    / (chip * chip) as f64;
                match second {
                    s if s <= 0.05 => Some(0),
                    s if s >= 0.95 => Some(1),
                    _ => None,
                }
            })
            .collect();
        let params = AtomParams::for_image(&simulation.dataset.image);
        let columns = find_atoms(&simulation.dataset.image, &params);
        let atoms = AtomChips::new(&columns, &grid, &params);
        let classes = named_classes(&["8.0 px", "8.4 px"]);
        let calibration = simulation.dataset.calibration.as_ref();
        let summary = Summary::new(&classes, &assignments, chip, calibration);
        let report = ClassReport::new(&summary, &assignments).with_atoms(&atoms, calibration);
        for (row, expected) in report.rows().iter().zip(GRAIN_SPACINGS_PX) {
            assert!(
                row.share.chips >= 3,
                "{}: {} chips",
                row.share.name,
                row.share.chips
            );
            let spacing = row.spacing_px.unwrap();
            eprintln!(
                "{}: {spacing:.3} px over {} chips (spacing param {})",
                row.share.name, row.share.chips, params.spacing_px
            );
            assert!(
                (spacing / expected - 1.0).abs() < 0.02,
                "{}: {spacing}",
                row.share.name
            );
            let nm = row.spacing_nm.unwrap();
            assert!((nm - spacing * crate::simulate::PIXEL_SIZE_NM).abs() < 1e-12);
        }
    }
}
