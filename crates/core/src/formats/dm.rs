//! Gatan DigitalMicrograph DM3 and DM4: the tag tree (big-endian structure, data in the byte
//! order the header names), 2-D images of every numeric type with their calibration and
//! microscope metadata. Spectra and spectrum images are recognised and refused with a reason.

use super::{DecodeError, Reader, check_size, raster::grey_from_interleaved};
use crate::dataset::{
    Calibration, Dataset, Image, Metadata, SampleType, normalise_unit, significant,
    voltage_property,
};

const FORMAT: &str = "DigitalMicrograph";
/// Nesting deeper than this is taken for a damaged file (real files nest about 10 deep).
const MAX_DEPTH: usize = 64;
const GROUP_TAG: u8 = 20;
const DATA_TAG: u8 = 21;
const STRUCT: u64 = 15;
const STRING: u64 = 18;
const ARRAY: u64 = 20;
const UINT16: u64 = 4;

/// Reads DM3 and DM4 files.
pub struct DigitalMicrograph;

impl Reader for DigitalMicrograph {
    fn format_name(&self) -> &'static str {
        FORMAT
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["dm3", "dm4"]
    }

    fn recognises(&self, bytes: &[u8]) -> bool {
        let order_at = match bytes.get(..4) {
            Some([0, 0, 0, 3]) => 8,
            Some([0, 0, 0, 4]) => 12,
            _ => return false,
        };
        matches!(bytes.get(order_at..order_at + 4), Some([0, 0, 0, 0 | 1]))
    }

    fn read(&self, bytes: &[u8]) -> Result<Dataset, DecodeError> {
        let file = parse(bytes)?;
        let images = file
            .root
            .get("ImageList")
            .map(Tag::children)
            .unwrap_or_default();
        // With more than one image, the first is DigitalMicrograph's thumbnail.
        let (first, others) = match images {
            [_thumbnail, first, others @ ..] => (&first.1, others.len()),
            [(_, only)] => (only, 0),
            [] => return Err(corrupt("no image in the file")),
        };
        let mut dataset = file.image(first)?;
        if others > 0 {
            let note = format!("the file holds {} images; the first was read", others + 1);
            dataset.metadata.notes.push(note);
        }
        Ok(dataset)
    }
}

/// A node of the tag tree. Arrays stay in the file: only their place and element are kept.
#[derive(Debug)]
pub(super) enum Tag {
    Group(Vec<(String, Tag)>),
    Number(f64),
    /// `len` elements of `element_size` bytes from `offset`; `element` is the simple type, or
    /// [`STRUCT`] for arrays of structures.
    Array {
        element: u64,
        element_size: usize,
        offset: usize,
        len: usize,
    },
    Other,
}

impl Tag {
    pub(super) fn get(&self, label: &str) -> Option<&Tag> {
        self.children()
            .iter()
            .find(|(name, _)| name == label)
            .map(|(_, tag)| tag)
    }

    pub(super) fn path(&self, labels: &[&str]) -> Option<&Tag> {
        labels.iter().try_fold(self, |tag, label| tag.get(label))
    }

    pub(super) fn children(&self) -> &[(String, Tag)] {
        match self {
            Tag::Group(entries) => entries,
            _ => &[],
        }
    }

    pub(super) fn number(&self) -> Option<f64> {
        match self {
            Tag::Number(value) => Some(*value),
            _ => None,
        }
    }
}

fn corrupt(detail: impl Into<String>) -> DecodeError {
    DecodeError::corrupt(FORMAT, detail)
}

fn unsupported(detail: impl Into<String>) -> DecodeError {
    DecodeError::unsupported(FORMAT, detail)
}

/// A parsed file: its tag tree, with the bytes its arrays point into.
pub(super) struct DmFile<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) little_endian: bool,
    pub(super) root: Tag,
}

pub(super) fn parse(bytes: &[u8]) -> Result<DmFile<'_>, DecodeError> {
    let mut parser = Parser {
        bytes,
        at: 0,
        dm4: false,
        little_endian: false,
    };
    parser.dm4 = parser.big(4)? == 4;
    parser.word()?; // file length
    parser.little_endian = parser.big(4)? == 1;
    let root = parser.group(0)?;
    Ok(DmFile {
        bytes,
        little_endian: parser.little_endian,
        root,
    })
}

/// Reads the tag structure; every read is bounds-checked, so a damaged file is an error.
struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    dm4: bool,
    little_endian: bool,
}

impl Parser<'_> {
    fn take(&mut self, len: usize) -> Result<&[u8], DecodeError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| corrupt("the file ends early"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    /// A big-endian unsigned integer of `len` bytes.
    fn big(&mut self, len: usize) -> Result<u64, DecodeError> {
        Ok(self
            .take(len)?
            .iter()
            .fold(0, |value, &byte| value << 8 | u64::from(byte)))
    }

    /// A count or size: 4 bytes in DM3, 8 in DM4.
    fn word(&mut self) -> Result<u64, DecodeError> {
        self.big(if self.dm4 { 8 } else { 4 })
    }

    fn group(&mut self, depth: usize) -> Result<Tag, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(corrupt("tags nested too deeply"));
        }
        self.take(2)?; // sorted, open
        let count = self.word()?;
        let mut entries = Vec::new();
        for _ in 0..count {
            let kind = self.big(1)? as u8;
            let label_len = self.big(2)? as usize;
            let label = self
                .take(label_len)?
                .iter()
                .map(|&b| char::from(b))
                .collect();
            if self.dm4 {
                self.big(8)?; // size of the tag's content
            }
            let tag = match kind {
                GROUP_TAG => self.group(depth + 1)?,
                DATA_TAG => self.data()?,
                _ => return Err(corrupt("unknown tag kind")),
            };
            entries.push((label, tag));
        }
        Ok(Tag::Group(entries))
    }

    fn data(&mut self) -> Result<Tag, DecodeError> {
        if self.take(4)? != b"%%%%" {
            return Err(corrupt("a data tag lacks its %%%% marker"));
        }
        let info_len = self.word()?;
        if info_len > (self.bytes.len() - self.at) as u64 {
            return Err(corrupt("implausible tag description"));
        }
        let info: Vec<u64> = (0..info_len)
            .map(|_| self.word())
            .collect::<Result<_, _>>()?;
        match info[..] {
            [simple] => {
                let size = element_size(simple).ok_or_else(|| corrupt("unknown number type"))?;
                let little_endian = self.little_endian;
                let raw = self.take(size)?;
                Ok(element_value(simple, raw, little_endian).map_or(Tag::Other, Tag::Number))
            }
            [STRING, len] => self.array(UINT16, 2, len),
            [ARRAY, STRUCT, _, fields, ref rest @ ..] if rest.len() as u64 == 2 * fields + 1 => {
                let (types, len) = rest.split_at(rest.len() - 1);
                self.array(STRUCT, struct_size(types)?, len[0])
            }
            [ARRAY, element, len] => {
                let size = element_size(element).ok_or_else(|| corrupt("unknown array type"))?;
                self.array(element, size, len)
            }
            [STRUCT, _, fields, ref types @ ..] if types.len() as u64 == 2 * fields => {
                self.take(struct_size(types)?)?;
                Ok(Tag::Other)
            }
            _ => Err(corrupt("unknown tag data type")),
        }
    }

    fn array(&mut self, element: u64, element_size: usize, len: u64) -> Result<Tag, DecodeError> {
        let len = usize::try_from(len).map_err(|_| corrupt("implausible array length"))?;
        let bytes = len
            .checked_mul(element_size)
            .ok_or_else(|| corrupt("implausible array length"))?;
        let offset = self.at;
        self.take(bytes)?;
        Ok(Tag::Array {
            element,
            element_size,
            offset,
            len,
        })
    }
}

/// Size of a structure from its (name length, type) pairs.
fn struct_size(types: &[u64]) -> Result<usize, DecodeError> {
    types
        .chunks(2)
        .map(|pair| element_size(pair[1]).ok_or_else(|| corrupt("unknown structure field type")))
        .sum()
}

/// Bytes per element of DigitalMicrograph's simple types.
fn element_size(element: u64) -> Option<usize> {
    match element {
        8..=10 => Some(1),
        2 | 4 => Some(2),
        3 | 5 | 6 => Some(4),
        7 | 11 | 12 => Some(8),
        _ => None,
    }
}

/// Decodes one element of simple type `element` from `raw`, which holds exactly its bytes.
fn element_value(element: u64, raw: &[u8], little_endian: bool) -> Option<f64> {
    let mut le = [0u8; 8];
    le[..raw.len()].copy_from_slice(raw);
    if !little_endian {
        le[..raw.len()].reverse();
    }
    let [b0, b1, b2, b3, ..] = le;
    Some(match element {
        2 => f64::from(i16::from_le_bytes([b0, b1])),
        3 => f64::from(i32::from_le_bytes([b0, b1, b2, b3])),
        4 => f64::from(u16::from_le_bytes([b0, b1])),
        5 => f64::from(u32::from_le_bytes([b0, b1, b2, b3])),
        6 => f64::from(f32::from_le_bytes([b0, b1, b2, b3])),
        7 => f64::from_le_bytes(le),
        8 | 10 => f64::from(b0),
        9 => f64::from(b0 as i8),
        11 => i64::from_le_bytes(le) as f64,
        12 => u64::from_le_bytes(le) as f64,
        _ => return None,
    })
}

/// How an image data type is stored: sample type, its simple element type and size, and
/// samples per pixel.
struct PixelLayout {
    sample_type: SampleType,
    element: u64,
    sample_size: usize,
    samples: usize,
}

fn pixel_layout(data_type: u64) -> Option<PixelLayout> {
    let (sample_type, element, samples) = match data_type {
        1 => (SampleType::I16, 2, 1),
        2 => (SampleType::F32, 6, 1),
        3 => (SampleType::F32, 6, 2),
        6 | 14 => (SampleType::U8, 10, 1),
        7 => (SampleType::I32, 3, 1),
        8 | 23 => (SampleType::U8, 10, 4),
        9 => (SampleType::I8, 9, 1),
        10 => (SampleType::U16, 4, 1),
        11 => (SampleType::U32, 5, 1),
        12 => (SampleType::F64, 7, 1),
        13 => (SampleType::F64, 7, 2),
        _ => return None,
    };
    Some(PixelLayout {
        sample_type,
        element,
        sample_size: element_size(element)?,
        samples,
    })
}

impl DmFile<'_> {
    pub(super) fn image(&self, image: &Tag) -> Result<Dataset, DecodeError> {
        let data = image
            .get("ImageData")
            .ok_or_else(|| corrupt("an image without ImageData"))?;
        let (width, height) = image_size(data)?;
        let data_type = data.get("DataType").and_then(Tag::number).unwrap_or(-1.0);
        let layout = pixel_layout(data_type as u64)
            .ok_or_else(|| unsupported(format!("image data type {data_type}")))?;
        let Some(&Tag::Array {
            element_size,
            offset,
            len,
            ..
        }) = data.get("Data")
        else {
            return Err(corrupt("an image without its data array"));
        };
        let sample_size = layout.sample_size;
        let expected = width * height * layout.samples * sample_size;
        if len * element_size != expected {
            return Err(corrupt("the image data do not match its dimensions"));
        }
        let samples: Vec<f32> = self.bytes[offset..offset + expected]
            .chunks_exact(sample_size)
            .map(|raw| {
                element_value(layout.element, raw, self.little_endian).unwrap_or(f64::NAN) as f32
            })
            .collect();
        // Two samples per pixel are complex (real, imaginary); four are RGBA.
        let (pixels, pixel_note) = match layout.samples {
            2 => {
                let modulus = samples.chunks_exact(2).map(|c| c[0].hypot(c[1])).collect();
                (
                    modulus,
                    Some("complex data: the modulus is shown".to_string()),
                )
            }
            samples_per_pixel => grey_from_interleaved(&samples, samples_per_pixel),
        };
        let (calibration, calibration_note) = self.calibration(data);
        Ok(Dataset {
            image: Image::new(width, height, pixels),
            calibration,
            metadata: Metadata {
                format: FORMAT,
                sample_type: layout.sample_type,
                channels: if layout.samples == 4 { 4 } else { 1 },
                notes: pixel_note.into_iter().chain(calibration_note).collect(),
                properties: self.microscope(image),
            },
        })
    }

    /// The x-axis scale and unit, when both axes share them and the unit is a length.
    fn calibration(&self, data: &Tag) -> (Option<Calibration>, Option<String>) {
        let axes: Vec<(f64, String)> = data
            .path(&["Calibrations", "Dimension"])
            .map(Tag::children)
            .unwrap_or_default()
            .iter()
            .filter_map(|(_, axis)| {
                Some((axis.get("Scale")?.number()?, self.text(axis.get("Units")?)?))
            })
            .collect();
        let [(scale, unit), (y_scale, y_unit)] = &axes[..] else {
            return (None, None);
        };
        if unit.is_empty() {
            return (None, None);
        }
        if unit != y_unit || (scale - y_scale).abs() > 1e-6 * scale.abs() {
            let (x, y) = (significant(*scale, 4), significant(*y_scale, 4));
            let note =
                format!("axes calibrated differently ({x} {unit}, {y} {y_unit}); sizes in pixels");
            return (None, Some(note));
        }
        match normalise_unit(unit) {
            Some(length) if *scale > 0.0 => (
                Some(Calibration {
                    pixel_size: *scale,
                    unit: length.to_string(),
                }),
                None,
            ),
            _ => (
                None,
                Some(format!(
                    "calibrated in {unit}, not a length; sizes in pixels"
                )),
            ),
        }
    }

    /// Voltage, magnification, instrument and acquisition time, where the file records them.
    fn microscope(&self, image: &Tag) -> Vec<(String, String)> {
        let tags = image.get("ImageTags");
        let info = tags.and_then(|t| t.get("Microscope Info"));
        let number = |label: &str| info?.get(label)?.number();
        let text =
            |parent: Option<&Tag>, label: &str| parent?.get(label).and_then(|t| self.text(t));
        let data_bar = tags.and_then(|t| t.get("DataBar"));
        let mut properties = Vec::new();
        if let Some(volts) = number("Voltage").filter(|&v| v > 0.0) {
            properties.push(voltage_property(volts / 1000.0));
        }
        if let Some(magnification) = number("Indicated Magnification").filter(|&m| m > 0.0) {
            properties.push((
                "indicated magnification".to_string(),
                format!("{}×", significant(magnification, 4)),
            ));
        }
        for (name, label) in [
            ("microscope", "Microscope"),
            ("operation mode", "Operation Mode"),
        ] {
            if let Some(value) = text(info, label).filter(|v| !v.is_empty()) {
                properties.push((name.to_string(), value));
            }
        }
        if let Some(date) = text(data_bar, "Acquisition Date").filter(|d| !d.is_empty()) {
            let time = text(data_bar, "Acquisition Time").unwrap_or_default();
            properties.push((
                "acquired".to_string(),
                format!("{date} {time}").trim_end().to_string(),
            ));
        }
        properties
    }

    /// A string tag: DigitalMicrograph stores text as arrays of UTF-16 code units.
    pub(super) fn text(&self, tag: &Tag) -> Option<String> {
        let &Tag::Array {
            element: UINT16,
            offset,
            len,
            ..
        } = tag
        else {
            return None;
        };
        let units: Vec<u16> = self.bytes[offset..offset + 2 * len]
            .chunks_exact(2)
            .map(|raw| element_value(UINT16, raw, self.little_endian).unwrap_or(0.0) as u16)
            .collect();
        Some(String::from_utf16_lossy(&units))
    }
}

/// Width and height of a 2-D image; spectra and spectrum images are refused with what they are.
fn image_size(data: &Tag) -> Result<(usize, usize), DecodeError> {
    let dims: Vec<usize> = data
        .get("Dimensions")
        .map(Tag::children)
        .unwrap_or_default()
        .iter()
        .filter_map(|(_, d)| d.number())
        .map(|d| d as usize)
        .collect();
    match dims[..] {
        [width, height] => check_size(width, height).map(|()| (width, height)),
        [channels] => Err(unsupported(format!(
            "a single spectrum of {channels} channels, not an image"
        ))),
        [width, height, depth] => Err(unsupported(format!(
            "3-D data ({width} × {height} × {depth}), not a 2-D image"
        ))),
        _ => Err(unsupported(format!(
            "{}-dimensional data, not a 2-D image",
            dims.len()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::decode;

    /// A DM3 header (big-endian data) followed by `depth` nested empty-labelled groups.
    fn nested_groups(depth: usize) -> Vec<u8> {
        let mut bytes = vec![0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0];
        for _ in 0..depth {
            bytes.extend_from_slice(&[1, 0, 0, 0, 0, 1, GROUP_TAG, 0, 0]);
        }
        bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0]);
        bytes
    }

    #[test]
    fn headers_of_both_versions_are_recognised() {
        assert!(DigitalMicrograph.recognises(&[0, 0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 1]));
        assert!(DigitalMicrograph.recognises(&[0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]));
        assert!(!DigitalMicrograph.recognises(&[0, 0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 7]));
        assert!(!DigitalMicrograph.recognises(b"II*\0"));
    }

    #[test]
    fn hostile_nesting_is_refused_without_exhausting_the_stack() {
        let error = decode("deep.dm3", &nested_groups(100_000)).unwrap_err();
        assert_eq!(error, corrupt("tags nested too deeply"));
        let error = decode("empty.dm3", &nested_groups(3)).unwrap_err();
        assert_eq!(error, corrupt("no image in the file"));
    }

    #[test]
    fn elements_decode_in_either_byte_order() {
        assert_eq!(element_value(2, &[0xFF, 0xFE], false), Some(-2.0));
        assert_eq!(element_value(2, &[0xFE, 0xFF], true), Some(-2.0));
        assert_eq!(element_value(6, &1.5f32.to_be_bytes(), false), Some(1.5));
        assert_eq!(
            element_value(12, &u64::MAX.to_le_bytes(), true),
            Some(u64::MAX as f64)
        );
        assert_eq!(element_value(99, &[0], true), None);
    }
}
