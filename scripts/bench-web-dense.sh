#!/usr/bin/env bash
# Benchmarks dense embeddings in the page: the time from the first support click to the first
# segmentation on simulated 512², 1024² and 2048² images at 32-px chips, dense against per chip,
# in headless Chromium on the WebAssembly CPU (and WebGPU unless --cpu-only), beside PyTorch
# computing the same dense map on the same images in the same run. Prints a table.
#
#   bash scripts/bench-web-dense.sh [--sizes 512,1024,2048] [--chip 32]
#        [--encoders mobilenet_v2,resnet50] [--cpu-only] [--per-chip-seconds 60]
#
# Needs PyTorch: a virtual environment with the CPU wheels is made once in
# ~/.cache/chipscope/py/venv (a large download; not part of the tests).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
sizes=512,1024,2048 chip=32 encoders=mobilenet_v2,resnet50
page_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) sizes=$2; shift 2 ;;
        --chip) chip=$2; shift 2 ;;
        --encoders) encoders=$2; shift 2 ;;
        --cpu-only) page_args+=(--cpu-only); shift ;;
        --per-chip-seconds) page_args+=(--per-chip-seconds "$2"); shift 2 ;;
        *) echo "usage: $0 [--sizes A,B] [--chip N] [--encoders A,B] [--cpu-only] [--per-chip-seconds S]" >&2; exit 2 ;;
    esac
done
bash scripts/setup.sh --browser
venv="$HOME/.cache/chipscope/py/venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, torchvision, safetensors, PIL' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch torchvision numpy safetensors pillow
fi
cargo build --quiet --release -p chipscope-cli
bash scripts/build-web.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$CARGO_TARGET_DIR/release/chipscope" simulate --size 256 --seed 2 --out "$work/heterostructure_warmup.tif" >/dev/null
for size in ${sizes//,/ }; do
    "$CARGO_TARGET_DIR/release/chipscope" simulate --size "$size" --out "$work/heterostructure_$size.tif" >/dev/null
    # PyTorch reads the same pixels as .npy.
    "$venv/bin/python" -c 'import sys, numpy as np; from PIL import Image
np.save(sys.argv[2], np.asarray(Image.open(sys.argv[1]), dtype=np.float32))' \
        "$work/heterostructure_$size.tif" "$work/heterostructure_$size.npy"
done
node tests/bench/web-dense.mjs dist "$work" --sizes "$sizes" --chip "$chip" --encoders "$encoders" \
    ${page_args[@]+"${page_args[@]}"} | tee "$work/results.jsonl"
"$venv/bin/python" scripts/weights/bench_torch_dense.py --sizes "$sizes" --chip "$chip" \
    --encoders "$encoders" --runs 3 --images "$work" | tee -a "$work/results.jsonl"
python3 - "$work/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
torch = {(r["encoder"], r["size"]): r["seconds"] for r in rows if r.get("impl") == "pytorch"}
page = {(r["path"], r["encoder"], r["size"], r["mode"]): r for r in rows if r.get("impl") == "page"}
print(f"\nfirst click to first segmentation, {rows[0]['chip']}-px chips (s; ~ extrapolated from chips/s)")
print(f"{'path':8}{'encoder':14}{'size':>6}{'dense':>9}{'per chip':>11}{'speed-up':>10}{'PyTorch dense':>15}{'ours÷PyTorch':>14}")
for (path, encoder, size, mode), r in sorted(page.items()):
    if mode != "dense":
        continue
    per_chip = page.get((path, encoder, size, "per_chip"))
    ref = torch.get((encoder, size))
    slow = f"~{per_chip['seconds']:.0f}" if per_chip else "-"
    gain = f"{per_chip['seconds'] / r['seconds']:.1f}×" if per_chip else "-"
    ratio = f"{r['seconds'] / ref:.1f}×" if ref else "-"
    print(f"{path:8}{encoder:14}{size:>6}{r['seconds']:>9.1f}{slow:>11}{gain:>10}{(ref or 0):>15.2f}{ratio:>14}")
PY
