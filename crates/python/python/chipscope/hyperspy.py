"""HyperSpy interplay: segment a ``Signal2D`` (with an EDS spectrum image for the spectral
modality), or an EDS spectrum image alone, with its axes' calibration, and get the label map back
as a ``Signal2D`` on the same physical axes (one pixel per chip).

HyperSpy is optional: ``pip install hyperspy``. This module imports it on first use and says so
when it is missing.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from ._chipscope import ChipscopeError, Segmentation, Segmenter, SpectrumImage

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


def _is_spectrum_image(signal: Any) -> bool:
    """Whether ``signal`` is a spectrum image: a map (two navigation axes) of spectra."""
    manager = signal.axes_manager
    return manager.navigation_dimension == 2 and manager.signal_dimension == 1


def _image_axes(signal: Any) -> Tuple[Any, Any]:
    """The (x, y) axes of an image ``Signal2D``, or of a spectrum image's map; refuses
    anything else."""
    if _is_spectrum_image(signal):
        axes = signal.axes_manager.navigation_axes
        return axes[0], axes[1]
    axes = signal.axes_manager.signal_axes
    if len(axes) != 2 or signal.axes_manager.navigation_dimension != 0:
        raise ChipscopeError(
            "segment a single image: a Signal2D with no navigation axes (index a stack first, "
            "e.g. signal.inav[0]), or an EDS spectrum image with two navigation axes; this one "
            f"has shape {signal.data.shape}"
        )
    return axes[0], axes[1]


def pixel_nm(signal: Any) -> Optional[float]:
    """The pixel size of an image signal (or of a spectrum image's map) in nm, from its x axis;
    ``None`` when its unit is not a length (or it has none). Refuses axes with different x and
    y pixel sizes."""
    x, y = _image_axes(signal)
    per_nm = _NANOMETRES.get(str(x.units).strip())
    if per_nm is None or x.units != y.units:
        return None
    if not np.isclose(x.scale, y.scale, rtol=1e-6):
        raise ChipscopeError(
            f"the image's pixels are not square ({x.scale} × {y.scale} {x.units}); resample it "
            "to square pixels first"
        )
    return abs(float(x.scale)) * per_nm


def _beam_kv(signal: Any) -> Optional[float]:
    """The acceleration voltage HyperSpy's metadata record for a TEM or SEM, kV."""
    for microscope in ("TEM", "SEM"):
        kv = signal.metadata.get_item(f"Acquisition_instrument.{microscope}.beam_energy")
        if kv is not None:
            return float(kv)
    return None


def spectrum_image(signal: Any, bin: int = 1) -> SpectrumImage:
    """An EDS spectrum image signal (two navigation axes: the map; one energy axis in eV or
    keV) as a :class:`chipscope.SpectrumImage`, with the map's pixel size and the beam energy;
    ``bin`` sums that many consecutive channels. A lazy signal's counts are computed."""
    if not _is_spectrum_image(signal):
        raise ChipscopeError(
            "an EDS spectrum image has two navigation axes (the map) and one energy axis; this "
            f"signal has shape {signal.data.shape}"
        )
    energy = signal.axes_manager.signal_axes[0]
    if not getattr(energy, "is_uniform", True):
        raise ChipscopeError("the energy axis is not uniform; Chipscope needs equal channels")
    return SpectrumImage(
        np.asarray(signal.data),
        energy_offset=float(energy.offset),
        energy_scale=float(energy.scale),
        energy_unit=str(energy.units),
        pixel_nm=pixel_nm(signal),
        beam_kv=_beam_kv(signal),
        bin=bin,
    )


def segment(segmenter: Segmenter, signal: Any, spectra: Optional[Any] = None) -> Segmentation:
    """Segments an image ``Signal2D`` with its calibration (see :meth:`Segmenter.segment`);
    ``spectra`` is its EDS spectrum image when the session weights spectra: a HyperSpy signal,
    a :class:`chipscope.SpectrumImage` or a file's path. An EDS spectrum image given as
    ``signal`` is segmented by its counts per pixel, with its own spectra (as the CLI segments
    a spectral file that holds no image)."""
    if _is_spectrum_image(signal):
        own = spectrum_image(signal)
        spectra = own if spectra is None else spectra
        return segmenter.segment(
            own.count_map(), pixel_nm=own.pixel_nm, spectra=_as_spectra(spectra)
        )
    _image_axes(signal)
    return segmenter.segment(
        np.asarray(signal.data), pixel_nm=pixel_nm(signal), spectra=_as_spectra(spectra)
    )


def _as_spectra(spectra: Optional[Any]) -> Any:
    """``spectra`` as ``Segmenter.segment`` takes them: a HyperSpy signal converted."""
    if not hasattr(spectra, "axes_manager"):
        return spectra
    return spectrum_image(spectra)


def label_signal(segmentation: Segmentation, signal: Any) -> Any:
    """The chip labels of ``segmentation`` (of ``signal``) as a ``Signal2D``: one pixel per chip,
    its axes in the image's units and placed at the chips' centres, the class names in
    ``metadata.Chipscope.classes`` (-1: unassigned)."""
    import hyperspy.api as hs

    x, y = _image_axes(signal)
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


def segment_signal(segmenter: Segmenter, signal: Any, spectra: Optional[Any] = None) -> Any:
    """Segments an image ``Signal2D`` (with ``spectra``, as :func:`segment` takes them) or an
    EDS spectrum image, and returns its label map as a ``Signal2D`` on the same axes (see
    :func:`label_signal`)."""
    return label_signal(segment(segmenter, signal, spectra), signal)
