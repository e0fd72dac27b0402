"""HyperSpy round trip: a Signal2D's calibration reaches the segmentation, an EDS spectrum image
loaded by HyperSpy serves the spectral modality, and the label map comes back as a Signal2D on
the same physical axes."""

import numpy as np
import pytest

import chipscope
from conftest import P45, chip_classes, data_file, label_dict, run_cli, spectral_session

hs = pytest.importorskip("hyperspy.api")
from chipscope.hyperspy import (  # noqa: E402
    label_signal,
    pixel_nm,
    segment_signal,
    spectrum_image,
)


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


def test_an_eds_signal_holds_what_chipscope_reads_from_its_file():
    bcf = data_file(P45)
    image, _, eds = hs.load(bcf)  # BSE, SE and the EDS map, (75, 100, 2048) uint8
    from_signal = spectrum_image(eds)
    from_file = chipscope.read_spectra(bcf)
    assert (from_signal.width, from_signal.height, from_signal.channels) == (100, 75, 2048)
    assert np.array_equal(from_signal.sum_spectrum(), from_file.sum_spectrum())
    assert np.array_equal(from_signal.count_map(), from_file.count_map())
    assert np.allclose(from_signal.energies(), from_file.energies())
    assert from_signal.pixel_nm == pytest.approx(from_file.pixel_nm, rel=1e-9)
    assert from_signal.beam_kv == from_file.beam_kv == 20.0
    assert spectrum_image(eds, bin=8).channels == 256


def test_an_eds_signal_segments_as_the_cli_segments_its_file(tmp_path, fixture_session_path):
    bcf = data_file(P45)
    session = spectral_session(tmp_path, bcf, fixture_session_path)
    run_cli("segment", bcf, "--session", session, "--out", tmp_path / "cli")
    segmenter = chipscope.Segmenter(session, labelled=bcf)
    expected = chip_classes(tmp_path / "cli" / "P45_the_default_job.csv", segmenter.classes)
    image, _, eds = hs.load(bcf)

    from_signal = chipscope.hyperspy.segment(segmenter, image, spectra=eds)
    assert np.array_equal(from_signal.distances, segmenter.segment(bcf).distances)

    # The BSE image with the EDS map, and the EDS map alone (segmented by its counts).
    for labels in (segment_signal(segmenter, image, spectra=eds), segment_signal(segmenter, eds)):
        assert label_dict(labels.data) == expected
        x, y = labels.axes_manager.signal_axes
        assert x.units == y.units == "µm"
        assert x.scale == pytest.approx(8 * 8.736785, rel=1e-6)
        assert x.offset == pytest.approx(8 * 8.736785 / 2 - 8.736785 / 2, rel=1e-6)


def test_signals_that_are_not_spectrum_images_are_refused_as_spectra(fixture_session_path, tmp_path):
    bcf = data_file(P45)
    session = spectral_session(tmp_path, bcf, fixture_session_path)
    segmenter = chipscope.Segmenter(session, labelled=bcf)
    image, _, eds = hs.load(bcf)
    with pytest.raises(chipscope.ChipscopeError, match="two navigation axes"):
        segment_signal(segmenter, image, spectra=eds.inav[0])
    with pytest.raises(chipscope.ChipscopeError, match="give this image's spectrum image"):
        segment_signal(segmenter, image)
