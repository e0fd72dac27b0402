//! Real microscope files for the integration tests: HyperSpy 1.7.6's test files (GPL-3 data),
//! fetched by `scripts/fetch-testdata.sh` into `$CHIPSCOPE_TESTDATA`
//! (default `$HOME/.cache/chipscope/testdata`), never committed or shipped, and small helpers
//! to check what a reader gave. Each test binary uses some of them.
#![allow(dead_code)]

use chipscope_core::dataset::Dataset;
use chipscope_core::formats::{DecodeError, decode};
use std::io::Read;
use std::path::PathBuf;

/// The bytes of `hyperspy/<path>`; `None`, with a SKIPPED line, when the files were not fetched.
pub fn bytes(path: &str) -> Option<Vec<u8>> {
    let root = std::env::var_os("CHIPSCOPE_TESTDATA")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .map(|home| PathBuf::from(home).join(".cache/chipscope/testdata"))
        })?;
    let file = root.join("hyperspy").join(path);
    if !file.exists() {
        eprintln!(
            "SKIPPED: {} not found; run scripts/fetch-testdata.sh",
            file.display()
        );
        return None;
    }
    Some(std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
}

/// Decodes `hyperspy/<path>`; `None` when the files were not fetched.
pub fn read(path: &str) -> Option<Result<Dataset, DecodeError>> {
    let name = path.rsplit('/').next().unwrap_or(path);
    Some(decode(name, &bytes(path)?))
}

/// The bytes of `name` inside `emd_files/fei_emd_files.zip`; `None` when the files are absent.
pub fn zipped(name: &str) -> Option<Vec<u8>> {
    let archive = bytes("emd_files/fei_emd_files.zip")?;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
    let mut bytes = Vec::new();
    archive
        .by_name(name)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    Some(bytes)
}

/// The sum of an image's pixels.
pub fn pixel_sum(dataset: &Dataset) -> f64 {
    dataset.image.pixels().iter().map(|&v| f64::from(v)).sum()
}

/// The value of the acquisition property `name`.
pub fn property<'a>(dataset: &'a Dataset, name: &str) -> Option<&'a str> {
    dataset
        .metadata
        .properties
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}
