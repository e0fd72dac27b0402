//! MRC images and stacks (MRC2014, and the older MRC that IMOD, SerialEM and RELION also write).
//!
//! Layout: a 1024-byte header of 56 four-byte words (nx, ny, nz, mode, …, mx, my, mz, cella in
//! Å, …, nsymbt the extended header's size at byte 92, `MAP ` at byte 208, the machine stamp at
//! byte 212) and ten 80-character labels; then `nsymbt` bytes of extended header, skipped; then
//! the data: nz sections of ny rows of nx values, in the byte order the machine stamp names.
//! The first section is read, rows in stored order, as `mrcfile.open(f).data[0]` returns them;
//! a stack opens as a frame series of its sections ([`Sections`]).
//!
//! Hand-written: the format is one fixed header and a raw array, smaller than a dependency, and
//! every size it declares must pass checked arithmetic and [`Limits::check_image`] before
//! allocation.

use super::bytes::{Number, number_at};
use super::{Contents, DecodeError, Holds, Limits, Reader};
use crate::dataset::{Calibration, Dataset, Image, Metadata, SampleType, significant};

const FORMAT: &str = "MRC";
const HEADER_LEN: usize = 1024;
const MAP_TAG_AT: usize = 208;
const STAMP_AT: usize = 212;
/// The image-stack space group; volumes use 1, volume stacks 401 and up.
const IMAGE_STACK: i32 = 0;

/// Reads MRC files: the first image (section) as stored.
pub(super) const MRC: Reader = Reader::new(
    FORMAT,
    &["mrc", "mrcs", "rec", "st", "ali", "map"],
    Holds::Images,
    recognises,
    |bytes, options| read(bytes, &options.limits).map(Contents::Image),
);

fn recognises(bytes: &[u8]) -> bool {
    if bytes.get(MAP_TAG_AT..MAP_TAG_AT + 4) == Some(b"MAP ") {
        let mode = |little_endian| Mode::from_word(word_at(bytes, 3, little_endian));
        return mode(true).or(mode(false)).is_some();
    }
    // Older files lack the tag: their header must then describe the file's length exactly.
    Header::parse(bytes).is_ok_and(|header| header.data_end() == Some(bytes.len()))
}

/// The first section of an MRC file, within `limits`, with a note when there are more.
fn read(bytes: &[u8], limits: &Limits) -> Result<Dataset, DecodeError> {
    let stack = Sections::open(bytes, limits)?;
    let mut dataset = stack.read(0)?;
    dataset.metadata.notes.extend(stack.header.stack_note());
    Ok(dataset)
}

/// The sections of an MRC file, decoded one at a time (an image stack is a frame series).
pub(super) struct Sections<'a> {
    bytes: &'a [u8],
    header: Header,
}

impl<'a> Sections<'a> {
    /// Checks the header against `limits` and the file's length.
    pub(super) fn open(bytes: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
        let header = Header::parse(bytes)?;
        let end = header
            .data_end()
            .ok_or_else(|| corrupt("the header declares an impossibly large image"))?;
        limits.check_image(header.width, header.height)?;
        if end > bytes.len() {
            return Err(corrupt(format!(
                "the file ends before its image data: {} of {end} bytes",
                bytes.len()
            )));
        }
        Ok(Self { bytes, header })
    }

    /// How many sections there are.
    pub(super) fn count(&self) -> usize {
        self.header.sections
    }

    /// Section `index` (from 0), rows in stored order.
    pub(super) fn read(&self, index: usize) -> Result<Dataset, DecodeError> {
        let header = &self.header;
        let frame = header.section(self.bytes, index)?;
        let pixels = header
            .mode
            .decode(frame, header.width, header.little_endian);
        let (calibration, calibration_note) = header.calibration();
        let notes = header
            .mode
            .note()
            .map(String::from)
            .into_iter()
            .chain(calibration_note)
            .collect();
        Ok(Dataset {
            image: Image::new(header.width, header.height, pixels),
            calibration,
            metadata: Metadata {
                format: FORMAT,
                sample_type: header.mode.sample_type(),
                channels: 1,
                notes,
                properties: Vec::new(),
            },
        })
    }
}

format_errors!(FORMAT);

/// The data types of MRC2014 (mode word); mode 0 is signed, as in MRC2014 and mrcfile, though
/// some old files meant it unsigned.
#[derive(Clone, Copy)]
enum Mode {
    Int8,
    Int16,
    Float32,
    ComplexInt16,
    ComplexFloat32,
    Uint16,
    Float16,
    Packed4Bit,
}

impl Mode {
    fn from_word(word: i32) -> Option<Mode> {
        Some(match word {
            0 => Mode::Int8,
            1 => Mode::Int16,
            2 => Mode::Float32,
            3 => Mode::ComplexInt16,
            4 => Mode::ComplexFloat32,
            6 => Mode::Uint16,
            12 => Mode::Float16,
            101 => Mode::Packed4Bit,
            _ => return None,
        })
    }

    fn sample_type(self) -> SampleType {
        match self {
            Mode::Int8 => SampleType::I8,
            Mode::Int16 | Mode::ComplexInt16 => SampleType::I16,
            Mode::Float32 | Mode::ComplexFloat32 => SampleType::F32,
            Mode::Uint16 => SampleType::U16,
            Mode::Float16 => SampleType::F16,
            Mode::Packed4Bit => SampleType::U8,
        }
    }

    /// Bytes in one row of `width` pixels (4-bit rows are padded to whole bytes).
    fn row_bytes(self, width: usize) -> Option<usize> {
        match self {
            Mode::Packed4Bit => Some(width.div_ceil(2)),
            Mode::Int8 => Some(width),
            Mode::Int16 | Mode::Uint16 | Mode::Float16 => width.checked_mul(2),
            Mode::Float32 | Mode::ComplexInt16 => width.checked_mul(4),
            Mode::ComplexFloat32 => width.checked_mul(8),
        }
    }

    fn note(self) -> Option<&'static str> {
        match self {
            Mode::ComplexInt16 | Mode::ComplexFloat32 => Some("complex data: the modulus is shown"),
            Mode::Packed4Bit => Some("4-bit data (values 0 to 15)"),
            _ => None,
        }
    }

    /// The values of one frame, `frame` holding exactly its rows of `width` pixels.
    fn decode(self, frame: &[u8], width: usize, little_endian: bool) -> Vec<f32> {
        let u16_at = |raw: &[u8]| u16::from_bytes(&raw[..2], little_endian);
        let f32_at = |raw: &[u8]| f32::from_bytes(&raw[..4], little_endian);
        let modulus = |re: f32, im: f32| re.hypot(im);
        match self {
            Mode::Int8 => frame.iter().map(|&b| f32::from(b as i8)).collect(),
            Mode::Int16 => map_chunks(frame, 2, |c| f32::from(u16_at(c) as i16)),
            Mode::Uint16 => map_chunks(frame, 2, |c| f32::from(u16_at(c))),
            Mode::Float16 => map_chunks(frame, 2, |c| half::f16::from_bits(u16_at(c)).to_f32()),
            Mode::Float32 => map_chunks(frame, 4, f32_at),
            Mode::ComplexInt16 => map_chunks(frame, 4, |c| {
                modulus(
                    f32::from(u16_at(c) as i16),
                    f32::from(u16_at(&c[2..]) as i16),
                )
            }),
            Mode::ComplexFloat32 => map_chunks(frame, 8, |c| modulus(f32_at(c), f32_at(&c[4..]))),
            Mode::Packed4Bit => unpack_nibbles(frame, width),
        }
    }
}

fn map_chunks(bytes: &[u8], size: usize, value: impl Fn(&[u8]) -> f32) -> Vec<f32> {
    bytes.chunks_exact(size).map(value).collect()
}

/// 4-bit pixels, two per byte with the first in the low nibble; each row starts on a byte.
fn unpack_nibbles(frame: &[u8], width: usize) -> Vec<f32> {
    frame
        .chunks_exact(width.div_ceil(2))
        .flat_map(|row| {
            row.iter()
                .flat_map(|&b| [b & 0x0F, b >> 4])
                .take(width)
                .map(f32::from)
        })
        .collect()
}

/// Whether the file is little-endian: by its machine stamp, or else by which byte order gives
/// a known mode and positive sizes (files with a wrong or blank stamp exist); `None` when
/// neither does.
fn byte_order(bytes: &[u8]) -> Option<bool> {
    let plausible = |little_endian: bool| {
        let word = |index| word_at(bytes, index, little_endian);
        Mode::from_word(word(3)).is_some() && (0..3).all(|index| word(index) > 0)
    };
    let preferred = stamp_order(bytes);
    [preferred, !preferred]
        .into_iter()
        .find(|&little_endian| plausible(little_endian))
}

/// Whether the machine stamp says little-endian (the default when it names neither order).
fn stamp_order(bytes: &[u8]) -> bool {
    !matches!(bytes.get(STAMP_AT..STAMP_AT + 2), Some([0x11, 0x11]))
}

/// Header word `index` (0-based) as a signed integer; 0 past the end of `bytes`.
fn word_at(bytes: &[u8], index: usize, little_endian: bool) -> i32 {
    number_at(bytes, 4 * index, little_endian).unwrap_or(0)
}

/// What the reader needs from the 1024-byte header.
struct Header {
    width: usize,
    height: usize,
    sections: usize,
    mode: Mode,
    /// Grid intervals along x and y (mx, my).
    sampling: [i32; 2],
    /// Cell lengths along x and y in Å.
    cell: [f32; 2],
    space_group: i32,
    extended_len: usize,
    little_endian: bool,
}

impl Header {
    fn parse(bytes: &[u8]) -> Result<Header, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(corrupt(format!(
                "the file ends within its {HEADER_LEN}-byte header"
            )));
        }
        let little_endian = byte_order(bytes).unwrap_or_else(|| stamp_order(bytes));
        let word = |index| word_at(bytes, index, little_endian);
        let mode = Mode::from_word(word(3))
            .ok_or_else(|| unsupported(format!("data mode {}", word(3))))?;
        if (0..3).any(|index| word(index) <= 0) {
            return Err(corrupt("the header gives no positive image size"));
        }
        let size = |index| word(index) as usize;
        let extended_len = usize::try_from(word(23))
            .map_err(|_| corrupt("the extended header has a negative size"))?;
        Ok(Header {
            width: size(0),
            height: size(1),
            sections: size(2),
            mode,
            sampling: [word(7), word(8)],
            cell: [10, 11].map(|index| f32::from_bits(word(index) as u32)),
            space_group: word(22),
            extended_len,
            little_endian,
        })
    }

    /// Bytes in one section.
    fn frame_len(&self) -> Option<usize> {
        self.mode.row_bytes(self.width)?.checked_mul(self.height)
    }

    /// Where the data of every section end.
    fn data_end(&self) -> Option<usize> {
        self.frame_len()?
            .checked_mul(self.sections)?
            .checked_add(self.data_start()?)
    }

    fn data_start(&self) -> Option<usize> {
        HEADER_LEN.checked_add(self.extended_len)
    }

    /// The bytes of section `index`.
    fn section<'a>(&self, bytes: &'a [u8], index: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.frame_len();
        let start = len
            .and_then(|len| len.checked_mul(index))
            .zip(self.data_start())
            .and_then(|(offset, start)| start.checked_add(offset));
        let end = start.zip(len).and_then(|(s, n)| s.checked_add(n));
        start
            .zip(end)
            .filter(|_| index < self.sections)
            .and_then(|(start, end)| bytes.get(start..end))
            .ok_or_else(|| corrupt("the file ends within the image data"))
    }

    fn stack_note(&self) -> Option<String> {
        let kind = if self.space_group == IMAGE_STACK {
            "frames"
        } else {
            "sections"
        };
        (self.sections > 1).then(|| {
            format!(
                "the file holds {} {kind}; the first was read",
                self.sections
            )
        })
    }

    /// The pixel size in nm when x and y share one (cella / m, in Å), else a note when they
    /// differ.
    fn calibration(&self) -> (Option<Calibration>, Option<String>) {
        let voxel = |axis: usize| {
            let (cell, sampling) = (f64::from(self.cell[axis]), self.sampling[axis]);
            (sampling > 0 && cell > 0.0 && cell.is_finite()).then(|| cell / f64::from(sampling))
        };
        let (Some(x), Some(y)) = (voxel(0), voxel(1)) else {
            return (None, None);
        };
        if (x - y).abs() > 1e-6 * x {
            let (x, y) = (significant(x / 10.0, 4), significant(y / 10.0, 4));
            let note = format!("axes calibrated differently ({x} nm, {y} nm); sizes in pixels");
            return (None, Some(note));
        }
        let calibration = Calibration {
            pixel_size: x / 10.0,
            unit: "nm".to_string(),
        };
        (Some(calibration), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::decode;

    /// A little-endian MRC2014 header: `nx` × `ny` × `nz` of `mode`, 2 Å pixels.
    fn header(nx: i32, ny: i32, nz: i32, mode: i32) -> Vec<u8> {
        let mut bytes = vec![0; HEADER_LEN];
        let mut put =
            |index: usize, word: [u8; 4]| bytes[4 * index..4 * index + 4].copy_from_slice(&word);
        for (index, value) in [
            (0, nx),
            (1, ny),
            (2, nz),
            (3, mode),
            (7, nx),
            (8, ny),
            (9, 1),
        ] {
            put(index, value.to_le_bytes());
        }
        put(10, (2.0 * nx as f32).to_le_bytes());
        put(11, (2.0 * ny as f32).to_le_bytes());
        bytes[MAP_TAG_AT..STAMP_AT + 4].copy_from_slice(b"MAP DD\0\0");
        bytes
    }

    fn with_data(mut bytes: Vec<u8>, data: &[u8]) -> Vec<u8> {
        bytes.extend_from_slice(data);
        bytes
    }

    fn corrupt_error(bytes: &[u8]) -> bool {
        matches!(MRC.read_image(bytes), Err(DecodeError::Corrupt { .. }))
    }

    #[test]
    fn header_words_and_calibration_are_read() {
        let bytes = with_data(
            header(3, 2, 1, 1),
            &[1, 0, 2, 0, 3, 0, 0xFF, 0xFF, 0, 0x80, 9, 0],
        );
        assert!(MRC.recognises(&bytes));
        let dataset = MRC.read_image(&bytes).unwrap();
        assert_eq!(dataset.image.pixels(), [1.0, 2.0, 3.0, -1.0, -32768.0, 9.0]);
        assert_eq!(dataset.metadata.sample_type, SampleType::I16);
        assert_eq!(dataset.calibration.unwrap().pixel_nm(), Some(0.2));
        assert!(dataset.metadata.notes.is_empty());
    }

    #[test]
    fn big_endian_is_read_by_stamp_or_by_plausible_sizes() {
        let mut bytes = vec![0; HEADER_LEN];
        for (index, value) in [(0, 2i32), (1, 1), (2, 1), (3, 2)] {
            bytes[4 * index..4 * index + 4].copy_from_slice(&value.to_be_bytes());
        }
        bytes.extend_from_slice(&[0x3F, 0xC0, 0, 0, 0xC0, 0, 0, 0]);
        // No tag, no stamp: recognised because the sizes match the file exactly.
        assert!(MRC.recognises(&bytes));
        assert_eq!(MRC.read_image(&bytes).unwrap().image.pixels(), [1.5, -2.0]);
        bytes[STAMP_AT..STAMP_AT + 2].copy_from_slice(&[0x11, 0x11]);
        assert_eq!(MRC.read_image(&bytes).unwrap().image.pixels(), [1.5, -2.0]);
        bytes.push(0);
        assert!(
            !MRC.recognises(&bytes),
            "untagged and not the declared length"
        );
    }

    #[test]
    fn complex_and_packed_modes_are_decoded() {
        let complex = with_data(header(1, 1, 1, 3), &[3, 0, 0xFC, 0xFF]);
        let dataset = MRC.read_image(&complex).unwrap();
        assert_eq!(dataset.image.pixels(), [5.0]);
        assert_eq!(
            dataset.metadata.notes,
            ["complex data: the modulus is shown"]
        );
        // 3 × 2 pixels of 4 bits: each row takes 2 bytes, the last nibble padding.
        let packed = with_data(header(3, 2, 1, 101), &[0x21, 0xF3, 0x54, 0x06]);
        let dataset = MRC.read_image(&packed).unwrap();
        assert_eq!(dataset.image.pixels(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(dataset.metadata.sample_type, SampleType::U8);
        let half = with_data(
            header(1, 1, 1, 12),
            &half::f16::from_f32(-0.5).to_le_bytes(),
        );
        assert_eq!(MRC.read_image(&half).unwrap().image.pixels(), [-0.5]);
    }

    #[test]
    fn stacks_give_their_first_frame_with_a_note() {
        let stack = with_data(header(1, 1, 3, 0), &[0xFE, 7, 8]);
        let dataset = MRC.read_image(&stack).unwrap();
        assert_eq!(dataset.image.pixels(), [-2.0]);
        assert_eq!(
            dataset.metadata.notes,
            ["the file holds 3 frames; the first was read"]
        );
        // As a series, each section in turn, and none past the end.
        let mut series = crate::formats::series::Series::open(&stack, &Limits::default())
            .unwrap()
            .unwrap();
        let values: Vec<f32> = (0..3)
            .map(|i| series.frame(i).unwrap().image.pixels()[0])
            .collect();
        assert_eq!(values, [-2.0, 7.0, 8.0]);
        assert_eq!(series.time_s(1), None);
        assert!(series.frame(3).is_err());
        assert!(Header::parse(&stack).unwrap().section(&stack, 3).is_err());
    }

    #[test]
    fn unequal_voxel_sizes_give_no_calibration() {
        let mut bytes = with_data(header(1, 1, 1, 0), &[1]);
        bytes[44..48].copy_from_slice(&3.0f32.to_le_bytes());
        let dataset = MRC.read_image(&bytes).unwrap();
        assert_eq!(dataset.calibration, None);
        assert_eq!(
            dataset.metadata.notes,
            ["axes calibrated differently (0.2 nm, 0.3 nm); sizes in pixels"]
        );
    }

    #[test]
    fn damaged_headers_are_errors_not_panics() {
        let full = with_data(header(2, 2, 1, 0), &[1, 2, 3, 4]);
        for cut in [0, 100, 216, HEADER_LEN - 1, HEADER_LEN, HEADER_LEN + 3] {
            assert!(MRC.read_image(&full[..cut]).is_err(), "cut at {cut}");
        }
        assert!(corrupt_error(&full[..HEADER_LEN + 3]));
        let huge = with_data(header(i32::MAX, i32::MAX, i32::MAX, 4), &[0; 64]);
        assert!(corrupt_error(&huge));
        let short = with_data(header(64, 64, 1, 0), &[0; 64]);
        assert!(corrupt_error(&short), "declared data exceed the file");
        let mut extended = header(1, 1, 1, 0);
        extended[92..96].copy_from_slice(&i32::MAX.to_le_bytes());
        assert!(corrupt_error(&with_data(extended, &[0; 8])));
        for (nx, ny, nz) in [(-1, 2, 1), (2, 0, 1), (2, 2, -5)] {
            assert!(corrupt_error(&with_data(header(nx, ny, nz, 0), &[0; 4])));
        }
        let unknown = MRC
            .read_image(&with_data(header(1, 1, 1, 7), &[0; 4]))
            .unwrap_err();
        assert_eq!(unknown, DecodeError::unsupported(FORMAT, "data mode 7"));
    }

    #[test]
    fn oversized_images_are_refused_before_allocation() {
        assert!(matches!(
            MRC.read_image(&with_data(header(9000, 9000, 1, 101), &[0; 64])),
            Err(DecodeError::TooLarge { .. })
        ));
    }

    #[test]
    fn decode_finds_mrc_by_content() {
        let bytes = with_data(header(1, 1, 1, 2), &1.25f32.to_le_bytes());
        let dataset = decode("image.bin", &bytes).unwrap();
        assert_eq!(dataset.metadata.format, FORMAT);
        assert_eq!(dataset.image.pixels(), [1.25]);
    }
}
