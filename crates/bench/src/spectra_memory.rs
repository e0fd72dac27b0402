//! `chipscope-bench spectra-memory`: how much memory reading a 512 × 512 × 4096 JEOL `.pts`
//! spectrum image takes at realistic count rates. It writes synthetic `.pts` files — a real
//! file's preamble and tag tree, then one frame of single X-ray events drawn from an EDS
//! spectrum shape — reads each back with the page's reader (with and without binning the
//! energy channels), checks every count came back, and prints one JSON line per read with the
//! sparse map's size and the heap's peak during the read (measured by the counting allocator
//! below). `scripts/bench-spectra-memory.sh` puts the whole process's peak and rosettasciio's
//! beside it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use chipscope_cli::files::read_file;
use chipscope_core::formats::Limits;
use chipscope_core::formats::spectral::decode_spectral;
use chipscope_core::spectra::synthetic::{Composition, spectrum_shape};
use chipscope_core::spectra::{EnergyAxis, SpectrumImage};
use clap::Args;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Poisson};
use rand_xoshiro::Xoshiro256PlusPlus;

/// The system allocator, counting the bytes in use and their peak (two relaxed atomic
/// operations per allocation, one per release).
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn grown(bytes: usize) {
    let now = IN_USE.fetch_add(bytes, Relaxed) + bytes;
    PEAK.fetch_max(now, Relaxed);
}

fn shrunk(bytes: usize) {
    IN_USE.fetch_sub(bytes, Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are kept.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees for `layout` are passed on.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grown(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grown(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrunk(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`; `System` may grow the block in place (mremap for large
        // ones), so only the difference is counted, as the memory really held.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            match new_size.checked_sub(layout.size()) {
                Some(more) => grown(more),
                None => shrunk(layout.size() - new_size),
            }
        }
        new
    }
}

/// Starts a new peak measurement: the heap in use now, which the peak is reset to.
pub(crate) fn heap_baseline() -> usize {
    let now = IN_USE.load(Relaxed);
    PEAK.store(now, Relaxed);
    now
}

/// The most heap in use since the last [`heap_baseline`].
pub(crate) fn heap_peak() -> usize {
    PEAK.load(Relaxed)
}

/// What `chipscope-bench spectra-memory` writes and reads.
#[derive(Args)]
pub struct SpectraMemoryBench {
    /// A real JEOL .pts whose preamble and tag tree (map size, energy axis, beam) the synthetic
    /// files reuse [default: $CHIPSCOPE_TESTDATA/hyperspy/JEOL_files/Sample/00_View000/
    /// View000_0000006.pts, CHIPSCOPE_TESTDATA defaulting to ~/.cache/chipscope/testdata].
    #[arg(long, value_name = "FILE.pts")]
    template: Option<PathBuf>,
    /// Mean X-ray counts per pixel, one synthetic file each.
    #[arg(long, value_delimiter = ',', default_values_t = [1.0, 10.0, 100.0])]
    counts: Vec<f64>,
    /// Energy binnings each file is read with.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4])]
    bins: Vec<usize>,
    /// Folder the synthetic files are written to (as synthetic_{N}cpp.pts).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Random seed of the X-ray events.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// The real file shipped with rosettasciio's test data.
const DEFAULT_TEMPLATE: &str = "hyperspy/JEOL_files/Sample/00_View000/View000_0000006.pts";

fn default_template() -> Result<PathBuf> {
    let root = match std::env::var_os("CHIPSCOPE_TESTDATA") {
        Some(root) => PathBuf::from(root),
        None => {
            let home = std::env::var_os("HOME").context("HOME is not set: give --template")?;
            PathBuf::from(home).join(".cache/chipscope/testdata")
        }
    };
    Ok(root.join(DEFAULT_TEMPLATE))
}

/// Writes the synthetic files, reads each back at every binning, prints one JSON line per read.
pub fn run(plan: &SpectraMemoryBench) -> Result<()> {
    ensure!(
        plan.counts.iter().all(|&n| n.is_finite() && n > 0.0),
        "--counts must be positive"
    );
    ensure!(
        plan.bins.iter().all(|&b| b >= 1),
        "--bins must be 1 or more"
    );
    let template_path = match &plan.template {
        Some(path) => path.clone(),
        None => default_template()?,
    };
    let template = Template::read(&template_path)?;
    std::fs::create_dir_all(&plan.out)
        .with_context(|| format!("cannot create {}", plan.out.display()))?;
    for (index, &counts_per_px) in plan.counts.iter().enumerate() {
        let path = plan.out.join(format!("synthetic_{counts_per_px}cpp.pts"));
        let started = Instant::now();
        let seed = plan.seed.wrapping_add(index as u64);
        let written = write_file(&path, &template, counts_per_px, seed)?;
        eprintln!(
            "wrote {} ({} events, {:.1} MB, {:.1} s)",
            path.display(),
            written.events,
            written.file_bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        let bytes = read_file(&path)?;
        for &bin in &plan.bins {
            let baseline = heap_baseline();
            let started = Instant::now();
            let file = decode_spectral(&bytes, bin, &Limits::default())
                .with_context(|| format!("cannot read {}", path.display()))?;
            let read_s = started.elapsed().as_secs_f64();
            let peak_heap = heap_peak() - baseline;
            let map = file
                .map
                .as_ref()
                .context("the file read back holds no map")?;
            written.check(map, bin)?;
            ensure!(
                peak_heap >= map.memory_bytes(),
                "the heap's peak ({peak_heap} B) is below the map it returned: the count is off"
            );
            let mb = |bytes: usize| bytes as f64 / 1e6;
            let line = serde_json::json!({
                "file": path.display().to_string(),
                "counts_per_px": counts_per_px,
                "bin": bin,
                "width": map.width,
                "height": map.height,
                "channels": map.axis.channels,
                "events": written.events,
                "max_count": max_count(map),
                "file_mb": mb(bytes.len()),
                "read_s": read_s,
                "sparse_mb": mb(map.memory_bytes()),
                "dense_f32_mb": mb(map.width * map.height * map.axis.channels * 4),
                "peak_heap_mb": mb(peak_heap),
            });
            println!("{line}");
        }
    }
    Ok(())
}

/// The highest count of any pixel in any channel (what a dense integer cube must hold).
fn max_count(map: &SpectrumImage) -> u32 {
    (0..map.height)
        .flat_map(|y| (0..map.width).map(move |x| (x, y)))
        .flat_map(|(x, y)| map.pixel(x, y).map(|(_, n)| n))
        .max()
        .unwrap_or(0)
}

/// Scan positions and energy channels are 12-bit: positions span 0..4096 over the field.
const FULL_SCALE: usize = 4096;
/// Word kinds of the event stream (top 4 bits): scan column, scan row, X-ray energy channel.
const COLUMN: u16 = 0x8000;
const ROW: u16 = 0x9000;
const XRAY: u16 = 0xb000;
/// Where the preamble records the event stream's length (bytes 12.. hold magic-less words 0–5:
/// two unknown, tree offset and length, stream offset and length).
const STREAM_LENGTH_AT: usize = 12 + 4 * 5;

/// A real `.pts` file's bytes before its event stream, and the map its header describes.
struct Template {
    prefix: Vec<u8>,
    width: usize,
    height: usize,
    axis: EnergyAxis,
    beam_kv: f64,
}

impl Template {
    fn read(path: &Path) -> Result<Template> {
        let bytes = read_file(path)?;
        Template::from_bytes(&bytes).with_context(|| format!("cannot use {}", path.display()))
    }

    fn from_bytes(bytes: &[u8]) -> Result<Template> {
        let file = decode_spectral(bytes, 1, &Limits::default())?;
        ensure!(
            file.format == "JEOL PTS",
            "a {} file is not a .pts",
            file.format
        );
        let map = file.map.context("the file holds no spectrum image")?;
        ensure!(
            map.axis.channels <= FULL_SCALE && map.width <= FULL_SCALE && map.height <= FULL_SCALE,
            "the map exceeds the 12-bit scan and energy scales"
        );
        let word = |index: usize| {
            let at = 12 + 4 * index;
            u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize
        };
        let (tree_at, tree_len, stream_at) = (word(2), word(3), word(4));
        ensure!(
            tree_at + tree_len <= stream_at && stream_at <= bytes.len(),
            "the tag tree does not lie before the event stream"
        );
        Ok(Template {
            prefix: bytes[..stream_at].to_vec(),
            width: map.width,
            height: map.height,
            axis: map.axis,
            beam_kv: map.beam_kv.unwrap_or(200.0),
        })
    }
}

/// Encodes one frame (sweep) of the event stream, raster order: a row word at the start of
/// every row, then for each pixel with X-rays its column word and one word per X-ray. Scan
/// positions are `index × (4096 / size)`, which the readers divide back by the same step.
struct FrameEncoder<W: Write> {
    out: W,
    column_step: usize,
    row_step: usize,
    bytes: u64,
}

impl<W: Write> FrameEncoder<W> {
    fn new(out: W, width: usize, height: usize) -> Self {
        Self {
            out,
            column_step: FULL_SCALE / width,
            row_step: FULL_SCALE / height,
            bytes: 0,
        }
    }

    fn word(&mut self, word: u16) -> std::io::Result<()> {
        self.bytes += 2;
        self.out.write_all(&word.to_le_bytes())
    }

    fn row(&mut self, y: usize) -> std::io::Result<()> {
        self.word(ROW | (y * self.row_step) as u16)
    }

    /// The X-rays of pixel `x` of the current row, by channel (each below 4096).
    fn pixel(&mut self, x: usize, channels: &[u16]) -> std::io::Result<()> {
        if channels.is_empty() {
            return Ok(());
        }
        self.word(COLUMN | (x * self.column_step) as u16)?;
        for &channel in channels {
            debug_assert!(usize::from(channel) < FULL_SCALE);
            self.word(XRAY | channel)?;
        }
        Ok(())
    }
}

/// What was written: for the checks after reading.
struct Written {
    events: u64,
    file_bytes: u64,
    /// Counts per pixel, row-major.
    per_pixel: Vec<u32>,
    /// Counts per (unbinned) channel over the map.
    sum: Vec<u64>,
}

impl Written {
    fn new(template: &Template) -> Self {
        Self {
            events: 0,
            file_bytes: 0,
            per_pixel: vec![0; template.width * template.height],
            sum: vec![0; template.axis.channels],
        }
    }

    fn record(&mut self, pixel: usize, channels: &[u16]) {
        self.events += channels.len() as u64;
        self.per_pixel[pixel] += channels.len() as u32;
        channels.iter().for_each(|&c| self.sum[usize::from(c)] += 1);
    }

    /// Fails unless `map` (read with `bin`) holds exactly the counts written: the total, every
    /// pixel's total and the sum spectrum binned alike.
    fn check(&self, map: &SpectrumImage, bin: usize) -> Result<()> {
        let total = map.total_counts();
        if total != self.events {
            bail!(
                "read {total} counts at bin {bin}, but {} events were written",
                self.events
            );
        }
        let wrong = (0..map.height)
            .flat_map(|y| (0..map.width).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let read: u64 = map.pixel(x, y).map(|(_, n)| u64::from(n)).sum();
                read != u64::from(self.per_pixel[y * map.width + x])
            })
            .count();
        ensure!(
            wrong == 0,
            "{wrong} pixels read back other counts than written (bin {bin})"
        );
        let mut binned = vec![0u64; map.axis.channels];
        for (channel, &n) in self.sum.iter().enumerate() {
            binned[channel / bin] += n;
        }
        ensure!(
            map.sum_spectrum() == binned,
            "the sum spectrum read back differs from the one written (bin {bin})"
        );
        Ok(())
    }
}

/// The two phases of the synthetic sample: a carbon-rich matrix with some iron sulphide, and a
/// band of iron sulphide (FeS₂) across it.
fn phases() -> [Composition; 2] {
    [
        Composition {
            elements: vec![("C", 1.0), ("Fe", 0.15), ("S", 0.25), ("O", 0.1)],
        },
        Composition {
            elements: vec![("Fe", 1.0), ("S", 1.6), ("C", 0.1)],
        },
    ]
}

/// Which phase pixel (`x`, `y`) shows: a wavy band a third of the map wide, running top to
/// bottom.
fn phase_at(x: usize, y: usize, width: usize, height: usize) -> usize {
    let (u, v) = (x as f64 / width as f64, y as f64 / height as f64);
    let centre = 0.5 + 0.08 * (v * std::f64::consts::TAU * 1.5).sin();
    usize::from((u - centre).abs() < 1.0 / 6.0)
}

/// The normalised cumulative sum of a spectrum shape (to draw channels by inverse transform).
fn cumulative(shape: &[f64]) -> Vec<f64> {
    let total: f64 = shape.iter().sum();
    let mut sum = 0.0;
    shape
        .iter()
        .map(|v| {
            sum += v / total;
            sum
        })
        .collect()
}

/// Writes the template's preamble and tag tree, then one frame in which every pixel holds a
/// Poisson number of X-rays (mean `counts_per_px`) with channels drawn from its phase's
/// spectrum; patches the stream length into the preamble. Calls `each` with every pixel's
/// channels (row-major pixel index) and returns what was written.
fn write_stream<W: Write + Seek>(
    out: &mut W,
    template: &Template,
    counts_per_px: f64,
    seed: u64,
    mut each: impl FnMut(usize, &[u16]),
) -> Result<Written> {
    let (width, height, axis) = (template.width, template.height, template.axis);
    let shapes = phases().map(|phase| cumulative(&spectrum_shape(&phase, &axis, template.beam_kv)));
    ensure!(
        shapes
            .iter()
            .all(|c| c.last().is_some_and(|t| t.is_finite())),
        "the template's energy axis gives an empty spectrum"
    );
    let dose = Poisson::new(counts_per_px).context("a Poisson mean")?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut written = Written::new(template);
    out.write_all(&template.prefix)?;
    let mut encoder = FrameEncoder::new(&mut *out, width, height);
    let mut channels = Vec::new();
    for y in 0..height {
        encoder.row(y)?;
        for x in 0..width {
            let shape = &shapes[phase_at(x, y, width, height)];
            channels.clear();
            for _ in 0..dose.sample(&mut rng) as usize {
                let u = rng.random::<f64>();
                let channel = shape.partition_point(|&c| c < u).min(axis.channels - 1);
                channels.push(channel as u16);
            }
            encoder.pixel(x, &channels)?;
            written.record(y * width + x, &channels);
            each(y * width + x, &channels);
        }
    }
    let stream_bytes = encoder.bytes;
    let length = u32::try_from(stream_bytes)
        .context("the event stream exceeds the 4 GiB a .pts preamble can record")?;
    out.seek(SeekFrom::Start(STREAM_LENGTH_AT as u64))?;
    out.write_all(&length.to_le_bytes())?;
    out.seek(SeekFrom::End(0))?;
    out.flush()?;
    written.file_bytes = template.prefix.len() as u64 + stream_bytes;
    Ok(written)
}

fn write_file(path: &Path, template: &Template, counts_per_px: f64, seed: u64) -> Result<Written> {
    let file = File::create(path).with_context(|| format!("cannot write {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let written = write_stream(&mut out, template, counts_per_px, seed, |_, _| {})
        .with_context(|| format!("cannot write {}", path.display()))?;
    out.into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// (channel / `bin`, count) runs of increasing `channels`.
    fn runs(channels: impl Iterator<Item = usize>, bin: usize) -> Vec<(usize, u32)> {
        let mut runs: Vec<(usize, u32)> = Vec::new();
        for channel in channels.map(|c| c / bin) {
            match runs.last_mut() {
                Some((c, n)) if *c == channel => *n += 1,
                _ => runs.push((channel, 1)),
            }
        }
        runs
    }

    /// Writes a synthetic stream with `template`, reads it back at bins 1 and 4, and checks
    /// every pixel's spectrum against the events written.
    fn round_trip(template: &Template, counts_per_px: f64) {
        let (width, height) = (template.width, template.height);
        let mut expected: Vec<Vec<(usize, u32)>> = vec![Vec::new(); width * height];
        let mut out = Cursor::new(Vec::new());
        let written = write_stream(&mut out, template, counts_per_px, 7, |pixel, channels| {
            let mut sorted = channels.to_vec();
            sorted.sort_unstable();
            expected[pixel] = runs(sorted.iter().map(|&c| usize::from(c)), 1);
        })
        .unwrap();
        let bytes = out.into_inner();
        assert_eq!(written.file_bytes, bytes.len() as u64);
        let events = written.events;
        assert!(events as f64 > 0.5 * counts_per_px * (width * height) as f64);
        for bin in [1, 4] {
            let file = decode_spectral(&bytes, bin, &Limits::default()).unwrap();
            assert!(
                file.notes.iter().all(|note| !note.contains("frame")),
                "one complete frame: {:?}",
                file.notes
            );
            let map = file.map.unwrap();
            assert_eq!((map.width, map.height), (width, height));
            assert_eq!(map.total_counts(), events);
            written.check(&map, bin).unwrap();
            for y in 0..height {
                for x in 0..width {
                    let pairs = expected[y * width + x].iter();
                    let binned = pairs.flat_map(|&(c, n)| (0..n).map(move |_| c));
                    let binned = runs(binned, bin);
                    assert_eq!(map.pixel(x, y).collect::<Vec<_>>(), binned, "({x}, {y})");
                }
            }
        }
    }

    #[test]
    fn the_real_template_reads_back_pixel_for_pixel() {
        let Ok(path) = default_template() else {
            println!("note: HOME is not set; the real-template round trip is skipped");
            return;
        };
        if !path.exists() {
            println!(
                "note: {} is absent (scripts/fetch-testdata.sh); the real-template round trip \
                 is skipped",
                path.display()
            );
            return;
        }
        let template = Template::read(&path).unwrap();
        assert_eq!((template.width, template.height), (512, 512));
        round_trip(&template, 2.0);
    }
}
