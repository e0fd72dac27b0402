"""Shared helpers: the chipscope CLI the package is compared with."""

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
        pytest.fail(f"the chipscope CLI is missing at {cli_path()}: cargo build -p chipscope-cli")


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
