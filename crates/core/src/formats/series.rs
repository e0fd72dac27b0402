//! Frame series: a multi-page TIFF or an MRC stack opened as frames decoded one at a time, so
//! that a movie of a thousand frames never sits in memory decoded — only the file's bytes and
//! the frame at hand.

use super::{DecodeError, Limits, mrc, tiff};
use crate::dataset::Dataset;

/// A file of several frames of one size, read one frame at a time.
pub struct Series<'a> {
    frames: Frames<'a>,
    format: &'static str,
    /// Width and height of the first frame, which every frame must share.
    size: (usize, usize),
}

enum Frames<'a> {
    Tiff(Box<tiff::Pages<'a>>),
    Mrc(mrc::Sections<'a>),
}

impl<'a> Series<'a> {
    /// `bytes` as a frame series when they are a TIFF of several pages or an MRC file of
    /// several sections, checked against `limits`; `None` for any other file, which
    /// [`super::open`] reads as one image.
    pub fn open(bytes: &'a [u8], limits: &Limits) -> Result<Option<Self>, DecodeError> {
        let frames = if tiff::TIFF.recognises(bytes) {
            Frames::Tiff(Box::new(tiff::Pages::open(bytes, limits)?))
        } else if mrc::MRC.recognises(bytes) {
            Frames::Mrc(mrc::Sections::open(bytes, limits)?)
        } else {
            return Ok(None);
        };
        let format = match frames {
            Frames::Tiff(_) => tiff::TIFF.format_name(),
            Frames::Mrc(_) => mrc::MRC.format_name(),
        };
        let mut series = Self {
            frames,
            format,
            size: (0, 0),
        };
        if series.len() < 2 {
            return Ok(None);
        }
        let first = series.read(0)?.image;
        series.size = (first.width(), first.height());
        Ok(Some(series))
    }

    /// How many frames there are.
    pub fn len(&self) -> usize {
        match &self.frames {
            Frames::Tiff(pages) => pages.count(),
            Frames::Mrc(sections) => sections.count(),
        }
    }

    /// Never: a series has at least two frames.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The file format's name.
    pub fn format(&self) -> &'static str {
        self.format
    }

    /// Width and height of every frame, pixels.
    pub fn frame_size(&self) -> (usize, usize) {
        self.size
    }

    /// When frame `index` was recorded, seconds after the first, where the file says.
    pub fn time_s(&self, index: usize) -> Option<f64> {
        match &self.frames {
            Frames::Tiff(pages) => pages.interval_s().map(|dt| dt * index as f64),
            Frames::Mrc(_) => None,
        }
    }

    /// Frame `index` (from 0), decoded; an error for a frame past the end or of another size
    /// than the first.
    pub fn frame(&mut self, index: usize) -> Result<Dataset, DecodeError> {
        if index >= self.len() {
            return Err(DecodeError::corrupt(
                self.format,
                format!("there is no frame {} of {}", index + 1, self.len()),
            ));
        }
        let dataset = self.read(index)?;
        let size = (dataset.image.width(), dataset.image.height());
        if size != self.size {
            return Err(DecodeError::unsupported(
                self.format,
                format!(
                    "frame {} is {} × {} px, not {} × {} px like the first",
                    index + 1,
                    size.0,
                    size.1,
                    self.size.0,
                    self.size.1
                ),
            ));
        }
        Ok(dataset)
    }

    fn read(&mut self, index: usize) -> Result<Dataset, DecodeError> {
        match &mut self.frames {
            Frames::Tiff(pages) => pages.read(index),
            Frames::Mrc(sections) => sections.read(index),
        }
    }
}

impl std::fmt::Debug for Series<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("format", &self.format)
            .field("frames", &self.len())
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{Calibration, Image};
    use crate::formats::tiff::write_series_grey16;
    use std::io::Cursor;

    fn frames(count: usize) -> Vec<Image> {
        (0..count)
            .map(|i| Image::new(3, 2, vec![i as f32, 1.0, 2.0, 3.0, 4.0, 5.0]))
            .collect()
    }

    fn tiff_series(count: usize, interval_s: Option<f64>) -> Vec<u8> {
        let mut file = Cursor::new(Vec::new());
        let calibration = Calibration {
            pixel_size: 0.25,
            unit: "nm".into(),
        };
        write_series_grey16(
            &mut file,
            frames(count),
            count,
            Some(&calibration),
            interval_s,
        )
        .unwrap();
        file.into_inner()
    }

    #[test]
    fn a_multi_page_tiff_gives_every_frame_with_its_time_and_calibration() {
        let bytes = tiff_series(5, Some(0.5));
        let mut series = Series::open(&bytes, &Limits::default()).unwrap().unwrap();
        assert_eq!((series.len(), series.frame_size()), (5, (3, 2)));
        for index in [3, 0, 4] {
            let frame = series.frame(index).unwrap();
            assert_eq!(frame.image.pixels()[0], index as f32);
            assert_eq!(frame.calibration.unwrap().pixel_size, 0.25);
        }
        assert_eq!(series.time_s(4), Some(2.0));
        assert!(
            series
                .frame(5)
                .unwrap_err()
                .to_string()
                .contains("no frame 6 of 5")
        );
        // A single image is no series; the multi-page file opened as one image notes its pages.
        assert!(
            Series::open(&tiff_series(1, None), &Limits::default())
                .unwrap()
                .is_none()
        );
        let first = crate::formats::open("s.tif", &bytes, &Limits::default()).unwrap();
        assert!(first.dataset.metadata.notes[0].contains("page 1 of 5"));
    }

    #[test]
    fn a_frame_of_another_size_is_refused_and_the_others_still_read() {
        let mut file = Cursor::new(Vec::new());
        let mut images = frames(3);
        images[1] = Image::new(2, 2, vec![0.0; 4]);
        write_series_grey16(&mut file, images, 3, None, None).unwrap();
        let bytes = file.into_inner();
        let mut series = Series::open(&bytes, &Limits::default()).unwrap().unwrap();
        let error = series.frame(1).unwrap_err().to_string();
        assert!(
            error.contains("frame 2 is 2 × 2 px, not 3 × 2 px"),
            "{error}"
        );
        assert_eq!(series.frame(2).unwrap().image.pixels()[0], 2.0);
    }
}
