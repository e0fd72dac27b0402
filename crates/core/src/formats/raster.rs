//! What the PNG and JPEG readers share: decoding through the `image` crate into a grey [`Dataset`].

use super::{DecodeError, Limits};
use crate::dataset::{Dataset, Image, Metadata, SampleType};
use image::{DynamicImage, ImageDecoder, ImageError};

/// Decodes with `decoder` after checking the header's size against `limits`, keeping raw
/// sample values.
pub(super) fn read_with(
    format: &'static str,
    decoder: Result<impl ImageDecoder, ImageError>,
    limits: &Limits,
) -> Result<Dataset, DecodeError> {
    let decoder = decoder.map_err(|error| decode_error(format, error))?;
    let (width, height) = decoder.dimensions();
    limits.check_image(width as usize, height as usize)?;
    let image = DynamicImage::from_decoder(decoder).map_err(|error| decode_error(format, error))?;
    Ok(to_dataset(format, image))
}

fn to_dataset(format: &'static str, image: DynamicImage) -> Dataset {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let channels = image.color().channel_count() as usize;
    let sample_type = match image.color().bytes_per_pixel() / image.color().channel_count() {
        1 => SampleType::U8,
        2 => SampleType::U16,
        _ => SampleType::F32,
    };
    let (samples, samples_per_pixel) = samples_as_f32(&image);
    let (pixels, note) = grey_from_interleaved(&samples, samples_per_pixel);
    Dataset {
        image: Image::new(width, height, pixels),
        calibration: None,
        metadata: Metadata {
            format,
            sample_type,
            channels,
            notes: note.into_iter().collect(),
            properties: vec![],
        },
    }
}

/// Interleaved samples as `f32` and how many there are per pixel; a layout the `image` crate
/// may add later is converted to RGBA.
fn samples_as_f32(image: &DynamicImage) -> (Vec<f32>, usize) {
    let channels = image.color().channel_count() as usize;
    if let Some(flat) = image.as_flat_samples_u8() {
        (
            flat.samples.iter().map(|&v| f32::from(v)).collect(),
            channels,
        )
    } else if let Some(flat) = image.as_flat_samples_u16() {
        (
            flat.samples.iter().map(|&v| f32::from(v)).collect(),
            channels,
        )
    } else if let Some(flat) = image.as_flat_samples_f32() {
        (flat.samples.to_vec(), channels)
    } else {
        (image.to_rgba32f().into_raw(), 4)
    }
}

/// Turns interleaved samples with `channels` per pixel into grey values.
///
/// Grey stays as it is and alpha is dropped. Colour whose channels are all equal is grey stored as
/// RGB and keeps its values; other colour becomes Rec. 601 luma (0.299 R + 0.587 G + 0.114 B), with a note.
pub(super) fn grey_from_interleaved(
    samples: &[f32],
    channels: usize,
) -> (Vec<f32>, Option<String>) {
    let pixels = samples.chunks_exact(channels);
    if channels < 3 {
        return (pixels.map(|p| p[0]).collect(), None);
    }
    if pixels.clone().all(|p| p[0] == p[1] && p[1] == p[2]) {
        return (pixels.map(|p| p[0]).collect(), None);
    }
    let luma = pixels
        .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
        .collect();
    (
        luma,
        Some("colour image converted to grey (Rec. 601 luma)".to_string()),
    )
}

fn decode_error(format: &'static str, error: ImageError) -> DecodeError {
    match error {
        ImageError::Unsupported(detail) => DecodeError::Unsupported {
            format,
            detail: detail.to_string(),
        },
        ImageError::Limits(detail) => DecodeError::Unsupported {
            format,
            detail: detail.to_string(),
        },
        other => DecodeError::Corrupt {
            format,
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::decode;
    use image::{ExtendedColorType, ImageEncoder};

    fn png(width: u32, height: u32, bytes: &[u8], colour: ExtendedColorType) -> Vec<u8> {
        let mut file = Vec::new();
        image::codecs::png::PngEncoder::new(&mut file)
            .write_image(bytes, width, height, colour)
            .unwrap();
        file
    }

    #[test]
    fn sixteen_bit_png_keeps_raw_values() {
        let values: [u16; 4] = [0, 1000, 40000, 65535];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let dataset = decode("a.png", &png(2, 2, &bytes, ExtendedColorType::L16)).unwrap();
        assert_eq!(dataset.image.pixels(), &[0.0, 1000.0, 40000.0, 65535.0]);
        assert_eq!(
            (dataset.metadata.format, dataset.metadata.sample_type),
            ("PNG", SampleType::U16)
        );
    }

    #[test]
    fn jpeg_decodes_to_grey() {
        let mut file = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut file, 100)
            .write_image(&[128; 64], 8, 8, ExtendedColorType::L8)
            .unwrap();
        let dataset = decode("a.jpg", &file).unwrap();
        assert_eq!(
            (dataset.image.width(), dataset.metadata.sample_type),
            (8, SampleType::U8)
        );
        assert!(
            dataset
                .image
                .pixels()
                .iter()
                .all(|&v| (v - 128.0).abs() <= 1.0)
        );
    }

    #[test]
    fn truncated_png_is_damaged_and_a_misnamed_one_is_noted() {
        let file = png(16, 16, &[7; 256], ExtendedColorType::L8);
        let error = decode("cut.png", &file[..file.len() - 30]).unwrap_err();
        assert!(
            matches!(error, DecodeError::Corrupt { format: "PNG", .. }),
            "{error}"
        );
        let dataset = decode("really.tif", &file).unwrap();
        assert_eq!(
            dataset.metadata.notes,
            ["the file is named .tif but holds PNG; it was read as PNG"]
        );
    }

    #[test]
    fn grey_stored_as_rgb_keeps_its_values() {
        let (grey, note) =
            grey_from_interleaved(&[10.0, 10.0, 10.0, 255.0, 7.0, 7.0, 7.0, 255.0], 4);
        assert_eq!((grey, note), (vec![10.0, 7.0], None));
    }

    #[test]
    fn colour_becomes_luma_with_a_note() {
        let (grey, note) = grey_from_interleaved(&[255.0, 0.0, 0.0, 0.0, 0.0, 100.0], 3);
        assert!((grey[0] - 76.245).abs() < 1e-3 && (grey[1] - 11.4).abs() < 1e-4);
        assert!(note.unwrap().contains("Rec. 601"));
    }
}
