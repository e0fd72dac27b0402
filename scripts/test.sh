#!/usr/bin/env bash
# Runs every test: formatting and lints, native unit and integration tests, the Python package's
# tests (its wheel installed into a fresh virtual environment), the release web build (with its
# size), and the end-to-end tests in headless Chromium (WebGPU and CPU).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash scripts/setup.sh --browser

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "format and lints"
cargo fmt --all -- --check
bash scripts/check-page-modules.sh
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo clippy --target wasm32-unknown-unknown -p chipscope --quiet -- -D warnings
cargo clippy --target wasm32-unknown-unknown -p chipscope --features bench --quiet -- -D warnings
# The threaded build's code, with the flags scripts/build-web.sh builds it with. The nightly's
# clippy knows lints the stable one does not yet; the stable lints above are the project's bar.
RUSTUP_TOOLCHAIN="$CHIPSCOPE_NIGHTLY" CARGO_TARGET_DIR="$CARGO_TARGET_DIR-threads" \
CARGO_UNSTABLE_BUILD_STD=panic_abort,std \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals" \
    cargo clippy --target wasm32-unknown-unknown -p chipscope --no-default-features \
        --features simd,threads --quiet -- -D warnings -A clippy::chunks_exact_to_as_chunks

step "native tests"
bash scripts/fetch-testdata.sh
cargo test --workspace

step "Python package"
bash scripts/python.sh

step "release web build"
build_test_cli
bash scripts/build-web.sh
for wasm in dist/*.wasm dist/threads/*.wasm; do
    printf '%s: %s bytes raw, %s bytes gzip -9\n' "$wasm" "$(stat -c %s "$wasm")" "$(gzip -9 -c "$wasm" | wc -c)"
done

step "end-to-end tests in headless Chromium"
export CHIPSCOPE_CLI="$CARGO_TARGET_DIR/debug/chipscope"
node --test --test-concurrency=1 tests/e2e/
