#!/usr/bin/env bash
# Images per second of chipscope.dask.segment_files on 1 and 2 worker processes beside
# `chipscope segment` on the same files, both built optimised (the wheel and the CLI in the
# `native` profile): crates/python/bench/bench_batch.py, with the example's per-chip session and
# again in the dense mode. Arguments go to it (--images N, --runs N).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python="${PYTHON:-python3}"
cache="$HOME/.cache/chipscope/python"
bash scripts/python.sh --release
cargo build --quiet --profile native -p chipscope-cli
rm -rf "$cache/bench-venv"
"$python" -m venv "$cache/bench-venv"
"$cache/bench-venv/bin/pip" install --quiet "$cache"/wheels/release/chipscope-*.whl "dask[distributed]>=2024.1"
for mode in "" --dense; do
    "$cache/bench-venv/bin/python" crates/python/bench/bench_batch.py $mode \
        --cli "$CARGO_TARGET_DIR/native/chipscope" \
        --session tests/fixtures/dense/example_per_chip_v4_session.json "$@"
done
