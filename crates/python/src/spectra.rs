//! `chipscope.SpectrumImage`: an EDS spectrum image for the spectral modality, made from a NumPy
//! cube (a HyperSpy EDS signal's data, say) or read from a file, and held sparse as the core
//! holds it ([`chipscope_core::spectra::SpectrumImage`]).

use std::fmt::Debug;
use std::path::PathBuf;

use chipscope_cli::files::{native_limits, read_spectral};
use chipscope_core::dataset::Calibration;
use chipscope_core::spectra::{EnergyAxis, SpectrumImage as Map, SpectrumImageBuilder};
use numpy::ndarray::{Array1, Array2, ArrayView3};
use numpy::{Element, IntoPyArray, PyArray1, PyArray2, PyReadonlyArray3};
use pyo3::prelude::*;

use crate::ChipscopeError;
use crate::segment::error_of;

/// Bytes a (pixel, channel) entry of the sparse map takes: a u16 channel and a u32 count.
const ENTRY_BYTES: u64 = 6;

/// An EDS spectrum image: X-ray counts per pixel and energy channel, on an energy axis, with
/// the map's pixel size when known. Give it to `Segmenter.segment(..., spectra=)`.
#[pyclass(frozen, module = "chipscope")]
pub struct SpectrumImage {
    pub(crate) map: Map,
}

#[pymethods]
impl SpectrumImage {
    /// A spectrum image from `counts`, an array (height, width, channels) of whole,
    /// non-negative X-ray counts of any integer or float dtype, as HyperSpy holds an EDS
    /// spectrum image's data. Channel `c` starts at `energy_offset + c × energy_scale`, in
    /// `energy_unit` ("keV" or "eV"). `pixel_nm` is the map's pixel size, `beam_kv` the
    /// acceleration voltage; `bin` sums that many consecutive channels. The counts are copied
    /// (sparse: only the non-zero ones), with the GIL released.
    #[new]
    #[pyo3(signature = (counts, *, energy_offset, energy_scale, energy_unit="keV", pixel_nm=None, beam_kv=None, bin=1))]
    #[allow(clippy::too_many_arguments)] // Python's keywords
    fn new(
        py: Python<'_>,
        counts: &Bound<'_, PyAny>,
        energy_offset: f64,
        energy_scale: f64,
        energy_unit: &str,
        pixel_nm: Option<f64>,
        beam_kv: Option<f64>,
        bin: usize,
    ) -> PyResult<Self> {
        let mut settings = Settings::new(energy_offset, energy_scale, energy_unit, pixel_nm, bin)?;
        settings.beam_kv = beam_kv.filter(|kv| kv.is_finite() && *kv > 0.0);
        let counts = py.import("numpy")?.call_method1("asarray", (counts,))?;
        let map = build_any(&counts, &settings)?.map_err(ChipscopeError::new_err)?;
        Ok(Self { map })
    }

    /// Map width, pixels.
    #[getter]
    fn width(&self) -> usize {
        self.map.width
    }

    /// Map height, pixels.
    #[getter]
    fn height(&self) -> usize {
        self.map.height
    }

    /// Number of energy channels (after any binning).
    #[getter]
    fn channels(&self) -> usize {
        self.map.axis.channels
    }

    /// The energy at the start of each channel, keV; float64 (channels,).
    fn energies<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        let axis = self.map.axis;
        Array1::from_shape_fn(axis.channels, |c| axis.energy(c)).into_pyarray(py)
    }

    /// The map's pixel size in nm, when known.
    #[getter]
    fn pixel_nm(&self) -> Option<f64> {
        self.map
            .calibration
            .as_ref()
            .and_then(Calibration::pixel_nm)
    }

    /// The acceleration voltage, kV, when known.
    #[getter]
    fn beam_kv(&self) -> Option<f64> {
        self.map.beam_kv
    }

    /// All counts in the map.
    #[getter]
    fn total_counts(&self) -> u64 {
        self.map.total_counts()
    }

    /// The counts of all pixels per channel; uint64 (channels,).
    fn sum_spectrum<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u64>> {
        Array1::from(self.map.sum_spectrum()).into_pyarray(py)
    }

    /// The counts of each pixel over all channels; uint32 (height, width): the image a map
    /// is segmented by when its file holds no other.
    fn count_map<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<u32>>> {
        let map = &self.map;
        let counts = map.window_map(0, map.axis.channels.saturating_sub(1));
        let array = Array2::from_shape_vec((map.height, map.width), counts)
            .map_err(|e| ChipscopeError::new_err(e.to_string()))?;
        Ok(array.into_pyarray(py))
    }

    fn __repr__(&self) -> String {
        let map = &self.map;
        let axis = map.axis;
        format!(
            "<chipscope.SpectrumImage {}×{} px (width × height), {} channels {:.3}–{:.3} keV, {} counts>",
            map.width,
            map.height,
            axis.channels,
            axis.energy(0),
            axis.energy(axis.channels),
            map.total_counts()
        )
    }
}

/// Reads the spectrum image of an EDS file (Velox EMD, Bruker BCF, JEOL PTS, TIA `.ser`, DM
/// spectrum image, Lispix `.rpl` with its `.raw`), summing every `bin` channels.
///
/// Raises `ChipscopeError` when the file cannot be decoded or holds a single spectrum,
/// `OSError` when it cannot be read.
#[pyfunction]
#[pyo3(signature = (path, *, bin=1))]
pub fn read_spectra(py: Python<'_>, path: PathBuf, bin: usize) -> PyResult<SpectrumImage> {
    let file = py
        .detach(|| read_spectral(&path, None, bin.max(1)))
        .map_err(error_of)?;
    let map = file.map.ok_or_else(|| {
        ChipscopeError::new_err(format!(
            "{} holds a single spectrum, not a spectrum image",
            path.display()
        ))
    })?;
    Ok(SpectrumImage { map })
}

/// The checked keywords of a spectrum image made from an array.
struct Settings {
    offset_kev: f64,
    scale_kev: f64,
    calibration: Option<Calibration>,
    beam_kv: Option<f64>,
    bin: usize,
}

impl Settings {
    fn new(
        offset: f64,
        scale: f64,
        unit: &str,
        pixel_nm: Option<f64>,
        bin: usize,
    ) -> PyResult<Self> {
        let fail = |message: String| Err(ChipscopeError::new_err(message));
        let Some(axis) = EnergyAxis::in_unit(offset, scale, unit, 0) else {
            return fail(format!("energy_unit is \"keV\" or \"eV\", not {unit:?}"));
        };
        if !(axis.scale_kev.is_finite() && axis.scale_kev > 0.0 && axis.offset_kev.is_finite()) {
            return fail(format!(
                "the energy axis needs a finite offset and a positive channel width, not \
                 offset {offset} and width {scale} {unit}"
            ));
        }
        if let Some(nm) = pixel_nm.filter(|nm| !(nm.is_finite() && *nm > 0.0)) {
            return fail(format!("pixel_nm must be a positive number, not {nm}"));
        }
        if bin == 0 {
            return fail("bin must be 1 or more".into());
        }
        Ok(Self {
            offset_kev: axis.offset_kev,
            scale_kev: axis.scale_kev,
            calibration: pixel_nm.map(|nm| Calibration {
                pixel_size: nm,
                unit: "nm".into(),
            }),
            beam_kv: None,
            bin,
        })
    }
}

/// A value of a counts array as a count: `None` when negative, fractional or not finite.
trait Count: Element + Copy + Debug + Sync {
    fn count(self) -> Option<u64>;
}

macro_rules! integer_counts {
    ($($t:ty),*) => {$(
        impl Count for $t {
            fn count(self) -> Option<u64> {
                u64::try_from(self).ok()
            }
        }
    )*};
}
integer_counts!(u8, u16, u32, u64, i8, i16, i32, i64);

macro_rules! float_counts {
    ($($t:ty),*) => {$(
        impl Count for $t {
            fn count(self) -> Option<u64> {
                let whole = self >= 0.0 && self.fract() == 0.0 && f64::from(self) < u64::MAX as f64;
                whole.then_some(self as u64)
            }
        }
    )*};
}
float_counts!(f32, f64);

/// The map of `counts`, whichever of the supported dtypes it has; the outer error is Python's
/// (a wrong dtype or shape), the inner one the counts' own.
fn build_any(counts: &Bound<'_, PyAny>, settings: &Settings) -> PyResult<Result<Map, String>> {
    let ndim: usize = counts.getattr("ndim")?.extract()?;
    if ndim != 3 {
        return Err(ChipscopeError::new_err(format!(
            "the counts must be a 3-D array (height, width, channels), not {ndim}-D"
        )));
    }
    macro_rules! try_dtypes {
        ($($t:ty),*) => {$(
            if let Ok(array) = counts.extract::<PyReadonlyArray3<'_, $t>>() {
                let view = array.as_array();
                return Ok(counts.py().detach(|| build(view, settings)));
            }
        )*};
    }
    try_dtypes!(u8, u16, u32, u64, i8, i16, i32, i64, f32, f64);
    let dtype = counts.getattr("dtype")?.str()?.to_string();
    Err(ChipscopeError::new_err(format!(
        "the counts must be an integer or float array, not {dtype}"
    )))
}

/// The sparse map of the dense `counts` (height, width, channels).
fn build<T: Count>(counts: ArrayView3<'_, T>, settings: &Settings) -> Result<Map, String> {
    let (height, width, channels) = counts.dim();
    let limits = native_limits();
    limits
        .check_image(width, height)
        .map_err(|e| format!("the spectrum image: {e}"))?;
    if channels == 0 {
        return Err("the spectrum image has no energy channels".into());
    }
    let axis = EnergyAxis {
        offset_kev: settings.offset_kev,
        scale_kev: settings.scale_kev,
        channels,
    };
    let mut builder =
        SpectrumImageBuilder::new(width, height, axis, settings.bin).map_err(|e| e.to_string())?;
    let mut pairs = Vec::new();
    // The sparse map's entries so far.
    let mut entries = 0u64;
    for (y, row) in counts.outer_iter().enumerate() {
        for (x, pixel) in row.outer_iter().enumerate() {
            for (channel, &value) in pixel.iter().enumerate() {
                let count = value.count().ok_or_else(|| {
                    format!(
                        "the counts must be whole, non-negative numbers of X-rays; pixel \
                         (x {x}, y {y}) holds {value:?} in channel {channel}"
                    )
                })?;
                if count > 0 {
                    pairs.push((channel, count));
                }
            }
            entries += binned_entries(&pairs, settings.bin);
            builder
                .push_sparse(pairs.drain(..))
                .map_err(|e| e.to_string())?;
        }
        if !limits.fits(entries, ENTRY_BYTES) {
            return Err(format!(
                "the spectrum image has more non-zero counts than Chipscope holds ({} GiB); \
                 sum its channels with bin=",
                limits.max_bytes >> 30
            ));
        }
    }
    builder
        .finish(settings.calibration.clone(), settings.beam_kv)
        .map_err(|e| e.to_string())
}

/// How many binned channels the (channel, count) `pairs`, channels increasing, fall into.
fn binned_entries(pairs: &[(usize, u64)], bin: usize) -> u64 {
    pairs.chunk_by(|a, b| a.0 / bin == b.0 / bin).count() as u64
}
