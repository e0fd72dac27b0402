//! The `chipscope._chipscope` extension module: Chipscope's file readers, sessions and
//! segmentation for Python. Thin by design: each function calls `chipscope-core` (or the command
//! line's library, for segmenting as `chipscope segment` does), converts the result to Python
//! objects (NumPy arrays, dicts) and turns errors into `ChipscopeError` with Chipscope's
//! message. Decoding and segmenting run with the GIL released.

mod segment;
mod spectra;

use std::path::{Path, PathBuf};

use chipscope_cli::files::{file_name, open_file};
use chipscope_core::dataset::Dataset;
use chipscope_core::hashing::sha256_hex;
use chipscope_core::report::{ClassReport, ProjectReport};
use chipscope_core::session::Session as CoreSession;
use chipscope_core::share;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

create_exception!(
    chipscope,
    ChipscopeError,
    PyValueError,
    "A file, session or link Chipscope cannot use; the message says why."
);

/// A pixel size: `pixel_size` `unit`s per pixel.
#[pyclass(frozen, module = "chipscope")]
struct Calibration {
    /// The size of one pixel, in `unit`.
    #[pyo3(get)]
    pixel_size: f64,
    /// The unit of `pixel_size` as the file gives it ("nm", "µm", "1/nm", …).
    #[pyo3(get)]
    unit: String,
    /// The pixel size in nanometres when the unit is a length, else `None`.
    #[pyo3(get)]
    pixel_nm: Option<f64>,
}

#[pymethods]
impl Calibration {
    fn __repr__(&self) -> String {
        format!(
            "Calibration(pixel_size={}, unit={:?})",
            self.pixel_size, self.unit
        )
    }
}

/// A decoded micrograph: the file's raw values as float32, its calibration and metadata.
#[pyclass(frozen, module = "chipscope")]
struct Image {
    data: Py<PyArray2<f32>>,
    calibration: Option<Py<Calibration>>,
    metadata: Py<PyDict>,
    /// The file name, without its folder.
    #[pyo3(get)]
    name: String,
    width: usize,
    height: usize,
    format: &'static str,
}

#[pymethods]
impl Image {
    /// The pixels as a float32 array of shape (height, width), the file's raw values.
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyArray2<f32>> {
        self.data.clone_ref(py)
    }

    /// The pixel size, or `None` when the file records none.
    #[getter]
    fn calibration(&self, py: Python<'_>) -> Option<Py<Calibration>> {
        self.calibration.as_ref().map(|c| c.clone_ref(py))
    }

    /// The format, stored type, notes and acquisition facts, as a dict.
    #[getter]
    fn metadata(&self, py: Python<'_>) -> Py<PyDict> {
        self.metadata.clone_ref(py)
    }

    fn __repr__(&self) -> String {
        let calibration = match &self.calibration {
            Some(c) => {
                let c = c.get();
                format!("{} {}/px", c.pixel_size, c.unit)
            }
            None => "uncalibrated".into(),
        };
        format!(
            "<chipscope.Image {:?}: {} {}×{} px (width × height), {}>",
            self.name, self.format, self.width, self.height, calibration
        )
    }
}

fn image_of(py: Python<'_>, name: String, dataset: Dataset) -> PyResult<Image> {
    let (width, height) = (dataset.image.width(), dataset.image.height());
    let metadata = PyDict::new(py);
    metadata.set_item("format", dataset.metadata.format)?;
    metadata.set_item("storage", dataset.storage_summary())?;
    metadata.set_item("sample_type", dataset.metadata.sample_type.to_string())?;
    metadata.set_item("channels", dataset.metadata.channels)?;
    metadata.set_item("calibration", dataset.calibration_summary())?;
    metadata.set_item("values", dataset.value_summary())?;
    metadata.set_item("acquisition", dataset.acquisition_summary())?;
    let properties = PyDict::new(py);
    for (key, value) in &dataset.metadata.properties {
        properties.set_item(key, value)?;
    }
    metadata.set_item("properties", properties)?;
    metadata.set_item("notes", PyList::new(py, &dataset.metadata.notes)?)?;
    let calibration = match &dataset.calibration {
        Some(c) => Some(Py::new(
            py,
            Calibration {
                pixel_size: c.pixel_size,
                unit: c.unit.clone(),
                pixel_nm: c.pixel_nm(),
            },
        )?),
        None => None,
    };
    let format = dataset.metadata.format;
    let pixels = dataset.image.pixels().to_vec();
    drop(dataset);
    let array = Array2::from_shape_vec((height, width), pixels)
        .map_err(|e| ChipscopeError::new_err(e.to_string()))?;
    Ok(Image {
        data: array.into_pyarray(py).unbind(),
        calibration,
        metadata: metadata.unbind(),
        name,
        width,
        height,
        format,
    })
}

/// Reads the first image of any file Chipscope reads (found by content), with its calibration
/// and metadata. A TIA `.ser` gets the acquisition facts of the `.emi` beside it.
///
/// Raises `ChipscopeError` when the file cannot be decoded (with the CLI's message), `OSError`
/// (`FileNotFoundError`, …) when it cannot be read.
#[pyfunction]
fn read(py: Python<'_>, path: PathBuf) -> PyResult<Image> {
    let bytes = py
        .detach(|| std::fs::read(&path))
        .map_err(|e| io_error(e, &path))?;
    let opened = py
        .detach(|| open_file(&path, &bytes))
        .map_err(segment::error_of)?;
    image_of(py, file_name(&path), opened.dataset)
}

/// An `OSError` of the right subclass (`FileNotFoundError`, `PermissionError`, …) with the
/// path as its filename, as Python's `open` raises.
fn io_error(error: std::io::Error, path: &Path) -> PyErr {
    let errno = error.raw_os_error().unwrap_or(0);
    let py_error: PyErr = error.into();
    Python::attach(|py| {
        let os_error = py.import("builtins")?.getattr("OSError")?;
        let message = py_error.value(py).getattr("strerror")?;
        Ok::<_, PyErr>(PyErr::from_value(os_error.call1((
            errno,
            message,
            path.to_string_lossy().into_owned(),
        ))?))
    })
    .unwrap_or(py_error)
}

/// A Chipscope session: the data the supports were clicked on, the grid, the encoder and the
/// classes. Open one with `Session.open`.
#[pyclass(frozen, module = "chipscope")]
struct Session {
    inner: CoreSession,
}

pub(crate) fn to_python<'py, T: serde::Serialize + ?Sized>(
    py: Python<'py>,
    value: &T,
) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| ChipscopeError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

#[pymethods]
impl Session {
    /// Opens a session from a session file's path, a session file's JSON text, or a share link
    /// (`https://…#session=…` or `#task=…`).
    #[staticmethod]
    fn open(py: Python<'_>, source: &Bound<'_, PyAny>) -> PyResult<Session> {
        let text: Option<String> = if source.is_instance_of::<PyString>() {
            Some(source.extract()?)
        } else {
            None
        };
        let inner = match text {
            Some(text) if text.trim_start().starts_with('{') => py
                .detach(|| CoreSession::parse(&text))
                .map_err(|e| ChipscopeError::new_err(e.to_string()))?,
            Some(text) if text.contains("session=") || text.contains("task=") => {
                match py.detach(|| share::from_fragment(&text).map(|(_, session)| session)) {
                    Some(session) => session.map_err(|e| ChipscopeError::new_err(e.to_string()))?,
                    None => parse_file(py, PathBuf::from(text))?,
                }
            }
            _ => parse_file(py, source.extract::<PathBuf>()?)?,
        };
        Ok(Session { inner })
    }

    /// The schema version the session was written with.
    #[getter]
    fn version(&self) -> u32 {
        self.inner.version
    }

    /// The data the supports were clicked on: a dict with `kind` ("file", "url" or "example")
    /// and its fields.
    #[getter]
    fn source<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.source)
    }

    /// A project's other images, as dicts like `source`.
    #[getter]
    fn images<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_python(py, &self.inner.images)
    }

    /// The classes in order, as dicts with `name`, `colour`, `supports` (`[row, col]` chips) and
    /// `elsewhere` (chips on the project's other images).
    #[getter]
    fn classes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for class in &self.inner.classes {
            let dict = PyDict::new(py);
            dict.set_item("name", &class.name)?;
            dict.set_item("colour", to_python(py, &class.colour)?)?;
            dict.set_item("supports", to_python(py, &class.supports)?)?;
            dict.set_item("elsewhere", to_python(py, &class.elsewhere)?)?;
            list.append(dict)?;
        }
        Ok(list)
    }

    /// The session file's text (pretty-printed JSON).
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    fn __repr__(&self) -> String {
        format!(
            "<chipscope.Session version {}: {}, {} classes>",
            self.inner.version,
            self.inner.source.describe(),
            self.inner.classes.len()
        )
    }
}

fn parse_file(py: Python<'_>, path: PathBuf) -> PyResult<CoreSession> {
    let text = py
        .detach(|| std::fs::read_to_string(&path))
        .map_err(|e| io_error(e, &path))?;
    py.detach(|| CoreSession::parse(&text))
        .map_err(|e| ChipscopeError::new_err(e.to_string()))
}

/// The project report of images segmented apart (by `Segmenter.segment_file`, perhaps on many
/// machines): `images` are (file name, class report JSON) pairs in order; the CSV is the one
/// `chipscope segment` writes as `project-report.csv` for the same files in the same order.
#[pyfunction]
fn project_report(images: Vec<(String, String)>) -> PyResult<String> {
    let reports = images
        .into_iter()
        .map(|(name, json)| {
            let report = ClassReport::from_json(&json)
                .map_err(|e| ChipscopeError::new_err(format!("{name}: {e}")))?;
            Ok((name, report))
        })
        .collect::<PyResult<Vec<_>>>()?;
    let report = ProjectReport::pool(reports).map_err(ChipscopeError::new_err)?;
    Ok(report.to_csv())
}

/// The sha256 of the file at `path` as lowercase hex: how sessions name the files their
/// supports were clicked on. Read through a memory map with the GIL released.
#[pyfunction]
fn file_sha256(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    py.detach(|| chipscope_cli::files::map_file(&path).map(|bytes| sha256_hex(&bytes)))
        .map_err(segment::error_of)
}

/// The number of frames of the file at `path` when it is a frame series (a multi-page TIFF,
/// a DM or TIA stack, an MRC stack, …), `None` for a single image.
#[pyfunction]
fn series_frames(py: Python<'_>, path: PathBuf) -> PyResult<Option<usize>> {
    py.detach(|| chipscope_cli::segment::Segmenter::series_frames(&path))
        .map_err(segment::error_of)
}

/// The extension module.
#[pymodule]
fn _chipscope(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ChipscopeError", m.py().get_type::<ChipscopeError>())?;
    m.add_class::<Calibration>()?;
    m.add_class::<Image>()?;
    m.add_class::<Session>()?;
    m.add_class::<segment::Segmenter>()?;
    m.add_class::<segment::Segmentation>()?;
    m.add_class::<spectra::SpectrumImage>()?;
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_function(wrap_pyfunction!(spectra::read_spectra, m)?)?;
    m.add_function(wrap_pyfunction!(project_report, m)?)?;
    m.add_function(wrap_pyfunction!(segment::embed, m)?)?;
    m.add_function(wrap_pyfunction!(file_sha256, m)?)?;
    m.add_function(wrap_pyfunction!(series_frames, m)?)?;
    m.add_function(wrap_pyfunction!(segment::write_fractions, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
