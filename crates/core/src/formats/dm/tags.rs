//! The DigitalMicrograph tag tree (DM3 and DM4): big-endian structure, data in the byte order
//! the header names. Arrays stay in the file: only their place and element are kept.

use super::{FORMAT, corrupt};
use crate::formats::bytes::Cursor;
use crate::formats::samples::{SampleFormat, SampleKind};
use crate::formats::{DecodeError, Limits};

pub(super) const GROUP_TAG: u8 = 20;
const DATA_TAG: u8 = 21;
/// Element type of arrays of structures.
pub(super) const STRUCT: u64 = 15;
const STRING: u64 = 18;
const ARRAY: u64 = 20;
/// Element type of DigitalMicrograph's text (UTF-16 code units).
pub(super) const UINT16: u64 = 4;

/// A node of the tag tree. Arrays stay in the file: only their place and element are kept.
#[derive(Debug)]
pub(super) enum Tag {
    Group(Vec<(String, Tag)>),
    Number(f64),
    /// `len` elements of `element_size` bytes from `offset`; `element` is the simple type, or
    /// [`STRUCT`] for arrays of structures.
    Array {
        element: u64,
        element_size: usize,
        offset: usize,
        len: usize,
    },
    Other,
}

impl Tag {
    pub(super) fn get(&self, label: &str) -> Option<&Tag> {
        self.children()
            .iter()
            .find(|(name, _)| name == label)
            .map(|(_, tag)| tag)
    }

    pub(super) fn path(&self, labels: &[&str]) -> Option<&Tag> {
        labels.iter().try_fold(self, |tag, label| tag.get(label))
    }

    pub(super) fn children(&self) -> &[(String, Tag)] {
        match self {
            Tag::Group(entries) => entries,
            _ => &[],
        }
    }

    pub(super) fn number(&self) -> Option<f64> {
        match self {
            Tag::Number(value) => Some(*value),
            _ => None,
        }
    }

    /// The sizes of an `ImageData` group's dimensions, fastest first.
    pub(super) fn dimensions(&self) -> Vec<usize> {
        self.get("Dimensions")
            .map(Tag::children)
            .unwrap_or_default()
            .iter()
            .filter_map(|(_, d)| d.number())
            .map(|d| d as usize)
            .collect()
    }
}

/// A parsed file: its tag tree, with the bytes its arrays point into.
pub(super) struct DmFile<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) little_endian: bool,
    pub(super) root: Tag,
    /// The limits the file is read within.
    pub(super) limits: Limits,
}

/// Parses the tag tree of `bytes`; nesting deeper than [`Limits::max_depth`] is taken for a
/// damaged file (real files nest about 10 deep).
pub(super) fn parse<'a>(bytes: &'a [u8], limits: &Limits) -> Result<DmFile<'a>, DecodeError> {
    let mut parser = Parser {
        cursor: Cursor::new(FORMAT, bytes),
        dm4: false,
        little_endian: false,
        max_depth: limits.max_depth,
    };
    parser.dm4 = parser.cursor.be::<u32>()? == 4;
    parser.word()?; // file length
    parser.little_endian = parser.cursor.be::<u32>()? == 1;
    let root = parser.group(0)?;
    Ok(DmFile {
        bytes,
        little_endian: parser.little_endian,
        root,
        limits: *limits,
    })
}

/// Reads the tag structure; every read is bounds-checked, so a damaged file is an error.
struct Parser<'a> {
    cursor: Cursor<'a>,
    dm4: bool,
    little_endian: bool,
    max_depth: usize,
}

impl Parser<'_> {
    /// A count or size: 4 bytes in DM3, 8 in DM4 (big-endian).
    fn word(&mut self) -> Result<u64, DecodeError> {
        if self.dm4 {
            self.cursor.be::<u64>()
        } else {
            self.cursor.be::<u32>().map(u64::from)
        }
    }

    fn group(&mut self, depth: usize) -> Result<Tag, DecodeError> {
        if depth > self.max_depth {
            return Err(corrupt("tags nested too deeply"));
        }
        self.cursor.skip(2)?; // sorted, open
        let count = self.word()?;
        let mut entries = Vec::new();
        for _ in 0..count {
            let kind = self.cursor.be::<u8>()?;
            let label_len = usize::from(self.cursor.be::<u16>()?);
            let label = self
                .cursor
                .take(label_len)?
                .iter()
                .map(|&b| char::from(b))
                .collect();
            if self.dm4 {
                self.cursor.skip(8)?; // size of the tag's content
            }
            let tag = match kind {
                GROUP_TAG => self.group(depth + 1)?,
                DATA_TAG => self.data()?,
                _ => return Err(corrupt("unknown tag kind")),
            };
            entries.push((label, tag));
        }
        Ok(Tag::Group(entries))
    }

    fn data(&mut self) -> Result<Tag, DecodeError> {
        if self.cursor.take(4)? != b"%%%%" {
            return Err(corrupt("a data tag lacks its %%%% marker"));
        }
        let info_len = self.word()?;
        if info_len > self.cursor.remaining() as u64 {
            return Err(corrupt("implausible tag description"));
        }
        let info: Vec<u64> = (0..info_len)
            .map(|_| self.word())
            .collect::<Result<_, _>>()?;
        match info[..] {
            [simple] => {
                let size = element_size(simple).ok_or_else(|| corrupt("unknown number type"))?;
                let little_endian = self.little_endian;
                let raw = self.cursor.take(size)?;
                Ok(element_value(simple, raw, little_endian).map_or(Tag::Other, Tag::Number))
            }
            [STRING, len] => self.array(UINT16, 2, len),
            [ARRAY, STRUCT, _, fields, ref types @ .., len] if holds_fields(types, fields) => {
                self.array(STRUCT, struct_size(types)?, len)
            }
            [ARRAY, element, len] => {
                let size = element_size(element).ok_or_else(|| corrupt("unknown array type"))?;
                self.array(element, size, len)
            }
            [STRUCT, _, fields, ref types @ ..] if holds_fields(types, fields) => {
                self.cursor.skip(struct_size(types)?)?;
                Ok(Tag::Other)
            }
            _ => Err(corrupt("unknown tag data type")),
        }
    }

    fn array(&mut self, element: u64, element_size: usize, len: u64) -> Result<Tag, DecodeError> {
        let len = usize::try_from(len).map_err(|_| corrupt("implausible array length"))?;
        let bytes = len
            .checked_mul(element_size)
            .ok_or_else(|| corrupt("implausible array length"))?;
        let offset = self.cursor.position();
        self.cursor.skip(bytes)?;
        Ok(Tag::Array {
            element,
            element_size,
            offset,
            len,
        })
    }
}

/// Whether `types` is one (name length, type) pair for each of a structure's `fields`; the
/// count comes from the file, so it may be anything.
fn holds_fields(types: &[u64], fields: u64) -> bool {
    fields.checked_mul(2) == Some(types.len() as u64)
}

/// Size of a structure from its (name length, type) pairs.
pub(super) fn struct_size(types: &[u64]) -> Result<usize, DecodeError> {
    types
        .chunks(2)
        .map(|pair| element_size(pair[1]).ok_or_else(|| corrupt("unknown structure field type")))
        .sum()
}

/// How an element of DigitalMicrograph's simple type `element` is stored (8 is a boolean).
fn element_format(element: u64, little_endian: bool) -> Option<SampleFormat> {
    use SampleKind::{Float, Signed, Unsigned};
    let (kind, size) = match element {
        2 => (Signed, 2),
        3 => (Signed, 4),
        4 => (Unsigned, 2),
        5 => (Unsigned, 4),
        6 => (Float, 4),
        7 => (Float, 8),
        8 | 10 => (Unsigned, 1),
        9 => (Signed, 1),
        11 => (Signed, 8),
        12 => (Unsigned, 8),
        _ => return None,
    };
    SampleFormat::new(kind, size, little_endian)
}

/// Bytes per element of DigitalMicrograph's simple types.
pub(super) fn element_size(element: u64) -> Option<usize> {
    element_format(element, true).map(|format| format.size())
}

/// Decodes one element of simple type `element` from `raw`, which holds exactly its bytes.
pub(super) fn element_value(element: u64, raw: &[u8], little_endian: bool) -> Option<f64> {
    element_format(element, little_endian).map(|format| format.value(raw))
}

impl DmFile<'_> {
    /// A string tag: DigitalMicrograph stores text as arrays of UTF-16 code units.
    pub(super) fn text(&self, tag: &Tag) -> Option<String> {
        let &Tag::Array {
            element: UINT16,
            offset,
            len,
            ..
        } = tag
        else {
            return None;
        };
        let units: Vec<u16> = self.bytes[offset..offset + 2 * len]
            .chunks_exact(2)
            .map(|raw| element_value(UINT16, raw, self.little_endian).unwrap_or(0.0) as u16)
            .collect();
        Some(String::from_utf16_lossy(&units))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_decode_in_either_byte_order() {
        assert_eq!(element_value(2, &[0xFF, 0xFE], false), Some(-2.0));
        assert_eq!(element_value(2, &[0xFE, 0xFF], true), Some(-2.0));
        assert_eq!(element_value(6, &1.5f32.to_be_bytes(), false), Some(1.5));
        assert_eq!(
            element_value(12, &u64::MAX.to_le_bytes(), true),
            Some(u64::MAX as f64)
        );
        assert_eq!(element_value(99, &[0], true), None);
    }
}
