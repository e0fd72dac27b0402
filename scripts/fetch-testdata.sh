#!/usr/bin/env bash
# Fetches real microscope files for the integration tests from a registry package (GPL-3 data
# from the HyperSpy project, never shipped with the app) into $CHIPSCOPE_TESTDATA.
# Exits 0 with a warning when the registry cannot be reached: the tests then say they skipped.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
dir="$CHIPSCOPE_TESTDATA"
wheel_version=1.7.6
[ -f "$dir/.hyperspy-$wheel_version" ] && exit 0
mkdir -p "$dir/download"
if ! python3 -m pip download --quiet --no-deps -d "$dir/download" "hyperspy==$wheel_version"; then
    echo "warning: could not download hyperspy==$wheel_version from PyPI; real-file tests will skip" >&2
    exit 0
fi
python3 -m zipfile -e "$dir"/download/hyperspy-"$wheel_version"-*.whl "$dir/extract"
rm -rf "$dir/hyperspy"
mv "$dir/extract/hyperspy/tests/io" "$dir/hyperspy"
rm -rf "$dir/extract" "$dir/download"
touch "$dir/.hyperspy-$wheel_version"
