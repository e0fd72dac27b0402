"""Peak memory of reading the synthetic JEOL .pts files of `chipscope-bench spectra-memory`:
chipscope's numbers from the bench's JSON lines, the peak RSS of a whole `chipscope spectra`
process, and rosettasciio 0.15's reader (`rsciio.jeol.file_reader`, which fills a dense
height x width x channels integer cube) timed and measured in a process of its own.

    python scripts/bench_spectra_memory.py BENCH.jsonl CHIPSCOPE_BINARY
    python scripts/bench_spectra_memory.py --read FILE.pts BIN DTYPE   (one rosettasciio read)

Peak RSS is GNU time's maximum resident set size (`/usr/bin/time -f %M`) of each process."""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

TIME = "/usr/bin/time"


def read_one(path, bin_, dtype):
    """Child process: one rosettasciio read; prints its time, total counts and the RSS the
    interpreter held before it (imports of NumPy, rosettasciio and numba)."""
    import numpy as np
    from rsciio.jeol import file_reader

    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    signals = file_reader(path, rebin_energy=bin_, SI_dtype=np.dtype(dtype))
    read_s = time.perf_counter() - started
    cube = signals[0]["data"]
    total = int(cube.sum(dtype=np.uint64))
    print(json.dumps({"read_s": read_s, "total": total, "shape": list(cube.shape),
                      "before_mb": before_kb / 1e3}))


def peak_rss(command):
    """Runs `command` under GNU time; its stdout and the peak RSS in MB."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        run = subprocess.run([TIME, "-f", "%M", "-o", report.name, *command],
                             capture_output=True, text=True)
        if run.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{run.stderr}")
        kb = int(report.read().split()[-1])
    return run.stdout, kb / 1e3


def dtype_for(max_count):
    """The smallest integer type rosettasciio accepts (it refuses a cube whose count reaches
    the type's maximum)."""
    for dtype, limit in (("uint8", 255), ("uint16", 65535)):
        if max_count < limit:
            return dtype
    return "uint32"


def rsciio_read(path, bin_, dtype):
    out, rss = peak_rss([sys.executable, __file__, "--read", path, str(bin_), dtype])
    return json.loads(out.strip().splitlines()[-1]), rss


def table(bench_path, chipscope):
    rows = [json.loads(line) for line in open(bench_path) if line.startswith("{")]
    # numba compiles (then caches on disk) the reader once per cube type: do that untimed.
    smallest = min(rows, key=lambda r: r["file_mb"])["file"]
    for dtype in sorted({dtype_for(r["max_count"]) for r in rows}):
        rsciio_read(smallest, 1, dtype)
    header = ["file", "counts/px", "bin", "file MB", "dense f32 MB",
              "ours read s", "sparse MB", "peak heap MB", "peak RSS MB",
              "rsciio dtype", "rsciio read s", "rsciio peak RSS MB"]
    lines = []
    before = None
    for r in rows:
        _, ours_rss = peak_rss([chipscope, "spectra", r["file"], "--bin", str(r["bin"])])
        dtype = dtype_for(r["max_count"])
        theirs, theirs_rss = rsciio_read(r["file"], r["bin"], dtype)
        if theirs["total"] != r["events"]:
            sys.exit(f"rosettasciio read {theirs['total']} counts from {r['file']} "
                     f"(bin {r['bin']}), the bench wrote {r['events']}")
        before = theirs["before_mb"]
        lines.append([os.path.basename(r["file"]), f"{r['counts_per_px']:g}", str(r["bin"]),
                      f"{r['file_mb']:.1f}", f"{r['dense_f32_mb']:.0f}",
                      f"{r['read_s']:.3f}", f"{r['sparse_mb']:.1f}",
                      f"{r['peak_heap_mb']:.1f}", f"{ours_rss:.0f}",
                      dtype, f"{theirs['read_s']:.3f}", f"{theirs_rss:.0f}"])
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]

    def fmt(row):
        return "| " + " | ".join(c.rjust(w) for c, w in zip(row, widths)) + " |"

    print(fmt(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in lines:
        print(fmt(row))
    print(f"\nours: read s, sparse MB and peak heap MB (peak of the heap during the read, over "
          f"what was held before it; the file's bytes, read before, are not in it) come from "
          f"the bench process; peak RSS MB is a whole `chipscope spectra FILE --bin N` process "
          f"(file bytes + heap peak + program). rosettasciio: the whole process, of which "
          f"{before:.0f} MB were held before reading (Python, NumPy, rosettasciio, numba). "
          f"Every read's total counts equal the events written (both readers checked).")


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--read":
        read_one(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 3:
        table(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
