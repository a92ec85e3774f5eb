#!/usr/bin/env bash
# The embedded default: installs what is needed, builds meshexport and its web viewer, registers the
# committed demo iModel (datasets/imodel/fixtures/demo.bim: a small geolocated campus authored with
# iTwin.js) in a local data folder (SQLite job store, local folders), prints the viewer's URL, a
# development token and two curl lines, and runs the Mesh Export service in the foreground (Ctrl-C
# stops it gracefully).
# Environment: MESHEXPORT_PORT (default 8080), MESHEXPORT_DATA_DIR (default out/service).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/install-deps.sh" --build
BUILD_DIR="$here/build/demo" bash "$here/scripts/build.sh" -DMESHEXPORT_BUILD_TESTS=OFF -DMESHEXPORT_BUILD_BENCH=OFF >/dev/null
bash "$here/scripts/build-viewer.sh" "$here/build/demo/viewer" >/dev/null
mx="$here/build/demo/service/meshexport"
port="${MESHEXPORT_PORT:-8080}"
data="${MESHEXPORT_DATA_DIR:-$here/out/service}"
mkdir -p "$data"
# Exit 11: this changeset is stored already with other bytes (an older demo.bim); it is kept.
"$mx" imodels add "$here/datasets/imodel/fixtures/demo.bim" --data-dir "$data" >/dev/null || [ $? -eq 11 ]
imodel="$("$mx" imodels list --data-dir "$data" | awk '/meshexport demo campus/ {print $1; exit}')"
# One development token per data folder, kept so that scripts keep working across restarts.
if [ ! -s "$data/dev-token" ]; then
  (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$data/dev-token")
fi
token="$(cat "$data/dev-token")"
base="http://127.0.0.1:$port"
cat <<INFO

meshexport service: $base  (data: $data)
demo iModel:        $imodel  ("meshexport demo campus")
development token:  $token

Open $base/viewer/ in a browser, paste the token, and press "Start export": the campus is drawn
when the export is Complete (click a building for its ids; the metrics are drawn below).

Start an export:
  curl -s -X POST $base/mesh-export/ -H "Authorization: Bearer $token" -H "Content-Type: application/json" \\
       -d '{"iModelId": "$imodel", "changesetId": "", "exportType": "3DTILES"}'
List it (status, stats and, once Complete, the signed tile link in _links.mesh.href):
  curl -s "$base/mesh-export/?iModelId=$imodel" -H "Authorization: Bearer $token" -H "Prefer: return=representation"
CesiumJS: ITwinPlatform.apiEndpoint = "$base/"; ITwinPlatform.defaultAccessToken = "$token";
          await ITwinData.createTilesetFromIModelId({ iModelId: "$imodel" })

INFO
MESHEXPORT_DEV_TOKEN="$token" exec "$mx" serve --data-dir "$data" --port "$port" --viewer-dir "$here/build/demo/viewer"
