// Reading one iMdl tile with iTwin.js' own code, as frontend-tiles' parse worker does: shared by
// check-imdl.mjs and frontend-tiles-draw.mjs.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require('@itwin/core-frontend'); // first: the deep module below needs it loaded
const { parseImdlDocument, convertFeatureTable } = require('@itwin/core-frontend/lib/cjs/common/imdl/ParseImdlDocument');
const { ModelFeature } = require('@itwin/core-common');

/// Parses `bytes` (copied, so the view starts at byte 0). Resolves to the TileReadStatus number
/// when iTwin.js rejects the tile, else { doc, features: [{ elementId, modelId, subCategoryId,
/// geometryClass }] } indexed like the per-vertex feature indices.
export async function readImdlTile(bytes) {
  const data = new Uint8Array(bytes);
  const doc = await parseImdlDocument({ data, batchModelId: '0x1', is3d: true, maxVertexTableSize: 2048, timeline: undefined });
  if (typeof doc === 'number') return doc;
  const table = convertFeatureTable(doc.featureTable, '0x1');
  const features = [];
  for (let i = 0; i < table.numFeatures; i++) features.push(table.getFeature(i, ModelFeature.create()));
  return { doc, features };
}
