#!/usr/bin/env bash
# The real-client test: CesiumJS' ITwinData.createTilesetFromIModelId against `meshexport serve`
# (tests/node/cesium-itwin.mjs), drawing the demo iModel through the API and the signed link.
# With --fleet (run inside with-postgres.sh) the service is two nodes on the throwaway PostgreSQL:
# the export is started through node A and CesiumJS draws it through node B.
# usage: cesium-itwin.sh MESHEXPORT WORK_DIR [--fleet]
set -euo pipefail
meshexport=$1 work=$2
if [ "${3:-}" = --fleet ]; then export MESHEXPORT_CESIUM_FLEET="$MESHEXPORT_TEST_POSTGRES"; fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -x /usr/bin/chromium ]; then echo "chromium missing: run scripts/install-deps.sh"; exit 1; fi
if [ ! -d "$here/../node/node_modules/cesium" ]; then echo "npm packages missing: run scripts/install-deps.sh"; exit 1; fi
timeout 360 node "$here/../node/cesium-itwin.mjs" "$meshexport" "$here/../../datasets/imodel/fixtures/demo.bim" \
  "$work" "$work/cesium-itwin.png"
