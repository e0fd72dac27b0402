//! Frame series: a file of several images of one size — a multi-page TIFF, an MRC stack, a
//! DigitalMicrograph 3-D image stack, a Berkeley EMD stack, a Velox EMD image series, a TIA
//! series of images — opened as frames decoded one at a time, so that a movie of a thousand
//! frames never sits in memory decoded: only the file's bytes and the frame at hand (for the
//! EMD formats, whose HDF5 arrays cannot be read a frame at a time, the array of values too).

use super::{DecodeError, Limits, Reader, dm, emd, emd_berkeley, mrc, tia, tiff};
use crate::dataset::Dataset;

/// A file of several frames of one size, read one frame at a time.
pub struct Series<'a> {
    frames: Frames<'a>,
    format: &'static str,
    /// Width and height of the first frame, which every frame must share.
    size: (usize, usize),
}

/// Where the frames come from: each format's own frame reader.
enum Frames<'a> {
    Tiff(Box<tiff::Pages<'a>>),
    Mrc(mrc::Sections<'a>),
    Dm(dm::Stack<'a>),
    BerkeleyEmd(Box<emd_berkeley::Stack>),
    VeloxEmd(emd::Stack),
    Tia(tia::Elements<'a>),
}

/// Opens a file's frames (`None` when it holds no images to take frames from).
type Opener = for<'a> fn(&'a [u8], &Limits) -> Result<Option<Frames<'a>>, DecodeError>;

/// The formats that hold frame series, each with how its frames are opened, in the order
/// [`super::READERS`] tries them.
const OPENERS: &[(&Reader, Opener)] = &[
    (&tiff::TIFF, |bytes, limits| {
        let pages = tiff::Pages::open(bytes, limits)?;
        Ok(Some(Frames::Tiff(Box::new(pages))))
    }),
    (&dm::DM, |bytes, limits| {
        Ok(dm::Stack::open(bytes, limits)?.map(Frames::Dm))
    }),
    (&emd_berkeley::BERKELEY_EMD, |bytes, limits| {
        let stack = emd_berkeley::Stack::open(bytes, limits)?;
        Ok(Some(Frames::BerkeleyEmd(Box::new(stack))))
    }),
    (&tia::TIA, |bytes, limits| {
        Ok(tia::Elements::open(bytes, limits)?.map(Frames::Tia))
    }),
    (&mrc::MRC, |bytes, limits| {
        Ok(Some(Frames::Mrc(mrc::Sections::open(bytes, limits)?)))
    }),
    (&emd::VELOX_EMD, |bytes, limits| {
        Ok(emd::Stack::open(bytes, limits)?.map(Frames::VeloxEmd))
    }),
];

impl<'a> Series<'a> {
    /// `bytes` as a frame series when they are a file of several images of a format that
    /// holds series (recognised by content), checked against `limits`; `None` for any other
    /// file — a single image, spectra — which [`super::open`] reads.
    pub fn open(bytes: &'a [u8], limits: &Limits) -> Result<Option<Self>, DecodeError> {
        let Some((reader, open_frames)) =
            OPENERS.iter().find(|(reader, _)| reader.recognises(bytes))
        else {
            return Ok(None);
        };
        let Some(frames) = open_frames(bytes, limits)? else {
            return Ok(None);
        };
        let mut series = Self {
            frames,
            format: reader.format_name(),
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
            Frames::Dm(stack) => stack.count(),
            Frames::BerkeleyEmd(stack) => stack.count(),
            Frames::VeloxEmd(stack) => stack.count(),
            Frames::Tia(elements) => elements.count(),
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

    /// When frame `index` was recorded, seconds after the first, where the file says: ImageJ's
    /// frame interval (TIFF), each frame's time stamp (Velox EMD, µs) or time tag (TIA, whole
    /// seconds); `None` for the other formats.
    pub fn time_s(&self, index: usize) -> Option<f64> {
        match &self.frames {
            Frames::Tiff(pages) => pages.interval_s().map(|dt| dt * index as f64),
            Frames::VeloxEmd(stack) => stack.time_s(index),
            Frames::Tia(elements) => elements.time_s(index),
            Frames::Mrc(_) | Frames::Dm(_) | Frames::BerkeleyEmd(_) => None,
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
            Frames::Dm(stack) => stack.read(index),
            Frames::BerkeleyEmd(stack) => stack.read(index),
            Frames::VeloxEmd(stack) => stack.read(index),
            Frames::Tia(elements) => elements.read(index),
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
