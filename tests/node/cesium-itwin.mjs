// The real-client test of the service: CesiumJS (npm cesium) in headless Chromium (Debian
// chromium, SwiftShader WebGL, playwright-core) calls ITwinData.createTilesetFromIModelId against
// a running `meshexport serve` — the API alone, no shortcut: CesiumJS lists the iModel's exports
// (which starts one), polls until one is Complete, follows the signed mesh link to tileset.json and
// the tiles, and draws them. Everything is on loopback; the page and the API are different origins
// (CORS is exercised). Passes when the tileset loads with no failed request, every API and tile
// response is 2xx/304, and the frame is not blank.
// With MESHEXPORT_CESIUM_FLEET set to a PostgreSQL connection string, the service is a fleet of
// two nodes on that store and one data folder: node A (role all) takes the POST and runs the
// exports, CesiumJS talks to node B (role api) only — B lists, polls and serves what A started.
// usage: node cesium-itwin.mjs MESHEXPORT DEMO.bim WORK_DIR OUT.png
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { launchChromium, litFractionSource, listen, sendFile, startService } from './harness.mjs';

const [meshexport, demoBim, work, outPng] = process.argv.slice(2);
if (!outPng) {
  console.error('usage: node cesium-itwin.mjs MESHEXPORT DEMO.bim WORK_DIR OUT.png');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const cesiumDir = path.join(here, 'node_modules', 'cesium', 'Build', 'Cesium');
fs.rmSync(work, { recursive: true, force: true });
fs.mkdirSync(work, { recursive: true });
const data = path.join(work, 'data');

// Register the iModel and start the service on a free port.
const added = execFileSync(meshexport, ['imodels', 'add', demoBim, '--data-dir', data], { encoding: 'utf8' });
const iModelId = /added ([0-9a-f-]{36})/.exec(added)[1];
// A second iModel whose export a user started (and tuned) with a POST, so that the tileset has
// many tiles and every tile request must carry the link's query.
const primitivesBim = path.join(path.dirname(demoBim), 'primitives.bim');
const added2 = execFileSync(meshexport, ['imodels', 'add', primitivesBim, '--data-dir', data], { encoding: 'utf8' });
const tunedId = /added ([0-9a-f-]{36})/.exec(added2)[1];
const token = crypto.randomBytes(24).toString('hex');
const fleetStore = process.env.MESHEXPORT_CESIUM_FLEET;
const secret = crypto.randomBytes(24).toString('hex');
const fleetArgs = (name, role) => (fleetStore ? ['--store', fleetStore, '--role', role, '--node-name', name,
                                                 '--signing-secret', secret] : []);
const service = await startService(meshexport, data, { MESHEXPORT_DEV_TOKEN: token }, path.join(work, 'service.log'),
                                   ['--workers', '1', ...fleetArgs('node-a', 'all')]);
const nodeB = fleetStore ? await startService(meshexport, data, { MESHEXPORT_DEV_TOKEN: token },
                                              path.join(work, 'service-b.log'), fleetArgs('node-b', 'api'))
                         : null;
// The client's API: node B in a fleet (the POST below went to node A).
const api = nodeB ? nodeB.api : service.api;
if (nodeB) console.log(`cesium-itwin: fleet: POST through ${service.api}, CesiumJS against ${api}`);

const started = await fetch(`${service.api}/mesh-export/`, {
  method: 'POST',
  headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
  body: JSON.stringify({ iModelId: tunedId, changesetId: '', exportType: '3DTILES',
                         tilerConfig: [{ key: 'maxTrianglesPerTile', value: 500 }] }),
});
if (started.status !== 202) throw new Error(`POST /mesh-export/ answered ${started.status}: ${await started.text()}`);

const page = `<!doctype html><html><head>
<link rel="stylesheet" href="/cesium/Widgets/widgets.css">
<style>html,body,#c{margin:0;width:800px;height:600px;overflow:hidden}</style>
<script>window.CESIUM_BASE_URL = '/cesium/';</script>
<script src="/cesium/Cesium.js"></script></head><body><div id="c"></div><script>
${litFractionSource}
Cesium.ITwinPlatform.apiEndpoint = ${JSON.stringify(api + '/')};
Cesium.ITwinPlatform.defaultAccessToken = ${JSON.stringify(token)};
const viewer = new Cesium.Viewer('c', {
  baseLayer: false, baseLayerPicker: false, geocoder: false, homeButton: false, sceneModePicker: false,
  navigationHelpButton: false, animation: false, timeline: false, fullscreenButton: false, infoBox: false,
  selectionIndicator: false, globe: false, skyBox: false, skyAtmosphere: false,
  contextOptions: { webgl: { preserveDrawingBuffer: true } } });
viewer.scene.backgroundColor = Cesium.Color.BLACK;
// Loads one iModel the way a CesiumJS app does and reports what happened.
window.draw = async (iModelId) => {
  const result = { polls: 0, loaded: 0, failed: [] };
  try {
    viewer.scene.primitives.removeAll();
    let tileset;
    const start = Date.now();
    while (!tileset && Date.now() - start < 150000) {
      result.polls++;
      tileset = await Cesium.ITwinData.createTilesetFromIModelId({ iModelId });
      if (!tileset) await new Promise((r) => setTimeout(r, 1000));
    }
    if (!tileset) throw new Error('no Complete export after ' + result.polls + ' polls');
    tileset.tileLoad.addEventListener(() => { result.loaded++; });
    tileset.tileFailed.addEventListener((e) => { result.failed.push(e.url + ': ' + e.message); });
    viewer.scene.primitives.add(tileset);
    await viewer.zoomTo(tileset, new Cesium.HeadingPitchRange(0.6, -0.7, tileset.boundingSphere.radius * 1.6));
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, 120000);
      tileset.allTilesLoaded.addEventListener(() => { clearTimeout(timer); resolve(); });
    });
    viewer.scene.render();
    const canvas = viewer.scene.canvas;
    result.litFraction = litFraction(canvas);
  } catch (e) {
    result.error = String(e && e.stack || e);
  }
  return result;
};
window.__ready = true;
</script></body></html>`;

const { server, base } = await listen((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/favicon.ico') { res.writeHead(204); res.end(); return; }
  if (url.pathname === '/') { res.writeHead(200, { 'Content-Type': 'text/html' }); res.end(page); return; }
  sendFile(res, url.pathname.startsWith('/cesium/') ? path.join(cesiumDir, decodeURIComponent(url.pathname.slice(8))) : null);
});

const browser = await launchChromium(chromium);
let status = 1;
const problems = [];
const apiCalls = { list: 0, tileset: 0, tiles: 0 };
try {
  const tab = await browser.newPage({ viewport: { width: 800, height: 600 } });
  const consoleErrors = [];
  tab.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  tab.on('requestfailed', (r) => problems.push(`${r.url()} ${r.failure()?.errorText}`));
  tab.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith(api) && !u.startsWith('data:') && !u.startsWith('blob:')) problems.push(`off-host request ${u}`);
  });
  tab.on('response', (r) => {
    const u = r.url();
    if (!u.startsWith(api)) return;
    const p = new URL(u).pathname;
    if (r.request().method() === 'OPTIONS') return;
    if (p.startsWith('/mesh-export')) apiCalls.list++;
    else if (p.endsWith('/tileset.json')) apiCalls.tileset++;
    else if (p.startsWith('/tiles/')) apiCalls.tiles++;
    if (r.status() >= 400) problems.push(`${r.status()} ${r.request().method()} ${p}`);
  });
  await tab.goto(base);
  await tab.waitForFunction(() => window.__ready === true, null, { timeout: 60000 });
  const results = {};
  let ok = true;
  // primitives.bim is a row of small solids: few pixels, but not none.
  for (const [name, id, minTiles, minLit] of [['demo (auto-generated)', iModelId, 1, 0.01],
                                               ['primitives (POSTed, 500 triangles per tile)', tunedId, 5, 0.001]]) {
    const before = { ...apiCalls };
    const result = await tab.evaluate((i) => window.draw(i), id);
    const png = outPng.replace(/\.png$/, '') + '-' + id.slice(0, 8) + '.png';
    await tab.screenshot({ path: png });
    const tiles = apiCalls.tiles - before.tiles;
    const good = !result.error && result.loaded >= minTiles && result.failed.length === 0 && result.litFraction > minLit &&
                 apiCalls.tileset > before.tileset && tiles >= minTiles;
    ok = ok && good;
    results[name] = { ...result, tileRequests: tiles, screenshot: png };
    console.log(`cesium-itwin: ${name}: ${good ? 'ok' : 'FAILED'}: ${result.polls} list calls until Complete, ` +
                `${result.loaded} tiles loaded (${tiles} tile requests through the signed link), ` +
                `${(100 * (result.litFraction ?? 0)).toFixed(1)}% of pixels lit${result.error ? ', ' + result.error : ''}`);
  }
  console.log(JSON.stringify({ results, apiCalls, problems, consoleErrors: consoleErrors.slice(0, 5) }));
  if (problems.length) console.log(`cesium-itwin: FAILED: ${problems.length} failed requests`);
  status = ok && problems.length === 0 ? 0 : 1;
} finally {
  await browser.close();
  server.close();
  if (nodeB) await nodeB.stop();
  await service.stop();
}
process.exit(status);
