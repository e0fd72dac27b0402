//! Reads neural-network weight files into f32 tensors by name: safetensors, and PyTorch
//! checkpoints (`.pth`/`.pt` written by `torch.save`: zip archives since PyTorch 1.6, the legacy
//! format before).
//!
//! Everything works on the file's bytes, so the same code runs natively and in the browser.
//! Floating-point tensors (f16, bf16, f32, f64) are converted to f32; integer and boolean
//! tensors, such as BatchNorm's `num_batches_tracked`, are not weights and are left out.
//!
//! Why not burn's own PyTorch reader: burn-store 0.22's `PytorchStore` is only made from a file
//! path (`from_file`), and the `pytorch-reader` crate behind it reads the tensors' bytes lazily
//! from that file; its `from_reader` takes a bare pickle and refuses one whose tensors need the
//! archive's storages. The page gets a dropped file or a download as bytes, with no file system
//! in wasm32, so our reader, which works on a byte slice, stays.
//!
//! The modules: `pth` reads zip checkpoints and hands legacy ones to `legacy`; both leave the
//! tensors their pickle describes to `torch_tensors`, over the unpickler in `pickle`.

mod legacy;
pub mod manifest;
mod pickle;
mod pth;
mod safetensors;
mod torch_tensors;

pub use self::pth::read_pth;
pub use self::safetensors::read_safetensors;

use half::{bf16, f16};
use std::collections::BTreeMap;
use thiserror::Error;

/// One tensor from a weight file, converted to f32, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightTensor {
    /// Size of each dimension; empty for a scalar.
    pub shape: Vec<usize>,
    /// The values in row-major order (the last dimension varies fastest).
    pub values: Vec<f32>,
}

/// Tensors by their dotted name ("layer1.0.conv1.weight").
pub type TensorMap = BTreeMap<String, WeightTensor>;

/// Why a weight file could not be read; the message is written for the microscopist.
#[derive(Debug, Error)]
pub enum WeightError {
    /// The bytes are neither a PyTorch checkpoint nor a safetensors file.
    #[error("not a weight file: expected a PyTorch .pth or a .safetensors file")]
    NotWeightFile,
    /// A checkpoint in PyTorch's tar format of early 2017.
    #[error(
        "this .pth file uses PyTorch's first format (a tar archive, from early 2017), which \
         Chipscope cannot read; load it with torch.load and re-save it with \
         torch.save(model.state_dict(), path), or convert it to .safetensors"
    )]
    TarPth,
    /// The checkpoint's archive or pickle is broken; what is wrong.
    #[error("the .pth file is truncated or corrupt: {0}")]
    CorruptPth(String),
    /// The safetensors header or data is broken; what is wrong.
    #[error("the .safetensors file is truncated or corrupt: {0}")]
    CorruptSafetensors(String),
    /// The checkpoint is intact but uses a pickle feature, storage type or tensor layout the
    /// reader does not handle; which.
    #[error("this .pth file uses something Chipscope cannot read: {0}")]
    UnsupportedPth(String),
    /// The checkpoint pickles something other than a dict of tensors, such as a whole model.
    #[error(
        "the .pth file holds {found}, not a state dict of tensors; re-save it with \
         torch.save(model.state_dict(), path)"
    )]
    NotStateDict {
        /// What the pickle holds instead, for people ("a mod.Net object").
        found: String,
    },
    /// A tensor's shape, strides and offset reach past the end of its storage.
    #[error("tensor {name}: storage holds {available} values but the tensor needs {needed}")]
    StorageTooShort {
        /// The tensor's dotted name.
        name: String,
        /// Elements in the storage (or the part of it the tensor views).
        available: usize,
        /// Elements needed to reach the tensor's last value (offset included).
        needed: usize,
    },
}

/// Reads a weight file by its content (not its name): safetensors or PyTorch .pth/.pt.
pub fn read_weights(bytes: &[u8]) -> Result<TensorMap, WeightError> {
    if pth::looks_like_pth(bytes) {
        read_pth(bytes)
    } else if self::safetensors::looks_like_safetensors(bytes) {
        read_safetensors(bytes)
    } else {
        Err(WeightError::NotWeightFile)
    }
}

/// A [`WeightError::CorruptPth`] saying what is wrong.
fn corrupt_pth(detail: impl std::fmt::Display) -> WeightError {
    WeightError::CorruptPth(detail.to_string())
}

/// The floating-point element types that are read, all converted to f32.
#[derive(Clone, Copy, Debug, PartialEq)]
enum FloatType {
    F16,
    BF16,
    F32,
    F64,
}

/// The order of the bytes within each stored number.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ByteOrder {
    Little,
    Big,
}

impl FloatType {
    /// Bytes per element.
    fn size(self) -> usize {
        match self {
            FloatType::F16 | FloatType::BF16 => 2,
            FloatType::F32 => 4,
            FloatType::F64 => 8,
        }
    }

    /// Converts whole elements of `bytes` to f32 (a trailing partial element is ignored).
    fn decode(self, bytes: &[u8], order: ByteOrder) -> Vec<f32> {
        match self {
            FloatType::F16 => convert(bytes, order, |b| f16::from_le_bytes(b).to_f32()),
            FloatType::BF16 => convert(bytes, order, |b| bf16::from_le_bytes(b).to_f32()),
            FloatType::F32 => convert(bytes, order, f32::from_le_bytes),
            FloatType::F64 => convert(bytes, order, |b| f64::from_le_bytes(b) as f32),
        }
    }
}

/// Applies `from_le` to each `N`-byte element, first reversing big-endian elements.
fn convert<const N: usize>(
    bytes: &[u8],
    order: ByteOrder,
    from_le: impl Fn([u8; N]) -> f32,
) -> Vec<f32> {
    let elements = bytes.as_chunks::<N>().0.iter().copied();
    match order {
        ByteOrder::Little => elements.map(from_le).collect(),
        ByteOrder::Big => elements
            .map(|mut element| {
                element.reverse();
                from_le(element)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(shape: &[usize], values: impl IntoIterator<Item = f32>) -> WeightTensor {
        WeightTensor {
            shape: shape.to_vec(),
            values: values.into_iter().collect(),
        }
    }

    /// What the fixture script's `state_dict()` holds, as f32, without the int64 tensors.
    fn expected_state_dict() -> TensorMap {
        let conv = (0..24).map(|i| i as f32 * 0.25 - 3.0);
        [
            ("conv.weight", tensor(&[3, 2, 2, 2], conv)),
            ("conv.bias", tensor(&[3], [0.5, -0.5, 1.5])),
            ("bn.weight", tensor(&[3], [1.0, 2.0, 3.0])),
            ("bn.bias", tensor(&[3], [-1.0, 0.0, 1.0])),
            ("bn.running_mean", tensor(&[3], [0.25, 0.5, 0.75])),
            ("bn.running_var", tensor(&[3], [1.0, 4.0, 9.0])),
            (
                "extra.half",
                tensor(&[2, 3], [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5]),
            ),
            ("extra.bfloat", tensor(&[4], [0.5, -1.5, -3.5, -5.5])),
            (
                "extra.double",
                tensor(&[3], [(1.0f64 / 3.0) as f32, 2.5e-3f64 as f32, -1e10]),
            ),
            (
                "extra.transposed",
                tensor(&[3, 2], [0., 3., 1., 4., 2., 5.]),
            ),
            ("extra.full", tensor(&[10], (0..10).map(|i| i as f32))),
            ("extra.window", tensor(&[3], [4.0, 5.0, 6.0])),
            ("extra.strided", tensor(&[3], [1.0, 4.0, 7.0])),
            ("extra.scalar", tensor(&[], [2.5])),
            ("extra.empty", tensor(&[0, 4], [])),
        ]
        .into_iter()
        .map(|(name, tensor)| (name.to_owned(), tensor))
        .collect()
    }

    const STATE_DICT_FILES: [(&str, &[u8]); 6] = [
        (
            "state_dict.pth",
            include_bytes!("../../tests/fixtures/weights/state_dict.pth"),
        ),
        (
            "deflated.pth",
            include_bytes!("../../tests/fixtures/weights/deflated.pth"),
        ),
        (
            "protocol4.pth",
            include_bytes!("../../tests/fixtures/weights/protocol4.pth"),
        ),
        (
            "legacy.pth",
            include_bytes!("../../tests/fixtures/weights/legacy.pth"),
        ),
        (
            "legacy_protocol4.pth",
            include_bytes!("../../tests/fixtures/weights/legacy_protocol4.pth"),
        ),
        (
            "state_dict.safetensors",
            include_bytes!("../../tests/fixtures/weights/state_dict.safetensors"),
        ),
    ];

    #[test]
    fn every_format_gives_the_same_tensors() {
        let expected = expected_state_dict();
        for (file, bytes) in STATE_DICT_FILES {
            let tensors = read_weights(bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(
                tensors.keys().collect::<Vec<_>>(),
                expected.keys().collect::<Vec<_>>(),
                "{file}"
            );
            for (name, tensor) in &expected {
                assert_eq!(&tensors[name], tensor, "{file}: {name}");
            }
        }
    }

    #[test]
    fn the_reader_is_chosen_by_content() {
        let (_, pth) = STATE_DICT_FILES[0];
        let (_, safetensors) = STATE_DICT_FILES[5];
        assert!(read_pth(pth).is_ok());
        assert!(read_safetensors(safetensors).is_ok());
        assert!(matches!(
            read_pth(safetensors),
            Err(WeightError::CorruptPth(_))
        ));
        assert!(matches!(
            read_safetensors(pth),
            Err(WeightError::CorruptSafetensors(_))
        ));
    }

    #[test]
    fn other_files_are_not_weight_files() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".as_slice();
        for bytes in [
            &[][..],
            b"hello",
            png,
            b"PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        ] {
            let error = read_weights(bytes).unwrap_err();
            assert_eq!(
                error.to_string(),
                "not a weight file: expected a PyTorch .pth or a .safetensors file"
            );
        }
    }

    /// Deterministic pseudo-random bytes (xorshift), so failures can be replayed.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    #[test]
    fn random_bytes_are_an_error_whatever_they_start_with() {
        let headers: [&[u8]; 4] = [b"", b"PK\x03\x04", b"\x80\x02", b"\x40\0\0\0\0\0\0\0{"];
        for seed in 0..200 {
            for header in headers {
                let mut bytes = header.to_vec();
                bytes.extend(noise(seed, 64 + seed as usize * 7));
                assert!(read_weights(&bytes).is_err(), "seed {seed}");
            }
        }
    }

    #[test]
    fn truncated_files_are_an_error() {
        for (file, bytes) in STATE_DICT_FILES {
            for len in (0..bytes.len()).step_by(97).chain([bytes.len() - 1]) {
                assert!(read_weights(&bytes[..len]).is_err(), "{file} cut at {len}");
            }
        }
    }

    #[test]
    fn big_endian_numbers_are_swapped() {
        let f16_one = [0x3c, 0x00];
        let f64_half = 0.5f64.to_be_bytes();
        assert_eq!(FloatType::F16.decode(&f16_one, ByteOrder::Big), [1.0]);
        assert_eq!(FloatType::BF16.decode(&[0x3f, 0x80], ByteOrder::Big), [1.0]);
        assert_eq!(FloatType::F64.decode(&f64_half, ByteOrder::Big), [0.5]);
        assert_eq!(
            FloatType::F32.decode(&[0, 0, 0xc0, 0x3f], ByteOrder::Little),
            [1.5]
        );
    }
}
