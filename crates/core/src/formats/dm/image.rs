//! DigitalMicrograph 2-D images of every numeric type, with their calibration and microscope
//! metadata.

use super::tags::{DmFile, Tag, element_size, element_value};
use super::{FORMAT, corrupt, unsupported};
use crate::dataset::{
    Calibration, Dataset, Image, Metadata, SampleType, normalise_unit, significant,
    voltage_property,
};
use crate::formats::raster::grey_from_interleaved;
use crate::formats::{DecodeError, Limits};

/// The file's image: the first after DigitalMicrograph's thumbnail, with a note when there are
/// more.
pub(super) fn first_image(file: &DmFile<'_>) -> Result<Dataset, DecodeError> {
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
        let (width, height) = image_size(data, &self.limits)?;
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
}

/// Width and height of a 2-D image; spectra and spectrum images are refused with what they are.
fn image_size(data: &Tag, limits: &Limits) -> Result<(usize, usize), DecodeError> {
    let dims = data.dimensions();
    match dims[..] {
        [width, height] => limits.check_image(width, height).map(|()| (width, height)),
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
