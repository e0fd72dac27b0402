//! The spectra of a `.bcf` map, `EDSDatabase/SpectrumData<n>`: the map's height and width,
//! then line by line the number of recorded pixels and each pixel — its x, how its counts are
//! packed (a list of 16-bit or of 12-bit pulse channels, or "instructed" runs of channel
//! counts that share an offset, followed by extra 16-bit pulses) and the packed counts —
//! streamed into a sparse [`SpectrumImageBuilder`].

use std::io::{self, BufReader, Read};

use super::sfs::read_exactly;
use super::{corrupt, invalid, unsupported};
use crate::formats::bytes::{le_at, uint};
use crate::formats::{DecodeError, ReadOptions};
use crate::spectra::{EnergyAxis, SpectrumImageBuilder};

/// The spectra file starts with the map's height and width, then padding to this size.
const SPECTRA_HEADER: usize = 0x1A0;
const PIXEL_HEADER: usize = 22;

/// Streams the packed spectra into a map.
pub(super) fn read_spectra(
    stream: impl Read,
    axis: EnergyAxis,
    options: &ReadOptions,
) -> Result<SpectrumImageBuilder, DecodeError> {
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut header = [0; SPECTRA_HEADER];
    reader
        .read_exact(&mut header)
        .map_err(|e| corrupt(format!("spectrum data header: {e}")))?;
    let dimension = |at| le_at::<u32>(&header, at).unwrap_or(0) as usize;
    let (height, width) = (dimension(0), dimension(4));
    options.limits.check_image(width, height)?;
    let mut builder = SpectrumImageBuilder::new(width, height, axis, options.bin)
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
        let half = |at| le_at::<u16>(&raw, at).unwrap_or(0);
        Ok(Self {
            x: le_at::<u32>(&raw, 0).unwrap_or(0) as usize,
            packing: half(12),
            pulses: usize::from(half(16)),
            packed_size: le_at::<u32>(&raw, 18).unwrap_or(0) as usize,
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
                let extra = le_at::<u32>(packed, runs).unwrap_or(0);
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
        let offset = uint(offset, true);
        for i in 0..count {
            let value = if code == 1 {
                u64::from(values[i / 2] >> (4 * (i % 2)) & 0xF)
            } else {
                uint(&values[i * code / 2..(i + 1) * code / 2], true)
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
}
