//! EDS spectra and spectrum images, as the spectral readers of [`crate::formats::spectral`]
//! yield them.
//!
//! A spectrum image is held sparse — for each pixel, the channels with counts and their counts,
//! in compressed-row form — never as a dense cube: a 512 × 512 × 4096 JEOL map with about one
//! count per pixel takes a few megabytes instead of the 4 GiB of a dense `f32` cube, and a
//! densely filled one shrinks further when its channels are binned while it is read
//! ([`SpectrumImageBuilder::new`]'s `bin`). Everything the segmentation needs is a sum over
//! pixels (a chip's spectrum, the sum spectrum) or over channels (an element map), and both
//! walk the sparse rows.

use crate::dataset::Calibration;

pub mod chips;
pub mod lines;
pub mod modality;
pub mod spec2vec;
pub mod synthetic;

/// The energy of every channel: `offset_kev + channel × scale_kev`, for `channels` channels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnergyAxis {
    /// Energy of the start of channel 0, keV; may be negative.
    pub offset_kev: f64,
    /// Width of one channel, keV.
    pub scale_kev: f64,
    /// Number of channels.
    pub channels: usize,
}

impl EnergyAxis {
    /// The axis of `channels` channels `scale` wide from `offset`, both given in `unit`
    /// ("eV" or "keV", in any case); `None` when `unit` is not an energy.
    pub fn in_unit(offset: f64, scale: f64, unit: &str, channels: usize) -> Option<EnergyAxis> {
        let kev_per_unit = match unit.trim().to_ascii_lowercase().as_str() {
            "ev" => 0.001,
            "kev" => 1.0,
            _ => return None,
        };
        Some(EnergyAxis {
            offset_kev: offset * kev_per_unit,
            scale_kev: scale * kev_per_unit,
            channels,
        })
    }

    /// Energy of the start of channel `channel`, keV.
    pub fn energy(&self, channel: usize) -> f64 {
        self.offset_kev + channel as f64 * self.scale_kev
    }

    /// The channel holding energy `kev`, if inside the axis.
    pub fn channel_of(&self, kev: f64) -> Option<usize> {
        let position = ((kev - self.offset_kev) / self.scale_kev).floor();
        (position >= 0.0 && position < self.channels as f64).then_some(position as usize)
    }

    /// The axis after summing every `bin` consecutive channels (a last partial bin is kept).
    pub fn binned(&self, bin: usize) -> EnergyAxis {
        let bin = bin.max(1);
        EnergyAxis {
            offset_kev: self.offset_kev,
            scale_kev: self.scale_kev * bin as f64,
            channels: self.channels.div_ceil(bin),
        }
    }
}

/// One spectrum: counts (or intensities) per channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Spectrum {
    /// The energy of each channel.
    pub axis: EnergyAxis,
    /// One value per channel of `axis`.
    pub counts: Vec<f64>,
}

/// A spectrum image, sparse: pixel `p` (row-major) has the (channel, count) pairs
/// `channels[offsets[p]..offsets[p + 1]]`, `counts[…]`, channels increasing, counts positive.
#[derive(Clone, Debug, PartialEq)]
pub struct SpectrumImage {
    /// Map width, pixels.
    pub width: usize,
    /// Map height, pixels.
    pub height: usize,
    /// The energy of each channel, after any binning while reading.
    pub axis: EnergyAxis,
    /// Pixel size of the map, when the file records one.
    pub calibration: Option<Calibration>,
    /// Acceleration voltage, kV, when recorded (it bounds the useful energy range).
    pub beam_kv: Option<f64>,
    offsets: Vec<usize>,
    channels: Vec<u16>,
    counts: Vec<u32>,
}

impl SpectrumImage {
    /// The (channel, count) pairs of pixel (`x`, `y`).
    pub fn pixel(&self, x: usize, y: usize) -> impl Iterator<Item = (usize, u32)> + '_ {
        let p = y * self.width + x;
        let range = self.offsets[p]..self.offsets[p + 1];
        self.channels[range.clone()]
            .iter()
            .zip(&self.counts[range])
            .map(|(&c, &n)| (usize::from(c), n))
    }

    /// Summed counts per channel over the `width × height` pixels from (`x`, `y`) (clipped to
    /// the map): a chip's spectrum.
    pub fn region_sum(&self, x: usize, y: usize, width: usize, height: usize) -> Vec<u64> {
        let mut sum = vec![0u64; self.axis.channels];
        for row in y..(y + height).min(self.height) {
            for col in x..(x + width).min(self.width) {
                for (channel, count) in self.pixel(col, row) {
                    sum[channel] += u64::from(count);
                }
            }
        }
        sum
    }

    /// Summed counts per channel over the whole map.
    pub fn sum_spectrum(&self) -> Vec<u64> {
        let mut sum = vec![0u64; self.axis.channels];
        for (&channel, &count) in self.channels.iter().zip(&self.counts) {
            sum[usize::from(channel)] += u64::from(count);
        }
        sum
    }

    /// Counts per pixel in channels `first..=last` (an element map from an energy window).
    pub fn window_map(&self, first: usize, last: usize) -> Vec<u32> {
        (0..self.width * self.height)
            .map(|p| {
                let range = self.offsets[p]..self.offsets[p + 1];
                self.channels[range.clone()]
                    .iter()
                    .zip(&self.counts[range])
                    .filter(|(c, _)| (first..=last).contains(&usize::from(**c)))
                    .map(|(_, &n)| n)
                    .sum()
            })
            .collect()
    }

    /// All counts in the map.
    pub fn total_counts(&self) -> u64 {
        self.counts.iter().map(|&n| u64::from(n)).sum()
    }

    /// Bytes held by the sparse counts.
    pub fn memory_bytes(&self) -> usize {
        self.offsets.len() * size_of::<usize>()
            + self.channels.len() * size_of::<u16>()
            + self.counts.len() * size_of::<u32>()
    }
}

/// Builds a [`SpectrumImage`] pixel after pixel in row-major order, binning channels on the way.
#[derive(Debug)]
pub struct SpectrumImageBuilder {
    image: SpectrumImage,
    bin: usize,
    /// Binned counts of the pixel being added (reused).
    scratch: Vec<u64>,
    /// The binned channels of `scratch` the pixel being added has counts in, so finishing a
    /// sparse pixel costs its counts, not the channel count.
    touched: Vec<usize>,
}

/// Why a spectrum image could not be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SpectrumError {
    /// The axis, once binned, has more channels than a sparse row can name; how many.
    #[error("the spectrum image has {0} channels; Chipscope reads at most 65 536")]
    TooManyChannels(usize),
    /// One pixel's count in one (binned) channel does not fit in 32 bits.
    #[error("a pixel's counts exceed 4 294 967 295 in one channel")]
    CountOverflow,
    /// An event-list map is wider than its packed events can address; its width, pixels.
    #[error("the spectrum image is {0} pixels wide; Chipscope reads at most 65 536")]
    TooWide(usize),
    /// The reader finished a map with more or fewer pixels than its size.
    #[error("{pushed} pixels were given for a {width} × {height} map")]
    WrongPixelCount {
        /// Pixels added.
        pushed: usize,
        /// Map width, pixels.
        width: usize,
        /// Map height, pixels.
        height: usize,
    },
}

impl SpectrumImageBuilder {
    /// A builder for a `width × height` map on `axis`, summing every `bin` channels (1: none).
    pub fn new(
        width: usize,
        height: usize,
        axis: EnergyAxis,
        bin: usize,
    ) -> Result<Self, SpectrumError> {
        let binned = binned_axis(&axis, bin)?;
        let mut offsets = Vec::with_capacity(width * height + 1);
        offsets.push(0);
        Ok(Self {
            image: SpectrumImage {
                width,
                height,
                axis: binned,
                calibration: None,
                beam_kv: None,
                offsets,
                channels: Vec::new(),
                counts: Vec::new(),
            },
            bin: bin.max(1),
            scratch: vec![0; binned.channels],
            touched: Vec::new(),
        })
    }

    /// Adds the next pixel from its (channel, count) pairs on the unbinned axis, in any order
    /// (channels beyond the axis are ignored, repeated channels add up).
    pub fn push_sparse(
        &mut self,
        pairs: impl IntoIterator<Item = (usize, u64)>,
    ) -> Result<(), SpectrumError> {
        for (channel, count) in pairs {
            let binned = channel / self.bin;
            if let Some(slot) = self.scratch.get_mut(binned) {
                if *slot == 0 && count > 0 {
                    self.touched.push(binned);
                }
                *slot += count;
            }
        }
        self.flush_pixel()
    }

    /// Adds the next pixel from its dense counts on the unbinned axis.
    pub fn push_dense<T: Copy + Into<u64>>(&mut self, counts: &[T]) -> Result<(), SpectrumError> {
        self.push_sparse(
            counts
                .iter()
                .enumerate()
                .map(|(c, &n)| (c, n.into()))
                .filter(|&(_, n)| n > 0),
        )
    }

    fn flush_pixel(&mut self) -> Result<(), SpectrumError> {
        self.touched.sort_unstable();
        for &channel in &self.touched {
            let count = std::mem::take(&mut self.scratch[channel]);
            let count = u32::try_from(count).map_err(|_| SpectrumError::CountOverflow)?;
            self.image.channels.push(channel as u16);
            self.image.counts.push(count);
        }
        self.touched.clear();
        self.image.offsets.push(self.image.channels.len());
        Ok(())
    }

    /// Makes room for `entries` more (pixel, channel) entries, so a map whose size is known
    /// ahead is built without regrowing.
    pub fn reserve(&mut self, entries: usize) {
        self.image.channels.reserve_exact(entries);
        self.image.counts.reserve_exact(entries);
    }

    /// Pixels added so far.
    pub fn pixels(&self) -> usize {
        self.image.offsets.len() - 1
    }

    /// The finished map, with its pixel size and beam voltage.
    pub fn finish(
        mut self,
        calibration: Option<Calibration>,
        beam_kv: Option<f64>,
    ) -> Result<SpectrumImage, SpectrumError> {
        let (width, height) = (self.image.width, self.image.height);
        if self.pixels() != width * height {
            return Err(SpectrumError::WrongPixelCount {
                pushed: self.pixels(),
                width,
                height,
            });
        }
        self.image.calibration = calibration;
        self.image.beam_kv = beam_kv;
        self.image.channels.shrink_to_fit();
        self.image.counts.shrink_to_fit();
        Ok(self.image)
    }
}

/// `axis` binned by `bin`, refused when it keeps more channels than a sparse row can name.
fn binned_axis(axis: &EnergyAxis, bin: usize) -> Result<EnergyAxis, SpectrumError> {
    let binned = axis.binned(bin);
    if binned.channels > usize::from(u16::MAX) + 1 {
        return Err(SpectrumError::TooManyChannels(binned.channels));
    }
    Ok(binned)
}

/// Unmerged events a map row holds before they are merged, at least.
const MERGE_AT: usize = 1024;

/// Collects single X-ray events (pixel, channel) in any order — as event-list formats such
/// as JEOL's `.pts` store them, frame after frame — and turns them into a [`SpectrumImage`].
///
/// Memory follows the distinct (pixel, channel) pairs, not the events: each map row keeps its
/// new events (4 bytes each) and merges them into sorted (pixel and channel, count) runs (8
/// bytes each) whenever they outnumber the runs, so a dose of 1000 counts per pixel costs about
/// what the sparse map itself does.
#[derive(Debug)]
pub struct EventCollector {
    width: usize,
    height: usize,
    axis: EnergyAxis,
    bin: usize,
    /// Per row: new events, `x << 16 | binned channel`.
    pending: Vec<Vec<u32>>,
    /// Per row: merged `(x << 16 | binned channel, count)` runs, sorted.
    merged: Vec<Vec<(u32, u32)>>,
    events: usize,
    overflow: bool,
}

impl EventCollector {
    /// A collector for a `width × height` map on `axis`, summing every `bin` channels.
    pub fn new(
        width: usize,
        height: usize,
        axis: EnergyAxis,
        bin: usize,
    ) -> Result<Self, SpectrumError> {
        binned_axis(&axis, bin)?;
        if width > 1 << 16 {
            return Err(SpectrumError::TooWide(width));
        }
        Ok(Self {
            width,
            height,
            axis,
            bin: bin.max(1),
            pending: vec![Vec::new(); height],
            merged: vec![Vec::new(); height],
            events: 0,
            overflow: false,
        })
    }

    /// Records one event; events outside the map or the axis are ignored.
    pub fn push(&mut self, x: usize, y: usize, channel: usize) {
        if x < self.width && y < self.height && channel < self.axis.channels {
            let row = &mut self.pending[y];
            row.push((x as u32) << 16 | (channel / self.bin) as u32);
            self.events += 1;
            if row.len() >= MERGE_AT.max(self.merged[y].len()) {
                self.merge_row(y);
            }
        }
    }

    /// Events recorded so far.
    pub fn len(&self) -> usize {
        self.events
    }

    /// Whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Merges row `y`'s new events into its runs.
    fn merge_row(&mut self, y: usize) {
        let pending = &mut self.pending[y];
        pending.sort_unstable();
        let mut runs: Vec<(u32, u32)> = Vec::new();
        for &key in pending.iter() {
            match runs.last_mut() {
                Some((last, count)) if *last == key => *count += 1,
                _ => runs.push((key, 1)),
            }
        }
        pending.clear();
        let old = std::mem::take(&mut self.merged[y]);
        let mut merged = Vec::with_capacity(old.len() + runs.len());
        let (mut a, mut b) = (old.into_iter().peekable(), runs.into_iter().peekable());
        loop {
            let next = match (a.peek().copied(), b.peek().copied()) {
                (Some((key, old)), Some((other, new))) if key == other => {
                    a.next();
                    b.next();
                    let count = old.checked_add(new);
                    self.overflow |= count.is_none();
                    (key, count.unwrap_or(u32::MAX))
                }
                (Some(old), Some(new)) if old.0 < new.0 => a.next().expect("peeked"),
                (_, Some(_)) => b.next().expect("peeked"),
                (Some(_), None) => a.next().expect("peeked"),
                (None, None) => break,
            };
            merged.push(next);
        }
        self.merged[y] = merged;
    }

    /// The map of all events, with its pixel size and beam voltage.
    pub fn finish(
        mut self,
        calibration: Option<Calibration>,
        beam_kv: Option<f64>,
    ) -> Result<SpectrumImage, SpectrumError> {
        (0..self.height).for_each(|y| self.merge_row(y));
        if self.overflow {
            return Err(SpectrumError::CountOverflow);
        }
        let mut builder = SpectrumImageBuilder::new(self.width, self.height, self.axis, self.bin)?;
        builder.reserve(self.merged.iter().map(Vec::len).sum());
        for y in 0..self.height {
            self.pending[y] = Vec::new();
            let runs = std::mem::take(&mut self.merged[y]);
            let mut runs = runs.iter().peekable();
            for x in 0..self.width as u32 {
                let mut pairs = Vec::new();
                while let Some(&&(key, count)) = runs.peek().filter(|(key, _)| key >> 16 == x) {
                    pairs.push(((key & 0xffff) as usize * self.bin, u64::from(count)));
                    runs.next();
                }
                builder.push_sparse(pairs)?;
            }
        }
        builder.finish(calibration, beam_kv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(channels: usize) -> EnergyAxis {
        EnergyAxis {
            offset_kev: -0.1,
            scale_kev: 0.01,
            channels,
        }
    }

    #[test]
    fn energy_axis_maps_channels_and_bins() {
        let a = axis(4096);
        assert!((a.energy(100) - 0.9).abs() < 1e-12);
        assert_eq!(a.channel_of(6.4), Some(650));
        assert_eq!(a.channel_of(-0.2), None);
        assert_eq!(a.channel_of(41.0), None);
        let b = a.binned(3);
        assert_eq!(b.channels, 1366);
        assert!((b.scale_kev - 0.03).abs() < 1e-12);
    }

    #[test]
    fn dense_pixels_become_sparse_rows_with_their_sums() {
        let mut builder = SpectrumImageBuilder::new(2, 2, axis(5), 1).unwrap();
        for pixel in [[0u16, 2, 0, 0, 1], [0; 5], [3, 0, 0, 0, 0], [1, 1, 1, 1, 1]] {
            builder.push_dense(&pixel).unwrap();
        }
        let map = builder.finish(None, Some(200.0)).unwrap();
        assert_eq!(map.pixel(0, 0).collect::<Vec<_>>(), [(1, 2), (4, 1)]);
        assert_eq!(map.pixel(1, 0).count(), 0);
        assert_eq!(map.sum_spectrum(), [4, 3, 1, 1, 2]);
        assert_eq!(map.region_sum(0, 1, 2, 5), [4, 1, 1, 1, 1]);
        assert_eq!(map.window_map(1, 2), [2, 0, 0, 2]);
        assert_eq!(map.total_counts(), 11);
        assert_eq!(map.beam_kv, Some(200.0));
    }

    #[test]
    fn binning_sums_neighbouring_channels() {
        let mut builder = SpectrumImageBuilder::new(1, 1, axis(5), 2).unwrap();
        builder.push_dense(&[1u32, 2, 3, 4, 5]).unwrap();
        let map = builder.finish(None, None).unwrap();
        assert_eq!(map.axis.channels, 3);
        assert_eq!(map.sum_spectrum(), [3, 7, 5]);
    }

    #[test]
    fn events_in_any_order_give_the_same_map_as_dense_pixels() {
        let mut events = EventCollector::new(2, 1, axis(4), 1).unwrap();
        for (x, channel) in [(1, 3), (0, 0), (1, 3), (0, 2), (5, 1), (0, 9)] {
            events.push(x, 0, channel);
        }
        assert_eq!(events.len(), 4);
        let from_events = events.finish(None, None).unwrap();
        let mut builder = SpectrumImageBuilder::new(2, 1, axis(4), 1).unwrap();
        builder.push_dense(&[1u8, 0, 1, 0]).unwrap();
        builder.push_dense(&[0u8, 0, 0, 2]).unwrap();
        assert_eq!(from_events, builder.finish(None, None).unwrap());
    }

    #[test]
    fn many_events_are_merged_per_row_into_the_same_map() {
        // 20 000 events over a 3 × 2 map of 8 channels binned by 2, in a scrambled order, so
        // every row merges many times; the counts must equal a dense tally.
        let (width, height) = (3, 2);
        let mut events = EventCollector::new(width, height, axis(8), 2).unwrap();
        let mut dense = vec![[0u64; 8]; width * height];
        for i in 0..20_000usize {
            let (x, y, channel) = ((i * 7) % width, (i * 11 / 3) % height, (i * 13) % 8);
            events.push(x, y, channel);
            dense[y * width + x][channel] += 1;
        }
        assert_eq!(events.len(), 20_000);
        let mut builder = SpectrumImageBuilder::new(width, height, axis(8), 2).unwrap();
        dense
            .iter()
            .for_each(|pixel| builder.push_dense(pixel).unwrap());
        assert_eq!(
            events.finish(None, None).unwrap(),
            builder.finish(None, None).unwrap()
        );
    }

    #[test]
    fn wrong_pixel_counts_and_overflows_are_refused() {
        let mut builder = SpectrumImageBuilder::new(2, 2, axis(3), 1).unwrap();
        builder.push_dense(&[1u8, 1, 1]).unwrap();
        assert!(matches!(
            builder.finish(None, None),
            Err(SpectrumError::WrongPixelCount { pushed: 1, .. })
        ));
        let mut builder = SpectrumImageBuilder::new(1, 1, axis(3), 1).unwrap();
        assert_eq!(
            builder.push_sparse([(0, 1 << 40)]),
            Err(SpectrumError::CountOverflow)
        );
        assert!(SpectrumImageBuilder::new(1, 1, axis(70_000), 1).is_err());
        assert!(SpectrumImageBuilder::new(1, 1, axis(70_000), 2).is_ok());
    }
}
