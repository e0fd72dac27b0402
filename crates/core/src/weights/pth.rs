//! PyTorch's zip checkpoints, written by `torch.save` since PyTorch 1.6: one top folder holding
//! `data.pkl` (a pickle describing the tensors), `data/<key>` (one raw storage per key) and
//! `byteorder` ("little" or "big").
//!
//! The tensors in the pickle, which the legacy format (`super::legacy`) describes the same way,
//! are found and loaded here for both formats.

use super::legacy;
use super::pickle::{self, Object, Unpickled, Value};
use super::{ByteOrder, FloatType, TensorMap, WeightError, WeightTensor, corrupt_pth};
use std::borrow::Cow;
use std::io::{Cursor, Read};
use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

/// How deep dicts within dicts are searched for tensors; only a pickle whose dicts contain
/// themselves goes deeper.
const MAX_NESTING: usize = 32;

const REBUILD_TENSOR: &str = "torch._utils._rebuild_tensor_v2";

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

/// Loads the float tensors that `unpickled` describes, taking the bytes of the storage with
/// each key from `storage`. `file_len` bounds the values loaded.
pub(super) fn load_tensors<'s>(
    unpickled: &Unpickled,
    file_len: usize,
    order: ByteOrder,
    mut storage: impl FnMut(&str) -> Result<Cow<'s, [u8]>, WeightError>,
) -> Result<TensorMap, WeightError> {
    // Tensors never hold more values than the file has bytes, unless they are expanded views
    // (stride 0) of smaller storages: this budget bounds the memory such views take.
    let mut values_left = file_len;
    let mut tensors = TensorMap::new();
    for (name, record) in tensor_records(unpickled)? {
        let storage = storage(&record.storage_key)?;
        let tensor = record.load(&name, &storage, order, &mut values_left)?;
        tensors.insert(name, tensor);
    }
    Ok(tensors)
}

/// "model" for "model/data.pkl": the folder of a pickle record at the archive's top level.
fn top_folder_of_pickle(name: &str) -> Option<&str> {
    name.strip_suffix("/data.pkl")
        .filter(|folder| !folder.contains('/'))
}

/// A float tensor as the pickle describes it: where its values lie in which storage.
#[derive(Debug, PartialEq)]
struct TensorRecord {
    storage_key: String,
    /// The part of the storage that `offset` counts from, if not all of it (legacy files only).
    view: Option<StorageView>,
    element: FloatType,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

/// The float tensors in the pickle's top dict and the dicts within it, by dotted name.
fn tensor_records(unpickled: &Unpickled) -> Result<Vec<(String, TensorRecord)>, WeightError> {
    let entries = match unpickled.object(&unpickled.root) {
        Some(Object::Dict { class, entries })
            if pickle::is_dict_class(class) || !entries.is_empty() =>
        {
            entries
        }
        _ => {
            let found = describe(unpickled, &unpickled.root);
            return Err(WeightError::NotStateDict { found });
        }
    };
    let mut records = Vec::new();
    collect_records(unpickled, entries, "", 0, &mut records)?;
    Ok(records)
}

fn collect_records(
    unpickled: &Unpickled,
    entries: &[(Value, Value)],
    prefix: &str,
    depth: usize,
    records: &mut Vec<(String, TensorRecord)>,
) -> Result<(), WeightError> {
    for (key, value) in entries {
        let name = match key {
            Value::Str(text) => format!("{prefix}{text}"),
            Value::Int(number) => format!("{prefix}{number}"),
            _ => continue,
        };
        if let Some(args) = rebuild_tensor_args(unpickled, value) {
            if let Some(record) = TensorRecord::parse(unpickled, args, &name)? {
                records.push((name, record));
            }
        } else if let Some(Object::Dict { entries, .. }) = unpickled.object(value)
            && depth < MAX_NESTING
        {
            collect_records(unpickled, entries, &format!("{name}."), depth + 1, records)?;
        }
    }
    Ok(())
}

/// The arguments of the `_rebuild_tensor_v2` call that makes `value`, if it is a tensor: plain
/// (also `_rebuild_tensor`, from PyTorch before 0.4), an `nn.Parameter` (`_rebuild_parameter`)
/// or a subclass (`_rebuild_from_type_v2`).
fn rebuild_tensor_args<'u>(unpickled: &'u Unpickled, value: &'u Value) -> Option<&'u [Value]> {
    let Some(Object::Call { callable, args }) = unpickled.object(value) else {
        return None;
    };
    let args = unpickled.tuple(args)?;
    match (&**callable, args) {
        (REBUILD_TENSOR | "torch._utils._rebuild_tensor", _) => Some(args),
        ("torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state", _) => {
            let [tensor, ..] = args else { return None };
            let Some(Object::Call { callable, args }) = unpickled.object(tensor) else {
                return None;
            };
            (&**callable == REBUILD_TENSOR).then_some(unpickled.tuple(args)?)
        }
        ("torch._tensor._rebuild_from_type_v2", [Value::Global(function), _, args, ..]) => {
            (&**function == REBUILD_TENSOR).then_some(unpickled.tuple(args)?)
        }
        _ => None,
    }
}

/// How the pickle's top value is named in the "not a state dict" message.
fn describe(unpickled: &Unpickled, value: &Value) -> String {
    match (unpickled.object(value), value) {
        (Some(Object::Dict { class, .. }), _) => format!("a {class} object"),
        (Some(Object::Call { callable, .. }), _) => format!("a {callable} object"),
        (Some(Object::Tuple(_)), _) => "a tuple".into(),
        (Some(Object::List(_)), _) => "a list".into(),
        (_, Value::Int(_)) => "a number".into(),
        (_, Value::Str(_)) => "a string".into(),
        (_, Value::Global(name)) => format!("the class or function {name}"),
        (_, Value::Other(kind)) => format!("a value of type {kind}"),
        _ => "a storage reference".into(),
    }
}

impl TensorRecord {
    /// Reads `_rebuild_tensor_v2(storage, offset, size, stride, ...)`; `None` for a tensor of
    /// integers or booleans, which is skipped.
    fn parse(
        unpickled: &Unpickled,
        args: &[Value],
        name: &str,
    ) -> Result<Option<Self>, WeightError> {
        let malformed = || corrupt_pth(format!("tensor {name} is described in an unexpected way"));
        let [storage, Value::Int(offset), size, stride, ..] = args else {
            return Err(malformed());
        };
        let storage = storage_reference(unpickled, storage).ok_or_else(malformed)?;
        let Some(element) = float_type(storage.class) else {
            return Ok(None);
        };
        let shape = dimensions(unpickled, size).ok_or_else(malformed)?;
        let stride = dimensions(unpickled, stride).ok_or_else(malformed)?;
        if shape.len() != stride.len() {
            return Err(malformed());
        }
        let offset = usize::try_from(*offset).map_err(|_| malformed())?;
        Ok(Some(Self {
            storage_key: storage.key.to_owned(),
            view: storage.view,
            element,
            offset,
            shape,
            stride,
        }))
    }

    /// Gathers the tensor's values from its storage into row-major order.
    fn load(
        &self,
        name: &str,
        storage: &[u8],
        order: ByteOrder,
        values_left: &mut usize,
    ) -> Result<WeightTensor, WeightError> {
        let too_large = || {
            corrupt_pth(format!(
                "tensor {name} has an impossible shape {:?}",
                self.shape
            ))
        };
        let count = self
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .ok_or_else(too_large)?;
        let storage = self.viewed(name, storage)?;
        let extent = self.extent().ok_or_else(too_large)?;
        let available = storage.len() / self.element.size();
        if extent > available {
            return Err(WeightError::StorageTooShort {
                name: name.to_owned(),
                available,
                needed: extent,
            });
        }
        *values_left = values_left.checked_sub(count).ok_or_else(|| {
            WeightError::UnsupportedPth(format!(
                "tensor {name} repeats its {available} stored values into {count}, more than a \
                 file of this size may hold; save it with tensor.contiguous()"
            ))
        })?;
        if count == 0 {
            return Ok(WeightTensor {
                shape: self.shape.clone(),
                values: Vec::new(),
            });
        }
        let size = self.element.size();
        let window = &storage[self.offset * size..extent * size];
        let window = self.element.decode(window, order);
        let values = if self.is_contiguous() {
            window
        } else {
            gather(&window, &self.shape, &self.stride)
        };
        Ok(WeightTensor {
            shape: self.shape.clone(),
            values,
        })
    }

    /// The bytes of `storage` that the tensor's offset counts from: its view, or all of it.
    fn viewed<'s>(&self, name: &str, storage: &'s [u8]) -> Result<&'s [u8], WeightError> {
        let Some(StorageView { start, len }) = self.view else {
            return Ok(storage);
        };
        let size = self.element.size();
        let bytes = |elements: usize| elements.checked_mul(size);
        let range = bytes(start).and_then(|first| Some(first..first.checked_add(bytes(len)?)?));
        range
            .and_then(|range| storage.get(range))
            .ok_or_else(|| WeightError::StorageTooShort {
                name: name.to_owned(),
                available: storage.len() / size,
                needed: start.saturating_add(len),
            })
    }

    /// One past the last storage element the tensor reads (0 when it has no elements), or
    /// `None` on overflow.
    fn extent(&self) -> Option<usize> {
        if self.shape.contains(&0) {
            return Some(0);
        }
        let first = self.offset.checked_add(1)?;
        self.shape
            .iter()
            .zip(&self.stride)
            .try_fold(first, |end, (&size, &stride)| {
                end.checked_add((size - 1).checked_mul(stride)?)
            })
    }

    /// Whether the values lie in row-major order without gaps (dimensions of size 1 aside).
    fn is_contiguous(&self) -> bool {
        let mut expected = 1;
        for (&size, &stride) in self.shape.iter().zip(&self.stride).rev() {
            if size != 1 && stride != expected {
                return false;
            }
            expected *= size;
        }
        true
    }
}

/// The values of a strided tensor in row-major order; `window` starts at its first element.
fn gather(window: &[f32], shape: &[usize], stride: &[usize]) -> Vec<f32> {
    let count = shape.iter().product();
    let mut values = Vec::with_capacity(count);
    let mut index = vec![0; shape.len()];
    let mut position = 0;
    for _ in 0..count {
        values.push(window[position]);
        for axis in (0..shape.len()).rev() {
            if index[axis] + 1 < shape[axis] {
                index[axis] += 1;
                position += stride[axis];
                break;
            }
            position -= stride[axis] * index[axis];
            index[axis] = 0;
        }
    }
    values
}

/// A storage as a persistent id names it: `('storage', class, key, location, numel)`, with a
/// sixth item in legacy files, `None` or the view `(view key, start, len)`.
#[derive(Debug)]
pub(super) struct StorageReference<'u> {
    pub key: &'u str,
    /// The storage class, e.g. "torch.FloatStorage".
    pub class: &'u str,
    /// How many elements the whole storage holds.
    pub numel: usize,
    view: Option<StorageView>,
}

/// Elements `start..start + len` of a storage, which a tensor's offset counts from.
#[derive(Clone, Copy, Debug, PartialEq)]
struct StorageView {
    start: usize,
    len: usize,
}

/// The storage that `value`, a `BINPERSID` of a storage id, refers to.
fn storage_reference<'u>(unpickled: &'u Unpickled, value: &Value) -> Option<StorageReference<'u>> {
    match unpickled.object(value)? {
        Object::PersistentId(id) => parse_storage_id(unpickled, id),
        _ => None,
    }
}

/// The storage that persistent id `id` names, if it names a storage.
pub(super) fn parse_storage_id<'u>(
    unpickled: &'u Unpickled,
    id: &Value,
) -> Option<StorageReference<'u>> {
    let (fields, view) = unpickled.tuple(id)?.split_at_checked(5)?;
    let [
        Value::Str(kind),
        Value::Global(class),
        Value::Str(key),
        _,
        Value::Int(numel),
    ] = fields
    else {
        return None;
    };
    if &**kind != "storage" {
        return None;
    }
    let view = match view {
        [] | [Value::Other("None")] => None,
        [view] => Some(storage_view(unpickled, view)?),
        _ => return None,
    };
    let numel = usize::try_from(*numel).ok()?;
    Some(StorageReference {
        key,
        class,
        numel,
        view,
    })
}

/// The view `(view key, start, len)` of a legacy storage id.
fn storage_view(unpickled: &Unpickled, view: &Value) -> Option<StorageView> {
    let [_, Value::Int(start), Value::Int(len)] = unpickled.tuple(view)? else {
        return None;
    };
    Some(StorageView {
        start: usize::try_from(*start).ok()?,
        len: usize::try_from(*len).ok()?,
    })
}

/// "FloatStorage" for "torch.FloatStorage" or "torch.cuda.FloatStorage": torch knows a storage
/// class by its name alone.
pub(super) fn storage_class_name(storage_class: &str) -> &str {
    storage_class.rsplit('.').next().unwrap_or(storage_class)
}

/// The element type of a torch storage class; `None` for integer, boolean and complex storages.
fn float_type(storage_class: &str) -> Option<FloatType> {
    match storage_class_name(storage_class) {
        "HalfStorage" => Some(FloatType::F16),
        "BFloat16Storage" => Some(FloatType::BF16),
        "FloatStorage" => Some(FloatType::F32),
        "DoubleStorage" => Some(FloatType::F64),
        _ => None,
    }
}

/// A tuple of non-negative integers (a size or a stride).
fn dimensions(unpickled: &Unpickled, value: &Value) -> Option<Vec<usize>> {
    let items = unpickled.tuple(value)?;
    let sizes = items.iter().map(|item| match item {
        Value::Int(number) => usize::try_from(*number).ok(),
        _ => None,
    });
    sizes.collect()
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
