"""Images per second: chipscope.dask.segment_files on 1 and 2 Dask worker processes, beside
`chipscope segment` looping over the same files in one process (the reference), on the same
cores in the same run. Each configuration runs --runs times; medians are printed, and each
worker's encoder load is counted in (the per-worker Segmenters are dropped before every run).

    python bench_batch.py --cli PATH/TO/chipscope --session SESSION.json [--images 8] [--dense]

--dense runs the session in the dense embedding mode (MobileNetV2 features.6 at ×2, the
page's default) instead of the mode it records.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import distributed

import chipscope.dask
from chipscope.dask import segment_files


def simulate(cli: str, folder: Path, count: int, size: int):
    paths = []
    for seed in range(1, count + 1):
        path = folder / f"scan{seed:03}.tif"
        subprocess.run([cli, "simulate", "--out", path, "--size", str(size), "--seed", str(seed)],
                       check=True, capture_output=True)
        paths.append(path)
    return paths


def time_cli(cli: str, files, session: str, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([cli, "segment", *map(str, files), "--session", session, "--out", str(out)],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def forget_segmenters():
    chipscope.dask._segmenters.clear()


def time_dask(client, files, session: str, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    client.run(forget_segmenters)
    start = time.perf_counter()
    results = segment_files(files, session, out, client=client, resume=False)
    elapsed = time.perf_counter() - start
    failed = [r for r in results if r["status"] != "segmented"]
    assert not failed, failed
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cli", required=True)
    parser.add_argument("--session", required=True)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dense", action="store_true")
    args = parser.parse_args()
    cores = os.cpu_count() or 1

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if args.dense:
            session = json.loads(Path(args.session).read_text())
            session["encoder"]["mode"] = {"kind": "dense", "stage": "features.6", "scale": 2}
            args.session = str(scratch / "dense-session.json")
            Path(args.session).write_text(json.dumps(session))
        files = simulate(args.cli, scratch, args.images, args.size)
        rows = []
        cli = [time_cli(args.cli, files, args.session, scratch / "cli") for _ in range(args.runs)]
        rows.append((f"chipscope segment, 1 process × {cores} threads (reference)", cli))
        for workers in (1, 2):
            threads = max(1, cores // workers)
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None, env={"RAYON_NUM_THREADS": str(threads)},
            )
            with distributed.Client(cluster) as client:
                times = [time_dask(client, files, args.session, scratch / "dask")
                         for _ in range(args.runs)]
            cluster.close()
            rows.append((f"chipscope.dask, {workers} worker(s) × {threads} threads", times))

    reference = statistics.median(rows[0][1])
    mode = "dense (features.6 ×2)" if args.dense else "as the session records"
    print(f"{args.images} images of {args.size}², embedded {mode}, {cores} cores, "
          f"median of {args.runs} runs (min–max)")
    for name, times in rows:
        median = statistics.median(times)
        print(f"  {name:55} {args.images / median:6.2f} images/s  "
              f"({min(times):.1f}–{max(times):.1f} s)  ×{reference / median:.2f} of the CLI")


if __name__ == "__main__":
    main()
