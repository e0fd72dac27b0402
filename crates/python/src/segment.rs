//! `chipscope.Segmenter`: a session applied to images from Python, and `chipscope.embed`. They
//! drive the command line's library ([`chipscope_cli::segment::Segmenter`], [`embed_image`]), so
//! a file segmented here gives the same files, byte for byte, as `chipscope segment`, and the
//! same embeddings as `chipscope embed`.

use std::path::{Path, PathBuf};

use chipscope_cli::encode::{Backend, EmbedSettings, ModeArg, embed_image};
use chipscope_cli::files::load;
use chipscope_cli::segment::{
    Classified, GivenSpectra, SegmentArgs, Segmented, Segmenter as CliSegmenter,
};
use chipscope_core::dataset::{Calibration, Dataset, Image, Metadata, SampleType};
use chipscope_core::results::Summary;
use numpy::ndarray::{Array2, Array3};
use numpy::{IntoPyArray, PyArray2, PyArray3, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::spectra::SpectrumImage;
use crate::{ChipscopeError, to_python};

/// A session ready to segment images: its encoder loaded and its prototypes learned once, then
/// applied to any number of images.
#[pyclass(frozen, module = "chipscope")]
pub struct Segmenter {
    /// Boxed: the encoder holds 64-byte-aligned parts, and Python places its objects' data at
    /// 16-byte alignment only.
    inner: Box<CliSegmenter>,
    /// Where `segment_file` writes, when given.
    out: Option<PathBuf>,
}

/// The command line's error as a Python exception: `OSError` when a file could not be read or
/// written, else `ChipscopeError`; the message is the CLI's, with its chain of causes.
pub fn error_of(error: anyhow::Error) -> PyErr {
    let message = format!("{error:#}");
    match error.root_cause().downcast_ref::<std::io::Error>() {
        Some(io) => PyOSError::new_err((io.raw_os_error().unwrap_or(0), message)),
        None => ChipscopeError::new_err(message),
    }
}

#[pymethods]
impl Segmenter {
    /// Loads `session` (a session file or a share link), finds the images its supports were
    /// clicked on (`labelled`, or the recorded name next to the session file; a project's other
    /// images next to it too), loads the session's encoder (`encoder`: a weight file, needed for
    /// a user's own encoder) and learns each class's prototype. `out` is the folder
    /// `segment_file` writes to; `chip_px` chips every image in pixels instead of resampling it
    /// to the labelled image's pixel size; `each_frame` writes every frame of a series.
    /// `images` are the files that will be segmented, as `chipscope segment`'s IMAGEs: the
    /// labelled file is looked for among them first, and embedded once when it is.
    #[new]
    #[pyo3(signature = (session, *, out=None, images=Vec::new(), labelled=None, encoder=None, chip_px=false, each_frame=false))]
    #[allow(clippy::too_many_arguments)] // Python's keywords, one per CLI option
    fn new(
        py: Python<'_>,
        session: PathBuf,
        out: Option<PathBuf>,
        images: Vec<PathBuf>,
        labelled: Option<PathBuf>,
        encoder: Option<PathBuf>,
        chip_px: bool,
        each_frame: bool,
    ) -> PyResult<Self> {
        let args = SegmentArgs {
            session,
            out: out.clone().unwrap_or_default(),
            images,
            labelled,
            encoder,
            chip_px,
            each_frame,
            ..SegmentArgs::default()
        };
        let inner = py.detach(|| CliSegmenter::new(&args)).map_err(error_of)?;
        Ok(Self {
            inner: Box::new(inner),
            out,
        })
    }

    /// Segments one image: a path (any file Chipscope reads), or a 2-D array of raw values with
    /// its pixel size `pixel_nm` (needed when the session's image was calibrated, unless the
    /// segmenter chips in pixels). `spectra` is the image's spectrum image when the session
    /// weights spectra: a `SpectrumImage` or a spectrum-image file (a spectral file given as
    /// `image` brings its own). Writes nothing; see `segment_file`.
    #[pyo3(signature = (image, *, pixel_nm=None, spectra=None))]
    fn segment(
        &self,
        py: Python<'_>,
        image: &Bound<'_, PyAny>,
        pixel_nm: Option<f64>,
        spectra: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Segmentation> {
        let spectra_file = match spectra {
            Some(spectra) if spectra.cast::<SpectrumImage>().is_err() => {
                Some(spectra.extract::<PathBuf>().map_err(|_| {
                    ChipscopeError::new_err("spectra is a SpectrumImage or a file's path")
                })?)
            }
            _ => None,
        };
        let spectrum_image = spectra.and_then(|s| s.cast::<SpectrumImage>().ok());
        let map = spectrum_image.map(|image| &image.get().map);
        let given = || match (&spectra_file, map) {
            (Some(path), _) => Some(GivenSpectra::File(path)),
            (None, Some(map)) => Some(GivenSpectra::Map(map)),
            (None, None) => None,
        };
        let (dataset, classified) = match path_of(image)? {
            Some(path) => py
                .detach(|| self.inner.classify_file(&path, given()))
                .map_err(error_of)?,
            None => {
                let dataset = dataset_of(image, pixel_nm)?;
                py.detach(|| self.inner.classify_image(dataset, "the array", given()))
                    .map_err(error_of)?
            }
        };
        Segmentation::new(py, &self.inner, &dataset, classified)
    }

    /// Segments the file at `path` as `chipscope segment` does and writes its files into `out`
    /// under `stem` (the file name without its extension by default): the labels, overlay,
    /// summary and class report of an image, or a series' fractions table and chart. Returns a
    /// dict: `file`, `stem`, `kind` ("image" or "series") and, for an image, `summary` and
    /// `report` (the class report as JSON, for `chipscope.project_report`); for a series,
    /// `frames`, `failed` and `fractions` (the fractions table as CSV).
    #[pyo3(signature = (path, *, stem=None, spectra=None))]
    fn segment_file<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        stem: Option<String>,
        spectra: Option<PathBuf>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let stem = self.writable_stem(&path, stem)?;
        let segmented = py
            .detach(|| self.inner.segment_file(&path, &stem, spectra.as_deref()))
            .map_err(error_of)?;
        let result = PyDict::new(py);
        result.set_item("file", path.to_string_lossy())?;
        result.set_item("stem", &stem)?;
        match segmented {
            Segmented::Image(summary, report) => {
                result.set_item("kind", "image")?;
                result.set_item("summary", to_python(py, &*summary)?)?;
                result.set_item("report", report.to_json())?;
            }
            Segmented::Series(series) => {
                result.set_item("kind", "series")?;
                result.set_item("frames", series.frames)?;
                result.set_item("failed", series.failed)?;
                result.set_item("fractions", series.table.to_csv())?;
            }
        }
        Ok(result)
    }

    /// Segments frame `index` (from 0) of the frame series at `path` as `segment_file`
    /// segments each of its frames, writing the frame's files with `each_frame`, so one
    /// series' frames can be segmented apart (on many machines). Returns a dict: `file`,
    /// `stem`, `index`, `time_s` (seconds after the first frame, or `None`) and `summary`; give
    /// the frames to `chipscope.write_fractions`.
    #[pyo3(signature = (path, index, *, stem=None))]
    fn segment_frame<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        index: usize,
        stem: Option<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let stem = self.writable_stem(&path, stem)?;
        let (summary, time_s) = py
            .detach(|| self.inner.segment_file_frame(&path, index, &stem))
            .map_err(error_of)?;
        let result = PyDict::new(py);
        result.set_item("file", path.to_string_lossy())?;
        result.set_item("stem", &stem)?;
        result.set_item("index", index)?;
        result.set_item("time_s", time_s)?;
        result.set_item("summary", to_python(py, &summary)?)?;
        Ok(result)
    }

    /// The class names, in the session's order.
    #[getter]
    fn classes(&self) -> Vec<String> {
        class_names(&self.inner)
    }

    fn __repr__(&self) -> String {
        let session = self.inner.session();
        format!(
            "<chipscope.Segmenter: {} classes, {}, {}-px chips>",
            session.classes.len(),
            session.encoder.name,
            session.grid.chip_size
        )
    }
}

impl Segmenter {
    /// The stem the results of the file at `path` are written under (`stem`, by default the
    /// file name without its extension); refused when the Segmenter has no `out` folder.
    fn writable_stem(&self, path: &Path, stem: Option<String>) -> PyResult<String> {
        if self.out.is_none() {
            return Err(ChipscopeError::new_err(
                "writing results needs a folder: make the Segmenter with out=FOLDER",
            ));
        }
        match stem {
            Some(stem) => Ok(stem),
            None => stem_of(path),
        }
    }
}

/// A frame segmented apart, from `segment_frame`'s dict or an (index, time_s, summary) tuple.
fn frame_of(frame: &Bound<'_, PyAny>) -> PyResult<(usize, Option<f64>, Summary)> {
    let (index, time_s, summary): (usize, Option<f64>, Bound<'_, PyAny>) =
        match frame.cast::<PyDict>() {
            Ok(dict) => {
                let item = |key: &str| {
                    dict.get_item(key)?.ok_or_else(|| {
                        ChipscopeError::new_err(format!("a frame's dict has no {key:?}"))
                    })
                };
                (
                    item("index")?.extract()?,
                    item("time_s")?.extract()?,
                    item("summary")?,
                )
            }
            Err(_) => frame.extract()?,
        };
    let json: String = frame
        .py()
        .import("json")?
        .call_method1("dumps", (summary,))?
        .extract()?;
    let summary = serde_json::from_str(&json)
        .map_err(|e| ChipscopeError::new_err(format!("frame {}: not a summary: {e}", index + 1)))?;
    Ok((index, time_s, summary))
}

/// The path `image` names, when it is a `str` or a path-like object rather than an array.
fn path_of(image: &Bound<'_, PyAny>) -> PyResult<Option<PathBuf>> {
    let is_path = image.is_instance_of::<PyString>() || image.hasattr("__fspath__")?;
    match is_path {
        true => image.extract().map(Some),
        false => Ok(None),
    }
}

/// The file name of `path` without its last extension: the stem its output files take.
fn stem_of(path: &Path) -> PyResult<String> {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .ok_or_else(|| ChipscopeError::new_err(format!("{} is not a file name", path.display())))
}

/// An image given as an array (any real dtype, converted to float32) with its pixel size.
fn dataset_of(array: &Bound<'_, PyAny>, pixel_nm: Option<f64>) -> PyResult<Dataset> {
    let numpy = array.py().import("numpy")?;
    let array = numpy.call_method1("ascontiguousarray", (array, "float32"))?;
    let array: PyReadonlyArray2<f32> = array.extract().map_err(|_| {
        ChipscopeError::new_err("the image must be a 2-D array (height, width) of numbers")
    })?;
    let shape = array.shape();
    let (height, width) = (shape[0], shape[1]);
    if width == 0 || height == 0 {
        return Err(ChipscopeError::new_err("the image array is empty"));
    }
    if let Some(nm) = pixel_nm.filter(|nm| !(nm.is_finite() && *nm > 0.0)) {
        return Err(ChipscopeError::new_err(format!(
            "pixel_nm must be a positive number, not {nm}"
        )));
    }
    let pixels = array.as_slice()?.to_vec();
    Ok(Dataset {
        image: Image::new(width, height, pixels),
        calibration: pixel_nm.map(|nm| Calibration {
            pixel_size: nm,
            unit: "nm".into(),
        }),
        metadata: Metadata {
            format: "NumPy array",
            sample_type: SampleType::F32,
            channels: 1,
            notes: Vec::new(),
            properties: Vec::new(),
        },
    })
}

fn class_names(segmenter: &CliSegmenter) -> Vec<String> {
    let classes = &segmenter.session().classes;
    classes.iter().map(|class| class.name.clone()).collect()
}

/// One image segmented: every chip's class, distances and confidence as arrays over the chip
/// grid (rows, cols), the summary the CLI writes, and in the dense embedding mode the finer
/// label cells.
#[pyclass(frozen, module = "chipscope")]
pub struct Segmentation {
    /// Each chip's class index (into `classes`), -1 when unassigned; int32 (rows, cols).
    #[pyo3(get)]
    labels: Py<PyArray2<i32>>,
    /// Each chip's distance to each class; float32 (rows, cols, classes), NaN for a chip no
    /// modality measured.
    #[pyo3(get)]
    distances: Py<PyArray3<f32>>,
    /// Each chip's confidence, 0–1: how much nearer its class is than the runner-up; float32
    /// (rows, cols).
    #[pyo3(get)]
    confidence: Py<PyArray2<f32>>,
    /// The class names, in order.
    #[pyo3(get)]
    classes: Vec<String>,
    /// The chip side, in pixels of the image segmented (after resampling to the session's
    /// pixel size).
    #[pyo3(get)]
    chip_size: usize,
    /// The pixel size the image was segmented at, nm; `None` when uncalibrated.
    #[pyo3(get)]
    pixel_nm: Option<f64>,
    /// The image segmented, float32 (height, width): the input, resampled when its pixel size
    /// differed from the session's.
    #[pyo3(get)]
    image: Py<PyArray2<f32>>,
    /// Each class's chips, fraction and area, as the CLI's `-summary.json` has them.
    #[pyo3(get)]
    summary: Py<PyAny>,
    /// The class report (shares, line counts, spacings), as the CLI's `-report.csv`.
    #[pyo3(get)]
    report_csv: String,
    /// In dense mode, each fine cell's class (-1 unassigned); int32 (cell rows, cell cols).
    #[pyo3(get)]
    fine_labels: Option<Py<PyArray2<i32>>>,
    /// The side of a fine cell, pixels.
    #[pyo3(get)]
    fine_cell_px: Option<f64>,
}

impl Segmentation {
    fn new(
        py: Python<'_>,
        segmenter: &CliSegmenter,
        dataset: &Dataset,
        classified: Classified,
    ) -> PyResult<Self> {
        let grid = &classified.grid;
        let (rows, cols) = (grid.rows(), grid.cols());
        let segmentation = &classified.segmentation;
        let classes = segmentation.class_count();
        let labels = label_array(rows, cols, &classified.assignments)?;
        let distances = Array3::from_shape_fn((rows, cols, classes), |(row, col, class)| {
            let chip = row * cols + col;
            match segmentation.is_measured(chip) {
                true => segmentation.distances(chip)[class],
                false => f32::NAN,
            }
        });
        let confidence = Array2::from_shape_fn((rows, cols), |(row, col)| {
            segmentation.confidence(row * cols + col)
        });
        let fine = match &classified.fine {
            Some((cells, assignments)) => Some((
                label_array(cells.rows, cells.cols, assignments)?,
                cells.cell_px,
            )),
            None => None,
        };
        let image = &dataset.image;
        let pixels =
            Array2::from_shape_vec((image.height(), image.width()), image.pixels().to_vec())
                .map_err(|e| ChipscopeError::new_err(e.to_string()))?;
        Ok(Self {
            labels: labels.into_pyarray(py).unbind(),
            distances: distances.into_pyarray(py).unbind(),
            confidence: confidence.into_pyarray(py).unbind(),
            classes: class_names(segmenter),
            chip_size: grid.chip_size(),
            pixel_nm: dataset.calibration.as_ref().and_then(Calibration::pixel_nm),
            image: pixels.into_pyarray(py).unbind(),
            summary: to_python(py, &classified.summary)?.unbind(),
            report_csv: classified.report.to_csv(),
            fine_cell_px: fine.as_ref().map(|(_, px)| *px),
            fine_labels: fine.map(|(labels, _)| labels.into_pyarray(py).unbind()),
        })
    }
}

#[pymethods]
impl Segmentation {
    fn __repr__(&self, py: Python<'_>) -> String {
        let shape = self.labels.bind(py).shape().to_vec();
        format!(
            "<chipscope.Segmentation: {} × {} chips of {} px, {} classes>",
            shape[0],
            shape[1],
            self.chip_size,
            self.classes.len()
        )
    }
}

/// `assignments` (row-major) as an int32 (rows, cols) array, -1 for none.
fn label_array(rows: usize, cols: usize, assignments: &[Option<usize>]) -> PyResult<Array2<i32>> {
    let labels = assignments
        .iter()
        .map(|class| class.map_or(-1, |k| k as i32))
        .collect();
    Array2::from_shape_vec((rows, cols), labels).map_err(|e| ChipscopeError::new_err(e.to_string()))
}

/// Embeds every chip of an image with a shipped encoder (`"mobilenet_v2"`, `"resnet50"`) or a
/// weight file: `"dense"` pools one feature map of the whole image (at `stage`, the image
/// enlarged `scale` times; by default the encoder's recommended ones), `"per-chip"` resizes each
/// chip to 224² (pyCHIP). `image` is a path or a 2-D array. The display range is the default
/// percentile stretch, as `chipscope embed` takes. Returns float32 (rows, cols, dim).
#[pyfunction]
#[pyo3(signature = (image, chip_size, *, encoder="mobilenet_v2".to_string(), mode="dense", stage=None, scale=None))]
pub fn embed(
    py: Python<'_>,
    image: &Bound<'_, PyAny>,
    chip_size: usize,
    encoder: String,
    mode: &str,
    stage: Option<String>,
    scale: Option<usize>,
) -> PyResult<Py<PyArray3<f32>>> {
    let mode = match mode {
        "dense" => ModeArg::Dense,
        "per-chip" | "per_chip" => ModeArg::PerChip,
        other => {
            return Err(ChipscopeError::new_err(format!(
                "mode is \"dense\" or \"per-chip\", not {other:?}"
            )));
        }
    };
    let settings = EmbedSettings {
        chip: chip_size,
        encoder,
        mode,
        stage,
        scale,
        backend: Backend::default(),
    };
    let embedded = match path_of(image)? {
        Some(path) => py.detach(|| load(&path).and_then(|d| embed_image(&d, &settings))),
        None => {
            let dataset = dataset_of(image, None)?;
            py.detach(|| embed_image(&dataset, &settings))
        }
    }
    .map_err(error_of)?;
    let (rows, cols) = (embedded.grid.rows(), embedded.grid.cols());
    let dim = embedded.embeddings.dim;
    let array = Array3::from_shape_vec((rows, cols, dim), embedded.embeddings.values)
        .map_err(|e| ChipscopeError::new_err(e.to_string()))?;
    Ok(array.into_pyarray(py).unbind())
}

/// Writes a series' fractions table and chart (`STEM-fractions.csv` and `.svg`) into `out` from
/// its frames segmented apart: `frames` are `Segmenter.segment_frame`'s dicts (or (index,
/// time_s, summary) tuples) of the frames that were segmented, in any order. Returns the table
/// as CSV: the files `Segmenter.segment_file` writes for the whole series.
#[pyfunction]
pub fn write_fractions(
    py: Python<'_>,
    out: PathBuf,
    stem: String,
    frames: Vec<Bound<'_, PyAny>>,
) -> PyResult<String> {
    let mut segmented = frames
        .iter()
        .map(frame_of)
        .collect::<PyResult<Vec<(usize, Option<f64>, Summary)>>>()?;
    segmented.sort_by_key(|(index, _, _)| *index);
    let table = py
        .detach(|| chipscope_cli::segment::write_fractions(&out, &stem, &segmented))
        .map_err(error_of)?;
    Ok(table.to_csv())
}
