//! The AidAim SFS container a `.bcf` is: a small file system of fixed-size chunks. A header
//! gives the chunk size and where the directory starts; the directory (itself a chain of
//! chunks) lists every file and folder — name, parent, size, and the chunk that starts the
//! table of the file's chunks. A file may be zlib-compressed block by block; it is then read
//! through [`BlockStream`], inflating one block at a time.

use std::io::{self, Read};

use flate2::read::ZlibDecoder;

use super::{corrupt, invalid, unsupported};
use crate::formats::bytes::{le_at, uint};
use crate::formats::{DecodeError, Limits};

/// What every SFS container starts with.
pub(super) const SFS_SIGNATURE: &[u8] = b"AAMVHFSS";
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
        le_at::<u32>(self.bytes, at).map(|next| next as usize)
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
pub(super) struct Entry {
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
        let word = |at| le_at::<u32>(raw, at).unwrap_or(0);
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
pub(super) struct Container<'a> {
    chunks: Chunks<'a>,
    entries: Vec<Entry>,
    /// Deepest folder nesting a path may have ([`Limits::max_depth`]).
    max_depth: usize,
}

impl<'a> Container<'a> {
    /// The container in `bytes`; a directory of more than [`Limits::max_objects`] entries is
    /// refused.
    pub(super) fn parse(bytes: &'a [u8], limits: &Limits) -> Result<Self, DecodeError> {
        if !bytes.starts_with(SFS_SIGNATURE) {
            return Err(corrupt("no SFS container signature (AAMVHFSS)"));
        }
        let word = |at| {
            le_at::<u32>(bytes, at)
                .map(|w| w as usize)
                .ok_or_else(|| corrupt("the container header is cut short"))
        };
        let size = word(CHUNK_SIZE_AT)?;
        if size < CHUNK_HEADER + ENTRY_SIZE {
            return Err(corrupt(format!("chunks of {size} bytes are too small")));
        }
        let chunks = Chunks { bytes, size };
        let (first, count) = (word(DIRECTORY_AT)?, word(DIRECTORY_AT + 4)?);
        if count > limits.max_objects {
            return Err(unsupported(format!(
                "its container lists {count} files, more than {}",
                limits.max_objects
            )));
        }
        let per_chunk = chunks.usable() / ENTRY_SIZE;
        let entries: Vec<Entry> = chunks
            .chain(first, count.div_ceil(per_chunk))?
            .iter()
            .flat_map(|data| data.chunks_exact(ENTRY_SIZE).take(per_chunk))
            .take(count)
            .map(Entry::parse)
            .collect();
        Ok(Self {
            chunks,
            entries,
            max_depth: limits.max_depth,
        })
    }

    /// The path of `entry` from the root, e.g. "EDSDatabase/HeaderData".
    fn path(&self, entry: &Entry) -> Option<String> {
        let mut names = vec![entry.name.as_str()];
        let mut parent = entry.parent;
        while let Some(index) = parent {
            let folder = self.entries.get(index)?;
            if names.len() > self.entries.len().min(self.max_depth) {
                return None; // a loop of parents, or folders nested too deeply
            }
            names.push(&folder.name);
            parent = folder.parent;
        }
        names.reverse();
        Some(names.join("/"))
    }

    /// The file at `path`, e.g. "EDSDatabase/HeaderData".
    pub(super) fn file(&self, path: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| !e.is_folder && self.path(e).as_deref() == Some(path))
    }

    /// Whether the container has a top-level folder named `name`.
    pub(super) fn has_folder(&self, name: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.is_folder && e.parent.is_none() && e.name == name)
    }

    /// The files whose path is `prefix` and a number (e.g. `EDSDatabase/SpectrumData0`), with
    /// their numbers, by increasing number.
    pub(super) fn numbered(&self, prefix: &str) -> Vec<(usize, &Entry)> {
        let mut files: Vec<_> = self
            .entries
            .iter()
            .filter(|e| !e.is_folder)
            .filter_map(|e| {
                let path = self.path(e)?;
                Some((path.strip_prefix(prefix)?.parse().ok()?, e))
            })
            .collect();
        files.sort_by_key(|&(number, _)| number);
        files
    }

    /// The content of a file, decompressed as it is read.
    pub(super) fn open(&self, entry: &Entry) -> Result<Box<dyn Read + 'a>, DecodeError> {
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
                .map(|w| uint(w, true) as usize)
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
        let block_size = le_at::<u32>(&header, 4).unwrap_or(0) as usize;
        if block_size == 0 || block_size > MAX_BLOCK {
            return Err(invalid(format!(
                "{}: compressed blocks of {block_size} bytes",
                raw.name
            )));
        }
        Ok(Self {
            blocks_left: le_at::<u32>(&header, 12).unwrap_or(0),
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
        let stored = u64::from(le_at::<u32>(&header, 0).unwrap_or(0));
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
pub(super) fn read_exactly(
    reader: &mut impl Read,
    len: u64,
    buffer: &mut Vec<u8>,
) -> io::Result<()> {
    buffer.clear();
    reader.by_ref().take(len).read_to_end(buffer)?;
    if (buffer.len() as u64) < len {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::bcf::header::{HEADER_PATH, read_whole};
    use std::io::Write;

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
        let limits = Limits::default();
        let container = Container::parse(bytes, &limits)?;
        let entry = container.file(HEADER_PATH).expect("the file is listed");
        read_whole(container.open(entry)?, "header XML", &limits)
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
