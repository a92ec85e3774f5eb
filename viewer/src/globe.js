// CesiumJS (npm cesium, bundled) drawing a Complete 3DTILES/CESIUM export: on the globe where the
// tileset is geolocated, in a local frame (no globe) where it is not; a click shows the picked
// element's ids; a debug overlay shows the tiles' bounding volumes and their levels.
import {
  BoundingSphere, buildModuleUrl, Cartesian2, Cartesian3, Cesium3DTileFeature, Cesium3DTileset, CesiumWidget, Color,
  DirectionalLight, HeadingPitchRange, LabelCollection, LabelStyle, Matrix4, ScreenSpaceEventHandler, ScreenSpaceEventType,
  VerticalOrigin,
} from 'cesium';

// The Cesium files copied beside the bundle (build.mjs); relative to the page, so a path prefix works.
buildModuleUrl.setBaseUrl(new URL(`${MESHEXPORT_CESIUM_DIR}/`, window.location.href).href);

/// An iModel id as iTwin.js writes it: "0x" and lower-case hex; "" for none.
export function formatId(value) {
  if (value === undefined || value === null || value === '') return '';
  try {
    return `0x${BigInt(value).toString(16)}`;
  } catch {
    return String(value);
  }
}

/// A tileset whose centre is within 100 km of the earth's centre was not placed on the globe.
const isLocal = (sphere) => Cartesian3.magnitude(sphere.center) < 1e5;

const tileDepth = (tile) => {
  let d = 0;
  for (let t = tile.parent; t; t = t.parent) ++d;
  return d;
};

/// Opens `url` (tileset.json with its signed query) in `container`. `onPick({ element, model,
/// subcategory, properties })` is called for every click on a feature (null for a click on nothing);
/// `onState(text, state)` with the loading state ('loading', 'loaded', 'failed').
export async function openTileset(container, url, { onPick, onState }) {
  const widget = new CesiumWidget(container, {
    baseLayer: false, skyBox: false, skyAtmosphere: false, shouldAnimate: false,
    contextOptions: { webgl: { preserveDrawingBuffer: true } },
  });
  const scene = widget.scene;
  scene.backgroundColor = Color.fromCssColorString('#15181c');
  scene.globe.baseColor = Color.fromCssColorString('#3b4148');
  scene.globe.depthTestAgainstTerrain = false;
  scene.globe.show = false;
  // A headlight: the model is lit from the camera, the same at any hour (the sun would leave a
  // model dark at its local night).
  scene.light = new DirectionalLight({ direction: Cartesian3.clone(scene.camera.directionWC) });
  scene.preRender.addEventListener(() => Cartesian3.clone(scene.camera.directionWC, scene.light.direction));
  const labels = scene.primitives.add(new LabelCollection());
  const view = {
    widget,
    tileset: null,
    showLevels: false,
    setBoundingVolumes(on) {
      if (view.tileset) view.tileset.debugShowBoundingVolume = on;
    },
    setLevels(on) {
      view.showLevels = on;
      if (!on) labels.removeAll();
    },
    destroy() {
      if (!widget.isDestroyed()) widget.destroy();
    },
  };

  onState('Loading the tileset…', 'loading');
  let tileset;
  try {
    tileset = await Cesium3DTileset.fromUrl(url);
  } catch (e) {
    onState(`The tileset could not be loaded: ${e.message ?? e}`, 'failed');
    return view;
  }
  if (widget.isDestroyed()) return view;
  view.tileset = tileset;
  scene.primitives.add(tileset);
  const local = isLocal(tileset.boundingSphere);
  scene.globe.show = !local;
  const failed = [];
  tileset.tileFailed.addEventListener((e) => failed.push(e.message ?? String(e)));

  // Levels: the tiles drawn in a frame, labelled once the set changes.
  let drawn = [];
  let lastKey = '';
  tileset.tileVisible.addEventListener((tile) => {
    if (view.showLevels) drawn.push(tile);
  });
  scene.postRender.addEventListener(() => {
    if (!view.showLevels) return;
    const tiles = drawn.slice(0, 400);
    drawn = [];
    const key = tiles.map((t) => `${tileDepth(t)}:${t.boundingSphere.center.x}`).join('|');
    if (key === lastKey) return;
    lastKey = key;
    labels.removeAll();
    for (const t of tiles)
      labels.add({ position: Cartesian3.clone(t.boundingSphere.center), text: `L${tileDepth(t)} · ${t.geometricError > 0 ? `${t.geometricError.toPrecision(3)} m` : 'leaf'}`,
                   font: '13px sans-serif', fillColor: Color.WHITE, outlineColor: Color.BLACK, outlineWidth: 3,
                   style: LabelStyle.FILL_AND_OUTLINE, verticalOrigin: VerticalOrigin.CENTER,
                   disableDepthTestDistance: Number.POSITIVE_INFINITY });
  });

  const sphere = BoundingSphere.clone(tileset.boundingSphere);
  const offset = new HeadingPitchRange(0.6, -0.6, Math.max(1, sphere.radius) * 2.2);
  if (local) {
    // The scene's own axes (z up) around its centre: the camera orbits the model, not the earth
    // (whose east-north-up frame is meaningless near its centre).
    scene.screenSpaceCameraController.enableCollisionDetection = false;
    widget.camera.lookAtTransform(Matrix4.fromTranslation(sphere.center), offset);
  } else {
    widget.camera.viewBoundingSphere(sphere, offset);
    widget.camera.lookAtTransform(Matrix4.IDENTITY);
  }

  let highlighted = null;
  const handler = new ScreenSpaceEventHandler(scene.canvas);
  handler.setInputAction((click) => {
    const picked = scene.pick(new Cartesian2(click.position.x, click.position.y));
    if (highlighted && !highlighted.tileset.isDestroyed()) highlighted.color = Color.WHITE;
    highlighted = null;
    if (!(picked instanceof Cesium3DTileFeature)) return onPick(null);
    highlighted = picked;
    picked.color = Color.YELLOW;
    const properties = {};
    for (const id of picked.getPropertyIds()) properties[id] = picked.getProperty(id);
    onPick({ element: formatId(properties.element), model: formatId(properties.model),
             subcategory: formatId(properties.subcategory), properties });
  }, ScreenSpaceEventType.LEFT_CLICK);

  tileset.allTilesLoaded.addEventListener(() => {
    if (failed.length) onState(`${failed.length} tile(s) failed: ${failed[0]}`, 'failed');
    else onState(`All tiles loaded; ${local ? 'local frame (not geolocated)' : 'placed on the globe'}.`, 'loaded');
  });
  return view;
}
