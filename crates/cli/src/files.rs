//! Reading input files as the command line does: the bytes with the path in any error, and
//! images opened by content (a TIA `.ser` with the `.emi` beside it).

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use chipscope_core::dataset::Dataset;
use chipscope_core::formats::{Limits, Opened, open, open_with_emi, tia};
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
