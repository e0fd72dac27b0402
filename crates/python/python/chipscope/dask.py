"""A session applied to many files on a Dask cluster: one task per file, and one per frame of a
frame series.

Each worker process loads the session's encoder and learns its prototypes once (the first
task it runs), then segments every file it is given with them, writing the same files as
``chipscope segment`` into ``out``. The client gathers each file's class report into
``project-report.csv``, the table ``chipscope segment`` writes for the same files in the same
order. A frame series' frames are segmented as tasks of their own, on any worker, and the
client writes the series' fractions table and chart from them, the files ``chipscope segment``
writes for it. A file is skipped when ``out`` already holds its results for the same input bytes and
session (its ``STEM.chipscope.json`` record, written after its files), so a run that stopped
part-way is resumed by running it again. A file that fails is recorded with its error and the
others go on.

The workers must see the files, the session and ``out`` at the same paths (a shared file
system on a cluster). Dask is only needed here: ``pip install "dask[distributed]"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ._chipscope import (
    ChipscopeError,
    Segmenter,
    file_sha256,
    project_report,
    series_frames,
    write_fractions,
)

PathLike = Union[str, "os.PathLike[str]"]

#: The project report the client writes when two or more single images were segmented.
PROJECT_REPORT = "project-report.csv"

#: The suffix of each file's record, written once its results are complete.
RECORD_SUFFIX = ".chipscope.json"

# One Segmenter per worker process and set of options: the weights are loaded and the
# prototypes learned once, not per file.
_segmenters: Dict[Tuple, Segmenter] = {}
_segmenters_lock = threading.Lock()


def _segmenter(options: Tuple, images: Sequence[str]) -> Segmenter:
    with _segmenters_lock:
        segmenter = _segmenters.get(options)
        if segmenter is None:
            # options name the batch's files by a digest; `images` is the list itself.
            session, out, _, labelled, encoder, chip_px, each_frame, _ = options
            segmenter = Segmenter(
                session,
                out=out,
                images=list(images),
                labelled=labelled,
                encoder=encoder,
                chip_px=chip_px,
                each_frame=each_frame,
            )
            _segmenters[options] = segmenter
        return segmenter


def _segment_one(
    path: str, stem: str, options: Tuple, images: Sequence[str], resume: bool, split: bool
) -> Dict[str, Any]:
    """One task: the file's results, from its record when it is already done. With ``split``, a
    frame series is not segmented here: its frame count comes back (``status`` "series") for
    the client to segment its frames as tasks of their own."""
    out = Path(options[1])
    session_sha256 = options[-1]
    record = out / (stem + RECORD_SUFFIX)
    try:
        file_hash = file_sha256(path)
        if resume and record.is_file():
            done = json.loads(record.read_text())
            if done.get("sha256") == file_hash and done.get("session_sha256") == session_sha256:
                return dict(done["result"], status="skipped")
        frames = series_frames(path) if split else None
        if frames is not None:
            series = {"file": path, "stem": stem, "frames": frames, "sha256": file_hash}
            return dict(series, status="series")
        result = _segmenter(options, images).segment_file(path, stem=stem)
    except (ChipscopeError, OSError) as error:
        return _failed(path, stem, error)
    return _finish(dict(result, file=path), record, file_hash, session_sha256)


def _failed(path: str, stem: str, error: Exception) -> Dict[str, Any]:
    return {"file": path, "stem": stem, "status": "failed", "error": str(error)}


def _finish(
    result: Dict[str, Any], record: Path, file_hash: str, session_sha256: str
) -> Dict[str, Any]:
    """Writes the file's record (atomically, after its results) and returns its result."""
    text = json.dumps({"sha256": file_hash, "session_sha256": session_sha256, "result": result})
    partial = record.with_name(record.name + ".partial")
    partial.write_text(text)
    partial.replace(record)
    return dict(result, status="segmented")


def _segment_frame(
    path: str, index: int, stem: str, options: Tuple, images: Sequence[str]
) -> Dict[str, Any]:
    """One task: frame ``index`` of a series, or its error."""
    try:
        return _segmenter(options, images).segment_frame(path, index, stem=stem)
    except (ChipscopeError, OSError) as error:
        return {"index": index, "error": f"{stem} frame {index + 1}: {error}"}


def _finish_series(
    series: Dict[str, Any], frames: List[Dict[str, Any]], options: Tuple
) -> Dict[str, Any]:
    """A series whose frames were segmented apart: its fractions table and chart written, as
    ``chipscope segment`` writes them, then its record."""
    path, stem, out = series["file"], series["stem"], Path(options[1])
    segmented = [frame for frame in frames if "error" not in frame]
    errors = [frame["error"] for frame in frames if "error" in frame]
    try:
        fractions = write_fractions(out, stem, segmented)
    except (ChipscopeError, OSError) as error:
        return dict(_failed(path, stem, error), frame_errors=errors)
    result = {
        "file": path,
        "stem": stem,
        "kind": "series",
        "frames": series["frames"],
        "failed": len(frames) - len(segmented),
        "fractions": fractions,
    }
    record = out / (stem + RECORD_SUFFIX)
    return dict(_finish(result, record, series["sha256"], options[-1]), frame_errors=errors)


def _stems(paths: Sequence[str]) -> List[str]:
    """Each file's output stem, refusing two files that would write the same results."""
    stems: Dict[str, str] = {}
    for path in paths:
        stem = Path(path).stem
        if stem in stems:
            raise ChipscopeError(
                f"{stems[stem]} and {path} would both write {stem}.csv and the other results; "
                "rename one or segment them into different out folders"
            )
        stems[stem] = path
    return list(stems)


def segment_files(
    paths: Sequence[PathLike],
    session: PathLike,
    out: PathLike,
    *,
    client: Any = None,
    labelled: Optional[PathLike] = None,
    encoder: Optional[PathLike] = None,
    chip_px: bool = False,
    each_frame: bool = False,
    resume: bool = True,
) -> List[Dict[str, Any]]:
    """Segments every file of ``paths`` with ``session``, one Dask task per file and one per
    frame of a frame series.

    ``client`` is a ``dask.distributed.Client``; by default the current one, and without one
    the files are segmented in this process. ``labelled``, ``encoder``, ``chip_px`` and
    ``each_frame`` are ``chipscope segment``'s options of the same names. With ``resume`` (the
    default), files whose results ``out`` already holds for the same bytes and session are
    skipped.

    Returns one dict per file, in order: ``segment_file``'s result with ``status``
    ("segmented", "skipped") or, for a file that failed, ``status`` "failed" and ``error``. A
    series segmented frame by frame also has ``frame_errors``, the failed frames' errors.
    Writes ``project-report.csv`` into ``out`` when two or more single images were segmented.
    """
    paths = [os.fspath(path) for path in paths]
    stems = _stems(paths)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    session_path = os.fspath(session)
    session_sha256 = file_sha256(session_path) if Path(session_path).is_file() else session_path
    options = (
        session_path,
        os.fspath(out_dir),
        hashlib.sha256("\n".join(paths).encode()).hexdigest(),
        None if labelled is None else os.fspath(labelled),
        None if encoder is None else os.fspath(encoder),
        chip_px,
        each_frame,
        session_sha256,
    )
    if client is None:
        client = _default_client()
    if client is None:
        results = [
            _segment_one(p, s, options, paths, resume, split=False) for p, s in zip(paths, stems)
        ]
    else:
        results = _on_cluster(client, paths, stems, options, resume)
    images = [(Path(r["file"]).name, r["report"]) for r in results if r.get("kind") == "image"]
    if len(images) >= 2:
        (out_dir / PROJECT_REPORT).write_text(project_report(images))
    return results


def _on_cluster(
    client: Any, paths: List[str], stems: List[str], options: Tuple, resume: bool
) -> List[Dict[str, Any]]:
    """Each file's result, segmented on ``client``'s workers: a task per file, and a task per
    frame of each series, mapped as soon as its file's task finds it is one."""
    from distributed import as_completed

    # The file list goes to each worker once, not inside every task (10⁵ tasks would
    # otherwise carry 10⁵ paths each).
    [images] = client.scatter([paths], broadcast=True)
    futures = client.map(
        _segment_one, paths, stems, options=options, images=images, resume=resume, split=True,
        pure=False,
    )
    place = {future.key: i for i, future in enumerate(futures)}
    results: List[Dict[str, Any]] = [{} for _ in paths]
    series = []
    for future in as_completed(futures):
        i = place[future.key]
        results[i] = future.result()
        if results[i]["status"] == "series":
            frames = range(results[i]["frames"])
            frame_futures = client.map(
                _segment_frame, [paths[i]] * len(frames), frames, stem=stems[i],
                options=options, images=images, pure=False,
            )
            series.append((i, frame_futures))
    for i, frame_futures in series:
        results[i] = _finish_series(results[i], client.gather(frame_futures), options)
    return results


def _default_client() -> Any:
    """The current ``dask.distributed`` client, if there is one."""
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:
        return None
