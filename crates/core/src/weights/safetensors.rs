//! safetensors files: a little-endian u64 header length, a JSON header naming each tensor's
//! dtype, shape and byte range, then the raw little-endian tensor data.

use super::{ByteOrder, FloatType, TensorMap, WeightError, WeightTensor};
use ::safetensors::{Dtype, SafeTensors};

/// Whether `bytes` start like a safetensors file: an 8-byte header length, then the JSON header.
pub(super) fn looks_like_safetensors(bytes: &[u8]) -> bool {
    bytes.get(8) == Some(&b'{')
}

/// Reads the floating-point tensors of a safetensors file, converted to f32.
pub fn read_safetensors(bytes: &[u8]) -> Result<TensorMap, WeightError> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|error| WeightError::CorruptSafetensors(error.to_string()))?;
    let tensors = file.iter().filter_map(|(name, view)| {
        let element = float_type(view.dtype())?;
        let tensor = WeightTensor {
            shape: view.shape().to_vec(),
            values: element.decode(view.data(), ByteOrder::Little),
        };
        Some((name.to_owned(), tensor))
    });
    Ok(tensors.collect())
}

/// The element type of a floating-point dtype; `None` for the others, which are skipped.
fn float_type(dtype: Dtype) -> Option<FloatType> {
    match dtype {
        Dtype::F16 => Some(FloatType::F16),
        Dtype::BF16 => Some(FloatType::BF16),
        Dtype::F32 => Some(FloatType::F32),
        Dtype::F64 => Some(FloatType::F64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A safetensors file holding the given header and data.
    fn safetensors_file(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(data);
        bytes
    }

    #[test]
    fn reads_a_hand_written_file() {
        let header = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"n":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}"#;
        let data = [
            1.5f32.to_le_bytes(),
            (-2.0f32).to_le_bytes(),
            [7, 0, 0, 0],
            [0; 4],
        ];
        let tensors = read_safetensors(&safetensors_file(header, data.as_flattened())).unwrap();
        assert_eq!(tensors.len(), 1, "the int64 tensor is skipped");
        assert_eq!(tensors["a"].shape, [2]);
        assert_eq!(tensors["a"].values, [1.5, -2.0]);
    }

    #[test]
    fn data_shorter_than_the_header_says_is_an_error() {
        let header = r#"{"a":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}"#;
        let error = read_safetensors(&safetensors_file(header, &[0; 8])).unwrap_err();
        assert!(
            matches!(error, WeightError::CorruptSafetensors(_)),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .starts_with("the .safetensors file is truncated or corrupt: ")
        );
    }

    #[test]
    fn a_broken_header_is_an_error() {
        for header in ["{", "{\"a\":{}}", "[1,2]", "{\"a\":{\"dtype\":\"F32\"}}"] {
            let result = read_safetensors(&safetensors_file(header, &[]));
            assert!(
                matches!(result, Err(WeightError::CorruptSafetensors(_))),
                "{header}"
            );
        }
    }
}
