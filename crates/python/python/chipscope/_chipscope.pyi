"""Type stubs for the chipscope._chipscope extension module."""

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

class ChipscopeError(ValueError):
    """A file, session or link Chipscope cannot use; the message says why."""

class Calibration:
    """A pixel size: ``pixel_size`` ``unit``\\ s per pixel."""

    @property
    def pixel_size(self) -> float:
        """The size of one pixel, in ``unit``."""
    @property
    def unit(self) -> str:
        """The unit of ``pixel_size`` as the file gives it ("nm", "µm", "1/nm", …)."""
    @property
    def pixel_nm(self) -> Optional[float]:
        """The pixel size in nanometres when the unit is a length, else ``None``."""

class Image:
    """A decoded micrograph: the file's raw values as float32, its calibration and metadata."""

    @property
    def data(self) -> npt.NDArray[np.float32]:
        """The pixels, shape ``(height, width)``, the file's raw values."""
    @property
    def calibration(self) -> Optional[Calibration]:
        """The pixel size, or ``None`` when the file records none."""
    @property
    def metadata(self) -> Dict[str, Any]:
        """``format``, ``storage``, ``sample_type``, ``channels``, ``calibration``, ``values``,
        ``acquisition`` (summaries as text), ``properties`` (dict of acquisition facts) and
        ``notes`` (list of remarks)."""
    @property
    def name(self) -> str:
        """The file name, without its folder."""

def read(path: Union[str, os.PathLike[str]]) -> Image:
    """Reads the first image of any file Chipscope reads (found by content).

    Raises ``ChipscopeError`` when the file cannot be decoded, ``OSError`` when it cannot be
    read. Decoding releases the GIL.
    """

class Session:
    """A Chipscope session: its data source, grid, encoder and classes."""

    @staticmethod
    def open(source: Union[str, os.PathLike[str]]) -> Session:
        """Opens a session file's path, a session file's JSON text, or a share link
        (``https://…#session=…`` or ``#task=…``). Raises ``ChipscopeError`` when it cannot be
        used."""
    @property
    def version(self) -> int:
        """The schema version the session was written with."""
    @property
    def source(self) -> Dict[str, Any]:
        """The data the supports were clicked on: ``kind`` ("file", "url", "example") and its
        fields."""
    @property
    def images(self) -> List[Dict[str, Any]]:
        """A project's other images, as dicts like ``source``."""
    @property
    def classes(self) -> List[Dict[str, Any]]:
        """The classes in order: ``name``, ``colour``, ``supports``, ``elsewhere``."""
    def to_json(self) -> str:
        """The session file's text (pretty-printed JSON)."""

class Segmentation:
    """One image segmented: each chip's class, distances and confidence over the chip grid."""

    @property
    def labels(self) -> npt.NDArray[np.int32]:
        """Each chip's class index into ``classes``, -1 when unassigned; ``(rows, cols)``."""
    @property
    def distances(self) -> npt.NDArray[np.float32]:
        """Each chip's distance to each class, ``(rows, cols, classes)``; NaN where unmeasured."""
    @property
    def confidence(self) -> npt.NDArray[np.float32]:
        """Each chip's confidence, 0–1, ``(rows, cols)``."""
    @property
    def classes(self) -> List[str]:
        """The class names, in order."""
    @property
    def chip_size(self) -> int:
        """The chip side in pixels of ``image``."""
    @property
    def pixel_nm(self) -> Optional[float]:
        """The pixel size ``image`` was segmented at, nm; ``None`` when uncalibrated."""
    @property
    def image(self) -> npt.NDArray[np.float32]:
        """The image segmented, resampled to the session's pixel size when it differed."""
    @property
    def summary(self) -> Dict[str, Any]:
        """Each class's chips, fraction and area, as the CLI's ``-summary.json``."""
    @property
    def report_csv(self) -> str:
        """The class report, as the CLI's ``-report.csv``."""
    @property
    def fine_labels(self) -> Optional[npt.NDArray[np.int32]]:
        """In the dense embedding mode, each fine cell's class (-1 unassigned)."""
    @property
    def fine_cell_px(self) -> Optional[float]:
        """The side of a fine cell, pixels."""

class SpectrumImage:
    """An EDS spectrum image for the spectral modality, held sparse."""

    def __init__(
        self,
        counts: npt.ArrayLike,
        *,
        energy_offset: float,
        energy_scale: float,
        energy_unit: str = "keV",
        pixel_nm: Optional[float] = None,
        beam_kv: Optional[float] = None,
        bin: int = 1,
    ) -> None:
        """From whole, non-negative counts ``(height, width, channels)``; channel ``c`` starts
        at ``energy_offset + c * energy_scale`` in ``energy_unit`` ("keV" or "eV"); ``bin``
        sums that many consecutive channels."""
    @property
    def width(self) -> int:
        """Map width, pixels."""
    @property
    def height(self) -> int:
        """Map height, pixels."""
    @property
    def channels(self) -> int:
        """Energy channels, after any binning."""
    @property
    def pixel_nm(self) -> Optional[float]:
        """The map's pixel size, nm, when known."""
    @property
    def beam_kv(self) -> Optional[float]:
        """The acceleration voltage, kV, when known."""
    @property
    def total_counts(self) -> int:
        """All counts in the map."""
    def energies(self) -> npt.NDArray[np.float64]:
        """The energy at the start of each channel, keV."""
    def sum_spectrum(self) -> npt.NDArray[np.uint64]:
        """The counts of all pixels per channel."""
    def count_map(self) -> npt.NDArray[np.uint32]:
        """The counts of each pixel over all channels, ``(height, width)``."""

def read_spectra(path: Union[str, os.PathLike[str]], *, bin: int = 1) -> SpectrumImage:
    """The spectrum image of an EDS file (Velox EMD, Bruker BCF, JEOL PTS, TIA, DM, Lispix
    RPL), summing every ``bin`` channels."""

class Segmenter:
    """A session ready to segment images: its encoder loaded, its prototypes learned once."""

    def __init__(
        self,
        session: Union[str, os.PathLike[str]],
        *,
        out: Optional[Union[str, os.PathLike[str]]] = None,
        images: Sequence[Union[str, os.PathLike[str]]] = (),
        labelled: Optional[Union[str, os.PathLike[str]]] = None,
        encoder: Optional[Union[str, os.PathLike[str]]] = None,
        chip_px: bool = False,
        each_frame: bool = False,
    ) -> None:
        """Loads ``session`` (a file or a share link) and learns from the images its supports
        were clicked on (``labelled``, or found beside the session file or among ``images``).
        ``out`` is where ``segment_file`` writes; ``encoder`` a weight file for a user's own
        encoder; ``chip_px`` chips in pixels without resampling; ``each_frame`` writes every
        frame of a series."""
    @property
    def classes(self) -> List[str]:
        """The class names, in the session's order."""
    def segment(
        self,
        image: Union[str, os.PathLike[str], npt.ArrayLike],
        *,
        pixel_nm: Optional[float] = None,
        spectra: Optional[Union[SpectrumImage, str, os.PathLike[str]]] = None,
    ) -> Segmentation:
        """Segments a file, or a 2-D array with its pixel size ``pixel_nm``; writes nothing.
        ``spectra`` is the image's spectrum image (or its file) when the session weights
        spectra."""
    def segment_frame(
        self,
        path: Union[str, os.PathLike[str]],
        index: int,
        *,
        stem: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Segments frame ``index`` (from 0) of a frame series as ``segment_file`` segments each
        frame; returns ``file``, ``stem``, ``index``, ``time_s`` and ``summary``."""
    def segment_file(
        self,
        path: Union[str, os.PathLike[str]],
        *,
        stem: Optional[str] = None,
        spectra: Optional[Union[str, os.PathLike[str]]] = None,
    ) -> Dict[str, Any]:
        """Segments the file as ``chipscope segment`` does and writes its files into ``out``;
        returns ``file``, ``stem``, ``kind`` and the ``summary`` and ``report`` of an image, or
        the ``frames``, ``failed`` and ``fractions`` CSV of a series."""

def series_frames(path: Union[str, os.PathLike[str]]) -> Optional[int]:
    """The number of frames of a frame series (multi-page TIFF, DM/TIA/MRC stack, …), ``None``
    for a single image."""

def write_fractions(
    out: Union[str, os.PathLike[str]],
    stem: str,
    frames: Sequence[Union[Dict[str, Any], Tuple[int, Optional[float], Dict[str, Any]]]],
) -> str:
    """Writes ``STEM-fractions.csv`` and ``.svg`` into ``out`` from the frames of a series
    segmented apart (``Segmenter.segment_frame``'s dicts); returns the CSV."""

def project_report(images: Sequence[Tuple[str, str]]) -> str:
    """The ``project-report.csv`` of images segmented apart: (file name, report JSON) pairs."""

def embed(
    image: Union[str, os.PathLike[str], npt.ArrayLike],
    chip_size: int,
    *,
    encoder: str = "mobilenet_v2",
    mode: str = "dense",
    stage: Optional[str] = None,
    scale: Optional[int] = None,
) -> npt.NDArray[np.float32]:
    """Every chip's embedding, ``(rows, cols, dim)``, as ``chipscope embed`` computes it: with a
    shipped encoder ("mobilenet_v2", "resnet50") or a weight file, ``"dense"`` (one feature map
    pooled per chip) or ``"per-chip"`` (each chip at 224², pyCHIP)."""

def file_sha256(path: Union[str, os.PathLike[str]]) -> str:
    """The file's sha256 (lowercase hex), as sessions record the files they were made on."""
