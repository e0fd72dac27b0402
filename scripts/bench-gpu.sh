#!/usr/bin/env bash
# Benchmarks WebGPU on a real GPU beside PyTorch CUDA on the same GPU, in one run: the release
# site's WebGPU build (burn's fusion) and the same build with `--features autotune`, in headless
# Chromium on the GPU's Vulkan driver, then PyTorch on CUDA, embedding the same 256 chips (32 px,
# every chip resized to 224²) of the real STEM image. Prints chips/s, the adapter the page got,
# and the ratios. The page's warm-up (shader compilation, tuning) is not timed.
#
#   bash scripts/bench-gpu.sh
#
# Needs a machine with a GPU, its Vulkan driver, and PyTorch with CUDA in
# ~/.cache/chipscope/py/venv-cuda (or CHIPSCOPE_TORCH_PYTHON naming another Python). Chromium's
# flags can be replaced through CHIPSCOPE_CHROMIUM_GPU_FLAGS; the page's badge text is printed so
# a fall back to SwiftShader (a CPU emulation) cannot pass for the GPU.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash scripts/setup.sh --browser
bash scripts/fetch-testdata.sh

python="${CHIPSCOPE_TORCH_PYTHON:-$HOME/.cache/chipscope/py/venv-cuda/bin/python}"
if ! "$python" -c 'import torch, torchvision, ncempy, safetensors; assert torch.cuda.is_available()'; then
    echo "error: $python has no PyTorch with a CUDA device; set CHIPSCOPE_TORCH_PYTHON" >&2
    exit 1
fi
[ -f dist/index.html ] || bash scripts/build-web.sh
tuned="$CARGO_TARGET_DIR-autotune"
CARGO_TARGET_DIR="$tuned" trunk build --release --features autotune --dist "$tuned/dist"

export CHIPSCOPE_CHROMIUM_GPU_FLAGS="${CHIPSCOPE_CHROMIUM_GPU_FLAGS:---use-angle=vulkan --enable-features=Vulkan --disable-vulkan-surface --ignore-gpu-blocklist}"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
node tests/bench/web-encoders.mjs --webgpu-only --chip-size=32 "fusion=dist" "fusion+autotune=$tuned/dist" | tee "$results"
for encoder in resnet50 mobilenet_v2; do
    "$python" scripts/weights/bench_torch.py --device cuda --encoder "$encoder" \
        --chips 256 --chip-size 32 --batch 16 | tee -a "$results"
done

python3 - "$results" <<'PYTHON'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
torch = {r["encoder"]: r for r in rows if r["impl"] == "pytorch"}
print(f"\nPyTorch's device: {next(iter(torch.values()))['device']}")
for page in (r for r in rows if r["impl"] == "page"):
    print(f"\n{page['build']}: the page's backend: {page['backend']}")
    print(f"{'encoder':<14}{'WebGPU':>10}{'PyTorch CUDA':>14}{'ratio':>8}   (chips/s, batches of 16)")
    for encoder in ("resnet50", "mobilenet_v2"):
        ours, theirs = page[encoder], torch[encoder]["chips_per_s"]
        print(f"{encoder:<14}{ours:>10.2f}{theirs:>14.2f}{ours / theirs:>7.2f}x")
PYTHON
