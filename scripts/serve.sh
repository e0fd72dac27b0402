#!/usr/bin/env bash
# Builds the web app (release) and serves it on http://127.0.0.1:8080; open /?example to start
# with the simulated example micrograph loaded.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash scripts/setup.sh
echo "Chipscope will be at http://127.0.0.1:8080/?example (example loaded) once the build finishes."
exec trunk serve --release --no-autoreload "$@"
