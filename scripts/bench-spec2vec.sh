#!/usr/bin/env bash
# spec2vec training speed: chipscope's word2vec (native, one thread) beside gensim's (one
# worker) on the same chip documents of a synthetic EDS map, in the same run.
#   bash scripts/bench-spec2vec.sh [--size 512] [--chip 16]
# Needs gensim in ~/.cache/chipscope/py/venv (pip install gensim).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python="$HOME/.cache/chipscope/py/venv/bin/python"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo build --quiet --profile native -p chipscope-bench
"$CARGO_TARGET_DIR/native/chipscope-bench" spec2vec "$@" --out "$work/documents.json"
"$python" scripts/bench_spec2vec.py "$work/documents.json"
