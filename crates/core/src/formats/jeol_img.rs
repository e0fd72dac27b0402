//! JEOL Analysis Station images: the `.img` electron image (HAADF, BF, SEI…) recorded beside a
//! `.pts` spectrum image of the same view, and the `.map` element maps made from it.
//!
//! Layout: the word 52, the format's name ("JED-2200:LibJxImageForm", 32 bytes), then the
//! offsets of a header and of the data; 12 bytes after the data offset starts a JEOL tag tree
//! (the one `.pts` files use) whose `Image` group holds `Size` (width, height), `Bits` (the
//! pixels, row-major, top row first) and `Created` (days since 1899-12-30), and whose
//! `Instrument` group holds `ScanSize` and `Mag` — the field of view is ScanSize / Mag mm, as
//! in `.pts` files — and the beam voltage `AccV` (kV).

use super::bytes::{Cursor, le_at};
use super::jeol_tree::Node;
use super::{Contents, DecodeError, Holds, Limits, Reader};
use crate::dataset::{Calibration, Dataset, Image, Metadata, SampleType, voltage_property};

const FORMAT: &str = "JEOL IMG";
const MAGIC: [u8; 4] = 52u32.to_le_bytes();
/// What the name field starts with in every JEOL image seen (the rest names the library).
const NAME: &[u8] = b"JED-";
/// Bytes between the recorded data offset and the tag tree.
const TREE_SKIP: usize = 12;

/// Reads JEOL `.img` and `.map` images.
pub(super) const JEOL_IMG: Reader = Reader::new(
    FORMAT,
    &["img", "map"],
    Holds::Images,
    |bytes| bytes.get(..4) == Some(&MAGIC) && bytes.get(4..8) == Some(NAME),
    |bytes, options| read(bytes, &options.limits).map(Contents::Image),
);

/// The image of a JEOL `.img` or `.map` file, within `limits`.
fn read(bytes: &[u8], limits: &Limits) -> Result<Dataset, DecodeError> {
    let preamble = Cursor::new(FORMAT, bytes).ends_early("the file ends inside its preamble");
    let data_at = preamble.at(44).le::<u32>()? as usize;
    let tree_at = data_at
        .checked_add(TREE_SKIP)
        .filter(|&at| at <= bytes.len())
        .ok_or_else(|| corrupt("its data offset lies beyond the end of the file"))?;
    let tree = Node::parse_tree(&bytes[tree_at..], FORMAT, limits)?;
    let image = tree
        .child("Image")
        .ok_or_else(|| corrupt("it has no Image group"))?;
    let (pixels, sample_type) = pixels(image, limits)?;
    let instrument = tree.child("Instrument");
    let number = |name: &str| {
        instrument
            .and_then(|group| group.child(name))
            .and_then(Node::number)
            .filter(|v| v.is_finite() && *v > 0.0)
    };
    let calibration = number("ScanSize")
        .zip(number("Mag"))
        .map(|(size, mag)| Calibration {
            pixel_size: size / mag * 1e6 / pixels.width() as f64,
            unit: "nm".to_string(),
        });
    let mut properties: Vec<_> = number("AccV").map(voltage_property).into_iter().collect();
    properties.extend(number("Mag").map(|mag| ("magnification".to_string(), format!("{mag}×"))));
    properties.extend(title(image).map(|title| ("title".to_string(), title)));
    Ok(Dataset {
        image: pixels,
        calibration,
        metadata: Metadata {
            format: FORMAT,
            sample_type,
            channels: 1,
            notes: Vec::new(),
            properties,
        },
    })
}

format_errors!(FORMAT);

/// `Image/Size` and `Image/Bits` as an image, with the type the pixels were stored as.
fn pixels(image: &Node, limits: &Limits) -> Result<(Image, SampleType), DecodeError> {
    let size = image
        .child("Size")
        .filter(|node| matches!(node.kind, 3 | 8))
        .and_then(|node| Some((le_at::<i32>(node.value, 0)?, le_at::<i32>(node.value, 4)?)))
        .ok_or_else(|| corrupt("it gives no image size"))?;
    let (width, height) = (
        usize::try_from(size.0).map_err(|_| corrupt(format!("a width of {}", size.0)))?,
        usize::try_from(size.1).map_err(|_| corrupt(format!("a height of {}", size.1)))?,
    );
    limits.check_image(width, height)?;
    let bits = image
        .child("Bits")
        .ok_or_else(|| corrupt("it holds no pixels (Image/Bits)"))?;
    let (sample_type, size) = match bits.kind {
        1 | 6 => (SampleType::U8, 1),
        2 | 7 => (SampleType::U16, 2),
        3 | 8 => (SampleType::I32, 4),
        4 | 9 => (SampleType::F32, 4),
        5 | 10 => (SampleType::F64, 8),
        kind => {
            return Err(unsupported(format!("pixels of type {kind}")));
        }
    };
    if bits.value.len() != width * height * size {
        return Err(corrupt(format!(
            "{} bytes of pixels for a {width} × {height} image",
            bits.value.len()
        )));
    }
    let values = bits
        .value
        .chunks_exact(size)
        .map(|raw| sample(raw, sample_type) as f32);
    Ok((Image::new(width, height, values.collect()), sample_type))
}

/// One little-endian sample of `sample_type` (one of those [`pixels`] accepts).
fn sample(raw: &[u8], sample_type: SampleType) -> f64 {
    let value = match sample_type {
        SampleType::U8 => le_at::<u8>(raw, 0).map(f64::from),
        SampleType::U16 => le_at::<u16>(raw, 0).map(f64::from),
        SampleType::I32 => le_at::<i32>(raw, 0).map(f64::from),
        SampleType::F32 => le_at::<f32>(raw, 0).map(f64::from),
        _ => le_at::<f64>(raw, 0),
    };
    value.unwrap_or(f64::NAN)
}

fn title(image: &Node) -> Option<String> {
    image
        .child("Title")
        .and_then(Node::text)
        .filter(|title| !title.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::jeol_tree::encode_node as node;

    fn file(size: [i32; 2], bits: &[u8]) -> Vec<u8> {
        file_of(size, 6, bits)
    }

    /// A `.img` of `size` whose pixels are `bits` of JEOL's value type `kind`.
    fn file_of(size: [i32; 2], kind: u32, bits: &[u8]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        bytes.extend(*b"JED-2200:LibJxImageForm\0\0\0\0\0\0\0\0\0");
        bytes.extend([64u32, 0, 48].iter().flat_map(|w| w.to_le_bytes()));
        bytes.resize(60, 0);
        let size: Vec<u8> = size.iter().flat_map(|v| v.to_le_bytes()).collect();
        let instrument = node(
            "Instrument",
            0,
            &[],
            &[
                node("ScanSize", 4, &178f32.to_le_bytes(), &[]),
                node("Mag", 3, &40000i32.to_le_bytes(), &[]),
                node("AccV", 4, &200f32.to_le_bytes(), &[]),
            ],
        );
        let image = node(
            "Image",
            0,
            &[],
            &[node("Size", 3, &size, &[]), node("Bits", kind, bits, &[])],
        );
        bytes.extend(instrument);
        bytes.extend(image);
        bytes
    }

    #[test]
    fn pixels_calibration_and_voltage_are_read() {
        let bytes = file([3, 2], &[1, 2, 3, 4, 5, 6]);
        assert!(JEOL_IMG.recognises(&bytes));
        let dataset = JEOL_IMG.read_image(&bytes).unwrap();
        assert_eq!(dataset.image.pixels(), &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(dataset.metadata.sample_type, SampleType::U8);
        let pixel = dataset.calibration.unwrap().pixel_size;
        assert!((pixel - 178.0 / 40000.0 * 1e6 / 3.0).abs() < 1e-9);
        assert_eq!(dataset.metadata.properties[0], voltage_property(200.0));
    }

    #[test]
    fn every_pixel_type_keeps_its_values() {
        let cases: [(u32, Vec<u8>, SampleType); 3] = [
            (
                7,
                [1u16, 60000].iter().flat_map(|v| v.to_le_bytes()).collect(),
                SampleType::U16,
            ),
            (
                8,
                [-5i32, 70000]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
                SampleType::I32,
            ),
            (
                9,
                [1.5f32, -0.25]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
                SampleType::F32,
            ),
        ];
        let expected: [[f32; 2]; 3] = [[1.0, 60000.0], [-5.0, 70000.0], [1.5, -0.25]];
        for ((kind, bits, sample_type), pixels) in cases.into_iter().zip(expected) {
            let dataset = JEOL_IMG.read_image(&file_of([2, 1], kind, &bits)).unwrap();
            assert_eq!(dataset.image.pixels(), &pixels, "type {kind}");
            assert_eq!(dataset.metadata.sample_type, sample_type);
        }
        let doubles: Vec<u8> = [2.5f64, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let dataset = JEOL_IMG.read_image(&file_of([2, 1], 10, &doubles)).unwrap();
        assert_eq!(dataset.image.pixels(), &[2.5, 4.0]);
    }

    #[test]
    fn damaged_files_are_errors() {
        let bytes = file([3, 2], &[1, 2, 3, 4, 5, 6]);
        for cut in 0..bytes.len() {
            assert!(JEOL_IMG.read_image(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(
            JEOL_IMG
                .read_image(&file([3, 3], &[1, 2, 3, 4, 5, 6]))
                .is_err()
        );
        assert!(
            JEOL_IMG
                .read_image(&file([-3, 2], &[1, 2, 3, 4, 5, 6]))
                .is_err()
        );
        assert!(
            JEOL_IMG
                .read_image(&file([1 << 30, 1 << 30], &[1]))
                .is_err()
        );
    }
}
