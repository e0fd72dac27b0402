//! Bruker `.bcf` spectrum images, as Esprit saves EDS maps ("hypermaps").
//!
//! A `.bcf` is an AidAim SFS container: a small file system of fixed-size chunks whose files
//! may be zlib-compressed block by block. Two of its files matter here:
//! `EDSDatabase/HeaderData`, an XML document with the energy calibration, the beam voltage,
//! the pixel size and the images recorded with the map (base64), and
//! `EDSDatabase/SpectrumData0`, the spectra line by line, each pixel packed one of three ways —
//! a list of 16-bit or of 12-bit pulse channels, or "instructed" runs of channel counts that
//! share an offset (followed by extra 16-bit pulses).
//!
//! The spectra are streamed from the container block by block into a
//! [`crate::spectra::SpectrumImageBuilder`]; only the header XML is held whole.
//!
//! `sfs` reads the container, `header` the XML and `pixels` the spectra; this module puts
//! together what the file holds.

mod header;
mod pixels;
mod sfs;

use std::io;

use roxmltree::{Document, Node};

use super::spectral::SpectralFile;
use super::{Contents, DecodeError, Holds, ReadOptions, Reader};
use crate::spectra::SpectrumImage;
use header::{calibration, class, header_text, images, map_axis, sem_beam_kv, sem_pixel_size};
use sfs::{Container, SFS_SIGNATURE};

const FORMAT: &str = "Bruker BCF";
const SPECTRA_PREFIX: &str = "EDSDatabase/SpectrumData";

/// Reads Bruker Esprit `.bcf` files: the EDS map with its calibration and the images
/// recorded with it.
pub const BCF: Reader = Reader::new(
    FORMAT,
    &["bcf"],
    Holds::Both,
    |bytes| bytes.starts_with(SFS_SIGNATURE),
    |bytes, options| read(bytes, options).map(Contents::Spectral),
);

/// The map, its images and notes of a `.bcf` file.
fn read(bytes: &[u8], options: &ReadOptions) -> Result<SpectralFile, DecodeError> {
    let limits = &options.limits;
    let container = Container::parse(bytes, limits)?;
    let text = header_text(&container, limits)?;
    let document = Document::parse(&text).map_err(|e| corrupt(format!("header XML: {e}")))?;
    let database = class(document.root_element(), "TRTSpectrumDatabase")
        .ok_or_else(|| corrupt("the header XML has no spectrum database"))?;
    let pixel_size = sem_pixel_size(database);
    let mut notes = Vec::new();
    let map = first_map(&container, database, pixel_size, options, &mut notes)?;
    if container.has_folder("EBSDData") {
        notes.push("the file's EBSD data was not read".to_string());
    }
    let beam_kv = map
        .as_ref()
        .and_then(|m| m.beam_kv)
        .or_else(|| sem_beam_kv(database));
    let images = images(database, pixel_size, beam_kv, limits, &mut notes)?;
    Ok(SpectralFile {
        format: FORMAT,
        map,
        spectrum: None,
        images,
        notes,
    })
}

format_errors!(FORMAT);

fn invalid(detail: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, detail.into())
}

/// The first spectrum image of the file (Esprit 2 may stack several), if any.
fn first_map(
    container: &Container,
    database: Node,
    sem_size_um: Option<(f64, f64)>,
    options: &ReadOptions,
    notes: &mut Vec<String>,
) -> Result<Option<SpectrumImage>, DecodeError> {
    let bin = options.bin;
    let maps = container.numbered(SPECTRA_PREFIX);
    let Some(&(index, entry)) = maps.first() else {
        notes.push("the file holds no spectrum image".to_string());
        return Ok(None);
    };
    if maps.len() > 1 {
        let count = maps.len();
        notes.push(format!(
            "the file holds {count} spectrum images; the first was read"
        ));
    }
    let (axis, beam_kv) = map_axis(database, index)?;
    let builder = pixels::read_spectra(container.open(entry)?, axis, options)?;
    let calibration = calibration(sem_size_um, notes);
    if bin > 1 {
        notes.push(format!("energy channels summed in groups of {bin}"));
    }
    let map = builder.finish(calibration, beam_kv);
    map.map(Some).map_err(|e| corrupt(e.to_string()))
}
