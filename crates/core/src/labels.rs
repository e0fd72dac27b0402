//! Support sets: the classes a user defines (name, colour) and the example chips ("supports")
//! clicked for each, on one chip grid, with undo and redo. In a project of several images a
//! class's supports on the image being labelled are its `supports`, and those on the project's
//! other images are kept `elsewhere`, each with the image it lies on.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The method's guidance: fewer supports than this per class give a noisy prototype…
pub const MIN_SUPPORTS: usize = 2;
/// …and more than this add little (pyCHIP uses 2–10).
pub const MAX_SUPPORTS: usize = 10;
/// Edits remembered for undo.
const HISTORY_DEPTH: usize = 500;

/// A chip's place in the grid: `[row, col]`, row 0 at the top.
pub type Cell = [usize; 2];

/// An sRGB colour, written `#rrggbb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Colour(pub [u8; 3]);

impl Colour {
    /// Parses `#rrggbb` (case-insensitive).
    pub fn parse(text: &str) -> Option<Self> {
        let hex = text.strip_prefix('#')?;
        if hex.len() != 6 || !hex.is_ascii() {
            return None;
        }
        let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Self([channel(0)?, channel(2)?, channel(4)?]))
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

impl Serialize for Colour {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Colour {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Colour::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("colour {text:?} is not of the form #rrggbb"))
        })
    }
}

/// Colour-blind-safe class colours: Okabe & Ito's seven (black left out: it vanishes on dark
/// micrographs), then Paul Tol's "muted" scheme.
pub const PALETTE: [Colour; 15] = [
    Colour([0xe6, 0x9f, 0x00]),
    Colour([0x56, 0xb4, 0xe9]),
    Colour([0x00, 0x9e, 0x73]),
    Colour([0xf0, 0xe4, 0x42]),
    Colour([0x00, 0x72, 0xb2]),
    Colour([0xd5, 0x5e, 0x00]),
    Colour([0xcc, 0x79, 0xa7]),
    Colour([0xcc, 0x66, 0x77]),
    Colour([0x33, 0x22, 0x88]),
    Colour([0xdd, 0xcc, 0x77]),
    Colour([0x11, 0x77, 0x33]),
    Colour([0x88, 0xcc, 0xee]),
    Colour([0x88, 0x22, 0x55]),
    Colour([0x44, 0xaa, 0x99]),
    Colour([0xaa, 0x44, 0x99]),
];

/// The `n`-th class colour: the palette, then hues spaced by the golden angle.
pub fn palette_colour(n: usize) -> Colour {
    if let Some(colour) = PALETTE.get(n) {
        return *colour;
    }
    let hue = ((n - PALETTE.len()) as f64 * 137.507_764) % 360.0;
    let lightness = if n.is_multiple_of(2) { 0.45 } else { 0.65 };
    hsl(hue, 0.7, lightness)
}

fn hsl(hue: f64, saturation: f64, lightness: f64) -> Colour {
    let chroma = (1.0 - (2.0 * lightness - 1.0).abs()) * saturation;
    let h = hue / 60.0;
    let x = chroma * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (chroma, x, 0.0),
        1 => (x, chroma, 0.0),
        2 => (0.0, chroma, x),
        3 => (0.0, x, chroma),
        4 => (x, 0.0, chroma),
        _ => (chroma, 0.0, x),
    };
    let m = lightness - chroma / 2.0;
    let byte = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    Colour([byte(r), byte(g), byte(b)])
}

/// The first palette colour no class in `classes` has.
pub(crate) fn unused_colour(classes: &[ClassLabel]) -> Colour {
    (0..)
        .map(palette_colour)
        .find(|colour| classes.iter().all(|class| class.colour != *colour))
        .expect("the palette is endless")
}

/// One class: its name, colour and support chips in the order they were clicked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassLabel {
    /// The name the user gave, such as "vacuum".
    pub name: String,
    /// The class's colour in the overlay, charts and exports.
    pub colour: Colour,
    /// The support chips, `[row, col]`, in the order they were clicked.
    pub supports: Vec<Cell>,
    /// Support chips on the project's other images, in the order they were clicked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elsewhere: Vec<ImageChip>,
}

/// A chip on one of a project's images.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImageChip {
    /// The image's identity ([`crate::session::DataSource::identity`]).
    pub image: String,
    /// The chip, `[row, col]`.
    pub chip: Cell,
}

/// What the support count of a class says about the method's guidance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SupportAdvice {
    /// No support yet: the class cannot be classified.
    Empty,
    /// One support: works, but the prototype is a single chip.
    TooFew,
    /// Within 2–10.
    Good,
    /// More than 10.
    TooMany,
}

impl SupportAdvice {
    /// A short note for the class panel; `None` when the count is within the guidance.
    pub fn note(self) -> Option<&'static str> {
        match self {
            SupportAdvice::Empty => Some("click chips of this class on the image"),
            SupportAdvice::TooFew => Some("add at least 2 supports"),
            SupportAdvice::Good => None,
            SupportAdvice::TooMany => Some("more than 10 supports add little"),
        }
    }
}

/// The classes and their supports, all on a grid of `chip_size` pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Labels {
    /// The chip side of the grid the supports are on, pixels.
    pub chip_size: usize,
    /// The classes in order; a class's index here is its index in a segmentation.
    pub classes: Vec<ClassLabel>,
}

impl Labels {
    /// No classes yet, on a grid of `chip_size` pixels.
    pub fn new(chip_size: usize) -> Self {
        Self {
            chip_size,
            classes: Vec::new(),
        }
    }

    /// Two empty classes, the least the method needs.
    pub fn starter(chip_size: usize) -> Self {
        let mut labels = Self::new(chip_size);
        labels.add_class();
        labels.add_class();
        labels
    }

    /// A proposed cluster named `name` becoming a class with `supports` (chips of a
    /// `chip_size`-px grid): the first class without supports takes them and the name (the two
    /// empty starter classes are meant to be named), else a new class; the chips leave any class
    /// they supported, and supports of another grid are set aside. Returns its index.
    pub fn adopt_cluster(&mut self, name: &str, supports: &[Cell], chip_size: usize) -> usize {
        if self.chip_size != chip_size {
            self.chip_size = chip_size;
            self.classes.iter_mut().for_each(ClassLabel::clear);
        }
        let index = match self.classes.iter().position(|c| c.supports.is_empty()) {
            Some(index) => index,
            None => self.add_class(),
        };
        for class in &mut self.classes {
            class.supports.retain(|cell| !supports.contains(cell));
        }
        let class = &mut self.classes[index];
        class.name = name.to_string();
        class.supports = supports.to_vec();
        index
    }

    /// Adds a class named "class N" with the first palette colour not in use; returns its index.
    pub fn add_class(&mut self) -> usize {
        let colour = unused_colour(&self.classes);
        let number = (1..)
            .find(|n| {
                let name = format!("class {n}");
                self.classes.iter().all(|class| class.name != name)
            })
            .expect("names are endless");
        self.classes.push(ClassLabel {
            name: format!("class {number}"),
            colour,
            supports: Vec::new(),
            elsewhere: Vec::new(),
        });
        self.classes.len() - 1
    }

    /// A painted stroke: every chip of `cells` becomes a support of `class` (leaving any other
    /// class it supported), or with `erase` supports nothing.
    pub fn paint(&mut self, cells: &[Cell], class: usize, erase: bool) {
        if !erase && class >= self.classes.len() {
            return;
        }
        for existing in &mut self.classes {
            existing.supports.retain(|support| !cells.contains(support));
        }
        if !erase {
            self.classes[class].supports.extend(cells.iter().copied());
        }
    }

    /// The class `cell` supports, if any.
    pub fn class_of(&self, cell: Cell) -> Option<usize> {
        self.classes
            .iter()
            .position(|class| class.supports.contains(&cell))
    }

    /// A click on `cell` with `class` active: removes the chip if it already supports `class`,
    /// otherwise makes it a support of `class` only.
    pub fn toggle(&mut self, cell: Cell, class: usize) {
        let Some(owner) = self.classes.get(class) else {
            return;
        };
        let was_here = owner.supports.contains(&cell);
        for class in &mut self.classes {
            class.supports.retain(|&support| support != cell);
        }
        if !was_here {
            self.classes[class].supports.push(cell);
        }
    }

    /// Total support chips over all classes.
    pub fn support_count(&self) -> usize {
        self.classes.iter().map(|class| class.supports.len()).sum()
    }

    /// Whether every class has a support, here or on another image (and there is a class), so
    /// chips can be classified.
    pub fn is_ready(&self) -> bool {
        !self.classes.is_empty() && self.classes.iter().all(|c| c.support_total() > 0)
    }

    /// The method's guidance for class `index`, counting its supports on every image.
    pub fn advice(&self, index: usize) -> SupportAdvice {
        match self.classes[index].support_total() {
            0 => SupportAdvice::Empty,
            n if n < MIN_SUPPORTS => SupportAdvice::TooFew,
            n if n > MAX_SUPPORTS => SupportAdvice::TooMany,
            _ => SupportAdvice::Good,
        }
    }

    /// Support chips as indices into the grid's row-major chip order, per class.
    pub fn support_indices(&self, cols: usize) -> Vec<Vec<usize>> {
        self.classes
            .iter()
            .map(|class| class.supports.iter().map(|[r, c]| r * cols + c).collect())
            .collect()
    }

    /// The same supports seen from image `arriving` after image `leaving` (both identities):
    /// the supports here move `elsewhere` under `leaving`, and those on `arriving` become the
    /// supports here, in the order they were clicked.
    pub fn switched(&self, leaving: &str, arriving: &str) -> Labels {
        let mut labels = self.clone();
        if leaving == arriving {
            return labels;
        }
        for class in &mut labels.classes {
            let (arrived, stay): (Vec<ImageChip>, Vec<ImageChip>) =
                std::mem::take(&mut class.elsewhere)
                    .into_iter()
                    .partition(|support| support.image == arriving);
            class.elsewhere = stay;
            let left = std::mem::replace(
                &mut class.supports,
                arrived.into_iter().map(|support| support.chip).collect(),
            );
            class
                .elsewhere
                .extend(left.into_iter().map(|chip| ImageChip {
                    image: leaving.to_string(),
                    chip,
                }));
        }
        labels
    }

    /// Support chips on image `image` (an identity, not the one labelled here) as indices into
    /// its grid's row-major chip order, per class.
    pub fn support_indices_on(&self, image: &str, cols: usize) -> Vec<Vec<usize>> {
        self.classes
            .iter()
            .map(|class| {
                class
                    .elsewhere
                    .iter()
                    .filter(|support| support.image == image)
                    .map(|support| support.chip[0] * cols + support.chip[1])
                    .collect()
            })
            .collect()
    }

    /// A support on image `image` (an identity) outside a grid of `cols × rows` chips, if any.
    pub fn outside_on(&self, image: &str, cols: usize, rows: usize) -> Option<Cell> {
        let mut supports = self.classes.iter().flat_map(|class| &class.elsewhere);
        supports
            .find(|s| s.image == image && (s.chip[0] >= rows || s.chip[1] >= cols))
            .map(|s| s.chip)
    }

    /// The other images that hold supports, in the order their first support was clicked.
    pub fn images_elsewhere(&self) -> Vec<&str> {
        let mut images: Vec<&str> = Vec::new();
        for support in self.classes.iter().flat_map(|class| &class.elsewhere) {
            if !images.contains(&support.image.as_str()) {
                images.push(&support.image);
            }
        }
        images
    }

    /// Drops every support on image `image` (an identity), as when it leaves the project.
    pub fn forget_image(&mut self, image: &str) {
        for class in &mut self.classes {
            class.elsewhere.retain(|support| support.image != image);
        }
    }
}

impl ClassLabel {
    /// Its supports on every image.
    pub fn support_total(&self) -> usize {
        self.supports.len() + self.elsewhere.len()
    }

    /// Drops every support, here and elsewhere (a new grid).
    pub fn clear(&mut self) {
        self.supports.clear();
        self.elsewhere.clear();
    }
}

/// Classes with `names` in palette colours and no supports (test fixtures).
#[cfg(test)]
pub(crate) fn named_classes(names: &[&str]) -> Vec<ClassLabel> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| ClassLabel {
            name: name.to_string(),
            colour: palette_colour(i),
            supports: vec![],
            elsewhere: vec![],
        })
        .collect()
}

/// A value with undo and redo: every [`Undoable::edit`] can be taken back.
#[derive(Clone, Debug)]
pub struct Undoable<T> {
    current: T,
    past: Vec<T>,
    future: Vec<T>,
}

impl<T: Clone + PartialEq> Undoable<T> {
    /// Starts a history at `value`.
    pub fn new(value: T) -> Self {
        Self {
            current: value,
            past: Vec::new(),
            future: Vec::new(),
        }
    }

    /// The present value.
    pub fn current(&self) -> &T {
        &self.current
    }

    /// Changes the value; an edit that changes nothing is not recorded.
    pub fn edit(&mut self, change: impl FnOnce(&mut T)) {
        let mut next = self.current.clone();
        change(&mut next);
        if next == self.current {
            return;
        }
        self.past.push(std::mem::replace(&mut self.current, next));
        if self.past.len() > HISTORY_DEPTH {
            self.past.remove(0);
        }
        self.future.clear();
    }

    /// Applies `change` to the present value and to every one in the history, recording no
    /// edit: the same labels seen another way (another image of the project on screen).
    pub fn map_all(&mut self, change: impl Fn(&T) -> T) {
        self.current = change(&self.current);
        for value in self.past.iter_mut().chain(self.future.iter_mut()) {
            *value = change(value);
        }
    }

    /// Steps back one edit; false when there is none.
    pub fn undo(&mut self) -> bool {
        let Some(previous) = self.past.pop() else {
            return false;
        };
        self.future
            .push(std::mem::replace(&mut self.current, previous));
        true
    }

    /// Re-applies the last undone edit; false when there is none.
    pub fn redo(&mut self) -> bool {
        let Some(next) = self.future.pop() else {
            return false;
        };
        self.past.push(std::mem::replace(&mut self.current, next));
        true
    }

    /// Whether there is an edit to undo / to redo.
    pub fn can_undo(&self) -> bool {
        !self.past.is_empty()
    }

    /// Whether there is an undone edit to redo.
    pub fn can_redo(&self) -> bool {
        !self.future.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_round_trip_as_hex() {
        let colour = Colour::parse("#E69F00").unwrap();
        assert_eq!(colour, PALETTE[0]);
        assert_eq!(colour.to_string(), "#e69f00");
        for bad in ["e69f00", "#e69f0", "#e69f0g", "#ééé", ""] {
            assert_eq!(Colour::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn class_colours_stay_distinct_past_the_palette() {
        let mut labels = Labels::new(32);
        for _ in 0..40 {
            labels.add_class();
        }
        let mut colours: Vec<_> = labels.classes.iter().map(|c| c.colour).collect();
        colours.sort_by_key(|c| c.0);
        colours.dedup();
        assert_eq!(colours.len(), 40);
        assert_eq!(labels.classes[39].name, "class 40");
    }

    #[test]
    fn a_removed_class_frees_its_colour_and_name() {
        let mut labels = Labels::starter(32);
        labels.add_class();
        labels.classes.remove(1);
        labels.add_class();
        assert_eq!(labels.classes[2].name, "class 2");
        assert_eq!(labels.classes[2].colour, PALETTE[1]);
    }

    #[test]
    fn a_chip_supports_one_class_at_most() {
        let mut labels = Labels::starter(32);
        labels.toggle([1, 2], 0);
        assert_eq!(labels.class_of([1, 2]), Some(0));
        labels.toggle([1, 2], 1);
        assert_eq!(labels.class_of([1, 2]), Some(1));
        assert!(labels.classes[0].supports.is_empty());
        labels.toggle([1, 2], 1);
        assert_eq!(labels.class_of([1, 2]), None);
        labels.toggle([0, 0], 7);
        assert_eq!(labels.support_count(), 0);
    }

    #[test]
    fn advice_follows_the_two_to_ten_guidance() {
        let mut labels = Labels::starter(8);
        assert_eq!(labels.advice(0), SupportAdvice::Empty);
        assert!(!labels.is_ready());
        labels.toggle([0, 0], 0);
        assert_eq!(labels.advice(0), SupportAdvice::TooFew);
        for col in 1..10 {
            labels.toggle([0, col], 0);
        }
        assert_eq!(labels.advice(0), SupportAdvice::Good);
        labels.toggle([1, 0], 0);
        assert_eq!(labels.advice(0), SupportAdvice::TooMany);
        labels.toggle([5, 5], 1);
        assert!(labels.is_ready());
        assert_eq!(labels.support_indices(10)[1], vec![55]);
    }

    #[test]
    fn a_stroke_paints_its_chips_into_one_class_or_erases_them() {
        let mut labels = Labels::starter(32);
        labels.toggle([0, 0], 1);
        labels.paint(&[[0, 0], [0, 1], [0, 2]], 0, false);
        assert_eq!(labels.classes[0].supports, [[0, 0], [0, 1], [0, 2]]);
        assert!(
            labels.classes[1].supports.is_empty(),
            "the chip left class 1"
        );
        labels.paint(&[[0, 1], [5, 5]], 1, true);
        assert_eq!(labels.classes[0].supports, [[0, 0], [0, 2]]);
        labels.paint(&[[1, 1]], 7, false);
        assert_eq!(labels.support_count(), 2, "no class 7: nothing painted");
    }

    #[test]
    fn a_named_cluster_fills_the_first_empty_class_then_adds_one() {
        let mut labels = Labels::starter(32);
        labels.toggle([0, 0], 0);
        assert_eq!(labels.adopt_cluster("film", &[[1, 1], [0, 0]], 32), 1);
        assert_eq!(labels.classes[1].name, "film");
        assert!(
            labels.classes[0].supports.is_empty(),
            "the chip left class 0"
        );
        assert_eq!(labels.adopt_cluster("vacuum", &[[2, 2]], 32), 0);
        assert_eq!(labels.adopt_cluster("substrate", &[[3, 3]], 32), 2);
        assert_eq!(labels.classes.len(), 3);
        assert_eq!(labels.classes[2].supports, [[3, 3]]);
        labels.adopt_cluster("grains", &[[0, 1]], 64);
        assert_eq!(labels.chip_size, 64);
        assert_eq!(
            labels.support_count(),
            1,
            "the 32-px supports were set aside"
        );
    }

    /// Supports on two images: switching moves them between here and elsewhere, and back.
    #[test]
    fn switching_images_keeps_every_support_on_its_own_image() {
        let mut labels = Labels::starter(32);
        labels.toggle([0, 0], 0);
        labels.toggle([1, 1], 1);
        let on_b = labels.switched("a", "b");
        assert!(on_b.classes.iter().all(|c| c.supports.is_empty()));
        assert_eq!(on_b.support_indices_on("a", 4), [vec![0], vec![5]]);
        assert_eq!(on_b.outside_on("a", 2, 2), None);
        assert_eq!(on_b.outside_on("a", 1, 2), Some([1, 1]));
        assert!(on_b.is_ready(), "the supports on a still count");
        let mut on_b = on_b;
        on_b.toggle([0, 0], 1); // the same cell on b is another chip
        assert_eq!(on_b.images_elsewhere(), ["a"]);
        let back = on_b.switched("b", "a");
        assert_eq!(back.classes[0].supports, [[0, 0]]);
        assert_eq!(back.classes[1].supports, [[1, 1]]);
        assert_eq!(back.support_indices_on("b", 4), [vec![], vec![0]]);
        assert_eq!(back.switched("a", "a"), back);
        let mut forgotten = back.clone();
        forgotten.forget_image("b");
        assert_eq!(forgotten.classes[1].support_total(), 1);
        assert_eq!(back.switched("a", "b").switched("b", "a"), back);
    }

    #[test]
    fn undo_and_redo_walk_the_history() {
        let mut history = Undoable::new(Labels::starter(16));
        history.edit(|l| l.toggle([0, 0], 0));
        history.edit(|l| l.toggle([0, 1], 1));
        history.edit(|l| l.toggle([9, 9], 5)); // no change, not recorded
        assert_eq!(history.current().support_count(), 2);
        assert!(history.undo());
        assert_eq!(history.current().support_count(), 1);
        assert!(history.undo());
        assert!(!history.undo());
        assert!(history.redo());
        assert_eq!(history.current().class_of([0, 0]), Some(0));
        history.edit(|l| l.toggle([3, 3], 1));
        assert!(!history.can_redo());
    }
}
