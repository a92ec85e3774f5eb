#!/usr/bin/env bash
# Runs every test: installs what is needed, then
#  1. the default build (CUDA compiled when nvcc is found; CUDA cases skip visibly without a GPU)
#     with -Werror, and the whole ctest suite (unit, conformance, CLI, external validators);
#  2. a build with MESHEXPORT_CUDA=OFF (proves the build without nvcc) and its conformance and
#     engine suites;
#  3. the input-facing suites under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/install-deps.sh"
jobs="$(nproc)"

echo "== 1/3 default build (MESHEXPORT_CUDA=AUTO) =="
BUILD_DIR="$here/build/ci" bash "$here/scripts/build.sh" -DMESHEXPORT_WERROR=ON -DMESHEXPORT_BUILD_BENCH=ON
(cd "$here/build/ci" && ctest -j "$jobs" --output-on-failure)

echo "== 2/3 MESHEXPORT_CUDA=OFF =="
BUILD_DIR="$here/build/ci-nocuda" bash "$here/scripts/build.sh" -DMESHEXPORT_CUDA=OFF -DMESHEXPORT_WERROR=ON -DMESHEXPORT_BUILD_BENCH=OFF
(cd "$here/build/ci-nocuda" && ctest -j "$jobs" --output-on-failure -R "Conformance|Pipeline|Cli")

echo "== 3/3 AddressSanitizer + UndefinedBehaviorSanitizer =="
BUILD_DIR="$here/build/ci-asan" BUILD_TYPE=Debug bash "$here/scripts/build.sh" -DMESHEXPORT_CUDA=OFF -DMESHEXPORT_SANITIZE=ON -DMESHEXPORT_BUILD_BENCH=OFF
(cd "$here/build/ci-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
   ctest -j "$jobs" --output-on-failure -E "external_validators")
