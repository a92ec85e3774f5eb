#!/usr/bin/env bash
# IMODEL exports read by iTwin.js' own code: every fixture iModel is exported with
# `--type imodel` (small tiles, so the tree has several levels) and tests/itwin/check-imdl.mjs
# parses every tile with @itwin/core-frontend and the tileset with @itwin/frontend-tiles, comparing
# ids, colours, triangle counts and positions with the fixture's iTwin.js reference.
# usage: itwin-imdl.sh MESHEXPORT WORK_DIR
set -euo pipefail
meshexport=$1 work=$2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fixtures="$here/../../datasets/imodel/fixtures"
if [ ! -d "$here/../itwin/node_modules/@itwin/core-frontend" ]; then echo "npm packages missing: run scripts/install-deps.sh"; exit 1; fi
rm -rf "$work"; mkdir -p "$work"
status=0
for f in small primitives demo extras lines surfaces; do
  "$meshexport" tile "$fixtures/$f.bim" -o "$work/$f" --type imodel -q --config maxTrianglesPerTile=2000
  "$meshexport" inspect "$fixtures/$f.bim" --json > "$work/$f.inspect.json"
  node "$here/../itwin/check-imdl.mjs" "$work/$f" "$fixtures/$f.reference.json" "$work/$f.inspect.json" || status=1
done
exit $status
