"""A session applied to many files on a Dask cluster: one task per file.

Each worker process loads the session's encoder and learns its prototypes once (the first
task it runs), then segments every file it is given with them, writing the same files as
``chipscope segment`` into ``out``. The client gathers each file's class report into
``project-report.csv``, the table ``chipscope segment`` writes for the same files in the same
order. A file is skipped when ``out`` already holds its results for the same input bytes and
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

from ._chipscope import ChipscopeError, Segmenter, file_sha256, project_report

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
    path: str, stem: str, options: Tuple, images: Sequence[str], resume: bool
) -> Dict[str, Any]:
    """One task: the file's results, from its record when it is already done."""
    out = Path(options[1])
    session_sha256 = options[-1]
    record = out / (stem + RECORD_SUFFIX)
    try:
        file_hash = file_sha256(path)
        if resume and record.is_file():
            done = json.loads(record.read_text())
            if done.get("sha256") == file_hash and done.get("session_sha256") == session_sha256:
                return dict(done["result"], status="skipped")
        result = _segmenter(options, images).segment_file(path, stem=stem)
    except (ChipscopeError, OSError) as error:
        return {"file": path, "stem": stem, "status": "failed", "error": str(error)}
    result["file"] = path
    text = json.dumps({"sha256": file_hash, "session_sha256": session_sha256, "result": result})
    partial = record.with_name(record.name + ".partial")
    partial.write_text(text)
    partial.replace(record)
    return dict(result, status="segmented")


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
    """Segments every file of ``paths`` with ``session``, one Dask task per file.

    ``client`` is a ``dask.distributed.Client``; by default the current one, and without one
    the files are segmented in this process. ``labelled``, ``encoder``, ``chip_px`` and
    ``each_frame`` are ``chipscope segment``'s options of the same names. With ``resume`` (the
    default), files whose results ``out`` already holds for the same bytes and session are
    skipped.

    Returns one dict per file, in order: ``segment_file``'s result with ``status``
    ("segmented", "skipped") or, for a file that failed, ``status`` "failed" and ``error``.
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
        results = [_segment_one(p, s, options, paths, resume) for p, s in zip(paths, stems)]
    else:
        # The file list goes to each worker once, not inside every task (10⁵ tasks would
        # otherwise carry 10⁵ paths each).
        [images] = client.scatter([paths], broadcast=True)
        futures = client.map(
            _segment_one,
            paths,
            stems,
            options=options,
            images=images,
            resume=resume,
            pure=False,
        )
        results = client.gather(futures)
    images = [(Path(r["file"]).name, r["report"]) for r in results if r.get("kind") == "image"]
    if len(images) >= 2:
        (out_dir / PROJECT_REPORT).write_text(project_report(images))
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
