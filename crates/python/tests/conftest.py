"""Shared helpers: the chipscope CLI the package is compared with."""

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def cli_path() -> Path:
    explicit = os.environ.get("CHIPSCOPE_CLI")
    if explicit:
        return Path(explicit)
    target = os.environ.get(
        "CARGO_TARGET_DIR", str(Path.home() / ".cache/chipscope/target")
    )
    return Path(target) / "debug" / "chipscope"


def run_cli(*args, check=True):
    """Runs the CLI; returns (returncode, stdout, stderr)."""
    done = subprocess.run(
        [str(cli_path()), *map(str, args)], capture_output=True, text=True
    )
    if check and done.returncode != 0:
        raise AssertionError(f"chipscope {args} failed: {done.stderr}")
    return done.returncode, done.stdout, done.stderr


def info(path):
    """`chipscope info PATH` as a dict of its `key: value` lines."""
    _, out, _ = run_cli("info", path)
    fields = {}
    for line in out.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cli_error(*args):
    """The error line the CLI prints for a failing command."""
    code, _, err = run_cli(*args, check=False)
    assert code != 0
    return err.strip().splitlines()[-1]


@pytest.fixture(scope="session", autouse=True)
def _need_cli():
    if not cli_path().is_file():
        pytest.fail(f"the chipscope CLI is missing at {cli_path()}: source scripts/env.sh && build_test_cli")


@pytest.fixture
def fixture_session() -> Path:
    return REPO / "tests/fixtures/dense/example_per_chip_v4_session.json"


@pytest.fixture(scope="session")
def fixture_session_path() -> Path:
    """The per-chip session labelled on the simulated example (512², seed 1, 64-px chips)."""
    return REPO / "tests/fixtures/dense/example_per_chip_v4_session.json"


def data_file(relative):
    root = os.environ.get("CHIPSCOPE_TESTDATA")
    if not root:
        pytest.skip("CHIPSCOPE_TESTDATA is not set (scripts/fetch-testdata.sh)")
    path = Path(root) / relative
    if not path.is_file():
        pytest.skip(f"{path} is absent (scripts/fetch-testdata.sh)")
    return path


P45 = "hyperspy/bruker_data/P45_the_default_job.bcf"


def spectral_session(folder: Path, bcf: Path, fixture_session: Path) -> Path:
    """A session labelled on the Bruker map `bcf` (P45, 100 × 75 px) by its spectra alone: 8-px
    chips, three minerals, the raw spectral encoder; the chips are those of the CLI's test
    `a_real_bruker_map_segments_by_its_spectra_with_either_encoder`."""
    data = bcf.read_bytes()
    source = {
        "kind": "file",
        "name": bcf.name,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    session = json.loads(fixture_session.read_text())
    session["source"] = source
    session["grid"] = {"chip_size": 8, "origin": [0, 0]}
    classes = [
        ("silica", "#e69f00", [[4, 4], [4, 8], [3, 2]]),
        ("feldspar", "#56b4e9", [[7, 0], [8, 1]]),
        ("Fe-Mg", "#009e73", [[1, 6], [2, 6]]),
    ]
    session["classes"] = [
        {"name": name, "colour": colour, "supports": supports}
        for name, colour, supports in classes
    ]
    session["spectra"] = {
        "source": source,
        "encoder": {"kind": "raw", "range_kev": None, "normalise": True},
        "elements": ["Si", "Fe"],
    }
    session["fusion"] = {"mode": "distances", "weights": {"image": 0.0, "spectra": 1.0}}
    path = folder / "p45-session.json"
    path.write_text(json.dumps(session))
    return path


def chip_classes(csv_path: Path, classes):
    """The class index of each chip in a CLI `STEM.csv`, as (row, col) -> index (-1 none)."""
    lines = csv_path.read_text().splitlines()
    header = lines[0].split(",")
    row_at, col_at, class_at = header.index("row"), header.index("col"), header.index("class")
    found = {}
    for line in lines[1:]:
        cells = line.split(",")
        name = cells[class_at]
        found[(int(cells[row_at]), int(cells[col_at]))] = classes.index(name) if name in classes else -1
    return found


def label_dict(labels):
    """A (rows, cols) label array as (row, col) -> class index, as `chip_classes` gives."""
    rows, cols = labels.shape
    return {(r, c): int(labels[r, c]) for r in range(rows) for c in range(cols)}
