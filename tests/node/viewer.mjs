// The service's own web page (GET /viewer/, viewer/) in headless Chromium, used as a person would,
// behind a reverse proxy that serves the service under a path prefix (publicUrl …/prefix):
//   - the page loads with its Content-Security-Policy, and no policy violation or page error happens;
//   - the dev token is typed in; it is kept in sessionStorage and never appears in a URL;
//   - the iModel's name (it contains <script> and <img onerror>) is shown as text, nothing runs;
//   - an export of the iModel is started from the form (with a tilerConfig key) and reaches
//     Complete in the list, which updates by itself;
//   - opened, CesiumJS draws the campus: roofs, facades and ground each cover part of the canvas
//     (colour classes from the fixture reference), and a click on a roof and one on a facade show
//     that element's id, its model and a subcategory, checked against the fixture reference;
//   - an iModel without geolocation (primitives.bim) is drawn in its local frame;
//   - the stage chart has one bar per stage of the export's metrics, in order, coloured by backend;
//     triangles per level likewise; the debug overlay (bounding volumes, levels) switches on;
//   - the comparison page draws the iModel's runs; an IMODEL export shows its metadata and note;
//     Delete removes an export.
// Screenshots of each step are written to OUT_DIR.
// usage: node viewer.mjs MESHEXPORT VIEWER_DIST IMODEL.bim REFERENCE.json OUT_DIR
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { launchChromium, startService } from './harness.mjs';

const [meshexport, viewerDist, bim, referenceFile, work] = process.argv.slice(2);
if (!work) {
  console.error('usage: node viewer.mjs MESHEXPORT VIEWER_DIST IMODEL.bim REFERENCE.json OUT_DIR');
  process.exit(2);
}
const reference = JSON.parse(fs.readFileSync(referenceFile, 'utf8'));
const data = path.join(work, 'data');
const added = execFileSync(meshexport, ['imodels', 'add', bim, '--data-dir', data], { encoding: 'utf8' });
const iModelId = /added ([0-9a-f-]{36})/.exec(added)[1];
const name = /"(.*)" →/.exec(added)[1];
// A second iModel that is not geolocated: drawn in its local frame.
const localBim = path.join(path.dirname(referenceFile), 'primitives.bim');
const localId = /added ([0-9a-f-]{36})/.exec(execFileSync(meshexport, ['imodels', 'add', localBim, '--data-dir', data],
                                                          { encoding: 'utf8' }))[1];
const token = `viewer-test-${process.pid}-0123456789abcdef`;
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

// The reverse proxy: /prefix/… → the service's /…; its port is the service's publicUrl.
let upstream = null;
const proxy = http.createServer((req, res) => {
  if (!req.url.startsWith('/prefix/')) {
    res.writeHead(404);
    res.end();
    return;
  }
  const fwd = http.request({ host: '127.0.0.1', port: upstream.port, path: req.url.slice('/prefix'.length), method: req.method,
                             headers: { ...req.headers, host: `127.0.0.1:${upstream.port}` } }, (r) => {
    res.writeHead(r.statusCode, r.headers);
    r.pipe(res);
  });
  fwd.on('error', () => {
    res.writeHead(502);
    res.end();
  });
  req.pipe(fwd);
});
await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
const front = `http://127.0.0.1:${proxy.address().port}/prefix`;
const service = await startService(meshexport, data, { MESHEXPORT_DEV_TOKEN: token }, path.join(work, 'service.log'),
                                   ['--workers', '1', '--viewer-dir', viewerDist, '--public-url', front]);
upstream = { port: Number(new URL(service.bound).port) };

const browser = await launchChromium(chromium);
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
const pageErrors = [];
const requested = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));
page.on('console', (m) => {
  if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
});
page.on('request', (r) => requested.push({ url: r.url(), auth: r.headers().authorization ?? '' }));
await page.addInitScript(() => {
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
});
/// The 3D canvas read back: the share of each colour class of the demo campus, for roof and
/// facade a pixel whose 7×7 neighbourhood is all of that class (a safe place to click), the most
/// common colours (for a failure message), the share of pixels that are not the empty background
/// and the share of the width they span, and a coarse grey copy (to compare two frames).
function sampleCanvas() {
  return page.evaluate(() => {
    const canvas = document.querySelector('#cesium canvas');
    const copy = document.createElement('canvas');
    copy.width = canvas.width;
    copy.height = canvas.height;
    const ctx = copy.getContext('2d');
    ctx.drawImage(canvas, 0, 0);
    const px = ctx.getImageData(0, 0, copy.width, copy.height).data;
    // Colour classes of the fixture's materials (iModel colours are 0xBBGGRR; lit, so told apart by
    // channel relations): roofs 0x323c96 (red-brown), facades 0xb4c8d6 (warm light grey), ground
    // 0x5a966e (green); the image-based light tints the greys. The globe behind is a dark blue-grey.
    const classOf = (r, g, b) => (r > 80 && r > g + 30 && r > b + 30 ? 'roof'
                                  : g > r + 12 && g > b + 12 ? 'ground'
                                    : Math.min(r, g, b) > 100 && Math.max(r, g, b) - Math.min(r, g, b) < 40 ? 'facade' : 'other');
    const counts = { roof: 0, facade: 0, ground: 0, other: 0 };
    const w = copy.width;
    const h = copy.height;
    const spots = { roof: null, facade: null };
    for (let y = 0; y < h; ++y)
      for (let x = 0; x < w; ++x) {
        const i = (y * w + x) * 4;
        const c = classOf(px[i], px[i + 1], px[i + 2]);
        counts[c]++;
        if (c in spots && !spots[c] && x > 3 && y > 3 && x < w - 4 && y < h - 4) {
          let all = true;
          for (let dy = -3; dy <= 3 && all; ++dy)
            for (let dx = -3; dx <= 3 && all; ++dx) {
              const j = ((y + dy) * w + x + dx) * 4;
              all = classOf(px[j], px[j + 1], px[j + 2]) === c;
            }
          if (all) spots[c] = { x, y };
        }
      }
    const n = w * h;
    const hist = new Map();
    for (let i = 0; i < px.length; i += 4 * 7) {
      const key = [px[i], px[i + 1], px[i + 2]].map((v) => v & 0xf0).join(',');
      hist.set(key, (hist.get(key) ?? 0) + 1);
    }
    const common = [...hist.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k]) => `(${k})`).join(' ');
    const grey = [];
    for (let i = 0; i < px.length; i += 4 * 5) grey.push((px[i] + px[i + 1] + px[i + 2]) / 3);
    // The page's empty background (#15181c).
    const empty = (r, g, b) => Math.abs(r - 21) + Math.abs(g - 24) + Math.abs(b - 28) < 12;
    let drawn = 0;
    let minX = w;
    let maxX = -1;
    for (let i = 0; i < px.length; i += 4)
      if (!empty(px[i], px[i + 1], px[i + 2])) {
        ++drawn;
        minX = Math.min(minX, (i / 4) % w);
        maxX = Math.max(maxX, (i / 4) % w);
      }
    return { common, roof: counts.roof / n, facade: counts.facade / n, ground: counts.ground / n, spots, grey,
             drawn: drawn / n, span: maxX >= minX ? (maxX - minX + 1) / w : 0, scale: canvas.clientWidth / w };
  });
}

/// Waits until the page shows export `id` and its tileset has loaded or failed.
const viewSettled = (id) => page.waitForSelector(`#page[data-export="${id}"] #view-status[data-state="loaded"], ` +
                                                 `#page[data-export="${id}"] #view-status[data-state="failed"]`,
                                                 { timeout: 180000 });

/// Starts an export from the form (maxTrianglesPerTile given or left empty); resolves to the new
/// export's id once the page has announced it.
async function startFromForm(imodel, type, maxTriangles) {
  const previous = (await page.$('#start-result a')) ? (await page.textContent('#start-result a')).trim() : '';
  await page.selectOption('#start-imodel', imodel);
  await page.selectOption('#start-type', type);
  await page.fill('#key-maxTrianglesPerTile', maxTriangles);
  await page.click('#start-button');
  await page.waitForFunction((prev) => {
    const a = document.querySelector('#start-result a');
    return a && a.textContent.trim() !== prev;
  }, previous, { timeout: 20000 });
  return (await page.textContent('#start-result a')).trim();
}

const shot = (file) => page.screenshot({ path: path.join(work, file) });

try {
  // ---- the page, its policy, the token ----
  const response = await page.goto(`${front}/`);
  check(page.url() === `${front}/viewer/`, `/ redirects to the viewer behind the prefix (${page.url()})`);
  const csp = response.headers()['content-security-policy'] ?? '';
  const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1] ?? '';
  check(/default-src 'none'/.test(csp) && scriptSrc.split(' ').every((t) => t === "'self'" || t === "'wasm-unsafe-eval'") &&
        /connect-src 'self'/.test(csp) && /frame-ancestors 'none'/.test(csp),
        `the page has a strict Content-Security-Policy (${csp.slice(0, 60)}…)`);
  await page.fill('#token', token);
  await page.click('#token-form button[type=submit]');
  check(await page.evaluate(() => window.sessionStorage.getItem('meshexport.token')) !== null, 'the token is in sessionStorage');
  await page.waitForSelector(`#imodel-list li[data-imodel="${iModelId}"]`, { timeout: 20000 });
  const shownName = await page.textContent(`#imodel-list li[data-imodel="${iModelId}"] .name`);
  check(shownName === name, `the iModel name is shown as text: ${JSON.stringify(shownName)}`);
  check(await page.evaluate(() => window.__xss === undefined && !document.querySelector('main script, main img')),
        'nothing in the name ran or became an element');
  await shot('viewer-1-list.png');

  // ---- start an export from the form ----
  await page.click('#start-keys summary');
  const exportId = await startFromForm(iModelId, '3DTILES', '2000');
  check(/^[0-9a-f-]{36}$/.test(exportId), `the form started export ${exportId}`);
  // One click: the page follows the export and draws it once Complete.
  await viewSettled(exportId);
  check(page.url().endsWith(`#/export/${exportId}`) && await page.getAttribute('#view-status', 'data-state') === 'loaded',
        'the started export is drawn on its page without another click');
  await page.click('header nav a[href="#/"]');
  await page.waitForSelector(`tr[data-export="${exportId}"][data-status="Complete"]`, { timeout: 180000 });
  check(true, 'the list shows it Complete');
  const exported = await (await fetch(`${service.bound}/mesh-export/${exportId}`, { headers: { Authorization: `Bearer ${token}` } })).json();
  const metrics = exported.export.stats.metrics;
  check(JSON.stringify(exported.export.request.tilerConfig) === JSON.stringify([{ key: 'maxTrianglesPerTile', value: '2000' }]),
        `the form sent its key (${JSON.stringify(exported.export.request.tilerConfig)})`);
  await shot('viewer-2-complete.png');

  // ---- open it: CesiumJS draws the campus ----
  await page.click(`tr[data-export="${exportId}"] a.open`);
  await viewSettled(exportId);
  check(await page.getAttribute('#view-status', 'data-state') === 'loaded', `the tileset loaded: ${await page.textContent('#view-status')}`);
  await page.waitForTimeout(1500); // a few frames after the last tile
  const classes = await sampleCanvas();
  check(classes.roof > 0.003 && classes.facade > 0.003 && classes.ground > 0.02,
        `the campus is drawn: roofs ${(classes.roof * 100).toFixed(2)} %, facades ${(classes.facade * 100).toFixed(2)} %, ` +
        `ground ${(classes.ground * 100).toFixed(2)} % of the canvas; common colours ${classes.common}`);
  await shot('viewer-3-drawn.png');

  // ---- click a roof, then a facade: their ids against the reference ----
  const canvasBox = await page.locator('#cesium canvas').boundingBox();
  for (const [kind, label, colour] of [['roof', /^roof \d+$/, 0x323c96], ['facade', /^(building \d+|water tower)$/, 0xb4c8d6]]) {
    const spot = classes.spots[kind];
    check(spot !== null, `a ${kind} is on screen to click`);
    if (!spot) continue;
    await page.evaluate(() => document.querySelector('#picked').replaceChildren());
    await page.mouse.click(canvasBox.x + spot.x * classes.scale, canvasBox.y + spot.y * classes.scale);
    await page.waitForSelector('#picked-element', { timeout: 20000 });
    const shown = { element: (await page.textContent('#picked-element')).trim(), model: (await page.textContent('#picked-model')).trim(),
                    subcategory: (await page.textContent('#picked-subcategory')).trim() };
    const ref = reference.elements.find((e) => e.id === shown.element);
    check(ref !== undefined && label.test(ref.label) && ref.colors.includes(colour),
          `the clicked ${kind} is element ${shown.element} (${ref ? ref.label : 'not in the reference'})`);
    check(ref !== undefined && shown.model === ref.model, `its model ${shown.model} is the reference's (${ref?.model})`);
    check(/^0x[0-9a-f]+$/.test(shown.subcategory), `its subcategory is shown (${shown.subcategory})`);
    await shot(`viewer-4-picked-${kind}.png`);
  }

  // ---- metrics drawn ----
  const bars = await page.$$eval('svg.stages rect.bar', (rs) => rs.map((r) => ({ stage: r.dataset.stage, backend: r.dataset.backend,
                                                                                fill: r.getAttribute('fill') })));
  check(bars.length === metrics.stages.length && bars.every((b, i) => b.stage === metrics.stages[i].name),
        `one bar per stage, in order (${bars.map((b) => b.stage).join(', ')})`);
  const fillOf = new Map();
  check(bars.every((b, i) => b.backend === metrics.stages[i].backend && (fillOf.get(b.backend) ?? fillOf.set(b.backend, b.fill).get(b.backend)) === b.fill),
        `bars coloured by backend (${[...fillOf.entries()].map(([k, v]) => `${k} ${v}`).join(', ')})`);
  const levelBars = await page.$$eval('svg.levels rect.bar', (rs) => rs.length);
  check(levelBars === metrics.counts.trianglesPerLevel.length && levelBars > 1, `one bar per level (${levelBars})`);
  check(await page.$$eval('svg.memory rect.bar', (rs) => rs.length) >= 2, 'memory drawn');

  // ---- debug overlay ----
  const before = (await sampleCanvas()).grey;
  await page.check('#debug-volumes');
  await page.check('#debug-levels');
  await page.waitForTimeout(1500);
  const after = (await sampleCanvas()).grey;
  const changed = after.filter((v, i) => Math.abs(v - before[i]) > 30).length / after.length;
  check(changed > 0.005, `the debug overlay draws boxes and labels (${(changed * 100).toFixed(1)} % of the canvas changed)`);
  await shot('viewer-5-debug.png');

  // ---- an iModel without geolocation: drawn in its local frame ----
  const localExport = await startFromForm(localId, '3DTILES', '');
  await viewSettled(localExport);
  const localStatus = await page.textContent('#view-status');
  await page.locator('#cesium').scrollIntoViewIfNeeded();
  await page.waitForTimeout(1500); // a few frames after the last tile
  const local = await sampleCanvas();
  // The fixture is a row of small primitives: few pixels, spread across the view.
  check(page.url().endsWith(`#/export/${localExport}`) && /local frame/.test(localStatus) && local.drawn > 0.001 &&
        local.span > 0.3,
        `an iModel without geolocation is drawn in a local frame (${localStatus}; ${(local.drawn * 100).toFixed(2)} % of ` +
        `the canvas drawn, across ${(local.span * 100).toFixed(0)} % of its width)`);
  await shot('viewer-6-local.png');

  // ---- an IMODEL export: metadata and the note; the comparison; delete ----
  const imodelExport = await startFromForm(iModelId, 'IMODEL', '');
  await page.goto(`${front}/viewer/#/`);
  await page.waitForSelector(`tr[data-export="${imodelExport}"][data-status="Complete"]`, { timeout: 180000 });
  await page.click(`tr[data-export="${imodelExport}"] a.open`);
  await page.waitForSelector('#imdl-summary table', { timeout: 20000 });
  check((await page.textContent('.note')).includes('frontend-tiles'), 'an IMODEL export names the client that draws it');
  await shot('viewer-7-imodel.png');
  await page.goto(`${front}/viewer/#/compare/${iModelId}`);
  await page.waitForSelector('svg.compare rect.bar', { timeout: 20000 });
  const runs = await page.$$eval('svg.compare rect.bar', (rs) => new Set(rs.map((r) => r.dataset.export)).size);
  check(runs === 2, `the comparison draws both runs (${runs})`);
  await shot('viewer-8-compare.png');
  await page.goto(`${front}/viewer/#/`);
  const del = `tr[data-export="${imodelExport}"] button.delete`;
  await page.click(del);
  await page.click(del);
  await page.waitForSelector(`tr[data-export="${imodelExport}"]`, { state: 'detached', timeout: 20000 });
  const gone = await fetch(`${service.bound}/mesh-export/${imodelExport}`, { headers: { Authorization: `Bearer ${token}` } });
  check(gone.status === 404, `Delete removed the export (GET answers ${gone.status})`);

  // ---- nothing leaked, nothing blocked ----
  const violations = await page.evaluate(() => window.__violations);
  check(violations.length === 0, `no Content-Security-Policy violation (${violations.join('; ')})`);
  check(pageErrors.length === 0, `no page error (${pageErrors.slice(0, 3).join('; ')})`);
  check(!requested.some((r) => r.url.includes(token)), 'the token is in no URL');
  const origin = new URL(front).origin;
  check(requested.every((r) => !r.auth || new URL(r.url).origin === origin),
        'the token goes to the page\'s own origin only');
  check(requested.some((r) => r.url.includes('/prefix/tiles/')) && requested.every((r) => new URL(r.url).origin === origin),
        'tiles and API calls all went through the prefix, same origin');
} catch (e) {
  failures.push(String(e && e.stack || e));
  console.log(`FAIL ${e}`);
  await shot('viewer-error.png').catch(() => {});
} finally {
  await browser.close();
  await service.stop();
  proxy.close();
}
if (failures.length) {
  console.log(`viewer: ${failures.length} failure(s)`);
  process.exit(1);
}
console.log('viewer: all checks passed');
