#!/usr/bin/env bash
# Builds the web app (release: the WebGPU build and the threaded CPU build) and serves dist/ on
# http://127.0.0.1:8080 as a plain static host would; open /?example to start with the simulated
# example micrograph loaded.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
bash scripts/setup.sh
bash scripts/build-web.sh
echo "Chipscope is at http://127.0.0.1:8080/?example (example loaded)."
exec node scripts/static-server.mjs dist "${PORT:-8080}"
