#!/usr/bin/env bash
# Installs everything meshexport needs on a fresh Debian 12 machine. Idempotent: packages already
# present are skipped by apt, npm packages are installed only when tests/node is missing them.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

pkgs=(cmake ninja-build pkg-config ccache clang
  libmeshoptimizer-dev libtinygltf-dev nlohmann-json3-dev libstb-dev libspdlog-dev libfmt-dev
  libhwy-dev libtbb-dev libcpp-httplib-dev libssl-dev libsqlite3-dev libsnappy-dev
  libflatbuffers-dev flatbuffers-compiler libgtest-dev libgmock-dev libbenchmark-dev)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run the test tools; a machine may already have them from another source
# (NodeSource's nodejs bundles npm), so only the commands are checked.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm tools used by the tests (gltf-validator, ajv), pinned in tests/node/package-lock.json.
if [ "${1:-}" != "--no-npm" ] && [ ! -d "$here/tests/node/node_modules/gltf-validator" ]; then
  echo "install-deps: npm ci in tests/node" >&2
  (cd "$here/tests/node" && npm ci --no-audit --no-fund --silent)
fi
