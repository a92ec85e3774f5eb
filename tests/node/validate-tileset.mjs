// Runs the external validators over a tileset folder written by meshexport:
//  - tileset.json against the 3D Tiles 1.1 JSON schemas (ajv, draft 2020-12);
//  - every .b3dm's header, and its feature and batch tables against the 3D Tiles schemas;
//  - every .glb (and the glb in every .b3dm) through Khronos gltf-validator (0 errors required; EXT_mesh_features and
//    EXT_structural_metadata are reported as unsupported by it, so the glTF JSON and those
//    extension objects are also checked against their JSON schemas with ajv).
// usage: node validate-tileset.mjs TILESET_DIR [SCHEMA_DIR]
// Without SCHEMA_DIR (a bare clone has no schemas beside it) the JSON schema checks are skipped,
// said so on one line; gltf-validator runs in every case.
// Exits 0 when everything is valid, 1 otherwise; prints one line per problem and a summary.
import fs from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import validator from 'gltf-validator';

const [dir, schemaDir] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node validate-tileset.mjs TILESET_DIR [SCHEMA_DIR]');
  process.exit(2);
}
const haveSchemas = Boolean(schemaDir) && fs.existsSync(path.join(schemaDir, '3d-tiles', 'schema'));

function listJson(root) {
  const out = [];
  for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
    const p = path.join(root, entry.name);
    if (entry.isDirectory()) out.push(...listJson(p));
    else if (entry.name.endsWith('.json')) out.push(p);
  }
  return out;
}

/** An ajv instance holding every schema file of `roots`, each registered under base + its
 *  file name (the schemas' $ids are bare file names and their $refs are relative). */
function makeAjv(base, roots) {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateSchema: false, validateFormats: false, logger: false });
  const seen = new Set();
  for (const root of roots) {
    for (const file of listJson(root)) {
      const schema = JSON.parse(fs.readFileSync(file, 'utf8'));
      const rel = path.relative(root, file).split(path.sep).join('/');
      const id = base + rel;
      if (seen.has(id)) ajv.removeSchema(id);
      seen.add(id);
      delete schema.$schema; // draft-04 files use only keywords 2020-12 reads the same way
      schema.$id = id;
      ajv.addSchema(schema);
    }
  }
  return ajv;
}

const problems = [];
const fmt = (errors) => errors.slice(0, 5).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');

// tileset.json
const tileset = JSON.parse(fs.readFileSync(path.join(dir, 'tileset.json'), 'utf8'));
let coreAjv = null;
const extAjv = {};
if (haveSchemas) {
  const tilesAjv = makeAjv('https://schemas.meshexport.local/3d-tiles/', [path.join(schemaDir, '3d-tiles', 'schema')]);
  const validateTileset = tilesAjv.getSchema('https://schemas.meshexport.local/3d-tiles/tileset.schema.json');
  if (!validateTileset(tileset)) problems.push(`tileset.json: schema: ${fmt(validateTileset.errors)}`);
  // glTF core and extension schemas: each extension gets a namespace holding the core files too,
  // because the extension schemas refer to core files by bare name.
  const gltfCore = path.join(schemaDir, 'gltf', 'schema');
  coreAjv = makeAjv('https://schemas.meshexport.local/gltf/', [gltfCore]);
  for (const ext of ['EXT_mesh_features', 'EXT_structural_metadata', 'EXT_meshopt_compression']) {
    const base = `https://schemas.meshexport.local/${ext}/`;
    extAjv[ext] = { ajv: makeAjv(base, [gltfCore, path.join(schemaDir, 'gltf', 'extensions', ext)]), base };
  }
} else {
  console.log(`SKIP JSON schema checks: no 3D Tiles / glTF schemas at "${schemaDir ?? ''}" (gltf-validator still runs)`);
}
function checkExt(ext, file, obj, where, name) {
  const v = extAjv[ext].ajv.getSchema(extAjv[ext].base + file);
  if (!v(obj)) problems.push(`${name}: ${where} ${ext}: ${fmt(v.errors)}`);
}

// b3dm (3D Tiles 1.0): the header's lengths, the feature and batch table JSON against the 3D Tiles
// schemas, then the embedded glb like any other.
let tilesAjvForTables = null;
function b3dmGlb(name, file) {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = new TextDecoder().decode(file.subarray(0, 4));
  if (magic !== 'b3dm' || dv.getUint32(4, true) !== 1 || dv.getUint32(8, true) !== file.byteLength) {
    problems.push(`${name}: b3dm header (magic ${magic}, version ${dv.getUint32(4, true)}, byteLength ${dv.getUint32(8, true)} of ${file.byteLength})`);
    return null;
  }
  const [ftJ, ftB, btJ, btB] = [12, 16, 20, 24].map((o) => dv.getUint32(o, true));
  const glbStart = 28 + ftJ + ftB + btJ + btB;
  if (glbStart % 8 !== 0) problems.push(`${name}: b3dm glb does not start on an 8-byte boundary`);
  if (haveSchemas) {
    tilesAjvForTables ??= makeAjv('https://schemas.meshexport.local/3d-tiles/', [path.join(schemaDir, '3d-tiles', 'schema')]);
    const text = (o, n) => JSON.parse(new TextDecoder().decode(file.subarray(o, o + n)));
    // featureTable.schema.json's catch-all oneOf matches an integer twice (GlobalPropertyInteger and
    // GlobalPropertyNumber), so each b3dm semantic is checked against its own definition instead.
    const base = 'https://schemas.meshexport.local/3d-tiles/TileFormats/featureTable.schema.json#/definitions/';
    const ft = text(28, ftJ);
    const semantics = { BATCH_LENGTH: 'globalPropertyInteger', RTC_CENTER: 'globalPropertyCartesian3' };
    if (!('BATCH_LENGTH' in ft)) problems.push(`${name}: feature table lacks BATCH_LENGTH`);
    for (const [k, v] of Object.entries(ft)) {
      if (k === 'extensions' || k === 'extras') continue;
      if (!semantics[k]) { problems.push(`${name}: feature table member ${k} is not a b3dm semantic`); continue; }
      const vs = tilesAjvForTables.getSchema(base + semantics[k]);
      if (!vs(v)) problems.push(`${name}: feature table ${k}: ${fmt(vs.errors)}`);
    }
    if (btJ > 0) {
      const vbt = tilesAjvForTables.getSchema('https://schemas.meshexport.local/3d-tiles/TileFormats/batchTable.schema.json');
      const bt = text(28 + ftJ + ftB, btJ);
      if (!vbt(bt)) problems.push(`${name}: batch table schema: ${fmt(vbt.errors)}`);
      for (const [k, v] of Object.entries(bt))
        if (Array.isArray(v) && v.length !== ft.BATCH_LENGTH) problems.push(`${name}: batch table ${k} has ${v.length} values, BATCH_LENGTH ${ft.BATCH_LENGTH}`);
    }
  }
  return file.subarray(glbStart);
}

const glbs = fs.readdirSync(dir).filter((f) => f.endsWith('.glb') || f.endsWith('.b3dm')).sort();
let issuesTotal = 0;
for (const name of glbs) {
  const file = new Uint8Array(fs.readFileSync(path.join(dir, name)));
  const bytes = name.endsWith('.b3dm') ? b3dmGlb(name, file) : file;
  if (!bytes) continue;
  const report = await validator.validateBytes(bytes, { maxIssues: 50, format: 'glb' });
  issuesTotal += report.issues.numErrors;
  if (report.issues.numErrors > 0) {
    const msgs = report.issues.messages.filter((m) => m.severity === 0).slice(0, 5).map((m) => `${m.code} ${m.pointer ?? ''} ${m.message}`);
    problems.push(`${name}: gltf-validator: ${report.issues.numErrors} errors: ${msgs.join('; ')}`);
  }
  if (!haveSchemas) continue;
  const jsonLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  const gltf = JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + jsonLength)));
  const vcore = coreAjv.getSchema('https://schemas.meshexport.local/gltf/glTF.schema.json');
  if (!vcore(gltf)) problems.push(`${name}: glTF schema: ${fmt(vcore.errors)}`);
  if (gltf.extensions?.EXT_structural_metadata)
    checkExt('EXT_structural_metadata', 'glTF.EXT_structural_metadata.schema.json', gltf.extensions.EXT_structural_metadata, 'root', name);
  for (const mesh of gltf.meshes ?? [])
    for (const prim of mesh.primitives ?? [])
      if (prim.extensions?.EXT_mesh_features)
        checkExt('EXT_mesh_features', 'mesh.primitive.EXT_mesh_features.schema.json', prim.extensions.EXT_mesh_features, 'primitive', name);
  for (const bv of gltf.bufferViews ?? [])
    if (bv.extensions?.EXT_meshopt_compression)
      checkExt('EXT_meshopt_compression', 'bufferView.EXT_meshopt_compression.schema.json', bv.extensions.EXT_meshopt_compression, 'bufferView', name);
  for (const b of gltf.buffers ?? [])
    if (b.extensions?.EXT_meshopt_compression)
      checkExt('EXT_meshopt_compression', 'buffer.EXT_meshopt_compression.schema.json', b.extensions.EXT_meshopt_compression, 'buffer', name);
}

for (const p of problems) console.log(p);
console.log(`validate-tileset: ${glbs.length} glb/b3dm, ${issuesTotal} gltf-validator errors, ${problems.length} problems`);
process.exit(problems.length === 0 && glbs.length > 0 ? 0 : 1);
