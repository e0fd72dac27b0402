"""HyperSpy interplay: segment a ``Signal2D`` with its axes' calibration, and get the label map
back as a ``Signal2D`` on the same physical axes (one pixel per chip).

HyperSpy is optional: ``pip install hyperspy``. This module imports it on first use and says so
when it is missing.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ._chipscope import ChipscopeError, Segmentation, Segmenter

# Lengths HyperSpy axes use, in nanometres (pint's spellings and the common ASCII ones).
_NANOMETRES = {
    "m": 1e9,
    "mm": 1e6,
    "µm": 1e3,
    "um": 1e3,
    "micron": 1e3,
    "nm": 1.0,
    "Å": 0.1,
    "A": 0.1,
    "angstrom": 0.1,
    "pm": 1e-3,
}


def _signal_axes(signal: Any) -> Tuple[Any, Any]:
    """The (x, y) signal axes of a 2-D image signal, refusing anything else."""
    axes = signal.axes_manager.signal_axes
    if len(axes) != 2 or signal.axes_manager.navigation_dimension != 0:
        raise ChipscopeError(
            "segment a single image: a Signal2D with no navigation axes (index a stack first, "
            f"e.g. signal.inav[0]); this one has shape {signal.data.shape}"
        )
    return axes[0], axes[1]


def pixel_nm(signal: Any) -> Optional[float]:
    """The pixel size of an image signal in nm, from its x axis; ``None`` when its unit is not
    a length (or it has none). Refuses axes with different x and y pixel sizes."""
    x, y = _signal_axes(signal)
    per_nm = _NANOMETRES.get(str(x.units).strip())
    if per_nm is None or x.units != y.units:
        return None
    if not np.isclose(x.scale, y.scale, rtol=1e-6):
        raise ChipscopeError(
            f"the image's pixels are not square ({x.scale} × {y.scale} {x.units}); resample it "
            "to square pixels first"
        )
    return abs(float(x.scale)) * per_nm


def segment(segmenter: Segmenter, signal: Any) -> Segmentation:
    """Segments an image ``Signal2D`` with its calibration (see :meth:`Segmenter.segment`)."""
    _signal_axes(signal)
    return segmenter.segment(np.asarray(signal.data), pixel_nm=pixel_nm(signal))


def label_signal(segmentation: Segmentation, signal: Any) -> Any:
    """The chip labels of ``segmentation`` (of ``signal``) as a ``Signal2D``: one pixel per chip,
    its axes in the image's units and placed at the chips' centres, the class names in
    ``metadata.Chipscope.classes`` (-1: unassigned)."""
    import hyperspy.api as hs

    x, y = _signal_axes(signal)
    labels = hs.signals.Signal2D(np.asarray(segmentation.labels))
    title = signal.metadata.get_item("General.title", "") or "image"
    labels.metadata.General.title = f"{title} classes"
    labels.metadata.set_item("Chipscope.classes", list(segmentation.classes))
    labels.metadata.set_item("Chipscope.chip_size_px", segmentation.chip_size)
    # A chip is chip_size pixels of the image segmented, which was resampled to the session's
    # pixel size when the signal's differed: in the signal's own units, that is the chip's
    # side in nm over the signal's nm per unit.
    own_nm = pixel_nm(signal)
    for axis_in, axis_out in zip((x, y), labels.axes_manager.signal_axes):
        step = segmentation.chip_size * (
            segmentation.pixel_nm / own_nm * axis_in.scale
            if own_nm and segmentation.pixel_nm
            else axis_in.scale
        )
        axis_out.name = axis_in.name
        axis_out.units = axis_in.units
        axis_out.scale = step
        # The first chip's centre: half a chip in from the image's edge (half a pixel before
        # the first pixel's centre, where HyperSpy puts the offset).
        axis_out.offset = axis_in.offset - axis_in.scale / 2 + step / 2
    return labels


def segment_signal(segmenter: Segmenter, signal: Any) -> Any:
    """Segments an image ``Signal2D`` and returns its label map as a ``Signal2D`` on the same
    axes (see :func:`label_signal`)."""
    return label_signal(segment(segmenter, signal), signal)
