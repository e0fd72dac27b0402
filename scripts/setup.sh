#!/usr/bin/env bash
# Installs what building Chipscope needs, skipping whatever is already there: the wasm32 target,
# a pinned nightly Rust (the threaded web build), trunk, wasm-bindgen-cli (the version Cargo.lock
# pins), npm tools and crates.
# With --browser also Debian's Chromium for the end-to-end tests.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
fi

if ! rustup run "$CHIPSCOPE_NIGHTLY" rustc --version >/dev/null 2>&1; then
    say "installing $CHIPSCOPE_NIGHTLY (the threaded web build; under a minute)"
    rustup toolchain install "$CHIPSCOPE_NIGHTLY" --profile minimal -t wasm32-unknown-unknown
fi
# rust-src for -Z build-std, clippy for the lints of the threaded build's code.
for component in rust-src clippy; do
    if ! rustup component list --toolchain "$CHIPSCOPE_NIGHTLY" --installed | grep -q "^$component"; then
        rustup component add --toolchain "$CHIPSCOPE_NIGHTLY" "$component"
    fi
done

if [ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]; then
    say "installing trunk $TRUNK_VERSION (about 18 minutes on 2 cores, once)"
    cargo install trunk --locked --version "$TRUNK_VERSION"
fi

if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$WASM_BINDGEN_VERSION" ]; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 6 minutes, once)"
    # Not --locked: its lockfile wants a webpki-roots release the registry lacks.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.chipscope-lock 2>/dev/null)" != "$lock_hash" ]; then
    say "installing npm tools (binaryen's wasm-opt, playwright-core)"
    npm ci --no-audit --no-fund
    echo "$lock_hash" > node_modules/.chipscope-lock
fi

say "fetching crates (Trunk builds offline), the nightly std's among them (-Z build-std)"
cargo fetch --quiet
RUSTUP_TOOLCHAIN="$CHIPSCOPE_NIGHTLY" cargo fetch --quiet --manifest-path \
    "$(rustup run "$CHIPSCOPE_NIGHTLY" rustc --print sysroot)/lib/rustlib/src/rust/library/Cargo.toml"

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
    say "installing Debian's chromium"
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    # The first install has been seen to lose dpkg temporary files; a second try completes it.
    $sudo_cmd apt-get install -y -qq chromium || $sudo_cmd apt-get install -y -qq chromium
fi
