//! What a spectral file holds — an EDS spectrum image or a single spectrum — and opening a file
//! for its spectra through the one registry of readers ([`super::READERS`]). A spectral file
//! may also carry images recorded with the map (a HAADF or BF survey), which the page offers
//! to use as the image.

use super::{
    Contents, DecodeError, Limits, READERS, ReadOptions, Reader, Select, formats_for, readers_for,
};
use crate::dataset::{Dataset, Image, Metadata, SampleType, voltage_property};
use crate::spectra::{Spectrum, SpectrumImage};

/// What a spectral file holds.
#[derive(Clone, Debug, PartialEq)]
pub struct SpectralFile {
    /// Name of the file format, e.g. "Bruker BCF".
    pub format: &'static str,
    /// The spectrum image, when the file has one.
    pub map: Option<SpectrumImage>,
    /// A single spectrum, when that is what the file holds (EMSA).
    pub spectrum: Option<Spectrum>,
    /// Images recorded with the map, each with its name in the file ("HAADF", "BF"…).
    pub images: Vec<(String, Dataset)>,
    /// Remarks for the user (frames summed, channels binned, detectors merged…).
    pub notes: Vec<String>,
}

impl SpectralFile {
    /// The image to segment the map by, with its name: the file's HAADF (else its first image),
    /// else the map's X-ray counts per pixel; `None` for a single spectrum.
    pub fn survey(&self) -> Option<(String, Dataset)> {
        let haadf = self.images.iter().find(|(name, _)| name.contains("HAADF"));
        if let Some((name, dataset)) = haadf.or(self.images.first()) {
            let mut dataset = dataset.clone();
            dataset.metadata.notes.push(format!(
                "the {name} image of the {} file, recorded with its spectrum image",
                self.format
            ));
            return Some((name.clone(), dataset));
        }
        let map = self.map.as_ref()?;
        Some(("X-ray counts".to_string(), self.counts_image(map)))
    }

    /// The map's sum spectrum, or the file's single spectrum.
    pub fn sum_spectrum(&self) -> Option<Spectrum> {
        match (&self.map, &self.spectrum) {
            (Some(map), _) => Some(Spectrum {
                axis: map.axis,
                counts: map.sum_spectrum().into_iter().map(|n| n as f64).collect(),
            }),
            (None, spectrum) => spectrum.clone(),
        }
    }

    /// The map's total X-ray counts per pixel as an image.
    fn counts_image(&self, map: &SpectrumImage) -> Dataset {
        let counts = map.window_map(0, map.axis.channels.saturating_sub(1));
        let pixels = counts.into_iter().map(|n| n as f32).collect();
        let properties = map.beam_kv.map(voltage_property).into_iter().collect();
        Dataset {
            image: Image::new(map.width, map.height, pixels),
            calibration: map.calibration.clone(),
            metadata: Metadata {
                format: self.format,
                sample_type: SampleType::U32,
                channels: 1,
                notes: vec![
                    "the file holds no electron image: the X-ray counts per pixel are shown"
                        .to_string(),
                ],
                properties,
            },
        }
    }
}

/// Reads a spectral file recognised by its content within `limits`, summing every `bin` energy
/// channels of a spectrum image. A Lispix `.rpl` header needs its `.raw` data: see
/// [`super::ripple::read_pair`].
pub fn decode_spectral(
    bytes: &[u8],
    bin: usize,
    limits: &Limits,
) -> Result<SpectralFile, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let Some(reader) = readers_for(Select::Spectra).find(|r| r.offers(bytes, Select::Spectra))
    else {
        return Err(match READERS.iter().find(|r| r.recognises(bytes)) {
            Some(reader) => DecodeError::NoSpectra {
                format: reader.format_name(),
            },
            None => DecodeError::Unrecognised {
                supported: spectral_formats(),
            },
        });
    };
    spectra_of(
        reader,
        reader.read(bytes, &ReadOptions::spectra(limits, bin))?,
    )
}

/// The spectral content `reader` read; an image is no spectral file.
pub(super) fn spectra_of(reader: &Reader, contents: Contents) -> Result<SpectralFile, DecodeError> {
    match contents {
        Contents::Spectral(file) => Ok(file),
        Contents::Image(_) => Err(DecodeError::unsupported(
            reader.format_name(),
            "the file holds an image, not spectra",
        )),
    }
}

/// "DigitalMicrograph, FEI TIA, Velox EMD, … or Lispix ripple": the formats
/// [`decode_spectral`] reads.
pub fn spectral_formats() -> String {
    formats_for(Select::Spectra)
}
