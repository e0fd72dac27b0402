//! JEOL's typed tag tree, the header of Analysis Station files (`.pts` spectrum images,
//! `.img` and `.map` images).

use super::bytes::{Cursor, le_at};
use super::{DecodeError, Limits};

const OPEN: u8 = 1;
const CLOSE: u8 = 0xff;

/// A node of the tag tree: a name, an optional typed value, and children. Each node is
/// written as mark 1, name length (i32) and name, value type and byte length (i32 each), the
/// value, its children, and mark 0xff.
#[derive(Debug)]
pub(super) struct Node<'a> {
    pub(super) name: &'a [u8],
    pub(super) kind: u32,
    pub(super) value: &'a [u8],
    pub(super) children: Vec<Node<'a>>,
}

impl<'a> Node<'a> {
    /// The whole tree, as the children of a nameless root; nesting deeper than
    /// [`Limits::max_depth`] is taken for a damaged file (real trees nest about 6 deep).
    pub(super) fn parse_tree(
        bytes: &'a [u8],
        format: &'static str,
        limits: &Limits,
    ) -> Result<Node<'a>, DecodeError> {
        let mut parser = TreeParser {
            cursor: Cursor::new(format, bytes).ends_early("the header's tag tree ends early"),
            format,
            max_depth: limits.max_depth,
        };
        let children = parser.children(0)?;
        Ok(Node {
            name: &[],
            kind: 0,
            value: &[],
            children,
        })
    }

    /// The child named `name`; the last one when several are (as a later entry overrides an
    /// earlier one for JEOL's own readers).
    pub(super) fn child(&self, name: &str) -> Option<&Node<'a>> {
        self.children
            .iter()
            .rev()
            .find(|node| unpadded(node.name) == name.as_bytes())
    }

    pub(super) fn path(&self, names: &[&str]) -> Option<&Node<'a>> {
        names.iter().try_fold(self, |node, name| node.child(name))
    }

    /// The first element of a numeric value.
    pub(super) fn number(&self) -> Option<f64> {
        let value = self.value;
        Some(match self.kind {
            1 | 6 | 11 | 65552 | 65553 => f64::from(*value.first()?),
            2 | 7 | 14 => f64::from(le_at::<u16>(value, 0)?),
            3 | 8 => f64::from(le_at::<i32>(value, 0)?),
            4 | 9 => f64::from(le_at::<f32>(value, 0)?),
            5 | 10 => le_at::<f64>(value, 0)?,
            _ => return None,
        })
    }

    /// The first string of a text value (strings are separated by NUL bytes).
    pub(super) fn text(&self) -> Option<String> {
        matches!(self.kind, 12 | 13 | 20).then(|| {
            let first = self.value.split(|&b| b == 0).next().unwrap_or_default();
            String::from_utf8_lossy(first).into_owned()
        })
    }
}

/// A name without its NUL padding. Names are otherwise compared exactly: the page that holds
/// the scan size has a "ScanSize\xde" (128 in the sample file) before the "ScanSize" (178)
/// that gives the field, as rosettasciio reads it.
fn unpadded(name: &[u8]) -> &[u8] {
    let end = name
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    &name[..end]
}

/// Reads the tag tree; every read is bounds-checked, so a damaged tree is an error.
struct TreeParser<'a> {
    cursor: Cursor<'a>,
    format: &'static str,
    max_depth: usize,
}

impl<'a> TreeParser<'a> {
    fn length(&mut self) -> Result<usize, DecodeError> {
        Ok(self.cursor.le::<u32>()? as usize)
    }

    /// Nodes up to the mark that closes their parent (or the end of the tree at the top).
    fn children(&mut self, depth: usize) -> Result<Vec<Node<'a>>, DecodeError> {
        if depth > self.max_depth {
            return Err(DecodeError::corrupt(
                self.format,
                "the header's tags are nested too deeply",
            ));
        }
        let mut nodes = Vec::new();
        while self.cursor.peek() == Some(OPEN) {
            self.cursor.skip(1)?;
            nodes.push(self.node(depth)?);
        }
        Ok(nodes)
    }

    fn node(&mut self, depth: usize) -> Result<Node<'a>, DecodeError> {
        let name_len = self.length()?;
        let name = self.cursor.take(name_len)?;
        let kind = self.length()? as u32;
        let value_len = self.length()?;
        let value = self.cursor.take(value_len)?;
        let children = self.children(depth + 1)?;
        if self.cursor.le::<u8>()? != CLOSE {
            return Err(DecodeError::corrupt(
                self.format,
                format!(
                    "a tag of the header ({}) is not closed",
                    String::from_utf8_lossy(unpadded(name))
                ),
            ));
        }
        Ok(Node {
            name,
            kind,
            value,
            children,
        })
    }
}

/// One node as the files write it: mark, name, value type and bytes, children, closing mark.
#[cfg(test)]
pub(super) fn encode_node(name: &str, kind: u32, value: &[u8], children: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = vec![OPEN];
    let name = [name.as_bytes(), b"\0"].concat();
    bytes.extend((name.len() as u32).to_le_bytes());
    bytes.extend(&name);
    bytes.extend(kind.to_le_bytes());
    bytes.extend((value.len() as u32).to_le_bytes());
    bytes.extend(value);
    children.iter().for_each(|child| bytes.extend(child));
    bytes.push(CLOSE);
    bytes
}
