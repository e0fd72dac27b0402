"""Chipscope for Python: electron micrographs, Chipscope sessions and segmentation.

Read the first image of any file Chipscope reads (TIFF, DM3/DM4, TIA .ser, Velox .emd, MRC,
Bruker .bcf, JEOL, PNG, JPEG, …) into a NumPy array with its calibration and metadata::

    import chipscope
    image = chipscope.read("scan.dm3")
    image.data            # float32 array, shape (height, width), the file's raw values
    image.calibration     # None, or .pixel_size / .unit / .pixel_nm
    image.metadata        # dict: format, storage, notes, acquisition facts, …

EDS spectrum images (Velox .emd, Bruker .bcf, JEOL .pts, …, or a NumPy cube) for the spectral
modality: :func:`read_spectra`, :class:`SpectrumImage`.

Apply a session saved by the page to images, as ``chipscope segment`` does::

    segmenter = chipscope.Segmenter("session.json", out="results")
    result = segmenter.segment("scan.dm3")      # or an array with pixel_nm=…
    result.labels         # int32 (rows, cols): each chip's class, -1 unassigned
    result.distances      # float32 (rows, cols, classes)
    segmenter.segment_file("scan.dm3")          # writes the CLI's files into results/

Many files on a Dask cluster: :func:`chipscope.dask.segment_files`.

Everything Chipscope refuses raises :class:`ChipscopeError` (a :class:`ValueError`) with
Chipscope's own message; a file that cannot be read raises :class:`OSError` as Python would.
Decoding and segmenting release the GIL.
"""

import os as _os
from pathlib import Path as _Path

# The shipped encoder weights travel inside the wheel; CHIPSCOPE_WEIGHTS, when set, says where
# other copies are (the command line reads the same variable).
_WEIGHTS = _Path(__file__).with_name("weights")
if (_WEIGHTS / "manifest.json").is_file():
    _os.environ.setdefault("CHIPSCOPE_WEIGHTS", str(_WEIGHTS))

from ._chipscope import (  # noqa: E402
    Calibration,
    ChipscopeError,
    Image,
    Segmentation,
    Segmenter,
    Session,
    SpectrumImage,
    __version__,
    embed,
    file_sha256,
    project_report,
    read,
    read_spectra,
    series_frames,
    write_fractions,
)

__all__ = [
    "Calibration",
    "ChipscopeError",
    "Image",
    "Segmentation",
    "Segmenter",
    "Session",
    "SpectrumImage",
    "embed",
    "file_sha256",
    "project_report",
    "read",
    "read_spectra",
    "series_frames",
    "write_fractions",
    "__version__",
]
