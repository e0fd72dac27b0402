//! The tensors a PyTorch pickle describes and the storages they name, alike in both checkpoint
//! formats: zip archives (`pth`) and the legacy format (`legacy`). Each format finds its pickle
//! and its storages' bytes; this module reads the tensor records, checks them against the
//! storages and gathers their values.

use super::pickle::{self, Object, Unpickled, Value};
use super::{ByteOrder, FloatType, TensorMap, WeightError, WeightTensor, corrupt_pth};
use std::borrow::Cow;

/// How deep dicts within dicts are searched for tensors; only a pickle whose dicts contain
/// themselves goes deeper.
const MAX_NESTING: usize = 32;

const REBUILD_TENSOR: &str = "torch._utils._rebuild_tensor_v2";

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
