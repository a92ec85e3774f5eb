#!/usr/bin/env bash
# iTwin.js' real frontend draws an IMODEL export through the Mesh Export API alone
# (tests/itwin/frontend-tiles-draw.mjs): headless Chromium, SwiftShader WebGL, loopback only.
# usage: frontend-tiles-draw.sh MESHEXPORT WORK_DIR
set -euo pipefail
meshexport=$1 work=$2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -x /usr/bin/chromium ]; then echo "chromium missing: run scripts/install-deps.sh"; exit 1; fi
if [ ! -d "$here/../itwin/node_modules/@itwin/frontend-tiles" ]; then echo "npm packages missing: run scripts/install-deps.sh"; exit 1; fi
timeout 360 node "$here/../itwin/frontend-tiles-draw.mjs" "$meshexport" "$here/../../datasets/imodel/fixtures/demo.bim" "$work"
