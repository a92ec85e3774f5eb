// Times iTwin.js exportGraphics (default options) over every spatial element of an iModel: the
// baseline `bench/imodel-vs-itwinjs.sh` compares meshexport's reader + tessellator with.
// Needs datasets/imodel's npm packages (npm ci --legacy-peer-deps there).
//   node bench/exportgraphics-time.mjs FILE.bim
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '..', 'datasets', 'imodel', 'package.json'));
const { IModelHost, SnapshotDb } = require('@itwin/core-backend');

const file = process.argv[2];
await IModelHost.startup({ cacheDir: '/tmp/meshexport-itwin-cache' });
const t0 = performance.now();
const db = SnapshotDb.openFile(file);
const ids = [];
db.withPreparedStatement('SELECT ECInstanceId FROM bis.GeometricElement3d', (stmt) => {
  while (stmt.step() === 100 /* BE_SQLITE_ROW */) ids.push(stmt.getValue(0).getId());
});
let triangles = 0;
db.exportGraphics({ elementIdArray: ids, onGraphics: (info) => { triangles += info.mesh.indices.length / 3; } });
const ms = performance.now() - t0;
db.close();
await IModelHost.shutdown();
console.log(JSON.stringify({ tool: 'itwinjs-exportGraphics', elements: ids.length, triangles, ms }));
