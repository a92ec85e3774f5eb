#!/usr/bin/env bash
# Byte-level snapshot of what the tiler writes, to prove a refactor changed no output:
#   bash scripts/snapshot.sh BUILD_DIR OUT.txt [EXTRA.bim|EXTRA.glb]...
# For every committed iModel fixture, the sample glb, three generated glbs and any extra input:
# `tile` for each exportType × CPU level × two tilerConfigs (default; quadric simplifier with
# unquantized positions and meshopt compression; a 2000-triangle cap for deep trees), and `inspect --json` for iModels. OUT.txt lists one sha256 per written file
# (metrics are left out: they hold timings). Compare two snapshots with `diff`.
set -euo pipefail
build=${1:?usage: snapshot.sh BUILD_DIR OUT.txt [EXTRA]...}
out=${2:?usage: snapshot.sh BUILD_DIR OUT.txt [EXTRA]...}
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${MESHEXPORT_BIN:-$build/service/meshexport}
gen=${MESHEXPORT_GEN:-$build/datasets/meshexport-gen}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

inputs=("$root"/datasets/imodel/fixtures/*.bim "$root"/datasets/sample/city.glb)
for kind in city terrain soup; do
  "$gen" "$kind" "$work/gen-$kind.glb" --triangles 60000 --seed 7 >/dev/null
  inputs+=("$work/gen-$kind.glb")
done
inputs+=("$@")

: >"$out"
for input in "${inputs[@]}"; do
  name=$(basename "$input")
  if [[ $input == *.bim ]]; then
    "$bin" inspect "$input" --json >"$work/inspect.json"
    echo "$(sha256sum <"$work/inspect.json" | cut -c1-64)  $name/inspect.json" >>"$out"
  fi
  for type in 3dtiles cesium imodel; do
    [[ $type == imodel && $input != *.bim ]] && continue
    for level in scalar simd; do
      for cfg in default deep quadric; do
        args=()
        [[ $cfg != default ]] && args=(--config maxTrianglesPerTile=2000 --config unsupportedGeometry=box)
        [[ $cfg == quadric ]] && args+=(--config simplifier=quadric --config quantizePositions=false)
        [[ $cfg == quadric && $type != imodel ]] && args+=(--config meshoptCompression=true)
        dir="$work/out"
        rm -rf "$dir"
        "$bin" tile "$input" -o "$dir" --type "$type" --cpu-level "$level" --device cpu --quiet "${args[@]}" >/dev/null
        (cd "$dir" && find . -type f | LC_ALL=C sort | xargs sha256sum) |
          sed "s|  \./|  $name/$type/$level/$cfg/|" >>"$out"
      done
    done
  done
done
echo "snapshot: $(wc -l <"$out") files from ${#inputs[@]} inputs → $out"
