# Shared settings for the scripts: one cargo target directory outside the clone, reused by every
# later run, and the npm tools (wasm-opt) ahead of any system copy on PATH.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/chipscope/target}"
export PATH="$REPO_ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cd "$REPO_ROOT"
export CHIPSCOPE_TESTDATA="${CHIPSCOPE_TESTDATA:-$HOME/.cache/chipscope/testdata}"
export CHIPSCOPE_WEIGHTS="${CHIPSCOPE_WEIGHTS:-$REPO_ROOT/weights}"
# The nightly Rust of the threaded web build (scripts/build-web.sh); scripts/setup.sh installs it.
export CHIPSCOPE_NIGHTLY=nightly-2026-10-29
# Builds the CLI the tests and the end-to-end tests run. Beside the Python package, so that its
# dependencies get the features `cargo test --workspace` resolves: PyO3 turns on a feature of
# syn that serde's derive and every crate above it share, and `-p chipscope-cli` alone would
# build burn and the rest of the CLI's dependencies a second time (7 minutes of a cold CI here).
build_test_cli() { cargo build --quiet -p chipscope-cli -p chipscope-python; }
