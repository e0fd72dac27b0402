//! Results over a frame series ([`crate::formats::series::Series`]): each class's share of
//! every frame, as the table `chipscope segment` writes (`STEM-fractions.csv`) and the page
//! plots and downloads, and its line chart.

use crate::dataset::significant;
use crate::exports::csv_field;
use crate::labels::Colour;
use crate::results::{Summary, UNASSIGNED_COLOUR, xml_escape};

/// Each class's area fraction (and area, when calibrated) in every frame segmented so far.
#[derive(Clone, Debug, PartialEq)]
pub struct FractionTable {
    /// The classes' names and colours, in class order, then "unassigned".
    columns: Vec<(String, Colour)>,
    area_unit: Option<String>,
    rows: Vec<FrameShares>,
}

/// One frame's shares.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameShares {
    /// The frame's index, from 0.
    pub frame: usize,
    /// Seconds after the first frame, where the file records it.
    pub time_s: Option<f64>,
    /// The file the frame came from, when each frame is a file of its own (a watched folder).
    pub file: Option<String>,
    /// Per class, then unassigned: the fraction of the frame's chips, 0–1.
    pub fractions: Vec<f64>,
    /// Per class, then unassigned: the area in the table's unit, when calibrated.
    pub areas: Option<Vec<f64>>,
}

impl FractionTable {
    /// An empty table for the classes of `first`, a frame's summary.
    pub fn new(first: &Summary) -> Self {
        let columns = first
            .classes
            .iter()
            .chain([&first.unassigned])
            .map(|share| (share.name.clone(), share.colour))
            .collect();
        Self {
            columns,
            area_unit: first.area_unit.clone(),
            rows: Vec::new(),
        }
    }

    /// The table of a series' frames segmented apart (perhaps on many machines):
    /// (index, time, summary) in frame order; refused when there are none, or when one was
    /// segmented with other classes than the first.
    pub fn of_frames(frames: &[(usize, Option<f64>, Summary)]) -> Result<Self, String> {
        let (first_index, _, first) = frames.first().ok_or("no frame could be segmented")?;
        let names = |summary: &Summary| summary.classes.iter().map(|c| c.name.clone()).collect();
        let columns: Vec<String> = names(first);
        let mut table = Self::new(first);
        for (index, time_s, summary) in frames {
            if names(summary) != columns {
                return Err(format!(
                    "frame {} was segmented with other classes than frame {}",
                    index + 1,
                    first_index + 1
                ));
            }
            table.push(*index, *time_s, summary);
        }
        Ok(table)
    }

    /// Adds frame `frame` (recorded `time_s` after the first) as `summary` counts it.
    pub fn push(&mut self, frame: usize, time_s: Option<f64>, summary: &Summary) {
        self.push_file(frame, time_s, None, summary);
    }

    /// Adds frame `frame`, read from its own `file` when given, as [`Self::push`] does.
    pub fn push_file(
        &mut self,
        frame: usize,
        time_s: Option<f64>,
        file: Option<String>,
        summary: &Summary,
    ) {
        let shares = || summary.classes.iter().chain([&summary.unassigned]);
        let areas = shares()
            .map(|share| share.area)
            .collect::<Option<Vec<f64>>>();
        self.rows.push(FrameShares {
            frame,
            time_s,
            file,
            fractions: shares().map(|share| share.fraction).collect(),
            areas: areas.filter(|_| self.area_unit.is_some()),
        });
    }

    /// The frames so far, in the order they were added.
    pub fn rows(&self) -> &[FrameShares] {
        &self.rows
    }

    /// The column names: the classes, then "unassigned".
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(name, _)| name.as_str())
    }

    /// The table as CSV: `frame` (from 1), `time_s` (empty where unknown), `file` when the
    /// frames came from files of their own, each class's fraction (then unassigned), and each
    /// class's area when calibrated.
    pub fn to_csv(&self) -> String {
        let files = self.rows.iter().any(|row| row.file.is_some());
        let mut header = vec!["frame".to_string(), "time_s".to_string()];
        header.extend(files.then(|| "file".to_string()));
        header.extend(
            self.names()
                .map(|name| csv_field(&format!("{name} fraction"))),
        );
        if let Some(unit) = &self.area_unit {
            header.extend(
                self.names()
                    .map(|name| csv_field(&format!("{name} area ({unit})"))),
            );
        }
        let mut csv = header.join(",") + "\n";
        for row in &self.rows {
            let mut cells = vec![
                (row.frame + 1).to_string(),
                row.time_s.map(|t| format!("{t}")).unwrap_or_default(),
            ];
            if files {
                cells.push(csv_field(row.file.as_deref().unwrap_or_default()));
            }
            cells.extend(row.fractions.iter().map(|f| format!("{f:.6}")));
            cells.extend(row.areas.iter().flatten().map(|a| significant(*a, 6)));
            csv += &(cells.join(",") + "\n");
        }
        csv
    }

    /// Each class's fraction against the frame (or time, when every frame has one) as a
    /// standalone SVG line chart; unassigned is drawn only where some frame has any.
    pub fn chart_svg(&self) -> String {
        const WIDTH: f64 = 560.0;
        const HEIGHT: f64 = 300.0;
        const LEFT: f64 = 48.0;
        const TOP: f64 = 28.0;
        const PLOT_W: f64 = 380.0;
        const PLOT_H: f64 = 220.0;
        let timed = !self.rows.is_empty() && self.rows.iter().all(|row| row.time_s.is_some());
        let x_of = |row: &FrameShares| match timed {
            true => row.time_s.unwrap_or_default(),
            false => (row.frame + 1) as f64,
        };
        let (low, high) = self
            .rows
            .iter()
            .map(x_of)
            .fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
        let span = (high - low).max(f64::EPSILON);
        let px = |x: f64| LEFT + (x - low) / span * PLOT_W;
        let py = |fraction: f64| TOP + (1.0 - fraction) * PLOT_H;
        let axis = match timed {
            true => "time (s)",
            false => "frame",
        };
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
             viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\
             <rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#ffffff\"/>\
             <text x=\"8\" y=\"16\" font-weight=\"bold\">Area fractions over {} frame{}</text>\
             <path d=\"M{LEFT} {TOP}V{}H{}\" fill=\"none\" stroke=\"#444444\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">1</text>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">0</text>\
             <text x=\"{LEFT}\" y=\"{}\">{}</text>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} {axis}</text>",
            self.rows.len(),
            if self.rows.len() == 1 { "" } else { "s" },
            TOP + PLOT_H,
            LEFT + PLOT_W,
            LEFT - 6.0,
            TOP + 4.0,
            LEFT - 6.0,
            TOP + PLOT_H,
            TOP + PLOT_H + 16.0,
            significant(low.min(high), 4),
            LEFT + PLOT_W,
            TOP + PLOT_H + 16.0,
            significant(high.max(low), 4),
        );
        let unassigned = self.columns.len() - 1;
        let mut legend = 0;
        for (column, (name, colour)) in self.columns.iter().enumerate() {
            let values = || self.rows.iter().map(move |row| row.fractions[column]);
            if column == unassigned && values().all(|f| f == 0.0) {
                continue;
            }
            let colour = match column == unassigned {
                true => UNASSIGNED_COLOUR,
                false => *colour,
            };
            let points: Vec<String> = self
                .rows
                .iter()
                .zip(values())
                .map(|(row, f)| format!("{:.1},{:.1}", px(x_of(row)), py(f)))
                .collect();
            let y = TOP + 8.0 + 18.0 * legend as f64;
            legend += 1;
            svg += &format!(
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>\
                 <rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{colour}\"/>\
                 <text x=\"{}\" y=\"{}\">{}</text>",
                points.join(" "),
                LEFT + PLOT_W + 16.0,
                y - 10.0,
                LEFT + PLOT_W + 32.0,
                y,
                xml_escape(name),
            );
        }
        svg + "</svg>"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Calibration;
    use crate::labels::{ClassLabel, palette_colour};

    fn classes() -> Vec<ClassLabel> {
        ["grown", "parent"]
            .iter()
            .enumerate()
            .map(|(k, name)| ClassLabel {
                name: name.to_string(),
                colour: palette_colour(k),
                supports: vec![],
                elsewhere: vec![],
            })
            .collect()
    }

    #[test]
    fn fractions_and_areas_per_frame_as_csv() {
        let calibration = Calibration {
            pixel_size: 0.5,
            unit: "nm".into(),
        };
        let frame = |assignments: &[Option<usize>]| {
            Summary::new(&classes(), assignments, 4, Some(&calibration))
        };
        let first = frame(&[Some(0), Some(1), Some(1), Some(1)]);
        let mut table = FractionTable::new(&first);
        table.push(0, Some(0.0), &first);
        table.push(1, Some(0.5), &frame(&[Some(0), Some(0), Some(1), None]));
        assert_eq!(
            table.to_csv(),
            "frame,time_s,grown fraction,parent fraction,unassigned fraction,\
             grown area (nm²),parent area (nm²),unassigned area (nm²)\n\
             1,0,0.250000,0.750000,0.000000,4,12,0\n\
             2,0.5,0.500000,0.250000,0.250000,8,4,4\n"
        );
        let svg = table.chart_svg();
        assert!(svg.contains("over 2 frames") && svg.contains("time (s)"));
        // Two classes and unassigned (present in frame 2): three lines.
        assert_eq!(svg.matches("<polyline").count(), 3);
    }

    /// Frames segmented apart make the table the series loop makes; frames of other
    /// classes, or none, are refused rather than drawn from missing columns.
    #[test]
    fn frames_segmented_apart_make_the_same_table_or_are_refused() {
        let first = Summary::new(&classes(), &[Some(0), Some(1)], 4, None);
        let second = Summary::new(&classes(), &[Some(1), None], 4, None);
        let mut looped = FractionTable::new(&first);
        looped.push(0, None, &first);
        looped.push(1, None, &second);
        let frames = [(0, None, first.clone()), (1, None, second)];
        assert_eq!(FractionTable::of_frames(&frames), Ok(looped));

        let other = Summary::new(&classes()[..1], &[Some(0), None], 4, None);
        let mixed = [(0, None, first), (3, None, other)];
        assert_eq!(
            FractionTable::of_frames(&mixed),
            Err("frame 4 was segmented with other classes than frame 1".into())
        );
        assert!(FractionTable::of_frames(&[]).is_err());
    }

    /// Frames read from files of their own (a watched folder) name them.
    #[test]
    fn frames_from_files_name_them() {
        let summary = Summary::new(&classes(), &[Some(0), Some(1)], 4, None);
        let mut table = FractionTable::new(&summary);
        table.push_file(0, Some(0.0), Some("a, 1.tif".into()), &summary);
        table.push_file(1, Some(2.5), Some("b.tif".into()), &summary);
        let csv = table.to_csv();
        assert!(
            csv.starts_with("frame,time_s,file,grown fraction,"),
            "{csv}"
        );
        assert!(csv.contains("\n1,0,\"a, 1.tif\",0.500000,"), "{csv}");
        assert!(csv.contains("\n2,2.5,b.tif,0.500000,"), "{csv}");
    }

    #[test]
    fn without_calibration_or_times_the_frames_are_counted() {
        let summary = Summary::new(&classes(), &[Some(0), Some(1)], 8, None);
        let mut table = FractionTable::new(&summary);
        table.push(0, None, &summary);
        assert_eq!(
            table.to_csv().lines().nth(1),
            Some("1,,0.500000,0.500000,0.000000")
        );
        assert!(table.chart_svg().contains("1 frame"));
        assert_eq!(table.chart_svg().matches("<polyline").count(), 2);
    }
}
