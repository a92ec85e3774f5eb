#!/usr/bin/env bash
# Configures and builds meshexport into BUILD_DIR (default build/). Extra arguments go to CMake.
# ccache is set up so clones at other paths and fresh build folders hit the cache.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${BUILD_DIR:-$here/build}"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(dirname "$here")}"
export CCACHE_NOHASHDIR=1
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
