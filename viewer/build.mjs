// Builds the viewer into dist/ (or the folder given as the first argument): the app bundled and
// minified by esbuild with content hashes in its names (served as immutable), CesiumJS' static
// files (workers, WebAssembly, assets, widget CSS) copied under cesium-VERSION/, and index.html
// written last, naming the hashed files. Nothing is fetched: everything comes from node_modules,
// pinned by package-lock.json.
// usage: node build.mjs [OUT_DIR]
import esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] ?? path.join(here, 'dist'));
const cesiumPackage = JSON.parse(fs.readFileSync(path.join(here, 'node_modules', 'cesium', 'package.json'), 'utf8'));
const cesiumDir = `cesium-${cesiumPackage.version}`;
const staging = `${out}.tmp-${process.pid}`;
fs.rmSync(staging, { recursive: true, force: true });
fs.mkdirSync(path.join(staging, 'assets'), { recursive: true });

const result = await esbuild.build({
  entryPoints: [path.join(here, 'src', 'main.js'), path.join(here, 'src', 'style.css')],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  entryNames: '[name]-[hash]',
  outdir: path.join(staging, 'assets'),
  metafile: true,
  define: { MESHEXPORT_CESIUM_DIR: JSON.stringify(cesiumDir) },
  logLevel: 'warning',
});
const built = Object.keys(result.metafile.outputs).map((f) => path.relative(staging, f));
const appJs = built.find((f) => /^assets\/main-[A-Z0-9]+\.js$/.test(f));
const appCss = built.find((f) => /^assets\/style-[A-Z0-9]+\.css$/.test(f));
if (!appJs || !appCss) throw new Error(`esbuild wrote no app bundle: ${built.join(', ')}`);

const cesiumBuild = path.join(here, 'node_modules', 'cesium', 'Build', 'Cesium');
for (const part of ['Workers', 'ThirdParty', 'Assets', 'Widgets'])
  fs.cpSync(path.join(cesiumBuild, part), path.join(staging, cesiumDir, part), { recursive: true });

const html = fs.readFileSync(path.join(here, 'src', 'index.html'), 'utf8')
  .replaceAll('{{APP_JS}}', appJs).replaceAll('{{APP_CSS}}', appCss).replaceAll('{{CESIUM_DIR}}', cesiumDir);
fs.writeFileSync(path.join(staging, 'index.html'), html);
fs.writeFileSync(path.join(staging, 'build.json'),
                 JSON.stringify({ app: appJs, css: appCss, cesium: cesiumPackage.version }, null, 2) + '\n');
// Replaced in one step: a running service never serves half a build.
const old = `${out}.old-${process.pid}`;
if (fs.existsSync(out)) fs.renameSync(out, old);
fs.renameSync(staging, out);
fs.rmSync(old, { recursive: true, force: true });
const bytes = fs.statSync(path.join(out, appJs)).size;
console.log(`viewer: ${path.relative(process.cwd(), out) || '.'} (${appJs}, ${(bytes / 1e6).toFixed(2)} MB; CesiumJS ${cesiumPackage.version})`);
