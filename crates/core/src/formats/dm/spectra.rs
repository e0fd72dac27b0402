//! Gatan DigitalMicrograph spectra and spectrum images (DM3, DM4), read from the tag tree. A
//! 1-D image is a spectrum; a 3-D image with an energy axis (or tagged as a spectrum image), or a
//! 2-D line scan tagged as one, is a spectrum image, streamed pixel by pixel from the file's dense cube into the sparse map. Maps must hold whole
//! non-negative counts (EDS); EELS or cathodoluminescence intensities are refused with a reason.

use super::tags::{DmFile, Tag};
use crate::dataset::{Calibration, Dataset, normalise_unit};
use crate::formats::samples::{DenseCube, SampleFormat, SampleKind};
use crate::formats::spectral::SpectralFile;
use crate::formats::{DecodeError, ReadOptions};
use crate::spectra::{EnergyAxis, Spectrum, SpectrumImage};

/// The format named in messages about spectra, and in the spectral files read.
const FORMAT: &str = "DigitalMicrograph spectrum";

/// Whether the file holds a spectrum image, or its main image is a spectrum (files of 2-D
/// images hold none).
pub(super) fn holds_spectra(file: &DmFile<'_>) -> bool {
    choose(&non_thumbnail_images(file)).is_some()
}

/// Whether the ImageList entry `image` is a spectrum or spectrum image, not an image or an
/// image stack.
pub(super) fn is_spectral(file: &DmFile<'_>, image: &Tag) -> bool {
    DmImage::new(file, image).is_some_and(|image| image.shape().is_some())
}

/// The spectrum image (else the spectrum) of the file, with its other 2-D images.
pub(super) fn read(file: &DmFile<'_>, options: &ReadOptions) -> Result<SpectralFile, DecodeError> {
    let images = non_thumbnail_images(file);
    let (chosen, shape) = choose(&images)
        .ok_or_else(|| unsupported("the file holds no spectrum or spectrum image".to_string()))?;
    let mut spectral = match shape {
        Shape::Spectrum => read_spectrum(file, chosen)?,
        Shape::Map { energy_dim } => read_map(file, chosen, energy_dim, options.bin)?,
    };
    let (companions, notes) = companion_images(file, &images, chosen);
    spectral.images = companions;
    spectral.notes.extend(notes);
    Ok(spectral)
}

format_errors!(FORMAT);

/// Calibration of one dimension: value of index `i` is `(i - origin) × scale`, in `unit`.
#[derive(Clone, Debug, PartialEq)]
struct AxisCalibration {
    origin: f64,
    scale: f64,
    unit: String,
}

/// An image of the file's ImageList, with its dimensions (fastest first) and their calibrations.
struct DmImage<'t> {
    tag: &'t Tag,
    data: &'t Tag,
    dims: Vec<usize>,
    axes: Vec<AxisCalibration>,
    tagged_spectrum_image: bool,
}

/// What an image is to the spectral reader.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Spectrum,
    /// A spectrum image whose channels run along dimension `energy_dim`.
    Map {
        energy_dim: usize,
    },
}

/// The images of the file, thumbnails left out.
fn non_thumbnail_images<'t>(file: &'t DmFile<'_>) -> Vec<DmImage<'t>> {
    let thumbnails: Vec<usize> = file
        .root
        .get("Thumbnails")
        .map(Tag::children)
        .unwrap_or_default()
        .iter()
        .filter_map(|(_, thumbnail)| thumbnail.get("ImageIndex")?.number())
        .map(|index| index as usize)
        .collect();
    let list = file.root.get("ImageList").map(Tag::children);
    list.unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(index, _)| !thumbnails.contains(index))
        .filter_map(|(_, (_, tag))| DmImage::new(file, tag))
        .collect()
}

/// The image to read: the first spectrum image, else the first image if it is a spectrum.
fn choose<'a, 't>(images: &'a [DmImage<'t>]) -> Option<(&'a DmImage<'t>, Shape)> {
    let map = images.iter().find_map(|image| match image.shape() {
        Some(shape @ Shape::Map { .. }) => Some((image, shape)),
        _ => None,
    });
    let first = images.first().and_then(|image| match image.shape() {
        Some(Shape::Spectrum) => Some((image, Shape::Spectrum)),
        _ => None,
    });
    map.or(first)
}

impl<'t> DmImage<'t> {
    fn new(file: &DmFile<'_>, tag: &'t Tag) -> Option<Self> {
        let data = tag.get("ImageData")?;
        let dims = data.dimensions();
        let calibrations = data.path(&["Calibrations", "Dimension"]).map(Tag::children);
        let mut axes: Vec<AxisCalibration> = calibrations
            .unwrap_or_default()
            .iter()
            .map(|(_, axis)| AxisCalibration {
                origin: axis.get("Origin").and_then(Tag::number).unwrap_or(0.0),
                scale: axis.get("Scale").and_then(Tag::number).unwrap_or(1.0),
                unit: axis
                    .get("Units")
                    .and_then(|units| file.text(units))
                    .unwrap_or_default(),
            })
            .collect();
        // Some writers calibrate fewer dimensions than there are: the rest are uncalibrated.
        axes.resize(
            dims.len().max(axes.len()),
            AxisCalibration {
                origin: 0.0,
                scale: 1.0,
                unit: String::new(),
            },
        );
        let format = tag
            .path(&["ImageTags", "Meta Data", "Format"])
            .and_then(|format| file.text(format));
        let tagged_spectrum_image = format
            .is_some_and(|format| format.eq_ignore_ascii_case("spectrum image"))
            || tag.path(&["ImageTags", "spim"]).is_some();
        Some(DmImage {
            tag,
            data,
            dims,
            axes,
            tagged_spectrum_image,
        })
    }

    /// Spectrum, spectrum image (energy along the dimension in eV or keV, else DigitalMicrograph's
    /// last for 3-D and first for 2-D spectrum images), or `None` for images and stacks.
    fn shape(&self) -> Option<Shape> {
        let energy_dim = self.axes[..self.dims.len()]
            .iter()
            .position(|axis| is_energy_unit(&axis.unit));
        let tagged = self.tagged_spectrum_image;
        match (self.dims.len(), energy_dim) {
            (1, _) => Some(Shape::Spectrum),
            (2, Some(energy_dim)) if tagged => Some(Shape::Map { energy_dim }),
            (2, None) if tagged => Some(Shape::Map { energy_dim: 0 }),
            (3, Some(energy_dim)) => Some(Shape::Map { energy_dim }),
            (3, None) if tagged => Some(Shape::Map { energy_dim: 2 }),
            _ => None,
        }
    }

    /// The stored samples: their format and the bytes of all of them.
    fn samples<'f>(&self, file: &DmFile<'f>) -> Result<(SampleFormat, &'f [u8]), DecodeError> {
        let data_type = self.data.get("DataType").and_then(Tag::number);
        let sample = data_type
            .and_then(|code| sample_format(code, file.little_endian))
            .ok_or_else(|| {
                unsupported(format!(
                    "data type {} (complex or colour values) in a spectrum",
                    data_type.unwrap_or(-1.0)
                ))
            })?;
        let Some(&Tag::Array {
            element_size,
            offset,
            len,
            ..
        }) = self.data.get("Data")
        else {
            return Err(corrupt("a spectrum without its data array".to_string()));
        };
        let expected = self
            .dims
            .iter()
            .try_fold(sample.size(), |bytes, &dim| bytes.checked_mul(dim));
        match (expected, len.checked_mul(element_size)) {
            (Some(expected), Some(stored)) if expected == stored => {
                Ok((sample, &file.bytes[offset..offset + stored]))
            }
            _ => Err(corrupt(
                "the data do not match their dimensions".to_string(),
            )),
        }
    }

    /// The energy axis along dimension `dim`, with a note when its unit had to be assumed.
    fn energy_axis(&self, dim: usize) -> Result<(EnergyAxis, Option<String>), DecodeError> {
        let AxisCalibration {
            origin,
            scale,
            unit,
        } = &self.axes[dim];
        if !scale.is_finite() || *scale <= 0.0 {
            return Err(corrupt(format!("the energy axis has a scale of {scale}")));
        }
        let (unit, note) = match unit.as_str() {
            "" => (
                "eV",
                Some("the spectral axis has no unit: eV assumed".to_string()),
            ),
            unit => (unit, None),
        };
        let axis = EnergyAxis::in_unit(-origin * scale, *scale, unit, self.dims[dim]).ok_or_else(
            || {
                unsupported(format!(
                    "its spectral axis is in {unit}, not an energy (eV or keV)"
                ))
            },
        )?;
        Ok((axis, note))
    }

    /// The pixel size, when the spatial dimensions share one scale in a length unit.
    fn pixel_size(&self, spatial: &[usize]) -> Option<Calibration> {
        let (first, rest) = spatial.split_first()?;
        let AxisCalibration { scale, unit, .. } = &self.axes[*first];
        let same = rest.iter().all(|&dim| {
            let other = &self.axes[dim];
            other.unit == *unit && (other.scale - scale).abs() <= 1e-6 * scale.abs()
        });
        let unit = normalise_unit(unit)?;
        (same && *scale > 0.0).then(|| Calibration {
            pixel_size: *scale,
            unit: unit.to_string(),
        })
    }

    /// The acceleration voltage, kV.
    fn beam_kv(&self) -> Option<f64> {
        let volts = self
            .tag
            .path(&["ImageTags", "Microscope Info", "Voltage"])?
            .number()?;
        (volts > 0.0).then_some(volts / 1000.0)
    }
}

fn is_energy_unit(unit: &str) -> bool {
    EnergyAxis::in_unit(0.0, 1.0, unit, 0).is_some()
}

/// DigitalMicrograph's real-valued data types as samples; `None` for complex and colour ones.
fn sample_format(data_type: f64, little_endian: bool) -> Option<SampleFormat> {
    let (kind, size) = match data_type as u64 {
        1 => (SampleKind::Signed, 2),
        2 => (SampleKind::Float, 4),
        6 | 14 => (SampleKind::Unsigned, 1),
        7 => (SampleKind::Signed, 4),
        9 => (SampleKind::Signed, 1),
        10 => (SampleKind::Unsigned, 2),
        11 => (SampleKind::Unsigned, 4),
        12 => (SampleKind::Float, 8),
        _ => return None,
    };
    SampleFormat::new(kind, size, little_endian)
}

fn read_spectrum(file: &DmFile<'_>, image: &DmImage<'_>) -> Result<SpectralFile, DecodeError> {
    let (sample, bytes) = image.samples(file)?;
    let channels = image.dims[0];
    let cube = DenseCube::new(bytes, sample, [1, 1, channels], [0, 0, 1])
        .ok_or_else(|| corrupt("an empty spectrum".to_string()))?;
    let (axis, note) = image.energy_axis(0)?;
    Ok(spectral_file(
        None,
        Some(Spectrum {
            axis,
            counts: cube.spectrum(0, 0),
        }),
        note,
    ))
}

fn read_map(
    file: &DmFile<'_>,
    image: &DmImage<'_>,
    energy_dim: usize,
    bin: usize,
) -> Result<SpectralFile, DecodeError> {
    let (sample, bytes) = image.samples(file)?;
    let dims = &image.dims;
    // Samples between neighbours along each dimension (the first is the fastest).
    let strides: Vec<usize> = dims
        .iter()
        .scan(1usize, |stride, &dim| {
            let this = *stride;
            *stride = stride.saturating_mul(dim);
            Some(this)
        })
        .collect();
    let spatial: Vec<usize> = (0..dims.len()).filter(|&d| d != energy_dim).collect();
    let (width, x_stride) = (dims[spatial[0]], strides[spatial[0]]);
    let (height, y_stride) = spatial.get(1).map_or((1, 0), |&d| (dims[d], strides[d]));
    let depth = dims[energy_dim];
    let cube = DenseCube::new(
        bytes,
        sample,
        [width, height, depth],
        [x_stride, y_stride, strides[energy_dim]],
    )
    .ok_or_else(|| corrupt(format!("an empty spectrum image ({dims:?})")))?;
    let (axis, note) = image.energy_axis(energy_dim)?;
    if width == 1 && height == 1 {
        let spectrum = Spectrum {
            axis,
            counts: cube.spectrum(0, 0),
        };
        return Ok(spectral_file(None, Some(spectrum), note));
    }
    file.limits.check_image(width, height)?;
    let survey = cube.survey();
    if survey.fractional > 0 || survey.negative > 0 {
        return Err(unsupported(format!(
            "its spectrum image holds intensities, not counts ({} values not whole, {} \
             negative), as EELS and cathodoluminescence do; Chipscope's spectral tools work on \
             EDS counts",
            survey.fractional, survey.negative
        )));
    }
    let calibration = image.pixel_size(&spatial);
    let map = cube.to_map(axis, bin, calibration, image.beam_kv(), FORMAT)?;
    Ok(spectral_file(Some(map), None, note))
}

fn spectral_file(
    map: Option<SpectrumImage>,
    spectrum: Option<Spectrum>,
    note: Option<String>,
) -> SpectralFile {
    SpectralFile {
        format: FORMAT,
        map,
        spectrum,
        images: Vec::new(),
        notes: note.into_iter().collect(),
    }
}

/// The file's 2-D images other than the one read (a survey image), each with its name, and
/// notes for those that could not be read.
fn companion_images(
    file: &DmFile<'_>,
    images: &[DmImage<'_>],
    chosen: &DmImage<'_>,
) -> (Vec<(String, Dataset)>, Vec<String>) {
    let mut companions = Vec::new();
    let mut notes = Vec::new();
    let others = images
        .iter()
        .filter(|image| !std::ptr::eq(image.tag, chosen.tag) && image.dims.len() == 2);
    for (index, image) in others.enumerate() {
        let name = image
            .tag
            .get("Name")
            .and_then(|name| file.text(name))
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| format!("image {}", index + 1));
        match file.image(image.tag) {
            Ok(dataset) => companions.push((name, dataset)),
            Err(error) => notes.push(format!("the image '{name}' was not read: {error}")),
        }
    }
    (companions, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(dims: &[usize], units: &[&str], tagged: bool) -> Option<Shape> {
        let tag = Tag::Other;
        DmImage {
            tag: &tag,
            data: &tag,
            dims: dims.to_vec(),
            axes: units
                .iter()
                .map(|unit| AxisCalibration {
                    origin: 0.0,
                    scale: 1.0,
                    unit: unit.to_string(),
                })
                .collect(),
            tagged_spectrum_image: tagged,
        }
        .shape()
    }

    #[test]
    fn the_energy_axis_decides_what_an_image_is() {
        assert_eq!(image(&[2048], &["eV"], false), Some(Shape::Spectrum));
        assert_eq!(
            image(&[64, 64, 2048], &["nm", "nm", "keV"], false),
            Some(Shape::Map { energy_dim: 2 })
        );
        assert_eq!(
            image(&[1024, 8, 8], &["eV", "µm", "µm"], false),
            Some(Shape::Map { energy_dim: 0 })
        );
        assert_eq!(
            image(&[4, 4, 512], &["", "", "nm"], true),
            Some(Shape::Map { energy_dim: 2 })
        );
        assert_eq!(
            image(&[512, 30], &["nm", "µm"], true),
            Some(Shape::Map { energy_dim: 0 })
        );
        assert_eq!(image(&[2, 2, 2], &["", "", ""], false), None);
        assert_eq!(image(&[512, 512], &["nm", "nm"], false), None);
        assert_eq!(image(&[512, 100], &["eV", "nm"], false), None);
    }

    #[test]
    fn real_data_types_map_to_samples_and_others_are_refused() {
        let float = sample_format(2.0, true).unwrap();
        assert_eq!(
            float,
            SampleFormat::new(SampleKind::Float, 4, true).unwrap()
        );
        assert_eq!(sample_format(10.0, false).unwrap().size(), 2);
        for complex_or_colour in [3.0, 5.0, 8.0, 13.0, 23.0, 27.0] {
            assert!(sample_format(complex_or_colour, true).is_none());
        }
    }
}
