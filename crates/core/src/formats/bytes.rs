//! Reading numbers and slices out of a file's bytes, shared by the binary readers: [`Cursor`],
//! a bounds-checked reader whose every short read is a damaged-file error naming its format,
//! and the byte-order helpers behind it ([`Number`], [`le_at`], [`uint`]).

use super::DecodeError;

/// A number stored in a fixed number of bytes, little-endian or big-endian.
pub(super) trait Number: Sized {
    /// Bytes it is stored in.
    const SIZE: usize;

    /// The number stored in `raw` (exactly [`Self::SIZE`] bytes) in the given byte order.
    fn from_bytes(raw: &[u8], little_endian: bool) -> Self;
}

macro_rules! numbers {
    ($($number:ty),*) => {$(
        impl Number for $number {
            const SIZE: usize = size_of::<$number>();

            fn from_bytes(raw: &[u8], little_endian: bool) -> Self {
                let raw = raw.try_into().expect("exactly the number's bytes");
                if little_endian {
                    <$number>::from_le_bytes(raw)
                } else {
                    <$number>::from_be_bytes(raw)
                }
            }
        }
    )*};
}

numbers!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);

/// The number stored at byte `at` of `bytes` in the given byte order; `None` past the end.
pub(super) fn number_at<T: Number>(bytes: &[u8], at: usize, little_endian: bool) -> Option<T> {
    let raw = bytes.get(at..at.checked_add(T::SIZE)?)?;
    Some(T::from_bytes(raw, little_endian))
}

/// The little-endian number at byte `at` of `bytes`; `None` past the end.
pub(super) fn le_at<T: Number>(bytes: &[u8], at: usize) -> Option<T> {
    number_at(bytes, at, true)
}

/// The unsigned integer stored in `raw` (up to 8 bytes) in the given byte order.
pub(super) fn uint(raw: &[u8], little_endian: bool) -> u64 {
    let byte = |value: u64, &byte: &u8| value << 8 | u64::from(byte);
    if little_endian {
        raw.iter().rev().fold(0, byte)
    } else {
        raw.iter().fold(0, byte)
    }
}

/// A reader over a file's bytes from a position on. A read past the end is a damaged-file
/// error of its format that says "the file ends early", or what [`Cursor::ends_early`] sets,
/// and where the read began when [`Cursor::telling_position`] asks it to.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
    format: &'static str,
    ends_early: &'static str,
    telling_position: bool,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`, a file of `format`.
    pub(super) fn new(format: &'static str, bytes: &'a [u8]) -> Self {
        Cursor {
            bytes,
            position: 0,
            format,
            ends_early: "the file ends early",
            telling_position: false,
        }
    }

    /// The same cursor, whose short reads say `detail`, e.g. "the file ends inside its
    /// preamble".
    pub(super) fn ends_early(self, detail: &'static str) -> Self {
        Cursor {
            ends_early: detail,
            ..self
        }
    }

    /// The same cursor, whose short reads also say where they began: "… (at byte 120)".
    pub(super) fn telling_position(self) -> Self {
        Cursor {
            telling_position: true,
            ..self
        }
    }

    /// The same bytes from `position` on (which may lie past the end: reads then fail).
    pub(super) fn at(self, position: usize) -> Self {
        Cursor { position, ..self }
    }

    /// Where the next read starts.
    pub(super) fn position(&self) -> usize {
        self.position
    }

    /// Bytes left after the position.
    pub(super) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.position)
    }

    /// The next byte, without moving; `None` at the end.
    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    /// The next `len` bytes.
    pub(super) fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .position
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| self.short_read())?;
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    /// Moves past the next `len` bytes.
    pub(super) fn skip(&mut self, len: usize) -> Result<(), DecodeError> {
        self.take(len).map(drop)
    }

    /// The next `N` bytes.
    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.take(N)?.try_into().expect("a slice of N bytes"))
    }

    /// The next number, little-endian.
    pub(super) fn le<T: Number>(&mut self) -> Result<T, DecodeError> {
        self.take(T::SIZE).map(|raw| T::from_bytes(raw, true))
    }

    /// The next number, big-endian.
    pub(super) fn be<T: Number>(&mut self) -> Result<T, DecodeError> {
        self.take(T::SIZE).map(|raw| T::from_bytes(raw, false))
    }

    fn short_read(&self) -> DecodeError {
        let detail = if self.telling_position {
            format!("{} (at byte {})", self.ends_early, self.position)
        } else {
            self.ends_early.to_string()
        };
        DecodeError::corrupt(self.format, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_in_either_byte_order() {
        let bytes = [0x01, 0x02, 0x03, 0x04, 0xFF];
        assert_eq!(le_at::<u16>(&bytes, 1), Some(0x0302));
        assert_eq!(number_at::<u16>(&bytes, 1, false), Some(0x0203));
        assert_eq!(le_at::<u32>(&bytes, 2), None);
        assert_eq!(le_at::<u8>(&bytes, usize::MAX), None);
        assert_eq!(i16::from_bytes(&[0xFF, 0xFE], false), -2);
        assert_eq!(f32::from_bytes(&1.5f32.to_be_bytes(), false), 1.5);
        assert_eq!(uint(&bytes[..3], true), 0x030201);
        assert_eq!(uint(&bytes[..3], false), 0x010203);
        assert_eq!(uint(&[], true), 0);
    }

    #[test]
    fn a_cursor_reads_in_order_and_short_reads_are_damaged_files() {
        let bytes = [1, 0, 0, 2, 0xAB, 7];
        let mut cursor = Cursor::new("Test", &bytes);
        assert_eq!(cursor.le::<u16>(), Ok(1));
        assert_eq!(cursor.be::<u16>(), Ok(2));
        assert_eq!(cursor.peek(), Some(0xAB));
        assert_eq!((cursor.position(), cursor.remaining()), (4, 2));
        assert_eq!(cursor.array::<1>(), Ok([0xAB]));
        assert_eq!(
            cursor.le::<u32>(),
            Err(DecodeError::corrupt("Test", "the file ends early"))
        );
        assert_eq!(cursor.position(), 5, "a failed read does not move");
        assert_eq!(cursor.take(1), Ok(&[7][..]));
        assert_eq!((cursor.remaining(), cursor.peek()), (0, None));

        let far = Cursor::new("Test", &bytes).at(100);
        assert_eq!(far.remaining(), 0);
        let error = far
            .ends_early("the header is cut short")
            .telling_position()
            .skip(1);
        let expected = DecodeError::corrupt("Test", "the header is cut short (at byte 100)");
        assert_eq!(error, Err(expected));
        assert!(Cursor::new("Test", &bytes).at(usize::MAX).take(2).is_err());
    }
}
