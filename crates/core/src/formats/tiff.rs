//! TIFF: 8/16/32/64-bit integer and 16/32/64-bit float samples, grey or colour; the first page
//! of a multi-page file, or every page one at a time as a frame series (`Pages`). Calibration
//! is read from ImageJ's description, Gatan DigitalMicrograph's private tags and Thermo Fisher
//! (FEI) metadata; [`encode_grey16`] and [`write_series_grey16`] write ImageJ-calibrated 16-bit
//! files.

use super::bytes::uint;
use super::{Contents, DecodeError, Holds, Limits, Reader, raster::grey_from_interleaved};
use crate::dataset::{Calibration, Dataset, Image, Metadata, SampleType, normalise_unit};
use std::borrow::Borrow;
use std::io::{Cursor, ErrorKind, Seek, Write};
use tiff::decoder::{Decoder, DecodingResult, ifd::Value};
use tiff::encoder::{Rational, TiffEncoder, colortype::Gray16};
use tiff::tags::{ResolutionUnit, Tag};
use tiff::{ColorType, TiffError};

const FORMAT: &str = "TIFF";
/// Thermo Fisher / FEI instrument metadata (an INI text with `PixelWidth` in metres).
const FEI_METADATA_TAG: u16 = 34682;
/// DigitalMicrograph's private tags: x-axis unit (text) and x-axis scale (unit per pixel).
const DM_X_UNIT_TAG: u16 = 65003;
const DM_X_SCALE_TAG: u16 = 65009;
/// Pages counted at most when reporting a multi-page file.
const MAX_PAGES_COUNTED: usize = 10_000;

/// Reads TIFF files (classic and BigTIFF, both byte orders).
pub const TIFF: Reader = Reader::new(
    FORMAT,
    &["tif", "tiff"],
    Holds::Images,
    |bytes| {
        [b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"]
            .iter()
            .any(|magic| bytes.starts_with(*magic))
    },
    |bytes, options| read(bytes, &options.limits).map(Contents::Image),
);

/// The first page of a TIFF file, within `limits`, with a note when there are more.
fn read(bytes: &[u8], limits: &Limits) -> Result<Dataset, DecodeError> {
    let mut pages = Pages::open(bytes, limits)?;
    let mut dataset = pages.read(0)?;
    let count = pages.count();
    if count > 1 {
        let note = format!("multi-page TIFF: page 1 of {count} was read");
        dataset.metadata.notes.push(note);
    }
    Ok(dataset)
}

/// The pages of a TIFF file, decoded one at a time (a multi-page file is a frame series).
pub(super) struct Pages<'a> {
    decoder: Decoder<Cursor<&'a [u8]>>,
    limits: Limits,
    count: usize,
    /// The first page's calibration, which ImageJ records for every page.
    calibration: Option<Calibration>,
    interval_s: Option<f64>,
}

impl<'a> Pages<'a> {
    /// Reads the first page's directory and counts the pages (at most [`MAX_PAGES_COUNTED`]).
    pub(super) fn open(bytes: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
        let mut decoder = Decoder::new(Cursor::new(bytes))
            .map_err(decode_error)?
            .with_limits(tiff_limits(limits));
        let calibration = calibration(&mut decoder);
        let interval_s = imagej_frame_interval(&mut decoder);
        let mut count = 1;
        while decoder.more_images() && count < MAX_PAGES_COUNTED && decoder.next_image().is_ok() {
            count += 1;
        }
        Ok(Self {
            decoder,
            limits: *limits,
            count,
            calibration,
            interval_s,
        })
    }

    /// How many pages there are.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// Seconds between pages, as ImageJ records a time series (`finterval`).
    pub(super) fn interval_s(&self) -> Option<f64> {
        self.interval_s
    }

    /// Page `index` (from 0), within the limits the pages were opened with.
    pub(super) fn read(&mut self, index: usize) -> Result<Dataset, DecodeError> {
        let decoder = &mut self.decoder;
        decoder.seek_to_image(index).map_err(decode_error)?;
        let (width, height) = decoder.dimensions().map_err(decode_error)?;
        self.limits.check_image(width as usize, height as usize)?;
        let channels = channel_count(decoder.colortype().map_err(decode_error)?)?;
        let (samples, sample_type) = samples_as_f32(decoder.read_image().map_err(decode_error)?);
        if samples.len() < width as usize * height as usize * channels {
            return Err(DecodeError::Corrupt {
                format: FORMAT,
                detail: "fewer samples than the image size".into(),
            });
        }
        let (pixels, colour_note) = grey_from_interleaved(&samples, channels);
        Ok(Dataset {
            image: Image::new(width as usize, height as usize, pixels),
            calibration: self.calibration.clone(),
            metadata: Metadata {
                format: FORMAT,
                sample_type,
                channels,
                notes: colour_note.into_iter().collect(),
                properties: vec![],
            },
        })
    }
}

/// The `tiff` crate's limits: a decoding buffer of at most [`Limits::max_bytes`].
fn tiff_limits(limits: &Limits) -> tiff::decoder::Limits {
    let mut tiff_limits = tiff::decoder::Limits::default();
    tiff_limits.decoding_buffer_size = limits.max_bytes;
    tiff_limits
}

fn channel_count(colour: ColorType) -> Result<usize, DecodeError> {
    match colour {
        ColorType::Gray(_) => Ok(1),
        ColorType::GrayA(_) => Ok(2),
        ColorType::RGB(_) => Ok(3),
        ColorType::RGBA(_) => Ok(4),
        other => Err(DecodeError::Unsupported {
            format: FORMAT,
            detail: format!("{other:?} pixels"),
        }),
    }
}

fn samples_as_f32(result: DecodingResult) -> (Vec<f32>, SampleType) {
    fn convert<T: Copy>(values: Vec<T>, to_f32: fn(T) -> f32) -> Vec<f32> {
        values.into_iter().map(to_f32).collect()
    }
    match result {
        DecodingResult::U8(v) => (convert(v, f32::from), SampleType::U8),
        DecodingResult::U16(v) => (convert(v, f32::from), SampleType::U16),
        DecodingResult::U32(v) => (convert(v, |x| x as f32), SampleType::U32),
        DecodingResult::U64(v) => (convert(v, |x| x as f32), SampleType::U64),
        DecodingResult::I8(v) => (convert(v, f32::from), SampleType::I8),
        DecodingResult::I16(v) => (convert(v, f32::from), SampleType::I16),
        DecodingResult::I32(v) => (convert(v, |x| x as f32), SampleType::I32),
        DecodingResult::I64(v) => (convert(v, |x| x as f32), SampleType::I64),
        DecodingResult::F16(v) => (convert(v, |x| x.to_f32()), SampleType::F16),
        DecodingResult::F32(v) => (v, SampleType::F32),
        DecodingResult::F64(v) => (convert(v, |x| x as f32), SampleType::F64),
    }
}

fn decode_error(error: TiffError) -> DecodeError {
    let (corrupt, detail) = match error {
        TiffError::UnsupportedError(inner) => (false, inner.to_string()),
        TiffError::LimitsExceeded => (false, "its size exceeds the decoder's limits".to_string()),
        TiffError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => {
            (true, "the file ends early".to_string())
        }
        other => (true, other.to_string()),
    };
    if corrupt {
        DecodeError::Corrupt {
            format: FORMAT,
            detail,
        }
    } else {
        DecodeError::Unsupported {
            format: FORMAT,
            detail,
        }
    }
}

fn calibration(decoder: &mut Decoder<Cursor<&[u8]>>) -> Option<Calibration> {
    imagej_calibration(decoder)
        .or_else(|| digital_micrograph_calibration(decoder))
        .or_else(|| fei_calibration(decoder))
}

/// TIFFs exported by DigitalMicrograph carry the x unit and scale in private tags. The unit is
/// Latin-1 text ("µm" as 0xB5 'm'), which the `tiff` crate refuses as ASCII, so it is read raw.
fn digital_micrograph_calibration(decoder: &mut Decoder<Cursor<&[u8]>>) -> Option<Calibration> {
    let pixel_size = decoder.get_tag_f64(Tag::Unknown(DM_X_SCALE_TAG)).ok()?;
    let bytes = *decoder.inner().get_ref();
    let unit = normalise_unit(&first_ifd_text(bytes, DM_X_UNIT_TAG)?)?;
    valid_size(pixel_size).then(|| Calibration {
        pixel_size,
        unit: unit.to_string(),
    })
}

/// A text tag of a classic TIFF's first IFD, decoded as Latin-1 up to its first NUL.
fn first_ifd_text(bytes: &[u8], tag: u16) -> Option<String> {
    let little = bytes.starts_with(b"II*\0");
    let uint_at = |at: usize, len: usize| {
        let field = bytes.get(at..at.checked_add(len)?)?;
        Some(uint(field, little) as usize)
    };
    const ASCII: usize = 2;
    let ifd = uint_at(4, 4)?;
    let entry = (0..uint_at(ifd, 2)?)
        .map(|i| ifd + 2 + 12 * i)
        .find(|&entry| {
            uint_at(entry, 2) == Some(usize::from(tag)) && uint_at(entry + 2, 2) == Some(ASCII)
        })?;
    let count = uint_at(entry + 4, 4)?;
    let start = if count <= 4 {
        entry + 8
    } else {
        uint_at(entry + 8, 4)?
    };
    let text = bytes.get(start..start.checked_add(count)?)?;
    Some(
        text.iter()
            .take_while(|&&b| b != 0)
            .map(|&b| char::from(b))
            .collect(),
    )
}

/// ImageJ writes `unit=nm` in the description and pixels per unit as the X resolution.
fn imagej_calibration(decoder: &mut Decoder<Cursor<&[u8]>>) -> Option<Calibration> {
    let description = decoder.get_tag_ascii_string(Tag::ImageDescription).ok()?;
    if !description.starts_with("ImageJ=") {
        return None;
    }
    let unit = description
        .lines()
        .find_map(|line| line.strip_prefix("unit="))?;
    let unit = normalise_unit(unit)?;
    let Value::Rational(pixels, per_units) = decoder.get_tag(Tag::XResolution).ok()? else {
        return None;
    };
    let pixel_size = f64::from(per_units) / f64::from(pixels);
    valid_size(pixel_size).then(|| Calibration {
        pixel_size,
        unit: unit.to_string(),
    })
}

/// ImageJ writes a time series' frame interval as `finterval=` in the description, in its
/// `tunit` (seconds when it names none).
fn imagej_frame_interval(decoder: &mut Decoder<Cursor<&[u8]>>) -> Option<f64> {
    let description = decoder.get_tag_ascii_string(Tag::ImageDescription).ok()?;
    let value = |key: &str| {
        description
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
    };
    let interval: f64 = value("finterval")?.trim().parse().ok()?;
    let seconds = match value("tunit").map(str::trim) {
        None | Some("s" | "sec" | "second" | "seconds") => 1.0,
        Some("ms" | "msec") => 1e-3,
        Some("us" | "µs" | "usec") => 1e-6,
        Some("min") => 60.0,
        Some(_) => return None,
    };
    valid_size(interval).then_some(interval * seconds)
}

/// Thermo Fisher (FEI) microscopes store `PixelWidth=<metres>` in an INI text tag.
fn fei_calibration(decoder: &mut Decoder<Cursor<&[u8]>>) -> Option<Calibration> {
    let text = decoder
        .get_tag_ascii_string(Tag::Unknown(FEI_METADATA_TAG))
        .ok()?;
    let metres: f64 = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("PixelWidth="))?
        .trim()
        .parse()
        .ok()?;
    valid_size(metres).then(|| Calibration {
        pixel_size: metres * 1e9,
        unit: "nm".into(),
    })
}

fn valid_size(size: f64) -> bool {
    size.is_finite() && size > 0.0
}

/// Encodes `image` as a 16-bit grey TIFF (values rounded and clamped to 0–65535), with an
/// ImageJ-style calibration when one is given.
pub fn encode_grey16(
    image: &Image,
    calibration: Option<&Calibration>,
) -> Result<Vec<u8>, TiffError> {
    let mut file = Cursor::new(Vec::new());
    write_series_grey16(&mut file, [image], 1, calibration, None)?;
    Ok(file.into_inner())
}

/// Writes `count` frames as the pages of a 16-bit grey TIFF, one frame in memory at a time,
/// described as ImageJ describes a time series (`images`, `frames`, `finterval` in seconds)
/// and calibrated when `calibration` is given.
pub fn write_series_grey16<W: Write + Seek>(
    out: W,
    frames: impl IntoIterator<Item = impl Borrow<Image>>,
    count: usize,
    calibration: Option<&Calibration>,
    interval_s: Option<f64>,
) -> Result<(), TiffError> {
    let mut encoder = TiffEncoder::new(out)?;
    let mut description = "ImageJ=1.54f\n".to_string();
    if count > 1 {
        description += &format!("images={count}\nframes={count}\n");
    }
    if let Some(interval) = interval_s {
        description += &format!("finterval={interval}\n");
    }
    if let Some(calibration) = calibration {
        description += &format!("unit={}\n", calibration.unit);
    }
    for (index, frame) in frames.into_iter().enumerate() {
        let frame = frame.borrow();
        let values: Vec<u16> = frame
            .pixels()
            .iter()
            .map(|&v| v.round().clamp(0.0, 65535.0) as u16)
            .collect();
        let mut page = encoder.new_image::<Gray16>(frame.width() as u32, frame.height() as u32)?;
        if index == 0 && (calibration.is_some() || count > 1) {
            page.encoder()
                .write_tag(Tag::ImageDescription, description.as_str())?;
        }
        if let Some(calibration) = calibration {
            page.resolution(
                ResolutionUnit::None,
                pixels_per_unit(calibration.pixel_size),
            );
        }
        page.write_data(&values)?;
    }
    Ok(())
}

/// `1 / pixel_size` as a rational with as many decimal digits as fit in 32 bits.
fn pixels_per_unit(pixel_size: f64) -> Rational {
    let per_unit = 1.0 / pixel_size;
    let mut d: u32 = 1_000_000;
    while d > 1 && per_unit * f64::from(d) > f64::from(u32::MAX) {
        d /= 10;
    }
    Rational {
        n: (per_unit * f64::from(d)).round().min(f64::from(u32::MAX)) as u32,
        d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::decode;
    use tiff::encoder::colortype::{self, ColorType as EncoderColour};

    fn encode<C: EncoderColour>(width: u32, height: u32, data: &[C::Inner], pages: usize) -> Vec<u8>
    where
        [C::Inner]: tiff::encoder::TiffValue,
    {
        let mut file = Cursor::new(Vec::new());
        let mut encoder = TiffEncoder::new(&mut file).unwrap();
        for _ in 0..pages {
            encoder.write_image::<C>(width, height, data).unwrap();
        }
        file.into_inner()
    }

    #[test]
    fn sixteen_bit_grey_round_trips_with_calibration() {
        let image = Image::new(3, 2, vec![0.0, 1.0, 65535.0, 300.0, 40000.0, 7.0]);
        let calibration = Calibration {
            pixel_size: 0.04,
            unit: "nm".into(),
        };
        let bytes = encode_grey16(&image, Some(&calibration)).unwrap();
        let dataset = decode("sim.tif", &bytes).unwrap();
        assert_eq!(dataset.image, image);
        assert_eq!(dataset.metadata.sample_type, SampleType::U16);
        let read = dataset.calibration.unwrap();
        assert_eq!(read.unit, "nm");
        assert!((read.pixel_size - 0.04).abs() < 1e-9);
    }

    #[test]
    fn float_and_signed_samples_keep_their_values() {
        let floats = encode::<colortype::Gray32Float>(2, 1, &[-1.5, 2.25], 1);
        let dataset = decode("f.tif", &floats).unwrap();
        assert_eq!(
            (dataset.image.pixels(), dataset.metadata.sample_type),
            (&[-1.5, 2.25][..], SampleType::F32)
        );
        let signed = encode::<colortype::GrayI16>(2, 1, &[-300, 12], 1);
        let dataset = decode("s.tif", &signed).unwrap();
        assert_eq!(
            (dataset.image.pixels(), dataset.metadata.sample_type),
            (&[-300.0, 12.0][..], SampleType::I16)
        );
        let wide = encode::<colortype::Gray32>(1, 1, &[4_000_000_000], 1);
        assert_eq!(decode("u.tif", &wide).unwrap().image.pixels(), &[4.0e9]);
    }

    #[test]
    fn multi_page_reads_the_first_page_with_a_note() {
        let bytes = encode::<colortype::Gray8>(2, 2, &[1, 2, 3, 4], 3);
        let dataset = decode("stack.tif", &bytes).unwrap();
        assert_eq!(dataset.image.pixels(), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            dataset.metadata.notes,
            vec!["multi-page TIFF: page 1 of 3 was read".to_string()]
        );
    }

    #[test]
    fn rgb_grey_is_read_as_grey() {
        let bytes = encode::<colortype::RGB8>(1, 2, &[9, 9, 9, 200, 200, 200], 1);
        let dataset = decode("rgb.tif", &bytes).unwrap();
        assert_eq!(
            (dataset.image.pixels(), dataset.metadata.channels),
            (&[9.0, 200.0][..], 3)
        );
    }

    #[test]
    fn truncated_file_is_reported_as_damaged() {
        let image = Image::new(64, 64, vec![5.0; 64 * 64]);
        let bytes = encode_grey16(&image, None).unwrap();
        for cut in [bytes.len() / 2, 12, 5] {
            let error = decode("cut.tif", &bytes[..cut]).unwrap_err();
            assert!(
                matches!(error, DecodeError::Corrupt { .. }),
                "cut at {cut}: {error}"
            );
        }
    }

    /// A little-endian header declaring a `width × height` 8-bit grey image, with no pixel data.
    fn header_only(width: u32, height: u32) -> Vec<u8> {
        let entries: [(u16, u16, u32); 8] = [
            (256, 4, width),
            (257, 4, height),
            (258, 3, 8),
            (259, 3, 1),
            (262, 3, 1),
            (273, 4, 8),
            (278, 4, height),
            (279, 4, width.saturating_mul(height)),
        ];
        let mut bytes = b"II*\0\x08\0\0\0".to_vec();
        bytes.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        for (tag, kind, value) in entries {
            bytes.extend_from_slice(&tag.to_le_bytes());
            bytes.extend_from_slice(&kind.to_le_bytes());
            bytes.extend_from_slice(&1u32.to_le_bytes());
            bytes.extend_from_slice(&value.to_le_bytes());
        }
        bytes.extend_from_slice(&[0; 4]);
        bytes
    }

    #[test]
    fn oversized_image_is_refused_before_allocating() {
        let error = decode("huge.tif", &header_only(50_000, 50_000)).unwrap_err();
        assert_eq!(
            error,
            DecodeError::TooLarge {
                width: 50_000,
                height: 50_000,
                limit: 8192 * 8192
            }
        );
        let error = decode("small.tif", &header_only(64, 64)).unwrap_err();
        assert!(matches!(error, DecodeError::Corrupt { .. }), "{error}");
    }

    #[test]
    fn rational_keeps_small_and_large_pixel_sizes() {
        for size in [0.04, 0.0183, 5.3, 1e-4, 250.0] {
            let Rational { n, d } = pixels_per_unit(size);
            let back = f64::from(d) / f64::from(n);
            assert!((back - size).abs() / size < 1e-5, "{size} → {n}/{d}");
        }
    }

    #[test]
    fn latin1_text_tags_are_read_raw() {
        // A little-endian TIFF whose only IFD entry is tag 65003, ASCII, 3 bytes inline: "µm\0".
        let mut bytes = b"II*\0\x08\0\0\0\x01\0".to_vec();
        bytes.extend_from_slice(&[0xEB, 0xFD, 2, 0, 3, 0, 0, 0, 0xB5, b'm', 0, 0, 0, 0, 0, 0]);
        assert_eq!(first_ifd_text(&bytes, DM_X_UNIT_TAG).as_deref(), Some("µm"));
        assert_eq!(first_ifd_text(&bytes, 65004), None);
        assert_eq!(first_ifd_text(&bytes[..12], DM_X_UNIT_TAG), None);
    }
}
