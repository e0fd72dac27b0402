//! DigitalMicrograph images of every numeric type — 2-D images, and 3-D image stacks (in-situ
//! movies) frame by frame — with their calibration and microscope metadata.

use super::spectra;
use super::tags::{DmFile, Tag, element_size, element_value};
use super::{FORMAT, corrupt, unsupported};
use crate::dataset::{
    Calibration, Dataset, Image, Metadata, SampleType, normalise_unit, significant,
    voltage_property,
};
use crate::formats::DecodeError;
use crate::formats::raster::grey_from_interleaved;

/// The file's image: the first after DigitalMicrograph's thumbnail (the first frame of a
/// stack), with a note when there are more frames or images.
pub(super) fn first_image(file: &DmFile<'_>) -> Result<Dataset, DecodeError> {
    let (index, others) = main_image(file)?;
    let frames = file.frames(file.image_tag(index))?;
    let mut dataset = file.frame(&frames, 0)?;
    if frames.count > 1 {
        let note = format!("the file holds {} frames; the first was read", frames.count);
        dataset.metadata.notes.insert(0, note);
    }
    if others > 0 {
        let note = format!("the file holds {} images; the first was read", others + 1);
        dataset.metadata.notes.push(note);
    }
    Ok(dataset)
}

/// Where the image [`first_image`] reads sits in the ImageList, and how many images follow it.
pub(super) fn main_image(file: &DmFile<'_>) -> Result<(usize, usize), DecodeError> {
    // With more than one image, the first is DigitalMicrograph's thumbnail.
    match file.images().len() {
        0 => Err(corrupt("no image in the file")),
        1 => Ok((0, 0)),
        count => Ok((1, count - 2)),
    }
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

/// The frames of an image (a 2-D image is one): `count` frames of `width × height` pixels of
/// `layout`, one after another from byte `offset`, and what every frame shares.
pub(super) struct Frames {
    width: usize,
    height: usize,
    pub(super) count: usize,
    layout: PixelLayout,
    offset: usize,
    calibration: Option<Calibration>,
    calibration_note: Option<String>,
    properties: Vec<(String, String)>,
}

impl Frames {
    /// Bytes in one frame.
    fn frame_len(&self) -> usize {
        self.width * self.height * self.layout.samples * self.layout.sample_size
    }
}

impl DmFile<'_> {
    /// The ImageList's entries, thumbnail included.
    pub(super) fn images(&self) -> &[(String, Tag)] {
        self.root
            .get("ImageList")
            .map(Tag::children)
            .unwrap_or_default()
    }

    /// ImageList entry `index`, which [`Self::images`] holds.
    pub(super) fn image_tag(&self, index: usize) -> &Tag {
        &self.images()[index].1
    }

    /// The first frame of `image`: a 2-D image, or the first of a stack.
    pub(super) fn image(&self, image: &Tag) -> Result<Dataset, DecodeError> {
        self.frame(&self.frames(image)?, 0)
    }

    /// The frames of `image`, checked against its data array.
    pub(super) fn frames(&self, image: &Tag) -> Result<Frames, DecodeError> {
        let data = image
            .get("ImageData")
            .ok_or_else(|| corrupt("an image without ImageData"))?;
        let (width, height, count) = self.frame_geometry(image, data)?;
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
        let (calibration, calibration_note) = self.calibration(data);
        let frames = Frames {
            width,
            height,
            count,
            layout,
            offset,
            calibration,
            calibration_note,
            properties: self.microscope(image),
        };
        if frames.frame_len().checked_mul(count) != len.checked_mul(element_size) {
            return Err(corrupt("the image data do not match its dimensions"));
        }
        Ok(frames)
    }

    /// Width, height and frame count of a 2-D image or a 3-D image stack; spectra and spectrum
    /// images are refused with what they are.
    fn frame_geometry(
        &self,
        image: &Tag,
        data: &Tag,
    ) -> Result<(usize, usize, usize), DecodeError> {
        let dims = data.dimensions();
        let (width, height, count) = match dims[..] {
            [width, height] => (width, height, 1),
            [channels] => {
                return Err(unsupported(format!(
                    "a single spectrum of {channels} channels, not an image"
                )));
            }
            [width, height, depth] if spectra::is_spectral(self, image) => {
                return Err(unsupported(format!(
                    "a spectrum image ({width} × {height} × {depth}), not an image"
                )));
            }
            [width, height, count] => (width, height, count),
            _ => {
                return Err(unsupported(format!(
                    "{}-dimensional data, not an image",
                    dims.len()
                )));
            }
        };
        self.limits.check_image(width, height)?;
        if count == 0 {
            return Err(corrupt("an image stack of no frames"));
        }
        Ok((width, height, count))
    }

    /// Frame `index` of `frames`, decoded from its own bytes.
    pub(super) fn frame(&self, frames: &Frames, index: usize) -> Result<Dataset, DecodeError> {
        if index >= frames.count {
            return Err(corrupt(format!(
                "there is no frame {} of {}",
                index + 1,
                frames.count
            )));
        }
        let layout = &frames.layout;
        let start = frames.offset + index * frames.frame_len();
        let samples: Vec<f32> = self.bytes[start..start + frames.frame_len()]
            .chunks_exact(layout.sample_size)
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
        let notes = pixel_note
            .into_iter()
            .chain(frames.calibration_note.clone());
        Ok(Dataset {
            image: Image::new(frames.width, frames.height, pixels),
            calibration: frames.calibration.clone(),
            metadata: Metadata {
                format: FORMAT,
                sample_type: layout.sample_type,
                channels: if layout.samples == 4 { 4 } else { 1 },
                notes: notes.collect(),
                properties: frames.properties.clone(),
            },
        })
    }

    /// The x-axis scale and unit, when x and y share them and the unit is a length (a stack's
    /// third axis is not looked at).
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
        let [(scale, unit), (y_scale, y_unit), ..] = &axes[..] else {
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
}
