//! JEOL Analysis Station `.pts` files: an EDS spectrum image stored as a list of single X-ray
//! events, frame (sweep) after frame, behind a typed tag tree with the map size, energy
//! calibration, beam voltage and magnification.
//!
//! Layout: a fixed preamble (magic 304, "PTTDFILE", the place of the tag tree and of the event
//! stream), the tag tree, then the stream of little-endian 16-bit words whose top 4 bits name
//! what the low 12 bits hold — 0x8 the scan column, 0x9 the scan row (both on a 0..4096 scale
//! across the field), 0xA an electron-image intensity for the current pixel, 0xB the energy
//! channel of one X-ray; other kinds (0x6, 0x7, timing) are skipped. A frame ends where the row
//! goes back up. The events are summed over the frames into an [`EventCollector`], so the cube
//! is never dense.

use std::ops::Range;

use super::bytes::Cursor;
use super::jeol_tree::Node;
use super::spectral::SpectralFile;
use super::{Contents, DecodeError, Holds, Limits, ReadOptions, Reader};
use crate::dataset::{Calibration, Dataset, Image, Metadata, SampleType, voltage_property};
use crate::spectra::{EnergyAxis, EventCollector, SpectrumError};

const FORMAT: &str = "JEOL PTS";
/// First word of the file (the size of the fixed preamble), then the format's name.
const MAGIC: [u8; 4] = 304u32.to_le_bytes();
const NAME: &[u8; 8] = b"PTTDFILE";
/// Bytes between the tree's recorded offset and its first node.
const TREE_SKIP: usize = 12;
/// Scan positions and energies are 12-bit: positions span 0..4096 over the field, and there
/// are 4096 energy channels.
const FULL_SCALE: usize = 4096;

/// Reads JEOL `.pts` EDS spectrum images.
pub const PTS: Reader = Reader::new(
    FORMAT,
    &["pts"],
    Holds::Both,
    |bytes| bytes.get(..4) == Some(&MAGIC) && bytes.get(4..12) == Some(NAME),
    |bytes, options| read(bytes, options).map(Contents::Spectral),
);

/// The spectrum image of a `.pts` file, with its electron image.
fn read(bytes: &[u8], options: &ReadOptions) -> Result<SpectralFile, DecodeError> {
    let bin = options.bin;
    let layout = Layout::parse(bytes)?;
    let tree = Node::parse_tree(&bytes[layout.tree], FORMAT, &options.limits)?;
    let header = MapHeader::from_tree(&tree, &options.limits)?;
    let stream = &bytes[layout.stream];
    let scan = Scan::new(header.width, header.height)?;
    let frames = split_frames(stream, &scan);
    let (kept, mut notes) = frames_to_sum(&frames);
    let sum = sum_frames(stream, &scan, &header, &frames[..kept], bin)?;
    let calibration = header.pixel_size_nm.map(|pixel_size| Calibration {
        pixel_size,
        unit: "nm".to_string(),
    });
    if sum.outside > 0 {
        notes.push(format!(
            "{} X-ray event(s) lay outside the {} × {} map the header gives and were left out",
            sum.outside, header.width, header.height
        ));
    }
    if bin > 1 {
        notes.push(format!("energy channels binned by {bin}"));
    }
    let images = sum
        .image
        .map(|pixels| electron_image(pixels, &header, calibration.clone(), kept))
        .into_iter()
        .collect();
    let map = sum
        .events
        .finish(calibration, header.beam_kv)
        .map_err(spectrum_error)?;
    Ok(SpectralFile {
        format: FORMAT,
        map: Some(map),
        spectrum: None,
        images,
        notes,
    })
}

format_errors!(FORMAT);

fn spectrum_error(error: SpectrumError) -> DecodeError {
    unsupported(error.to_string())
}

/// Where the tag tree and the event stream lie in the file.
#[derive(Debug, PartialEq)]
struct Layout {
    tree: Range<usize>,
    stream: Range<usize>,
}

impl Layout {
    /// Reads the preamble: after magic and name, two words of unknown use, then offset and
    /// length of the tree, then offset and length of the stream.
    fn parse(bytes: &[u8]) -> Result<Layout, DecodeError> {
        let mut preamble = Cursor::new(FORMAT, bytes)
            .ends_early("the file ends inside its preamble")
            .at(12 + 2 * 4);
        let mut word = || preamble.le::<u32>().map(|word| word as usize);
        let (tree_at, tree_len) = (word()?, word()?);
        let (stream_at, stream_len) = (word()?, word()?);
        let tree = tree_at
            .checked_add(TREE_SKIP)
            .zip(tree_at.checked_add(tree_len))
            .filter(|&(start, end)| start <= end && end <= bytes.len())
            .map(|(start, end)| start..end)
            .ok_or_else(|| corrupt("the header lies beyond the end of the file"))?;
        let stream = stream_end(stream_at, stream_len, bytes.len())
            .map(|end| stream_at..end)
            .ok_or_else(|| {
                corrupt(format!(
                    "the file is {} bytes long, shorter than its header announces",
                    bytes.len()
                ))
            })?;
        Ok(Layout { tree, stream })
    }
}

/// End of the event stream. Its recorded length is the stream's own in some files and the
/// whole file's in others (JEOL's sample files have both); a file shorter than either reading
/// allows was cut short.
fn stream_end(start: usize, recorded: usize, file_len: usize) -> Option<usize> {
    match start.checked_add(recorded) {
        Some(end) if end <= file_len => Some(end),
        _ if recorded == file_len && start <= file_len => Some(file_len),
        _ => None,
    }
}

/// What the tag tree says about the map.
#[derive(Debug)]
struct MapHeader {
    width: usize,
    height: usize,
    axis: EnergyAxis,
    beam_kv: Option<f64>,
    /// Scan field (`ScanSize` / magnification, in mm at magnification 1) over the width.
    pixel_size_nm: Option<f64>,
}

const MEASUREMENT: [&str; 2] = ["PTTD Data", "AnalyzableMap MeasData"];

impl MapHeader {
    fn from_tree(tree: &Node, limits: &Limits) -> Result<MapHeader, DecodeError> {
        let measurement = tree
            .path(&MEASUREMENT)
            .ok_or_else(|| corrupt("the header has no PTTD Data / AnalyzableMap MeasData"))?;
        let (width, height) = map_size(measurement, limits)?;
        let number = |path: &[&str]| measurement.path(path).and_then(Node::number);
        let positive = |value: Option<f64>| value.filter(|v| v.is_finite() && *v > 0.0);
        let beam_kv = positive(number(&["MeasCond", "AccKV"]));
        let magnification = positive(number(&["MeasCond", "Mag"]));
        let scan_size = positive(parameter(tree, &["ScanSize"]));
        let pixel_size_nm = scan_size
            .zip(magnification)
            .map(|(size, mag)| size / mag * 1e6 / width as f64);
        Ok(MapHeader {
            width,
            height,
            axis: energy_axis(tree, measurement)?,
            beam_kv,
            pixel_size_nm,
        })
    }
}

/// "512x512" from `Meas Cond/Pixels`.
fn map_size(measurement: &Node, limits: &Limits) -> Result<(usize, usize), DecodeError> {
    let pixels = measurement
        .path(&["Meas Cond", "Pixels"])
        .and_then(Node::text)
        .ok_or_else(|| corrupt("the header gives no map size (Meas Cond / Pixels)"))?;
    let (width, height) = pixels
        .split_once('x')
        .and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)))
        .ok_or_else(|| corrupt(format!("the map size \"{pixels}\" is not width x height")))?;
    limits.check_image(width, height)?;
    Ok((width, height))
}

/// A value of one of the `PTTD Param / Params / PARAMPAGE…` pages, whichever holds it.
fn parameter(tree: &Node, path: &[&str]) -> Option<f64> {
    let pages = tree.path(&["PTTD Param", "Params"])?;
    pages
        .children
        .iter()
        .find_map(|page| page.path(path).and_then(Node::number))
}

/// Energy of channel `c`: `CoefA × (c − DigZ) + CoefB` keV, `DigZ` being the zero channel of
/// the pulse-processing template (`Meas Cond / Tpl`) the map was taken with.
fn energy_axis(tree: &Node, measurement: &Node) -> Result<EnergyAxis, DecodeError> {
    let doc = |name: &str| measurement.path(&["Doc", name]).and_then(Node::number);
    let (Some(slope), Some(intercept)) = (doc("CoefA"), doc("CoefB")) else {
        return Err(corrupt(
            "the header has no energy calibration (CoefA, CoefB)",
        ));
    };
    let template = measurement
        .path(&["Meas Cond", "Tpl"])
        .and_then(Node::text)
        .ok_or_else(|| corrupt("the header names no processing template (Meas Cond / Tpl)"))?;
    let zero_channel = parameter(tree, &["Tpl", &template, "DigZ"])
        .ok_or_else(|| corrupt(format!("the header has no zero channel for {template}")))?;
    if !(slope.is_finite() && slope > 0.0 && intercept.is_finite()) {
        return Err(corrupt(format!(
            "the energy calibration ({slope} keV/channel) is not usable"
        )));
    }
    Ok(EnergyAxis {
        offset_kev: intercept - slope * zero_channel,
        scale_kev: slope,
        channels: FULL_SCALE,
    })
}

/// One word of the event stream.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Word {
    Column(u16),
    Row(u16),
    Image(u16),
    Xray(u16),
    Other,
}

impl Word {
    fn decode(word: u16) -> Word {
        let value = word & 0x0fff;
        match word >> 12 {
            0x8 => Word::Column(value),
            0x9 => Word::Row(value),
            0xa => Word::Image(value),
            0xb => Word::Xray(value),
            _ => Word::Other,
        }
    }
}

fn words(stream: &[u8]) -> impl Iterator<Item = u16> + '_ {
    stream
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
}

/// How the 12-bit scan positions map onto the map's pixels.
#[derive(Debug)]
struct Scan {
    width: usize,
    height: usize,
    column_step: usize,
    row_step: usize,
}

impl Scan {
    fn new(width: usize, height: usize) -> Result<Scan, DecodeError> {
        if width > FULL_SCALE || height > FULL_SCALE {
            return Err(corrupt(format!(
                "the map size {width} × {height} exceeds the scan's {FULL_SCALE} positions"
            )));
        }
        Ok(Scan {
            width,
            height,
            column_step: FULL_SCALE / width,
            row_step: FULL_SCALE / height,
        })
    }

    fn column(&self, position: u16) -> Option<usize> {
        Some(usize::from(position) / self.column_step).filter(|&x| x < self.width)
    }

    fn row(&self, position: u16) -> Option<usize> {
        Some(usize::from(position) / self.row_step).filter(|&y| y < self.height)
    }
}

/// One frame (sweep) of the stream: its words, and whether its scan reached the last row (and,
/// when it carries an image, the last column) — a frame that did not was interrupted.
#[derive(Clone, Debug, PartialEq)]
struct Frame {
    words: Range<usize>,
    complete: bool,
}

/// An image or X-ray word with the pixel it was recorded at (`None`: outside the map).
type Sink<'s> = dyn FnMut(Option<(usize, usize)>, Word) + 's;

/// Walks the frame starting at word `start`, handing image and X-ray words to `sink`.
fn walk_frame(stream: &[u8], start: usize, scan: &Scan, sink: &mut Sink<'_>) -> Frame {
    let (mut column, mut row) = (Some(0), Some(0));
    let (mut last_column, mut last_row) = (0, None);
    let mut has_image = false;
    let mut end = start;
    for word in words(&stream[2 * start..]).map(Word::decode) {
        match word {
            Word::Column(position) => {
                last_column = position;
                column = scan.column(position);
            }
            Word::Row(position) if last_row.is_some_and(|last| position < last) => break,
            Word::Row(position) => {
                last_row = Some(position);
                row = scan.row(position);
            }
            Word::Image(_) | Word::Xray(_) => {
                has_image |= matches!(word, Word::Image(_));
                sink(column.zip(row), word);
            }
            Word::Other => {}
        }
        end += 1;
    }
    let reaches_end = |position: u16, step: usize| usize::from(position) + step >= FULL_SCALE;
    let complete = last_row.is_some_and(|row| reaches_end(row, scan.row_step))
        && (!has_image || reaches_end(last_column, scan.column_step));
    Frame {
        words: start..end,
        complete,
    }
}

/// The frames of the stream, in order.
fn split_frames(stream: &[u8], scan: &Scan) -> Vec<Frame> {
    let total = stream.len() / 2;
    let mut frames = Vec::new();
    let mut start = 0;
    while start < total {
        let frame = walk_frame(stream, start, scan, &mut |_, _| {});
        start = frame.words.end;
        frames.push(frame);
    }
    frames
}

/// How many leading frames to sum, with a note on those left out: the complete frames before
/// the first interrupted one (as rosettasciio does); the first frame alone, partial, when
/// even that one was interrupted.
fn frames_to_sum(frames: &[Frame]) -> (usize, Vec<String>) {
    let complete = frames.iter().take_while(|frame| frame.complete).count();
    let mut notes = Vec::new();
    let kept = match (complete, frames.len()) {
        (_, 0) => {
            notes.push("the file holds no scan data".to_string());
            0
        }
        (0, _) => {
            notes.push(
                "the acquisition stopped during the first frame: only its scanned part is mapped"
                    .to_string(),
            );
            1
        }
        (complete, total) if complete < total => {
            notes.push(format!(
                "frame {} of {total} was interrupted part-way and is left out{}",
                complete + 1,
                match total - complete - 1 {
                    0 => String::new(),
                    after => format!(", with the {after} after it"),
                }
            ));
            complete
        }
        _ => complete,
    };
    if kept > 1 {
        notes.push(format!("{kept} frames (sweeps) summed"));
    }
    (kept, notes)
}

/// The summed frames: X-ray events, the electron image if the frames carry one, and how many
/// events lay outside the map.
struct FrameSum {
    events: EventCollector,
    image: Option<Vec<f32>>,
    outside: usize,
}

fn sum_frames(
    stream: &[u8],
    scan: &Scan,
    header: &MapHeader,
    frames: &[Frame],
    bin: usize,
) -> Result<FrameSum, DecodeError> {
    let mut events = EventCollector::new(header.width, header.height, header.axis, bin)
        .map_err(spectrum_error)?;
    let mut image: Option<Vec<f32>> = None;
    let mut outside = 0;
    let mut sink = |at: Option<(usize, usize)>, word: Word| match (at, word) {
        (Some((x, y)), Word::Xray(channel)) => events.push(x, y, usize::from(channel)),
        (None, Word::Xray(_)) => outside += 1,
        (Some((x, y)), Word::Image(value)) => {
            let pixels = image.get_or_insert_with(|| vec![0.0; scan.width * scan.height]);
            pixels[y * scan.width + x] += f32::from(value);
        }
        _ => {}
    };
    for frame in frames {
        walk_frame(stream, frame.words.start, scan, &mut sink);
    }
    Ok(FrameSum {
        events,
        image,
        outside,
    })
}

/// The electron (SEM / STEM) image recorded with the map, summed over the same frames.
fn electron_image(
    pixels: Vec<f32>,
    header: &MapHeader,
    calibration: Option<Calibration>,
    frames: usize,
) -> (String, Dataset) {
    let notes = if frames > 1 {
        vec![format!("sum of {frames} frames")]
    } else {
        Vec::new()
    };
    let properties = header.beam_kv.map(voltage_property).into_iter().collect();
    let dataset = Dataset {
        image: Image::new(header.width, header.height, pixels),
        calibration,
        metadata: Metadata {
            format: FORMAT,
            sample_type: SampleType::U16,
            channels: 1,
            notes,
            properties,
        },
    };
    ("electron image".to_string(), dataset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::jeol_tree::encode_node as node;

    fn group(name: &str, children: &[Vec<u8>]) -> Vec<u8> {
        node(name, 0, &[], children)
    }

    fn text(name: &str, value: &str) -> Vec<u8> {
        node(name, 20, &[value.as_bytes(), b"\0"].concat(), &[])
    }

    fn stream(words: &[u16]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// A whole `.pts` file: a `pixels` map ("4x2"), 10 eV channels from −0.1 keV (DigZ 10),
    /// 200 kV, ScanSize 100 at magnification 10 000 (a 10 µm field), then `events`.
    fn file(pixels: &str, events: &[u16]) -> Vec<u8> {
        let tree = [
            group(
                "PTTD Param",
                &[group(
                    "Params",
                    &[
                        node(
                            "PARAMPAGE0",
                            20,
                            b"SEM\0",
                            &[
                                node("ScanSize\u{de}", 4, &50f32.to_le_bytes(), &[]),
                                node("ScanSize", 4, &100f32.to_le_bytes(), &[]),
                            ],
                        ),
                        node(
                            "PARAMPAGE1",
                            20,
                            b"EDXRF\0",
                            &[group(
                                "Tpl",
                                &[group("T2", &[node("DigZ", 2, &10u16.to_le_bytes(), &[])])],
                            )],
                        ),
                    ],
                )],
            ),
            group(
                "PTTD Data",
                &[group(
                    "AnalyzableMap MeasData",
                    &[
                        group(
                            "Doc",
                            &[
                                node("CoefA", 5, &0.01f64.to_le_bytes(), &[]),
                                node("CoefB", 5, &0.0f64.to_le_bytes(), &[]),
                            ],
                        ),
                        group("Meas Cond", &[text("Tpl", "T2"), text("Pixels", pixels)]),
                        group(
                            "MeasCond",
                            &[
                                node("AccKV", 4, &200f32.to_le_bytes(), &[]),
                                node("Mag", 3, &10_000i32.to_le_bytes(), &[]),
                            ],
                        ),
                    ],
                )],
            ),
        ]
        .concat();
        let tree_at = 64;
        let stream_at = tree_at + TREE_SKIP + tree.len();
        let mut bytes = vec![0; tree_at + TREE_SKIP];
        bytes[..4].copy_from_slice(&MAGIC);
        bytes[4..12].copy_from_slice(NAME);
        let words = [tree_at, TREE_SKIP + tree.len(), stream_at, 2 * events.len()];
        for (index, word) in words.into_iter().enumerate() {
            let at = 20 + 4 * index;
            bytes[at..at + 4].copy_from_slice(&(word as u32).to_le_bytes());
        }
        bytes.extend(tree);
        bytes.extend(stream(events));
        bytes
    }

    /// Column, row and X-ray words on the 0..4096 scale of a 4 × 2 map.
    fn at(x: u16, y: u16) -> [u16; 2] {
        [0x9000 | (y * 2048), 0x8000 | (x * 1024)]
    }

    const XRAY: u16 = 0xb000;

    fn two_frames() -> Vec<u16> {
        [
            &at(0, 0)[..],
            &[XRAY | 20, XRAY | 21, 0x6123],
            &at(3, 1),
            &[XRAY | 20],
            &at(1, 0),
            &[XRAY | 25],
            &at(3, 1),
            &[0x7001],
        ]
        .concat()
    }

    #[test]
    fn words_are_split_into_kind_and_value() {
        assert_eq!(Word::decode(0x8abc), Word::Column(0xabc));
        assert_eq!(Word::decode(0x9001), Word::Row(1));
        assert_eq!(Word::decode(0xa7ff), Word::Image(0x7ff));
        assert_eq!(Word::decode(0xbfff), Word::Xray(4095));
        assert_eq!(Word::decode(0x6fff), Word::Other);
    }

    #[test]
    fn tree_nodes_carry_values_and_children() {
        let bytes = [
            group(
                "A",
                &[
                    node("B", 2, &6u16.to_le_bytes(), &[]),
                    node("B\u{de}", 2, &8u16.to_le_bytes(), &[]),
                    node("B", 2, &7u16.to_le_bytes(), &[]),
                    text("C", "512x512\0x"),
                ],
            ),
            node(
                "PAGE",
                20,
                b"SEM\0",
                &[node("D", 5, &1.5f64.to_le_bytes(), &[])],
            ),
        ]
        .concat();
        let tree = Node::parse_tree(&bytes, FORMAT, &Limits::default()).unwrap();
        assert_eq!(tree.path(&["A", "B"]).and_then(Node::number), Some(7.0));
        assert_eq!(
            tree.path(&["A", "C"]).and_then(Node::text).as_deref(),
            Some("512x512")
        );
        assert_eq!(tree.path(&["PAGE", "D"]).and_then(Node::number), Some(1.5));
        assert_eq!(tree.path(&["PAGE"]).and_then(Node::number), None);
    }

    #[test]
    fn damaged_trees_are_errors() {
        let bytes = group("A", &[node("B", 2, &7u16.to_le_bytes(), &[])]);
        for len in 1..bytes.len() {
            assert!(
                Node::parse_tree(&bytes[..len], FORMAT, &Limits::default()).is_err(),
                "cut at {len}"
            );
        }
        let mut unclosed = bytes.clone();
        *unclosed.last_mut().unwrap() = 2;
        assert!(Node::parse_tree(&unclosed, FORMAT, &Limits::default()).is_err());
        let deep = (0..100).fold(Vec::new(), |inner, _| group("A", &[inner]));
        assert!(Node::parse_tree(&deep, FORMAT, &Limits::default()).is_err());
    }

    #[test]
    fn frames_end_where_the_row_goes_back() {
        let scan = Scan::new(4, 2).unwrap();
        let frames = split_frames(&stream(&two_frames()), &scan);
        assert_eq!(
            frames,
            [
                Frame {
                    words: 0..8,
                    complete: true
                },
                Frame {
                    words: 8..14,
                    complete: true
                },
            ]
        );
        let interrupted = stream(&[&two_frames()[..], &at(2, 0)].concat());
        let frames = split_frames(&interrupted, &scan);
        assert_eq!(frames.len(), 3);
        assert!(!frames[2].complete);
        assert_eq!(frames_to_sum(&frames).0, 2);
    }

    #[test]
    fn a_frame_with_an_image_is_complete_only_at_the_last_pixel() {
        let scan = Scan::new(4, 2).unwrap();
        let last_row = [&at(2, 1)[..], &[0xa005]].concat();
        assert!(!split_frames(&stream(&last_row), &scan)[0].complete);
        let last_pixel = [&at(3, 1)[..], &[0xa005]].concat();
        assert!(split_frames(&stream(&last_pixel), &scan)[0].complete);
    }

    #[test]
    fn only_the_first_frame_is_kept_when_it_was_interrupted() {
        let frame = |complete| Frame {
            words: 0..1,
            complete,
        };
        let (kept, notes) = frames_to_sum(&[frame(false), frame(true)]);
        assert_eq!(kept, 1);
        assert!(notes[0].contains("first frame"));
        let (kept, notes) = frames_to_sum(&[frame(true), frame(false), frame(true)]);
        assert_eq!(kept, 1);
        assert_eq!(
            notes,
            ["frame 2 of 3 was interrupted part-way and is left out, with the 1 after it"]
        );
    }

    #[test]
    fn a_small_file_is_read_whole() {
        let reader = PTS;
        let bytes = file("4x2", &two_frames());
        assert!(reader.recognises(&bytes));
        let read = reader.read_spectra(&bytes, 1).unwrap();
        let map = read.map.unwrap();
        assert_eq!((map.width, map.height, map.axis.channels), (4, 2, 4096));
        assert!((map.axis.offset_kev + 0.1).abs() < 1e-12);
        assert_eq!(map.beam_kv, Some(200.0));
        assert!((map.calibration.as_ref().unwrap().pixel_size - 2500.0).abs() < 1e-6);
        assert_eq!(map.pixel(0, 0).collect::<Vec<_>>(), [(20, 1), (21, 1)]);
        assert_eq!(map.pixel(1, 0).collect::<Vec<_>>(), [(25, 1)]);
        assert_eq!(map.pixel(3, 1).collect::<Vec<_>>(), [(20, 1)]);
        assert_eq!(map.total_counts(), 4);
        assert_eq!(read.notes, ["2 frames (sweeps) summed"]);
        assert!(read.images.is_empty());
        let binned = reader.read_spectra(&bytes, 4).unwrap().map.unwrap();
        assert_eq!(binned.axis.channels, 1024);
        assert_eq!(binned.pixel(0, 0).collect::<Vec<_>>(), [(5, 2)]);
    }

    #[test]
    fn events_outside_the_map_and_images_are_handled() {
        // On a 3 × 2 map a column step is 1365: position 4095 falls in a fourth column.
        let events = [0x9800, 0x8000, 0xa00a, XRAY | 30, 0x8fff, XRAY | 31, 0xa00b];
        let read = PTS.read_spectra(&file("3x2", &events), 1).unwrap();
        assert_eq!(read.map.unwrap().total_counts(), 1);
        assert!(
            read.notes
                .iter()
                .any(|note| note.starts_with("1 X-ray event(s)"))
        );
        let (name, image) = &read.images[0];
        assert_eq!(name, "electron image");
        assert_eq!(image.image.get(0, 1), 10.0);
        assert_eq!(image.image.pixels().iter().sum::<f32>(), 10.0);
    }

    #[test]
    fn short_or_foreign_files_are_errors() {
        let bytes = file("4x2", &two_frames());
        for len in [0, 10, 40, 80, 200, bytes.len() - 3] {
            assert!(PTS.read_spectra(&bytes[..len], 1).is_err(), "cut at {len}");
        }
        assert!(!PTS.recognises(b"\x34\0\0\0JED-2200"));
    }

    #[test]
    fn the_stream_may_record_the_file_length_instead_of_its_own() {
        assert_eq!(stream_end(100, 50, 200), Some(150));
        assert_eq!(stream_end(100, 200, 200), Some(200));
        assert_eq!(stream_end(100, 150, 200), None);
        assert_eq!(stream_end(usize::MAX, 2, 200), None);
    }
}
