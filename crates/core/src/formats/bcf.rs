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
//! [`SpectrumImageBuilder`]; only the header XML is held whole.

use std::io::{self, BufReader, Read};

use base64::Engine;
use flate2::read::ZlibDecoder;
use roxmltree::{Document, Node};

use super::spectral::{SpectralFile, SpectralReader};
use super::{DecodeError, check_size};
use crate::dataset::{
    Calibration, Dataset, Image, Metadata, SampleType, significant, voltage_property,
};
use crate::spectra::{EnergyAxis, SpectrumImage, SpectrumImageBuilder};

const FORMAT: &str = "Bruker BCF";
const SFS_SIGNATURE: &[u8] = b"AAMVHFSS";
/// Where the chunk size is written in the container header.
const CHUNK_SIZE_AT: usize = 0x128;
/// Where the first chunk and the number of entries of the directory are written.
const DIRECTORY_AT: usize = 0x140;
/// Chunk `k` starts at `k × chunk size + CHUNKS_AT` with a header whose first word is the
/// next chunk of a chained table; its data follow the header.
const CHUNKS_AT: usize = 0x118;
const CHUNK_HEADER: usize = 32;
const ENTRY_SIZE: usize = 0x200;
const COMPRESSED_SIGNATURE: &[u8] = b"AACS";
/// A compressed file starts with this header (signature, block size, block count), then
/// blocks of a 16-byte header (compressed size first) and zlib data.
const COMPRESSED_HEADER: usize = 0x80;
const BLOCK_HEADER: usize = 16;
/// Largest decompressed block accepted (Esprit writes 512 KiB).
const MAX_BLOCK: usize = 64 << 20;
/// Largest header XML accepted (the largest test file's is 2.5 MB, mostly a survey image).
const MAX_HEADER: u64 = 512 << 20;
const HEADER_PATH: &str = "EDSDatabase/HeaderData";
const SPECTRA_PREFIX: &str = "EDSDatabase/SpectrumData";
/// The spectra file starts with the map's height and width, then padding to this size.
const SPECTRA_HEADER: usize = 0x1A0;
const PIXEL_HEADER: usize = 22;

/// Reads Bruker Esprit `.bcf` files: the EDS map with its calibration and the images
/// recorded with it.
pub struct BcfReader;

impl SpectralReader for BcfReader {
    fn format_name(&self) -> &'static str {
        FORMAT
    }

    fn extensions(&self) -> &'static [&'static str] {
        &["bcf"]
    }

    fn recognises(&self, bytes: &[u8]) -> bool {
        bytes.starts_with(SFS_SIGNATURE)
    }

    fn read(&self, bytes: &[u8], bin: usize) -> Result<SpectralFile, DecodeError> {
        let container = Container::parse(bytes)?;
        let text = header_text(&container)?;
        let document = Document::parse(&text).map_err(|e| corrupt(format!("header XML: {e}")))?;
        let database = class(document.root_element(), "TRTSpectrumDatabase")
            .ok_or_else(|| corrupt("the header XML has no spectrum database"))?;
        let pixel_size = sem_pixel_size(database);
        let mut notes = Vec::new();
        let map = first_map(&container, database, pixel_size, bin, &mut notes)?;
        if container.has_folder("EBSDData") {
            notes.push("the file's EBSD data was not read".to_string());
        }
        let beam_kv = map
            .as_ref()
            .and_then(|m| m.beam_kv)
            .or_else(|| sem_beam_kv(database));
        let images = images(database, pixel_size, beam_kv, &mut notes)?;
        Ok(SpectralFile {
            format: FORMAT,
            map,
            spectrum: None,
            images,
            notes,
        })
    }
}

fn corrupt(detail: impl Into<String>) -> DecodeError {
    DecodeError::corrupt(FORMAT, detail)
}

fn unsupported(detail: impl Into<String>) -> DecodeError {
    DecodeError::unsupported(FORMAT, detail)
}

fn invalid(detail: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, detail.into())
}

fn le_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// An unsigned little-endian number of 1 to 8 bytes.
fn le_value(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0, |value, &byte| value << 8 | u64::from(byte))
}

// ---------------------------------------------------------------------------------------------
// The SFS container

/// Where the chunks of the container lie in the input.
#[derive(Clone, Copy)]
struct Chunks<'a> {
    bytes: &'a [u8],
    size: usize,
}

impl<'a> Chunks<'a> {
    /// Bytes of data a chunk holds after its header.
    fn usable(&self) -> usize {
        self.size - CHUNK_HEADER
    }

    /// Chunks the input can hold: no file or table may claim more.
    fn capacity(&self) -> usize {
        self.bytes.len() / self.size + 1
    }

    /// `len` bytes of chunk `index`'s data from `within`, if the input holds them.
    fn data(&self, index: usize, within: usize, len: usize) -> Option<&'a [u8]> {
        let start = index
            .checked_mul(self.size)?
            .checked_add(CHUNKS_AT + CHUNK_HEADER + within)?;
        self.bytes.get(start..start.checked_add(len)?)
    }

    /// The chunk that follows `index` in a chained table.
    fn next(&self, index: usize) -> Option<usize> {
        let at = index.checked_mul(self.size)?.checked_add(CHUNKS_AT)?;
        le_u32(self.bytes, at).map(|next| next as usize)
    }

    /// The data of `count` chained chunks from `first`.
    fn chain(&self, first: usize, count: usize) -> Result<Vec<&'a [u8]>, DecodeError> {
        if count > self.capacity() {
            return Err(corrupt(format!(
                "a table claims {count} chunks; the file holds at most {}",
                self.capacity()
            )));
        }
        let mut chunks = Vec::with_capacity(count);
        let mut index = first;
        for _ in 0..count {
            let data = self.data(index, 0, self.usable()).ok_or_else(|| {
                corrupt(format!("table chunk {index} lies beyond the file's end"))
            })?;
            chunks.push(data);
            index = self.next(index).unwrap_or(usize::MAX);
        }
        Ok(chunks)
    }
}

/// One file or folder of the container.
#[derive(Debug)]
struct Entry {
    name: String,
    parent: Option<usize>,
    is_folder: bool,
    /// Bytes stored (compressed, for a compressed file).
    size: usize,
    /// First chunk of the table that lists the file's chunks.
    table_chunk: usize,
}

impl Entry {
    /// An entry from its 512 bytes: table chunk, size, times, permissions, parent, flags, name.
    fn parse(raw: &[u8]) -> Entry {
        let word = |at| le_u32(raw, at).unwrap_or(0);
        let name = &raw[224..480];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        let size = u64::from(word(4)) | u64::from(word(8)) << 32;
        Entry {
            name: name.iter().map(|&b| char::from(b)).collect(),
            parent: usize::try_from(word(40) as i32).ok(),
            is_folder: raw[220] != 0,
            size: usize::try_from(size).unwrap_or(usize::MAX),
            table_chunk: word(0) as usize,
        }
    }
}

/// The SFS container: where its chunks lie and the directory of its files.
struct Container<'a> {
    chunks: Chunks<'a>,
    entries: Vec<Entry>,
}

impl<'a> Container<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        if !bytes.starts_with(SFS_SIGNATURE) {
            return Err(corrupt("no SFS container signature (AAMVHFSS)"));
        }
        let word = |at| {
            le_u32(bytes, at)
                .map(|w| w as usize)
                .ok_or_else(|| corrupt("the container header is cut short"))
        };
        let size = word(CHUNK_SIZE_AT)?;
        if size < CHUNK_HEADER + ENTRY_SIZE {
            return Err(corrupt(format!("chunks of {size} bytes are too small")));
        }
        let chunks = Chunks { bytes, size };
        let (first, count) = (word(DIRECTORY_AT)?, word(DIRECTORY_AT + 4)?);
        let per_chunk = chunks.usable() / ENTRY_SIZE;
        let entries: Vec<Entry> = chunks
            .chain(first, count.div_ceil(per_chunk))?
            .iter()
            .flat_map(|data| data.chunks_exact(ENTRY_SIZE).take(per_chunk))
            .take(count)
            .map(Entry::parse)
            .collect();
        Ok(Self { chunks, entries })
    }

    /// The path of `entry` from the root, e.g. "EDSDatabase/HeaderData".
    fn path(&self, entry: &Entry) -> Option<String> {
        let mut names = vec![entry.name.as_str()];
        let mut parent = entry.parent;
        while let Some(index) = parent {
            let folder = self.entries.get(index)?;
            if names.len() > self.entries.len() {
                return None; // a loop of parents
            }
            names.push(&folder.name);
            parent = folder.parent;
        }
        names.reverse();
        Some(names.join("/"))
    }

    fn file(&self, path: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| !e.is_folder && self.path(e).as_deref() == Some(path))
    }

    fn has_folder(&self, name: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.is_folder && e.parent.is_none() && e.name == name)
    }

    /// The spectrum images (`SpectrumData<index>` files), by increasing index.
    fn maps(&self) -> Vec<(usize, &Entry)> {
        let mut maps: Vec<_> = self
            .entries
            .iter()
            .filter(|e| !e.is_folder)
            .filter_map(|e| {
                let path = self.path(e)?;
                Some((path.strip_prefix(SPECTRA_PREFIX)?.parse().ok()?, e))
            })
            .collect();
        maps.sort_by_key(|&(index, _)| index);
        maps
    }

    /// The content of a file, decompressed as it is read.
    fn open(&self, entry: &Entry) -> Result<Box<dyn Read + 'a>, DecodeError> {
        let count = entry.size.div_ceil(self.chunks.usable());
        if count > self.chunks.capacity() {
            return Err(corrupt(format!(
                "{} claims {} bytes, more than the file holds",
                entry.name, entry.size
            )));
        }
        let per_table_chunk = self.chunks.usable() / 4;
        let table = self
            .chunks
            .chain(entry.table_chunk, count.div_ceil(per_table_chunk))?
            .concat();
        let stream = RawStream {
            chunks: self.chunks,
            list: table
                .chunks_exact(4)
                .take(count)
                .map(|w| le_value(w) as usize)
                .collect(),
            size: entry.size,
            position: 0,
            name: entry.name.clone(),
        };
        let compressed = stream
            .list
            .first()
            .and_then(|&first| self.chunks.data(first, 0, COMPRESSED_SIGNATURE.len()))
            == Some(COMPRESSED_SIGNATURE);
        if compressed {
            let blocks = BlockStream::new(stream).map_err(|e| corrupt(e.to_string()))?;
            Ok(Box::new(blocks))
        } else {
            Ok(Box::new(stream))
        }
    }
}

/// A file's stored bytes, read across its chunks.
struct RawStream<'a> {
    chunks: Chunks<'a>,
    /// The file's chunks, in order.
    list: Vec<usize>,
    size: usize,
    position: usize,
    name: String,
}

impl Read for RawStream<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.size || buffer.is_empty() {
            return Ok(0);
        }
        let usable = self.chunks.usable();
        let within = self.position % usable;
        let len = (usable - within)
            .min(self.size - self.position)
            .min(buffer.len());
        let data = self
            .list
            .get(self.position / usable)
            .and_then(|&chunk| self.chunks.data(chunk, within, len))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the file ends inside {}", self.name),
                )
            })?;
        buffer[..len].copy_from_slice(data);
        self.position += len;
        Ok(len)
    }
}

/// A compressed file's content, inflated block by block.
struct BlockStream<'a> {
    raw: RawStream<'a>,
    blocks_left: u32,
    block_size: usize,
    compressed: Vec<u8>,
    block: Vec<u8>,
    position: usize,
}

impl<'a> BlockStream<'a> {
    fn new(mut raw: RawStream<'a>) -> io::Result<Self> {
        let mut header = [0; COMPRESSED_HEADER];
        raw.read_exact(&mut header)?;
        let block_size = le_u32(&header, 4).unwrap_or(0) as usize;
        if block_size == 0 || block_size > MAX_BLOCK {
            return Err(invalid(format!(
                "{}: compressed blocks of {block_size} bytes",
                raw.name
            )));
        }
        Ok(Self {
            blocks_left: le_u32(&header, 12).unwrap_or(0),
            raw,
            block_size,
            compressed: Vec::new(),
            block: Vec::new(),
            position: 0,
        })
    }

    /// Inflates the next block; `false` after the last.
    fn next_block(&mut self) -> io::Result<bool> {
        if self.blocks_left == 0 {
            return Ok(false);
        }
        self.blocks_left -= 1;
        let mut header = [0; BLOCK_HEADER];
        self.raw.read_exact(&mut header)?;
        let stored = u64::from(le_u32(&header, 0).unwrap_or(0));
        read_exactly(&mut self.raw, stored, &mut self.compressed)?;
        self.block.clear();
        self.position = 0;
        ZlibDecoder::new(self.compressed.as_slice())
            .take(self.block_size as u64 + 1)
            .read_to_end(&mut self.block)
            .map_err(|e| invalid(format!("{}: {e}", self.raw.name)))?;
        if self.block.len() > self.block_size {
            return Err(invalid(format!(
                "{}: a block inflates beyond its {} bytes",
                self.raw.name, self.block_size
            )));
        }
        Ok(true)
    }
}

impl Read for BlockStream<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.position == self.block.len() {
            if buffer.is_empty() || !self.next_block()? {
                return Ok(0);
            }
        }
        let len = buffer.len().min(self.block.len() - self.position);
        buffer[..len].copy_from_slice(&self.block[self.position..self.position + len]);
        self.position += len;
        Ok(len)
    }
}

/// Reads exactly `len` bytes into `buffer` (replacing its content), growing it only as the
/// bytes arrive, so a damaged length cannot make it allocate more than the file holds.
fn read_exactly(reader: &mut impl Read, len: u64, buffer: &mut Vec<u8>) -> io::Result<()> {
    buffer.clear();
    reader.by_ref().take(len).read_to_end(buffer)?;
    if (buffer.len() as u64) < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

fn read_whole(mut reader: impl Read, what: &str) -> Result<Vec<u8>, DecodeError> {
    let mut bytes = Vec::new();
    reader
        .by_ref()
        .take(MAX_HEADER + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| corrupt(format!("{what}: {e}")))?;
    if bytes.len() as u64 > MAX_HEADER {
        return Err(unsupported(format!(
            "its header is larger than {} MiB",
            MAX_HEADER >> 20
        )));
    }
    Ok(bytes)
}

// ---------------------------------------------------------------------------------------------
// The header XML

/// The header XML as text. Esprit writes Windows-1252, read here as Latin-1 (the two differ
/// only in 0x80–0x9F, where no value the reader uses has a character); UTF-8 is taken as is.
fn header_text(container: &Container) -> Result<String, DecodeError> {
    let header = container.file(HEADER_PATH).ok_or_else(|| {
        unsupported(format!(
            "it holds no EDS data ({HEADER_PATH} is missing); only EDS maps are read"
        ))
    })?;
    let xml = read_whole(container.open(header)?, "header XML")?;
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
fn class<'a, 'i>(node: Node<'a, 'i>, class_type: &str) -> Option<Node<'a, 'i>> {
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
fn sem_pixel_size(database: Node) -> Option<(f64, f64)> {
    let sem = class(database, "TRTSEMData")?;
    let x = positive(sem, "DX")?;
    Some((x, positive(sem, "DY").unwrap_or(x)))
}

fn sem_beam_kv(database: Node) -> Option<f64> {
    positive(class(database, "TRTSEMData")?, "HV")
}

/// Square pixels as a calibration in nm (the file gives µm); for others, a note (once).
fn calibration(size_um: Option<(f64, f64)>, notes: &mut Vec<String>) -> Option<Calibration> {
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
fn map_axis(database: Node, index: usize) -> Result<(EnergyAxis, Option<f64>), DecodeError> {
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
fn images(
    database: Node,
    sem_size_um: Option<(f64, f64)>,
    beam_kv: Option<f64>,
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
        for (name, image, sample_type) in image_planes(node)? {
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
fn image_planes(node: Node) -> Result<Vec<(String, Image, SampleType)>, DecodeError> {
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
    check_size(width, height)?;
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
        .map(|sample| le_value(sample) as f32)
        .collect())
}

// ---------------------------------------------------------------------------------------------
// The spectra

/// The first spectrum image of the file (Esprit 2 may stack several), if any.
fn first_map(
    container: &Container,
    database: Node,
    sem_size_um: Option<(f64, f64)>,
    bin: usize,
    notes: &mut Vec<String>,
) -> Result<Option<SpectrumImage>, DecodeError> {
    let maps = container.maps();
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
    let builder = read_spectra(container.open(entry)?, axis, bin)?;
    let calibration = calibration(sem_size_um, notes);
    if bin > 1 {
        notes.push(format!("energy channels summed in groups of {bin}"));
    }
    let map = builder.finish(calibration, beam_kv);
    map.map(Some).map_err(|e| corrupt(e.to_string()))
}

/// Streams the packed spectra into a map.
fn read_spectra(
    stream: impl Read,
    axis: EnergyAxis,
    bin: usize,
) -> Result<SpectrumImageBuilder, DecodeError> {
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut header = [0; SPECTRA_HEADER];
    reader
        .read_exact(&mut header)
        .map_err(|e| corrupt(format!("spectrum data header: {e}")))?;
    let dimension = |at| le_u32(&header, at).unwrap_or(0) as usize;
    let (height, width) = (dimension(0), dimension(4));
    check_size(width, height)?;
    let mut builder = SpectrumImageBuilder::new(width, height, axis, bin)
        .map_err(|e| unsupported(e.to_string()))?;
    let mut buffers = PixelBuffers::default();
    for y in 0..height {
        read_line(&mut reader, width, &mut builder, &mut buffers)
            .map_err(|e| corrupt(format!("spectrum data, line {y}: {e}")))?;
    }
    Ok(builder)
}

/// Buffers reused from pixel to pixel.
#[derive(Default)]
struct PixelBuffers {
    packed: Vec<u8>,
    pairs: Vec<(usize, u64)>,
}

/// One line: its number of recorded pixels, then each pixel (increasing x; pixels without
/// counts may be left out).
fn read_line(
    reader: &mut impl Read,
    width: usize,
    builder: &mut SpectrumImageBuilder,
    buffers: &mut PixelBuffers,
) -> io::Result<()> {
    let mut count = [0; 4];
    reader.read_exact(&mut count)?;
    let recorded = u32::from_le_bytes(count) as usize;
    if recorded > width {
        return Err(invalid(format!("{recorded} pixels in a line {width} wide")));
    }
    let mut next_x = 0;
    for _ in 0..recorded {
        let header = PixelHeader::read(reader)?;
        if header.x < next_x || header.x >= width {
            let x = header.x;
            return Err(invalid(format!(
                "pixel x = {x} out of order or outside the map"
            )));
        }
        push_empty(builder, header.x - next_x)?;
        buffers.pairs.clear();
        read_pixel(reader, &header, buffers)?;
        builder
            .push_sparse(buffers.pairs.drain(..))
            .map_err(|e| invalid(e.to_string()))?;
        next_x = header.x + 1;
    }
    push_empty(builder, width - next_x)
}

fn push_empty(builder: &mut SpectrumImageBuilder, pixels: usize) -> io::Result<()> {
    for _ in 0..pixels {
        builder
            .push_sparse([])
            .map_err(|e| invalid(e.to_string()))?;
    }
    Ok(())
}

/// What precedes a pixel's packed counts.
struct PixelHeader {
    x: usize,
    /// 0: 16-bit pulses, 1: 12-bit pulses, more: instructed runs.
    packing: u16,
    /// Pulses in the list, or extra pulses after the instructed runs.
    pulses: usize,
    /// Bytes of the list or of the runs (with the extra pulses' 4-byte size).
    packed_size: usize,
}

impl PixelHeader {
    /// x (u32), channels (u16 ×2), unused (u32), packing (u16), unused (u16), pulses (u16),
    /// packed size (u32).
    fn read(reader: &mut impl Read) -> io::Result<Self> {
        let mut raw = [0; PIXEL_HEADER];
        reader.read_exact(&mut raw)?;
        let half = |at| le_u16(&raw, at).unwrap_or(0);
        Ok(Self {
            x: le_u32(&raw, 0).unwrap_or(0) as usize,
            packing: half(12),
            pulses: usize::from(half(16)),
            packed_size: le_u32(&raw, 18).unwrap_or(0) as usize,
        })
    }
}

/// Reads one pixel's counts into `buffers.pairs` as (channel, count).
fn read_pixel(
    reader: &mut impl Read,
    header: &PixelHeader,
    buffers: &mut PixelBuffers,
) -> io::Result<()> {
    let PixelBuffers { packed, pairs } = buffers;
    read_exactly(reader, header.packed_size as u64, packed)?;
    match header.packing {
        0 => unpack_16bit(packed, header.pulses, pairs),
        1 => unpack_12bit(packed, header.pulses, pairs),
        _ => {
            let runs = packed
                .len()
                .checked_sub(4)
                .ok_or_else(|| invalid("instructed pixel shorter than 4 bytes"))?;
            unpack_instructed(&packed[..runs], pairs)?;
            if header.pulses > 0 {
                let extra = le_u32(packed, runs).unwrap_or(0);
                read_exactly(reader, u64::from(extra), packed)?;
                unpack_16bit(packed, header.pulses, pairs)?;
            }
            Ok(())
        }
    }
}

/// A list of `pulses` channels, 16 bits each: one count per pulse.
fn unpack_16bit(packed: &[u8], pulses: usize, pairs: &mut Vec<(usize, u64)>) -> io::Result<()> {
    let list = packed
        .get(..pulses * 2)
        .ok_or_else(|| invalid("16-bit pulse list shorter than its count"))?;
    pairs.extend(
        list.chunks_exact(2)
            .map(|b| (usize::from(u16::from_le_bytes([b[0], b[1]])), 1)),
    );
    Ok(())
}

/// A list of `pulses` channels, 12 bits each, four in every six bytes (the last group cut
/// after the bytes its pulses use): one count per pulse.
fn unpack_12bit(packed: &[u8], pulses: usize, pairs: &mut Vec<(usize, u64)>) -> io::Result<()> {
    for pulse in 0..pulses {
        let channel = twelve_bit_channel(packed, pulse)
            .ok_or_else(|| invalid("12-bit pulse list shorter than its count"))?;
        pairs.push((channel, 1));
    }
    Ok(())
}

/// Pulse `pulse` of a 12-bit list. In each group of six bytes `b`, the four channels are
/// `b0.hi | b1 << 4`, `b0.lo << 8 | b3`, `b2 << 4 | b5.hi` and `b5.lo << 8 | b4`.
fn twelve_bit_channel(packed: &[u8], pulse: usize) -> Option<usize> {
    let group = packed.get(6 * (pulse / 4)..).unwrap_or_default();
    let byte = |i: usize| group.get(i).map(|&b| usize::from(b));
    Some(match pulse % 4 {
        0 => byte(0)? >> 4 | byte(1)? << 4,
        1 => (byte(0)? & 0xF) << 8 | byte(3)?,
        2 => byte(2)? << 4 | byte(5)? >> 4,
        _ => (byte(5)? & 0xF) << 8 | byte(4)?,
    })
}

/// Instructed runs: each a width code and a channel count, then — unless the code is 0 (that
/// many empty channels) — an offset of `code` bytes and one value per channel of `code / 2`
/// bytes (code 1: 4-bit values, low nibble first); a channel's count is offset + value.
fn unpack_instructed(runs: &[u8], pairs: &mut Vec<(usize, u64)>) -> io::Result<()> {
    let mut channel = 0usize;
    let mut rest = runs;
    while let [code, count, tail @ ..] = rest {
        let (code, count) = (usize::from(*code), usize::from(*count));
        rest = tail;
        if code == 0 {
            channel = channel.saturating_add(count);
            continue;
        }
        if !matches!(code, 1 | 2 | 4 | 8) {
            return Err(invalid(format!("a run of {code}-byte offsets")));
        }
        let value_bytes = if code == 1 {
            count.div_ceil(2)
        } else {
            count * code / 2
        };
        let (offset, values) = rest
            .get(..code)
            .zip(rest.get(code..code + value_bytes))
            .ok_or_else(|| invalid("an instructed run is cut short"))?;
        let offset = le_value(offset);
        for i in 0..count {
            let value = if code == 1 {
                u64::from(values[i / 2] >> (4 * (i % 2)) & 0xF)
            } else {
                le_value(&values[i * code / 2..(i + 1) * code / 2])
            };
            let counts = offset.saturating_add(value);
            if counts > u64::from(u32::MAX) {
                return Err(invalid("a channel holds more than 4 294 967 295 counts"));
            }
            if counts > 0 {
                pairs.push((channel.saturating_add(i), counts));
            }
        }
        channel = channel.saturating_add(count);
        rest = &rest[code + value_bytes..];
    }
    if rest.is_empty() {
        Ok(())
    } else {
        Err(invalid("instructed runs end with a stray byte"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Packs four 12-bit channels as the inverse of [`twelve_bit_channel`].
    fn pack_12bit([a, b, c, d]: [u16; 4]) -> [u8; 6] {
        [
            ((a & 0xF) << 4 | b >> 8) as u8,
            (a >> 4) as u8,
            (c >> 4) as u8,
            (b & 0xFF) as u8,
            (d & 0xFF) as u8,
            ((c & 0xF) << 4 | d >> 8) as u8,
        ]
    }

    #[test]
    fn twelve_bit_lists_unpack_four_pulses_per_six_bytes() {
        let mut packed = pack_12bit([0xABC, 0x123, 0x456, 0xFED]).to_vec();
        packed.extend(&pack_12bit([0x001, 0x800, 0, 0])[..4]);
        let mut pairs = Vec::new();
        unpack_12bit(&packed, 6, &mut pairs).unwrap();
        let channels: Vec<_> = pairs.iter().map(|&(c, n)| (n == 1).then_some(c)).collect();
        let expected = [0xABC, 0x123, 0x456, 0xFED, 0x001, 0x800].map(Some);
        assert_eq!(channels, expected);
        assert!(unpack_12bit(&packed, 7, &mut pairs).is_err());
    }

    #[test]
    fn sixteen_bit_lists_give_one_count_per_pulse() {
        let mut pairs = Vec::new();
        unpack_16bit(&[5, 0, 0x10, 0x02, 9, 9], 2, &mut pairs).unwrap();
        assert_eq!(pairs, [(5, 1), (0x210, 1)]);
        assert!(unpack_16bit(&[5, 0], 2, &mut pairs).is_err());
    }

    #[test]
    fn instructed_runs_add_their_offset_to_every_value() {
        let runs = [
            &[0, 5][..],                     // channels 0–4 empty
            &[1, 3, 2, 0x21, 0x03],          // 8-bit offset 2; nibbles 1, 2, 3
            &[2, 2, 10, 0, 0, 7],            // 16-bit offset 10; bytes 0, 7
            &[4, 1, 0, 0, 0, 0, 0x2C, 0x01], // 32-bit offset 0; 16-bit 300
            &[8, 1, 1, 0, 0, 0, 0, 0, 0, 0], // 64-bit offset 1; then the 32-bit value:
            &[0x70, 0x11, 0x01, 0x00],       // 70 000
        ]
        .concat();
        let mut pairs = Vec::new();
        unpack_instructed(&runs, &mut pairs).unwrap();
        let expected = [
            (5, 3),
            (6, 4),
            (7, 5),
            (8, 10),
            (9, 17),
            (10, 300),
            (11, 70_001),
        ];
        assert_eq!(pairs, expected);
        for damaged in [&runs[..runs.len() - 1], &[3, 1, 0, 0, 0, 0][..], &[0, 2, 7]] {
            assert!(unpack_instructed(damaged, &mut pairs).is_err());
        }
    }

    /// A one-file container with chunks of `chunk_size` bytes: chunk 1 holds the directory
    /// (folder `EDSDatabase`, file `HeaderData`), chunk 2 the file's chunk table, chunks 3…
    /// its content.
    fn container(chunk_size: usize, content: &[u8]) -> Vec<u8> {
        let usable = chunk_size - CHUNK_HEADER;
        let data_chunks = content.len().div_ceil(usable);
        let mut bytes = vec![0; CHUNKS_AT + (3 + data_chunks) * chunk_size];
        bytes[..8].copy_from_slice(SFS_SIGNATURE);
        let mut put = |at: usize, data: &[u8]| bytes[at..at + data.len()].copy_from_slice(data);
        put(CHUNK_SIZE_AT, &(chunk_size as u32).to_le_bytes());
        put(DIRECTORY_AT, &[1, 0, 0, 0, 2, 0, 0, 0]);
        let data = |chunk: usize| CHUNKS_AT + chunk * chunk_size + CHUNK_HEADER;
        let entry = |name: &str, parent: i32, folder: bool, size: usize| {
            let mut raw = vec![0; ENTRY_SIZE];
            raw[..4].copy_from_slice(&2u32.to_le_bytes());
            raw[4..12].copy_from_slice(&(size as u64).to_le_bytes());
            raw[40..44].copy_from_slice(&parent.to_le_bytes());
            raw[220] = u8::from(folder);
            raw[224..224 + name.len()].copy_from_slice(name.as_bytes());
            raw
        };
        put(data(1), &entry("EDSDatabase", -1, true, 0));
        put(
            data(1) + ENTRY_SIZE,
            &entry("HeaderData", 0, false, content.len()),
        );
        for (i, piece) in content.chunks(usable).enumerate() {
            put(data(2) + 4 * i, &(3 + i as u32).to_le_bytes());
            put(data(3 + i), piece);
        }
        bytes
    }

    fn read_header(bytes: &[u8]) -> Result<Vec<u8>, DecodeError> {
        let container = Container::parse(bytes)?;
        let entry = container.file(HEADER_PATH).expect("the file is listed");
        read_whole(container.open(entry)?, "header XML")
    }

    #[test]
    fn container_files_are_read_across_chunks_and_compressed_blocks() {
        let content: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(read_header(&container(2048, &content)).unwrap(), content);

        let mut compressed = vec![0; COMPRESSED_HEADER];
        compressed[..4].copy_from_slice(COMPRESSED_SIGNATURE);
        compressed[4..8].copy_from_slice(&2048u32.to_le_bytes());
        compressed[12..16].copy_from_slice(&2u32.to_le_bytes());
        for block in content.chunks(2048) {
            let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), Default::default());
            encoder.write_all(block).unwrap();
            let zlib = encoder.finish().unwrap();
            compressed.extend((zlib.len() as u32).to_le_bytes());
            compressed.extend([0; BLOCK_HEADER - 4]);
            compressed.extend(zlib);
        }
        assert_eq!(read_header(&container(2048, &compressed)).unwrap(), content);

        let bytes = container(2048, &content);
        let truncated = &bytes[..bytes.len() - 2048];
        assert!(matches!(
            read_header(truncated),
            Err(DecodeError::Corrupt { .. })
        ));
    }
}
