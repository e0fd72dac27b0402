#!/usr/bin/env bash
# Benchmarks atom-column finding on a 1024 x 1024 synthetic lattice of about 10 000 columns with
# known positions (scripts/bench_atoms.py generate): `chipscope atoms` natively, beside the
# Python reference on the same image in the same run (scikit-image blob_log detection, then
# Atomap 0.4.2's centre-of-mass and 2-D Gaussian refinement of those blobs). Prints one table of
# columns found, precision, recall, mean position error against the truth, and seconds.
#
#   bash scripts/bench-atoms.sh [--atomap-subset N]
#
# Atomap fits each column with HyperSpy, about 20 ms a column here, so refining all of them
# takes 3-4 minutes on 2 cores; --atomap-subset N refines only N columns spread over the image
# and extrapolates Atomap's time to all (said in the printout).
# Needs the venv ~/.cache/chipscope/py/venv with scikit-image, tifffile and atomap==0.4.2.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
subset=0
while [ $# -gt 0 ]; do
    case "$1" in
        --atomap-subset) subset="$2"; shift 2 ;;
        *) echo "usage: $0 [--atomap-subset N]" >&2; exit 2 ;;
    esac
done

python="$HOME/.cache/chipscope/py/venv/bin/python"
if ! "$python" -c 'import atomap, skimage, tifffile' 2>/dev/null; then
    echo "needs atomap, scikit-image and tifffile in $python:" >&2
    echo "  $HOME/.cache/chipscope/py/venv/bin/pip install atomap==0.4.2 scikit-image tifffile" >&2
    exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$python" scripts/bench_atoms.py generate "$work"
cargo build --quiet --profile native -p chipscope-cli
spacing=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["spacing"])' "$work/meta.json")
started=$(date +%s%N)
"$CARGO_TARGET_DIR/native/chipscope" atoms "$work/image.tif" --out "$work/ours.csv" --spacing "$spacing" | tee "$work/ours.txt"
wall="$(( ($(date +%s%N) - started) / 1000000 ))e-3"  # ms, as a float Python reads
# "N columns (...) in S s; spacing ..."
seconds=$(sed -n 's/.* in \([0-9.]*\) s; spacing.*/\1/p' "$work/ours.txt")

"$python" scripts/bench_atoms.py reference "$work" --atomap-subset "$subset"
"$python" scripts/bench_atoms.py table "$work" --ours-seconds "$seconds" --ours-wall "$wall"
