// Draws a meshexport tileset in CesiumJS (npm cesium) in headless Chromium (Debian chromium,
// SwiftShader WebGL) driven by playwright-core, everything on loopback:
//   - every tile request succeeds and CesiumJS reports no failed tile;
//   - the tileset finishes loading (allTilesLoaded) with at least one tile drawn;
//   - the frame is not blank (enough pixels differ from the background);
//   - picking the centre of the view returns a feature whose `element` property is set
//     (EXT_mesh_features + EXT_structural_metadata read by CesiumJS);
//   - with --hues=green:N,blue:M (linework): at least N pixels whose green channel exceeds red and
//     blue by 40, M blue ones likewise (FXAA off, so 1-pixel lines keep their colour), and
//     picking is not required (thin lines rarely sit under the centre of the view).
// usage: node cesium-draw.mjs TILESET_DIR OUT.png [--hues=green:N,blue:M]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { huesArgument, launchChromium, litFractionSource, listen, sendFile } from './harness.mjs';

const [tilesetDir, outPng] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const hues = huesArgument(process.argv);
if (!tilesetDir || !outPng) {
  console.error('usage: node cesium-draw.mjs TILESET_DIR OUT.png');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const cesiumDir = path.join(here, 'node_modules', 'cesium', 'Build', 'Cesium');

const page = `<!doctype html><html><head>
<link rel="stylesheet" href="/cesium/Widgets/widgets.css">
<style>html,body,#c{margin:0;width:800px;height:600px;overflow:hidden}</style>
<script>window.CESIUM_BASE_URL = '/cesium/';</script>
<script src="/cesium/Cesium.js"></script></head><body><div id="c"></div><script>
${litFractionSource}
(async () => {
  const result = { loaded: 0, failed: [], done: false };
  window.__result = result;
  try {
    const viewer = new Cesium.Viewer('c', {
      baseLayer: false, baseLayerPicker: false, geocoder: false, homeButton: false, sceneModePicker: false,
      navigationHelpButton: false, animation: false, timeline: false, fullscreenButton: false, infoBox: false,
      selectionIndicator: false, globe: false, skyBox: false, skyAtmosphere: false,
      contextOptions: { webgl: { preserveDrawingBuffer: true } } });
    viewer.scene.backgroundColor = Cesium.Color.BLACK;
    if (${hues ? 'true' : 'false'}) viewer.scene.postProcessStages.fxaa.enabled = false;
    const tileset = await Cesium.Cesium3DTileset.fromUrl('/tiles/tileset.json');
    tileset.tileLoad.addEventListener(() => { result.loaded++; });
    tileset.tileFailed.addEventListener((e) => { result.failed.push(e.url + ': ' + e.message); });
    viewer.scene.primitives.add(tileset);
    await viewer.zoomTo(tileset, new Cesium.HeadingPitchRange(0.6, -0.7, tileset.boundingSphere.radius * 1.6));
    tileset.allTilesLoaded.addEventListener(() => {
      if (result.done) return;
      viewer.scene.render();
      const canvas = viewer.scene.canvas;
      Object.assign(result, pixelStats(canvas));
      const picked = viewer.scene.pick(new Cesium.Cartesian2(canvas.clientWidth / 2, canvas.clientHeight / 2));
      if (picked && picked.getProperty) {
        const e = picked.getProperty('element');
        result.pickedElement = e === undefined ? null : String(e);
        result.pickedIds = picked.getPropertyIds ? picked.getPropertyIds() : [];
      }
      result.done = true;
    });
  } catch (e) {
    result.error = String(e && e.stack || e);
    result.done = true;
  }
})();
</script></body></html>`;

const failedRequests = [];
const { server, base } = await listen((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/favicon.ico') {
    res.writeHead(204);
    res.end();
    return;
  }
  if (url.pathname === '/') {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end(page);
    return;
  }
  let file = null;
  if (url.pathname.startsWith('/cesium/')) file = path.join(cesiumDir, decodeURIComponent(url.pathname.slice(8)));
  else if (url.pathname.startsWith('/tiles/')) file = path.join(tilesetDir, decodeURIComponent(url.pathname.slice(7)));
  if (!sendFile(res, file)) failedRequests.push(`${req.method} ${url.pathname} 404`);
});

const browser = await launchChromium(chromium);
let status = 1;
try {
  const tab = await browser.newPage({ viewport: { width: 800, height: 600 } });
  const consoleErrors = [];
  tab.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  tab.on('requestfailed', (r) => { if (r.url().startsWith(base)) failedRequests.push(`${r.url()} ${r.failure()?.errorText}`); });
  tab.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) failedRequests.push(`off-host request ${r.url()}`); });
  await tab.goto(base);
  await tab.waitForFunction(() => window.__result && window.__result.done, null, { timeout: 240000, polling: 500 });
  const result = await tab.evaluate(() => window.__result);
  await tab.screenshot({ path: outPng });
  console.log(JSON.stringify({ ...result, failedRequests, consoleErrors: consoleErrors.slice(0, 5) }));
  const huesOk = !hues || Object.entries(hues).every(([k, n]) => (result.hues?.[k] ?? 0) >= n);
  const ok = !result.error && result.loaded > 0 && result.failed.length === 0 && failedRequests.length === 0 &&
             (hues ? result.litFraction > 0.0005 && huesOk
                   : result.litFraction > 0.01 && result.pickedElement && result.pickedElement !== '0');
  console.log(`cesium-draw: ${ok ? 'ok' : 'FAILED'}: ${result.loaded} tiles loaded, ${result.failed.length} failed, ` +
              `${(100 * (result.litFraction ?? 0)).toFixed(1)}% of pixels lit, picked element ${result.pickedElement}` +
              (hues ? `, pixels by hue ${JSON.stringify(result.hues)} (wanted ${JSON.stringify(hues)})` : ''));
  status = ok ? 0 : 1;
} finally {
  await browser.close();
  server.close();
}
process.exit(status);
