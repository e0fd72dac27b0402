//! Thermo Fisher (FEI) Velox EMD: an HDF5 file whose `/Data` group holds one subgroup per
//! item, each named by a UUID: the scanned images (`Image/<id>/Data`, height × width × frame)
//! and the EDS spectrum streams (`SpectrumStream/<id>/Data`), every item with its metadata as
//! JSON text (`Metadata`, a byte matrix whose column `k` is the JSON of frame `k`).
//!
//! A spectrum stream is a list of 16-bit values: each is the channel of one detected X-ray,
//! and the value 65 535 closes the current pixel; pixels run in row-major order, frame after
//! frame. The raster is the images' (the stream's own `AcquisitionSettings` may name another
//! one), the frame count is `SpectrumImageSettings`' `endFramePosition`, the channel count the
//! stream's `bincount`, and the energy calibration that of the EDS detector its metadata names.
//! The map is built pixel after pixel with one cursor per frame (and per detector stream, when
//! a Super-X records one stream per quadrant): every frame and detector is summed, and nothing
//! but the streams and the sparse map is held.
//!
//! An image's first frame is shown; in a file without a spectrum image, every frame of the image
//! shown is a frame series (`Stack`, opened by [`super::series::Series`]).

use super::spectral::SpectralFile;
use super::{Contents, DecodeError, Holds, Limits, ReadOptions, Reader};
use crate::dataset::{
    Calibration, Dataset, Image, Metadata, SampleType, nanometres_per, significant,
    voltage_property,
};
use crate::spectra::{EnergyAxis, Spectrum, SpectrumError, SpectrumImage, SpectrumImageBuilder};
use hdf5_pure::{DType, File};
use serde_json::Value;
use std::collections::HashMap;

const FORMAT: &str = "Velox EMD";
const HDF5_SIGNATURE: &[u8] = b"\x89HDF\r\n\x1a\n";
/// The value that closes the current pixel in a spectrum stream.
const PIXEL_END: u16 = u16::MAX;

/// Reads Velox EMD files: the STEM images (HAADF, BF…) and the EDS spectrum image.
pub const VELOX_EMD: Reader = Reader::new(
    FORMAT,
    &["emd"],
    Holds::Both,
    recognises,
    |bytes, options| read(bytes, options).map(Contents::Spectral),
);

/// An HDF5 file naming Velox (its `/Application/Velox` group and `Version` record do).
fn recognises(bytes: &[u8]) -> bool {
    bytes.starts_with(HDF5_SIGNATURE) && bytes.windows(5).any(|w| w == b"Velox")
}

/// The images and the spectrum image (else the summed single spectra) of a Velox file.
fn read(bytes: &[u8], options: &ReadOptions) -> Result<SpectralFile, DecodeError> {
    let limits = &options.limits;
    let file = open_hdf5(bytes, FORMAT)?;
    let mut notes = Vec::new();
    let images = read_images(&file, limits, &mut notes)?;
    let raster = images
        .first()
        .map(|image| (image.data.width, image.data.height));
    let map = read_map(&file, raster, options, &mut notes)?;
    let spectrum = match map {
        Some(_) => None,
        None => read_spectra(&file, limits.max_bytes, &mut notes)?,
    };
    Ok(SpectralFile {
        format: FORMAT,
        map,
        spectrum,
        images: images
            .iter()
            .map(|image| Ok((image.name.clone(), image.first_frame()?)))
            .collect::<Result<_, DecodeError>>()?,
        notes,
    })
}

/// One `/Data/Image` item as read: its name, its path and metadata (the first frame's), and its
/// values.
struct VeloxImage {
    name: String,
    item: String,
    metadata: Value,
    data: ImageData,
}

/// The values of every frame of an image, stored height × width × frame.
struct ImageData {
    values: Vec<f32>,
    width: usize,
    height: usize,
    frames: usize,
    sample_type: SampleType,
}

impl VeloxImage {
    /// Frame `index` (from 0), with the item's calibration and properties.
    fn frame(&self, index: usize) -> Result<Dataset, DecodeError> {
        let data = &self.data;
        if index >= data.frames {
            return Err(corrupt(format!(
                "there is no frame {} of {}",
                index + 1,
                data.frames
            )));
        }
        let pixels = data.values[index..]
            .iter()
            .step_by(data.frames)
            .copied()
            .collect();
        let (calibration, calibration_note) = pixel_size(&self.metadata);
        let properties = beam_kv(&self.metadata)
            .map(voltage_property)
            .into_iter()
            .chain(
                text(&self.metadata, &["Instrument", "InstrumentClass"])
                    .map(|class| ("microscope".to_string(), class.to_string())),
            )
            .collect();
        Ok(Dataset {
            image: Image::new(data.width, data.height, pixels),
            calibration,
            metadata: Metadata {
                format: FORMAT,
                sample_type: data.sample_type,
                channels: 1,
                notes: calibration_note.into_iter().collect(),
                properties,
            },
        })
    }

    /// The first frame, with a note when there are more.
    fn first_frame(&self) -> Result<Dataset, DecodeError> {
        let mut dataset = self.frame(0)?;
        if self.data.frames > 1 {
            let note = format!("frame 1 of {} shown", self.data.frames);
            dataset.metadata.notes.insert(0, note);
        }
        Ok(dataset)
    }
}

/// The frames of a Velox image series: every frame of the image [`open`](super::open) shows
/// (the HAADF, else the first; see [`SpectralFile::survey`]), in a file without a spectrum
/// image (whose images are its survey: rosettasciio also reads their first frame only).
///
/// Velox stores an image height × width × frame and hdf5-pure reads an array whole or by rows
/// of its first axis, so a frame cannot be read alone: the image is read whole, once, within
/// [`Limits::max_bytes`], and each frame is cut from it when asked for. A frame's time is its
/// detector's `TimeStamp` (µs) in its own column of the metadata, where every frame has one.
pub(super) struct Stack {
    image: VeloxImage,
    times_s: Option<Vec<f64>>,
}

impl Stack {
    /// The frames of the image `bytes` show, within `limits`; `None` for a file with a
    /// spectrum image or without an image.
    pub(super) fn open(bytes: &[u8], limits: &Limits) -> Result<Option<Self>, DecodeError> {
        let file = open_hdf5(bytes, FORMAT)?;
        if !subgroups(&file, "Data/SpectrumImage")?.is_empty() {
            return Ok(None);
        }
        let images = read_images(&file, limits, &mut Vec::new())?;
        let shown = images
            .iter()
            .position(|image| image.name.contains("HAADF"))
            .unwrap_or(0);
        Ok(images
            .into_iter()
            .nth(shown)
            .map(|image| Self::new(&file, image)))
    }

    fn new(file: &File, image: VeloxImage) -> Self {
        let times_s = frame_times(file, &image);
        Stack { image, times_s }
    }

    /// How many frames there are.
    pub(super) fn count(&self) -> usize {
        self.image.data.frames
    }

    /// Frame `index` (from 0).
    pub(super) fn read(&self, index: usize) -> Result<Dataset, DecodeError> {
        self.image.frame(index)
    }

    /// Seconds from the first frame to frame `index`, where the metadata record them.
    pub(super) fn time_s(&self, index: usize) -> Option<f64> {
        self.times_s.as_ref()?.get(index).copied()
    }
}

/// Seconds after the first frame at which each frame of `image` was recorded: its detector's
/// `TimeStamp` (µs) in each frame's column of the metadata; `None` unless every frame has one.
fn frame_times(file: &File, image: &VeloxImage) -> Option<Vec<f64>> {
    let detector = text(&image.metadata, &["BinaryResult", "Detector"])?;
    let key = format!("Detectors[{detector}].TimeStamp");
    let (matrix, columns) = metadata_matrix(file, &image.item).ok()?;
    if columns < image.data.frames {
        return None;
    }
    let stamps: Vec<f64> = (0..image.data.frames)
        .map(|frame| {
            let json = column_json(&matrix, columns, frame).ok()?;
            number(&json, &["CustomProperties", &key, "value"])
        })
        .collect::<Option<_>>()?;
    Some(
        stamps
            .iter()
            .map(|stamp| (stamp - stamps[0]) / 1e6)
            .collect(),
    )
}

format_errors!(FORMAT);

fn hdf5_error(error: hdf5_pure::Error) -> DecodeError {
    corrupt(error.to_string())
}

fn spectrum_error(error: SpectrumError) -> DecodeError {
    match error {
        SpectrumError::TooManyChannels(_) => unsupported(error.to_string()),
        _ => corrupt(error.to_string()),
    }
}

/// The HDF5 file in `bytes` (copied: the HDF5 reader owns its buffer), refused as a damaged
/// `format` file when it is shorter than its superblock records. Both EMD flavours use it.
pub(super) fn open_hdf5(bytes: &[u8], format: &'static str) -> Result<File, DecodeError> {
    let damaged = |error: hdf5_pure::Error| DecodeError::corrupt(format, error.to_string());
    let file = File::from_bytes(bytes.to_vec()).map_err(damaged)?;
    let recorded = file.superblock().eof_address;
    if recorded > bytes.len() as u64 {
        let detail = format!("{} bytes of the {recorded} its header records", bytes.len());
        return Err(DecodeError::corrupt(format, detail));
    }
    Ok(file)
}

/// Most bytes a metadata dataset (JSON text, an axis vector) may hold when read whole.
pub(super) const METADATA_BYTES: usize = 16 << 20;

/// The dataset at `path` of a `format` file, refused unless its values, read whole, fit in
/// `max_bytes`: the HDF5 reader allocates what a dataset's shape and chunk shape declare before
/// reading a value, so a few altered header bytes could otherwise ask for terabytes (found by
/// fuzzing; scripts/fuzz.sh).
pub(super) fn bounded_dataset(
    file: &File,
    path: &str,
    max_bytes: usize,
    format: &'static str,
) -> Result<hdf5_pure::Dataset, DecodeError> {
    bounded_rows(file, path, u64::MAX, max_bytes, format)
}

/// The dataset at `path` of a `format` file, refused unless `rows` rows of its first axis (at
/// most all of them) and each of its chunks fit in `max_bytes`, as [`bounded_dataset`].
pub(super) fn bounded_rows(
    file: &File,
    path: &str,
    rows: u64,
    max_bytes: usize,
    format: &'static str,
) -> Result<hdf5_pure::Dataset, DecodeError> {
    let damaged = |error: hdf5_pure::Error| DecodeError::corrupt(format, error.to_string());
    let dataset = file.dataset(path).map_err(damaged)?;
    let element = dataset.element_size().map_err(damaged)?;
    let fits = |dims: &[u64]| {
        dims.iter()
            .try_fold(element, |bytes, &dim| bytes.checked_mul(dim))
            .is_some_and(|bytes| bytes <= max_bytes as u64)
    };
    let mut read = dataset.shape().map_err(damaged)?;
    if let Some(first) = read.first_mut() {
        *first = (*first).min(rows);
    }
    let chunk = dataset.chunk_shape().map_err(damaged)?;
    match fits(&read) && chunk.as_deref().is_none_or(fits) {
        true => Ok(dataset),
        false => Err(DecodeError::unsupported(
            format,
            format!(
                "{path} is larger than the {} MB Chipscope reads whole",
                max_bytes >> 20
            ),
        )),
    }
}

/// Names of the subgroups of `path`; none when the group is absent.
fn subgroups(file: &File, path: &str) -> Result<Vec<String>, DecodeError> {
    match file.group(path) {
        Ok(group) => group.groups().map_err(hdf5_error),
        Err(hdf5_pure::Error::Format(hdf5_pure::FormatError::PathNotFound(_))) => Ok(Vec::new()),
        Err(error) => Err(hdf5_error(error)),
    }
}

/// The JSON of an item's `Metadata` byte matrix: its first column, up to the first NUL.
fn metadata_json(file: &File, item: &str) -> Result<Value, DecodeError> {
    let (matrix, columns) = metadata_matrix(file, item)?;
    column_json(&matrix, columns, 0)
        .map_err(|e| corrupt(format!("{item}/Metadata is not JSON: {e}")))
}

/// An item's `Metadata` byte matrix (row-major) and its column count: one column per frame.
fn metadata_matrix(file: &File, item: &str) -> Result<(Vec<u8>, usize), DecodeError> {
    let dataset = bounded_dataset(file, &format!("{item}/Metadata"), METADATA_BYTES, FORMAT)?;
    let columns = match dataset.shape().map_err(hdf5_error)?[..] {
        [_, columns] => usize::try_from(columns).unwrap_or(0).max(1),
        _ => 1,
    };
    Ok((dataset.read_u8().map_err(hdf5_error)?, columns))
}

/// The JSON of column `column` of a metadata matrix of `columns` columns, up to its first NUL.
fn column_json(matrix: &[u8], columns: usize, column: usize) -> serde_json::Result<Value> {
    let text: Vec<u8> = matrix
        .iter()
        .skip(column)
        .step_by(columns)
        .copied()
        .take_while(|&b| b != 0)
        .collect();
    serde_json::from_slice(&text)
}

/// The JSON of a one-string dataset (`AcquisitionSettings`, `SpectrumImageSettings`).
fn text_json(file: &File, path: &str) -> Result<Value, DecodeError> {
    let strings = bounded_dataset(file, path, METADATA_BYTES, FORMAT)?
        .read_string()
        .map_err(hdf5_error)?;
    let text = strings
        .first()
        .ok_or_else(|| corrupt(format!("{path} is empty")))?;
    serde_json::from_str(text.trim_end_matches('\0'))
        .map_err(|e| corrupt(format!("{path} is not JSON: {e}")))
}

/// The number at `path` in Velox JSON, which writes numbers as strings ("5", "1.2e-009").
fn number(json: &Value, path: &[&str]) -> Option<f64> {
    let value = match path.iter().try_fold(json, |node, key| node.get(key))? {
        Value::String(text) => text.trim().parse().ok(),
        other => other.as_f64(),
    };
    value.filter(|v: &f64| v.is_finite())
}

/// The text at `path` in Velox JSON.
fn text<'a>(json: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(json, |node, key| node.get(key))?
        .as_str()
}

/// The pixel size of an item, in nm, from `BinaryResult`'s `PixelSize` and `PixelUnitX`; a
/// note when it is missing, not a length or not square.
fn pixel_size(metadata: &Value) -> (Option<Calibration>, Option<String>) {
    let result = |key| number(metadata, &["BinaryResult", "PixelSize", key]);
    let (Some(width), Some(height)) = (result("width"), result("height")) else {
        return (None, None);
    };
    let unit = text(metadata, &["BinaryResult", "PixelUnitX"]).unwrap_or("");
    let Some(nm) = nanometres_per(unit).filter(|_| width > 0.0) else {
        return (
            None,
            Some(format!(
                "calibrated in “{unit}”, not a length; sizes in pixels"
            )),
        );
    };
    if (width - height).abs() > 1e-6 * width {
        let (x, y) = (significant(width, 4), significant(height, 4));
        return (
            None,
            Some(format!(
                "pixels of {x} × {y} {unit}, not square; sizes in pixels"
            )),
        );
    }
    let calibration = Calibration {
        pixel_size: width * nm,
        unit: "nm".to_string(),
    };
    (Some(calibration), None)
}

/// Acceleration voltage, kV.
fn beam_kv(metadata: &Value) -> Option<f64> {
    number(metadata, &["Optics", "AccelerationVoltage"])
        .filter(|&v| v > 0.0)
        .map(|volts| volts / 1000.0)
}

/// Every readable `/Data/Image` item, named by its display label or else its detector; the
/// unreadable ones are noted.
fn read_images(
    file: &File,
    limits: &Limits,
    notes: &mut Vec<String>,
) -> Result<Vec<VeloxImage>, DecodeError> {
    let labels = display_labels(file);
    let mut images = Vec::new();
    for id in subgroups(file, "Data/Image")? {
        let item = format!("Data/Image/{id}");
        let metadata = metadata_json(file, &item)?;
        let name = labels
            .get(&id)
            .cloned()
            .or_else(|| detector_name(&metadata))
            .unwrap_or_else(|| format!("image {}", images.len() + 1));
        match read_image(file, &item, limits)? {
            Some(data) => images.push(VeloxImage {
                name,
                item,
                metadata,
                data,
            }),
            None => notes.push(format!("the {name} image is of a kind Chipscope skips")),
        }
    }
    Ok(images)
}

/// The labels Velox showed the images under ("DF4-A", "iDPC"…), by image id, from the
/// displays of `/Presentation/Displays/ImageDisplay` (files before Velox 11). Best effort:
/// whatever cannot be read there is left out.
fn display_labels(file: &File) -> HashMap<String, String> {
    let group = "Presentation/Displays/ImageDisplay";
    let displays = file
        .group(group)
        .and_then(|g| g.datasets())
        .unwrap_or_default();
    displays
        .iter()
        .filter_map(|display| {
            let json = text_json(file, &format!("{group}/{display}")).ok()?;
            let id = text(&json, &["dataPath"])?.rsplit('/').next()?.to_string();
            let label = text(&json, &["display", "label"]).filter(|l| !l.is_empty())?;
            Some((id, label.to_string()))
        })
        .collect()
}

/// The detector of an image: `BinaryResult.Detector`, else the detector its index names.
fn detector_name(metadata: &Value) -> Option<String> {
    let named = text(metadata, &["BinaryResult", "Detector"]).filter(|n| !n.is_empty());
    let indexed = || {
        let index = text(metadata, &["BinaryResult", "DetectorIndex"])?;
        text(
            metadata,
            &["Detectors", &format!("Detector-{index}"), "DetectorName"],
        )
    };
    named.or_else(indexed).map(str::to_string)
}

/// Every frame of an image item; `None` for what is not a grey image (FFTs, DPC pairs).
fn read_image(file: &File, item: &str, limits: &Limits) -> Result<Option<ImageData>, DecodeError> {
    let data = bounded_dataset(file, &format!("{item}/Data"), limits.max_bytes, FORMAT)?;
    let Some(sample_type) = sample_type(&data.dtype().map_err(hdf5_error)?) else {
        return Ok(None);
    };
    let shape = data.shape().map_err(hdf5_error)?;
    let [height, width, frames] = shape[..] else {
        return Ok(None);
    };
    let size = |n: u64| usize::try_from(n).map_err(|_| corrupt("implausible image size"));
    let (width, height, frames) = (size(width)?, size(height)?, size(frames)?.max(1));
    limits.check_image(width, height)?;
    let values = data.read_f32().map_err(hdf5_error)?;
    if Some(values.len()) != (width * height).checked_mul(frames) {
        return Err(corrupt(format!("{item}: data do not match their shape")));
    }
    Ok(Some(ImageData {
        values,
        width,
        height,
        frames,
        sample_type,
    }))
}

/// The sample type of an HDF5 array of real numbers; `None` for other arrays. Both EMD
/// flavours use it.
pub(super) fn sample_type(dtype: &DType) -> Option<SampleType> {
    Some(match dtype {
        DType::U8 => SampleType::U8,
        DType::U16 => SampleType::U16,
        DType::U32 => SampleType::U32,
        DType::U64 => SampleType::U64,
        DType::I8 => SampleType::I8,
        DType::I16 => SampleType::I16,
        DType::I32 => SampleType::I32,
        DType::I64 => SampleType::I64,
        DType::F32 => SampleType::F32,
        DType::F64 => SampleType::F64,
        _ => return None,
    })
}

/// The EDS spectrum image: every spectrum stream, all frames summed, on `raster` (the
/// images'); `None` when the file has no spectrum image.
fn read_map(
    file: &File,
    raster: Option<(usize, usize)>,
    options: &ReadOptions,
    notes: &mut Vec<String>,
) -> Result<Option<SpectrumImage>, DecodeError> {
    let bin = options.bin;
    let spectrum_images = subgroups(file, "Data/SpectrumImage")?;
    let streams = subgroups(file, "Data/SpectrumStream")?;
    let (Some(first_image), Some(first_stream)) = (spectrum_images.first(), streams.first()) else {
        return Ok(None);
    };
    let first_stream = format!("Data/SpectrumStream/{first_stream}");
    let settings = text_json(file, &format!("{first_stream}/AcquisitionSettings"))?;
    let (width, height) = match raster {
        Some(raster) => raster,
        None => scan_raster(&settings)?,
    };
    options.limits.check_image(width, height)?;
    let metadata = metadata_json(file, &first_stream)?;
    let axis = energy_axis(&settings, &metadata)?;
    let max_bytes = options.limits.max_bytes;
    let data: Vec<Vec<u16>> = streams
        .iter()
        .map(|id| {
            read_stream(
                file,
                &format!("Data/SpectrumStream/{id}"),
                axis.channels,
                max_bytes,
            )
        })
        .collect::<Result<_, _>>()?;
    let mut builder =
        SpectrumImageBuilder::new(width, height, axis, bin).map_err(spectrum_error)?;
    let frames = recorded_frames(file, first_image);
    let frames_read =
        add_summed_pixels(&mut builder, &data, width * height, frames).map_err(spectrum_error)?;
    notes.extend(map_notes(frames_read, streams.len(), bin));
    let calibration = pixel_size(&metadata).0;
    builder
        .finish(calibration, beam_kv(&metadata))
        .map(Some)
        .map_err(spectrum_error)
}

/// The frame count of a spectrum image (`endFramePosition`), when recorded.
fn recorded_frames(file: &File, spectrum_image: &str) -> Option<usize> {
    let path = format!("Data/SpectrumImage/{spectrum_image}/SpectrumImageSettings");
    let settings = text_json(file, &path).ok()?;
    number(&settings, &["endFramePosition"]).map(|frames| frames as usize)
}

/// Adds the `pixels` pixels of the map to `builder`, each summed over every frame of every
/// stream; returns the frames read per stream.
fn add_summed_pixels(
    builder: &mut SpectrumImageBuilder,
    streams: &[Vec<u16>],
    pixels: usize,
    frames: Option<usize>,
) -> Result<usize, SpectrumError> {
    let mut cursors: Vec<&[u16]> = streams
        .iter()
        .flat_map(|stream| split_frames(stream, pixels, frames))
        .collect();
    for _ in 0..pixels {
        let counts = cursors.iter_mut().flat_map(next_pixel);
        builder.push_sparse(counts.map(|&channel| (usize::from(channel), 1)))?;
    }
    Ok(cursors.len() / streams.len().max(1))
}

/// What was summed or binned to make the map.
fn map_notes(frames: usize, streams: usize, bin: usize) -> Vec<String> {
    let mut notes = Vec::new();
    if frames > 1 {
        notes.push(format!(
            "the {frames} frames of the spectrum image were summed"
        ));
    }
    if streams > 1 {
        notes.push(format!(
            "the spectrum streams of {streams} EDS detectors were summed"
        ));
    }
    if bin > 1 {
        notes.push(format!("energy channels binned by {bin}"));
    }
    notes
}

/// The raster named by a stream's `AcquisitionSettings`, for a file without images.
fn scan_raster(settings: &Value) -> Result<(usize, usize), DecodeError> {
    let size = |key| number(settings, &["RasterScanDefinition", key]).map(|n| n as usize);
    size("Width")
        .zip(size("Height"))
        .ok_or_else(|| corrupt("the size of the spectrum image is not recorded"))
}

/// The channels (`bincount`) and the calibration of the EDS detector the stream's metadata
/// names (`BinaryResult.Detector`, e.g. "SuperXG2", a prefix of each quadrant's name).
fn energy_axis(settings: &Value, metadata: &Value) -> Result<EnergyAxis, DecodeError> {
    let channels = number(settings, &["bincount"])
        .filter(|&n| n >= 1.0)
        .ok_or_else(|| corrupt("the stream's channel count is missing"))?
        as usize;
    let detector = text(metadata, &["BinaryResult", "Detector"]).unwrap_or("");
    let calibrated = metadata
        .get("Detectors")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|detectors| detectors.values())
        .filter(|d| text(d, &["DetectorName"]).is_some_and(|name| name.contains(detector)))
        .find_map(|d| Some((number(d, &["Dispersion"])?, number(d, &["OffsetEnergy"])?)));
    let (dispersion_ev, offset_ev) = calibrated
        .filter(|&(dispersion, _)| dispersion > 0.0)
        .ok_or_else(|| unsupported(format!("no energy calibration for detector “{detector}”")))?;
    Ok(EnergyAxis {
        offset_kev: offset_ev / 1000.0,
        scale_kev: dispersion_ev / 1000.0,
        channels,
    })
}

/// The values of one spectrum stream, checked to be 16-bit and to share the map's channels.
fn read_stream(
    file: &File,
    item: &str,
    channels: usize,
    max_bytes: usize,
) -> Result<Vec<u16>, DecodeError> {
    let settings = text_json(file, &format!("{item}/AcquisitionSettings"))?;
    if number(&settings, &["bincount"]) != Some(channels as f64) {
        return Err(unsupported(
            "EDS detector streams with different channel counts",
        ));
    }
    let data = bounded_dataset(file, &format!("{item}/Data"), max_bytes, FORMAT)?;
    match data.dtype().map_err(hdf5_error)? {
        DType::U16 => data.read_u16().map_err(hdf5_error),
        other => Err(unsupported(format!("a spectrum stream of {other} values"))),
    }
}

/// Cuts a spectrum stream into its frames, each `pixels` pixels closed by [`PIXEL_END`]; a last
/// incomplete frame is kept. `frames`, when the file records it, caps the count (values after
/// the last frame are ignored); without it, a tail holding no closed pixel is dropped.
fn split_frames(stream: &[u16], pixels: usize, frames: Option<usize>) -> Vec<&[u16]> {
    let mut parts = Vec::new();
    let (mut start, mut closed) = (0, 0);
    for (index, _) in stream.iter().enumerate().filter(|(_, v)| **v == PIXEL_END) {
        closed += 1;
        if closed % pixels == 0 {
            parts.push(&stream[start..=index]);
            start = index + 1;
        }
    }
    if start < stream.len() {
        parts.push(&stream[start..]);
    }
    parts.truncate(frames.unwrap_or(closed.div_ceil(pixels)));
    parts
}

/// The channels counted in the next pixel of a frame, advancing the frame past that pixel.
fn next_pixel<'a>(frame: &mut &'a [u16]) -> &'a [u16] {
    let rest: &'a [u16] = frame;
    match rest.iter().position(|&v| v == PIXEL_END) {
        Some(end) => {
            *frame = &rest[end + 1..];
            &rest[..end]
        }
        None => {
            *frame = &[];
            rest
        }
    }
}

/// The single spectra of `/Data/Spectrum` (one per EDS detector), summed; for files without
/// a spectrum image.
fn read_spectra(
    file: &File,
    max_bytes: usize,
    notes: &mut Vec<String>,
) -> Result<Option<Spectrum>, DecodeError> {
    let ids = subgroups(file, "Data/Spectrum")?;
    let mut sum: Option<Spectrum> = None;
    for id in &ids {
        let item = format!("Data/Spectrum/{id}");
        let metadata = metadata_json(file, &item)?;
        let counts = bounded_dataset(file, &format!("{item}/Data"), max_bytes, FORMAT)?
            .read_f64()
            .map_err(hdf5_error)?;
        let settings = serde_json::json!({ "bincount": counts.len().to_string() });
        let axis = energy_axis(&settings, &metadata)?;
        match &mut sum {
            Some(total) if total.axis == axis => {
                total
                    .counts
                    .iter_mut()
                    .zip(&counts)
                    .for_each(|(t, c)| *t += c);
            }
            Some(_) => return Err(unsupported("single spectra on different energy axes")),
            None => sum = Some(Spectrum { axis, counts }),
        }
    }
    if ids.len() > 1 {
        notes.push(format!(
            "the spectra of {} EDS detectors were summed",
            ids.len()
        ));
    }
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::series::Series;
    use hdf5_pure::{FileBuilder, GroupBuilder};

    const END: u16 = PIXEL_END;

    #[test]
    fn streams_split_into_frames_of_closed_pixels() {
        // Two pixels a frame: frame 0 = [5 | 7 7], frame 1 = [| 9], then a stray tail.
        let stream = [5, END, 7, 7, END, END, 9, END, 3];
        let frames = split_frames(&stream, 2, None);
        assert_eq!(frames, [&[5, END, 7, 7, END][..], &[END, 9, END][..]]);
        assert_eq!(split_frames(&stream, 2, Some(1)).len(), 1);
        assert_eq!(split_frames(&stream, 2, Some(5)).len(), 3);
        // An unfinished last frame is kept.
        assert_eq!(split_frames(&[1, END, 2], 2, None), [&[1, END, 2][..]]);
    }

    #[test]
    fn pixels_are_read_one_after_another() {
        let stream = [5, END, END, 7, 8];
        let mut frame = &stream[..];
        assert_eq!(next_pixel(&mut frame), [5]);
        assert_eq!(next_pixel(&mut frame), [] as [u16; 0]);
        assert_eq!(next_pixel(&mut frame), [7, 8]);
        assert!(frame.is_empty());
        assert_eq!(next_pixel(&mut frame), [] as [u16; 0]);
    }

    #[test]
    fn frames_and_detector_streams_add_up_per_pixel() {
        let axis = EnergyAxis {
            offset_kev: 0.0,
            scale_kev: 0.01,
            channels: 4,
        };
        // Two pixels, two frames per stream; the second stream's last pixel is unclosed.
        let streams = [
            vec![1, END, 2, 2, END, 3, END, END],
            vec![END, 0, END, 1, END, 3],
        ];
        let mut builder = SpectrumImageBuilder::new(2, 1, axis, 1).unwrap();
        assert_eq!(add_summed_pixels(&mut builder, &streams, 2, None), Ok(2));
        let map = builder.finish(None, None).unwrap();
        assert_eq!(map.pixel(0, 0).collect::<Vec<_>>(), [(1, 2), (3, 1)]);
        assert_eq!(
            map.pixel(1, 0).collect::<Vec<_>>(),
            [(0, 1), (2, 2), (3, 1)]
        );
    }

    #[test]
    fn velox_numbers_are_strings() {
        let json: Value = serde_json::from_str(
            r#"{"BinaryResult": {"PixelSize": {"width": "1.5e-009", "height": "1.5e-009"},
                "PixelUnitX": "m", "Detector": "HAADF"}, "Optics": {"AccelerationVoltage": 200000}}"#,
        )
        .unwrap();
        let (calibration, note) = pixel_size(&json);
        let calibration = calibration.unwrap();
        assert!((calibration.pixel_size - 1.5).abs() < 1e-12 && note.is_none());
        assert_eq!(calibration.unit, "nm");
        assert_eq!(beam_kv(&json), Some(200.0));
        assert_eq!(detector_name(&json).as_deref(), Some("HAADF"));
    }

    #[test]
    fn the_energy_axis_comes_from_the_named_detector() {
        let settings = serde_json::json!({ "bincount": "4096" });
        let metadata = serde_json::json!({
            "BinaryResult": { "Detector": "SuperXG2" },
            "Detectors": {
                "Detector-0": { "DetectorName": "HAADF" },
                "Detector-1": { "DetectorName": "SuperXG21", "Dispersion": "5", "OffsetEnergy": "-1000" }
            }
        });
        let axis = energy_axis(&settings, &metadata).unwrap();
        assert_eq!(axis.channels, 4096);
        assert!((axis.scale_kev - 0.005).abs() < 1e-12 && (axis.offset_kev + 1.0).abs() < 1e-12);
        let unnamed = serde_json::json!({ "BinaryResult": { "Detector": "Other" } });
        assert!(matches!(
            energy_axis(&settings, &unnamed),
            Err(DecodeError::Unsupported { .. })
        ));
    }

    /// Image item `index` of [`velox`]: 2 × 1 pixels × 3 frames, pixel x of frame k holding
    /// 100 `index` + 10 k + x, its metadata naming `detector` and, unless it is "BF", each
    /// frame's `TimeStamp`: 1 000 000 + 250 000 k µs.
    fn image_item(images: &mut GroupBuilder, index: u16, detector: &str) {
        let mut item = images.create_group(&format!("id{index}"));
        let values: Vec<u16> = (0..2)
            .flat_map(|x| (0..3).map(move |k| 100 * index + 10 * k + x))
            .collect();
        item.create_dataset("Data")
            .with_u16_data(&values)
            .with_shape(&[1, 2, 3]);
        let stamp = |k: u32| match detector {
            "BF" => String::new(),
            _ => format!(
                r#","CustomProperties":{{"Detectors[{detector}].TimeStamp":{{"value":"{}"}}}}"#,
                1_000_000 + 250_000 * k
            ),
        };
        let columns: Vec<String> = (0..3)
            .map(|k| {
                format!(
                    r#"{{"BinaryResult":{{"Detector":"{detector}"}}{}}}"#,
                    stamp(k)
                )
            })
            .collect();
        let rows = columns.iter().map(String::len).max().unwrap_or(0) + 1;
        let mut matrix = vec![0u8; rows * 3];
        for (k, column) in columns.iter().enumerate() {
            column
                .bytes()
                .enumerate()
                .for_each(|(row, b)| matrix[row * 3 + k] = b);
        }
        item.create_dataset("Metadata")
            .with_u8_data(&matrix)
            .with_shape(&[rows as u64, 3]);
        images.add_group(item.finish());
    }

    /// A Velox file (a group names Velox) of an image item per detector (see [`image_item`]),
    /// with a `SpectrumImage` group when `spectrum_image`.
    fn velox(detectors: &[&str], spectrum_image: bool) -> Vec<u8> {
        let mut file = FileBuilder::new();
        let application = file.create_group("Velox").finish();
        file.add_group(application);
        let mut data = file.create_group("Data");
        let mut images = data.create_group("Image");
        for (index, detector) in (0..).zip(detectors) {
            image_item(&mut images, index, detector);
        }
        data.add_group(images.finish());
        if spectrum_image {
            let mut maps = data.create_group("SpectrumImage");
            let mut map = maps.create_group("map");
            map.create_dataset("Data").with_u8_data(&[0]);
            maps.add_group(map.finish());
            data.add_group(maps.finish());
        }
        file.add_group(data.finish());
        file.finish().unwrap()
    }

    #[test]
    fn the_haadf_image_series_gives_every_frame_with_its_time() {
        let bytes = velox(&["BF", "HAADF"], false);
        assert!(VELOX_EMD.recognises(&bytes));
        let mut series = Series::open(&bytes, &Limits::default()).unwrap().unwrap();
        assert_eq!((series.len(), series.frame_size()), (3, (2, 1)));
        assert_eq!(series.frame(2).unwrap().image.pixels(), [120.0, 121.0]);
        assert_eq!(series.frame(0).unwrap().image.pixels(), [100.0, 101.0]);
        assert_eq!(series.time_s(2), Some(0.5));
        let shown = crate::formats::decode("s.emd", &bytes).unwrap();
        assert_eq!(shown.image.pixels(), [100.0, 101.0]);
        assert_eq!(shown.metadata.notes[0], "frame 1 of 3 shown");
        // Without time stamps, no times; with a spectrum image, no series.
        let untimed = velox(&["BF"], false);
        let series = Series::open(&untimed, &Limits::default()).unwrap().unwrap();
        assert_eq!(series.time_s(1), None);
        let mapped = velox(&["HAADF"], true);
        assert!(Series::open(&mapped, &Limits::default()).unwrap().is_none());
    }

    #[test]
    fn only_hdf5_files_naming_velox_are_recognised() {
        let mut bytes = HDF5_SIGNATURE.to_vec();
        bytes.extend_from_slice(b"\0\0Application\0Velox\0");
        assert!(VELOX_EMD.recognises(&bytes));
        assert!(!VELOX_EMD.recognises(&bytes[..12]));
        assert!(!VELOX_EMD.recognises(b"II*\0Velox"));
    }
}
