//! The one dataset type every reader produces: a float image with its calibration and metadata.

use std::fmt;

/// A single-channel image of `f32` values in row-major order (row 0 is the top).
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    width: usize,
    height: usize,
    pixels: Vec<f32>,
}

impl Image {
    /// Wraps `pixels` (row-major, `width * height` values) as an image.
    ///
    /// # Panics
    /// If `pixels.len() != width * height`: a programming error, never a file error.
    pub fn new(width: usize, height: usize, pixels: Vec<f32>) -> Self {
        assert_eq!(
            pixels.len(),
            width * height,
            "pixel count must be width × height"
        );
        Self {
            width,
            height,
            pixels,
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// All pixel values, row by row.
    pub fn pixels(&self) -> &[f32] {
        &self.pixels
    }

    /// The value at column `x`, row `y`.
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.pixels[y * self.width + x]
    }

    /// Smallest and largest finite values, or `None` if no pixel is finite.
    pub fn finite_range(&self) -> Option<(f32, f32)> {
        self.pixels
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(None, |range, v| match range {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            })
    }

    /// The `width × height` sub-image whose top-left pixel is at (`x`, `y`).
    ///
    /// # Panics
    /// If the rectangle reaches outside the image.
    pub fn crop(&self, x: usize, y: usize, width: usize, height: usize) -> Image {
        assert!(
            x + width <= self.width && y + height <= self.height,
            "crop outside the image"
        );
        let pixels = (y..y + height)
            .flat_map(|row| &self.pixels[row * self.width + x..row * self.width + x + width])
            .copied()
            .collect();
        Image::new(width, height, pixels)
    }
}

/// Physical size of one pixel (square pixels).
#[derive(Clone, Debug, PartialEq)]
pub struct Calibration {
    /// Length of one pixel side in `unit`.
    pub pixel_size: f64,
    /// Length unit, normalised: "nm", "µm", "Å", "pm", "mm" or "m".
    pub unit: String,
}

impl Calibration {
    /// The pixel size in nm, when the calibration is a length.
    pub fn pixel_nm(&self) -> Option<f64> {
        nanometres_per(&self.unit).map(|nm| self.pixel_size * nm)
    }
}

impl fmt::Display for Calibration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/px", significant(self.pixel_size, 4), self.unit)
    }
}

/// `image` resized to `width × height` by `image`'s triangle filter. Its `f32` pixels are
/// clamped to 0–1 there, so the values are mapped into that range and back (the filter's
/// weights are positive and sum to one: no value leaves it).
fn resize(image: &Image, width: usize, height: usize) -> Option<Vec<f32>> {
    let (low, high) = image.finite_range()?;
    let span = (high - low).max(f32::MIN_POSITIVE);
    let unit: Vec<f32> = image.pixels().iter().map(|&v| (v - low) / span).collect();
    let (w, h) = (image.width() as u32, image.height() as u32);
    let source = image::ImageBuffer::<image::Luma<f32>, Vec<f32>>::from_raw(w, h, unit)?;
    let filter = image::imageops::FilterType::Triangle;
    let resized = image::imageops::resize(&source, width as u32, height as u32, filter);
    Some(
        resized
            .into_raw()
            .into_iter()
            .map(|v| low + v * span)
            .collect(),
    )
}

/// Maps the spellings of length units found in files to one form; `None` for "pixel" and unknowns.
pub fn normalise_unit(unit: &str) -> Option<&'static str> {
    match unit.trim().trim_matches('"') {
        "nm" | "nanometer" | "nanometre" => Some("nm"),
        "µm" | "μm" | "um" | "micron" | "microns" | "\\u00B5m" | "micrometer" | "micrometre" => {
            Some("µm")
        }
        "Å" | "A" | "angstrom" | "Angstrom" | "\\u00C5" => Some("Å"),
        "pm" => Some("pm"),
        "mm" => Some("mm"),
        "m" => Some("m"),
        _ => None,
    }
}

/// Nanometres in one `unit`, for the length units [`normalise_unit`] knows.
pub fn nanometres_per(unit: &str) -> Option<f64> {
    Some(match normalise_unit(unit)? {
        "m" => 1e9,
        "mm" => 1e6,
        "µm" => 1e3,
        "nm" => 1.0,
        "Å" => 0.1,
        "pm" => 1e-3,
        _ => return None,
    })
}

/// Formats `value` with `digits` significant digits (the integer part is never rounded away),
/// without trailing zeros.
pub fn significant(value: f64, digits: usize) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// The ("acceleration voltage", "300 kV") property of a beam of `kv` kilovolts.
pub fn voltage_property(kv: f64) -> (String, String) {
    (
        "acceleration voltage".to_string(),
        format!("{} kV", significant(kv, 4)),
    )
}

/// The numeric type of the samples as stored in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleType {
    /// 8-bit unsigned integers, 0–255.
    U8,
    /// 16-bit unsigned integers, 0–65535.
    U16,
    /// 32-bit unsigned integers.
    U32,
    /// 64-bit unsigned integers.
    U64,
    /// 8-bit signed integers.
    I8,
    /// 16-bit signed integers.
    I16,
    /// 32-bit signed integers.
    I32,
    /// 64-bit signed integers.
    I64,
    /// 16-bit (half-precision) floats.
    F16,
    /// 32-bit floats, kept as they are.
    F32,
    /// 64-bit floats, rounded to f32.
    F64,
}

impl fmt::Display for SampleType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            SampleType::U8 => "8-bit unsigned integer",
            SampleType::U16 => "16-bit unsigned integer",
            SampleType::U32 => "32-bit unsigned integer",
            SampleType::U64 => "64-bit unsigned integer",
            SampleType::I8 => "8-bit signed integer",
            SampleType::I16 => "16-bit signed integer",
            SampleType::I32 => "32-bit signed integer",
            SampleType::I64 => "64-bit signed integer",
            SampleType::F16 => "16-bit float",
            SampleType::F32 => "32-bit float",
            SampleType::F64 => "64-bit float",
        };
        f.write_str(text)
    }
}

/// How the file stored its pixels, and anything the reader wants the user to know.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    /// Name of the file format, e.g. "TIFF".
    pub format: &'static str,
    /// Sample type in the file (the image itself is always `f32`).
    pub sample_type: SampleType,
    /// Channels in the file: 1 for grey, 2 for grey with alpha, 3 for RGB, 4 for RGB with alpha.
    pub channels: usize,
    /// Remarks for the user, e.g. "page 1 of 3 read" or a colour-to-grey conversion.
    pub notes: Vec<String>,
    /// Acquisition facts the file records, e.g. ("acceleration voltage", "300 kV").
    pub properties: Vec<(String, String)>,
}

/// A decoded micrograph: the analysis works on `image`, never on display values.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// The image as floats with the file's raw values.
    pub image: Image,
    /// Pixel size, when the file records one.
    pub calibration: Option<Calibration>,
    /// Format, stored type and notes.
    pub metadata: Metadata,
}

/// Pixel sizes closer than this fraction count as one, and are not resampled.
pub const SAME_PIXEL_SIZE: f64 = 0.01;

/// Why an image cannot be brought to another pixel size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RescaleError {
    /// It has no length calibration.
    Uncalibrated,
    /// Resampled, it would lose every pixel.
    TooSmall,
}

impl Dataset {
    /// This image at `pixel_nm` per pixel: as it is when its own pixel size is within
    /// [`SAME_PIXEL_SIZE`] of it, else [`Self::resampled`] — how a project's images and the
    /// images `chipscope segment` applies a session to are brought to the session's scale.
    pub fn at_pixel_size(self, pixel_nm: f64) -> Result<Dataset, RescaleError> {
        let own = self.calibration.as_ref().and_then(Calibration::pixel_nm);
        let own = own.ok_or(RescaleError::Uncalibrated)?;
        if (own / pixel_nm - 1.0).abs() <= SAME_PIXEL_SIZE {
            return Ok(self);
        }
        self.resampled(pixel_nm).ok_or(RescaleError::TooSmall)
    }

    /// This image resampled to `pixel_nm` per pixel, as at another magnification: its field of
    /// view kept, its size rounded to whole pixels, its calibration the new pixel size, and a
    /// note saying so. Resampled by `image`'s `resize` with its triangle filter, which widens
    /// with the scale when shrinking (each new pixel a weighted mean of the old ones it covers,
    /// so noise and lattice fringes are averaged, not aliased) and interpolates linearly when
    /// enlarging. `None` when the image has no length calibration or would lose every pixel.
    pub fn resampled(&self, pixel_nm: f64) -> Option<Dataset> {
        let from_nm = self.calibration.as_ref()?.pixel_nm()?;
        let scale = from_nm / pixel_nm;
        let (width, height) = (self.image.width(), self.image.height());
        let size = |side: usize| (side as f64 * scale).round() as usize;
        let (new_width, new_height) = (size(width), size(height));
        if new_width == 0 || new_height == 0 || !scale.is_finite() {
            return None;
        }
        let pixels = resize(&self.image, new_width, new_height)?;
        let mut metadata = self.metadata.clone();
        metadata.notes.push(format!(
            "resampled from {} nm/px ({width} × {height} px) to {} nm/px ({new_width} × {new_height} px)",
            significant(from_nm, 4),
            significant(pixel_nm, 4)
        ));
        Some(Dataset {
            image: Image::new(new_width, new_height, pixels),
            calibration: Some(Calibration {
                pixel_size: from_nm * width as f64 / new_width as f64,
                unit: "nm".into(),
            }),
            metadata,
        })
    }

    /// One line saying what was stored: "16-bit unsigned integer, grey".
    pub fn storage_summary(&self) -> String {
        let layout = match self.metadata.channels {
            1 => "grey",
            2 => "grey + alpha",
            3 => "RGB",
            _ => "RGBA",
        };
        format!("{}, {layout}", self.metadata.sample_type)
    }

    /// "0.04 nm/px; field of view 20.48 × 20.48 nm", or "none (sizes in pixels)".
    pub fn calibration_summary(&self) -> String {
        let Some(calibration) = &self.calibration else {
            return "none (sizes in pixels)".to_string();
        };
        let side = |pixels: usize| significant(calibration.pixel_size * pixels as f64, 4);
        format!(
            "{calibration}; field of view {} × {} {}",
            side(self.image.width()),
            side(self.image.height()),
            calibration.unit
        )
    }

    /// "acceleration voltage 300 kV; microscope Titan": the acquisition properties.
    pub fn acquisition_summary(&self) -> String {
        let parts: Vec<_> = self
            .metadata
            .properties
            .iter()
            .map(|(name, value)| format!("{name} {value}"))
            .collect();
        parts.join("; ")
    }

    /// "44 to 209": the finite value range.
    pub fn value_summary(&self) -> String {
        self.image
            .finite_range()
            .map_or("no finite values".into(), |(low, high)| {
                format!("{low} to {high}")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calibrated(image: Image, pixel_size: f64, unit: &str) -> Dataset {
        Dataset {
            image,
            calibration: Some(Calibration {
                pixel_size,
                unit: unit.into(),
            }),
            metadata: Metadata {
                format: "TIFF",
                sample_type: SampleType::F32,
                channels: 1,
                notes: vec![],
                properties: vec![],
            },
        }
    }

    #[test]
    fn resampling_keeps_the_field_of_view_and_averages_when_shrinking() {
        // A one-pixel checkerboard at 0.5 µm/px, shrunk to 1 µm/px: half the size, and each
        // new pixel a mean of old ones (0.5), not a sample of one (0 or 1, aliased).
        let board = (0..64 * 48)
            .map(|i| ((i % 64 + i / 64) % 2) as f32)
            .collect();
        let fine = calibrated(Image::new(64, 48, board), 0.5, "µm");
        assert_eq!(fine.calibration.as_ref().unwrap().pixel_nm(), Some(500.0));
        let coarse = fine.resampled(1000.0).unwrap();
        assert_eq!((coarse.image.width(), coarse.image.height()), (32, 24));
        assert_eq!(coarse.calibration.as_ref().unwrap().pixel_size, 1000.0);
        for &v in coarse.image.pixels() {
            assert!((v - 0.5).abs() < 0.15, "{v}");
        }
        assert!(
            coarse.metadata.notes[0]
                .starts_with("resampled from 500 nm/px (64 × 48 px) to 1000 nm/px (32 × 24 px)")
        );
        // Enlarging a constant keeps it; no length calibration, no resampling.
        let flat = calibrated(Image::new(5, 5, vec![7.0; 25]), 0.2, "nm");
        let enlarged = flat.resampled(0.1).unwrap();
        assert_eq!(enlarged.image.width(), 10);
        assert!(
            enlarged
                .image
                .pixels()
                .iter()
                .all(|&v| (v - 7.0).abs() < 1e-5)
        );
        let mut unscaled = flat.clone();
        unscaled.calibration = None;
        assert!(unscaled.resampled(0.1).is_none());
        // Within 1 % it is left as it is; further off, resampled; uncalibrated, refused.
        assert_eq!(flat.clone().at_pixel_size(0.201), Ok(flat.clone()));
        assert_eq!(flat.clone().at_pixel_size(0.1).unwrap().image.width(), 10);
        assert_eq!(unscaled.at_pixel_size(0.2), Err(RescaleError::Uncalibrated));
        assert_eq!(flat.at_pixel_size(5.0), Err(RescaleError::TooSmall));
    }

    #[test]
    fn crop_takes_the_requested_rectangle() {
        let image = Image::new(4, 3, (0..12).map(|v| v as f32).collect());
        let chip = image.crop(1, 1, 2, 2);
        assert_eq!(chip.pixels(), &[5.0, 6.0, 9.0, 10.0]);
    }

    #[test]
    fn finite_range_skips_nan_and_infinity() {
        let image = Image::new(2, 2, vec![f32::NAN, 3.0, -1.0, f32::INFINITY]);
        assert_eq!(image.finite_range(), Some((-1.0, 3.0)));
        assert_eq!(Image::new(1, 1, vec![f32::NAN]).finite_range(), None);
    }

    #[test]
    fn summaries_state_calibration_and_values() {
        let mut dataset = Dataset {
            image: Image::new(512, 256, vec![1.0; 512 * 256]),
            calibration: Some(Calibration {
                pixel_size: 0.04,
                unit: "nm".into(),
            }),
            metadata: Metadata {
                format: "TIFF",
                sample_type: SampleType::U16,
                channels: 1,
                notes: vec![],
                properties: vec![],
            },
        };
        assert_eq!(
            dataset.calibration_summary(),
            "0.04 nm/px; field of view 20.48 × 10.24 nm"
        );
        assert_eq!(dataset.value_summary(), "1 to 1");
        assert_eq!(dataset.storage_summary(), "16-bit unsigned integer, grey");
        dataset.calibration = None;
        assert_eq!(dataset.calibration_summary(), "none (sizes in pixels)");
    }

    #[test]
    fn unit_spellings_are_normalised() {
        assert_eq!(normalise_unit("micron"), Some("µm"));
        assert_eq!(normalise_unit("\\u00B5m"), Some("µm"));
        assert_eq!(normalise_unit("pixel"), None);
    }

    #[test]
    fn significant_digits_trim_trailing_zeros() {
        assert_eq!(significant(0.04, 4), "0.04");
        assert_eq!(significant(5.3125, 3), "5.31");
        assert_eq!(significant(1234.6, 2), "1235");
        assert_eq!(
            Calibration {
                pixel_size: 0.0183,
                unit: "nm".into()
            }
            .to_string(),
            "0.0183 nm/px"
        );
    }
}
