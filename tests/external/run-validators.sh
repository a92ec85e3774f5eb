#!/usr/bin/env bash
# Tiles generated inputs with several configurations and runs the external validators (Khronos
# gltf-validator, 3D Tiles and glTF JSON schemas) over every produced tileset.
# usage: run-validators.sh MESHEXPORT MESHEXPORT_GEN SCHEMA_DIR WORK_DIR (SCHEMA_DIR may be absent)
set -euo pipefail
meshexport=$1 gen=$2 schemas=$3 work=$4
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_dir="$here/../node"
if [ ! -d "$schemas/3d-tiles" ]; then
  # A bare clone has no schemas beside it: the JSON schema checks skip visibly, gltf-validator runs.
  echo "SKIP JSON schema checks: no schemas at $schemas (set MESHEXPORT_SCHEMA_DIR); gltf-validator still runs"
  schemas=""
fi
if [ ! -d "$node_dir/node_modules/gltf-validator" ]; then
  echo "npm packages missing: run scripts/install-deps.sh (npm ci in tests/node)"; exit 1
fi
rm -rf "$work"; mkdir -p "$work"
"$gen" bench "$work/bench.glb" --triangles 200000 --seed 3
"$gen" soup "$work/soup.glb" --triangles 20000 --seed 5
fail=0
run() {
  local name=$1 input=$2; shift 2
  "$meshexport" tile "$input" -o "$work/$name" -q "$@"
  if node "$node_dir/validate-tileset.mjs" "$work/$name" "$schemas"; then echo "ok   $name"; else echo "FAIL $name"; fail=1; fi
}
run default "$work/bench.glb" --config maxTrianglesPerTile=8000
run meshopt "$work/bench.glb" --config maxTrianglesPerTile=8000 --config meshoptCompression=true
run float "$work/bench.glb" --config maxTrianglesPerTile=8000 --config quantizePositions=false
run quadric "$work/bench.glb" --config maxTrianglesPerTile=20000 --config simplifier=quadric
run cesium "$work/bench.glb" --type cesium --config maxTrianglesPerTile=30000
run b3dm "$work/bench.glb" --config maxTrianglesPerTile=8000 --config outputFormat=b3dm
run b3dm-meshopt "$work/bench.glb" --config outputFormat=b3dm --config enableCompression=true --config maxTileSize=128
run soup "$work/soup.glb" --config maxTrianglesPerTile=500
# Linework (LINES and POINTS primitives, their own vertices without normals) in every container.
lines="$here/../../datasets/imodel/fixtures/lines.bim"
run lines "$lines" --config maxTrianglesPerTile=64
run lines-meshopt "$lines" --config maxTrianglesPerTile=64 --config meshoptCompression=true
run lines-b3dm "$lines" --config maxTrianglesPerTile=64 --config outputFormat=b3dm
exit $fail
