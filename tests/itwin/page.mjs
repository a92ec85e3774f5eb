// The browser side of frontend-tiles-draw.mjs, bundled with esbuild: a real iTwin.js frontend
// (IModelApp, a BlankConnection spatial view, @itwin/frontend-tiles) draws an IMODEL export.
import { BlankConnection, IModelApp, Pixel, ScreenViewport, SpatialViewState } from '@itwin/core-frontend';
import { Cartographic, ColorDef, EmptyLocalization, RenderMode, SubCategoryAppearance } from '@itwin/core-common';
import { Point3d, Range3d, Vector3d } from '@itwin/core-geometry';
import { initializeFrontendTiles, obtainMeshExportTilesetUrl } from '@itwin/frontend-tiles';
import { ViewRect } from '@itwin/core-frontend';
import { Logger, LogLevel } from '@itwin/core-bentley';

Logger.initializeToConsole();
Logger.setLevelDefault(LogLevel.Error);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// Stage 1 (any non-empty iTwinId: frontend-tiles requires one, our server ignores it): what an app's default provider does — list the iModel's IMODEL exports on the Mesh
/// Export API (the harness routes api.bentley.com to our server) until one is Complete.
window.obtain = async ({ iModelId, token }) => {
  await IModelApp.startup({ localization: new EmptyLocalization(), publicPath: '/itwin/' });
  const start = Date.now();
  let polls = 0;
  while (Date.now() - start < 150000) {
    polls++;
    const url = await obtainMeshExportTilesetUrl({ iTwinId: 'f1d49cc7-f9b3-494f-9c67-563ea5597063', iModelId, changesetId: '', accessToken: `Bearer ${token}` });
    if (url) return { url: url.toString(), polls };
    await sleep(1000);
  }
  return { error: `no Complete IMODEL export after ${polls} polls` };
};

/// Stage 2: a spatial view of the models and categories, its tiles from that URL.
window.draw = async ({ url, models, categories, subCategories, extents, pick }) => {
  initializeFrontendTiles({ computeSpatialTilesetBaseUrl: async () => new URL(url), nopFallback: true });
  const range = Range3d.fromJSON(extents);
  const iModel = BlankConnection.create({ name: 'meshexport', location: Cartographic.fromDegrees({ longitude: 0, latitude: 0, height: 0 }), extents: range });
  for (const [category, subCategory] of subCategories) iModel.subcategories.add(category, subCategory, new SubCategoryAppearance(), false);
  const view = SpatialViewState.createBlank(iModel, range.low, Vector3d.createStartEnd(range.low, range.high));
  view.modelSelector.addModels(models);
  view.categorySelector.addCategories(categories);
  // A blank view starts in wireframe, where surfaces without edges (ours: frontend-tiles shows no
  // edges by default) draw nothing; apps show iModels smooth-shaded.
  view.viewFlags = view.viewFlags.copy({ renderMode: RenderMode.SmoothShade, lighting: true });
  view.displayStyle.backgroundColor = ColorDef.black;
  const div = document.getElementById('v');
  const vp = ScreenViewport.create(div, view);
  IModelApp.viewManager.addViewport(vp);
  vp.zoomToVolume(range);
  const start = Date.now();
  while (Date.now() - start < 120000) {
    await sleep(250);
    if (vp.areAllTileTreesLoaded && vp.numRequestedTiles === 0 && (vp.numReadyTiles > 0 || vp.numSelectedTiles > 0)) break;
  }
  await sleep(500);
  vp.renderFrame();
  const result = { selected: vp.numSelectedTiles, ready: vp.numReadyTiles, requested: vp.numRequestedTiles, loaded: vp.areAllTileTreesLoaded };
  const image = vp.readImageBuffer();
  let lit = 0;
  for (let i = 0; i < image.data.length; i += 4) if (image.data[i] + image.data[i + 1] + image.data[i + 2] > 24) lit++;
  result.litFraction = lit / (image.width * image.height);
  // Pick: which element is drawn at each probe point (world points projected to the view; 3×3
  // rects, as the doc advises).
  result.picked = [];
  for (const world of pick) {
    const v = vp.worldToView(Point3d.fromJSON(world));
    const x = Math.round(v.x), y = Math.round(v.y);
    vp.readPixels(new ViewRect(x - 1, y - 1, x + 2, y + 2), Pixel.Selector.Feature, (pixels) => {
      const p = pixels?.getPixel(x, y);
      result.picked.push(p?.feature ? { element: p.feature.elementId, model: p.modelId ?? p.feature.modelId, subCategory: p.feature.subCategoryId } : null);
    });
  }
  return result;
};
window.__ready = true;
