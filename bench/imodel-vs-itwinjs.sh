#!/usr/bin/env bash
# Read + tessellate an iModel with meshexport (`inspect`, which opens the file, decodes every
# stream and tessellates every element) and with iTwin.js exportGraphics, in the same run, then
# tile it end to end. Makes the large fixture first when none is given.
#   bash bench/imodel-vs-itwinjs.sh [FILE.bim]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mx="${MESHEXPORT:-$here/build/service/meshexport}"
file="${1:-/tmp/meshexport-large/large.bim}"
if [ ! -f "$file" ]; then
  (cd "$here/datasets/imodel" && [ -d node_modules ] || npm ci --legacy-peer-deps --no-audit --no-fund --silent)
  node "$here/datasets/imodel/make-fixtures.mjs" "$(dirname "$file")" --large
fi
start=$(date +%s%N)
"$mx" inspect "$file" --json > /tmp/meshexport-inspect.json
mx_ms=$(( ($(date +%s%N) - start) / 1000000 ))
mx_tris=$(python3 -c "import json; print(json.load(open('/tmp/meshexport-inspect.json'))['summary']['triangles'])")
itwin=$(node "$here/bench/exportgraphics-time.mjs" "$file")
echo "{\"tool\":\"meshexport-inspect\",\"triangles\":$mx_tris,\"ms\":$mx_ms}"
echo "$itwin"
rm -rf /tmp/meshexport-large-out
/usr/bin/time -v "$mx" tile "$file" -o /tmp/meshexport-large-out -q --metrics /tmp/meshexport-large-metrics.json 2>&1 |
  grep -E "Maximum resident|Elapsed|triangles →"
