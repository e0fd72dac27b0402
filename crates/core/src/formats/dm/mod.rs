//! Gatan DigitalMicrograph DM3 and DM4: one reader, one parse of the tag tree (`tags`), giving
//! the file's image (`image`: every numeric type, with its calibration and microscope metadata)
//! or its spectrum image or spectrum (`spectra`), as the caller selects.
//!
//! Asked for an image, the first image after the thumbnail is read: a 2-D image, or the first
//! frame of a 3-D image stack (an in-situ movie as GMS saves it; every frame, one at a time,
//! through `Stack`). A file whose image is neither but that holds a spectrum image (or whose
//! image is a spectrum) gives its spectra, for [`crate::formats::open`] to show through their
//! survey: a 3-D image with an energy axis (or tagged as one) is a spectrum image, not a stack.

mod image;
mod spectra;
mod tags;

use crate::dataset::Dataset;
use crate::formats::{Contents, DecodeError, Holds, Limits, ReadOptions, Reader, Select};

const FORMAT: &str = "DigitalMicrograph";

/// Reads DM3 and DM4 files: images, spectra and spectrum images.
pub const DM: Reader = Reader::new(FORMAT, &["dm3", "dm4"], Holds::Both, recognises, read)
    .spectra_when(|bytes| {
        recognises(bytes)
            && tags::parse(bytes, &Limits::default())
                .is_ok_and(|file| spectra::holds_spectra(&file))
    });

fn recognises(bytes: &[u8]) -> bool {
    let order_at = match bytes.get(..4) {
        Some([0, 0, 0, 3]) => 8,
        Some([0, 0, 0, 4]) => 12,
        _ => return false,
    };
    matches!(bytes.get(order_at..order_at + 4), Some([0, 0, 0, 0 | 1]))
}

/// The image or the spectra `options` select; an image that cannot be read gives way to the
/// file's spectra when it holds some.
fn read(bytes: &[u8], options: &ReadOptions) -> Result<Contents, DecodeError> {
    let file = tags::parse(bytes, &options.limits)?;
    match options.select {
        Select::Spectra => spectra::read(&file, options).map(Contents::Spectral),
        Select::Image => match image::first_image(&file) {
            Ok(dataset) => Ok(Contents::Image(dataset)),
            Err(_) if spectra::holds_spectra(&file) => {
                spectra::read(&file, options).map(Contents::Spectral)
            }
            Err(error) => Err(error),
        },
    }
}

/// The frames of the image a DM file shows (see [`image::first_image`]), each decoded from its
/// own bytes when asked for: a 3-D image stack is a frame series.
pub(in crate::formats) struct Stack<'a> {
    file: tags::DmFile<'a>,
    frames: image::Frames,
}

impl<'a> Stack<'a> {
    /// The frames of the image `bytes` show, within `limits`; `None` when the file shows its
    /// spectra instead.
    pub(in crate::formats) fn open(
        bytes: &'a [u8],
        limits: &Limits,
    ) -> Result<Option<Self>, DecodeError> {
        let file = tags::parse(bytes, limits)?;
        let (index, _) = image::main_image(&file)?;
        match file.frames(file.image_tag(index)) {
            Ok(frames) => Ok(Some(Self { file, frames })),
            Err(_) if spectra::holds_spectra(&file) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// How many frames there are.
    pub(in crate::formats) fn count(&self) -> usize {
        self.frames.count
    }

    /// Frame `index` (from 0).
    pub(in crate::formats) fn read(&self, index: usize) -> Result<Dataset, DecodeError> {
        self.file.frame(&self.frames, index)
    }
}

format_errors!(FORMAT);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::decode;
    use crate::formats::series::Series;

    /// A DM3 header (big-endian data) followed by `depth` nested empty-labelled groups.
    fn nested_groups(depth: usize) -> Vec<u8> {
        let mut bytes = vec![0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0];
        for _ in 0..depth {
            bytes.extend_from_slice(&[1, 0, 0, 0, 0, 1, tags::GROUP_TAG, 0, 0]);
        }
        bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0]);
        bytes
    }

    /// A tag as its kind and its bytes after the label.
    type Built = (u8, Vec<u8>);

    fn group(entries: Vec<(&str, Built)>) -> Built {
        let mut bytes = vec![0, 0];
        bytes.extend((entries.len() as u32).to_be_bytes());
        for (label, (kind, content)) in entries {
            bytes.push(kind);
            bytes.extend((label.len() as u16).to_be_bytes());
            bytes.extend(label.as_bytes());
            bytes.extend(content);
        }
        (tags::GROUP_TAG, bytes)
    }

    /// A data tag described by `info` (DM3 words), holding `payload` (little-endian).
    fn data(info: &[u32], payload: Vec<u8>) -> Built {
        let mut bytes = b"%%%%".to_vec();
        bytes.extend((info.len() as u32).to_be_bytes());
        info.iter()
            .for_each(|word| bytes.extend(word.to_be_bytes()));
        bytes.extend(payload);
        (21, bytes)
    }

    fn number(value: u32) -> Built {
        data(&[5], value.to_le_bytes().to_vec())
    }

    fn text(text: &str) -> Built {
        let units: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        data(&[20, tags::UINT16 as u32, text.len() as u32], units)
    }

    /// A little-endian DM3 file whose one image is `dims` of 16-bit `values`, each axis
    /// calibrated in the unit `units` gives it.
    fn dm3_image(dims: &[u32], units: &[&str], values: &[u16]) -> Vec<u8> {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let axes = units
            .iter()
            .map(|unit| ("", group(vec![("Scale", number(2)), ("Units", text(unit))])))
            .collect();
        let image_data = group(vec![
            ("Calibrations", group(vec![("Dimension", group(axes))])),
            ("Data", data(&[20, 4, values.len() as u32], raw)),
            ("DataType", number(10)),
            (
                "Dimensions",
                group(dims.iter().map(|&d| ("", number(d))).collect()),
            ),
        ]);
        let root = group(vec![(
            "ImageList",
            group(vec![("", group(vec![("ImageData", image_data)]))]),
        )]);
        let mut bytes = vec![0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1];
        bytes.extend(root.1);
        bytes
    }

    #[test]
    fn an_image_stack_gives_its_first_frame_and_every_frame_as_a_series() {
        // 2 × 1 pixels, 3 frames: frame k holds 10 k + 1, 10 k + 2.
        let values = [1, 2, 11, 12, 21, 22];
        let bytes = dm3_image(&[2, 1, 3], &["nm", "nm", "s"], &values);
        let first = decode("movie.dm3", &bytes).unwrap();
        assert_eq!(first.image.pixels(), [1.0, 2.0]);
        assert_eq!(first.calibration.unwrap().pixel_size, 2.0);
        assert_eq!(
            first.metadata.notes,
            ["the file holds 3 frames; the first was read"]
        );
        let mut series = Series::open(&bytes, &Limits::default()).unwrap().unwrap();
        assert_eq!((series.len(), series.frame_size()), (3, (2, 1)));
        assert_eq!(series.frame(2).unwrap().image.pixels(), [21.0, 22.0]);
        assert_eq!(series.frame(1).unwrap().image.pixels(), [11.0, 12.0]);
        let short = dm3_image(&[2, 1, 4], &["nm", "nm", "s"], &values);
        assert_eq!(
            Series::open(&short, &Limits::default()).unwrap_err(),
            corrupt("the image data do not match its dimensions")
        );
    }

    #[test]
    fn a_cube_with_an_energy_axis_stays_a_spectrum_image() {
        let bytes = dm3_image(&[2, 1, 3], &["nm", "nm", "eV"], &[1, 2, 11, 12, 21, 22]);
        assert!(DM.offers(&bytes, Select::Spectra));
        assert!(Series::open(&bytes, &Limits::default()).unwrap().is_none());
        let map = DM.read_spectra(&bytes, 1).unwrap().map.unwrap();
        assert_eq!((map.width, map.height, map.axis.channels), (2, 1, 3));
    }

    #[test]
    fn headers_of_both_versions_are_recognised() {
        assert!(DM.recognises(&[0, 0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 1]));
        assert!(DM.recognises(&[0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]));
        assert!(!DM.recognises(&[0, 0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 7]));
        assert!(!DM.recognises(b"II*\0"));
    }

    #[test]
    fn hostile_nesting_is_refused_without_exhausting_the_stack() {
        let error = decode("deep.dm3", &nested_groups(100_000)).unwrap_err();
        assert_eq!(error, corrupt("tags nested too deeply"));
        let error = decode("empty.dm3", &nested_groups(3)).unwrap_err();
        assert_eq!(error, corrupt("no image in the file"));
        let shallow = Limits {
            max_depth: 2,
            ..Limits::default()
        };
        let error = DM.read(&nested_groups(3), &ReadOptions::image(&shallow));
        assert_eq!(error.unwrap_err(), corrupt("tags nested too deeply"));
    }
}
