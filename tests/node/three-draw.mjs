// Draws a meshexport tileset in three.js with NASA-AMMOS' 3d-tiles-renderer (npm three and
// 3d-tiles-renderer, ES modules through an import map) in headless Chromium (Debian chromium,
// SwiftShader WebGL), everything on loopback:
//   - every tile request succeeds and no tile fails to load;
//   - the tiles finish loading (nothing downloading or parsing) with at least one model drawn;
//   - the frame is not blank (1 % of the pixels lit; 0.05 % for linework, with --hues);
//   - with --hues=green:N,blue:M: at least N green-dominant and M blue-dominant pixels (linework
//     drawn in its own colours; three.js draws glTF LINES as LineSegments, POINTS as Points);
//   - --lines=N: the loaded models hold at least N line segments (LineSegments) and, with
//     --points=M, M points, counted from the three.js objects themselves.
// usage: node three-draw.mjs TILESET_DIR OUT.png [--hues=green:N,blue:M] [--lines=N] [--points=M]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { huesArgument, launchChromium, litFractionSource, listen, sendFile } from './harness.mjs';

const [tilesetDir, outPng] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (!tilesetDir || !outPng) {
  console.error('usage: node three-draw.mjs TILESET_DIR OUT.png [--hues=green:N,blue:M] [--lines=N] [--points=M]');
  process.exit(2);
}
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const hues = huesArgument(process.argv) ?? {};
const wantLines = Number(arg('lines') ?? 0), wantPoints = Number(arg('points') ?? 0);
const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.join(here, 'node_modules');

const page = `<!doctype html><html><head>
<style>html,body{margin:0;width:800px;height:600px;overflow:hidden;background:#000}</style>
<script type="importmap">{ "imports": {
  "three": "/m/three/build/three.module.js",
  "three/": "/m/three/",
  "3d-tiles-renderer": "/m/3d-tiles-renderer/build/index.js"
} }</script></head><body><script>
${litFractionSource}
window.__result = { loaded: 0, failed: [], done: false };
</script><script type="module">
import * as THREE from 'three';
import { TilesRenderer } from '3d-tiles-renderer';
const result = window.__result;
try {
  const renderer = new THREE.WebGLRenderer({ antialias: false, preserveDrawingBuffer: true });
  renderer.setSize(800, 600);
  document.body.appendChild(renderer.domElement);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0, 0, 0);
  scene.add(new THREE.AmbientLight(0xffffff, 1.5));
  const sun = new THREE.DirectionalLight(0xffffff, 2);
  sun.position.set(1, 2, 3);
  scene.add(sun);
  const camera = new THREE.PerspectiveCamera(50, 800 / 600, 0.1, 1e8);
  const tiles = new TilesRenderer('/tiles/tileset.json');
  tiles.errorTarget = 1;
  tiles.setCamera(camera);
  tiles.setResolutionFromRenderer(camera, renderer);
  scene.add(tiles.group);
  tiles.addEventListener('load-model', () => { result.loaded++; });
  tiles.addEventListener('load-error', (e) => { result.failed.push(String(e.url) + ': ' + String(e.error)); });
  let framed = false, quiet = 0, frames = 0;
  const frame = () => {
    if (!framed && tiles.root) {
      // Centre the tileset (an ECEF root transform puts it 6000 km away) and look down at it
      // from outside, along the direction of its centre from the earth's (up, for ECEF).
      const sphere = new THREE.Sphere();
      if (tiles.getBoundingSphere(sphere)) {
        const up = sphere.center.length() > 1e5 ? sphere.center.clone().normalize() : new THREE.Vector3(0, 1, 0);
        tiles.group.position.copy(sphere.center).multiplyScalar(-1);
        const side = new THREE.Vector3(0, 0, 1).cross(up).normalize();
        if (side.lengthSq() < 0.5) side.set(1, 0, 0);
        camera.position.copy(up.clone().multiplyScalar(1.2).add(side.multiplyScalar(0.8)).multiplyScalar(sphere.radius * 1.6));
        camera.up.copy(new THREE.Vector3(0, 0, 1).projectOnPlane(up).normalize());
        if (camera.up.lengthSq() < 0.5) camera.up.set(0, 1, 0);
        camera.lookAt(0, 0, 0);
        camera.near = sphere.radius / 1000;
        camera.far = sphere.radius * 100;
        camera.updateProjectionMatrix();
        framed = true;
      }
    }
    camera.updateMatrixWorld();
    tiles.update();
    renderer.render(scene, camera);
    ++frames;
    const busy = tiles.stats.downloading + tiles.stats.parsing + (tiles.stats.queued ?? 0);
    quiet = framed && result.loaded > 0 && busy === 0 ? quiet + 1 : 0;
    if (quiet >= 10 || frames > 3000 || result.failed.length) {
      Object.assign(result, pixelStats(renderer.domElement));
      result.segments = 0; result.points = 0; result.meshes = 0;
      tiles.group.traverse((o) => {
        if (!o.visible) return;
        const count = o.geometry ? (o.geometry.index ? o.geometry.index.count : o.geometry.attributes.position.count) : 0;
        if (o.isLineSegments) result.segments += count / 2;
        else if (o.isPoints) result.points += count;
        else if (o.isMesh) result.meshes++;
      });
      result.frames = frames;
      result.done = true;
      return;
    }
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
} catch (e) {
  result.error = String(e && e.stack || e);
  result.done = true;
}
</script></body></html>`;

const failedRequests = [];
const { server, base } = await listen((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (url.pathname === '/favicon.ico') { res.writeHead(204); res.end(); return; }
  if (url.pathname === '/') { res.writeHead(200, { 'Content-Type': 'text/html' }); res.end(page); return; }
  let file = null;
  if (url.pathname.startsWith('/m/')) file = path.join(modules, decodeURIComponent(url.pathname.slice(3)));
  else if (url.pathname.startsWith('/tiles/')) file = path.join(tilesetDir, decodeURIComponent(url.pathname.slice(7)));
  if (file && !path.resolve(file).startsWith(path.resolve(modules)) && !path.resolve(file).startsWith(path.resolve(tilesetDir))) file = null;
  if (!sendFile(res, file)) failedRequests.push(`${req.method} ${url.pathname} 404`);
});

const browser = await launchChromium(chromium);
let status = 1;
try {
  const tab = await browser.newPage({ viewport: { width: 800, height: 600 } });
  const consoleErrors = [];
  tab.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  tab.on('pageerror', (e) => consoleErrors.push(String(e)));
  tab.on('requestfailed', (r) => { if (r.url().startsWith(base)) failedRequests.push(`${r.url()} ${r.failure()?.errorText}`); });
  tab.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) failedRequests.push(`off-host request ${r.url()}`); });
  await tab.goto(base);
  await tab.waitForFunction(() => window.__result && window.__result.done, null, { timeout: 240000, polling: 500 });
  const result = await tab.evaluate(() => window.__result);
  await tab.screenshot({ path: outPng });
  console.log(JSON.stringify({ ...result, failedRequests, consoleErrors: consoleErrors.slice(0, 5) }));
  const huesOk = Object.entries(hues).every(([k, n]) => (result.hues?.[k] ?? 0) >= n);
  const ok = !result.error && result.loaded > 0 && result.failed.length === 0 && failedRequests.length === 0 &&
             result.litFraction > (Object.keys(hues).length ? 0.0005 : 0.01) && huesOk && result.segments >= wantLines && result.points >= wantPoints;
  console.log(`three-draw: ${ok ? 'ok' : 'FAILED'}: ${result.loaded} models loaded, ${result.failed.length} failed, ` +
              `${(100 * (result.litFraction ?? 0)).toFixed(2)}% of pixels lit, pixels by hue ${JSON.stringify(result.hues)}, ` +
              `${result.segments} line segments and ${result.points} points drawn`);
  status = ok ? 0 : 1;
} finally {
  await browser.close();
  server.close();
}
process.exit(status);
