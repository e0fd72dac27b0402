#!/usr/bin/env bash
# Benchmarks live classification: how long the first nearest-prototype classification of every
# chip takes and how long one click (an added support) takes to reclassify them all, natively
# (`chipscope-bench classify`), in NumPy/SciPy as a straightforward program does it
# (scripts/bench_classify.py) and in headless Chromium (tests/bench/web-classify.mjs) on a
# release build of the page with its benchmark hook (`trunk build --release --features bench`,
# into $CARGO_TARGET_DIR/bench-dist so the site in dist/ stays without it). Prints a table with
# whether a click fits one 16 ms frame. `--no-page` skips the page (and its build).
#
#   bash scripts/bench-classify.sh [--chips 10000] [--dim 2048] [--classes 5] [--supports 5] [--clicks 21] [--no-page]
#
# Needs NumPy and SciPy: a virtual environment is made once in ~/.cache/chipscope/py/venv.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
sizes=()
page=yes
while [ $# -gt 0 ]; do
    case "$1" in
        --chips|--dim|--classes|--supports|--clicks) sizes+=("$1" "$2"); shift 2 ;;
        --no-page) page=no; shift ;;
        *) echo "usage: $0 [--chips N] [--dim N] [--classes N] [--supports N] [--clicks N] [--no-page]" >&2; exit 2 ;;
    esac
done

venv="$HOME/.cache/chipscope/py/venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import numpy, scipy' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet numpy scipy
fi
cargo build --quiet --profile native -p chipscope-bench

results=$(mktemp)
trap 'rm -f "$results"' EXIT
"$CARGO_TARGET_DIR/native/chipscope-bench" classify "${sizes[@]}" | tee -a "$results"
"$venv/bin/python" scripts/bench_classify.py "${sizes[@]}" | tee -a "$results"
if [ "$page" = yes ]; then
    bash scripts/setup.sh --browser
    bench_dist="$CARGO_TARGET_DIR/bench-dist"
    trunk build --release --features bench --dist "$bench_dist"
    node tests/bench/web-classify.mjs "$bench_dist" "${sizes[@]}" | tee -a "$results"
fi

python3 - "$results" <<'EOF'
import json, os, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
r = rows[0]
print(f"\n{r['chips']} chips x {r['dim']}-d embeddings, {r['classes']} classes of {r['supports']} supports, {os.cpu_count()} cores")
print(f"{'implementation':<20}{'first (ms)':>12}{'per click (ms)':>16}  fits one 16 ms frame?")
for r in rows:
    fits = "yes" if r["click_ms"] < 16 else "no"
    print(f"{r['impl']:<20}{r['first_ms']:>12.2f}{r['click_ms']:>16.2f}  {fits}")
EOF
