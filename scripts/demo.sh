#!/usr/bin/env bash
# The embedded default: installs what is needed, builds meshexport, tiles the bundled sample
# (datasets/sample/city.glb: a generated city on terrain, 60 k triangles, 280 features) and
# prints where the tileset is.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/install-deps.sh" --build
BUILD_DIR="$here/build" bash "$here/scripts/build.sh" -DMESHEXPORT_BUILD_TESTS=OFF -DMESHEXPORT_BUILD_BENCH=OFF >/dev/null
out="$here/out/city"
"$here/build/service/meshexport" tile "$here/datasets/sample/city.glb" -o "$out" --force \
  --config maxTrianglesPerTile=8000 --location 7.4474,46.948,540 --metrics "$here/out/city-metrics.json"
echo
echo "tileset: $out/tileset.json"
echo "metrics: $here/out/city-metrics.json"
echo "serve it with: (cd $here/out && python3 -m http.server 8080)  → http://localhost:8080/city/tileset.json"
