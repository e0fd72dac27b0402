//! Dense arrays of stored samples — integers of 1 to 8 bytes or floats, in either byte order —
//! read in place: the cubes of Lispix ripple `.raw` files and DigitalMicrograph spectrum images,
//! and TIA's spectra, turned into sparse maps of whole counts.

use super::DecodeError;
use super::bytes::uint;
use crate::dataset::Calibration;
use crate::spectra::{EnergyAxis, SpectrumImage, SpectrumImageBuilder};

/// Kinds of stored numbers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum SampleKind {
    Signed,
    Unsigned,
    Float,
}

/// How one sample is stored: its kind, bytes and byte order.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct SampleFormat {
    kind: SampleKind,
    size: usize,
    little_endian: bool,
}

impl SampleFormat {
    /// A sample format; `None` for sizes the kind does not come in (integers of 1, 2, 4 or 8
    /// bytes, floats of 4 or 8).
    pub(super) fn new(kind: SampleKind, size: usize, little_endian: bool) -> Option<Self> {
        let valid = match kind {
            SampleKind::Float => matches!(size, 4 | 8),
            SampleKind::Signed | SampleKind::Unsigned => matches!(size, 1 | 2 | 4 | 8),
        };
        valid.then_some(Self {
            kind,
            size,
            little_endian,
        })
    }

    /// Bytes per sample.
    pub(super) fn size(&self) -> usize {
        self.size
    }

    /// The value of the sample stored in `raw` (exactly [`Self::size`] bytes).
    pub(super) fn value(&self, raw: &[u8]) -> f64 {
        let bits = uint(raw, self.little_endian);
        let unused_bits = 64 - 8 * self.size as u32;
        match (self.kind, self.size) {
            (SampleKind::Float, 4) => f64::from(f32::from_bits(bits as u32)),
            (SampleKind::Float, _) => f64::from_bits(bits),
            (SampleKind::Unsigned, _) => bits as f64,
            // Shifting the sign bit to the top and back extends it.
            (SampleKind::Signed, _) => ((bits << unused_bits) as i64 >> unused_bits) as f64,
        }
    }
}

/// A dense cube of samples — `width × height` pixels of `depth` channels — laid out in its
/// bytes by strides, as ripple `.raw` files and DigitalMicrograph spectrum images store them.
/// It is read in place, sample by sample.
pub(super) struct DenseCube<'a> {
    bytes: &'a [u8],
    sample: SampleFormat,
    width: usize,
    height: usize,
    depth: usize,
    /// Samples from one pixel to the next along x, along y, and from one channel to the next.
    strides: [usize; 3],
}

impl<'a> DenseCube<'a> {
    /// The cube of `[width, height, depth]` samples whose strides are `[x, y, channel]`;
    /// `None` when a size is 0 or a sample lies beyond `bytes`.
    pub(super) fn new(
        bytes: &'a [u8],
        sample: SampleFormat,
        [width, height, depth]: [usize; 3],
        strides: [usize; 3],
    ) -> Option<Self> {
        let last_sample = [width, height, depth]
            .iter()
            .zip(strides)
            .try_fold(0usize, |last, (&size, stride)| {
                last.checked_add(size.checked_sub(1)?.checked_mul(stride)?)
            })?;
        let end = last_sample.checked_add(1)?.checked_mul(sample.size)?;
        (end <= bytes.len()).then_some(Self {
            bytes,
            sample,
            width,
            height,
            depth,
            strides,
        })
    }

    fn value(&self, x: usize, y: usize, channel: usize) -> f64 {
        let [x_stride, y_stride, channel_stride] = self.strides;
        let start = (x * x_stride + y * y_stride + channel * channel_stride) * self.sample.size;
        self.sample
            .value(&self.bytes[start..start + self.sample.size])
    }

    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        (0..self.height).flat_map(move |y| {
            (0..self.width)
                .flat_map(move |x| (0..self.depth).map(move |channel| self.value(x, y, channel)))
        })
    }

    /// The stored values of pixel (`x`, `y`), channel after channel.
    pub(super) fn spectrum(&self, x: usize, y: usize) -> Vec<f64> {
        (0..self.depth).map(|c| self.value(x, y, c)).collect()
    }

    /// How many values are not whole non-negative counts.
    pub(super) fn survey(&self) -> ValueSurvey {
        if self.sample.kind == SampleKind::Unsigned {
            return ValueSurvey::default();
        }
        self.values().fold(ValueSurvey::default(), |survey, value| {
            let fractional = !value.is_finite() || value.fract() != 0.0;
            ValueSurvey {
                fractional: survey.fractional + usize::from(fractional),
                negative: survey.negative + usize::from(value < 0.0),
            }
        })
    }

    /// The sparse map of the cube on `axis`, summing every `bin` channels; values are rounded
    /// to the nearest whole count, negative ones and non-numbers taken as 0.
    pub(super) fn to_map(
        &self,
        axis: EnergyAxis,
        bin: usize,
        calibration: Option<Calibration>,
        beam_kv: Option<f64>,
        format: &'static str,
    ) -> Result<SpectrumImage, DecodeError> {
        let refused = |error: crate::spectra::SpectrumError| DecodeError::Unsupported {
            format,
            detail: error.to_string(),
        };
        let mut builder =
            SpectrumImageBuilder::new(self.width, self.height, axis, bin).map_err(refused)?;
        for y in 0..self.height {
            for x in 0..self.width {
                let counts = (0..self.depth)
                    .map(|channel| (channel, whole_count(self.value(x, y, channel))))
                    .filter(|&(_, count)| count > 0);
                builder.push_sparse(counts).map_err(refused)?;
            }
        }
        builder.finish(calibration, beam_kv).map_err(refused)
    }
}

/// The nearest whole count to `value`; 0 for negative values and non-numbers.
fn whole_count(value: f64) -> u64 {
    if value > 0.0 { value.round() as u64 } else { 0 }
}

/// Values of a cube that are not whole non-negative counts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct ValueSurvey {
    /// Values with a fractional part, and non-numbers.
    pub(super) fractional: usize,
    pub(super) negative: usize,
}

impl ValueSurvey {
    /// Notes telling the user how [`DenseCube::to_map`] changed the values, if it did.
    pub(super) fn rounding_notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.fractional > 0 {
            notes.push(format!(
                "{} values were not whole counts and were rounded to the nearest",
                self.fractional
            ));
        }
        if self.negative > 0 {
            notes.push(format!("{} negative values were taken as 0", self.negative));
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_decode_every_kind_and_order() {
        let i16_be = SampleFormat::new(SampleKind::Signed, 2, false).unwrap();
        assert_eq!(i16_be.value(&[0xFF, 0xFE]), -2.0);
        let i8 = SampleFormat::new(SampleKind::Signed, 1, true).unwrap();
        assert_eq!(i8.value(&[0x80]), -128.0);
        let u32_le = SampleFormat::new(SampleKind::Unsigned, 4, true).unwrap();
        assert_eq!(u32_le.value(&[0xFF, 0xFF, 0xFF, 0xFF]), 4_294_967_295.0);
        let f32_be = SampleFormat::new(SampleKind::Float, 4, false).unwrap();
        assert_eq!(f32_be.value(&2.5f32.to_be_bytes()), 2.5);
        let i64_le = SampleFormat::new(SampleKind::Signed, 8, true).unwrap();
        assert_eq!(i64_le.value(&(-7i64).to_le_bytes()), -7.0);
        assert!(SampleFormat::new(SampleKind::Float, 2, true).is_none());
        assert!(SampleFormat::new(SampleKind::Unsigned, 3, true).is_none());
    }
}
