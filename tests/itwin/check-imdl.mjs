// Reads an IMODEL export with iTwin.js' own code — the iMdl parser frontend-tiles runs in its
// worker (@itwin/core-frontend parseImdlDocument + the multi-model feature table) and
// frontend-tiles' tileset reader (BatchedTilesetSpec) — and compares what it decodes with the
// fixture's reference, written by iTwin.js when the fixture was authored:
//   - tileset.json is accepted by BatchedTilesetSpec.create and lists every model the tiles use;
//   - every tile parses (no TileReadStatus), with a mesh primitive or more;
//   - over the leaf tiles (full resolution): the same elements as the reference, each with its
//     model, exactly the reference's triangle count, colours among the reference's colours, a
//     non-zero sub-category, and every vertex inside the element's reference range.
// Elements our reader reports as skipped (B-spline surfaces, BReps: `meshexport inspect --json`,
// optional third argument) are listed, not failed: that gap belongs to the reader, not to iMdl.
// usage: node check-imdl.mjs EXPORT_DIR REFERENCE.json [INSPECT.json]
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { readImdlTile } from './imdl.mjs';

const require = createRequire(import.meta.url);

const [dir, referenceFile, inspectFile] = process.argv.slice(2);
if (!referenceFile) {
  console.error('usage: node check-imdl.mjs EXPORT_DIR REFERENCE.json');
  process.exit(2);
}
const reference = JSON.parse(fs.readFileSync(referenceFile, 'utf8'));
const skippedByReader = new Map();
if (inspectFile)
  for (const e of JSON.parse(fs.readFileSync(inspectFile, 'utf8')).elements)
    if (e.skipped && Object.keys(e.skipped).length && !e.triangles) skippedByReader.set(e.id, Object.keys(e.skipped).join(', '));
const tileset = JSON.parse(fs.readFileSync(path.join(dir, 'tileset.json'), 'utf8'));
const problems = [];
const notes = [];
const fail = (m) => { if (problems.length < 40) problems.push(m); };

const readerUrl = pathToFileURL(require.resolve('@itwin/frontend-tiles').replace(/lib[/\\](cjs|esm)[/\\].*$/, 'lib/esm/BatchedTilesetReader.js'));
const { BatchedTilesetSpec } = await import(readerUrl.href);
const spec = BatchedTilesetSpec.create(new URL('http://127.0.0.1/tiles/tileset.json'), tileset);
const listed = new Set(spec.models.keys());

const t = tileset.root.transform ?? [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1];
const origin = [t[12], t[13], t[14]];
const tiles = [];
(function walk(tile, leaf) {
  if (tile.content) tiles.push({ uri: tile.content.uri, leaf: !tile.children || tile.children.length === 0 });
  for (const c of tile.children ?? []) walk(c);
})(tileset.root);

const elements = new Map(); // id → { model, subCategories:Set, triangles, colors:Set, outside }
let parsed = 0;
for (const { uri, leaf } of tiles) {
  const read = await readImdlTile(fs.readFileSync(path.join(dir, uri)));
  if (typeof read === 'number') { fail(`${uri}: iTwin.js rejected the tile (TileReadStatus ${read})`); continue; }
  const { doc, features } = read;
  const prims = doc.nodes.flatMap((n) => n.primitives ?? []);
  if (prims.length === 0) { fail(`${uri}: no primitives (the tile would draw nothing)`); continue; }
  ++parsed;
  for (const f of features) if (!listed.has(f.modelId)) fail(`${uri}: model ${f.modelId} is not in BENTLEY_BatchedTileSet.models`);
  if (!leaf) continue;
  for (const p of prims) {
    if (p.type !== 'mesh') { fail(`${uri}: a ${p.type} primitive`); continue; }
    const v = p.params.vertices;
    const bytes = v.data;
    const stride = v.numRgbaPerVertex * 4;
    const q = v.qparams;
    const vertexFeature = (i) => bytes[i * stride + 8] | (bytes[i * stride + 9] << 8) | (bytes[i * stride + 10] << 16);
    const vertexColor = (i) => {
      if (v.uniformColor !== undefined) return v.uniformColor;
      const c = v.numVertices * v.numRgbaPerVertex + (bytes[i * stride + 6] | (bytes[i * stride + 7] << 8));
      const [r, g, b, a] = [bytes[4 * c], bytes[4 * c + 1], bytes[4 * c + 2], bytes[4 * c + 3]];
      const un = (x) => (a === 0 ? 0 : Math.min(255, Math.round((x * 255) / a)));
      return (un(r) | (un(g) << 8) | (un(b) << 16) | ((255 - a) << 24)) >>> 0;
    };
    const idx = p.params.surface.indices.data ?? p.params.surface.indices;
    for (let k = 0; k < idx.length; k += 9) {
      const first = idx[k] | (idx[k + 1] << 8) | (idx[k + 2] << 16);
      const f = features[vertexFeature(first)];
      let e = elements.get(f.elementId);
      if (!e) elements.set(f.elementId, (e = { model: f.modelId, subCategories: new Set(), triangles: 0, colors: new Set(), vertices: [] }));
      e.triangles++;
      e.subCategories.add(f.subCategoryId);
      if (f.geometryClass !== 0) fail(`${uri}: element ${f.elementId} geometry class ${f.geometryClass}`);
      for (let j = 0; j < 3; j++) {
        const vi = idx[k + 3 * j] | (idx[k + 3 * j + 1] << 8) | (idx[k + 3 * j + 2] << 16);
        e.colors.add(vertexColor(vi));
        const pos = [0, 1, 2].map((a) => {
          const key = 'xyz'[a];
          const qa = bytes[vi * stride + 2 * a] | (bytes[vi * stride + 2 * a + 1] << 8);
          return origin[a] + q.origin[key] + (q.scale[key] === 0 ? 0 : qa / q.scale[key]);
        });
        if (e.vertices.length < 20000) e.vertices.push(pos);
      }
    }
  }
}

const closeColor = (a, b) => [0, 8, 16, 24].every((s) => Math.abs(((a >>> s) & 255) - ((b >>> s) & 255)) <= 1);
let checked = 0;
for (const r of reference.elements) {
  const mine = elements.get(r.id);
  const expected = r.triangles ?? 0;
  if (!mine) {
    if (expected > 0 && skippedByReader.has(r.id)) notes.push(`element ${r.id}: skipped by the reader (${skippedByReader.get(r.id)})`);
    else if (expected > 0) fail(`element ${r.id}: ${expected} triangles in the reference, none in the tiles`);
    continue;
  }
  ++checked;
  if (mine.model !== r.model) fail(`element ${r.id}: model ${mine.model}, reference ${r.model}`);
  if (mine.triangles !== expected) fail(`element ${r.id}: ${mine.triangles} triangles, reference ${expected}`);
  for (const s of mine.subCategories) if (s === '0' || s === '0x0') fail(`element ${r.id}: sub-category 0`);
  for (const c of mine.colors)
    if (!(r.colors ?? []).some((rc) => closeColor(c, rc >>> 0))) fail(`element ${r.id}: colour 0x${c.toString(16)} not among the reference's ${(r.colors ?? []).map((x) => '0x' + (x >>> 0).toString(16))}`);
  const lo = r.range.low, hi = r.range.high;
  const tol = 1e-3 * Math.max(1, ...lo.map(Math.abs), ...hi.map(Math.abs));
  const out = mine.vertices.find((p) => p.some((x, a) => x < lo[a] - tol || x > hi[a] + tol));
  if (out) fail(`element ${r.id}: vertex ${out.map((x) => x.toFixed(4))} outside the reference range`);
}
for (const id of elements.keys()) if (!reference.elements.some((r) => r.id === id)) fail(`element ${id} is not in the reference`);

console.log(`check-imdl ${path.basename(dir)}: ${problems.length ? 'FAILED' : 'ok'}: ${parsed}/${tiles.length} tiles parsed by iTwin.js, ` +
            `${listed.size} models listed, ${checked} elements compared with ${path.basename(referenceFile)}`);
for (const p of problems) console.log('  ' + p);
for (const n of notes) console.log('  note: ' + n);
process.exit(problems.length ? 1 : 0);
