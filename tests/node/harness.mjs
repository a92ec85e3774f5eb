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
/// { api: "http://127.0.0.1:P", stop() }. Its log goes to `logFile`.
export async function startService(meshexport, dataDir, env, logFile, extraArgs = []) {
  const service = spawn(meshexport, ['serve', '--data-dir', dataDir, '--port', '0', ...extraArgs],
                        { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  service.stderr.pipe(fs.createWriteStream(logFile));
  const api = await new Promise((resolve, reject) => {
    let out = '';
    service.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    service.on('exit', (code) => reject(new Error(`meshexport serve exited with ${code}`)));
    setTimeout(() => reject(new Error('meshexport serve did not start')), 30000);
  });
  return {
    api,
    stop: async () => {
      service.kill('SIGTERM');
      await new Promise((r) => (service.exitCode !== null ? r() : service.on('exit', r)));
    },
  };
}

/// Page-side source of `litFraction(canvas)`: the share of a WebGL canvas' pixels brighter than
/// near-black (the canvas needs preserveDrawingBuffer). Insert it into a page's <script>.
export const litFractionSource = `function litFraction(canvas) {
  const copy = document.createElement('canvas');
  copy.width = canvas.width; copy.height = canvas.height;
  const ctx = copy.getContext('2d');
  ctx.drawImage(canvas, 0, 0);
  const px = ctx.getImageData(0, 0, copy.width, copy.height).data;
  let lit = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i] + px[i + 1] + px[i + 2] > 24) lit++;
  return lit / (px.length / 4);
}`;
