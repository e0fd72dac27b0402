#!/usr/bin/env bash
# Builds the web app into dist/: the WebGPU build (stable Rust), then the threaded CPU build into
# dist/threads/ (pinned nightly Rust: WebAssembly threads need `+atomics` and a std built with
# them, `-Z build-std`). public/loader.js picks one of them in the browser.
#
#   bash scripts/build-web.sh [trunk build options for the WebGPU build, e.g. --features bench]
#
# The threaded build has its own target directory ($CARGO_TARGET_DIR-threads), so neither build
# relinks the other's output.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

trunk build --release "$@"

# Threads: SIMD128 as .cargo/config.toml sets it (this variable replaces that), atomics in every
# crate, and a memory the linker makes shared and imported (the glue creates it and hands it to
# each worker), with thread-local storage set up per worker (rustc passes none of these link
# arguments itself); 4 GiB of memory at most. wasm-opt gets --enable-threads from index.html.
# Symbols are kept (strip only debug info): wasm-bindgen reads the module's target-features
# section to emit its thread-aware glue (shared memory).
THREAD_FLAGS="-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals"
for arg in --shared-memory --import-memory --max-memory=4294967296 \
    --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base; do
    THREAD_FLAGS+=" -C link-arg=$arg"
done
RUSTUP_TOOLCHAIN="$CHIPSCOPE_NIGHTLY" \
CARGO_UNSTABLE_BUILD_STD=panic_abort,std \
CARGO_PROFILE_RELEASE_STRIP=debuginfo \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$THREAD_FLAGS" \
CARGO_TARGET_DIR="$CARGO_TARGET_DIR-threads" \
    trunk build --release --no-default-features --features simd,threads \
        --filehash false --dist "$CARGO_TARGET_DIR-threads/dist"

# Only the module and its glue (with the thread pool's worker script) are needed beside dist/.
rm -rf dist/threads
mkdir -p dist/threads
cp -r "$CARGO_TARGET_DIR-threads/dist/"{chipscope-web.js,chipscope-web_bg.wasm,snippets} dist/threads/
