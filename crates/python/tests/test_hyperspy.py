"""HyperSpy round trip: a Signal2D's calibration reaches the segmentation, and the label map comes
back as a Signal2D on the same physical axes."""

import numpy as np
import pytest

import chipscope
from conftest import data_file, run_cli

hs = pytest.importorskip("hyperspy.api")
from chipscope.hyperspy import label_signal, pixel_nm, segment_signal  # noqa: E402


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    path = tmp_path_factory.mktemp("hyperspy") / "scan.tif"
    run_cli("simulate", "--out", path, "--size", 512, "--seed", 7)
    return path


def signal_of(image, scale, units, offset=0.0):
    signal = hs.signals.Signal2D(image.data)
    signal.metadata.General.title = "scan"
    for axis, name in zip(signal.axes_manager.signal_axes, ("x", "y")):
        axis.name, axis.units, axis.scale, axis.offset = name, units, scale, offset
    return signal


REAL_FILES = [
    "hyperspy/dm3_2D_data/multi_signal.dm3",
    "hyperspy/dm3_2D_data/test_STEM_image.dm3",
    "hyperspy/FEI_new/128x128-TEM_search_1.ser",
]


def hyperspy_image(path):
    loaded = hs.load(path)
    return loaded[0] if isinstance(loaded, list) else loaded


@pytest.mark.parametrize("relative", REAL_FILES)
def test_hyperspy_and_chipscope_agree_on_real_files(relative):
    path = data_file(relative)
    signal = hyperspy_image(path)
    image = chipscope.read(path)
    assert np.array_equal(np.asarray(signal.data, dtype=np.float32), image.data)
    assert pixel_nm(signal) == pytest.approx(image.calibration.pixel_nm, rel=1e-6)


def test_our_tiff_loads_with_its_scale(scan):
    # RosettaSciIO reads an ImageJ TIFF's pixel size but names only "micron" as its unit, so
    # our "nm" TIFFs come without a unit: the scale is there, the unit has to be set.
    signal = hyperspy_image(scan)
    image = chipscope.read(scan)
    assert np.array_equal(signal.data.astype(np.float32), image.data)
    assert signal.axes_manager.signal_axes[0].scale == pytest.approx(image.calibration.pixel_nm)
    assert pixel_nm(signal) is None
    for axis in signal.axes_manager.signal_axes:
        axis.units = "nm"
    assert pixel_nm(signal) == pytest.approx(image.calibration.pixel_nm)


def test_a_real_micrograph_comes_back_as_labels_on_its_axes(fixture_session_path):
    path = data_file("hyperspy/dm3_2D_data/multi_signal.dm3")
    segmenter = chipscope.Segmenter(fixture_session_path)
    signal = hyperspy_image(path)
    labels = segment_signal(segmenter, signal)
    from_file = segmenter.segment(path)
    assert np.array_equal(labels.data, from_file.labels)
    # 0.0178 nm/px resampled to the session's 0.04 nm/px: a chip is 64 × 0.04 nm.
    x = labels.axes_manager.signal_axes[0]
    assert x.units == "nm" and x.scale == pytest.approx(64 * from_file.pixel_nm)
    assert from_file.pixel_nm == pytest.approx(0.04, rel=0.01)


def test_a_signal_segments_with_its_calibration(scan, fixture_session_path):
    segmenter = chipscope.Segmenter(fixture_session_path)
    image = chipscope.read(scan)
    nm = image.calibration.pixel_nm
    from_file = segmenter.segment(scan)

    # The same image in ångström, offset: the same chips, and labels on the image's axes.
    signal = signal_of(image, nm * 10, "Å", offset=3.0)
    labels = segment_signal(segmenter, signal)
    assert np.array_equal(labels.data, from_file.labels)
    assert labels.metadata.Chipscope.classes == from_file.classes
    for axis in labels.axes_manager.signal_axes:
        assert axis.units == "Å"
        assert axis.scale == pytest.approx(64 * nm * 10)
        assert axis.offset == pytest.approx(3.0 - nm * 10 / 2 + 64 * nm * 10 / 2)

    # At twice the pixel size the image is resampled: a chip still covers 64 session pixels.
    coarse = signal_of(image, nm * 2, "nm")
    coarse.data = image.data.reshape(256, 2, 256, 2).mean(axis=(1, 3))
    segmentation = chipscope.hyperspy.segment(segmenter, coarse)
    assert segmentation.image.shape == (512, 512)
    labels = label_signal(segmentation, coarse)
    assert labels.axes_manager.signal_axes[0].scale == pytest.approx(64 * nm)


def test_uncalibrated_and_stacked_signals_are_refused(scan, fixture_session_path):
    segmenter = chipscope.Segmenter(fixture_session_path)
    image = chipscope.read(scan)
    with pytest.raises(chipscope.ChipscopeError, match="no length calibration"):
        segment_signal(segmenter, hs.signals.Signal2D(image.data))
    stack = hs.signals.Signal2D(np.stack([image.data, image.data]))
    with pytest.raises(chipscope.ChipscopeError, match="single image"):
        segment_signal(segmenter, stack)
