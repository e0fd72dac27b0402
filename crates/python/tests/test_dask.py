"""chipscope.dask.segment_files on a LocalCluster of 2 worker processes: the CLI's files byte for
byte, a frame series segmented a task per frame, resumed runs skip what is done, a failing file
does not stop the others."""

import json
from pathlib import Path

import numpy as np
import pytest

import chipscope
from conftest import run_cli

distributed = pytest.importorskip("distributed")
from chipscope.dask import segment_files  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    paths = []
    for seed in (1, 3, 5):
        path = folder / f"scan{seed}.tif"
        run_cli("simulate", "--out", path, "--size", 512, "--seed", seed)
        paths.append(path)
    return paths


def written(folder: Path):
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.endswith(".chipscope.json")}


def test_a_batch_on_two_workers_equals_the_cli(tmp_path, client, files, fixture_session_path):
    cli_out, dask_out = tmp_path / "cli", tmp_path / "dask"
    run_cli("segment", *files, "--session", fixture_session_path, "--out", cli_out)

    results = segment_files(files, fixture_session_path, dask_out, client=client)
    assert [r["status"] for r in results] == ["segmented"] * 3
    assert [r["stem"] for r in results] == ["scan1", "scan3", "scan5"]
    assert written(dask_out) == written(cli_out)
    assert "project-report.csv" in written(cli_out)
    # Each worker loaded the encoder and learned the prototypes once, not once per file.
    workers = client.run(lambda: len(__import__("chipscope.dask").dask._segmenters))
    assert len(workers) == 2 and set(workers.values()) <= {0, 1} and sum(workers.values()) >= 1

    # Run again: everything is skipped, by hash, and the report is the same.
    again = segment_files(files, fixture_session_path, dask_out, client=client)
    assert [r["status"] for r in again] == ["skipped"] * 3
    assert written(dask_out) == written(cli_out)

    # A changed file is segmented again; the others are still skipped.
    changed = tmp_path / "changed"
    changed.mkdir()
    moved = [changed / f.name for f in files]
    for source, target in zip(files, moved):
        target.write_bytes(source.read_bytes())
    run_cli("simulate", "--out", moved[1], "--size", 512, "--seed", 11)
    third = segment_files(moved, fixture_session_path, dask_out, client=client)
    assert [r["status"] for r in third] == ["skipped", "segmented", "skipped"]


def test_a_failing_file_does_not_stop_the_others(tmp_path, client, files, fixture_session_path):
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00 not a tiff")
    out = tmp_path / "out"
    results = segment_files([files[0], broken, files[2]], fixture_session_path, out, client=client)
    assert [r["status"] for r in results] == ["segmented", "failed", "segmented"]
    assert "cannot read" in results[1]["error"] and "broken.tif" in results[1]["error"]
    assert (out / "scan1-summary.json").is_file() and (out / "scan5-summary.json").is_file()
    report = (out / "project-report.csv").read_text().splitlines()
    assert report[0].startswith("image,class,")
    assert {line.split(",")[0] for line in report[1:]} == {"scan1.tif", "scan5.tif", "all images"}


def test_a_series_is_segmented_a_task_per_frame_as_the_cli_segments_it(
    tmp_path, client, files, fixture_session_path
):
    movie = tmp_path / "movie.tif"
    run_cli("simulate", "--out", movie, "--size", 512, "--frames", 3)
    cli_out, dask_out = tmp_path / "cli", tmp_path / "dask"
    run_cli("segment", movie, files[0], "--session", fixture_session_path, "--out", cli_out, "--each-frame")

    with distributed.get_task_stream(client) as tasks:
        results = segment_files(
            [movie, files[0]], fixture_session_path, dask_out, client=client, each_frame=True
        )
    assert [r["status"] for r in results] == ["segmented", "segmented"]
    assert results[0]["kind"] == "series" and results[0]["frames"] == 3
    assert results[0]["failed"] == 0 and results[0]["frame_errors"] == []
    assert results[0]["fractions"] == (cli_out / "movie-fractions.csv").read_text()
    assert written(dask_out) == written(cli_out)
    assert "movie-frame0003-labels.png" in written(cli_out)
    frame_tasks = [t for t in tasks.data if str(t["key"]).startswith("_segment_frame")]
    assert len(frame_tasks) == 3

    again = segment_files([movie, files[0]], fixture_session_path, dask_out, client=client)
    assert [r["status"] for r in again] == ["skipped", "skipped"]
    assert again[0]["fractions"] == results[0]["fractions"]


def test_a_series_whose_frames_all_fail_is_reported_with_each_frames_error(
    tmp_path, client, fixture_session_path
):
    tifffile = pytest.importorskip("tifffile")
    stack = tmp_path / "uncalibrated.tif"
    tifffile.imwrite(stack, np.zeros((2, 256, 256), np.uint16))
    assert chipscope.series_frames(stack) == 2
    [result] = segment_files([stack], fixture_session_path, tmp_path / "out", client=client)
    assert result["status"] == "failed" and "no frame could be segmented" in result["error"]
    assert len(result["frame_errors"]) == 2
    assert all("no length calibration" in error for error in result["frame_errors"])
