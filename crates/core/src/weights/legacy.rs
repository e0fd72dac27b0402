//! PyTorch's legacy checkpoints, written by `torch.save` before PyTorch 1.6 (and since with
//! `_use_new_zipfile_serialization=False`): pickles one after another, then the raw storages.
//!
//! The pickles are the magic number 0x1950a86a20f9469cfc6c, the format version 1001, a dict
//! describing the writing machine, the saved object (whose tensors name their storages by key,
//! as in zip checkpoints) and the list of storage keys. Then, for each key in that order, come
//! the storage's element count (8 bytes) and its elements, both little-endian whatever the
//! machine, so the machine dict is not needed.
//!
//! PyTorch's first format (early 2017), a tar archive, is recognised but not read.

use super::pickle::{self, Object, Unpickled, Value};
use super::torch_tensors::{self, StorageReference};
use super::{ByteOrder, TensorMap, WeightError, corrupt_pth};
use std::borrow::Cow;
use std::collections::HashMap;

/// The magic number as pickled after PROTO (and FRAME): LONG1 with 10 little-endian bytes,
/// then STOP.
const MAGIC: [u8; 13] = [
    0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.',
];

const FORMAT_VERSION: i64 = 1001;

/// The records of PyTorch's tar checkpoints.
const TAR_RECORDS: [&[u8]; 4] = [b"sys_info", b"pickle", b"tensors", b"storages"];

/// Whether `bytes` start like a legacy PyTorch file (either format).
pub(super) fn looks_like_legacy(bytes: &[u8]) -> bool {
    magic_len(bytes).is_some() || is_tar_checkpoint(bytes)
}

/// Reads the float tensors of a legacy PyTorch checkpoint, named and converted as those of zip
/// checkpoints are.
pub(super) fn read_legacy(bytes: &[u8]) -> Result<TensorMap, WeightError> {
    if is_tar_checkpoint(bytes) {
        return Err(WeightError::TarPth);
    }
    let after_magic = magic_len(bytes).and_then(|len| bytes.get(len..));
    let (version, rest) = pickle::load_first(after_magic.ok_or(WeightError::NotWeightFile)?)?;
    check_version(&version.root)?;
    let (_machine, rest) = pickle::load_first(rest)?;
    let (object, rest) = pickle::load_first(rest)?;
    let (keys, data) = pickle::load_first(rest)?;
    let storages = split_storages(&object, &keys, data)?;
    torch_tensors::load_tensors(&object, bytes.len(), ByteOrder::Little, |key| {
        let storage = storages.get(key).copied();
        storage
            .map(Cow::Borrowed)
            .ok_or_else(|| corrupt_pth(format!("storage {key} is missing")))
    })
}

/// The length of the first pickle, the magic number, if `bytes` start with it: PROTO, a FRAME
/// from protocol 4 on, the number and STOP.
fn magic_len(bytes: &[u8]) -> Option<usize> {
    let [0x80, _, rest @ ..] = bytes else {
        return None;
    };
    let frame = if rest.first() == Some(&0x95) { 9 } else { 0 };
    let is_magic = rest.get(frame..)?.starts_with(&MAGIC);
    is_magic.then_some(2 + frame + MAGIC.len())
}

fn check_version(version: &Value) -> Result<(), WeightError> {
    match version {
        Value::Int(FORMAT_VERSION) => Ok(()),
        Value::Int(other) => Err(WeightError::UnsupportedPth(format!(
            "version {other} of PyTorch's legacy format"
        ))),
        _ => Err(corrupt_pth("its format version is missing")),
    }
}

/// The bytes of each storage listed in `keys`, taken in turn from `data`. The saved `object`
/// tells each storage's element type and count.
fn split_storages<'u, 'a>(
    object: &'u Unpickled,
    keys: &'u Unpickled,
    mut data: &'a [u8],
) -> Result<HashMap<&'u str, &'a [u8]>, WeightError> {
    let described = described_storages(object);
    let mut storages = HashMap::new();
    for key in storage_keys(keys)? {
        let storage = described
            .get(key)
            .ok_or_else(|| corrupt_pth(format!("storage {key} is listed but not described")))?;
        let (bytes, rest) = split_storage(data, storage)?;
        storages.insert(key, bytes);
        data = rest;
    }
    Ok(storages)
}

/// The storages that `object` refers to, by key; where several references name one storage,
/// the first decides its type, as in torch.
fn described_storages(object: &Unpickled) -> HashMap<&str, StorageReference<'_>> {
    let mut storages = HashMap::new();
    let references = object.persistent_ids();
    for storage in references.filter_map(|id| torch_tensors::parse_storage_id(object, id)) {
        storages.entry(storage.key).or_insert(storage);
    }
    storages
}

/// The pickled list of storage keys.
fn storage_keys(keys: &Unpickled) -> Result<Vec<&str>, WeightError> {
    let malformed = || corrupt_pth("its list of storages is malformed");
    let Some(Object::List(items)) = keys.object(&keys.root) else {
        return Err(malformed());
    };
    let keys = items.iter().map(|item| match item {
        Value::Str(key) => Ok(&**key),
        _ => Err(malformed()),
    });
    keys.collect()
}

/// Splits `storage` (its element count, then its elements) off the start of `data`.
fn split_storage<'a>(
    data: &'a [u8],
    storage: &StorageReference,
) -> Result<(&'a [u8], &'a [u8]), WeightError> {
    let key = storage.key;
    let element_size = element_size(storage.class).ok_or_else(|| {
        WeightError::UnsupportedPth(format!("storage {key} of unknown type {}", storage.class))
    })?;
    let past_end = || corrupt_pth(format!("storage {key} runs past the end of the file"));
    let (count, elements) = data.split_first_chunk::<8>().ok_or_else(past_end)?;
    let count = u64::from_le_bytes(*count);
    if usize::try_from(count).ok() != Some(storage.numel) {
        return Err(corrupt_pth(format!(
            "storage {key} holds {count} values where {} were announced",
            storage.numel
        )));
    }
    let len = storage.numel.checked_mul(element_size);
    let len = len.filter(|&len| len <= elements.len());
    Ok(elements.split_at(len.ok_or_else(past_end)?))
}

/// Bytes per element of a torch storage class.
fn element_size(storage_class: &str) -> Option<usize> {
    let size = match torch_tensors::storage_class_name(storage_class) {
        "ByteStorage" | "CharStorage" | "BoolStorage" | "QUInt8Storage" | "QInt8Storage"
        | "QUInt4x2Storage" | "QUInt2x4Storage" => 1,
        "ShortStorage" | "HalfStorage" | "BFloat16Storage" => 2,
        "IntStorage" | "FloatStorage" | "QInt32Storage" => 4,
        "LongStorage" | "DoubleStorage" | "ComplexFloatStorage" => 8,
        "ComplexDoubleStorage" => 16,
        _ => return None,
    };
    Some(size)
}

/// Whether `bytes` are a tar archive whose first entry is a record of PyTorch's first format.
/// Python's tarfile may put a PAX header (for a fractional mtime) before it.
fn is_tar_checkpoint(bytes: &[u8]) -> bool {
    let Some(header) = tar_header(bytes) else {
        return false;
    };
    let entry = if header[156] == b'x' {
        let next = tar_entry_size(header)
            .and_then(|size| size.checked_next_multiple_of(512)?.checked_add(512));
        next.and_then(|start| tar_header(bytes.get(start..)?))
    } else {
        Some(header)
    };
    entry.is_some_and(|header| {
        let name = header[..100].split(|&byte| byte == 0).next();
        TAR_RECORDS.iter().any(|record| name == Some(record))
    })
}

/// The tar header at the start of `bytes`, if there is one (with the ustar magic).
fn tar_header(bytes: &[u8]) -> Option<&[u8; 512]> {
    bytes
        .first_chunk::<512>()
        .filter(|header| header[257..262] == *b"ustar")
}

/// The size of the tar entry, written in octal.
fn tar_entry_size(header: &[u8; 512]) -> Option<usize> {
    let digits = std::str::from_utf8(&header[124..136]).ok()?;
    usize::from_str_radix(digits.trim_matches(['\0', ' ']), 8).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::read_weights;

    const LEGACY: &[u8] = include_bytes!("../../tests/fixtures/weights/legacy.pth");
    const LEGACY_PROTOCOL4: &[u8] =
        include_bytes!("../../tests/fixtures/weights/legacy_protocol4.pth");
    const ZIP: &[u8] = include_bytes!("../../tests/fixtures/weights/state_dict.pth");
    const TAR: &[u8] = include_bytes!("../../tests/fixtures/weights/tar_format.pth");

    #[test]
    fn legacy_files_hold_the_same_tensors_as_zip_files() {
        let zip = crate::weights::read_pth(ZIP).unwrap();
        assert_eq!(zip.len(), 15);
        assert_eq!(read_legacy(LEGACY).unwrap(), zip);
        assert_eq!(read_legacy(LEGACY_PROTOCOL4).unwrap(), zip);
        assert_eq!(read_weights(LEGACY).unwrap(), zip);
    }

    #[test]
    fn truncated_legacy_files_are_errors() {
        for file in [LEGACY, LEGACY_PROTOCOL4] {
            for len in 0..file.len() {
                assert!(read_weights(&file[..len]).is_err(), "cut at {len}");
            }
        }
    }

    #[test]
    fn damaged_legacy_files_are_errors_not_panics() {
        for position in 0..LEGACY.len() {
            for replacement in [0x00, 0x7f, 0xff, LEGACY[position] ^ 0x01] {
                let mut damaged = LEGACY.to_vec();
                damaged[position] = replacement;
                let _ = read_legacy(&damaged);
            }
        }
    }

    /// BININT.
    fn int(value: i32) -> Vec<u8> {
        [b"J".as_slice(), &value.to_le_bytes()].concat()
    }

    /// BINUNICODE.
    fn text(value: &str) -> Vec<u8> {
        let len = u32::try_from(value.len()).unwrap().to_le_bytes();
        [b"X".as_slice(), &len, value.as_bytes()].concat()
    }

    fn int_tuple(values: &[i32]) -> Vec<u8> {
        let ints = values.iter().flat_map(|&value| int(value));
        [b'('].into_iter().chain(ints).chain([b't']).collect()
    }

    /// How a test tensor lies in its storage.
    struct Tensor<'a> {
        name: &'a str,
        class: &'a str,
        key: &'a str,
        numel: i32,
        view: Option<(i32, i32)>,
        offset: i32,
        shape: &'a [i32],
        stride: &'a [i32],
    }

    impl Tensor<'_> {
        /// A dict entry: name, `_rebuild_tensor_v2(persistent id, offset, shape, stride, …)`.
        fn pickle(&self) -> Vec<u8> {
            let view = match self.view {
                Some((start, len)) => [text("view"), int(start), int(len), vec![0x87]].concat(),
                None => b"N".to_vec(),
            };
            let class = format!("ctorch\n{}\n", self.class);
            let id = [
                b"(".as_slice(),
                &text("storage"),
                class.as_bytes(),
                &text(self.key),
                &text("cpu"),
                &int(self.numel),
                &view,
                b"tQ",
            ]
            .concat();
            let call = b"ctorch._utils\n_rebuild_tensor_v2\n(";
            let shape = int_tuple(self.shape);
            let stride = int_tuple(self.stride);
            let args = [id, int(self.offset), shape, stride, b"\x89}tR".to_vec()];
            [text(self.name), call.to_vec(), args.concat()].concat()
        }
    }

    /// A legacy file saving a dict of `tensors`, then `storages`: key and raw bytes, each with
    /// an element count.
    fn legacy_file(tensors: &[Tensor], storages: &[(&str, u64, &[u8])]) -> Vec<u8> {
        let entries = tensors.iter().flat_map(Tensor::pickle);
        let object: Vec<u8> = b"\x80\x02}(".iter().copied().chain(entries).collect();
        let keys = storages.iter().flat_map(|(key, ..)| text(key));
        let keys: Vec<u8> = b"\x80\x02(".iter().copied().chain(keys).collect();
        let mut file = [
            b"\x80\x02".as_slice(),
            &MAGIC,
            b"\x80\x02M\xe9\x03.\x80\x02}.",
        ]
        .concat();
        file.extend([object.as_slice(), b"u.", &keys, b"l."].concat());
        for (_, count, bytes) in storages {
            file.extend(count.to_le_bytes());
            file.extend(*bytes);
        }
        file
    }

    fn floats(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
        values.into_iter().flat_map(f32::to_le_bytes).collect()
    }

    fn float_tensor<'a>(name: &'a str, key: &'a str, numel: i32, offset: i32) -> Tensor<'a> {
        Tensor {
            name,
            class: "FloatStorage",
            key,
            numel,
            view: None,
            offset,
            shape: &[2],
            stride: &[1],
        }
    }

    #[test]
    fn tensors_share_storages_and_views() {
        let six = floats((0..6).map(|i| i as f32));
        let count = Tensor {
            class: "LongStorage",
            shape: &[],
            stride: &[],
            ..float_tensor("count", "n", 1, 0)
        };
        let matrix = Tensor {
            shape: &[2, 2],
            stride: &[1, 2],
            ..float_tensor("matrix", "s", 6, 1)
        };
        let viewed = Tensor {
            view: Some((2, 3)),
            ..float_tensor("viewed", "s", 6, 1)
        };
        let tensors = [
            count,
            float_tensor("first", "s", 6, 0),
            matrix,
            viewed,
            float_tensor("other", "t", 2, 0),
        ];
        let storages = [
            ("n", 1, &[7, 0, 0, 0, 0, 0, 0, 0][..]),
            ("s", 6, &six),
            ("t", 2, &floats([8.0, 9.0])),
        ];
        let read = read_legacy(&legacy_file(&tensors, &storages)).unwrap();
        let values = |name: &str| read[name].values.clone();
        assert_eq!(read.len(), 4);
        assert_eq!(values("first"), [0.0, 1.0]);
        assert_eq!(values("matrix"), [1.0, 3.0, 2.0, 4.0]);
        assert_eq!(values("viewed"), [3.0, 4.0]);
        assert_eq!(values("other"), [8.0, 9.0]);
    }

    fn error(tensors: &[Tensor], storages: &[(&str, u64, &[u8])]) -> String {
        read_legacy(&legacy_file(tensors, storages))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn inconsistent_storages_are_errors() {
        let two = floats([1.0, 2.0]);
        let tensor = [float_tensor("w", "s", 2, 0)];
        assert!(error(&tensor, &[("s", 3, &two)]).contains("holds 3 values where 2 were"));
        assert!(error(&tensor, &[("s", 2, &two[..7])]).contains("s runs past the end"));
        assert!(error(&tensor, &[("x", 2, &two)]).contains("x is listed but not described"));
        assert!(error(&tensor, &[]).contains("storage s is missing"));
        let odd = [Tensor {
            class: "NewStorage",
            ..float_tensor("w", "s", 2, 0)
        }];
        assert_eq!(
            error(&odd, &[("s", 2, &two)]),
            "this .pth file uses something Chipscope cannot read: storage s of unknown type \
             torch.NewStorage"
        );
        let outside = [Tensor {
            view: Some((1, 2)),
            ..float_tensor("w", "s", 2, 0)
        }];
        assert_eq!(
            error(&outside, &[("s", 2, &two)]),
            "tensor w: storage holds 2 values but the tensor needs 3"
        );
    }

    #[test]
    fn other_versions_and_whole_models_are_refused() {
        let file = legacy_file(&[], &[]);
        assert!(read_legacy(&file).unwrap().is_empty());
        let version_at = 2 + MAGIC.len() + 3;
        let mut version_1000 = file.clone();
        version_1000[version_at..version_at + 2].copy_from_slice(&1000u16.to_le_bytes());
        assert!(
            read_legacy(&version_1000)
                .unwrap_err()
                .to_string()
                .contains("version 1000 of PyTorch's legacy format")
        );
        let header_len = 2 + MAGIC.len() + 6 + 4;
        let model = b"\x80\x02(X\x06\x00\x00\x00modulecmod\nNet\nNNtQ)\x81}b.\x80\x02].";
        let whole_model = [&file[..header_len], model].concat();
        assert!(matches!(
            read_legacy(&whole_model),
            Err(WeightError::NotStateDict { found }) if found == "a mod.Net object"
        ));
    }

    #[test]
    fn tar_checkpoints_are_recognised_but_not_read() {
        let message = WeightError::TarPth.to_string();
        assert_eq!(read_weights(TAR).unwrap_err().to_string(), message);
        // The same archive without the PAX header before its first entry.
        let plain = &TAR[1024..];
        assert_eq!(read_weights(plain).unwrap_err().to_string(), message);
        let mut other_tar = plain.to_vec();
        other_tar[..8].copy_from_slice(b"notes.md");
        assert!(matches!(
            read_weights(&other_tar),
            Err(WeightError::NotWeightFile)
        ));
    }
}
