#!/usr/bin/env bash
# Benchmarks embedding in the browser: the release site as shipped (burn's SIMD128 CPU kernels)
# and a scalar build without them, each measured in headless Chromium on the CPU with burn's Flex
# and ndarray backends and on WebGPU, embedding chips of a real STEM image. Prints chips/s per
# build, path and encoder. `--cpu-only` skips WebGPU (SwiftShader is slow without a GPU).
#
#   bash scripts/bench-web.sh [--cpu-only]
#
# The scalar build uses its own target directory ($CARGO_TARGET_DIR-scalar) so neither build
# invalidates the other; the first run compiles the whole app once more.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash scripts/setup.sh --browser
bash scripts/fetch-testdata.sh

scalar="$CARGO_TARGET_DIR-scalar"
trunk build --release
CARGO_TARGET_DIR="$scalar" trunk build --release --no-default-features --dist "$scalar/dist"
node tests/bench/web-encoders.mjs "$@" "simd128=dist" "scalar=$scalar/dist"
