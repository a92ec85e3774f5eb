#!/usr/bin/env bash
# Builds the web viewer (viewer/: the page `meshexport serve` serves at /viewer/) into viewer/dist,
# or into OUT_DIR: `npm ci` when viewer/node_modules is missing or older than its lock file, then
# esbuild (viewer/build.mjs). Skipped when OUT_DIR is newer than every source file. Needs Node.js
# and npm (scripts/install-deps.sh installs them).
# usage: build-viewer.sh [OUT_DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
viewer="$here/viewer"
out="${1:-$viewer/dist}"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "build-viewer: Node.js and npm are missing: run scripts/install-deps.sh" >&2
  exit 1
fi
if [ ! -d "$viewer/node_modules/cesium" ] || [ ! -d "$viewer/node_modules/esbuild" ] ||
   [ "$viewer/package-lock.json" -nt "$viewer/node_modules/.package-lock.json" ]; then
  echo "build-viewer: npm ci in viewer" >&2
  (cd "$viewer" && npm ci --no-audit --no-fund --silent)
fi
if [ -f "$out/build.json" ] &&
   [ -z "$(find "$viewer/src" "$viewer/build.mjs" "$viewer/package-lock.json" -newer "$out/build.json" -print -quit)" ]; then
  echo "viewer: $out is up to date"
  exit 0
fi
(cd "$viewer" && node build.mjs "$out")
