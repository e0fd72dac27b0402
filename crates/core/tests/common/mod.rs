//! Real microscope files for the integration tests: HyperSpy 1.7.6's test files (GPL-3 data),
//! fetched by `scripts/fetch-testdata.sh` into `$CHIPSCOPE_TESTDATA`
//! (default `$HOME/.cache/chipscope/testdata`), never committed or shipped.

use chipscope_core::dataset::Dataset;
use chipscope_core::formats::{DecodeError, decode};
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
