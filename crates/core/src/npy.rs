//! NumPy `.npy` files of little-endian float32 arrays (format version 1.0), the exchange format
//! for embeddings: `numpy.load` reads what we write, and we read what `numpy.save` writes.

/// Why bytes are not a float32 `.npy` array.
#[derive(Debug, thiserror::Error)]
#[error("not a little-endian float32 .npy array: {0}")]
pub struct NpyError(String);

const MAGIC: &[u8] = b"\x93NUMPY";

/// Encodes a C-order float32 array of `shape`.
///
/// # Panics
/// If `values.len()` is not the product of `shape`: a programming error.
pub fn write_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        values.len(),
        "shape and values disagree"
    );
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let trailing_comma = if shape.len() == 1 { "," } else { "" };
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}{trailing_comma}), }}",
        dims.join(", ")
    );
    // Magic (6) + version (2) + length (2) + header + newline, padded to a multiple of 64.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');

    let mut bytes = Vec::with_capacity(10 + header.len() + values.len() * 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend(values.iter().flat_map(|value| value.to_le_bytes()));
    bytes
}

/// Decodes a C-order little-endian float32 array: its shape and values.
pub fn read_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), NpyError> {
    let fail = |reason: &str| NpyError(reason.to_string());
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(fail("no NUMPY magic"));
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        _ => return Err(fail("unknown format version")),
    };
    // Sizes from the file are added and multiplied checked: `usize` is 32 bits in the page.
    let header_end = header_start
        .checked_add(header_len)
        .ok_or_else(|| fail("truncated header"))?;
    let header = bytes
        .get(header_start..header_end)
        .and_then(|header| std::str::from_utf8(header).ok())
        .ok_or_else(|| fail("truncated header"))?;
    if !header.contains("'descr': '<f4'") || header.contains("'fortran_order': True") {
        return Err(fail(&format!("header {}", header.trim())));
    }
    let shape = parse_shape(header).ok_or_else(|| fail("unreadable shape"))?;
    let data = &bytes[header_end..];
    let expected = shape
        .iter()
        .try_fold(4usize, |bytes, &dim| bytes.checked_mul(dim));
    if expected != Some(data.len()) {
        return Err(fail("data length does not match the shape"));
    }
    let values = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((shape, values))
}

fn parse_shape(header: &str) -> Option<Vec<usize>> {
    let start = header.find("'shape': (")? + "'shape': (".len();
    let end = start + header[start..].find(')')?;
    header[start..end]
        .split(',')
        .map(str::trim)
        .filter(|dim| !dim.is_empty())
        .map(|dim| dim.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_matrix() {
        let values = [1.5, -2.0, 0.25, 3.0, 4.0, 5.0];
        let bytes = write_f32(&[2, 3], &values);
        assert_eq!(
            bytes.len(),
            128 + 6 * 4,
            "header padded to a multiple of 64 bytes"
        );
        assert_eq!(read_f32(&bytes).unwrap(), (vec![2, 3], values.to_vec()));
    }

    #[test]
    fn writes_the_header_numpy_writes() {
        // numpy 2.4.6: np.save(f, np.zeros(3, np.float32)) writes this 118-byte header line.
        let bytes = write_f32(&[3], &[0.0; 3]);
        let header = std::str::from_utf8(&bytes[10..128]).unwrap();
        assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"));
        assert!(header.ends_with(" \n"));
        assert_eq!(bytes.len(), 128 + 12);
    }

    #[test]
    fn refuses_other_dtypes_and_truncation() {
        let mut bytes = write_f32(&[2], &[1.0, 2.0]);
        assert!(read_f32(&bytes[..bytes.len() - 1]).is_err());
        let at = bytes.windows(3).position(|w| w == b"<f4").unwrap();
        bytes[at..at + 3].copy_from_slice(b"<f8");
        assert!(read_f32(&bytes).is_err());
        assert!(read_f32(b"garbage").is_err());
    }

    #[test]
    fn refuses_shapes_whose_size_overflows() {
        let mut bytes = write_f32(&[2], &[1.0, 2.0]);
        let at = bytes.windows(6).position(|w| w == b"(2,), ").unwrap();
        bytes.splice(at..at + 6, *b"(4611686018427387904, 4), ");
        let error = read_f32(&bytes).unwrap_err();
        assert!(error.0.contains("does not match the shape"), "{error:?}");
    }
}
