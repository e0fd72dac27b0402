"""EDS spectrum images from Python: `read_spectra`, `SpectrumImage` from a NumPy cube, and a
session that weights spectra segmenting an image with them, as the CLI segments the file."""

import numpy as np
import pytest

import chipscope
from conftest import P45, chip_classes, data_file, label_dict, run_cli, spectral_session


def cube(seed=3, shape=(6, 5, 40)):
    """Poisson counts (height, width, channels), some pixels empty."""
    counts = np.random.default_rng(seed).poisson(0.4, size=shape).astype(np.uint16)
    counts[0, 0] = 0
    return counts


def same_map(a, b):
    return (
        (a.width, a.height, a.channels) == (b.width, b.height, b.channels)
        and np.array_equal(a.sum_spectrum(), b.sum_spectrum())
        and np.array_equal(a.count_map(), b.count_map())
        and np.allclose(a.energies(), b.energies())
    )


def test_a_spectrum_image_from_counts_of_any_dtype_and_layout():
    counts = cube()
    made = chipscope.SpectrumImage(counts, energy_offset=-0.1, energy_scale=0.02, pixel_nm=2.5, beam_kv=200)
    assert (made.height, made.width, made.channels) == counts.shape
    assert made.total_counts == counts.sum()
    assert np.array_equal(made.sum_spectrum(), counts.sum(axis=(0, 1)))
    assert np.array_equal(made.count_map(), counts.sum(axis=2))
    assert made.energies()[:2] == pytest.approx([-0.1, -0.08])
    assert (made.pixel_nm, made.beam_kv) == (2.5, 200)

    # Whole counts as floats, signed integers, or a strided view of a bigger array, in eV.
    in_ev = dict(energy_offset=-100.0, energy_scale=20.0, energy_unit="eV")
    for variant in (counts.astype(np.float32), counts.astype(np.int64), np.asfortranarray(counts)):
        assert same_map(made, chipscope.SpectrumImage(variant, **in_ev))
    padded = np.zeros((6, 10, 40), np.uint8)
    padded[:, ::2] = counts
    assert same_map(made, chipscope.SpectrumImage(padded[:, ::2], energy_offset=-0.1, energy_scale=0.02))

    # Channels summed in pairs.
    binned = chipscope.SpectrumImage(counts, energy_offset=-0.1, energy_scale=0.02, bin=2)
    assert binned.channels == 20
    assert np.array_equal(binned.sum_spectrum(), counts.sum(axis=(0, 1)).reshape(20, 2).sum(axis=1))
    assert binned.energies()[1] == pytest.approx(-0.06)


@pytest.mark.parametrize(
    "counts, keywords, message",
    [
        (-cube().astype(np.int16), {}, "whole, non-negative"),
        (cube() + 0.5, {}, "whole, non-negative"),
        (np.full((2, 2, 3), np.nan), {}, "whole, non-negative"),
        (cube()[:, :, 0], {}, "3-D array"),
        (cube().astype(np.complex64), {}, "integer or float array"),
        (cube(), {"energy_unit": "nm"}, "energy_unit"),
        (cube(), {"energy_scale": 0.0}, "positive channel width"),
        (cube(), {"bin": 0}, "bin must be 1 or more"),
        (cube(), {"pixel_nm": -1.0}, "pixel_nm must be a positive number"),
        (np.zeros((2, 2, 0), np.uint8), {}, "no energy channels"),
    ],
)
def test_counts_chipscope_cannot_use_are_refused(counts, keywords, message):
    axis = {"energy_offset": 0.0, "energy_scale": 0.01, **keywords}
    with pytest.raises(chipscope.ChipscopeError, match=message):
        chipscope.SpectrumImage(counts, **axis)


SPECTRAL_FILES = [
    P45,
    "hyperspy/bruker_data/test_TEM.bcf",
    "hyperspy/JEOL_files/Sample/00_View000/View000_0000006.pts",
]


@pytest.mark.parametrize("relative", SPECTRAL_FILES)
def test_read_spectra_reads_what_the_cli_reads(relative):
    path = data_file(relative)
    spectra = chipscope.read_spectra(path)
    _, out, _ = run_cli("spectra", path)
    lines = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    size = lines["map"].split("channels")[0].replace("px", "").split("×")
    assert [int(n) for n in size] == [spectra.width, spectra.height, spectra.channels]
    assert int(lines["counts"].split()[0]) == spectra.total_counts
    assert spectra.total_counts == spectra.sum_spectrum().sum() == spectra.count_map().sum()
    assert chipscope.read_spectra(path, bin=4).channels == -(-spectra.channels // 4)


@pytest.fixture(scope="module")
def p45_results(tmp_path_factory, fixture_session_path):
    """The P45 map, its spectral session and the CLI's segmentation of it."""
    bcf = data_file(P45)
    folder = tmp_path_factory.mktemp("spectra")
    session = spectral_session(folder, bcf, fixture_session_path)
    run_cli("segment", bcf, "--session", session, "--out", folder / "cli")
    return bcf, session, folder / "cli" / (bcf.stem + ".csv")


def test_a_spectral_session_segments_arrays_with_their_spectra_as_the_cli(p45_results):
    bcf, session, cli_csv = p45_results
    segmenter = chipscope.Segmenter(session, labelled=bcf)
    expected = chip_classes(cli_csv, segmenter.classes)
    from_file = segmenter.segment(bcf)
    assert label_dict(from_file.labels) == expected

    # The image and its spectrum image given apart: as arrays, or the spectra as a file.
    image = chipscope.read(bcf)
    spectra = chipscope.read_spectra(bcf)
    for given in (spectra, bcf, str(bcf)):
        result = segmenter.segment(image.data, pixel_nm=image.calibration.pixel_nm, spectra=given)
        assert np.array_equal(result.labels, from_file.labels)
        assert np.array_equal(result.distances, from_file.distances)


def test_missing_or_mismatched_spectra_are_refused(p45_results):
    bcf, session, _ = p45_results
    segmenter = chipscope.Segmenter(session, labelled=bcf)
    image = chipscope.read(bcf)
    nm = image.calibration.pixel_nm
    with pytest.raises(chipscope.ChipscopeError, match="give this image's spectrum image"):
        segmenter.segment(image.data, pixel_nm=nm)
    other = chipscope.read_spectra(data_file("hyperspy/bruker_data/test_TEM.bcf"))
    with pytest.raises(chipscope.ChipscopeError, match="does not fit"):
        segmenter.segment(image.data, pixel_nm=nm, spectra=other)
    with pytest.raises(chipscope.ChipscopeError, match="SpectrumImage or a file's path"):
        segmenter.segment(image.data, pixel_nm=nm, spectra=42)
    with pytest.raises(FileNotFoundError):
        chipscope.read_spectra(bcf.with_name("absent.bcf"))
    with pytest.raises(chipscope.ChipscopeError, match="cannot read"):
        chipscope.read_spectra(data_file("hyperspy/dm3_2D_data/test_STEM_image.dm3"))
