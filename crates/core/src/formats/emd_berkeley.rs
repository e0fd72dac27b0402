//! Berkeley EMD (v0.2, from NCEM, HyperSpy, py4DSTEM and Prismatic): an HDF5 file whose root
//! (or a top-level group, for Prismatic's `4DSTEM_simulation`) carries `version_major`, and
//! whose data live in groups marked `emd_group_type` (a nonzero integer), at any depth. Such a
//! group holds the array (`data`, or for py4DSTEM and Prismatic `realslice`, `datacube`,
//! `diffractionslice`…) and one vector per axis, `dim1`, `dim2`… (`dim0`… in newer py4DSTEM
//! files): the axis positions, with `name` and `units` attributes (text, or bytes; Prismatic
//! writes units as `[n_m]`).
//!
//! The signals are found as rosettasciio finds them: every such array, in name order, depth
//! first. HDF5 arrays are written transposed (the first HDF5 axis is x, matching `dim1`),
//! except 4D-STEM data cubes and files with `dim0`. Prismatic writes one group per depth
//! (`annular_detector_depth0000`, `…0001`…), which make one signal, stacked along depth.
//!
//! The image shown is the first signal holding 2-D images (a 2-D image or a 3-D stack, else a
//! deeper stack): its first frame; every frame, one at a time, through [`Stack`]. Spectra,
//! 4D-STEM data cubes, text and point lists are not images. The pixel size comes from the two
//! image axes' vectors (their step) when both are lengths with equal steps.

use super::bytes::Number;
use super::emd::{METADATA_BYTES, bounded_dataset, bounded_rows, open_hdf5, sample_type};
use super::{Contents, DecodeError, Holds, Limits, Reader};
use crate::dataset::{
    Calibration, Dataset, Image, Metadata, SampleType, normalise_unit, significant,
    voltage_property,
};
use hdf5_pure::{DType, File, Group};
use std::collections::VecDeque;

const FORMAT: &str = "Berkeley EMD";
const HDF5_SIGNATURE: &[u8] = b"\x89HDF\r\n\x1a\n";
/// Names of the arrays rosettasciio reads from an `emd_group_type` group (by prefix).
const ARRAY_PREFIXES: &[&str] = &[
    "data",
    "counted_datacube",
    "datacube",
    "diffractionslice",
    "realslice",
    "pointlistarray",
    "pointlist",
];
/// How deep signals are looked for (HDF5 allows cycles of links); never deeper than
/// [`Limits::max_depth`], and the walk lists at most [`Limits::max_objects`] objects. What is
/// read of an array to take a frame (see [`Stack`]) is at most [`Limits::max_bytes`], counting
/// 8 bytes a value.
const SEARCH_DEPTH: usize = 16;
/// Prismatic's top-level group, and where it records the simulation's beam energy (`E`, keV).
const PRISMATIC: &str = "4DSTEM_simulation";
const PRISMATIC_PARAMETERS: &str =
    "4DSTEM_simulation/metadata/metadata_0/original/simulation_parameters";

/// Reads Berkeley EMD files: the first image, or the first frame of the first image stack.
pub(super) const BERKELEY_EMD: Reader = Reader::new(
    FORMAT,
    &["emd"],
    Holds::Images,
    recognises,
    |bytes, options| read(bytes, &options.limits).map(Contents::Image),
);

/// An HDF5 file naming `emd_group_type` and `version_major` (Velox files name neither)
/// whose root or a top-level group carries `version_major`; a file too damaged to parse
/// is accepted, for the reader to say what is wrong.
fn recognises(bytes: &[u8]) -> bool {
    bytes.starts_with(HDF5_SIGNATURE)
        && contains(bytes, b"emd_group_type")
        && contains(bytes, b"version_major")
        && File::from_bytes(bytes.to_vec()).map_or(true, |file| has_version(&file))
}

/// The first image of a Berkeley EMD file, within `limits`, with notes on what else it holds.
fn read(bytes: &[u8], limits: &Limits) -> Result<Dataset, DecodeError> {
    let (mut stack, signals) = Stack::find(bytes, limits)?;
    let mut dataset = stack.read(0)?;
    let notes = &mut dataset.metadata.notes;
    if stack.layout.frames > 1 {
        let count = stack.layout.frames;
        notes.insert(
            0,
            format!("the file holds {count} frames; the first was read"),
        );
    }
    if signals > 1 {
        let title = &stack.signal.title;
        notes.insert(
            0,
            format!("the file holds {signals} signals; {title} was read"),
        );
    }
    Ok(dataset)
}

/// The frames of the signal a Berkeley EMD file shows, in rosettasciio's order (each stacked
/// array's frames after the previous array's, a transposed array's frame axes reversed).
///
/// hdf5-pure reads an array whole or by rows of its first axis. A row-major array (axes from
/// `dim0`) holds its frames along its first axes, so a frame is read alone, with the other
/// frames of its row; a transposed array (x first) holds them along its last axes, so it is
/// read whole, once, within [`Limits::max_bytes`], and its frames are cut from it on demand.
pub(super) struct Stack {
    file: File,
    file_len: usize,
    limits: Limits,
    signal: Signal,
    layout: Layout,
    frame: FrameTemplate,
    /// The transposed array last read whole: its place among the stacked arrays, its values.
    whole: Option<(usize, Vec<f32>)>,
}

/// What every frame of a signal shares: its calibration, notes and acquisition properties.
struct FrameTemplate {
    calibration: Option<Calibration>,
    sample_type: SampleType,
    notes: Vec<String>,
    properties: Vec<(String, String)>,
}

impl Stack {
    /// The frames of the signal `bytes` show (see [`pick_image`]), within `limits`; a file
    /// without images is refused with what it holds.
    pub(super) fn open(bytes: &[u8], limits: &Limits) -> Result<Self, DecodeError> {
        Self::find(bytes, limits).map(|(stack, _)| stack)
    }

    /// How many frames there are.
    pub(super) fn count(&self) -> usize {
        self.layout.frames
    }

    /// The stack [`Self::open`] gives, and how many signals the file holds.
    fn find(bytes: &[u8], limits: &Limits) -> Result<(Self, usize), DecodeError> {
        let file = open_hdf5(bytes, FORMAT)?;
        let mut signals = find_signals(&file, limits)?;
        let contents = signals
            .iter()
            .map(|signal| inspect(&file, signal))
            .collect::<Result<Vec<_>, _>>()?;
        let Some((index, layout)) = pick_image(&contents) else {
            return Err(refusal(&signals, &contents));
        };
        let (layout, count) = (layout.clone(), signals.len());
        limits.check_image(layout.width, layout.height)?;
        let signal = signals.swap_remove(index);
        if layout.frames == 0 {
            return Err(unsupported(format!("{} holds no image", signal.title)));
        }
        let frame = FrameTemplate::new(&file, &signal.groups[0], &layout);
        let stack = Stack {
            file,
            file_len: bytes.len(),
            limits: *limits,
            signal,
            layout,
            frame,
            whole: None,
        };
        Ok((stack, count))
    }

    /// Frame `index` (from 0), with the signal's calibration, notes and properties.
    pub(super) fn read(&mut self, index: usize) -> Result<Dataset, DecodeError> {
        let per_array = self.layout.frames / self.signal.groups.len();
        let (array, frame) = (index / per_array, index % per_array);
        if array >= self.signal.groups.len() {
            return Err(corrupt(format!(
                "there is no frame {} of {}",
                index + 1,
                self.layout.frames
            )));
        }
        let pixels = match self.layout.transposed {
            true => self.transposed_frame(array, frame)?,
            false => self.row_major_frame(array, frame)?,
        };
        Ok(self.frame.dataset(&self.layout, pixels))
    }

    /// Frame `frame` of stacked array `array`, stored x first: the array is read whole (unless
    /// it was the last one read) and the frame cut from it.
    fn transposed_frame(&mut self, array: usize, frame: usize) -> Result<Vec<f32>, DecodeError> {
        let values = match self.whole.take() {
            Some((read, values)) if read == array => values,
            _ => self.read_rows(array, (0, u64::MAX))?,
        };
        let stored = stored_frame(frame, &self.layout.frame_axes);
        let pixels = transposed_frame(&values, &self.layout, stored);
        self.whole = Some((array, values));
        Ok(pixels)
    }

    /// Frame `frame` of stacked array `array`, stored row-major: read with the other frames of
    /// its row of the first axis (a 2-D array: all its rows).
    fn row_major_frame(&self, array: usize, frame: usize) -> Result<Vec<f32>, DecodeError> {
        let axes = &self.layout.frame_axes;
        let per_row: usize = axes.iter().skip(1).product();
        let (rows, within) = match axes.is_empty() {
            true => ((0, u64::MAX), 0),
            false => (((frame / per_row) as u64, 1), frame % per_row),
        };
        let values = self.read_rows(array, rows)?;
        let len = self.layout.width * self.layout.height;
        values
            .get(within * len..(within + 1) * len)
            .map(<[f32]>::to_vec)
            .ok_or_else(|| corrupt("a stacked array holds fewer frames than the first"))
    }

    /// Rows `(start, count)` of the first axis of stacked array `array`, checked to hold whole
    /// frames of the first array's size (all of its frames, for a transposed array).
    fn read_rows(&self, array: usize, rows: (u64, u64)) -> Result<Vec<f32>, DecodeError> {
        let path = join(&self.signal.groups[array], &self.signal.name);
        let values = read_values(&self.file, &path, rows, self.file_len, &self.limits)?;
        let len = self.layout.width * self.layout.height;
        let per_array = self.layout.frames / self.signal.groups.len();
        let whole_frames = match self.layout.transposed {
            true => values.len() == len * per_array,
            false => values.len() % len == 0,
        };
        if !whole_frames {
            return Err(corrupt(format!(
                "{path} does not hold frames of the first array's shape"
            )));
        }
        Ok(values)
    }
}

impl FrameTemplate {
    fn new(file: &File, group: &str, layout: &Layout) -> Self {
        let (calibration, calibration_note) = calibration(file, group, layout);
        let (sample_type, complex_note) = match layout.values {
            Values::Real(sample) => (sample, None),
            Values::Complex(sample) => (sample, Some("complex values: their modulus is shown")),
        };
        let notes = complex_note
            .map(str::to_string)
            .into_iter()
            .chain(calibration_note)
            .collect();
        FrameTemplate {
            calibration,
            sample_type,
            notes,
            properties: properties(file),
        }
    }

    /// A frame of `pixels`, row-major, of the layout's size.
    fn dataset(&self, layout: &Layout, pixels: Vec<f32>) -> Dataset {
        Dataset {
            image: Image::new(layout.width, layout.height, pixels),
            calibration: self.calibration.clone(),
            metadata: Metadata {
                format: FORMAT,
                sample_type: self.sample_type,
                channels: 1,
                notes: self.notes.clone(),
                properties: self.properties.clone(),
            },
        }
    }
}

format_errors!(FORMAT);

fn hdf5_error(error: hdf5_pure::Error) -> DecodeError {
    corrupt(error.to_string())
}

fn contains(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|window| window == needle)
}

/// Whether the root or a top-level group carries the EMD version.
fn has_version(file: &File) -> bool {
    let root = file.root();
    let versioned = |group: &Group| group.attrs().is_ok_and(|a| a.contains_key("version_major"));
    versioned(&root)
        || root
            .groups()
            .unwrap_or_default()
            .iter()
            .any(|name| root.group(name).is_ok_and(|group: Group| versioned(&group)))
}

/// One signal: the array `name` in `groups` (more than one for a Prismatic depth series).
#[derive(Debug, PartialEq)]
struct Signal {
    title: String,
    groups: Vec<String>,
    name: String,
}

/// Every signal of the file, in rosettasciio's order.
fn find_signals(file: &File, limits: &Limits) -> Result<Vec<Signal>, DecodeError> {
    let mut paths = Vec::new();
    let mut budget = limits.max_objects;
    visit(&file.root(), "", 0, limits, &mut budget, &mut paths)?;
    let prismatic = file.root().groups().map_err(hdf5_error)?;
    let signals = group_signals(paths, prismatic.iter().any(|g| g == PRISMATIC));
    if signals.is_empty() {
        return Err(unsupported("it holds no EMD data group"));
    }
    Ok(signals)
}

/// Adds to `paths` the arrays under `group` (at `path`) that rosettasciio reads, depth first
/// in name order, as h5py's `visititems` lists them.
fn visit(
    group: &Group,
    path: &str,
    depth: usize,
    limits: &Limits,
    budget: &mut usize,
    paths: &mut Vec<String>,
) -> Result<(), DecodeError> {
    let groups = group.groups().map_err(hdf5_error)?;
    let datasets = group.datasets().map_err(hdf5_error)?;
    let is_emd = group
        .attrs()
        .ok()
        .and_then(|attrs| attrs.get("emd_group_type")?.as_i64())
        .is_some_and(|kind| kind != 0);
    let mut children: Vec<(String, bool)> = groups.into_iter().map(|n| (n, true)).collect();
    children.extend(datasets.into_iter().map(|n| (n, false)));
    children.sort();
    for (name, is_group) in children {
        *budget = budget.checked_sub(1).ok_or_else(|| {
            unsupported(format!("it holds more than {} objects", limits.max_objects))
        })?;
        let child = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}/{name}")
        };
        if is_group && depth < SEARCH_DEPTH.min(limits.max_depth) {
            let subgroup = group.group(&name).map_err(hdf5_error)?;
            visit(&subgroup, &child, depth + 1, limits, budget, paths)?;
        } else if !is_group && is_emd && ARRAY_PREFIXES.iter().any(|p| name.starts_with(p)) {
            paths.push(child);
        }
    }
    Ok(())
}

/// Groups array paths into signals as rosettasciio does: the arrays whose path contains the
/// first one's group path (less its 4-digit depth suffix in Prismatic files) are stacked.
fn group_signals(paths: Vec<String>, prismatic: bool) -> Vec<Signal> {
    let mut rest: VecDeque<String> = paths.into();
    let mut signals = Vec::new();
    while let Some(path) = rest.pop_front() {
        let (group, name) = path.rsplit_once('/').unwrap_or(("", &path));
        let base = match group.char_indices().rev().nth(3) {
            Some((end, _)) if prismatic && !path.contains("ppotential") => &group[..end],
            _ => group,
        };
        let mut groups = vec![group.to_string()];
        rest.retain(|other| {
            let stacked = other.contains(base);
            if stacked {
                groups.push(other.rsplit_once('/').map_or("", |(g, _)| g).to_string());
            }
            !stacked
        });
        let title = base.rsplit('/').next().unwrap_or(base);
        signals.push(Signal {
            title: title.replace("_depth", ""),
            groups,
            name: name.to_string(),
        });
    }
    signals
}

/// What a signal holds: images (how they are laid out), or something else, described.
#[derive(Debug, PartialEq)]
enum Content {
    Image(Layout),
    Other(String),
}

/// How the images of a signal lie in its first array.
#[derive(Clone, Debug, PartialEq)]
struct Layout {
    width: usize,
    height: usize,
    /// Frames in the signal (every image of every stacked array).
    frames: usize,
    /// Sizes of the array's axes other than x and y, in stored order.
    frame_axes: Vec<usize>,
    /// Dimensions of the signal, the depth stack included.
    dimensions: usize,
    /// Whether the array is stored transposed (x first), as rosettasciio assumes unless the
    /// array is a data cube or the axes count from `dim0`.
    transposed: bool,
    /// The number of the axis vector (`dim<n>`) of x and of y.
    x_dim: usize,
    y_dim: usize,
    values: Values,
}

/// The stored values of an array.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Values {
    Real(SampleType),
    /// Complex numbers: a compound of two floats, `r` and `i` (h5py) or `real` and `imag`.
    Complex(SampleType),
}

/// What `signal` holds, from its first array's shape and type.
fn inspect(file: &File, signal: &Signal) -> Result<Content, DecodeError> {
    let first = &signal.groups[0];
    let data = file
        .dataset(&join(first, &signal.name))
        .map_err(hdf5_error)?;
    let shape: Vec<usize> = data
        .shape()
        .map_err(hdf5_error)?
        .into_iter()
        .map(|n| usize::try_from(n).map_err(|_| corrupt("implausible array size")))
        .collect::<Result<_, _>>()?;
    let stack = signal.groups.len();
    let dtype = data.dtype().map_err(hdf5_error)?;
    let Some(values) = values(&dtype) else {
        return Ok(Content::Other(describe_type(&dtype, &signal.title)));
    };
    if signal.name.contains("datacube") {
        return Ok(Content::Other(describe_cube(&shape, stack, &signal.title)));
    }
    let from_zero = file.dataset(&join(first, "dim0")).is_ok();
    Ok(match layout(&shape, stack, from_zero, values) {
        Some(layout) => Content::Image(layout),
        None => Content::Other(describe_small(&shape, stack)),
    })
}

fn join(group: &str, name: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{group}/{name}")
    }
}

/// The layout of the images in an array of `shape`, stacked `stack` times: transposed (x
/// first, axes from `dim1`), or else row-major with the axes counted from `dim0`; `None` when
/// it has fewer than two dimensions.
fn layout(shape: &[usize], stack: usize, from_zero: bool, values: Values) -> Option<Layout> {
    let n = shape.len();
    if n < 2 {
        return None;
    }
    let (width, height, others, x_dim, y_dim) = if from_zero {
        (shape[n - 1], shape[n - 2], &shape[..n - 2], n - 1, n - 2)
    } else {
        (shape[0], shape[1], &shape[2..], 1, 2)
    };
    Some(Layout {
        width,
        height,
        frames: others
            .iter()
            .fold(stack, |frames, &d| frames.saturating_mul(d)),
        frame_axes: others.to_vec(),
        dimensions: n + usize::from(stack > 1),
        transposed: !from_zero,
        x_dim,
        y_dim,
        values,
    })
}

/// The sample type of an array, `None` for what is not numbers.
fn values(dtype: &DType) -> Option<Values> {
    match dtype {
        DType::Compound(fields) => match &fields[..] {
            [(r, a), (i, b)] if r.starts_with('r') && i.starts_with('i') && a == b => {
                match sample_type(a)? {
                    sample @ (SampleType::F32 | SampleType::F64) => Some(Values::Complex(sample)),
                    _ => None,
                }
            }
            _ => None,
        },
        other => sample_type(other).map(Values::Real),
    }
}

/// "text (data_group)", "a table of records (pointlist)"… for an array that is not numbers.
fn describe_type(dtype: &DType, title: &str) -> String {
    match dtype {
        DType::String | DType::VariableLengthString => format!("text ({title})"),
        DType::Compound(_) => format!("a table of records ({title})"),
        other => format!("values of type {other} ({title})"),
    }
}

/// "4D-STEM data (CBED_array: 2 × 11 × 11 × 8 × 8 values, a diffraction pattern per probe
/// position)".
fn describe_cube(shape: &[usize], stack: usize, title: &str) -> String {
    let mut sizes: Vec<String> = shape.iter().map(usize::to_string).collect();
    if stack > 1 {
        sizes.insert(0, stack.to_string());
    }
    format!(
        "4D-STEM data ({title}: {} values, a diffraction pattern per probe position)",
        sizes.join(" × ")
    )
}

/// "a 1-D signal (a spectrum) of 4096 values", or "a single value", for an array of fewer
/// than two dimensions stacked `stack` times.
fn describe_small(shape: &[usize], stack: usize) -> String {
    match (shape, stack) {
        ([n], 1) => format!("a 1-D signal (a spectrum) of {n} values"),
        ([n], _) => format!("{stack} 1-D signals of {n} values"),
        _ => "a single value".to_string(),
    }
}

/// The signal to show, and its layout: the first 2-D image or 3-D stack, else the first
/// deeper stack.
fn pick_image(contents: &[Content]) -> Option<(usize, &Layout)> {
    let image = |deepest: usize| {
        contents
            .iter()
            .enumerate()
            .find_map(|(index, content)| match content {
                Content::Image(layout) if layout.dimensions <= deepest => Some((index, layout)),
                _ => None,
            })
    };
    image(3).or_else(|| image(usize::MAX))
}

/// Why a file without images cannot be read: what each signal holds.
fn refusal(signals: &[Signal], contents: &[Content]) -> DecodeError {
    let held: Vec<&str> = contents
        .iter()
        .filter_map(|content| match content {
            Content::Other(description) => Some(description.as_str()),
            Content::Image(_) => None,
        })
        .collect();
    let what = match held.len() {
        0 => format!("{} signals", signals.len()),
        _ => held.join(" and "),
    };
    unsupported(format!("it holds {what}, not an image"))
}

/// Rows `(start, count)` of the first axis of the array at `path` (count past the end: every
/// row), as `f32` (complex numbers as their modulus), after checking their size against the
/// limit and, when stored plainly, against the file's length.
fn read_values(
    file: &File,
    path: &str,
    (start, count): (u64, u64),
    file_len: usize,
    limits: &Limits,
) -> Result<Vec<f32>, DecodeError> {
    let data = bounded_rows(file, path, count, limits.max_bytes, FORMAT)?;
    let mut shape = data.shape().map_err(hdf5_error)?;
    let rows = shape
        .first()
        .map_or(0, |&n| n.saturating_sub(start).min(count));
    if let Some(first) = shape.first_mut() {
        *first = rows;
    }
    let values = shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d))
        .filter(|&n| limits.fits(n, 8))
        .ok_or_else(|| unsupported(format!("{path} is too large to read")))?
        as usize;
    let bytes = data.element_size().map_err(hdf5_error)? * values as u64;
    if data.filters().is_empty() && !data.is_chunked() && bytes > file_len as u64 {
        return Err(corrupt(format!(
            "{path} records {bytes} bytes of values in a file of {file_len}"
        )));
    }
    let read = match stored_values(&data)? {
        Values::Real(_) => data.read_f32_rows(start, count).map_err(hdf5_error)?,
        Values::Complex(sample) => complex_moduli(
            &data.read_raw_rows(start, count).map_err(hdf5_error)?,
            sample,
        ),
    };
    if read.len() != values {
        return Err(corrupt(format!(
            "{path}: the values do not match the shape"
        )));
    }
    Ok(read)
}

/// How the values of `data` are stored, as [`inspect`] found them in the first array.
fn stored_values(data: &hdf5_pure::Dataset) -> Result<Values, DecodeError> {
    values(&data.dtype().map_err(hdf5_error)?)
        .ok_or_else(|| corrupt("stacked arrays of other types"))
}

/// The moduli of little-endian complex numbers, pairs of `f32` or `f64`.
fn complex_moduli(raw: &[u8], sample: SampleType) -> Vec<f32> {
    match sample {
        SampleType::F32 => raw
            .chunks_exact(8)
            .map(|c| f32::from_bytes(&c[..4], true).hypot(f32::from_bytes(&c[4..], true)))
            .collect(),
        _ => raw
            .chunks_exact(16)
            .map(|c| f64::from_bytes(&c[..8], true).hypot(f64::from_bytes(&c[8..], true)) as f32)
            .collect(),
    }
}

/// Where frame `index`, in rosettasciio's order, lies among the stored frames of a transposed
/// array whose frame axes have `sizes` (stored order, the last varying fastest): rosettasciio
/// reverses the axes, so there the first varies fastest.
fn stored_frame(index: usize, sizes: &[usize]) -> usize {
    let mut rest = index;
    let mut stride: usize = sizes.iter().product();
    sizes
        .iter()
        .map(|&size| {
            stride /= size;
            let position = rest % size;
            rest /= size;
            position * stride
        })
        .sum()
}

/// Stored frame `stored` of a transposed array, row-major: pixel (x, y) is `[x][y][…]`.
fn transposed_frame(values: &[f32], layout: &Layout, stored: usize) -> Vec<f32> {
    let (width, height) = (layout.width, layout.height);
    let stride = values.len() / (width * height);
    (0..height)
        .flat_map(|y| (0..width).map(move |x| (x * height + y) * stride + stored))
        .map(|index| values[index])
        .collect()
}

/// One axis vector (`dim<n>`): its step and units.
#[derive(Debug, PartialEq)]
struct Axis {
    step: f64,
    units: String,
}

/// The axis vector `dim<n>` of `group`: its step (the mean over the vector, as rosettasciio
/// takes it) and units; `None` when missing, not numbers or shorter than two values.
fn axis(file: &File, group: &str, n: usize) -> Option<Axis> {
    let dim = bounded_dataset(
        file,
        &join(group, &format!("dim{n}")),
        METADATA_BYTES,
        FORMAT,
    )
    .ok()?;
    sample_type(&dim.dtype().ok()?)?;
    let positions = dim.read_f64().ok()?;
    let (first, last) = (positions.first()?, positions.last()?);
    let step = (last - first) / (positions.len().checked_sub(1).filter(|&n| n > 0)? as f64);
    let units = dim
        .attrs()
        .ok()
        .and_then(|attrs| attrs.get("units")?.as_str().map(parse_units))
        .unwrap_or_default();
    Some(Axis { step, units })
}

/// Units as rosettasciio reads them: "A" is Å, and bracketed parts ("[n_m]") lose their
/// brackets and underscores, joined by " * ".
fn parse_units(text: &str) -> String {
    if text == "A" {
        return "Å".to_string();
    }
    let parts: Vec<String> = text
        .split('[')
        .skip(1)
        .filter_map(|part| part.split_once(']'))
        .filter(|(inner, _)| !inner.is_empty())
        .map(|(inner, _)| inner.replace('_', ""))
        .collect();
    if parts.is_empty() {
        text.to_string()
    } else {
        parts.join(" * ")
    }
}

/// The pixel size from the image axes, or a note on why there is none (no note when the axes
/// carry no units, as HyperSpy's own files do).
fn calibration(file: &File, group: &str, layout: &Layout) -> (Option<Calibration>, Option<String>) {
    let (Some(x), Some(y)) = (
        axis(file, group, layout.x_dim),
        axis(file, group, layout.y_dim),
    ) else {
        return (None, None);
    };
    if x.units.is_empty() || x.units == "[]" {
        return (None, None);
    }
    let Some(unit) = normalise_unit(&x.units).filter(|_| x.units == y.units) else {
        let note = format!("calibrated in “{}”, not a length; sizes in pixels", x.units);
        return (None, Some(note));
    };
    let (x_step, y_step) = (x.step.abs(), y.step.abs());
    if !(x_step > 0.0 && (x_step - y_step).abs() <= 1e-6 * x_step) {
        let (a, b) = (significant(x_step, 4), significant(y_step, 4));
        let note = format!("pixels of {a} × {b} {unit}, not square; sizes in pixels");
        return (None, Some(note));
    }
    let calibration = Calibration {
        pixel_size: x_step,
        unit: unit.to_string(),
    };
    (Some(calibration), None)
}

/// The acquisition facts: the `microscope` group's name and voltage, or the beam energy of a
/// Prismatic simulation.
fn properties(file: &File) -> Vec<(String, String)> {
    let text = |group: &str, key: &str| -> Option<String> {
        let attrs = file.group(group).ok()?.attrs().ok()?;
        let value = attrs.get(key)?.as_str()?.trim().to_string();
        (!value.is_empty()).then_some(value)
    };
    let simulated_kv = || {
        let attrs = file.group(PRISMATIC_PARAMETERS).ok()?.attrs().ok()?;
        attrs.get("E")?.as_f64()
    };
    let kv = text("microscope", "voltage")
        .and_then(|v| kilovolts(&v))
        .or_else(simulated_kv)
        .filter(|kv| *kv > 0.0);
    let name = text("microscope", "name").map(|name| ("microscope".to_string(), name));
    kv.map(voltage_property).into_iter().chain(name).collect()
}

/// Kilovolts in "300kV", "300 kV", "300000 V" or a bare number (volts when above 1000).
fn kilovolts(text: &str) -> Option<f64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.trim().parse().ok()?;
    match unit.trim() {
        "kV" | "kv" => Some(value),
        "V" => Some(value / 1000.0),
        "" if value > 1000.0 => Some(value / 1000.0),
        "" => Some(value),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::series::Series;
    use hdf5_pure::{AttrValue, FileBuilder, GroupBuilder};

    #[test]
    fn what_is_not_hdf5_or_not_berkeley_is_not_recognised() {
        assert!(!BERKELEY_EMD.recognises(b"II*\0emd_group_type version_major"));
        let mut velox = HDF5_SIGNATURE.to_vec();
        velox.extend_from_slice(b"\0\0Application\0Velox\0version_major");
        assert!(!BERKELEY_EMD.recognises(&velox));
    }

    #[test]
    fn damaged_files_are_refused_without_panicking() {
        let mut bytes = HDF5_SIGNATURE.to_vec();
        bytes.extend_from_slice(b"emd_group_type version_major");
        assert!(BERKELEY_EMD.recognises(&bytes));
        assert!(matches!(
            BERKELEY_EMD.read_image(&bytes),
            Err(DecodeError::Corrupt { .. })
        ));
        for length in 0..bytes.len() {
            assert!(BERKELEY_EMD.read_image(&bytes[..length]).is_err());
        }
    }

    #[test]
    fn prismatic_depths_are_stacked_into_one_signal() {
        let paths = [
            "sim/data/realslices/annular_depth0000/realslice",
            "sim/data/realslices/annular_depth0001/realslice",
            "sim/data/realslices/ppotential/realslice",
        ];
        let signals = group_signals(paths.map(String::from).to_vec(), true);
        assert_eq!(signals.len(), 2);
        assert_eq!(signals[0].title, "annular");
        assert_eq!(signals[0].groups.len(), 2);
        assert_eq!(signals[1].title, "ppotential");
        let plain = group_signals(vec!["signals/image/data".into()], false);
        assert_eq!(plain[0].title, "image");
        assert_eq!(plain[0].groups, ["signals/image"]);
    }

    #[test]
    fn transposed_arrays_give_their_frames_row_by_row() {
        // HDF5 shape (x = 3, y = 2, frame = 2): value = 100 x + 10 y + frame.
        let values: Vec<f32> = (0..3)
            .flat_map(|x| {
                (0..2).flat_map(move |y| (0..2).map(move |f| (100 * x + 10 * y + f) as f32))
            })
            .collect();
        let layout = layout(&[3, 2, 2], 1, false, Values::Real(SampleType::F32)).unwrap();
        assert_eq!((layout.width, layout.height, layout.frames), (3, 2, 2));
        assert_eq!(
            transposed_frame(&values, &layout, 0),
            [0.0, 100.0, 200.0, 10.0, 110.0, 210.0]
        );
        assert_eq!(
            transposed_frame(&values, &layout, 1),
            [1.0, 101.0, 201.0, 11.0, 111.0, 211.0]
        );
        let rows = super::layout(&[2, 2, 3], 1, true, Values::Real(SampleType::U8)).unwrap();
        assert_eq!((rows.width, rows.height, rows.frames), (3, 2, 2));
        assert_eq!((rows.x_dim, rows.y_dim), (2, 1));
        assert_eq!(super::layout(&[7], 1, false, rows.values), None);
    }

    #[test]
    fn units_and_voltages_are_read_as_written() {
        assert_eq!(parse_units("[n_m]"), "nm");
        assert_eq!(parse_units("[n_m^-1]"), "nm^-1");
        assert_eq!(parse_units("[]"), "[]");
        assert_eq!(parse_units("A"), "Å");
        assert_eq!(kilovolts("300kV"), Some(300.0));
        assert_eq!(kilovolts("200000 V"), Some(200.0));
        assert_eq!(kilovolts("80"), Some(80.0));
        assert_eq!(kilovolts("fast"), None);
    }

    /// A Berkeley EMD file with one signal, `signals/image`, filled by `build`.
    fn berkeley(build: impl FnOnce(&mut GroupBuilder)) -> Vec<u8> {
        let mut file = FileBuilder::new();
        file.set_attr("version_major", AttrValue::I64(0));
        file.set_attr("version_minor", AttrValue::I64(2));
        let mut signals = file.create_group("signals");
        let mut image = signals.create_group("image");
        image.set_attr("emd_group_type", AttrValue::I32(1));
        build(&mut image);
        signals.add_group(image.finish());
        file.add_group(signals.finish());
        file.finish().unwrap()
    }

    /// An axis vector of `n` positions `step` apart, in `units`.
    fn axis_vector(group: &mut GroupBuilder, name: &str, n: usize, step: f64, units: &str) {
        let positions: Vec<f64> = (0..n).map(|i| i as f64 * step).collect();
        group
            .create_dataset(name)
            .with_f64_data(&positions)
            .set_attr("units", AttrValue::String(units.into()));
    }

    #[test]
    fn transposed_image_is_calibrated_from_its_axis_vectors() {
        let bytes = berkeley(|group| {
            // x = 3, y = 2: value 10 x + y.
            let values = [0u16, 1, 10, 11, 20, 21];
            group
                .create_dataset("data")
                .with_u16_data(&values)
                .with_shape(&[3, 2]);
            axis_vector(group, "dim1", 3, 0.5, "[n_m]");
            axis_vector(group, "dim2", 2, 0.5, "[n_m]");
        });
        assert!(BERKELEY_EMD.recognises(&bytes));
        let dataset = BERKELEY_EMD.read_image(&bytes).unwrap();
        assert_eq!(dataset.image.pixels(), [0.0, 10.0, 20.0, 1.0, 11.0, 21.0]);
        assert_eq!(dataset.metadata.sample_type, SampleType::U16);
        let calibration = dataset.calibration.unwrap();
        assert_eq!(
            (calibration.pixel_size, calibration.unit.as_str()),
            (0.5, "nm")
        );
    }

    #[test]
    fn reciprocal_or_unequal_axes_give_a_note_not_a_calibration() {
        let cases = [
            (
                "[n_m^-1]",
                0.5,
                "calibrated in “nm^-1”, not a length; sizes in pixels",
            ),
            (
                "A",
                0.25,
                "pixels of 0.5 × 0.25 Å, not square; sizes in pixels",
            ),
        ];
        for (units, y_step, note) in cases {
            let bytes = berkeley(|group| {
                group
                    .create_dataset("data")
                    .with_f32_data(&[1.0; 4])
                    .with_shape(&[2, 2]);
                axis_vector(group, "dim1", 2, 0.5, units);
                axis_vector(group, "dim2", 2, y_step, units);
            });
            let dataset = BERKELEY_EMD.read_image(&bytes).unwrap();
            assert_eq!(dataset.calibration, None);
            assert_eq!(dataset.metadata.notes, [note]);
        }
    }

    #[test]
    fn complex_images_give_their_modulus() {
        let bytes = berkeley(|group| {
            group
                .create_dataset("data")
                .with_complex32_data(&[(3.0, 4.0), (0.0, -1.0)])
                .with_shape(&[2, 1]);
        });
        let dataset = BERKELEY_EMD.read_image(&bytes).unwrap();
        assert_eq!(dataset.image.pixels(), [5.0, 1.0]);
        assert_eq!(
            dataset.metadata.notes,
            ["complex values: their modulus is shown"]
        );
    }

    #[test]
    fn axes_counted_from_dim0_are_row_major() {
        let bytes = berkeley(|group| {
            // 2 frames of 2 rows × 3 columns.
            let values: Vec<i32> = (0..12).collect();
            group
                .create_dataset("data")
                .with_i32_data(&values)
                .with_shape(&[2, 2, 3]);
            axis_vector(group, "dim0", 2, 1.0, "");
        });
        let dataset = BERKELEY_EMD.read_image(&bytes).unwrap();
        assert_eq!((dataset.image.width(), dataset.image.height()), (3, 2));
        assert_eq!(dataset.image.pixels(), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(
            dataset.metadata.notes,
            ["the file holds 2 frames; the first was read"]
        );
        // Each frame is read alone, with its row of the first axis.
        let mut series = Series::open(&bytes, &Limits::default()).unwrap().unwrap();
        assert_eq!((series.len(), series.frame_size()), (2, (3, 2)));
        assert_eq!(
            series.frame(1).unwrap().image.pixels(),
            [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
        );
    }

    #[test]
    fn transposed_stack_opens_as_a_series_of_its_frames() {
        let bytes = berkeley(|group| {
            // HDF5 shape (x = 2, y = 1, frame = 3): value 10 x + frame.
            let values = [0.0, 1.0, 2.0, 10.0, 11.0, 12.0];
            group
                .create_dataset("data")
                .with_f32_data(&values)
                .with_shape(&[2, 1, 3]);
        });
        let mut series = Series::open(&bytes, &Limits::default()).unwrap().unwrap();
        assert_eq!((series.format(), series.len()), ("Berkeley EMD", 3));
        for frame in [2, 0, 1] {
            let pixels = series.frame(frame).unwrap().image.pixels().to_vec();
            assert_eq!(pixels, [frame as f32, 10.0 + frame as f32]);
        }
        assert!(series.frame(3).is_err());
    }

    #[test]
    fn frames_of_transposed_arrays_follow_rosettasciio_order() {
        // Frame axes (2, 3) stored with the last fastest; rosettasciio varies the first fastest
        // (its frames of an h5py-written (2, 1, 2, 3) array holding a stored frame's index).
        let order: Vec<usize> = (0..6).map(|index| stored_frame(index, &[2, 3])).collect();
        assert_eq!(order, [0, 3, 1, 4, 2, 5]);
        assert_eq!(stored_frame(4, &[7]), 4);
        assert_eq!(stored_frame(0, &[]), 0);
    }

    #[test]
    fn a_spectrum_is_refused_with_what_it_holds() {
        let bytes = berkeley(|group| {
            group.create_dataset("data").with_f64_data(&[0.0; 4096]);
        });
        assert_eq!(
            BERKELEY_EMD.read_image(&bytes).unwrap_err().to_string(),
            "this Berkeley EMD file uses something Chipscope cannot read yet: it holds a 1-D \
             signal (a spectrum) of 4096 values, not an image"
        );
    }
}
