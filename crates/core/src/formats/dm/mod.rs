//! Gatan DigitalMicrograph DM3 and DM4: one reader, one parse of the tag tree (`tags`), giving
//! the file's 2-D image (`image`: every numeric type, with its calibration and microscope
//! metadata) or its spectrum image or spectrum (`spectra`), as the caller selects.
//!
//! Asked for an image, the first image after the thumbnail is read; a file whose image is not
//! 2-D but that holds a spectrum image (or whose image is a spectrum) gives its spectra, for
//! [`crate::formats::open`] to show through their survey.

mod image;
mod spectra;
mod tags;

use crate::formats::{Contents, DecodeError, Holds, Limits, ReadOptions, Reader, Select};

const FORMAT: &str = "DigitalMicrograph";

/// Reads DM3 and DM4 files: images, spectra and spectrum images.
pub const DM: Reader = Reader::new(FORMAT, &["dm3", "dm4"], Holds::Both, recognises, read)
    .spectra_when(|bytes| {
        recognises(bytes)
            && tags::parse(bytes, &Limits::default())
                .is_ok_and(|file| spectra::holds_spectra(&file))
    });

fn recognises(bytes: &[u8]) -> bool {
    let order_at = match bytes.get(..4) {
        Some([0, 0, 0, 3]) => 8,
        Some([0, 0, 0, 4]) => 12,
        _ => return false,
    };
    matches!(bytes.get(order_at..order_at + 4), Some([0, 0, 0, 0 | 1]))
}

/// The image or the spectra `options` select; an image that cannot be read gives way to the
/// file's spectra when it holds some.
fn read(bytes: &[u8], options: &ReadOptions) -> Result<Contents, DecodeError> {
    let file = tags::parse(bytes, &options.limits)?;
    match options.select {
        Select::Spectra => spectra::read(&file, options).map(Contents::Spectral),
        Select::Image => match image::first_image(&file) {
            Ok(dataset) => Ok(Contents::Image(dataset)),
            Err(_) if spectra::holds_spectra(&file) => {
                spectra::read(&file, options).map(Contents::Spectral)
            }
            Err(error) => Err(error),
        },
    }
}

format_errors!(FORMAT);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::decode;

    /// A DM3 header (big-endian data) followed by `depth` nested empty-labelled groups.
    fn nested_groups(depth: usize) -> Vec<u8> {
        let mut bytes = vec![0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0];
        for _ in 0..depth {
            bytes.extend_from_slice(&[1, 0, 0, 0, 0, 1, tags::GROUP_TAG, 0, 0]);
        }
        bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0]);
        bytes
    }

    #[test]
    fn headers_of_both_versions_are_recognised() {
        assert!(DM.recognises(&[0, 0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 1]));
        assert!(DM.recognises(&[0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]));
        assert!(!DM.recognises(&[0, 0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 7]));
        assert!(!DM.recognises(b"II*\0"));
    }

    #[test]
    fn hostile_nesting_is_refused_without_exhausting_the_stack() {
        let error = decode("deep.dm3", &nested_groups(100_000)).unwrap_err();
        assert_eq!(error, corrupt("tags nested too deeply"));
        let error = decode("empty.dm3", &nested_groups(3)).unwrap_err();
        assert_eq!(error, corrupt("no image in the file"));
        let shallow = Limits {
            max_depth: 2,
            ..Limits::default()
        };
        let error = DM.read(&nested_groups(3), &ReadOptions::image(&shallow));
        assert_eq!(error.unwrap_err(), corrupt("tags nested too deeply"));
    }
}
