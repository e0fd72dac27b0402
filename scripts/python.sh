#!/usr/bin/env bash
# The chipscope Python package (crates/python: PyO3 + maturin, one abi3 wheel for CPython 3.9
# and later, the shipped encoder weights inside).
#
#   bash scripts/python.sh            builds the wheel in the dev profile (the workspace's
#                                     optimised dependencies, already compiled by the native
#                                     tests), installs it into a fresh virtual environment with
#                                     pytest, Dask and HyperSpy, and runs crates/python/tests: what
#                                     .ci/run does.
#   bash scripts/python.sh --release  builds the wheel to install (the CLI's `native` profile:
#                                     everything at opt-level 3, thin LTO) and prints its path.
#
#   build venv:  $HOME/.cache/chipscope/python/build-venv (maturin; reused)
#   wheels:      $HOME/.cache/chipscope/python/wheels/{dev,release}/chipscope-*.whl
#   test venv:   $HOME/.cache/chipscope/python/test-venv (made anew each run)
# PYTHON picks the interpreter (python3 by default); arguments after --release or the first
# are passed to pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
python="${PYTHON:-python3}"
cache="$HOME/.cache/chipscope/python"
mkdir -p "$cache"

profile=dev
if [ "${1:-}" = "--release" ]; then
    profile=native
    shift
fi

if [ ! -x "$cache/build-venv/bin/maturin" ]; then
    rm -rf "$cache/build-venv"
    "$python" -m venv "$cache/build-venv"
    "$cache/build-venv/bin/pip" install --quiet --upgrade pip
    "$cache/build-venv/bin/pip" install --quiet "maturin>=1.9,<2"
fi

# The weights go into the package (ignored by git), so an installed wheel finds them.
package_weights=crates/python/python/chipscope/weights
rm -rf "$package_weights"
mkdir -p "$package_weights"
cp weights/manifest.json weights/README.md weights/*.safetensors "$package_weights/"

wheels="$cache/wheels/$([ "$profile" = dev ] && echo dev || echo release)"
rm -rf "$wheels"
start=$SECONDS
"$cache/build-venv/bin/maturin" build --quiet --profile "$profile" \
    -m crates/python/Cargo.toml -i "$(command -v "$python")" -o "$wheels"
wheel=$(ls "$wheels"/chipscope-*.whl)
echo "wheel built in $((SECONDS - start)) s: $wheel ($(du -h "$wheel" | cut -f1))"
if [ "$profile" = native ]; then
    echo "install it with: pip install $wheel"
    exit 0
fi

# The tests compare the package with the CLI's output.
build_test_cli
rm -rf "$cache/test-venv"
"$python" -m venv "$cache/test-venv"
"$cache/test-venv/bin/pip" install --quiet "$wheel" pytest "dask[distributed]>=2024.1" "hyperspy>=2" tifffile
CHIPSCOPE_CLI="$CARGO_TARGET_DIR/debug/chipscope" \
    "$cache/test-venv/bin/python" -m pytest crates/python/tests -q "$@"
