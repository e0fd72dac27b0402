//! A small pickle reader for what `torch.save` writes. It only builds values and never runs
//! code: a call (REDUCE) is kept as an [`Object::Call`] record for the caller to interpret,
//! except that the dict classes become dicts, so the SETITEMS that follow can fill them.
//!
//! Composite values live in one flat list of objects and refer to each other by index, so
//! deeply nested or self-referencing pickles neither recurse nor leak.

use super::{WeightError, corrupt_pth};
use std::collections::HashMap;
use std::rc::Rc;

/// Most values (and MARKs) one pickle may create, about 160 000 tensors' worth: this bounds
/// the memory a damaged or hostile pickle can take.
const MAX_VALUES: usize = 1 << 22;

/// A value on the pickle stack: a scalar, or a reference to an [`Object`].
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Int(i64),
    Str(Rc<str>),
    /// A class or function by its dotted name, e.g. "collections.OrderedDict".
    Global(Rc<str>),
    Object(usize),
    /// Any other Python value ("None", "bool", "float", "bytes"), only its type is kept.
    Other(&'static str),
}

/// A composite value.
#[derive(Debug, PartialEq)]
pub(super) enum Object {
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// A dict, or an object of another class with its dict items (its state is dropped).
    Dict {
        class: Rc<str>,
        entries: Vec<(Value, Value)>,
    },
    /// `callable(*args)`, not evaluated.
    Call {
        callable: Rc<str>,
        args: Value,
    },
    /// A persistent id (BINPERSID); in torch files, a reference to a storage record.
    PersistentId(Value),
}

/// The result of a pickle: its top value and the objects that values refer to.
#[derive(Debug)]
pub(super) struct Unpickled {
    pub root: Value,
    objects: Vec<Object>,
}

impl Unpickled {
    /// The object `value` refers to, if it is one.
    pub fn object(&self, value: &Value) -> Option<&Object> {
        match value {
            Value::Object(index) => self.objects.get(*index),
            _ => None,
        }
    }

    /// The items of `value` if it is a tuple.
    pub fn tuple(&self, value: &Value) -> Option<&[Value]> {
        match self.object(value)? {
            Object::Tuple(items) => Some(items),
            _ => None,
        }
    }

    /// The persistent ids, in the order the pickle made them.
    pub fn persistent_ids(&self) -> impl Iterator<Item = &Value> {
        self.objects.iter().filter_map(|object| match object {
            Object::PersistentId(id) => Some(id),
            _ => None,
        })
    }
}

/// Reads a pickle up to its STOP opcode.
pub(super) fn load(bytes: &[u8]) -> Result<Unpickled, WeightError> {
    load_first(bytes).map(|(unpickled, _)| unpickled)
}

/// Reads the pickle at the start of `bytes`; also returns the bytes after its STOP opcode.
pub(super) fn load_first(bytes: &[u8]) -> Result<(Unpickled, &[u8]), WeightError> {
    let mut machine = Machine {
        input: Input { bytes, position: 0 },
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        objects: Vec::new(),
        values_created: 0,
    };
    let unpickled = machine.run()?;
    Ok((unpickled, machine.input.rest()))
}

/// The pickle bytes and the reading position.
struct Input<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Input<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], WeightError> {
        let end = self.position.checked_add(len);
        let taken = end.and_then(|end| self.bytes.get(self.position..end));
        let taken = taken.ok_or_else(ends_early)?;
        self.position += len;
        Ok(taken)
    }

    /// The bytes not read yet.
    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.position..).unwrap_or_default()
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WeightError> {
        let mut array = [0; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn byte(&mut self) -> Result<u8, WeightError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, WeightError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// A length stored in `N` little-endian bytes, followed by that many bytes.
    fn sized<const N: usize>(&mut self) -> Result<&'a [u8], WeightError> {
        let mut len = [0; 8];
        len[..N].copy_from_slice(&self.array::<N>()?);
        let len = usize::try_from(u64::from_le_bytes(len)).unwrap_or(usize::MAX);
        self.take(len)
    }

    /// Text up to the next newline (GLOBAL's module and name).
    fn line(&mut self) -> Result<&'a str, WeightError> {
        let len = self.rest().iter().position(|&byte| byte == b'\n');
        let line = self.take(len.ok_or_else(ends_early)?)?;
        self.position += 1;
        std::str::from_utf8(line).map_err(|_| corrupt_pth("its pickle has a malformed class name"))
    }
}

/// Where a memo opcode's index comes from.
enum MemoIndex {
    /// One byte follows the opcode (BINPUT, BINGET).
    Byte,
    /// Four little-endian bytes follow (LONG_BINPUT, LONG_BINGET).
    Long,
    /// The number of values memoized so far (MEMOIZE).
    Next,
}

struct Machine<'a> {
    input: Input<'a>,
    stack: Vec<Value>,
    /// Stack lengths at each MARK still open.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    objects: Vec<Object>,
    values_created: usize,
}

impl Machine<'_> {
    fn run(&mut self) -> Result<Unpickled, WeightError> {
        loop {
            let opcode = self.input.byte()?;
            if opcode == b'.' {
                let root = self.pop()?;
                let objects = std::mem::take(&mut self.objects);
                return Ok(Unpickled { root, objects });
            }
            self.step(opcode)?;
        }
    }

    /// Executes one opcode other than STOP.
    fn step(&mut self, opcode: u8) -> Result<(), WeightError> {
        match opcode {
            0x80 => self.protocol()?,                            // PROTO
            0x95 => drop(self.input.array::<8>()?),              // FRAME, only a read-ahead hint
            b'(' => self.mark()?,                                // MARK
            b'0' => drop(self.pop()?),                           // POP
            b'1' => drop(self.pop_mark()?),                      // POP_MARK
            b'2' => self.duplicate()?,                           // DUP
            b'N' => self.push(Value::Other("None"))?,            // NONE
            0x88 | 0x89 => self.push(Value::Other("bool"))?,     // NEWTRUE, NEWFALSE
            b'J' => self.int(4, true)?,                          // BININT
            b'K' => self.int(1, false)?,                         // BININT1
            b'M' => self.int(2, false)?,                         // BININT2
            0x8a => self.long1()?,                               // LONG1
            b'G' => self.skip_value::<8>("float")?,              // BINFLOAT
            b'X' => self.string::<4>()?,                         // BINUNICODE
            b'T' => self.string::<4>()?,                         // BINSTRING (Python 2 str)
            b'U' => self.string::<1>()?,                         // SHORT_BINSTRING
            0x8c => self.string::<1>()?,                         // SHORT_BINUNICODE
            0x8d => self.string::<8>()?,                         // BINUNICODE8
            b'C' => self.bytes::<1>()?,                          // SHORT_BINBYTES
            b'B' => self.bytes::<4>()?,                          // BINBYTES
            0x8e => self.bytes::<8>()?,                          // BINBYTES8
            b')' => self.create(Object::Tuple(Vec::new()))?,     // EMPTY_TUPLE
            b't' => self.tuple_from_mark()?,                     // TUPLE
            0x85 => self.tuple_of(1)?,                           // TUPLE1
            0x86 => self.tuple_of(2)?,                           // TUPLE2
            0x87 => self.tuple_of(3)?,                           // TUPLE3
            b']' => self.create(Object::List(Vec::new()))?,      // EMPTY_LIST
            b'l' => self.list_from_mark()?,                      // LIST
            b'}' => self.create(dict("builtins.dict", vec![]))?, // EMPTY_DICT
            b'd' => self.dict_from_mark()?,                      // DICT
            b'a' => self.append()?,                              // APPEND
            b'e' => self.appends()?,                             // APPENDS
            b's' => self.setitem()?,                             // SETITEM
            b'u' => self.setitems()?,                            // SETITEMS
            b'c' => self.global()?,                              // GLOBAL
            0x93 => self.stack_global()?,                        // STACK_GLOBAL
            b'R' => self.reduce()?,                              // REDUCE
            0x81 => self.new_object()?,                          // NEWOBJ
            0x92 => self.new_object_with_keywords()?,            // NEWOBJ_EX
            b'b' => self.build()?,                               // BUILD
            b'Q' => self.persistent_id()?,                       // BINPERSID
            b'q' => self.put(MemoIndex::Byte)?,                  // BINPUT
            b'r' => self.put(MemoIndex::Long)?,                  // LONG_BINPUT
            0x94 => self.put(MemoIndex::Next)?,                  // MEMOIZE
            b'h' => self.get(MemoIndex::Byte)?,                  // BINGET
            b'j' => self.get(MemoIndex::Long)?,                  // LONG_BINGET
            _ => return Err(unsupported_opcode(opcode, self.input.position - 1)),
        }
        Ok(())
    }

    fn mark(&mut self) -> Result<(), WeightError> {
        self.count_value()?;
        self.marks.push(self.stack.len());
        Ok(())
    }

    fn push(&mut self, value: Value) -> Result<(), WeightError> {
        self.count_value()?;
        self.stack.push(value);
        Ok(())
    }

    /// Counts one more value (or MARK) against [`MAX_VALUES`].
    fn count_value(&mut self) -> Result<(), WeightError> {
        self.values_created += 1;
        if self.values_created > MAX_VALUES {
            return Err(WeightError::UnsupportedPth(format!(
                "its pickle holds more than {MAX_VALUES} values"
            )));
        }
        Ok(())
    }

    /// Stores `object` and pushes a reference to it.
    fn create(&mut self, object: Object) -> Result<(), WeightError> {
        self.objects.push(object);
        self.push(Value::Object(self.objects.len() - 1))
    }

    /// The lowest stack length that pops may reach: the innermost open MARK.
    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<Value, WeightError> {
        if self.stack.len() <= self.floor() {
            return Err(stack_underflow());
        }
        self.stack.pop().ok_or_else(stack_underflow)
    }

    fn top(&self) -> Result<&Value, WeightError> {
        if self.stack.len() <= self.floor() {
            return Err(stack_underflow());
        }
        self.stack.last().ok_or_else(stack_underflow)
    }

    /// Removes the values above the innermost MARK, and the MARK.
    fn pop_mark(&mut self) -> Result<Vec<Value>, WeightError> {
        let mark = self.marks.pop().ok_or_else(stack_underflow)?;
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn pop_n(&mut self, count: usize) -> Result<Vec<Value>, WeightError> {
        let start = self
            .stack
            .len()
            .checked_sub(count)
            .filter(|&s| s >= self.floor());
        Ok(self.stack.split_off(start.ok_or_else(stack_underflow)?))
    }

    fn protocol(&mut self) -> Result<(), WeightError> {
        let version = self.input.byte()?;
        if version > 5 {
            return Err(WeightError::UnsupportedPth(format!(
                "pickle protocol {version}"
            )));
        }
        Ok(())
    }

    /// An integer of `width` little-endian bytes, two's complement if `signed`.
    fn int(&mut self, width: usize, signed: bool) -> Result<(), WeightError> {
        let digits = self.input.take(width)?;
        self.push(Value::Int(little_endian_int(digits, signed)))
    }

    /// LONG1: a two's complement integer of up to 255 bytes, whose width comes first.
    fn long1(&mut self) -> Result<(), WeightError> {
        let width = self.input.byte()?.into();
        if width > 8 {
            return Err(WeightError::UnsupportedPth(
                "an integer wider than 64 bits".into(),
            ));
        }
        self.int(width, true)
    }

    fn skip_value<const N: usize>(&mut self, kind: &'static str) -> Result<(), WeightError> {
        self.input.take(N)?;
        self.push(Value::Other(kind))
    }

    fn string<const N: usize>(&mut self) -> Result<(), WeightError> {
        let bytes = self.input.sized::<N>()?;
        let text = std::str::from_utf8(bytes)
            .map_err(|_| corrupt_pth("its pickle has a string that is not UTF-8"))?;
        self.push(Value::Str(text.into()))
    }

    fn bytes<const N: usize>(&mut self) -> Result<(), WeightError> {
        self.input.sized::<N>()?;
        self.push(Value::Other("bytes"))
    }

    fn tuple_from_mark(&mut self) -> Result<(), WeightError> {
        let items = self.pop_mark()?;
        self.create(Object::Tuple(items))
    }

    fn tuple_of(&mut self, count: usize) -> Result<(), WeightError> {
        let items = self.pop_n(count)?;
        self.create(Object::Tuple(items))
    }

    fn list_from_mark(&mut self) -> Result<(), WeightError> {
        let items = self.pop_mark()?;
        self.create(Object::List(items))
    }

    fn dict_from_mark(&mut self) -> Result<(), WeightError> {
        let items = self.pop_mark()?;
        let entries = pairs(items)?;
        self.create(dict("builtins.dict", entries))
    }

    fn append(&mut self) -> Result<(), WeightError> {
        let item = self.pop()?;
        self.list_on_top()?.push(item);
        Ok(())
    }

    fn appends(&mut self) -> Result<(), WeightError> {
        let items = self.pop_mark()?;
        self.list_on_top()?.extend(items);
        Ok(())
    }

    fn setitem(&mut self) -> Result<(), WeightError> {
        let value = self.pop()?;
        let key = self.pop()?;
        self.dict_on_top()?.push((key, value));
        Ok(())
    }

    fn setitems(&mut self) -> Result<(), WeightError> {
        let entries = pairs(self.pop_mark()?)?;
        self.dict_on_top()?.extend(entries);
        Ok(())
    }

    fn object_on_top(&mut self) -> Result<&mut Object, WeightError> {
        match self.top()? {
            &Value::Object(index) => self.objects.get_mut(index).ok_or_else(stack_underflow),
            _ => Err(corrupt_pth(
                "its pickle adds items to something that is not a container",
            )),
        }
    }

    fn list_on_top(&mut self) -> Result<&mut Vec<Value>, WeightError> {
        match self.object_on_top()? {
            Object::List(items) => Ok(items),
            _ => Err(corrupt_pth(
                "its pickle appends to something that is not a list",
            )),
        }
    }

    fn dict_on_top(&mut self) -> Result<&mut Vec<(Value, Value)>, WeightError> {
        match self.object_on_top()? {
            Object::Dict { entries, .. } => Ok(entries),
            _ => Err(corrupt_pth(
                "its pickle sets items of something that is not a dict",
            )),
        }
    }

    fn global(&mut self) -> Result<(), WeightError> {
        let module = self.input.line()?;
        let name = self.input.line()?;
        self.push(Value::Global(format!("{module}.{name}").into()))
    }

    fn stack_global(&mut self) -> Result<(), WeightError> {
        let (Value::Str(name), Value::Str(module)) = (self.pop()?, self.pop()?) else {
            return Err(corrupt_pth(
                "its pickle names a class with something other than text",
            ));
        };
        self.push(Value::Global(format!("{module}.{name}").into()))
    }

    fn pop_class(&mut self) -> Result<Rc<str>, WeightError> {
        match self.pop()? {
            Value::Global(name) => Ok(name),
            _ => Err(corrupt_pth(
                "its pickle calls something that is not a class or function",
            )),
        }
    }

    /// REDUCE: `callable(*args)`; dict classes make an empty dict, anything else a call record.
    fn reduce(&mut self) -> Result<(), WeightError> {
        let args = self.pop()?;
        let callable = self.pop_class()?;
        if is_dict_class(&callable) {
            self.create(dict(&callable, Vec::new()))
        } else {
            self.create(Object::Call { callable, args })
        }
    }

    /// NEWOBJ: `cls.__new__(cls, *args)`, an object whose later items may be set.
    fn new_object(&mut self) -> Result<(), WeightError> {
        self.pop()?;
        let class = self.pop_class()?;
        self.create(dict(&class, Vec::new()))
    }

    /// NEWOBJ_EX: as NEWOBJ, with keyword arguments.
    fn new_object_with_keywords(&mut self) -> Result<(), WeightError> {
        self.pop()?;
        self.new_object()
    }

    /// BUILD sets an object's state (e.g. an OrderedDict's `_metadata`), which is not needed.
    fn build(&mut self) -> Result<(), WeightError> {
        self.pop()?;
        self.top().map(drop)
    }

    fn persistent_id(&mut self) -> Result<(), WeightError> {
        let id = self.pop()?;
        match self.module_class(&id) {
            Some(class) => self.push(class),
            None => self.create(Object::PersistentId(id)),
        }
    }

    /// The class that a legacy torch file's persistent id `('module', class, source file,
    /// source)` stands for: such files name the classes of whole pickled modules this way.
    fn module_class(&self, id: &Value) -> Option<Value> {
        let &Value::Object(index) = id else {
            return None;
        };
        let Some(Object::Tuple(items)) = self.objects.get(index) else {
            return None;
        };
        match items.as_slice() {
            [Value::Str(kind), class @ Value::Global(_), ..] if &**kind == "module" => {
                Some(class.clone())
            }
            _ => None,
        }
    }

    fn duplicate(&mut self) -> Result<(), WeightError> {
        let value = self.top()?.clone();
        self.push(value)
    }

    fn memo_index(&mut self, index: MemoIndex) -> Result<u32, WeightError> {
        match index {
            MemoIndex::Byte => self.input.byte().map(u32::from),
            MemoIndex::Long => self.input.u32(),
            MemoIndex::Next => Ok(u32::try_from(self.memo.len()).unwrap_or(u32::MAX)),
        }
    }

    fn put(&mut self, index: MemoIndex) -> Result<(), WeightError> {
        let index = self.memo_index(index)?;
        let value = self.top()?.clone();
        self.count_value()?;
        self.memo.insert(index, value);
        Ok(())
    }

    fn get(&mut self, index: MemoIndex) -> Result<(), WeightError> {
        let index = self.memo_index(index)?;
        let value = self.memo.get(&index).cloned();
        let value = value.ok_or_else(|| {
            corrupt_pth(format!(
                "its pickle refers to a value it never stored ({index})"
            ))
        })?;
        self.push(value)
    }
}

fn dict(class: &str, entries: Vec<(Value, Value)>) -> Object {
    Object::Dict {
        class: class.into(),
        entries,
    }
}

/// The value of up to 8 little-endian bytes.
fn little_endian_int(digits: &[u8], signed: bool) -> i64 {
    let negative = signed && digits.last().is_some_and(|&byte| byte >= 0x80);
    let mut value = [if negative { 0xff } else { 0 }; 8];
    value[..digits.len()].copy_from_slice(digits);
    i64::from_le_bytes(value)
}

/// Whether `name` is a dict class (whose REDUCE makes an empty dict).
pub(super) fn is_dict_class(name: &str) -> bool {
    matches!(
        name,
        "builtins.dict"
            | "__builtin__.dict"
            | "collections.OrderedDict"
            | "collections.defaultdict"
    )
}

/// Groups alternating keys and values.
fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, WeightError> {
    if !items.len().is_multiple_of(2) {
        return Err(corrupt_pth("its pickle has a key without a value"));
    }
    let mut items = items.into_iter();
    Ok(std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect())
}

fn ends_early() -> WeightError {
    corrupt_pth("its pickle ends early")
}

fn stack_underflow() -> WeightError {
    corrupt_pth("its pickle is malformed (stack underflow)")
}

fn unsupported_opcode(opcode: u8, position: usize) -> WeightError {
    let detail = match opcode_name(opcode) {
        Some(name) => {
            format!("pickle opcode {name} (0x{opcode:02x}) at byte {position} of its pickle")
        }
        None => format!("unknown pickle opcode 0x{opcode:02x} at byte {position} of its pickle"),
    };
    WeightError::UnsupportedPth(detail)
}

/// Names of the standard pickle opcodes this reader does not execute.
fn opcode_name(opcode: u8) -> Option<&'static str> {
    let name = match opcode {
        b'I' => "INT",
        b'L' => "LONG",
        0x8b => "LONG4",
        b'F' => "FLOAT",
        b'S' => "STRING",
        b'V' => "UNICODE",
        b'P' => "PERSID",
        b'g' => "GET",
        b'p' => "PUT",
        b'i' => "INST",
        b'o' => "OBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => return None,
    };
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(pickle: &[u8]) -> String {
        load(pickle).unwrap_err().to_string()
    }

    fn root(pickle: &[u8]) -> Value {
        load(pickle).unwrap().root
    }

    #[test]
    fn integers_of_every_width() {
        assert_eq!(root(b"K\xff."), Value::Int(255));
        assert_eq!(root(b"M\x01\x02."), Value::Int(0x0201));
        assert_eq!(root(b"J\xfe\xff\xff\xff."), Value::Int(-2));
        assert_eq!(root(b"\x8a\x00."), Value::Int(0));
        assert_eq!(root(b"\x8a\x01\xff."), Value::Int(-1));
        assert_eq!(root(b"\x8a\x02\x00\x80."), Value::Int(-32768));
        assert_eq!(root(b"\x8a\x05\x00\x00\x00\x00\x01."), Value::Int(1 << 32));
        assert!(error(b"\x8a\x09\0\0\0\0\0\0\0\0\x01.").contains("wider than 64 bits"));
    }

    #[test]
    fn strings_classes_and_memo() {
        assert_eq!(root(b"\x8c\x02hi."), Value::Str("hi".into()));
        assert_eq!(root(b"\x8d\x02\0\0\0\0\0\0\0hi."), Value::Str("hi".into()));
        assert_eq!(root(b"U\x02hi."), Value::Str("hi".into()));
        assert_eq!(root(b"T\x02\0\0\0hi."), Value::Str("hi".into()));
        assert_eq!(
            root(b"cmod.sub\nName\n."),
            Value::Global("mod.sub.Name".into())
        );
        let stack_global = b"\x8c\x03mod\x94\x8c\x04Name\x94\x93\x94h\x02.";
        assert_eq!(root(stack_global), Value::Global("mod.Name".into()));
        assert_eq!(
            root(b"K\x07r\x00\x01\x00\x000j\x00\x01\x00\x00."),
            Value::Int(7)
        );
        assert!(error(b"h\x05.").contains("never stored (5)"));
        assert!(error(b"X\x02\x00\x00\x00\xff\xfe.").contains("not UTF-8"));
    }

    #[test]
    fn containers_are_filled() {
        let unpickled = load(b"}(K\x01K\x02K\x03](K\x04K\x05eu.").unwrap();
        let Some(Object::Dict { class, entries }) = unpickled.object(&unpickled.root) else {
            panic!("not a dict: {unpickled:?}");
        };
        assert_eq!(&**class, "builtins.dict");
        assert_eq!(entries[0], (Value::Int(1), Value::Int(2)));
        let list = unpickled.object(&entries[1].1);
        assert_eq!(
            list,
            Some(&Object::List(vec![Value::Int(4), Value::Int(5)]))
        );
        let ordered = load(b"ccollections\nOrderedDict\n)RK\x01K\x02s}b.").unwrap();
        let dict = ordered.object(&ordered.root);
        assert!(matches!(dict, Some(Object::Dict { entries, .. }) if entries.len() == 1));
    }

    #[test]
    fn persistent_ids_are_kept_in_order() {
        let unpickled = load(b"(K\x01\x85QK\x02\x85Qt.").unwrap();
        let ids: Vec<_> = unpickled.persistent_ids().collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(unpickled.tuple(ids[1]), Some(&[Value::Int(2)][..]));
    }

    #[test]
    fn a_module_persistent_id_stands_for_its_class() {
        let pickle = b"(X\x06\x00\x00\x00modulecmod\nNet\nNNtQ)\x81}b.";
        let unpickled = load(pickle).unwrap();
        let class = unpickled.object(&unpickled.root);
        assert!(matches!(class, Some(Object::Dict { class, .. }) if &**class == "mod.Net"));
    }

    #[test]
    fn pickles_can_follow_each_other() {
        let (first, rest) = load_first(b"K\x01.K\x02.rest").unwrap();
        assert_eq!(first.root, Value::Int(1));
        let (second, rest) = load_first(rest).unwrap();
        assert_eq!((second.root, rest), (Value::Int(2), &b"rest"[..]));
    }

    #[test]
    fn calls_are_recorded_not_run() {
        let unpickled = load(b"cos\nsystem\nX\x02\x00\x00\x00ls\x85R.").unwrap();
        let Some(Object::Call { callable, args }) = unpickled.object(&unpickled.root) else {
            panic!("not a call: {unpickled:?}");
        };
        assert_eq!(&**callable, "os.system");
        assert_eq!(unpickled.tuple(args), Some(&[Value::Str("ls".into())][..]));
    }

    #[test]
    fn malformed_pickles_are_errors() {
        let underflow =
            "the .pth file is truncated or corrupt: its pickle is malformed (stack underflow)";
        for pickle in [
            &b"."[..],
            b"t.",
            b"0.",
            b"(0.",
            b"K\x01(\x86.",
            b"1.",
            b"K\x01(b.",
        ] {
            assert_eq!(error(pickle), underflow, "{pickle:?}");
        }
        assert!(error(b"](K\x01K\x02u.").contains("not a dict"));
        assert!(error(b"}K\x01a.").contains("not a list"));
        assert!(error(b"}(K\x01u.").contains("key without a value"));
        assert!(error(b"K\x01)R.").contains("not a class or function"));
        assert!(error(b"X\x05\x00\x00\x00ab").contains("ends early"));
        assert!(error(b"K\x01").contains("ends early"));
        assert!(error(b"cmodule").contains("ends early"));
    }

    #[test]
    fn unsupported_opcodes_are_named() {
        assert_eq!(
            error(b"\x80\x02I1\n."),
            "this .pth file uses something Chipscope cannot read: pickle opcode INT (0x49) at \
             byte 2 of its pickle"
        );
        assert!(error(b"\xfe.").contains("unknown pickle opcode 0xfe at byte 0"));
        assert!(error(b"\x80\x06.").contains("pickle protocol 6"));
    }

    #[test]
    fn deep_nesting_neither_recurses_nor_overflows() {
        let mut pickle = b"N".to_vec();
        pickle.extend(std::iter::repeat_n(0x85, 1_000_000));
        pickle.push(b'.');
        assert!(matches!(root(&pickle), Value::Object(999_999)));
        let marks = [vec![b'('; 100_000], vec![b't'; 100_000], vec![b'.']].concat();
        assert!(load(&marks).is_ok());
    }

    #[test]
    fn the_number_of_values_is_bounded() {
        let mut pickle = b"N".to_vec();
        pickle.extend(b"20".repeat(MAX_VALUES));
        pickle.push(b'.');
        assert!(error(&pickle).contains("holds more than"));
    }
}
