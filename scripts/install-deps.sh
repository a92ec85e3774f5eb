#!/usr/bin/env bash
# Installs everything meshexport needs on a fresh Debian 12 machine. Idempotent: packages already
# present are skipped, npm packages are installed only when tests/node is missing them.
#   install-deps.sh            build + test dependencies (Node.js, npm test tools, Chromium)
#   install-deps.sh --build    what building and running meshexport needs (Node.js and npm for its
#                              web viewer, whose own packages scripts/build-viewer.sh installs),
#                              nothing for tests
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

pkgs=(cmake ninja-build pkg-config ccache clang
  libmeshoptimizer-dev libtinygltf-dev nlohmann-json3-dev libstb-dev libspdlog-dev libfmt-dev
  libhwy-dev libtbb-dev libcpp-httplib-dev libssl-dev libsqlite3-dev libsnappy-dev libpq-dev
  libflatbuffers-dev flatbuffers-compiler libgtest-dev libgmock-dev libbenchmark-dev libdraco-dev)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
tests=1
[ "${1:-}" = "--build" ] && tests=0
# Node.js and npm build the web viewer (viewer/, bundled with esbuild) and run the test tools; a
# machine may already have them from another source (NodeSource's nodejs bundles npm), so only the
# commands are checked.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ $tests = 1 ]; then
  # Chromium: CesiumJS draws an export in it.
  dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed" || missing+=(chromium)
  # clang-format: scripts/check-style.sh (the house style, checked by scripts/test.sh).
  dpkg-query -W -f='${Status}' clang-format 2>/dev/null | grep -q "install ok installed" || missing+=(clang-format)
  # PostgreSQL: the job store tests start a throwaway server of their own (tests/external/with-postgres.sh).
  dpkg-query -W -f='${Status}' postgresql 2>/dev/null | grep -q "install ok installed" || missing+=(postgresql)
  # sqlite3: the viewer's browser test gives a copy of the demo iModel a hostile name.
  dpkg-query -W -f='${Status}' sqlite3 2>/dev/null | grep -q "install ok installed" || missing+=(sqlite3)
  # assimp-testmodels: real glTF files the reader is checked on (a Draco engine and its plain twin).
  dpkg-query -W -f='${Status}' assimp-testmodels 2>/dev/null | grep -q "install ok installed" || missing+=(assimp-testmodels)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm tools used by the tests (gltf-validator, ajv, cesium, three, 3d-tiles-renderer,
# playwright-core), pinned in tests/node/package-lock.json.
if [ $tests = 1 ] && { [ ! -d "$here/tests/node/node_modules/gltf-validator" ] ||
                                   [ ! -d "$here/tests/node/node_modules/cesium" ] ||
                                   [ ! -d "$here/tests/node/node_modules/3d-tiles-renderer" ]; }; then
  echo "install-deps: npm ci in tests/node" >&2
  (cd "$here/tests/node" && npm ci --no-audit --no-fund --silent)
fi

# iTwin.js' own iMdl parser and frontend-tiles (exact versions in tests/itwin/package-lock.json),
# which read our IMODEL exports in the tests. frontend-tiles 5.13.5 pins its peers to 5.13.5,
# which is not on the registry for core-common: --legacy-peer-deps.
if [ $tests = 1 ] && { [ ! -d "$here/tests/itwin/node_modules/@itwin/frontend-tiles" ] ||
                        [ ! -d "$here/tests/itwin/node_modules/esbuild" ]; }; then
  echo "install-deps: npm ci in tests/itwin" >&2
  (cd "$here/tests/itwin" && npm ci --legacy-peer-deps --no-audit --no-fund --silent)
fi
