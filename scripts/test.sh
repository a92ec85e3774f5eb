#!/usr/bin/env bash
# Runs every test: installs what is needed, checks the house style (scripts/check-style.sh:
# clang-format, files of at most 600 lines), then
#  1. the default build (CUDA compiled when nvcc is found; CUDA cases skip visibly without a GPU)
#     with -Werror, and the whole ctest suite (unit, conformance, CLI, external validators);
#  2. a build with MESHEXPORT_CUDA=OFF (proves the build without nvcc) and its conformance and
#     engine suites;
#  3. short libFuzzer runs (clang) over the GeometryStream decoders and the glTF reader;
#  4. the whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/install-deps.sh"
jobs="$(nproc)"

echo "== style =="
bash "$here/scripts/check-style.sh"

echo "== 1/4 default build (MESHEXPORT_CUDA=AUTO) =="
BUILD_DIR="$here/build/ci" bash "$here/scripts/build.sh" -DMESHEXPORT_WERROR=ON -DMESHEXPORT_BUILD_BENCH=ON
(cd "$here/build/ci" && ctest -j "$jobs" --output-on-failure)

echo "== 2/4 MESHEXPORT_CUDA=OFF =="
BUILD_DIR="$here/build/ci-nocuda" bash "$here/scripts/build.sh" -DMESHEXPORT_CUDA=OFF -DMESHEXPORT_WERROR=ON -DMESHEXPORT_BUILD_BENCH=OFF
(cd "$here/build/ci-nocuda" && ctest -j "$jobs" --output-on-failure -R "Conformance|Pipeline|Cli")

echo "== 3/4 libFuzzer: GeometryStream decoders (${MESHEXPORT_FUZZ_SECONDS:-30} s), glTF reader (${MESHEXPORT_FUZZ_GLTF_SECONDS:-20} s) =="
BUILD_DIR="$here/build/ci-fuzz" BUILD_TYPE=RelWithDebInfo CC=clang CXX=clang++ bash "$here/scripts/build.sh" \
  -DMESHEXPORT_CUDA=OFF -DMESHEXPORT_BUILD_TESTS=OFF -DMESHEXPORT_BUILD_BENCH=OFF -DMESHEXPORT_FUZZ=ON >/dev/null
for run in geometry:corpus:"${MESHEXPORT_FUZZ_SECONDS:-30}" gltf:gltf-corpus:"${MESHEXPORT_FUZZ_GLTF_SECONDS:-20}"; do
  IFS=: read -r target seeds seconds <<<"$run"
  corpus="$here/build/ci-fuzz/$seeds"
  rm -rf "$corpus" && mkdir -p "$corpus" && cp "$here/tests/fuzz/$seeds"/* "$corpus"/
  (cd "$here/build/ci-fuzz" && ./mx_fuzz_$target "$corpus" -max_total_time="$seconds" \
     -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 2>&1 | tail -12)
done

echo "== 4/4 AddressSanitizer + UndefinedBehaviorSanitizer =="
BUILD_DIR="$here/build/ci-asan" BUILD_TYPE=Debug bash "$here/scripts/build.sh" -DMESHEXPORT_CUDA=OFF -DMESHEXPORT_SANITIZE=ON -DMESHEXPORT_BUILD_BENCH=OFF
(cd "$here/build/ci-asan" && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
   ctest -j "$jobs" --output-on-failure -E "external_validators")
