// The stronger IMODEL check: iTwin.js' real frontend draws an export through the API alone. It
// starts `meshexport serve`, opens headless Chromium (SwiftShader WebGL) on a page bundled from
// page.mjs, and routes https://api.bentley.com/mesh-export/** to the service, so frontend-tiles'
// own obtainMeshExportTilesetUrl lists the iModel's IMODEL exports (which starts one), polls until
// it is Complete (the export a user started with a POST, tuned to small tiles) and follows the
// signed link. The harness then reads the tiles' feature tables
// (iTwin.js' parser in Node) to register the models, categories and sub-categories of a
// BlankConnection view, and the page draws it with initializeFrontendTiles. Passes when tiles are
// ready, no request failed, the frame is not blank and picking returns elements of the iModel.
// usage: node frontend-tiles-draw.mjs MESHEXPORT FILE.bim WORK_DIR
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import esbuild from 'esbuild';
import { chromium } from 'playwright-core';
import { readImdlTile } from './imdl.mjs';
import { launchChromium, listen, sendFile, startService } from '../node/harness.mjs';

const require = createRequire(import.meta.url);

const [meshexport, bim, work] = process.argv.slice(2);
if (!work) { console.error('usage: node frontend-tiles-draw.mjs MESHEXPORT FILE.bim WORK_DIR'); process.exit(2); }
const here = path.dirname(fileURLToPath(import.meta.url));
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });

const bundle = await esbuild.build({ entryPoints: [path.join(here, 'page.mjs')], bundle: true, format: 'iife', platform: 'browser',
                                     write: false, logLevel: 'error', define: { 'process.env.NODE_ENV': '"production"' } });
const bundleJs = bundle.outputFiles[0].text;

const data = path.join(work, 'data');
const added = execFileSync(meshexport, ['imodels', 'add', bim, '--data-dir', data], { encoding: 'utf8' });
const iModelId = /added ([0-9a-f-]{36})/.exec(added)[1];
const inspect = JSON.parse(execFileSync(meshexport, ['inspect', bim, '--json'], { encoding: 'utf8', maxBuffer: 1 << 28 }));
const categoryOf = new Map(inspect.elements.map((e) => [e.id, e.category]));
const token = crypto.randomBytes(24).toString('hex');
const service = await startService(meshexport, data, { MESHEXPORT_DEV_TOKEN: token }, path.join(work, 'service.log'), ['--workers', '1']);
const api = service.api;

// The export a user tuned with a POST (small tiles: a tree of several levels, every tile fetched
// with the link's query); frontend-tiles' list call then finds it instead of starting one.
const started = await fetch(`${api}/mesh-export/`, {
  method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
  body: JSON.stringify({ iModelId, changesetId: '', exportType: 'IMODEL', tilerConfig: [{ key: 'maxTrianglesPerTile', value: 3000 }] }),
});
if (started.status !== 202) throw new Error(`POST /mesh-export/ answered ${started.status}: ${await started.text()}`);

const publicDir = path.join(path.dirname(require.resolve('@itwin/core-frontend/package.json')), 'lib', 'public');
const { server, base } = await listen((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><html><body style="margin:0"><div id="v" style="width:800px;height:600px"></div><script src="/bundle.js"></script></body></html>');
    return;
  }
  if (url.pathname === '/bundle.js') { res.writeHead(200, { 'Content-Type': 'text/javascript' }); res.end(bundleJs); return; }
  const file = url.pathname.startsWith('/itwin/') ? path.join(publicDir, decodeURIComponent(url.pathname.slice(7))) : null;
  sendFile(res, file && file.startsWith(publicDir) ? file : null);
});

const browser = await launchChromium(chromium);
const problems = [];
const counts = { api: 0, tiles: 0 };
let status = 1;
try {
  const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); if (process.env.DEBUG_PAGE) console.log('page:', m.text()); });
  // IModelApp asks Google for a web font; answer it here (nothing leaves the machine).
  await page.route('https://fonts.googleapis.com/**', (route) => route.fulfill({ status: 200, contentType: 'text/css', body: '' }));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  // The Mesh Export API host frontend-tiles calls is ours.
  await page.route('https://api.bentley.com/**', async (route) => {
    const u = new URL(route.request().url());
    counts.api++;
    const response = await route.fetch({ url: api + u.pathname + u.search });
    if (response.status() >= 400) problems.push(`${response.status()} ${u.pathname}${u.search}`);
    await route.fulfill({ response });
  });
  page.on('request', (r) => { if (process.env.DEBUG_PAGE) console.log('request:', r.url().slice(0, 120));
    const u = r.url();
    if (u.startsWith(api + '/tiles/')) counts.tiles++;
    else if (!u.startsWith(base) && !u.startsWith(api) && !u.startsWith('https://api.bentley.com/') &&
             !u.startsWith('https://fonts.googleapis.com/') && !u.startsWith('data:') && !u.startsWith('blob:'))
      problems.push(`off-host request ${u}`);
  });
  page.on('response', (r) => { if (process.env.DEBUG_PAGE) console.log('response:', r.status(), r.url().slice(0, 100), r.headers()['content-encoding'] ?? ''); if (r.url().startsWith(api) && r.status() >= 400) problems.push(`${r.status()} ${r.url()}`); });
  page.on('requestfailed', (r) => problems.push(`${r.url()} ${r.failure()?.errorText}`));
  await page.goto(base);
  await page.waitForFunction(() => window.__ready === true, null, { timeout: 60000 });
  const obtained = await page.evaluate((a) => window.obtain(a), { iModelId, token });
  if (obtained.error) throw new Error(obtained.error);

  // What the view must show: the tileset's models, and the categories and sub-categories of
  // every feature in its tiles (read with iTwin.js' parser).
  const tilesetUrl = new URL(obtained.url);
  const tileset = await (await fetch(tilesetUrl)).json();
  const models = Object.keys(tileset.extensions.BENTLEY_BatchedTileSet.models);
  const extents = { low: [Infinity, Infinity, Infinity], high: [-Infinity, -Infinity, -Infinity] };
  for (const m of Object.values(tileset.extensions.BENTLEY_BatchedTileSet.models))
    for (let a = 0; a < 3; a++) { extents.low[a] = Math.min(extents.low[a], m.extents.low[a]); extents.high[a] = Math.max(extents.high[a], m.extents.high[a]); }
  const subCategories = new Map();
  const uris = [];
  (function walk(t) { if (t.content) uris.push(t.content.uri); for (const c of t.children ?? []) walk(c); })(tileset.root);
  for (const uri of uris) {
    const u = new URL(uri, tilesetUrl);
    u.search = tilesetUrl.search;
    const read = await readImdlTile(await (await fetch(u)).arrayBuffer());
    if (typeof read === 'number') { problems.push(`${uri}: TileReadStatus ${read}`); continue; }
    for (const f of read.features) subCategories.set(f.subCategoryId, categoryOf.get(f.elementId));
  }
  const pairs = [...subCategories].filter(([, c]) => c);
  const categories = [...new Set(pairs.map(([, c]) => c))];
  // Probe points: the top centre of the five tallest elements (seen from above, nothing covers them).
  const probes = inspect.elements.filter((e) => e.triangles > 0)
    .map((e) => ({ id: e.id, model: e.model, top: [(e.range.low[0] + e.range.high[0]) / 2, (e.range.low[1] + e.range.high[1]) / 2, e.range.high[2]] }))
    .sort((a, b) => b.top[2] - a.top[2]).slice(0, 5);
  const result = await page.evaluate((a) => window.draw(a), {
    url: obtained.url, models, categories, subCategories: pairs.map(([s, c]) => [c, s]), extents,
    pick: probes.map((e) => e.top),
  });
  await page.screenshot({ path: path.join(work, 'frontend-tiles.png') });
  const badPicks = probes.filter((p, i) => result.picked[i]?.element !== p.id || result.picked[i]?.model !== p.model)
    .map((p, i) => `${p.id} (model ${p.model}) picked as ${JSON.stringify(result.picked[i])}`);
  if (badPicks.length) problems.push(...badPicks.map((b) => `pick ${b}`));
  console.log(JSON.stringify({ obtained: { polls: obtained.polls }, result, counts, problems, consoleErrors: consoleErrors.slice(0, 5) }));
  const ok = result.selected > 0 && result.requested === 0 && result.litFraction > 0.01 && problems.length === 0 &&
             counts.tiles > 2 && badPicks.length === 0;
  console.log(`frontend-tiles-draw: ${ok ? 'ok' : 'FAILED'}: ${obtained.polls} list calls until Complete, ${result.selected} tiles drawn ` +
              `(${counts.tiles} tile requests through the signed link), ${(100 * result.litFraction).toFixed(1)}% of pixels lit, ` +
              `picked ${result.picked.map((p) => p?.element).join(' ')} (expected ${probes.map((p) => p.id).join(' ')}), ${problems.length} problems`);
  status = ok ? 0 : 1;
} catch (e) {
  console.log(`frontend-tiles-draw: FAILED: ${e.stack ?? e}`);
} finally {
  await browser.close();
  server.close();
  await service.stop();
}
process.exit(status);
