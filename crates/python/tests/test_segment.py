"""chipscope.Segmenter against `chipscope segment`: the same files, byte for byte, and the same
labels as arrays; bad input raises Chipscope's errors."""

import json
from pathlib import Path

import numpy as np
import pytest

import chipscope
from conftest import chip_classes, label_dict, run_cli

# The outputs `chipscope segment` writes per image (and `-fine-labels.png` etc. in dense mode).
IMAGE_OUTPUTS = (".csv", "-labels.png", "-overlay.png", "-summary.json", "-chart.svg", "-report.csv")


def simulate(path: Path, seed: int, size: int = 512) -> Path:
    run_cli("simulate", "--out", path, "--size", size, "--seed", seed)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """The example the fixture session was labelled on (512², seed 1) and another draw."""
    folder = tmp_path_factory.mktemp("images")
    return [simulate(folder / "first.tif", 1), simulate(folder / "second.tif", 7)]


@pytest.fixture(scope="module")
def dense_session(tmp_path_factory, fixture_session_path):
    """The fixture session in the dense mode (MobileNetV2 features.6, ×2): finer label cells."""
    session = json.loads(fixture_session_path.read_text())
    session["encoder"]["mode"] = {"kind": "dense", "stage": "features.6", "scale": 2}
    path = tmp_path_factory.mktemp("dense") / "dense-session.json"
    path.write_text(json.dumps(session))
    return path


def same_files(ours: Path, theirs: Path, names):
    for name in names:
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name


def outputs(folder: Path):
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".chipscope.json"))


@pytest.mark.parametrize("which", ["per_chip", "dense"])
def test_segment_file_writes_the_clis_files(tmp_path, images, fixture_session_path, dense_session, which):
    session = fixture_session_path if which == "per_chip" else dense_session
    cli_out, py_out = tmp_path / "cli", tmp_path / "py"
    run_cli("segment", *images, "--session", session, "--out", cli_out)

    segmenter = chipscope.Segmenter(session, out=py_out, images=images)
    assert segmenter.classes == ["vacuum", "square", "hexagonal", "amorphous"]
    results = [segmenter.segment_file(image) for image in images]
    csv = chipscope.project_report([(Path(r["file"]).name, r["report"]) for r in results])
    (py_out / "project-report.csv").write_text(csv)

    assert outputs(py_out) == outputs(cli_out)
    same_files(py_out, cli_out, outputs(cli_out))
    for result, image in zip(results, images):
        assert result["kind"] == "image" and result["stem"] == image.stem
        written = json.loads((cli_out / f"{image.stem}-summary.json").read_text())
        assert result["summary"] == written
    if which == "dense":
        assert any(name.endswith("-fine-labels.png") for name in outputs(cli_out))


def test_segment_gives_arrays_that_match_the_cli(tmp_path, images, dense_session):
    cli_out = tmp_path / "cli"
    run_cli("segment", images[1], "--session", dense_session, "--out", cli_out)
    segmenter = chipscope.Segmenter(dense_session)
    result = segmenter.segment(images[1])

    rows, cols = result.labels.shape
    assert (rows, cols) == (8, 8) and result.chip_size == 64
    assert result.labels.dtype == np.int32
    assert result.distances.shape == (rows, cols, 4) and result.distances.dtype == np.float32
    assert result.confidence.shape == (rows, cols)
    assert np.all((result.confidence >= 0) & (result.confidence <= 1))
    # Each chip's label is its nearest class.
    assert np.array_equal(result.labels, np.argmin(result.distances, axis=2))
    expected = chip_classes(cli_out / "second.csv", result.classes)
    assert label_dict(result.labels) == expected
    assert result.summary == json.loads((cli_out / "second-summary.json").read_text())
    assert result.report_csv == (cli_out / "second-report.csv").read_text()
    # Dense mode: a cell every 4 px (features.6 is 1/8 of the input, the input ×2).
    assert result.fine_cell_px == 4.0
    assert result.fine_labels.shape == (128, 128)
    assert result.image.shape == (512, 512)

    # The same pixels as an array, with the file's pixel size, give the same segmentation.
    image = chipscope.read(images[1])
    from_array = segmenter.segment(image.data.astype(np.float64), pixel_nm=image.calibration.pixel_nm)
    assert np.array_equal(from_array.labels, result.labels)
    assert np.array_equal(from_array.distances, result.distances)
    assert np.array_equal(from_array.fine_labels, result.fine_labels)


def test_an_array_at_another_pixel_size_is_resampled(images, dense_session):
    segmenter = chipscope.Segmenter(dense_session)
    image = chipscope.read(images[1])
    half = image.data.reshape(256, 2, 256, 2).mean(axis=(1, 3))
    result = segmenter.segment(half, pixel_nm=image.calibration.pixel_nm * 2)
    assert result.image.shape == (512, 512)
    assert result.pixel_nm == pytest.approx(image.calibration.pixel_nm)
    assert result.labels.shape == (8, 8)


def test_bad_input_raises_chipscopes_errors(tmp_path, images, fixture_session_path):
    segmenter = chipscope.Segmenter(fixture_session_path)
    with pytest.raises(FileNotFoundError):
        segmenter.segment(tmp_path / "missing.tif")
    damaged = tmp_path / "damaged.tif"
    damaged.write_bytes(images[0].read_bytes()[:3000])
    with pytest.raises(chipscope.ChipscopeError, match="cannot read .*damaged.tif"):
        segmenter.segment(damaged)
    with pytest.raises(chipscope.ChipscopeError, match="no length calibration"):
        segmenter.segment(np.zeros((256, 256)))
    with pytest.raises(chipscope.ChipscopeError, match="2-D array"):
        segmenter.segment(np.zeros((4, 256, 256)), pixel_nm=0.04)
    with pytest.raises(chipscope.ChipscopeError, match="make the Segmenter with out=FOLDER"):
        segmenter.segment_file(images[0])

    tampered = tmp_path / "tampered.json"
    session = json.loads(fixture_session_path.read_text())
    session["classes"][0]["supports"] = [[99, 99]]
    tampered.write_text(json.dumps(session))
    with pytest.raises(chipscope.ChipscopeError, match="99"):
        chipscope.Segmenter(tampered)
    with pytest.raises(FileNotFoundError):
        chipscope.Segmenter(tmp_path / "no-session.json")


@pytest.mark.parametrize(
    "cli_args, kwargs",
    [
        (["--mode", "per-chip"], {"mode": "per-chip"}),
        ([], {}),
        (["--encoder", "resnet50", "--stage", "layer2", "--scale", "1"],
         {"encoder": "resnet50", "stage": "layer2", "scale": 1}),
    ],
)
def test_embed_equals_chipscope_embed(tmp_path, images, cli_args, kwargs):
    out = tmp_path / "chips.npy"
    run_cli("embed", images[1], "--chip", 128, "--out", out, *cli_args)
    expected = np.load(out)
    ours = chipscope.embed(images[1], 128, **kwargs)
    assert ours.shape == (4, 4, expected.shape[1]) and ours.dtype == np.float32
    assert np.array_equal(ours.reshape(16, -1), expected)
    from_array = chipscope.embed(chipscope.read(images[1]).data, 128, **kwargs)
    assert np.array_equal(from_array, ours)


def test_embed_refuses_bad_settings(images):
    with pytest.raises(chipscope.ChipscopeError, match="not 3"):
        chipscope.embed(images[1], 64, scale=3)
    with pytest.raises(chipscope.ChipscopeError, match="dense only"):
        chipscope.embed(images[1], 64, mode="per-chip", stage="features.6")
    with pytest.raises(chipscope.ChipscopeError, match="no weight file vgg16"):
        chipscope.embed(images[1], 64, encoder="vgg16")


def test_frames_segmented_apart_give_the_clis_series_files(tmp_path, images, fixture_session_path):
    movie = tmp_path / "movie.tif"
    run_cli("simulate", "--out", movie, "--size", 512, "--frames", 2)
    cli_out, py_out = tmp_path / "cli", tmp_path / "py"
    run_cli("segment", movie, "--session", fixture_session_path, "--out", cli_out)
    assert chipscope.series_frames(movie) == 2 and chipscope.series_frames(images[0]) is None

    segmenter = chipscope.Segmenter(fixture_session_path, out=py_out)
    frames = [segmenter.segment_frame(movie, index) for index in (1, 0)]
    assert [frame["index"] for frame in frames] == [1, 0]
    csv = chipscope.write_fractions(py_out, "movie", frames)
    assert csv == (cli_out / "movie-fractions.csv").read_text()
    same_files(py_out, cli_out, ["movie-fractions.csv", "movie-fractions.svg"])

    with pytest.raises(chipscope.ChipscopeError, match="has 2 frames; there is no frame 3"):
        segmenter.segment_frame(movie, 2)
    with pytest.raises(chipscope.ChipscopeError, match="is not a frame series"):
        segmenter.segment_frame(images[0], 0)
    with pytest.raises(chipscope.ChipscopeError, match="no frame could be segmented"):
        chipscope.write_fractions(py_out, "none", [])
    with pytest.raises(chipscope.ChipscopeError, match="has no \"time_s\""):
        chipscope.write_fractions(py_out, "none", [{"index": 0, "summary": {}}])
    other = dict(frames[0], summary=dict(frames[0]["summary"], classes=frames[0]["summary"]["classes"][:2]))
    with pytest.raises(chipscope.ChipscopeError, match="frame 2 was segmented with other classes than frame 1"):
        chipscope.write_fractions(py_out, "mixed", [frames[1], other])
    with pytest.raises(chipscope.ChipscopeError, match="not a summary"):
        chipscope.write_fractions(py_out, "none", [(0, None, {"classes": 3})])


def test_project_report_refuses_reports_it_cannot_pool():
    # Two class reports of the example, as segment_file returns them (fuzz/seeds/README.md).
    seeds = Path(__file__).resolve().parents[3] / "fuzz/seeds/class_reports/example-two-images"
    first, second = seeds.read_text().split("\0")
    csv = chipscope.project_report([("a.tif", first), ("b.tif", second)])
    assert csv.splitlines()[0].startswith("image,class,chips")
    renamed = json.loads(second)
    renamed["rows"][0]["share"]["name"] = "elsewhere"
    with pytest.raises(chipscope.ChipscopeError, match="b.tif was segmented with other classes than a.tif"):
        chipscope.project_report([("a.tif", first), ("b.tif", json.dumps(renamed))])
    with pytest.raises(chipscope.ChipscopeError, match="at least one image"):
        chipscope.project_report([])
    with pytest.raises(chipscope.ChipscopeError, match="b.tif: not a class report"):
        chipscope.project_report([("a.tif", first), ("b.tif", second[:40])])
