#!/usr/bin/env bash
# The service's web viewer in a real browser (tests/node/viewer.mjs): built from viewer/ into
# WORK_DIR/dist, served by `meshexport serve` behind a path-prefix proxy, driven by playwright-core
# in Debian's Chromium with a copy of the demo iModel whose name holds <script> and <img onerror>.
# Screenshots of each step land in WORK_DIR.
# usage: viewer.sh MESHEXPORT WORK_DIR
set -euo pipefail
meshexport=$1 work=$2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
if [ ! -x /usr/bin/chromium ]; then echo "chromium missing: run scripts/install-deps.sh"; exit 1; fi
if ! command -v sqlite3 >/dev/null; then echo "sqlite3 missing: run scripts/install-deps.sh"; exit 1; fi
if [ ! -d "$here/../node/node_modules/playwright-core" ]; then echo "npm packages missing: run scripts/install-deps.sh"; exit 1; fi
rm -rf "$work/data" "$work"/*.png "$work/hostile.bim"*
mkdir -p "$work"
bash "$root/scripts/build-viewer.sh" "$work/dist"
# The demo campus under a name a page must never interpret (the root subject's code is the name).
cp "$root/datasets/imodel/fixtures/demo.bim" "$work/hostile.bim"
[ -f "$root/datasets/imodel/fixtures/demo.bim-wal" ] && cp "$root/datasets/imodel/fixtures/demo.bim-wal" "$work/hostile.bim-wal"
sqlite3 "$work/hostile.bim" >/dev/null <<'SQL'
UPDATE bis_Element SET CodeValue = 'Campus <script>window.__xss=1</script><img src=x onerror="window.__xss=2"> & co' WHERE Id = 1;
PRAGMA wal_checkpoint(TRUNCATE);
PRAGMA journal_mode = DELETE;
SQL
timeout 360 node "$here/../node/viewer.mjs" "$meshexport" "$work/dist" "$work/hostile.bim" \
  "$root/datasets/imodel/fixtures/demo.reference.json" "$work"
