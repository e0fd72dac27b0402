//! FEI / Thermo Fisher TIA (TEM Imaging & Analysis) series files, `.ser`, with the metadata of
//! the `.emi` file TIA writes beside them (`name.emi` for `name_1.ser`, `name_2.ser`…).
//!
//! A `.ser` is little-endian: a header (byte order 0x4949, series id 0x0197, version 0x0210 with
//! 32-bit offsets or 0x0220 with 64-bit ones, the element kind — 0x4120 spectra, 0x4122 images —
//! the tag kind, total and valid element counts, the offset of the offset table and the number
//! of series dimensions), one record per series dimension (size, calibration offset, delta and
//! reference element, description and unit), then anywhere in the file the table of data
//! offsets (one per planned element) followed by the table of tag offsets, and the elements. An
//! image element holds its x and y calibration (offset, delta in metres, reference element), a
//! data type and its size, then its pixels, x fastest and the bottom row first; a spectrum
//! element holds its energy calibration (eV), data type, length and values. Each element's tag
//! holds the tag kind, two unused bytes and the time it was recorded (Unix seconds), then for
//! kind 0x4142 its scan position. A series of images (frames, or a diffraction pattern per scan
//! point) is a frame series (`Elements`), its first image what `open` shows; a series of
//! spectra laid on a scan is a spectrum image.
//!
//! The `.emi` is a binary file whose metadata are XML `<ObjectInfo>` blocks, one per `.ser`;
//! only its acquisition facts are read (high tension, magnification, microscope, mode, date).

use super::bytes::Cursor;
use super::samples::{DenseCube, SampleFormat, SampleKind};
use super::spectral::SpectralFile;
use super::{Contents, DecodeError, Holds, Limits, ReadOptions, Reader, Select};
use crate::dataset::{Calibration, Dataset, Image, Metadata, SampleType, voltage_property};
use crate::spectra::{EnergyAxis, Spectrum, SpectrumImageBuilder};

const FORMAT: &str = "FEI TIA";
const MAGIC: [u8; 4] = [0x49, 0x49, 0x97, 0x01];
const IMAGES: u32 = 0x4122;
const SPECTRA: u32 = 0x4120;
/// Tag kinds: the time alone, or the time and a scan position.
const TIME_TAG: u32 = 0x4152;
const TIME_AND_POSITION_TAG: u32 = 0x4142;
/// Dimensions a series may have: TIA writes at most two (a scan), one for frame series.
const MAX_DIMENSIONS: usize = 8;
/// A pixel larger than this, in metres, is no length: TIA stores diffraction patterns' deltas
/// in 1/m (about 10⁸ and more) in the same field, and the `.emi`'s mode names "Diffraction" for
/// STEM images too, so the magnitude is the reliable tell.
const MAX_PIXEL_METRES: f64 = 1e-3;

/// Reads TIA `.ser` files: the first image of a series of images, or the spectrum image (or
/// single spectrum) of a series of spectra.
pub const TIA: Reader = Reader::new(
    FORMAT,
    &["ser"],
    Holds::Both,
    recognises,
    |bytes, options| read_series(bytes, options, None),
)
.spectra_when(|bytes| {
    recognises(bytes) && Series::parse(bytes).is_ok_and(|s| s.element_kind == SPECTRA)
});

fn recognises(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// What a series holds: its first image, or its spectra (asked for images, spectra are read
/// all the same; asked for spectra, images are refused).
fn read_series(
    bytes: &[u8],
    options: &ReadOptions,
    emi: Option<EmiFacts>,
) -> Result<Contents, DecodeError> {
    let series = Series::parse(bytes)?;
    match (series.element_kind, options.select) {
        (SPECTRA, _) => read_spectra(&series, options, emi).map(Contents::Spectral),
        (_, Select::Spectra) => Err(unsupported(
            "it holds images, not spectra; open it as the image",
        )),
        _ => read_image(&series, &options.limits, emi).map(Contents::Image),
    }
}

/// The `.emi` file's name for a `.ser` file: `scan_1.ser` → `scan.emi`, with the index (0 for
/// `_1`) of the `.ser`'s metadata block in it; `None` for a name not ending in `_<n>.ser`.
pub fn emi_name(ser_name: &str) -> Option<(String, usize)> {
    let stem = ser_name
        .strip_suffix(".ser")
        .or_else(|| ser_name.strip_suffix(".SER"))?;
    let (base, number) = stem.rsplit_once('_')?;
    let index = number.parse::<usize>().ok()?.checked_sub(1)?;
    Some((format!("{base}.emi"), index))
}

/// Whether `bytes` look like a TIA `.emi` file (they hold the XML metadata TIA writes).
pub fn is_emi(bytes: &[u8]) -> bool {
    bytes.windows(12).any(|w| w == b"<ObjectInfo>")
}

/// Reads the `.ser` file `ser_name` as `options` ask, with the acquisition facts its `.emi`
/// file holds for it (the block its `_<n>` names; the first for another name).
pub fn read_with_emi(
    ser_name: &str,
    ser: &[u8],
    emi: &[u8],
    options: &ReadOptions,
) -> Result<Contents, DecodeError> {
    read_series(ser, options, Some(EmiFacts::for_ser(ser_name, emi)))
}

/// Reads the `.ser` image `ser_name` within `limits`, with its `.emi`'s acquisition facts, as
/// [`read_with_emi`] does.
pub fn read_image_with_emi(
    ser_name: &str,
    ser: &[u8],
    emi: &[u8],
    limits: &Limits,
) -> Result<Dataset, DecodeError> {
    match read_with_emi(ser_name, ser, emi, &ReadOptions::image(limits))? {
        Contents::Image(dataset) => Ok(dataset),
        Contents::Spectral(_) => Err(unsupported(
            "it holds spectra, not an image; open it as a spectrum image (the page's Spectra \
             panel, chipscope spectra)",
        )),
    }
}

/// Reads the `.ser` of spectra `ser_name` within `limits`, summing every `bin` channels, with
/// its `.emi`'s acquisition facts, as [`read_with_emi`] does.
pub fn read_spectra_with_emi(
    ser_name: &str,
    ser: &[u8],
    emi: &[u8],
    bin: usize,
    limits: &Limits,
) -> Result<SpectralFile, DecodeError> {
    let options = ReadOptions::spectra(limits, bin);
    super::spectral::spectra_of(&TIA, read_with_emi(ser_name, ser, emi, &options)?)
}

format_errors!(FORMAT);

/// A cursor over the file at `at`, whose short reads say where they began.
fn cursor(bytes: &[u8], at: usize) -> Cursor<'_> {
    Cursor::new(FORMAT, bytes).telling_position().at(at)
}

/// A file offset or count (64 bits when `wide`), which must fit this machine's addresses.
fn index(cursor: &mut Cursor, wide: bool) -> Result<usize, DecodeError> {
    let value = if wide {
        cursor.le::<u64>()?
    } else {
        u64::from(cursor.le::<u32>()?)
    };
    usize::try_from(value).map_err(|_| corrupt(format!("an offset of {value} bytes")))
}

/// Bytes of a file offset: 8 when `wide`, else 4.
fn offset_width(wide: bool) -> usize {
    if wide { 8 } else { 4 }
}

/// A calibration as TIA writes one for every axis: offset and step (the value at the reference
/// element, which is read and not used, and the step from one element to the next).
fn axis_calibration(cursor: &mut Cursor) -> Result<(f64, f64), DecodeError> {
    let offset = cursor.le::<f64>()?;
    let delta = cursor.le::<f64>()?;
    let _element = cursor.le::<u32>()?;
    Ok((offset, delta))
}

/// One series dimension: its size and, for scans, the step between points.
#[derive(Debug)]
struct Dimension {
    size: usize,
    delta: f64,
    unit: String,
}

/// The header and the data offsets of a `.ser` file.
#[derive(Debug)]
struct Series<'a> {
    bytes: &'a [u8],
    element_kind: u32,
    tag_kind: u32,
    /// Elements the acquisition planned, and those it recorded.
    total: usize,
    valid: usize,
    dimensions: Vec<Dimension>,
    /// Where each recorded element starts.
    offsets: Vec<usize>,
    /// Where the table of tag offsets starts (after a data offset for every planned element).
    tag_table: Option<usize>,
    /// Whether offsets are 64-bit.
    wide: bool,
}

impl<'a> Series<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Series<'a>, DecodeError> {
        let mut cursor = cursor(bytes, 0);
        if cursor.array::<4>()? != MAGIC {
            return Err(corrupt("it does not start as a TIA series file"));
        }
        let wide = match cursor.le::<u16>()? {
            0x0210 => false,
            0x0220 => true,
            version => return Err(unsupported(format!("series version {version:#06x}"))),
        };
        let element_kind = cursor.le::<u32>()?;
        if ![IMAGES, SPECTRA].contains(&element_kind) {
            return Err(unsupported(format!("element kind {element_kind:#06x}")));
        }
        let tag_kind = cursor.le::<u32>()?;
        let total = index(&mut cursor, false)?;
        let valid = index(&mut cursor, false)?;
        let table = index(&mut cursor, wide)?;
        let count = index(&mut cursor, false)?;
        if count > MAX_DIMENSIONS {
            return Err(corrupt(format!("{count} series dimensions")));
        }
        let dimensions = (0..count)
            .map(|_| Dimension::parse(&mut cursor))
            .collect::<Result<_, _>>()?;
        if valid > total {
            return Err(corrupt(format!("{valid} of {total} elements recorded")));
        }
        let offsets = Self::offsets(bytes, table, valid, wide)?;
        let tag_table = total.checked_mul(offset_width(wide));
        Ok(Series {
            bytes,
            element_kind,
            tag_kind,
            total,
            valid,
            dimensions,
            offsets,
            tag_table: tag_table.and_then(|len| table.checked_add(len)),
            wide,
        })
    }

    /// The offsets of the `valid` recorded elements, checked to lie in the file before any is
    /// kept (so a huge count cannot allocate more than the file holds).
    fn offsets(
        bytes: &[u8],
        table: usize,
        valid: usize,
        wide: bool,
    ) -> Result<Vec<usize>, DecodeError> {
        let end = valid
            .checked_mul(offset_width(wide))
            .and_then(|len| len.checked_add(table))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| corrupt("the table of data offsets lies beyond the end of the file"))?;
        let mut cursor = cursor(&bytes[..end], table);
        (0..valid).map(|_| index(&mut cursor, wide)).collect()
    }

    /// A cursor at element `index`.
    fn element(&self, index: usize) -> Result<Cursor<'a>, DecodeError> {
        match self.offsets.get(index) {
            Some(&at) if at < self.bytes.len() => Ok(cursor(self.bytes, at)),
            _ => Err(corrupt(format!(
                "element {} lies beyond the file",
                index + 1
            ))),
        }
    }

    /// When element `element` was recorded (Unix seconds), from its tag; `None` when the tag is
    /// missing or of another kind than the header names.
    fn time(&self, element: usize) -> Option<i64> {
        let entry = element.checked_mul(offset_width(self.wide))?;
        let mut table = cursor(self.bytes, self.tag_table?.checked_add(entry)?);
        let mut tag = cursor(self.bytes, index(&mut table, self.wide).ok()?);
        let kind = u32::from(tag.le::<u16>().ok()?);
        tag.skip(2).ok()?;
        let time = tag.le::<u32>().ok()?;
        let known = [TIME_TAG, TIME_AND_POSITION_TAG].contains(&kind);
        (known && kind == self.tag_kind).then_some(i64::from(time))
    }

    /// "the acquisition stopped after 7 of 25 …" when fewer elements were recorded.
    fn stopped_note(&self, what: &str) -> Option<String> {
        (self.valid < self.total).then(|| {
            format!(
                "the acquisition stopped after {} of {} {what}",
                self.valid, self.total
            )
        })
    }
}

impl Dimension {
    fn parse(cursor: &mut Cursor) -> Result<Dimension, DecodeError> {
        let size = index(cursor, false)?;
        let (_offset, delta) = axis_calibration(cursor)?;
        let description_len = index(cursor, false)?;
        cursor.skip(description_len)?;
        let unit_len = index(cursor, false)?;
        let unit = String::from_utf8_lossy(cursor.take(unit_len)?).into_owned();
        Ok(Dimension { size, delta, unit })
    }
}

/// How TIA stores a sample: its data type code, as the type users see and how to read it.
#[derive(Clone, Copy, Debug)]
struct Samples {
    sample_type: SampleType,
    format: SampleFormat,
    /// Complex: two values (real, imaginary) of `format` per sample.
    complex: bool,
}

impl Samples {
    /// The samples the data type code at the cursor names.
    fn read(cursor: &mut Cursor) -> Result<Samples, DecodeError> {
        use SampleKind::{Float, Signed, Unsigned};
        let (sample_type, kind, size, complex) = match cursor.le::<u16>()? {
            1 => (SampleType::U8, Unsigned, 1, false),
            2 => (SampleType::U16, Unsigned, 2, false),
            3 => (SampleType::U32, Unsigned, 4, false),
            4 => (SampleType::I8, Signed, 1, false),
            5 => (SampleType::I16, Signed, 2, false),
            6 => (SampleType::I32, Signed, 4, false),
            7 => (SampleType::F32, Float, 4, false),
            8 => (SampleType::F64, Float, 8, false),
            9 => (SampleType::F32, Float, 4, true),
            10 => (SampleType::F64, Float, 8, true),
            code => return Err(corrupt(format!("unknown data type {code}"))),
        };
        let format = SampleFormat::new(kind, size, true).expect("valid TIA sample formats");
        Ok(Samples {
            sample_type,
            format,
            complex,
        })
    }

    /// The bytes of `count` samples at the cursor; `too_many` when they cannot be addressed.
    fn bytes<'a>(
        &self,
        cursor: &mut Cursor<'a>,
        count: usize,
        too_many: impl FnOnce() -> DecodeError,
    ) -> Result<&'a [u8], DecodeError> {
        let len = count.checked_mul(self.size()).ok_or_else(too_many)?;
        cursor.take(len)
    }

    /// Bytes per sample.
    fn size(&self) -> usize {
        self.format.size() * if self.complex { 2 } else { 1 }
    }

    /// The value of the sample in `raw` ([`Self::size`] bytes): the modulus for complex ones.
    fn value(&self, raw: &[u8]) -> f64 {
        let part = self.format.size();
        if self.complex {
            let (re, im) = raw.split_at(part);
            self.format.value(re).hypot(self.format.value(im))
        } else {
            self.format.value(raw)
        }
    }
}

/// The header of an image element: its calibration and pixels.
struct ImageElement<'a> {
    delta_x: f64,
    delta_y: f64,
    width: usize,
    height: usize,
    samples: Samples,
    data: &'a [u8],
}

impl<'a> ImageElement<'a> {
    fn parse(cursor: &mut Cursor<'a>, limits: &Limits) -> Result<ImageElement<'a>, DecodeError> {
        let (_offset_x, delta_x) = axis_calibration(cursor)?;
        let (_offset_y, delta_y) = axis_calibration(cursor)?;
        let samples = Samples::read(cursor)?;
        let width = index(cursor, false)?;
        let height = index(cursor, false)?;
        limits.check_image(width, height)?;
        let data = samples.bytes(cursor, width * height, || {
            corrupt("an image larger than memory")
        })?;
        Ok(ImageElement {
            delta_x,
            delta_y,
            width,
            height,
            samples,
            data,
        })
    }

    /// The pixels top row first (TIA stores the bottom row first).
    fn image(&self) -> Image {
        let size = self.samples.size();
        let row_bytes = self.width * size;
        let pixels = self
            .data
            .chunks_exact(row_bytes)
            .rev()
            .flat_map(|row| row.chunks_exact(size))
            .map(|raw| self.samples.value(raw) as f32)
            .collect();
        Image::new(self.width, self.height, pixels)
    }

    /// The pixel size in nm, or why there is none.
    fn calibration(&self) -> Result<Calibration, &'static str> {
        pixel_calibration(self.delta_x, self.delta_y)
    }
}

/// A length calibration from x and y steps in metres, or the reason there is none.
fn pixel_calibration(delta_x: f64, delta_y: f64) -> Result<Calibration, &'static str> {
    let (x, y) = (delta_x.abs(), delta_y.abs());
    if !(x.is_finite() && x > 0.0) {
        return Err("the file records no pixel size");
    }
    if x > MAX_PIXEL_METRES {
        return Err("the calibration is in reciprocal space (a diffraction pattern), not a length");
    }
    if (x - y).abs() > 1e-6 * x {
        return Err("the x and y pixel sizes differ");
    }
    Ok(Calibration {
        pixel_size: x * 1e9,
        unit: "nm".to_string(),
    })
}

/// The first image, with notes on the others and the `.emi`'s acquisition facts.
fn read_image(
    series: &Series,
    limits: &Limits,
    emi: Option<EmiFacts>,
) -> Result<Dataset, DecodeError> {
    if series.valid == 0 {
        return Err(corrupt("no image was recorded"));
    }
    let mut dataset = image_element(series, 0, limits)?;
    let count_note = (series.valid > 1)
        .then(|| format!("the file holds {} images; the first was read", series.valid));
    let notes = &mut dataset.metadata.notes;
    notes.splice(
        0..0,
        count_note.into_iter().chain(series.stopped_note("images")),
    );
    let emi = emi.unwrap_or_default();
    notes.extend(emi.note);
    dataset.metadata.properties = emi.properties;
    Ok(dataset)
}

/// Image element `index` (from 0), with its calibration or why it has none.
fn image_element(series: &Series, index: usize, limits: &Limits) -> Result<Dataset, DecodeError> {
    let element = ImageElement::parse(&mut series.element(index)?, limits)?;
    let mut notes = Vec::new();
    let calibration = element
        .calibration()
        .map_err(|why| notes.push(format!("{why}; sizes are in pixels")))
        .ok();
    if element.samples.complex {
        notes.push("complex values: their modulus is shown".to_string());
    }
    Ok(Dataset {
        image: element.image(),
        calibration,
        metadata: Metadata {
            format: FORMAT,
            sample_type: element.samples.sample_type,
            channels: 1,
            notes,
            properties: Vec::new(),
        },
    })
}

/// The images of a series of images, decoded one element at a time: a frame series, each
/// frame's time from its tag (whole seconds, as TIA records them).
pub(super) struct Elements<'a> {
    series: Series<'a>,
    limits: Limits,
}

impl<'a> Elements<'a> {
    /// The images of `bytes`, within `limits`; `None` for a series of spectra.
    pub(super) fn open(bytes: &'a [u8], limits: &Limits) -> Result<Option<Self>, DecodeError> {
        let series = Series::parse(bytes)?;
        Ok((series.element_kind == IMAGES).then_some(Elements {
            series,
            limits: *limits,
        }))
    }

    /// How many images were recorded.
    pub(super) fn count(&self) -> usize {
        self.series.valid
    }

    /// Image `index` (from 0).
    pub(super) fn read(&self, index: usize) -> Result<Dataset, DecodeError> {
        image_element(&self.series, index, &self.limits)
    }

    /// Seconds from the first image to image `index`, where both tags record a time.
    pub(super) fn time_s(&self, index: usize) -> Option<f64> {
        let seconds = self.series.time(index)? - self.series.time(0)?;
        Some(seconds as f64)
    }
}

/// The header of a spectrum element and its values.
struct SpectrumElement<'a> {
    offset_ev: f64,
    delta_ev: f64,
    samples: Samples,
    channels: usize,
    data: &'a [u8],
}

impl<'a> SpectrumElement<'a> {
    fn parse(cursor: &mut Cursor<'a>) -> Result<SpectrumElement<'a>, DecodeError> {
        let (offset_ev, delta_ev) = axis_calibration(cursor)?;
        let samples = Samples::read(cursor)?;
        if samples.complex {
            return Err(unsupported("complex spectra"));
        }
        let channels = index(cursor, false)?;
        let data = samples.bytes(cursor, channels, || {
            corrupt(format!("a spectrum of {channels} channels"))
        })?;
        Ok(SpectrumElement {
            offset_ev,
            delta_ev,
            samples,
            channels,
            data,
        })
    }

    fn axis(&self) -> Result<EnergyAxis, DecodeError> {
        EnergyAxis::in_unit(self.offset_ev, self.delta_ev, "eV", self.channels)
            .filter(|_| self.delta_ev.is_finite() && self.delta_ev > 0.0 && self.channels > 0)
            .ok_or_else(|| corrupt("a spectrum without a valid energy axis"))
    }

    /// The values as a dense cube of one pixel.
    fn cube(&self) -> Result<DenseCube<'a>, DecodeError> {
        DenseCube::new(
            self.data,
            self.samples.format,
            [1, 1, self.channels],
            [0, 0, 1],
        )
        .ok_or_else(|| corrupt("an empty spectrum"))
    }
}

fn read_spectra(
    series: &Series,
    options: &ReadOptions,
    emi: Option<EmiFacts>,
) -> Result<SpectralFile, DecodeError> {
    let emi = emi.unwrap_or_default();
    let scan: Vec<&Dimension> = series.dimensions.iter().filter(|d| d.size > 1).collect();
    match (series.valid, scan.as_slice()) {
        (0, _) => Err(corrupt("no spectrum was recorded")),
        (_, [x, y]) => spectrum_image(series, (x, y), options, emi),
        (1, _) => single_spectrum(series, emi),
        (count, _) => Err(unsupported(format!(
            "it holds a line scan or a list of {count} spectra, not a spectrum image"
        ))),
    }
}

fn single_spectrum(series: &Series, emi: EmiFacts) -> Result<SpectralFile, DecodeError> {
    let element = SpectrumElement::parse(&mut series.element(0)?)?;
    let spectrum = Spectrum {
        axis: element.axis()?,
        counts: element.cube()?.spectrum(0, 0),
    };
    Ok(SpectralFile {
        format: FORMAT,
        map: None,
        spectrum: Some(spectrum),
        images: Vec::new(),
        notes: emi.note.into_iter().collect(),
    })
}

/// The spectra of a scan, element `i` at pixel (`i % width`, `i / width`) as TIA scans row by
/// row; pixels the acquisition did not reach hold no counts.
fn spectrum_image(
    series: &Series,
    (x, y): (&Dimension, &Dimension),
    options: &ReadOptions,
    emi: EmiFacts,
) -> Result<SpectralFile, DecodeError> {
    let bin = options.bin;
    let (width, height) = (x.size, y.size);
    options.limits.check_image(width, height)?;
    if series.valid > width * height {
        return Err(corrupt(format!(
            "{} spectra for a {width} × {height} scan",
            series.valid
        )));
    }
    let first = SpectrumElement::parse(&mut series.element(0)?)?;
    let axis = first.axis()?;
    let refused = |error: crate::spectra::SpectrumError| unsupported(error.to_string());
    let mut builder = SpectrumImageBuilder::new(width, height, axis, bin).map_err(refused)?;
    for index in 0..width * height {
        if index >= series.valid {
            builder.push_sparse([]).map_err(refused)?;
            continue;
        }
        let element = SpectrumElement::parse(&mut series.element(index)?)?;
        if element.channels != first.channels {
            return Err(corrupt(
                "spectra of different lengths in one spectrum image",
            ));
        }
        let cube = element.cube()?;
        let survey = cube.survey();
        if survey.fractional > 0 || survey.negative > 0 {
            return Err(unsupported(
                "its spectrum image holds intensities, not counts, as EELS does; Chipscope's \
                 spectral tools work on EDS counts",
            ));
        }
        let counts = cube.spectrum(0, 0).into_iter().map(|v| v as u64);
        builder
            .push_sparse(counts.enumerate().filter(|&(_, n)| n > 0))
            .map_err(refused)?;
    }
    let calibration = (x.unit == "meters" && y.unit == "meters")
        .then(|| pixel_calibration(x.delta, y.delta).ok())
        .flatten();
    let map = builder.finish(calibration, emi.beam_kv).map_err(refused)?;
    let mut notes: Vec<String> = series.stopped_note("spectra").into_iter().collect();
    notes.extend(emi.note);
    if bin > 1 {
        notes.push(format!("energy channels binned by {bin}"));
    }
    Ok(SpectralFile {
        format: FORMAT,
        map: Some(map),
        spectrum: None,
        images: Vec::new(),
        notes,
    })
}

/// What a `.emi` block says about the acquisition.
#[derive(Debug, Default)]
struct EmiFacts {
    properties: Vec<(String, String)>,
    beam_kv: Option<f64>,
    /// Why the metadata could not be used, when they could not.
    note: Option<String>,
}

impl EmiFacts {
    /// The facts of the `.emi` block that belongs to the `.ser` file `ser_name`.
    fn for_ser(ser_name: &str, emi: &[u8]) -> EmiFacts {
        let index = emi_name(ser_name).map_or(0, |(_, index)| index);
        Self::parse(emi, index)
    }

    /// The facts of block `index` of an `.emi` file's XML metadata.
    fn parse(emi: &[u8], index: usize) -> EmiFacts {
        match object_info(emi, index).and_then(|xml| Self::from_xml(&xml)) {
            Some(facts) => facts,
            None => EmiFacts {
                note: Some(format!(
                    "the .emi file holds no readable metadata for series {}; only the .ser's \
                     own header was read",
                    index + 1
                )),
                ..EmiFacts::default()
            },
        }
    }

    fn from_xml(xml: &str) -> Option<EmiFacts> {
        let document = roxmltree::Document::parse(xml).ok()?;
        let mut facts = EmiFacts::default();
        for data in document.descendants().filter(|n| n.has_tag_name("Data")) {
            let field = |name: &str| {
                data.children()
                    .find(|n| n.has_tag_name(name))
                    .and_then(|n| n.text())
                    .map(str::trim)
                    .unwrap_or_default()
            };
            facts.add(field("Label"), field("Value"), field("Unit"));
        }
        if let Some(date) = document
            .descendants()
            .find(|n| n.has_tag_name("AcquireDate"))
            .and_then(|n| n.text())
        {
            facts.push("acquisition date", date.trim().to_string());
        }
        const ORDER: [&str; 5] = [
            "acceleration voltage",
            "magnification",
            "mode",
            "microscope",
            "acquisition date",
        ];
        facts
            .properties
            .sort_by_key(|(name, _)| ORDER.iter().position(|known| known == name));
        Some(facts)
    }

    fn add(&mut self, label: &str, value: &str, unit: &str) {
        match label {
            "High tension" => {
                let kv = value.parse::<f64>().ok().filter(|kv| *kv > 0.0);
                if let Some(kv) = kv.filter(|_| unit == "kV") {
                    self.beam_kv = Some(kv);
                    self.properties.push(voltage_property(kv));
                }
            }
            "Magnification" if !value.is_empty() => self.push("magnification", format!("{value}×")),
            "Microscope" if !value.is_empty() => {
                let name = value.trim_start_matches("Microscope ");
                self.push("microscope", name.to_string())
            }
            "Mode" if !value.is_empty() => self.push("mode", value.to_string()),
            _ => {}
        }
    }

    fn push(&mut self, name: &str, value: String) {
        self.properties.push((name.to_string(), value));
    }
}

/// The text of the `index`-th `<ObjectInfo>…</ObjectInfo>` block.
fn object_info(emi: &[u8], index: usize) -> Option<String> {
    const OPEN: &[u8] = b"<ObjectInfo>";
    const CLOSE: &[u8] = b"</ObjectInfo>";
    let mut rest = emi;
    for block in 0.. {
        let start = find(rest, OPEN)?;
        let len = find(&rest[start..], CLOSE)? + CLOSE.len();
        if block == index {
            return Some(String::from_utf8_lossy(&rest[start..start + len]).into_owned());
        }
        rest = &rest[start + len..];
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::series::Series as FrameSeries;

    /// A version-0x0210 series of `elements`, each given as its bytes, of the `total` planned,
    /// with `dims` sizes: the tables of data and tag offsets (one entry per planned element),
    /// the elements' time tags (element `i` at 1000 + 2 `i` s), then the elements.
    fn series(kind: u32, dims: &[usize], total: usize, elements: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend(0x0210u16.to_le_bytes());
        bytes.extend(kind.to_le_bytes());
        bytes.extend(TIME_TAG.to_le_bytes());
        bytes.extend((total as u32).to_le_bytes());
        bytes.extend((elements.len() as u32).to_le_bytes());
        let table_at = bytes.len();
        bytes.extend(0u32.to_le_bytes());
        bytes.extend((dims.len() as u32).to_le_bytes());
        for &size in dims {
            bytes.extend((size as u32).to_le_bytes());
            bytes.extend(0f64.to_le_bytes());
            bytes.extend(2e-9f64.to_le_bytes());
            bytes.extend(0u32.to_le_bytes());
            bytes.extend(0u32.to_le_bytes());
            bytes.extend(6u32.to_le_bytes());
            bytes.extend(b"meters");
        }
        let table = bytes.len();
        bytes[table_at..table_at + 4].copy_from_slice(&(table as u32).to_le_bytes());
        let planned = total.max(elements.len());
        let tags = table + 8 * planned;
        let mut at = tags + 8 * elements.len();
        let mut data_offsets = vec![0u32; planned];
        let mut tag_offsets = vec![0u32; planned];
        for (i, element) in elements.iter().enumerate() {
            data_offsets[i] = at as u32;
            tag_offsets[i] = (tags + 8 * i) as u32;
            at += element.len();
        }
        for offset in data_offsets.into_iter().chain(tag_offsets) {
            bytes.extend(offset.to_le_bytes());
        }
        for i in 0..elements.len() {
            bytes.extend((TIME_TAG as u16).to_le_bytes());
            bytes.extend(0u16.to_le_bytes());
            bytes.extend((1000 + 2 * i as u32).to_le_bytes());
        }
        elements.iter().for_each(|e| bytes.extend(e));
        bytes
    }

    /// An image element of u16 pixels, stored bottom row first.
    fn image_element(width: u32, height: u32, delta: f64, rows_bottom_first: &[u16]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for _ in 0..2 {
            bytes.extend(0f64.to_le_bytes());
            bytes.extend(delta.to_le_bytes());
            bytes.extend(0u32.to_le_bytes());
        }
        bytes.extend(2u16.to_le_bytes());
        bytes.extend(width.to_le_bytes());
        bytes.extend(height.to_le_bytes());
        rows_bottom_first
            .iter()
            .for_each(|v| bytes.extend(v.to_le_bytes()));
        bytes
    }

    fn spectrum_element(counts: &[i32]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend(0f64.to_le_bytes());
        bytes.extend(10f64.to_le_bytes());
        bytes.extend(0u32.to_le_bytes());
        bytes.extend(6u16.to_le_bytes());
        bytes.extend((counts.len() as u32).to_le_bytes());
        counts.iter().for_each(|v| bytes.extend(v.to_le_bytes()));
        bytes
    }

    #[test]
    fn an_image_is_read_top_row_first_with_its_calibration() {
        let element = image_element(3, 2, 2e-10, &[4, 5, 6, 1, 2, 3]);
        let bytes = series(IMAGES, &[1], 1, &[element]);
        let dataset = TIA.read_image(&bytes).unwrap();
        assert_eq!(dataset.image.pixels(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(dataset.metadata.sample_type, SampleType::U16);
        let calibration = dataset.calibration.unwrap();
        assert!((calibration.pixel_size - 0.2).abs() < 1e-12);
        assert_eq!(calibration.unit, "nm");
    }

    #[test]
    fn a_frame_series_gives_its_first_frame_and_diffraction_no_length() {
        let frames = [
            image_element(1, 1, 1e8, &[7]),
            image_element(1, 1, 1e8, &[8]),
        ];
        let dataset = TIA.read_image(&series(IMAGES, &[3], 3, &frames)).unwrap();
        assert_eq!(dataset.image.pixels(), &[7.0]);
        assert_eq!(dataset.calibration, None);
        assert_eq!(
            dataset.metadata.notes,
            [
                "the file holds 2 images; the first was read",
                "the acquisition stopped after 2 of 3 images",
                "the calibration is in reciprocal space (a diffraction pattern), not a length; \
                 sizes are in pixels"
            ]
        );
    }

    #[test]
    fn an_image_series_is_a_frame_series_timed_by_its_tags() {
        let frames: Vec<Vec<u8>> = (7..10)
            .map(|v| image_element(2, 1, 1e-9, &[v, 2 * v]))
            .collect();
        // Five planned, three recorded: the tag table follows five data offsets.
        let mut bytes = series(IMAGES, &[5], 5, &frames);
        fn open(bytes: &[u8]) -> FrameSeries<'_> {
            FrameSeries::open(bytes, &Limits::default())
                .unwrap()
                .unwrap()
        }
        let mut frame_series = open(&bytes);
        assert_eq!((frame_series.len(), frame_series.frame_size()), (3, (2, 1)));
        for (k, v) in [7.0, 8.0, 9.0].into_iter().enumerate() {
            let frame = frame_series.frame(k).unwrap();
            assert_eq!(frame.image.pixels(), [v, 2.0 * v]);
            assert!((frame.calibration.unwrap().pixel_size - 1.0).abs() < 1e-9);
        }
        let times: Vec<_> = (0..3).map(|k| frame_series.time_s(k)).collect();
        assert_eq!(times, [Some(0.0), Some(2.0), Some(4.0)]);
        // A tag of another kind than the header names records no time.
        let tag_kind_at = bytes.len() - 3 * frames[0].len() - 8;
        bytes[tag_kind_at] ^= 1;
        assert_eq!(open(&bytes).time_s(2), None);
        let spectra = series(
            SPECTRA,
            &[2],
            2,
            &[spectrum_element(&[1]), spectrum_element(&[2])],
        );
        assert!(
            FrameSeries::open(&spectra, &Limits::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn spectra_on_a_scan_are_a_spectrum_image() {
        let pixels: Vec<Vec<u8>> = (0..6).map(|i| spectrum_element(&[i, 0, 2])).collect();
        let bytes = series(SPECTRA, &[3, 2], 6, &pixels);
        assert!(TIA.offers(&bytes, Select::Spectra));
        let file = TIA.read_spectra(&bytes, 1).unwrap();
        let map = file.map.unwrap();
        assert_eq!((map.width, map.height, map.axis.channels), (3, 2, 3));
        assert_eq!(map.pixel(2, 1).collect::<Vec<_>>(), [(0, 5), (2, 2)]);
        assert!((map.axis.scale_kev - 0.01).abs() < 1e-12);
        assert!((map.calibration.unwrap().pixel_size - 2.0).abs() < 1e-9);
        let survey = TIA.read_image(&bytes).unwrap();
        assert_eq!(survey.image.get(2, 1), 7.0, "the X-ray counts per pixel");
        let images = series(IMAGES, &[1], 1, &[image_element(1, 1, 1e-9, &[7])]);
        assert!(!TIA.offers(&images, Select::Spectra));
        let error = TIA.read_spectra(&images, 1).unwrap_err().to_string();
        assert!(error.contains("it holds images, not spectra"), "{error}");
    }

    #[test]
    fn negative_counts_and_line_scans_are_refused() {
        let pixels: Vec<Vec<u8>> = (0..4).map(|_| spectrum_element(&[-1, 2])).collect();
        let error = TIA
            .read_spectra(&series(SPECTRA, &[2, 2], 4, &pixels), 1)
            .unwrap_err();
        assert!(error.to_string().contains("intensities, not counts"));
        let line = series(SPECTRA, &[4], 4, &pixels);
        let error = TIA.read_spectra(&line, 1).unwrap_err();
        assert!(error.to_string().contains("line scan"), "{error}");
    }

    #[test]
    fn damaged_files_are_errors_never_panics() {
        let element = image_element(3, 2, 2e-10, &[4, 5, 6, 1, 2, 3]);
        let bytes = series(IMAGES, &[1], 1, &[element]);
        for cut in 0..bytes.len() {
            assert!(TIA.read_image(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = bytes.clone();
        huge[14..18].copy_from_slice(&u32::MAX.to_le_bytes());
        huge[18..22].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(TIA.read_image(&huge).is_err());
    }

    #[test]
    fn emi_names_and_facts() {
        assert_eq!(emi_name("scan_2.ser"), Some(("scan.emi".into(), 1)));
        assert_eq!(emi_name("scan.ser"), None);
        let emi = b"\0\0<ObjectInfo><a/></ObjectInfo>junk<ObjectInfo><ExperimentalDescription>\
            <Root><Data><Label>High tension</Label><Value>300</Value><Unit>kV</Unit></Data>\
            <Data><Label>Microscope</Label><Value>Microscope Titan</Value><Unit></Unit></Data>\
            </Root></ExperimentalDescription><AcquireDate>Thu Jan 01 2015</AcquireDate>\
            </ObjectInfo>";
        assert!(is_emi(emi));
        let facts = EmiFacts::parse(emi, 1);
        assert_eq!(facts.beam_kv, Some(300.0));
        assert_eq!(
            facts.properties,
            [
                voltage_property(300.0),
                ("microscope".to_string(), "Titan".to_string()),
                (
                    "acquisition date".to_string(),
                    "Thu Jan 01 2015".to_string()
                )
            ]
        );
        assert!(EmiFacts::parse(emi, 5).note.is_some());
    }
}
