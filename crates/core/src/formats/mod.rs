//! File readers: one [`Reader`] per format, all in one registry ([`READERS`]), each returning
//! what a file holds ([`Contents`]: an image, or spectra with the images recorded beside them,
//! as RosettaSciIO's plugins return a list of signals), within the [`Limits`] the caller sets.
//!
//! [`open`] recognises a file by its content (never by its name alone), checks the image size
//! before allocating, and returns one [`Dataset`] — with the spectrum image when the file is an
//! EDS map (whose HAADF, or else its X-ray counts per pixel, is then the image) — or a
//! [`DecodeError`] whose message is meant for the user; [`decode_spectral`] opens a file for its
//! spectra through the same registry.

/// Defines a reader module's error helpers, `corrupt(detail)` and `unsupported(detail)`:
/// [`DecodeError::corrupt`] and [`DecodeError::unsupported`] of the format named `$format`.
macro_rules! format_errors {
    ($format:expr) => {
        /// A damaged file of this format; `detail` says what is wrong.
        #[allow(dead_code)]
        fn corrupt(detail: impl Into<String>) -> $crate::formats::DecodeError {
            $crate::formats::DecodeError::corrupt($format, detail)
        }

        /// A file of this format using something Chipscope cannot read yet.
        #[allow(dead_code)]
        fn unsupported(detail: impl Into<String>) -> $crate::formats::DecodeError {
            $crate::formats::DecodeError::unsupported($format, detail)
        }
    };
}

pub mod bcf;
mod bytes;
pub mod dm;
pub mod emd;
mod emd_berkeley;
mod jeol_img;
mod jeol_tree;
mod jpeg;
mod limits;
mod mrc;
pub mod msa;
mod png;
pub mod pts;
mod raster;
pub mod ripple;
mod samples;
pub mod series;
pub mod spectral;
pub mod tia;
pub mod tiff;

use crate::dataset::Dataset;
pub use limits::Limits;
pub use spectral::{SpectralFile, decode_spectral};
use thiserror::Error;

/// What a file holds, as a reader returns it.
#[derive(Debug)]
pub enum Contents {
    /// An image file's image (the first of several, with a note).
    Image(Dataset),
    /// Spectra — a spectrum image or a single spectrum — with the images recorded beside them.
    Spectral(SpectralFile),
}

/// What files of a format can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holds {
    /// Images only.
    Images,
    /// Spectra only: a single spectrum, or a header that needs its data file.
    Spectra,
    /// Images or spectra (a spectrum image opens as an image through its survey).
    Both,
}

/// Which content to read from a file that may hold images and spectra, as RosettaSciIO's
/// `select_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Select {
    /// The image to segment: an image file's image, else a spectral file's (see [`open`]).
    Image,
    /// The spectra: the spectrum image, else the single spectrum (see [`decode_spectral`]).
    Spectra,
}

/// How to read a file: within which limits, what to select, and how to bin energy channels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReadOptions {
    /// What the reader may allocate and walk.
    pub limits: Limits,
    /// What to read from a file that may hold images and spectra.
    pub select: Select,
    /// Energy channels summed into one in a spectrum image (1: none).
    pub bin: usize,
}

impl ReadOptions {
    /// Read the image, within `limits`.
    pub fn image(limits: &Limits) -> Self {
        ReadOptions {
            limits: *limits,
            select: Select::Image,
            bin: 1,
        }
    }

    /// Read the spectra, summing every `bin` channels, within `limits`.
    pub fn spectra(limits: &Limits, bin: usize) -> Self {
        ReadOptions {
            limits: *limits,
            select: Select::Spectra,
            bin,
        }
    }
}

/// One file format: its name, extensions and content, how its files are recognised (by
/// content) and read. Every format is one such value in [`READERS`].
#[derive(Clone, Copy)]
pub struct Reader {
    name: &'static str,
    extensions: &'static [&'static str],
    holds: Holds,
    recognise: fn(&[u8]) -> bool,
    /// For a format of [`Holds::Both`] whose files hold spectra or not: whether this one does.
    has_spectra: Option<fn(&[u8]) -> bool>,
    decode: fn(&[u8], &ReadOptions) -> Result<Contents, DecodeError>,
}

impl Reader {
    /// A format named `name` (shown to users), usually given `extensions` (lower case, without
    /// the dot), holding `holds`, whose files `recognise` accepts and `decode` reads.
    pub const fn new(
        name: &'static str,
        extensions: &'static [&'static str],
        holds: Holds,
        recognise: fn(&[u8]) -> bool,
        decode: fn(&[u8], &ReadOptions) -> Result<Contents, DecodeError>,
    ) -> Self {
        Reader {
            name,
            extensions,
            holds,
            recognise,
            has_spectra: None,
            decode,
        }
    }

    /// The same format, whose files hold spectra only when `has_spectra` says so (a DM file
    /// may hold images only; a TIA series, images or spectra).
    pub const fn spectra_when(self, has_spectra: fn(&[u8]) -> bool) -> Self {
        Reader {
            has_spectra: Some(has_spectra),
            ..self
        }
    }

    /// Format name shown to users, e.g. "TIFF".
    pub fn format_name(&self) -> &'static str {
        self.name
    }

    /// File name extensions usually given to this format, lower case, without the dot.
    pub fn extensions(&self) -> &'static [&'static str] {
        self.extensions
    }

    /// What files of this format can hold.
    pub fn holds(&self) -> Holds {
        self.holds
    }

    /// Whether `bytes` start like a file of this format.
    pub fn recognises(&self, bytes: &[u8]) -> bool {
        (self.recognise)(bytes)
    }

    /// Whether `bytes` are a file of this format holding what `select` asks for: an image (or
    /// a spectrum image to show through its survey), or spectra.
    pub fn offers(&self, bytes: &[u8], select: Select) -> bool {
        let holds = match (select, self.holds) {
            (Select::Image, Holds::Spectra) | (Select::Spectra, Holds::Images) => false,
            (Select::Spectra, _) => self.has_spectra.is_none_or(|has| has(bytes)),
            (Select::Image, _) => true,
        };
        holds && self.recognises(bytes)
    }

    /// Decodes a whole file, as `options` ask.
    pub fn read(&self, bytes: &[u8], options: &ReadOptions) -> Result<Contents, DecodeError> {
        (self.decode)(bytes, options)
    }

    /// The image [`open`] would show for `bytes`, within the default [`Limits`].
    pub fn read_image(&self, bytes: &[u8]) -> Result<Dataset, DecodeError> {
        let contents = self.read(bytes, &ReadOptions::image(&Limits::default()))?;
        Opened::from_contents(contents).map(|opened| opened.dataset)
    }

    /// The spectra of `bytes`, summing every `bin` channels, within the default [`Limits`].
    pub fn read_spectra(&self, bytes: &[u8], bin: usize) -> Result<SpectralFile, DecodeError> {
        let contents = self.read(bytes, &ReadOptions::spectra(&Limits::default(), bin))?;
        spectral::spectra_of(self, contents)
    }
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("name", &self.name)
            .field("holds", &self.holds)
            .finish_non_exhaustive()
    }
}

/// Every format Chipscope reads, in the order they are tried: images, then spectral formats.
pub const READERS: &[&Reader] = &[
    &png::PNG,
    &jpeg::JPEG,
    &tiff::TIFF,
    &dm::DM,
    &emd_berkeley::BERKELEY_EMD,
    &tia::TIA,
    &jeol_img::JEOL_IMG,
    &mrc::MRC,
    &emd::VELOX_EMD,
    &bcf::BCF,
    &pts::PTS,
    &msa::MSA,
    &ripple::RIPPLE,
];

/// The readers offering `select`, in the order they are tried.
fn readers_for(select: Select) -> impl Iterator<Item = &'static Reader> {
    READERS.iter().copied().filter(move |reader| match select {
        Select::Image => reader.holds != Holds::Spectra,
        Select::Spectra => reader.holds != Holds::Images,
    })
}

/// Why a file could not be read; the message is written for the microscopist.
#[derive(Debug, Error, PartialEq)]
pub enum DecodeError {
    /// The file has no bytes.
    #[error("the file is empty (0 bytes)")]
    Empty,
    /// No reader recognises the content.
    #[error("this is not a file Chipscope can read: its content matches none of {supported}")]
    Unrecognised {
        /// The formats that were tried, as "A, B or C".
        supported: String,
    },
    /// A file of a known format that is damaged or cut short.
    #[error("the {format} file is damaged or truncated ({detail})")]
    Corrupt {
        /// The format's name.
        format: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A file of a known format holding something Chipscope does not read.
    #[error("this {format} file uses something Chipscope cannot read yet: {detail}")]
    Unsupported {
        /// The format's name.
        format: &'static str,
        /// What it holds.
        detail: String,
    },
    /// A file of a known format, asked for spectra, that holds only images.
    #[error(
        "this {format} file holds images but no spectrum image or spectrum; open it as the image"
    )]
    NoSpectra {
        /// The format's name.
        format: &'static str,
    },
    /// An image of width or height 0.
    #[error("the image has no pixels ({width} × {height})")]
    NoPixels {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// An image (or map) above [`Limits::max_pixels`], refused before allocation.
    #[error(
        "the image is {width} × {height} pixels, more than the {limit_mpx} megapixels Chipscope \
         can hold in memory; crop or bin it first",
        limit_mpx = limit / 1_000_000
    )]
    TooLarge {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// The pixel limit used ([`Limits::max_pixels`]).
        limit: usize,
    },
    /// Files chosen together that are not one image with its companions.
    #[error(
        "choose one image, with its TIA .emi or the spectrum image of the same view, or a \
         single file ({0})"
    )]
    Companions(String),
    /// One of several files chosen together could not be read.
    #[error("{name}: {error}")]
    InFile {
        /// The file's name.
        name: String,
        /// Why it could not be read.
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

/// A file opened as an image: the image, and the spectral content when it is an EDS map.
#[derive(Debug)]
pub struct Opened {
    /// The image to segment.
    pub dataset: Dataset,
    /// The file's spectra and the images recorded with them, when it is a spectral file.
    pub spectral: Option<SpectralFile>,
}

impl Opened {
    /// What [`open`] makes of a file's contents: an image file's image, or a spectral file's
    /// survey image ([`SpectralFile::survey`]) with its spectra.
    pub fn from_contents(contents: Contents) -> Result<Opened, DecodeError> {
        let file = match contents {
            Contents::Image(dataset) => {
                return Ok(Opened {
                    dataset,
                    spectral: None,
                });
            }
            Contents::Spectral(file) => file,
        };
        let Some((_, dataset)) = file.survey() else {
            return Err(DecodeError::unsupported(
                file.format,
                "it holds a single spectrum, not an image; open it as a spectrum (the page's \
                 Spectra panel, chipscope spectra)",
            ));
        };
        Ok(Opened {
            dataset,
            spectral: Some(file),
        })
    }
}

/// Opens `bytes`, found by content, as an image within `limits`: an image file, or a
/// spectrum-image file through [`SpectralFile::survey`]. `file_name` only adds a note when its
/// extension disagrees. Each reader recognising the bytes is tried in turn; when all fail, the
/// last one's error is given.
pub fn open(file_name: &str, bytes: &[u8], limits: &Limits) -> Result<Opened, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    let options = ReadOptions::image(limits);
    let mut error = None;
    for reader in readers_for(Select::Image).filter(|reader| reader.recognises(bytes)) {
        match reader.read(bytes, &options) {
            Ok(Contents::Image(mut dataset)) => {
                let note = extension_note(file_name, reader);
                dataset.metadata.notes.extend(note);
                return Ok(Opened {
                    dataset,
                    spectral: None,
                });
            }
            Ok(contents) => return Opened::from_contents(contents),
            Err(failure) => error = Some(failure),
        }
    }
    Err(error.unwrap_or_else(|| DecodeError::Unrecognised {
        supported: supported_formats(),
    }))
}

/// Opens a TIA `.ser` as [`open`] does, with the acquisition facts (beam voltage,
/// magnification, microscope, date) of the `.emi` file TIA wrote beside it.
pub fn open_with_emi(
    ser_name: &str,
    ser: &[u8],
    emi: &[u8],
    limits: &Limits,
) -> Result<Opened, DecodeError> {
    let contents = tia::read_with_emi(ser_name, ser, emi, &ReadOptions::image(limits))?;
    Opened::from_contents(contents)
}

/// Files chosen together, sorted by what they hold.
#[derive(Debug)]
pub struct Together {
    /// Which file is the image.
    pub image: usize,
    /// The image opened.
    pub opened: Opened,
    /// A spectrum image chosen with it — the `.pts` map beside a JEOL `.img` — and its file.
    pub spectra: Option<(usize, SpectralFile)>,
}

/// Opens files chosen together, each recognised by its content, within `limits`: one image
/// with its companions — a TIA `.emi` (the acquisition facts of a `.ser`), a spectrum image of
/// the same view (a JEOL `.img` with its `.pts`, an image with any EDS map) — or a single file
/// as [`open`] does.
pub fn open_together(files: &[(&str, &[u8])], limits: &Limits) -> Result<Together, DecodeError> {
    let emi = files
        .iter()
        .find(|(_, bytes)| tia::is_emi(bytes) && !tia::TIA.recognises(bytes));
    let mut images = Vec::new();
    let mut maps = Vec::new();
    for (index, (name, bytes)) in files.iter().enumerate() {
        if emi.is_some_and(|(emi_name, _)| emi_name == name) {
            continue;
        }
        let opened = match emi {
            Some((_, emi)) if tia::TIA.recognises(bytes) => open_with_emi(name, bytes, emi, limits),
            _ => open(name, bytes, limits),
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

/// Decodes `bytes` as an image (see [`open`]) within the default [`Limits`].
pub fn decode(file_name: &str, bytes: &[u8]) -> Result<Dataset, DecodeError> {
    open(file_name, bytes, &Limits::default()).map(|opened| opened.dataset)
}

/// "PNG, JPEG, …, Velox EMD or JEOL PTS": the formats [`open`] reads.
pub fn supported_formats() -> String {
    formats_for(Select::Image)
}

/// The names of the formats offering `select`, each once, as "A, B or C".
fn formats_for(select: Select) -> String {
    let names: Vec<&str> = readers_for(select).map(Reader::format_name).collect();
    or_list(&first_of_each(names.into_iter()))
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

/// File extensions accepted by the file picker, e.g. ".png,.jpg,…": those of the formats
/// [`open`] reads.
pub fn accepted_extensions() -> String {
    let extensions = readers_for(Select::Image).flat_map(|reader| reader.extensions().iter());
    first_of_each(extensions.copied())
        .iter()
        .map(|ext| format!(".{ext}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `file_name` ends in an extension an image reader knows (which files of a folder are
/// images).
pub fn is_image_name(file_name: &str) -> bool {
    let name = file_name.to_ascii_lowercase();
    let extensions = readers_for(Select::Image).flat_map(|reader| reader.extensions().iter());
    let mut known = extensions.map(|extension| format!(".{extension}"));
    known.any(|extension| name.ends_with(&extension))
}

/// A note when `file_name`'s extension belongs to another format than the one `reader` read.
fn extension_note(file_name: &str, reader: &Reader) -> Option<String> {
    let (_, extension) = file_name.rsplit_once('.')?;
    let extension = extension.to_ascii_lowercase();
    let known = readers_for(Select::Image).any(|r| r.extensions().contains(&extension.as_str()));
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
    fn image_names_are_told_by_their_extension() {
        for name in ["scan.DM4", "movie.tif", "a.b.png", "stack.mrc", "map.emd"] {
            assert!(is_image_name(name), "{name}");
        }
        for name in ["session.json", "notes.txt", "tif", "weights.pth"] {
            assert!(!is_image_name(name), "{name}");
        }
    }

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
    fn an_image_asked_for_spectra_is_named_not_called_unknown() {
        let mut png = Vec::new();
        image::GrayImage::new(4, 4)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let error = decode_spectral(&png, 1, &Limits::default()).unwrap_err();
        assert_eq!(error, DecodeError::NoSpectra { format: "PNG" });
        let text = decode_spectral(b"hello", 1, &Limits::default()).unwrap_err();
        assert!(matches!(text, DecodeError::Unrecognised { .. }), "{text}");
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
        let one = open_together(&[("a.png", &a)], &Limits::default()).unwrap();
        assert_eq!((one.image, one.spectra.is_none()), (0, true));
        let error = open_together(&[("a.png", &a), ("b.png", &b)], &Limits::default()).unwrap_err();
        assert!(
            error.to_string().contains("2 images and 0 spectrum images"),
            "{error}"
        );
        let error =
            open_together(&[("a.png", &a), ("c.png", b"junk")], &Limits::default()).unwrap_err();
        assert!(
            error.to_string().starts_with("c.png: this is not a file"),
            "{error}"
        );
        let alone = open_together(&[("c.png", b"junk")], &Limits::default()).unwrap_err();
        assert_eq!(
            alone,
            open("c.png", b"junk", &Limits::default()).unwrap_err()
        );
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
