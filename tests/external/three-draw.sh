#!/usr/bin/env bash
# three.js with 3d-tiles-renderer draws what meshexport writes: the bundled glTF sample city and the
# linework fixture (its green and blue lines in their colours; every segment and point of the leaves
# loaded as three.js LineSegments and Points), in headless Chromium (tests/node/three-draw.mjs),
# keeping the screenshots.
# usage: three-draw.sh MESHEXPORT WORK_DIR
set -euo pipefail
meshexport=$1 work=$2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -x /usr/bin/chromium ]; then echo "chromium missing: run scripts/install-deps.sh"; exit 1; fi
if [ ! -d "$here/../node/node_modules/3d-tiles-renderer" ]; then echo "npm packages missing: run scripts/install-deps.sh"; exit 1; fi
rm -rf "$work"; mkdir -p "$work"
"$meshexport" tile "$here/../../datasets/sample/city.glb" -o "$work/city" -q --config maxTrianglesPerTile=8000
timeout 300 node "$here/../node/three-draw.mjs" "$work/city" "$work/city.png"
"$meshexport" tile "$here/../../datasets/imodel/fixtures/lines.bim" -o "$work/lines" -q --config maxTrianglesPerTile=64
timeout 300 node "$here/../node/three-draw.mjs" "$work/lines" "$work/lines.png" --hues=green:3,blue:3 --lines=296 --points=4
