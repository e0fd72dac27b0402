#!/usr/bin/env bash
# Benchmarks chip embedding natively: Chipscope (burn's Flex and ndarray CPU backends, all cores)
# beside PyTorch on the CPU, on the same chips of a real STEM image, in one run on this machine.
# Prints chips/s for each and the ratio to PyTorch, for ResNet-50 and MobileNetV2.
#
#   bash scripts/bench-encoders.sh [--chips 64] [--chip-size 64] [--batch 16]
#
# Needs PyTorch: a virtual environment with the CPU wheels is made once in
# ~/.cache/chipscope/py/venv (a large download; not part of the tests).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
chips=64 chip_size=64 batch=16
while [ $# -gt 0 ]; do
    case "$1" in
        --chips) chips=$2; shift 2 ;;
        --chip-size) chip_size=$2; shift 2 ;;
        --batch) batch=$2; shift 2 ;;
        *) echo "usage: $0 [--chips N] [--chip-size N] [--batch N]" >&2; exit 2 ;;
    esac
done

venv="$HOME/.cache/chipscope/py/venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, torchvision, ncempy' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch torchvision numpy safetensors ncempy
fi
bash scripts/fetch-testdata.sh
image="$CHIPSCOPE_TESTDATA/hyperspy/dm3_2D_data/multi_signal.dm3"
cargo build --quiet --profile native -p chipscope-bench

results=$(mktemp)
trap 'rm -f "$results"' EXIT
"$CARGO_TARGET_DIR/native/chipscope-bench" encoders "$image" --chips "$chips" --chip-size "$chip_size" --batch "$batch" | tee -a "$results"
"$venv/bin/python" scripts/weights/bench_torch.py --chips "$chips" --chip-size "$chip_size" --batch "$batch" | tee -a "$results"

python3 - "$results" <<'EOF'
import json, os, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
print(f"\n{len(rows) and rows[0]['chips']} chips of a real 512 x 512 STEM image, {os.cpu_count()} cores")
print(f"{'encoder':<14}{'implementation':<20}{'threads':>8}{'chips/s':>10}{'vs PyTorch':>12}")
for encoder in ("resnet50", "mobilenet_v2"):
    torch = next((r for r in rows if r["encoder"] == encoder and r["impl"] == "pytorch"), None)
    for r in (r for r in rows if r["encoder"] == encoder):
        ratio = f"{r['chips_per_s'] / torch['chips_per_s']:.2f}x" if torch else "-"
        print(f"{encoder:<14}{r['impl']:<20}{r['threads']:>8}{r['chips_per_s']:>10.2f}{ratio:>12}")
EOF
