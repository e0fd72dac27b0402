//! File readers, one module per format behind the [`Reader`] interface for images, and the
//! [`spectral::SpectralReader`] interface for spectra and spectrum images.
//!
//! [`open`] recognises a file by its content (never by its name alone), checks the image size
//! before allocating, and returns one [`Dataset`] — with the spectrum image when the file is an
//! EDS map (whose HAADF, or else its X-ray counts per pixel, is then the image) — or a
//! [`DecodeError`] whose message is meant for the user.

pub mod bcf;
mod dm;
pub mod dm_spectra;
pub mod emd;
mod emd_berkeley;
mod jeol_img;
mod jeol_tree;
mod jpeg;
mod mrc;
pub mod msa;
mod png;
pub mod pts;
mod raster;
pub mod ripple;
mod samples;
pub mod spectral;
pub mod tia;
pub mod tiff;

use crate::dataset::Dataset;
use spectral::{SpectralFile, SpectralReader};
use thiserror::Error;

/// Largest image accepted, in pixels (8192 × 8192): 256 MiB as `f32`, which a browser tab holds.
pub const MAX_PIXELS: usize = 8192 * 8192;

/// A decoder for one file format.
pub trait Reader: Sync {
    /// Format name shown to users, e.g. "TIFF".
    fn format_name(&self) -> &'static str;
    /// File name extensions usually given to this format, lower case, without the dot.
    fn extensions(&self) -> &'static [&'static str];
    /// Whether `bytes` start like a file of this format.
    fn recognises(&self, bytes: &[u8]) -> bool;
    /// Decodes a whole file.
    fn read(&self, bytes: &[u8]) -> Result<Dataset, DecodeError>;
}

/// Every reader, in the order they are tried.
pub const READERS: &[&dyn Reader] = &[
    &png::PNG,
    &jpeg::JPEG,
    &tiff::Tiff,
    &dm::DigitalMicrograph,
    &emd_berkeley::BerkeleyEmd,
    &tia::Tia,
    &jeol_img::JeolImage,
    &mrc::Mrc,
];

/// Why a file could not be read; the message is written for the microscopist.
#[derive(Debug, Error, PartialEq)]
pub enum DecodeError {
    #[error("the file is empty (0 bytes)")]
    Empty,
    #[error("this is not a file Chipscope can read: its content matches none of {supported}")]
    Unrecognised { supported: String },
    #[error("the {format} file is damaged or truncated ({detail})")]
    Corrupt {
        format: &'static str,
        detail: String,
    },
    #[error("this {format} file uses something Chipscope cannot read yet: {detail}")]
    Unsupported {
        format: &'static str,
        detail: String,
    },
    #[error("the image has no pixels ({width} × {height})")]
    NoPixels { width: usize, height: usize },
    #[error(
        "the image is {width} × {height} pixels, more than the {limit_mpx} megapixels Chipscope \
         can hold in memory; crop or bin it first",
        limit_mpx = MAX_PIXELS / 1_000_000
    )]
    TooLarge { width: usize, height: usize },
    #[error(
        "choose one image, with its TIA .emi or the spectrum image of the same view, or a \
         single file ({0})"
    )]
    Companions(String),
    #[error("{name}: {error}")]
    InFile {
        name: String,
        error: Box<DecodeError>,
    },
}

impl DecodeError {
    /// A damaged or truncated `format` file.
    pub fn corrupt(format: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::Corrupt {
            format,
            detail: detail.into(),
        }
    }

    /// A `format` file using something Chipscope cannot read yet.
    pub fn unsupported(format: &'static str, detail: impl Into<String>) -> Self {
        DecodeError::Unsupported {
            format,
            detail: detail.into(),
        }
    }
}

/// The spectral formats that can be opened as an image too: their survey image, or their map's
/// counts per pixel (a single spectrum or a header needing its data file cannot).
const MAP_READERS: &[&dyn SpectralReader] = &[
    &emd::EmdReader,
    &bcf::BcfReader,
    &pts::PtsReader,
    &dm_spectra::DmSpectralReader,
    &tia::TiaSpectra,
];

/// A file opened as an image: the image, and the spectral content when it is an EDS map.
#[derive(Debug)]
pub struct Opened {
    pub dataset: Dataset,
    pub spectral: Option<SpectralFile>,
}

/// Opens `bytes`, found by content, as an image: an image file, or a spectrum-image file through
/// [`SpectralFile::survey`]. `file_name` only adds a note when its extension disagrees.
pub fn open(file_name: &str, bytes: &[u8]) -> Result<Opened, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let mut image_error = None;
    if let Some(reader) = READERS.iter().find(|reader| reader.recognises(bytes)) {
        match reader.read(bytes) {
            Ok(mut dataset) => {
                dataset
                    .metadata
                    .notes
                    .extend(extension_note(file_name, *reader));
                return Ok(Opened {
                    dataset,
                    spectral: None,
                });
            }
            Err(error) => image_error = Some(error),
        }
    }
    match MAP_READERS.iter().find(|reader| reader.recognises(bytes)) {
        Some(reader) => open_map(reader.read(bytes, 1)?),
        None => Err(image_error.unwrap_or_else(|| DecodeError::Unrecognised {
            supported: supported_formats(),
        })),
    }
}

/// Opens a TIA `.ser` as [`open`] does, with the acquisition facts (beam voltage,
/// magnification, microscope, date) of the `.emi` file TIA wrote beside it.
pub fn open_with_emi(ser_name: &str, ser: &[u8], emi: &[u8]) -> Result<Opened, DecodeError> {
    if tia::TiaSpectra.recognises(ser) {
        return open_map(tia::read_spectra_with_emi(ser_name, ser, emi, 1)?);
    }
    Ok(Opened {
        dataset: tia::read_image_with_emi(ser_name, ser, emi)?,
        spectral: None,
    })
}

/// Files chosen together, sorted by what they hold.
#[derive(Debug)]
pub struct Together {
    /// Which file is the image, and the image opened.
    pub image: usize,
    pub opened: Opened,
    /// A spectrum image chosen with it — the `.pts` map beside a JEOL `.img` — and its file.
    pub spectra: Option<(usize, SpectralFile)>,
}

/// Opens files chosen together, each recognised by its content: one image with its
/// companions — a TIA `.emi` (the acquisition facts of a `.ser`), a spectrum image of the same
/// view (a JEOL `.img` with its `.pts`, an image with any EDS map) — or a single file as
/// [`open`] does.
pub fn open_together(files: &[(&str, &[u8])]) -> Result<Together, DecodeError> {
    let emi = files
        .iter()
        .find(|(_, bytes)| tia::is_emi(bytes) && !tia::Tia.recognises(bytes));
    let mut images = Vec::new();
    let mut maps = Vec::new();
    for (index, (name, bytes)) in files.iter().enumerate() {
        if emi.is_some_and(|(emi_name, _)| emi_name == name) {
            continue;
        }
        let opened = match emi {
            Some((_, emi)) if tia::Tia.recognises(bytes) => open_with_emi(name, bytes, emi),
            _ => open(name, bytes),
        }
        .map_err(|error| match files.len() {
            1 => error,
            _ => DecodeError::InFile {
                name: name.to_string(),
                error: Box::new(error),
            },
        })?;
        match opened.spectral {
            Some(_) => maps.push((index, opened)),
            None => images.push((index, opened)),
        }
    }
    match (images.len(), maps.len()) {
        (0, 1) => {
            let (image, opened) = maps.remove(0);
            Ok(Together {
                image,
                opened,
                spectra: None,
            })
        }
        (1, 0 | 1) => {
            let (image, opened) = images.remove(0);
            let spectra = maps
                .pop()
                .and_then(|(index, map)| Some((index, map.spectral?)));
            Ok(Together {
                image,
                opened,
                spectra,
            })
        }
        _ => Err(DecodeError::Companions(format!(
            "{} images and {} spectrum images were chosen",
            images.len(),
            maps.len()
        ))),
    }
}

/// A spectral file with its survey image.
fn open_map(file: SpectralFile) -> Result<Opened, DecodeError> {
    let Some((_, dataset)) = file.survey() else {
        return Err(DecodeError::unsupported(
            file.format,
            "it holds a single spectrum, not an image; open it as a spectrum (the page's Spectra \
             panel, chipscope spectra)",
        ));
    };
    Ok(Opened {
        dataset,
        spectral: Some(file),
    })
}

/// Decodes `bytes` as an image (see [`open`]).
pub fn decode(file_name: &str, bytes: &[u8]) -> Result<Dataset, DecodeError> {
    open(file_name, bytes).map(|opened| opened.dataset)
}

/// "PNG, JPEG, …, Velox EMD or JEOL PTS": the formats [`open`] reads (a spectral format read
/// by an image format's reader too, such as DM spectrum images or TIA spectra, is not named
/// twice).
pub fn supported_formats() -> String {
    let image_formats: Vec<&str> = READERS.iter().map(|r| r.format_name()).collect();
    let new_formats = MAP_READERS
        .iter()
        .map(|reader| reader.format_name())
        .filter(|name| !image_formats.iter().any(|image| name.starts_with(image)));
    or_list(&first_of_each(
        image_formats.iter().copied().chain(new_formats),
    ))
}

/// The items in order, each only at its first appearance.
fn first_of_each<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = std::collections::HashSet::new();
    items.filter(|item| seen.insert(*item)).collect()
}

/// "A, B or C".
pub(crate) fn or_list(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// File extensions accepted by the file picker, e.g. ".png,.jpg,…".
pub fn accepted_extensions() -> String {
    let extensions = READERS
        .iter()
        .flat_map(|reader| reader.extensions())
        .chain(MAP_READERS.iter().flat_map(|reader| reader.extensions()))
        .copied();
    first_of_each(extensions)
        .iter()
        .map(|ext| format!(".{ext}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Checks an image's size from its header, before any pixel buffer is allocated.
pub fn check_size(width: usize, height: usize) -> Result<(), DecodeError> {
    if width == 0 || height == 0 {
        return Err(DecodeError::NoPixels { width, height });
    }
    match width.checked_mul(height) {
        Some(pixels) if pixels <= MAX_PIXELS => Ok(()),
        _ => Err(DecodeError::TooLarge { width, height }),
    }
}

fn extension_note(file_name: &str, reader: &dyn Reader) -> Option<String> {
    let (_, extension) = file_name.rsplit_once('.')?;
    let extension = extension.to_ascii_lowercase();
    let known = READERS
        .iter()
        .any(|r| r.extensions().contains(&extension.as_str()));
    (known && !reader.extensions().contains(&extension.as_str())).then(|| {
        format!(
            "the file is named .{extension} but holds {}; it was read as {}",
            reader.format_name(),
            reader.format_name()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_unknown_files_are_refused_with_a_reason() {
        assert_eq!(decode("a.png", &[]), Err(DecodeError::Empty));
        let error = decode("notes.tif", b"hello, this is text").unwrap_err();
        assert_eq!(
            error.to_string(),
            "this is not a file Chipscope can read: its content matches none of PNG, JPEG, TIFF, DigitalMicrograph, Berkeley EMD, FEI TIA, JEOL IMG, MRC, Velox EMD, Bruker BCF or JEOL PTS"
        );
    }

    #[test]
    fn size_is_checked_before_decoding() {
        assert_eq!(
            check_size(0, 10),
            Err(DecodeError::NoPixels {
                width: 0,
                height: 10
            })
        );
        assert!(check_size(8192, 8192).is_ok());
        assert!(matches!(
            check_size(8193, 8192),
            Err(DecodeError::TooLarge { .. })
        ));
        assert!(matches!(
            check_size(usize::MAX, 2),
            Err(DecodeError::TooLarge { .. })
        ));
        assert!(
            DecodeError::TooLarge {
                width: 9000,
                height: 9000
            }
            .to_string()
            .contains("67 megapixels")
        );
    }

    #[test]
    fn files_chosen_together_are_sorted_by_content() {
        let png = |value: u8| {
            let mut bytes = Vec::new();
            image::GrayImage::from_pixel(16, 16, image::Luma([value]))
                .write_to(
                    &mut std::io::Cursor::new(&mut bytes),
                    image::ImageFormat::Png,
                )
                .unwrap();
            bytes
        };
        let (a, b) = (png(1), png(2));
        let one = open_together(&[("a.png", &a)]).unwrap();
        assert_eq!((one.image, one.spectra.is_none()), (0, true));
        let error = open_together(&[("a.png", &a), ("b.png", &b)]).unwrap_err();
        assert!(
            error.to_string().contains("2 images and 0 spectrum images"),
            "{error}"
        );
        let error = open_together(&[("a.png", &a), ("c.png", b"junk")]).unwrap_err();
        assert!(
            error.to_string().starts_with("c.png: this is not a file"),
            "{error}"
        );
        let alone = open_together(&[("c.png", b"junk")]).unwrap_err();
        assert_eq!(alone, open("c.png", b"junk").unwrap_err());
    }

    #[test]
    fn picker_accepts_every_reader_extension() {
        let accepted = accepted_extensions();
        for ext in [
            ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dm3", ".dm4", ".emd", ".bcf", ".pts",
        ] {
            assert!(accepted.contains(ext), "{accepted}");
        }
    }
}
