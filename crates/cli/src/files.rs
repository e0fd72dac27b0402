//! Reading input files as the command line does: the bytes with the path in any error, images
//! and spectrum images opened by content (a TIA `.ser` with the `.emi` beside it), sessions and
//! the simulated example.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use chipscope_core::dataset::Dataset;
use chipscope_core::formats::ripple::read_pair;
use chipscope_core::formats::spectral::{SpectralFile, decode_spectral};
use chipscope_core::formats::tia::TIA;
use chipscope_core::formats::{Limits, Opened, Select, open, open_with_emi, tia};
use chipscope_core::session::Session;
use chipscope_core::share;
use chipscope_core::simulate::{self, Simulation};
use memmap2::Mmap;

/// The limits the command line reads files within. The page keeps [`Limits::BROWSER`]: a
/// browser tab holds about 4 GiB, so its images stop at 8192 × 8192 pixels (256 MiB as `f32`).
/// A native program has the machine's memory and a 64-bit address space, and microscopes now
/// record larger frames (stitched montages, 16k × 16k detectors), so the command line takes
/// images up to 32768 × 32768 pixels (4 GiB as `f32`) and whole arrays up to 8 GiB; the tree
/// limits stay, as they guard against damaged files, not against memory.
pub fn native_limits() -> Limits {
    Limits {
        max_pixels: 32768 * 32768,
        max_bytes: usize::try_from(8u64 << 30).unwrap_or(usize::MAX),
        ..Limits::BROWSER
    }
}

/// The image (with its metadata) of the file at `path`.
pub fn load(path: &Path) -> Result<Dataset> {
    decode_file(path, &read_file(path)?)
}

/// The bytes of the file at `path`.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot open {}", path.display()))
}

/// The bytes of the file at `path`, mapped rather than read: the pages of a frame series are
/// brought in as each frame is decoded and can be dropped again, so a movie larger than the
/// machine's memory can be segmented frame by frame.
pub fn map_file(path: &Path) -> Result<Mmap> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    // SAFETY: the map is only read. Another program truncating the file while we read it
    // would end the process with SIGBUS, which is how every mapped reader (ripgrep, the
    // HDF5 library) behaves; changed bytes would at worst decode as a damaged file.
    unsafe { Mmap::map(&file) }.with_context(|| format!("cannot read {}", path.display()))
}

/// Decodes `bytes`, read from `path` (whose name tells the format).
pub fn decode_file(path: &Path, bytes: &[u8]) -> Result<Dataset> {
    open_file(path, bytes).map(|opened| opened.dataset)
}

/// Opens `bytes`, read from `path`, as an image within [`native_limits`], with the spectrum
/// image of a spectral file (and, for a TIA `.ser`, the acquisition facts of the `.emi` file
/// beside it).
pub fn open_file(path: &Path, bytes: &[u8]) -> Result<Opened> {
    let name = file_name(path);
    let opened = match emi_beside(path)? {
        Some(emi) => open_with_emi(&name, bytes, &emi, &native_limits()),
        None => open(&name, bytes, &native_limits()),
    };
    opened.with_context(|| format!("cannot read {}", path.display()))
}

/// The last component of `path`, as text.
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `.emi` metadata TIA writes beside a `.ser` (`scan.emi` for `scan_1.ser`), when the file
/// at `path` is one and the `.emi` is there.
pub fn emi_beside(path: &Path) -> Result<Option<Vec<u8>>> {
    let Some((emi_name, _)) = tia::emi_name(&file_name(path)) else {
        return Ok(None);
    };
    let emi_path = path.with_file_name(emi_name);
    if !emi_path.is_file() {
        return Ok(None);
    }
    let bytes = read_file(&emi_path)?;
    Ok(tia::is_emi(&bytes).then_some(bytes))
}

/// The spectral file at `path` decoded, summing every `bin` channels (a TIA `.ser` with the
/// `.emi` beside it when there is one); a Lispix `.rpl` header
/// is paired with `raw`, or else the `.raw` beside it.
pub fn read_spectral(path: &Path, raw: Option<&Path>, bin: usize) -> Result<SpectralFile> {
    decode_spectral_file(path, &read_file(path)?, raw, bin)
}

/// The spectral file `bytes`, read from `path`, decoded as [`read_spectral`] does.
pub fn decode_spectral_file(
    path: &Path,
    bytes: &[u8],
    raw: Option<&Path>,
    bin: usize,
) -> Result<SpectralFile> {
    let is_ripple = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("rpl"));
    let name = path.display();
    if is_ripple {
        let raw_path = raw.map_or_else(|| path.with_extension("raw"), Path::to_path_buf);
        let raw = read_file(&raw_path)
            .with_context(|| format!("{name} is a Lispix header; its .raw data is needed"))?;
        return read_pair(bytes, &raw, bin, &native_limits())
            .with_context(|| format!("cannot read {name}"));
    }
    let decoded = match emi_beside(path)? {
        Some(emi) if TIA.offers(bytes, Select::Spectra) => {
            tia::read_spectra_with_emi(&file_name(path), bytes, &emi, bin, &native_limits())
        }
        _ => decode_spectral(bytes, bin, &native_limits()),
    };
    decoded.with_context(|| format!("cannot read {name}"))
}

/// The session file at `path` (or a share link given in its place), parsed and checked.
pub fn read_session(path: &Path) -> Result<Session> {
    if let Some((_, session)) = share::from_fragment(&path.to_string_lossy()) {
        return session.context("cannot use the session link");
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read session {}", path.display()))?;
    Session::parse(&text).with_context(|| format!("cannot use session {}", path.display()))
}

/// Refuses simulated images outside 16–8192 pixels.
pub fn check_simulated_size(size: usize) -> Result<()> {
    anyhow::ensure!(
        (16..=8192).contains(&size),
        "the simulated image's size must be between 16 and 8192 pixels, not {size}"
    );
    Ok(())
}

/// The simulated example micrograph, refusing sizes outside 16–8192 pixels.
pub fn simulated_example(size: usize, seed: u64) -> Result<Simulation> {
    check_simulated_size(size)?;
    Ok(simulate::heterostructure(size, seed))
}
