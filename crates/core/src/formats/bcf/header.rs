//! The header of a `.bcf`, `EDSDatabase/HeaderData`: an XML document of Esprit's classes
//! with the energy calibration and beam voltage of each map, the microscope's pixel size, and
//! the images recorded with the map (base64 planes, one per detector).

use std::io::Read;

use base64::Engine;
use roxmltree::Node;

use super::sfs::Container;
use super::{FORMAT, corrupt, unsupported};
use crate::dataset::{
    Calibration, Dataset, Image, Metadata, SampleType, significant, voltage_property,
};
use crate::formats::bytes::uint;
use crate::formats::{DecodeError, Limits};
use crate::spectra::EnergyAxis;

/// Where the header lies in the container.
pub(super) const HEADER_PATH: &str = "EDSDatabase/HeaderData";

/// The whole of a file read from the container, at most [`Limits::max_bytes`].
pub(super) fn read_whole(
    mut reader: impl Read,
    what: &str,
    limits: &Limits,
) -> Result<Vec<u8>, DecodeError> {
    let max = limits.max_bytes as u64;
    let mut bytes = Vec::new();
    reader
        .by_ref()
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| corrupt(format!("{what}: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(unsupported(format!(
            "its header is larger than {} MiB",
            max >> 20
        )));
    }
    Ok(bytes)
}

/// The header XML as text. Esprit writes Windows-1252, read here as Latin-1 (the two differ
/// only in 0x80–0x9F, where no value the reader uses has a character); UTF-8 is taken as is.
pub(super) fn header_text(container: &Container, limits: &Limits) -> Result<String, DecodeError> {
    let header = container.file(HEADER_PATH).ok_or_else(|| {
        unsupported(format!(
            "it holds no EDS data ({HEADER_PATH} is missing); only EDS maps are read"
        ))
    })?;
    let xml = read_whole(container.open(header)?, "header XML", limits)?;
    Ok(String::from_utf8(xml)
        .unwrap_or_else(|e| e.into_bytes().iter().map(|&b| char::from(b)).collect()))
}

fn child<'a, 'i>(node: Node<'a, 'i>, tag: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name(tag))
}

fn is_class(node: &Node, class_type: &str) -> bool {
    node.has_tag_name("ClassInstance") && node.attribute("Type") == Some(class_type)
}

/// The child `<ClassInstance Type="class_type">`.
pub(super) fn class<'a, 'i>(node: Node<'a, 'i>, class_type: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| is_class(n, class_type))
}

fn text<'a>(node: Node<'a, '_>, tag: &str) -> Option<&'a str> {
    child(node, tag)?.text().map(str::trim)
}

/// A number, also with the decimal comma Windows writes under some locales.
fn number(node: Node, tag: &str) -> Option<f64> {
    let value: f64 = text(node, tag)?.replace(',', ".").parse().ok()?;
    value.is_finite().then_some(value)
}

fn positive(node: Node, tag: &str) -> Option<f64> {
    number(node, tag).filter(|&v| v > 0.0)
}

fn integer(node: Node, tag: &str) -> Option<usize> {
    text(node, tag)?.parse().ok()
}

/// Pixel width and height in µm, from the microscope data.
pub(super) fn sem_pixel_size(database: Node) -> Option<(f64, f64)> {
    let sem = class(database, "TRTSEMData")?;
    let x = positive(sem, "DX")?;
    Some((x, positive(sem, "DY").unwrap_or(x)))
}

/// The beam voltage in kV, from the microscope data.
pub(super) fn sem_beam_kv(database: Node) -> Option<f64> {
    positive(class(database, "TRTSEMData")?, "HV")
}

/// Square pixels as a calibration in nm (the file gives µm); for others, a note (once).
pub(super) fn calibration(
    size_um: Option<(f64, f64)>,
    notes: &mut Vec<String>,
) -> Option<Calibration> {
    let (x, y) = size_um?;
    if (x - y).abs() > 1e-6 * x {
        let (x, y) = (significant(x * 1e3, 4), significant(y * 1e3, 4));
        let note = format!("pixels of {x} × {y} nm are not square; sizes in pixels");
        if !notes.contains(&note) {
            notes.push(note);
        }
        return None;
    }
    Some(Calibration {
        pixel_size: x * 1e3,
        unit: "nm".to_string(),
    })
}

/// The energy axis and beam voltage of map `index` (its `SpectrumData<index>` header node).
pub(super) fn map_axis(
    database: Node,
    index: usize,
) -> Result<(EnergyAxis, Option<f64>), DecodeError> {
    let spectrum = child(database, &format!("SpectrumData{index}"))
        .and_then(|n| child(n, "ClassInstance"))
        .ok_or_else(|| corrupt(format!("the header lacks SpectrumData{index}")))?;
    let header = class(spectrum, "TRTSpectrumHeader")
        .ok_or_else(|| corrupt("the header lacks the map's energy calibration"))?;
    let (Some(offset_kev), Some(scale_kev), Some(channels)) = (
        number(header, "CalibAbs"),
        positive(header, "CalibLin"),
        integer(header, "ChannelCount").filter(|&c| c > 0),
    ) else {
        return Err(corrupt("the map's energy calibration is incomplete"));
    };
    let analysis = child(spectrum, "TRTHeaderedClass");
    let beam_kv = analysis
        .and_then(|n| class(n, "TRTESMAHeader"))
        .and_then(|n| positive(n, "PrimaryEnergy"))
        .or_else(|| positive(class(analysis?, "TRTXrfHeader")?, "Voltage"))
        .or_else(|| sem_beam_kv(database));
    let axis = EnergyAxis {
        offset_kev,
        scale_kev,
        channels,
    };
    Ok((axis, beam_kv))
}

/// The images recorded with the map, then those of the survey ("overview") image, without
/// the planes that hold only zeros (detectors that were not recorded).
pub(super) fn images(
    database: Node,
    sem_size_um: Option<(f64, f64)>,
    beam_kv: Option<f64>,
    limits: &Limits,
    notes: &mut Vec<String>,
) -> Result<Vec<(String, Dataset)>, DecodeError> {
    let properties: Vec<_> = beam_kv.map(voltage_property).into_iter().collect();
    // The last unnamed one, as Esprit's readers take it.
    let recorded = database
        .children()
        .rev()
        .find(|n| is_class(n, "TRTImageData") && n.attribute("Name").is_none());
    let mut images = Vec::new();
    for (node, suffix) in [(recorded, ""), (overview(database), " (overview)")] {
        let Some(node) = node else { continue };
        let pixel_size = positive(node, "XCalibration")
            .zip(positive(node, "YCalibration"))
            .or(sem_size_um);
        let calibration = calibration(pixel_size, notes);
        for (name, image, sample_type) in image_planes(node, limits)? {
            let metadata = Metadata {
                format: FORMAT,
                sample_type,
                channels: 1,
                notes: Vec::new(),
                properties: properties.clone(),
            };
            let calibration = calibration.clone();
            let dataset = Dataset {
                image,
                calibration,
                metadata,
            };
            images.push((format!("{name}{suffix}"), dataset));
        }
    }
    Ok(images)
}

/// The survey image of version 2 files, where the map's area was chosen.
fn overview<'a, 'i>(database: Node<'a, 'i>) -> Option<Node<'a, 'i>> {
    database
        .children()
        .filter(|n| is_class(n, "TRTContainerClass"))
        .filter_map(|n| child(n, "ChildClassInstances"))
        .flat_map(|n| n.children())
        .find(|n| n.attribute("Name") == Some("OverviewImages"))
        .and_then(|n| child(n, "ChildClassInstances"))
        .and_then(|n| class(n, "TRTImageData"))
}

/// The non-empty planes of a `TRTImageData` node, each with its detector's name.
fn image_planes(
    node: Node,
    limits: &Limits,
) -> Result<Vec<(String, Image, SampleType)>, DecodeError> {
    let (Some(width), Some(height), Some(item_size), Some(planes)) = (
        integer(node, "Width"),
        integer(node, "Height"),
        integer(node, "ItemSize"),
        integer(node, "PlaneCount"),
    ) else {
        return Err(corrupt("an image lacks its size"));
    };
    let sample_type = match item_size {
        1 => SampleType::U8,
        2 => SampleType::U16,
        4 => SampleType::U32,
        _ => return Err(unsupported(format!("images of {item_size}-byte samples"))),
    };
    limits.check_image(width, height)?;
    let mut images = Vec::new();
    for plane in 0..planes {
        let node = child(node, &format!("Plane{plane}"))
            .ok_or_else(|| corrupt(format!("image plane {plane} is missing")))?;
        let pixels = plane_pixels(node, width * height, item_size)?;
        if pixels.iter().any(|&v| v != 0.0) {
            let name = text(node, "Description")
                .filter(|name| !name.is_empty())
                .map_or_else(|| format!("image {plane}"), str::to_string);
            images.push((name, Image::new(width, height, pixels), sample_type));
        }
    }
    Ok(images)
}

/// A plane's base64 samples as floats.
fn plane_pixels(plane: Node, pixels: usize, item_size: usize) -> Result<Vec<f32>, DecodeError> {
    let encoded: Vec<u8> = text(plane, "Data")
        .unwrap_or_default()
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| corrupt(format!("image data: {e}")))?;
    if raw.len() != pixels * item_size {
        return Err(corrupt(format!(
            "an image of {pixels} pixels holds {} bytes",
            raw.len()
        )));
    }
    Ok(raw
        .chunks_exact(item_size)
        .map(|sample| uint(sample, true) as f32)
        .collect())
}
