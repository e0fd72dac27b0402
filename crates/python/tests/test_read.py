"""chipscope.read against the chipscope CLI's `info`, and the raw pixels of the file."""

import re
import struct
from pathlib import Path

import numpy as np
import pytest

import chipscope
from conftest import cli_error, data_file, info, run_cli


def parse_shape(text):
    width, height = re.match(r"(\d+) × (\d+) px", text).groups()
    return int(height), int(width)


def parse_calibration(text):
    """(pixel size, unit) from `0.04 nm/px; field of view …`, or None."""
    if text.startswith("none"):
        return None
    size, unit = re.match(r"([0-9.eE+-]+) (\S+)/px", text).groups()
    return float(size), unit


def read_tiff_u16(path):
    """The pixels of an uncompressed little-endian grey 16-bit TIFF, read by hand."""
    data = Path(path).read_bytes()
    assert data[:4] == b"II*\x00", "little-endian TIFF expected"
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    tags = {}
    for i in range(count):
        tag, kind, n, value = struct.unpack_from("<HHII", data, ifd + 2 + 12 * i)
        if tag not in (256, 257, 258, 259, 273, 279):
            continue
        if kind == 3 and n == 1:
            value &= 0xFFFF
        if n > 1:
            size = {3: 2, 4: 4}[kind]
            fmt = {3: "H", 4: "I"}[kind]
            value = list(struct.unpack_from(f"<{n}{fmt}", data, value)) if n * size > 4 else [
                v for v in struct.unpack_from(f"<{n}{fmt}", struct.pack("<I", value), 0)
            ]
        tags[tag] = value
    width, height = tags[256], tags[257]
    assert tags.get(259, 1) == 1, "uncompressed TIFF expected"
    assert tags[258] == 16
    offsets = tags[273] if isinstance(tags[273], list) else [tags[273]]
    counts = tags[279] if isinstance(tags[279], list) else [tags[279]]
    raw = b"".join(data[o : o + c] for o, c in zip(offsets, counts))
    return np.frombuffer(raw, dtype="<u2", count=width * height).reshape(height, width)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "X.tif"
    run_cli("simulate", "--size", "64", "--out", path)
    return path


def test_simulated_tiff_matches_info(simulated):
    image = chipscope.read(simulated)
    facts = info(simulated)
    assert image.data.dtype == np.float32
    assert image.data.shape == parse_shape(facts["shape"]) == (64, 64)
    assert image.name == "X.tif"
    assert image.calibration is not None
    assert (image.calibration.pixel_size, image.calibration.unit) == parse_calibration(
        facts["calibration"]
    )
    assert image.calibration.pixel_size == pytest.approx(0.04)
    assert image.calibration.unit == "nm"
    assert image.calibration.pixel_nm == pytest.approx(0.04)
    low, high = map(float, facts["values"].split(" to "))
    assert (image.data.min(), image.data.max()) == (low, high)
    assert facts["format"] == f"{image.metadata['format']} ({image.metadata['storage']})"
    assert image.metadata["format"] == "TIFF"
    assert image.metadata["calibration"] == facts["calibration"]
    assert image.metadata["notes"] == []
    assert "X.tif" in repr(image) and "64×64" in repr(image)


def test_simulated_tiff_raw_values(simulated):
    try:
        expected = read_tiff_u16(simulated)
    except (AssertionError, KeyError) as why:
        pytest.skip(f"the TIFF is not one this test reads by hand: {why}")
    np.testing.assert_array_equal(chipscope.read(str(simulated)).data, expected.astype(np.float32))


def test_truncated_file_raises_the_cli_message(simulated, tmp_path):
    bad = tmp_path / "bad.tif"
    bad.write_bytes(simulated.read_bytes()[:300])
    with pytest.raises(chipscope.ChipscopeError) as caught:
        chipscope.read(bad)
    assert isinstance(caught.value, ValueError)
    assert chipscope.ChipscopeError.__module__ == "chipscope"
    message = str(caught.value)
    assert message
    assert message.startswith(f"cannot read {bad}: ")
    assert cli_error("info", bad) == f"error: {message}"


def test_garbage_file_raises_the_cli_message(tmp_path):
    bad = tmp_path / "noise.bin"
    bad.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(chipscope.ChipscopeError) as caught:
        chipscope.read(bad)
    assert cli_error("info", bad) == f"error: {caught.value}"


def test_empty_file_raises(tmp_path):
    empty = tmp_path / "empty.tif"
    empty.write_bytes(b"")
    with pytest.raises(chipscope.ChipscopeError) as caught:
        chipscope.read(empty)
    assert cli_error("info", empty) == f"error: {caught.value}"


def test_missing_file_raises_file_not_found(tmp_path):
    missing = tmp_path / "missing.tif"
    with pytest.raises(FileNotFoundError) as caught:
        chipscope.read(missing)
    assert caught.value.filename == str(missing)


@pytest.mark.parametrize(
    "relative",
    [
        "hyperspy/dm3_2D_data/multi_signal.dm3",
        "hyperspy/dm4_2D_data/test-1.dm4",
        "hyperspy/FEI_new/128x128-TEM_search_1.ser",
        "hyperspy/JEOL_files/Sample/00_View000/View000_0000000.img",
        "hyperspy/JEOL_files/Sample/00_View000/View000_0000006.pts",
        "hyperspy/bruker_data/test_TEM.bcf",
        "hyperspy/emd_files/example_image.emd",
        "hyperspy/emd_files/fei_example_tem_stack.emd",
    ],
)
def test_real_files_match_info(relative):
    path = data_file(relative)
    image = chipscope.read(path)
    facts = info(path)
    assert image.data.dtype == np.float32
    assert image.data.shape == parse_shape(facts["shape"])
    calibration = parse_calibration(facts["calibration"])
    if calibration is None:
        assert image.calibration is None
    else:
        assert image.calibration.unit == calibration[1]
        assert float(f"{image.calibration.pixel_size:.4g}") == pytest.approx(calibration[0])
    assert image.metadata["calibration"] == facts["calibration"]
    assert image.metadata["acquisition"] == facts.get("acquisition", "")
    low, high = map(float, facts["values"].split(" to "))
    assert (float(image.data.min()), float(image.data.max())) == (low, high)


def test_ser_gets_the_emi_facts():
    image = chipscope.read(data_file("hyperspy/FEI_new/128x128-TEM_search_1.ser"))
    assert image.metadata["properties"]["acceleration voltage"] == "200 kV"


def test_reads_on_threads(simulated):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        shapes = list(pool.map(lambda _: chipscope.read(simulated).data.shape, range(8)))
    assert shapes == [(64, 64)] * 8


def test_file_sha256_is_the_files_sha256(simulated):
    import hashlib

    assert chipscope.file_sha256(simulated) == hashlib.sha256(simulated.read_bytes()).hexdigest()
    with pytest.raises(FileNotFoundError):
        chipscope.file_sha256(simulated.with_name("absent.tif"))
