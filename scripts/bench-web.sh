#!/usr/bin/env bash
# Benchmarks embedding in the browser against PyTorch on the same machine, in one run: the
# release site as shipped (the threaded CPU build on all cores, and its one-thread build), and
# `--scalar` adds a build without SIMD128 kernels; each measured in headless Chromium on the CPU
# (Chipscope's kernels, and burn's Flex and ndarray backends) and on WebGPU, embedding chips of a
# real STEM image, then PyTorch with the same number of threads on the same chips. Prints chips/s
# and the ratios.
#
#   bash scripts/bench-web.sh [--cpu-only] [--cpu=kernels,flex] [--mobilenet-only] [--scalar]
#
# --cpu-only skips WebGPU (SwiftShader, without a GPU, is slow); --cpu= lists the CPU paths
# (default kernels,flex,ndarray); --mobilenet-only skips ResNet-50. The scalar build uses its own target directory ($CARGO_TARGET_DIR-scalar).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash scripts/setup.sh --browser
bash scripts/fetch-testdata.sh

options=() builds=()
for argument in "$@"; do
    case "$argument" in
        --scalar) scalar="$CARGO_TARGET_DIR-scalar" ;;
        *) options+=("$argument") ;;
    esac
done
bash scripts/build-web.sh
builds+=("all-cores=dist" "one-thread=dist@threads=1")
if [ -n "${scalar:-}" ]; then
    CARGO_TARGET_DIR="$scalar" trunk build --release --no-default-features --features webgpu \
        --dist "$scalar/dist"
    builds+=("scalar-one-thread=$scalar/dist@threads=1")
fi

results=$(mktemp)
trap 'rm -f "$results"' EXIT
node tests/bench/web-encoders.mjs "${options[@]}" "${builds[@]}" | tee "$results"

venv="$HOME/.cache/chipscope/py/venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, torchvision, ncempy' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch torchvision numpy safetensors ncempy
fi
# The page's chips: ResNet-50 16 chips of 128 px, MobileNetV2 64 of 64 px (all resized to 224²).
for threads in $(python3 -c "import json,sys; print(' '.join(sorted({str(json.loads(l)['threads']) for l in open(sys.argv[1]) if l.startswith('{')})))" "$results"); do
    "$venv/bin/python" scripts/weights/bench_torch.py --encoder resnet50 --chips 16 --chip-size 128 --threads "$threads" | tee -a "$results"
    "$venv/bin/python" scripts/weights/bench_torch.py --encoder mobilenet_v2 --chips 64 --chip-size 64 --threads "$threads" | tee -a "$results"
done

python3 - "$results" <<'PYTHON'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
torch = {(r["encoder"], r["threads"]): r["chips_per_s"] for r in rows if r["impl"] == "pytorch"}
print(f"\n{'build':<20}{'path':<16}{'threads':>8}{'ResNet-50':>16}{'MobileNetV2':>16}   (chips/s, × PyTorch with as many threads)")
for r in (r for r in rows if r["impl"] == "page"):
    cells = []
    for encoder in ("resnet50", "mobilenet_v2"):
        reference = torch.get((encoder, r["threads"]))
        if encoder not in r:
            cells.append("-")
            continue
        ratio = f"{r[encoder] / reference:.2f}x" if reference else "-"
        cells.append(f"{r[encoder]:>8.2f} {ratio:>7}")
    print(f"{r['build']:<20}{r['path']:<16}{r['threads']:>8}{cells[0]:>16}{cells[1]:>16}")
for (encoder, threads), value in sorted(torch.items()):
    print(f"PyTorch {encoder} on {threads} thread(s): {value:.2f} chips/s")
PYTHON
