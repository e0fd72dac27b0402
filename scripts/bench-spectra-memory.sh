#!/usr/bin/env bash
# Memory of reading a 512 × 512 × 4096 JEOL .pts spectrum image at realistic count rates:
# chipscope-bench writes synthetic .pts files (the real JEOL sample's header, one frame of Poisson
# X-ray events per pixel), reads each back natively (energy channels unbinned and binned by 4)
# with the sparse map's size and the heap's peak, then each file is read again by a whole
# `chipscope spectra` process and by rosettasciio 0.15, both under GNU time for their peak RSS.
#   bash scripts/bench-spectra-memory.sh [--counts 1,10,100] [--seed 1] [--template FILE.pts]
# Needs rosettasciio and numba in ~/.cache/chipscope/py/venv, the JEOL sample in
# $CHIPSCOPE_TESTDATA (scripts/fetch-testdata.sh) and /usr/bin/time.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python="$HOME/.cache/chipscope/py/venv/bin/python"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --quiet --profile native -p chipscope-cli -p chipscope-bench
chipscope="$CARGO_TARGET_DIR/native/chipscope"
"$CARGO_TARGET_DIR/native/chipscope-bench" spectra-memory "$@" --out "$work" | tee "$work/bench.jsonl"
echo
"$python" scripts/bench_spectra_memory.py "$work/bench.jsonl" "$chipscope"
