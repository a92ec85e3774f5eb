#!/usr/bin/env bash
# The embedded default: installs what is needed, builds meshexport, tiles the committed demo iModel
# (datasets/imodel/fixtures/demo.bim: a small geolocated campus authored with iTwin.js) and the
# bundled glTF sample (datasets/sample/city.glb), and prints where the tilesets are.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/install-deps.sh" --build
BUILD_DIR="$here/build/demo" bash "$here/scripts/build.sh" -DMESHEXPORT_BUILD_TESTS=OFF -DMESHEXPORT_BUILD_BENCH=OFF >/dev/null
mx="$here/build/demo/service/meshexport"
"$mx" inspect "$here/datasets/imodel/fixtures/demo.bim" | sed -n "1,3p"
"$mx" tile "$here/datasets/imodel/fixtures/demo.bim" -o "$here/out/demo" --force --config maxTrianglesPerTile=4000 \
  --metrics "$here/out/demo-metrics.json"
"$mx" tile "$here/datasets/sample/city.glb" -o "$here/out/city" --force -q \
  --config maxTrianglesPerTile=8000 --location 7.4474,46.948,540 --metrics "$here/out/city-metrics.json"
echo
echo "tilesets: $here/out/demo/tileset.json (iModel, geolocated by its EcefLocation)"
echo "          $here/out/city/tileset.json (glTF sample, placed with --location)"
echo "metrics:  $here/out/demo-metrics.json, $here/out/city-metrics.json"
echo "serve them with: (cd $here/out && python3 -m http.server 8080)  → http://localhost:8080/demo/tileset.json"
