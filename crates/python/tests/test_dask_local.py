"""chipscope.dask.segment_files with no Dask client: the files are segmented in this process."""

import json

import pytest

import chipscope
from chipscope.dask import segment_files
from conftest import run_cli


def test_without_a_cluster_it_runs_in_this_process(tmp_path, fixture_session_path):
    image = tmp_path / "scan1.tif"
    run_cli("simulate", "--out", image, "--size", 512, "--seed", 1)
    out = tmp_path / "out"
    results = segment_files([image], fixture_session_path, out)
    assert results[0]["status"] == "segmented"
    assert results[0]["summary"] == json.loads((out / "scan1-summary.json").read_text())
    assert not (out / "project-report.csv").exists()
    with pytest.raises(chipscope.ChipscopeError, match="would both write scan1"):
        segment_files([image, image], fixture_session_path, out)
