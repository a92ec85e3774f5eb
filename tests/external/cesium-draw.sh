#!/usr/bin/env bash
# CesiumJS draws what meshexport writes: tiles the bundled glTF sample (geolocated with --location;
# as glb and as b3dm)
# and the demo iModel (geolocated by its EcefLocation) and the linework fixture (LINES and POINTS
# primitives: its green and blue lines must show in their colours) and loads each in CesiumJS in
# headless Chromium (tests/node/cesium-draw.mjs), keeping the screenshots.
# usage: cesium-draw.sh MESHEXPORT WORK_DIR
set -euo pipefail
meshexport=$1 work=$2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ ! -x /usr/bin/chromium ]; then echo "chromium missing: run scripts/install-deps.sh"; exit 1; fi
if [ ! -d "$here/../node/node_modules/cesium" ]; then echo "npm packages missing: run scripts/install-deps.sh"; exit 1; fi
rm -rf "$work"; mkdir -p "$work"
"$meshexport" tile "$here/../../datasets/sample/city.glb" -o "$work/city" -q \
  --config maxTrianglesPerTile=8000 --location 7.4474,46.948,540
timeout 300 node "$here/../node/cesium-draw.mjs" "$work/city" "$work/city.png"
# outputFormat=b3dm: a 3D Tiles 1.0 tileset of b3dm tiles; picking reads the batch table's element.
"$meshexport" tile "$here/../../datasets/sample/city.glb" -o "$work/city-b3dm" -q \
  --config maxTrianglesPerTile=8000 --config outputFormat=b3dm --location 7.4474,46.948,540
timeout 300 node "$here/../node/cesium-draw.mjs" "$work/city-b3dm" "$work/city-b3dm.png"
"$meshexport" tile "$here/../../datasets/imodel/fixtures/demo.bim" -o "$work/demo" -q --config maxTrianglesPerTile=4000
timeout 300 node "$here/../node/cesium-draw.mjs" "$work/demo" "$work/demo.png"
"$meshexport" tile "$here/../../datasets/imodel/fixtures/lines.bim" -o "$work/lines" -q --config maxTrianglesPerTile=64
timeout 300 node "$here/../node/cesium-draw.mjs" "$work/lines" "$work/lines.png" --hues=green:3,blue:3
