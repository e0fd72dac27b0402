//! PyTorch's zip checkpoints, written by `torch.save` since PyTorch 1.6: one top folder holding
//! `data.pkl` (a pickle describing the tensors), `data/<key>` (one raw storage per key) and
//! `byteorder` ("little" or "big").
//!
//! The tensors in the pickle are read by [`super::torch_tensors`], as for the legacy format
//! ([`super::legacy`]), which [`read_pth`] hands legacy files to.

use super::legacy;
use super::pickle;
use super::torch_tensors::load_tensors;
use super::{ByteOrder, TensorMap, WeightError, corrupt_pth};
use std::borrow::Cow;
use std::io::{Cursor, Read};
use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

/// Whether `bytes` start like a PyTorch file: a zip archive, or a legacy format.
pub(super) fn looks_like_pth(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || legacy::looks_like_legacy(bytes)
}

/// Reads the floating-point tensors of a PyTorch checkpoint (zip, or the legacy format of
/// PyTorch before 1.6), converted to f32. Tensors in nested dicts get dotted names:
/// `{"state_dict": {"fc.weight": …}}` gives "state_dict.fc.weight".
pub fn read_pth(bytes: &[u8]) -> Result<TensorMap, WeightError> {
    if legacy::looks_like_legacy(bytes) {
        return legacy::read_legacy(bytes);
    }
    let mut archive = TorchArchive::open(bytes)?;
    let pickle = archive.record("data.pkl")?;
    archive.tensors(&pickle)
}

/// A PyTorch zip archive in memory.
struct TorchArchive<'a> {
    bytes: &'a [u8],
    zip: ZipArchive<Cursor<&'a [u8]>>,
    /// The top folder, with its trailing slash.
    folder: String,
    byte_order: ByteOrder,
}

impl<'a> TorchArchive<'a> {
    fn open(bytes: &'a [u8]) -> Result<Self, WeightError> {
        let zip = ZipArchive::new(Cursor::new(bytes))
            .map_err(|error| corrupt_pth(format!("its zip structure is damaged ({error})")))?;
        let folder = zip
            .file_names()
            .flatten()
            .find_map(|name| Some(format!("{}/", top_folder_of_pickle(&name)?)))
            .ok_or(WeightError::NotWeightFile)?;
        let mut archive = Self {
            bytes,
            zip,
            folder,
            byte_order: ByteOrder::Little,
        };
        archive.byte_order = archive.read_byte_order()?;
        Ok(archive)
    }

    /// The tensors that `pickle` (the archive's data.pkl) describes.
    fn tensors(&mut self, pickle: &[u8]) -> Result<TensorMap, WeightError> {
        let unpickled = pickle::load(pickle)?;
        let (file_len, order) = (self.bytes.len(), self.byte_order);
        load_tensors(&unpickled, file_len, order, |key| {
            self.record(&format!("data/{key}"))
        })
    }

    fn read_byte_order(&mut self) -> Result<ByteOrder, WeightError> {
        if !self.has_record("byteorder") {
            return Ok(ByteOrder::Little);
        }
        match self.record("byteorder")?.trim_ascii() {
            b"little" => Ok(ByteOrder::Little),
            b"big" => Ok(ByteOrder::Big),
            other => Err(corrupt_pth(format!(
                "unknown byte order \"{}\"",
                String::from_utf8_lossy(other)
            ))),
        }
    }

    fn has_record(&self, name: &str) -> bool {
        self.zip
            .index_for_name(&format!("{}{name}", self.folder))
            .is_some()
    }

    /// The content of record `name`, borrowed from the file unless it is compressed.
    fn record(&mut self, name: &str) -> Result<Cow<'a, [u8]>, WeightError> {
        let file = match self.zip.by_name(&format!("{}{name}", self.folder)) {
            Ok(file) => file,
            Err(ZipError::FileNotFound) => return Err(corrupt_pth(format!("{name} is missing"))),
            Err(error) => return Err(corrupt_pth(error)),
        };
        let past_end = || corrupt_pth(format!("{name} runs past the end of the file"));
        let declared_size = file.size();
        let size = usize::try_from(declared_size).map_err(|_| past_end())?;
        if file.compression() == CompressionMethod::Stored {
            let start = file
                .data_start()
                .and_then(|start| usize::try_from(start).ok());
            let end = start.and_then(|start| Some(start..start.checked_add(size)?));
            let content = end.and_then(|range| self.bytes.get(range));
            return content.map(Cow::Borrowed).ok_or_else(past_end);
        }
        let mut content = Vec::new();
        content
            .try_reserve_exact(size)
            .map_err(|_| corrupt_pth(format!("{name} is too large to unpack ({size} bytes)")))?;
        file.take(declared_size)
            .read_to_end(&mut content)
            .map_err(corrupt_pth)?;
        Ok(Cow::Owned(content))
    }
}

/// "model" for "model/data.pkl": the folder of a pickle record at the archive's top level.
fn top_folder_of_pickle(name: &str) -> Option<&str> {
    name.strip_suffix("/data.pkl")
        .filter(|folder| !folder.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    const STATE_DICT: &[u8] = include_bytes!("../../tests/fixtures/weights/state_dict.pth");

    fn fixture_error(bytes: &[u8]) -> String {
        read_pth(bytes).unwrap_err().to_string()
    }

    #[test]
    fn nested_checkpoints_give_dotted_names() {
        let tensors = read_pth(include_bytes!(
            "../../tests/fixtures/weights/checkpoint.pth"
        ))
        .unwrap();
        let names: Vec<_> = tensors.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "expanded",
                "optimizer.state.0.momentum_buffer",
                "param",
                "state_dict.conv.weight",
                "state_dict.head.bias",
                "tagged",
            ]
        );
        let values = |name: &str| (tensors[name].shape.clone(), tensors[name].values.clone());
        assert_eq!(
            values("expanded"),
            (vec![2, 3], vec![0., 1., 2., 0., 1., 2.])
        );
        assert_eq!(
            values("optimizer.state.0.momentum_buffer"),
            (vec![2], vec![1., 2.])
        );
        assert_eq!(values("param"), (vec![2], vec![1.5, -2.5]));
        assert_eq!(
            values("state_dict.conv.weight"),
            (vec![2, 2], vec![0., 1., 2., 3.])
        );
        assert_eq!(values("state_dict.head.bias"), (vec![1], vec![7.]));
        assert_eq!(values("tagged"), (vec![3], vec![0., 1., 2.]));
    }

    #[test]
    fn big_endian_archives_are_swapped() {
        let tensors = read_pth(include_bytes!(
            "../../tests/fixtures/weights/big_endian.pth"
        ))
        .unwrap();
        assert_eq!(tensors["w"].shape, [2, 3]);
        assert_eq!(tensors["w"].values, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]);
    }

    #[test]
    fn a_whole_pickled_model_is_not_a_state_dict() {
        let whole_model = include_bytes!("../../tests/fixtures/weights/whole_model.pth");
        assert_eq!(
            fixture_error(whole_model),
            "the .pth file holds a torch.nn.modules.container.Sequential object, not a state \
             dict of tensors; re-save it with torch.save(model.state_dict(), path)"
        );
    }

    #[test]
    fn a_storage_shorter_than_its_tensor_is_an_error() {
        let short = include_bytes!("../../tests/fixtures/weights/short_storage.pth");
        assert_eq!(
            fixture_error(short),
            "tensor w: storage holds 4 values but the tensor needs 8"
        );
    }

    /// A zip archive holding `records` in the folder "model/", stored uncompressed.
    fn archive(records: &[(&str, &[u8])]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        for (name, content) in records {
            zip.start_file(format!("model/{name}"), options).unwrap();
            zip.write_all(content).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    /// BININT: a 4-byte little-endian integer.
    fn int(value: i32) -> Vec<u8> {
        [b"J".as_slice(), &value.to_le_bytes()].concat()
    }

    fn int_tuple(values: &[i32]) -> Vec<u8> {
        let ints = values.iter().flat_map(|&value| int(value));
        [b'('].into_iter().chain(ints).chain([b't']).collect()
    }

    /// A pickled state dict {"w": _rebuild_tensor_v2(storage "0", offset, shape, stride, ...)}.
    fn one_tensor_pickle(
        storage_class: &str,
        offset: i32,
        shape: &[i32],
        stride: &[i32],
    ) -> Vec<u8> {
        let mut pickle =
            b"\x80\x02}(X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((".to_vec();
        pickle.extend(b"X\x07\x00\x00\x00storagectorch\n");
        pickle.extend(storage_class.as_bytes());
        pickle.extend(b"\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ");
        pickle.extend(int(offset));
        pickle.extend(int_tuple(shape));
        pickle.extend(int_tuple(stride));
        pickle.extend(b"\x89}tRu.");
        pickle
    }

    fn one_tensor_file(offset: i32, shape: &[i32], stride: &[i32], storage: &[f32]) -> Vec<u8> {
        let pickle = one_tensor_pickle("FloatStorage", offset, shape, stride);
        let storage: Vec<u8> = storage.iter().flat_map(|v| v.to_le_bytes()).collect();
        archive(&[("data.pkl", &pickle), ("data/0", &storage)])
    }

    #[test]
    fn strides_and_offsets_are_honoured() {
        let storage: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let read = |offset, shape: &[i32], stride: &[i32]| {
            let tensors = read_pth(&one_tensor_file(offset, shape, stride, &storage)).unwrap();
            tensors["w"].values.clone()
        };
        assert_eq!(read(0, &[2, 3], &[3, 1]), [0., 1., 2., 3., 4., 5.]);
        assert_eq!(read(1, &[3, 2], &[1, 3]), [1., 4., 2., 5., 3., 6.]);
        assert_eq!(
            read(2, &[2, 2, 2], &[6, 1, 3]),
            [2., 5., 3., 6., 8., 11., 9., 12.]
        );
        assert_eq!(read(11, &[1, 1], &[1_000_000, 7]), [11.]);
        assert_eq!(read(5, &[0, 3], &[3, 1]), Vec::<f32>::new());
    }

    #[test]
    fn impossible_tensor_descriptions_are_errors() {
        let storage = [1.0; 4];
        let error = |offset, shape: &[i32], stride: &[i32]| {
            read_pth(&one_tensor_file(offset, shape, stride, &storage))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error(0, &[5], &[1]),
            "tensor w: storage holds 4 values but the tensor needs 5"
        );
        assert_eq!(
            error(2, &[2, 2], &[1, 1]),
            "tensor w: storage holds 4 values but the tensor needs 5"
        );
        assert_eq!(
            error(i32::MAX, &[1], &[1]),
            format!(
                "tensor w: storage holds 4 values but the tensor needs {}",
                i32::MAX as u64 + 1
            )
        );
        let huge = i32::MAX;
        assert!(error(0, &[huge, huge, huge], &[0, 0, 0]).contains("impossible shape"));
        assert!(error(0, &[2, huge], &[huge, huge]).contains("storage holds 4 values"));
        assert!(error(0, &[1 << 30], &[0]).contains("repeats its 4 stored values into 1073741824"));
        let malformed =
            "the .pth file is truncated or corrupt: tensor w is described in an unexpected way";
        assert_eq!(error(-1, &[1], &[1]), malformed);
        assert_eq!(error(0, &[-1], &[1]), malformed);
        assert_eq!(error(0, &[1, 1], &[1]), malformed);
    }

    #[test]
    fn integer_tensors_are_skipped() {
        let pickle = one_tensor_pickle("LongStorage", 0, &[1], &[1]);
        let file = archive(&[("data.pkl", &pickle), ("data/0", &[0; 8])]);
        assert!(read_pth(&file).unwrap().is_empty());
    }

    #[test]
    fn missing_records_are_errors() {
        let pickle = one_tensor_pickle("FloatStorage", 0, &[1], &[1]);
        let no_storage = archive(&[("data.pkl", &pickle)]);
        assert_eq!(
            fixture_error(&no_storage),
            "the .pth file is truncated or corrupt: data/0 is missing"
        );
        let no_pickle = archive(&[("data/0", &[0; 4])]);
        assert!(matches!(
            read_pth(&no_pickle),
            Err(WeightError::NotWeightFile)
        ));
        let odd_byte_order = archive(&[
            ("data.pkl", &pickle),
            ("data/0", &[0; 4]),
            ("byteorder", b"middle"),
        ]);
        assert!(fixture_error(&odd_byte_order).contains("unknown byte order \"middle\""));
    }

    #[test]
    fn damaged_pickles_are_errors_not_panics() {
        let mut archive = TorchArchive::open(STATE_DICT).unwrap();
        let pickle = archive.record("data.pkl").unwrap().into_owned();
        assert_eq!(archive.tensors(&pickle).unwrap().len(), 15);
        for len in 0..pickle.len() {
            assert!(archive.tensors(&pickle[..len]).is_err(), "cut at {len}");
        }
        for position in 0..pickle.len() {
            for replacement in [0x00, 0x7f, 0xff, pickle[position] ^ 0x01] {
                let mut damaged = pickle.clone();
                damaged[position] = replacement;
                let _ = archive.tensors(&damaged);
            }
        }
    }
}
