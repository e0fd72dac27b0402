#!/usr/bin/env bash
# Benchmarks dense embeddings natively: the time to embed every chip of simulated 512², 1024² and
# 2048² images with Chipscope's dense pass (the trunk once over the enlarged image, in windows,
# chips pooled from the map) and with the per-chip pass (every chip resized to 224²), on
# Chipscope's CPU kernels, and the dense pass on burn's Flex CPU backend (what ran before the
# kernels), beside PyTorch computing the same dense map (one pass, same stage and scale) on the
# same images, in one run on this machine. Prints a table: our dense and per-chip seconds, the
# dense speed-up, PyTorch's dense seconds and our ratio to it.
#
#   bash scripts/bench-dense.sh [--sizes 512,1024,2048] [--chip 32] [--encoders mobilenet_v2,resnet50]
#                               [--stage ENCODER=STAGE]... [--scale ENCODER=S]... [--runs 3]
#                               [--per-chip-max 1024] [--per-chip-sample 64] [--single-pass]
#
# Stages and scales default to the core's DenseSettings::recommended. Per-chip times every chip
# of images with at most --per-chip-max chips and extrapolates from --per-chip-sample chips on
# larger ones (marked "~" in the table). Needs PyTorch: a virtual environment with the CPU wheels
# is made once in ~/.cache/chipscope/py/venv (a large download; not part of the tests).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
sizes=512,1024,2048 chip=32 encoders=mobilenet_v2,resnet50 runs=3 per_chip_max=1024 per_chip_sample=64
settings=() extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) sizes=$2; shift 2 ;;
        --chip) chip=$2; shift 2 ;;
        --encoders) encoders=$2; shift 2 ;;
        --stage|--scale) settings+=("$1" "$2"); shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --per-chip-max) per_chip_max=$2; shift 2 ;;
        --per-chip-sample) per_chip_sample=$2; shift 2 ;;
        --single-pass) extra+=(--single-pass); shift ;;
        *) echo "usage: $0 [--sizes A,B] [--chip N] [--encoders A,B] [--stage E=S]... [--scale E=S]... [--runs N] [--per-chip-max N] [--per-chip-sample N] [--single-pass]" >&2; exit 2 ;;
    esac
done

venv="$HOME/.cache/chipscope/py/venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, torchvision, safetensors' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet torch torchvision numpy safetensors ncempy
fi
cargo build --quiet --profile native -p chipscope-bench

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$CARGO_TARGET_DIR/native/chipscope-bench" dense --sizes "$sizes" --chip "$chip" --encoders "$encoders" \
    --runs "$runs" --per-chip-max "$per_chip_max" --per-chip-sample "$per_chip_sample" \
    --save-images "$work" ${settings[@]+"${settings[@]}"} ${extra[@]+"${extra[@]}"} | tee -a "$work/results.jsonl"
"$CARGO_TARGET_DIR/native/chipscope-bench" dense --sizes "$sizes" --chip "$chip" --encoders "$encoders" \
    --runs "$runs" --backend flex --no-per-chip ${settings[@]+"${settings[@]}"} | tee -a "$work/results.jsonl"
# PyTorch gets the stage and scale Chipscope used for each encoder.
torch_settings=$(python3 - "$work/results.jsonl" <<'EOF'
import json, sys
seen = {}
for line in open(sys.argv[1]):
    if line.startswith("{"):
        r = json.loads(line)
        seen[r["encoder"]] = (r["stage"], r["scale"])
print(" ".join(f"--stage {e}={st} --scale {e}={sc}" for e, (st, sc) in seen.items()))
EOF
)
# shellcheck disable=SC2086  # the settings are words
"$venv/bin/python" scripts/weights/bench_torch_dense.py --sizes "$sizes" --chip "$chip" --encoders "$encoders" \
    --runs "$runs" --images "$work" $torch_settings | tee -a "$work/results.jsonl"

python3 - "$work/results.jsonl" <<'EOF'
import json, os, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
def find(impl, encoder, size, mode):
    return next((r for r in rows if r["impl"] == impl and r["encoder"] == encoder
                 and r["size"] == size and r["mode"] == mode), None)
print(f"\n{rows[0]['chip']}-px chips of the simulated heterostructure, {os.cpu_count()} cores; "
      "seconds from the raw image to every chip's embedding (medians; ~ = extrapolated)")
print(f"{'engine':<19}{'encoder':<14}{'stage':<13}{'size':>6}{'chips':>7}{'dense s':>10}{'windows':>9}{'map MB':>8}"
      f"{'per-chip s':>12}{'speed-up':>10}{'PyTorch s':>11}{'ours/PyTorch':>14}")
for r in (r for r in rows if r["impl"].startswith("chipscope") and r["mode"] == "dense"):
    enc, size = r["encoder"], r["size"]
    per = find(r["impl"], enc, size, "per_chip")
    torch = find("pytorch", enc, size, "dense")
    per_s = "-" if per is None else ("~" if per.get("extrapolated_from") else "") + f"{per['seconds']:.1f}"
    speed = "-" if per is None else f"{per['seconds'] / r['seconds']:.1f}x"
    torch_s = "-" if torch is None else f"{torch['seconds']:.2f}"
    ratio = "-" if torch is None else f"{r['seconds'] / torch['seconds']:.2f}"
    stage = f"{r['stage']} x{r['scale']}"
    print(f"{r['impl']:<19}{enc:<14}{stage:<13}{size:>6}{r['chips']:>7}{r['seconds']:>10.2f}{r['windows']:>9}{r['map_mb']:>8.1f}"
          f"{per_s:>12}{speed:>10}{torch_s:>11}{ratio:>14}")
single = [r for r in rows if r["mode"] == "dense_single_pass"]
if single:
    print("\none window (no tiling):")
    for r in single:
        tiled = find(r["impl"], r["encoder"], r["size"], "dense")
        print(f"{r['encoder']:<14}{r['size']:>6}{r['seconds']:>10.2f} s; tiled/one window {tiled['seconds'] / r['seconds']:.2f}")
EOF
