// Reads an IMODEL export with iTwin.js' own code — the iMdl parser frontend-tiles runs in its
// worker (@itwin/core-frontend parseImdlDocument + the multi-model feature table) and
// frontend-tiles' tileset reader (BatchedTilesetSpec) — and compares what it decodes with the
// fixture's reference, written by iTwin.js when the fixture was authored:
//   - tileset.json is accepted by BatchedTilesetSpec.create and lists every model the tiles use;
//   - every tile parses (no TileReadStatus), with a mesh primitive or more;
//   - over the leaf tiles (full resolution): the same elements as the reference, each with its
//     model, exactly the reference's triangle count, colours among the reference's colours, a
//     non-zero sub-category, and every vertex inside the element's reference range;
//   - linework: polyline primitives (6 tessellated entries a segment) give exactly the reference's
//     onLineGraphics segment count per element and its line colours; point-string primitives
//     the authored points of a point string (exportGraphics reports those as a line string).
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
    if (!['mesh', 'polyline', 'point'].includes(p.type)) { fail(`${uri}: a ${p.type} primitive`); continue; }
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
    // Corners per item: a triangle 3, a tessellated segment 6 (its 1st and 2nd entries are its
    // two ends), a point 1.
    const [idx, per, used] = p.type === 'mesh' ? [p.params.surface.indices.data ?? p.params.surface.indices, 3, 3]
      : p.type === 'polyline' ? [p.params.polyline.indices.data ?? p.params.polyline.indices, 6, 2]
        : [p.params.indices.data ?? p.params.indices, 1, 1];
    for (let k = 0; k < idx.length; k += 3 * per) {
      const first = idx[k] | (idx[k + 1] << 8) | (idx[k + 2] << 16);
      const f = features[vertexFeature(first)];
      let e = elements.get(f.elementId);
      if (!e) elements.set(f.elementId, (e = { model: f.modelId, subCategories: new Set(), triangles: 0, segments: 0, points: 0,
                                               colors: new Set(), lineColors: new Set(), vertices: [] }));
      if (p.type === 'mesh') e.triangles++;
      else if (p.type === 'polyline') e.segments++;
      else e.points++;
      e.subCategories.add(f.subCategoryId);
      if (f.geometryClass !== 0) fail(`${uri}: element ${f.elementId} geometry class ${f.geometryClass}`);
      for (let j = 0; j < used; j++) {
        const vi = idx[k + 3 * j] | (idx[k + 3 * j + 1] << 8) | (idx[k + 3 * j + 2] << 16);
        (p.type === 'mesh' ? e.colors : e.lineColors).add(vertexColor(vi));
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
  // A point string: exportGraphics reports its points joined as a line string.
  const expectedPoints = r.points ? r.points.length / 3 : 0;
  const expectedSegments = r.points ? 0 : (r.lineSegments ?? 0);
  if (!mine) {
    if (expected > 0 && skippedByReader.has(r.id)) notes.push(`element ${r.id}: skipped by the reader (${skippedByReader.get(r.id)})`);
    else if (expected > 0 || expectedSegments > 0 || expectedPoints > 0)
      fail(`element ${r.id}: ${expected} triangles, ${expectedSegments} segments, ${expectedPoints} points in the reference, none in the tiles`);
    continue;
  }
  if (r.lineSegments !== undefined) { // references made with onLineGraphics
    if (mine.segments !== expectedSegments) fail(`element ${r.id}: ${mine.segments} segments, reference ${expectedSegments}`);
    if (mine.points !== expectedPoints) fail(`element ${r.id}: ${mine.points} points, reference ${expectedPoints}`);
    for (const c of mine.lineColors)
      if (!(r.lineColors ?? []).some((rc) => closeColor(c, rc >>> 0))) fail(`element ${r.id}: line colour 0x${c.toString(16)} not among the reference's`);
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
