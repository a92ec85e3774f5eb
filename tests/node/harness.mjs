// What the browser tests share (no npm dependencies, so tests/itwin imports it too): headless
// Chromium with SwiftShader WebGL, a loopback static file server, and `meshexport serve` on a
// free port.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

export const contentTypes = { '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.glb': 'model/gltf-binary',
                              '.png': 'image/png', '.html': 'text/html', '.wasm': 'application/wasm', '.svg': 'image/svg+xml' };

/// Debian's chromium, headless, software WebGL, nothing phoning home.
export function launchChromium(chromium) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
           '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/// Sends `file` (404 when it is missing or a folder).
export function sendFile(res, file) {
  if (!file || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    res.writeHead(404);
    res.end();
    return false;
  }
  res.writeHead(200, { 'Content-Type': contentTypes[path.extname(file)] ?? 'application/octet-stream' });
  fs.createReadStream(file).pipe(res);
  return true;
}

/// An HTTP server on a free loopback port; resolves to { server, base: "http://127.0.0.1:P/" }.
export async function listen(handler) {
  const server = http.createServer(handler);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, base: `http://127.0.0.1:${server.address().port}/` };
}

/// `meshexport serve --data-dir DATA --port 0 ...` with `env` added; resolves once it listens, to
/// { api: "http://127.0.0.1:P", bound, stop() } (api: its public URL; bound: the address it
/// listens on, which differs behind --public-url). Its log goes to `logFile`.
export async function startService(meshexport, dataDir, env, logFile, extraArgs = []) {
  const service = spawn(meshexport, ['serve', '--data-dir', dataDir, '--port', '0', ...extraArgs],
                        { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  service.stderr.pipe(fs.createWriteStream(logFile));
  const [api, bound] = await new Promise((resolve, reject) => {
    let out = '';
    service.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)(?: \(bound to (http:\/\/[^\s)]+)\))?\n/.exec(out);
      if (m) resolve([m[1], m[2] ?? m[1]]);
    });
    service.on('exit', (code) => reject(new Error(`meshexport serve exited with ${code}`)));
    setTimeout(() => reject(new Error('meshexport serve did not start')), 30000);
  });
  return {
    api,
    bound,
    stop: async () => {
      service.kill('SIGTERM');
      await new Promise((r) => (service.exitCode !== null ? r() : service.on('exit', r)));
    },
  };
}

/// Page-side source of `pixelStats(canvas)` — one read-back of a WebGL canvas (it needs
/// preserveDrawingBuffer): `litFraction`, the share of pixels brighter than near-black, and `hues`,
/// the pixels whose red, green or blue channel exceeds both others by 40 — and of
/// `litFraction(canvas)` alone. Insert it into a page's <script>.
export const litFractionSource = `function pixelStats(canvas) {
  const copy = document.createElement('canvas');
  copy.width = canvas.width; copy.height = canvas.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(canvas, 0, 0);
  const px = ctx.getImageData(0, 0, copy.width, copy.height).data;
  let lit = 0;
  const hues = { red: 0, green: 0, blue: 0 };
  for (let i = 0; i < px.length; i += 4) {
    const r = px[i], g = px[i + 1], b = px[i + 2];
    if (r + g + b > 24) lit++;
    if (r > g + 40 && r > b + 40) hues.red++;
    else if (g > r + 40 && g > b + 40) hues.green++;
    else if (b > r + 40 && b > g + 40) hues.blue++;
  }
  return { litFraction: lit / (px.length / 4), hues };
}
function litFraction(canvas) { return pixelStats(canvas).litFraction; }`;

/// `--hues=green:N,blue:M` among the arguments, as { green: N, blue: M }; null when absent.
export function huesArgument(argv) {
  const text = argv.find((a) => a.startsWith('--hues='))?.slice(7);
  return text ? Object.fromEntries(text.split(',').map((h) => { const [k, n] = h.split(':'); return [k, Number(n)]; })) : null;
}
