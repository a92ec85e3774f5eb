// Authors the iModel fixtures with iTwin.js (dev-time tool; the tiler never runs iTwin.js) and
// dumps iTwin.js' own view of each file as the reference the C++ reader is tested against.
//   npm install --legacy-peer-deps && node make-fixtures.mjs OUT_DIR [--large] [--only=NAME] [--references-only]
// Writes OUT_DIR/<name>.bim and OUT_DIR/<name>.reference.json.
import fs from 'node:fs';
import path from 'node:path';
import { IModelHost, SnapshotDb, PhysicalModel, SpatialCategory, SubCategory, RenderMaterialElement, GeometryPart } from '@itwin/core-backend';
import { BRepGeometryOperation, Cartographic, Code, ColorDef, EcefLocation, ElementGeometry, GeometryParams, GeometryStreamBuilder, IModel, Placement3d, SubCategoryAppearance } from '@itwin/core-common';
import { Angle, AngleSweep, BSplineCurve3d, LineSegment3d, PointString3d, BSplineSurface3d, Point2d, Box, Cone, LinearSweep, Loop, ParityRegion, Path, Ray3d, RotationalSweep, RuledSweep, UnionRegion, Point3d, Range3d, Sphere, TorusPipe, Transform, Matrix3d, Vector3d, YawPitchRollAngles, LineString3d, Arc3d, PolyfaceBuilder, StrokeOptions } from '@itwin/core-geometry';

const [outDir] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const wantLarge = process.argv.includes('--large');
if (!outDir) { console.error('usage: node make-fixtures.mjs OUT_DIR [--large]'); process.exit(2); }
fs.mkdirSync(outDir, { recursive: true });

await IModelHost.startup({ cacheDir: path.join(outDir, '.itwin-cache') });

function box(lo, hi) { return Box.createRange(Range3d.createXYZXYZ(...lo, ...hi), true); }

/** A new empty snapshot at `file` (an older one is replaced) whose root subject is `name`. */
function emptySnapshot(file, name, props = {}) {
  if (fs.existsSync(file)) fs.rmSync(file);
  return SnapshotDb.createEmpty(file, { rootSubject: { name }, ...props });
}

/** A spatial category whose default sub-category has this colour (and transparency). */
function category(db, name, [r, g, b], transp) {
  const appearance = { color: ColorDef.from(r, g, b).toJSON(), ...(transp === undefined ? {} : { transp }) };
  return SpatialCategory.insert(db, IModel.dictionaryId, name, new SubCategoryAppearance(appearance));
}

/** One element: `geometry` is a list of geometry objects appended in order; an entry may be a
 *  function (builder) => void for symbology changes and part instances. */
function insert(db, model, category, origin, angles, geometry, label) {
  const builder = new GeometryStreamBuilder();
  for (const g of geometry) typeof g === 'function' ? g(builder) : builder.appendGeometry(g);
  return db.elements.insertElement({
    classFullName: 'Generic:PhysicalObject', model, category, code: Code.createEmpty(), userLabel: label,
    placement: { origin, angles }, geom: builder.geometryStream,
  });
}

/** iTwin.js' view of the file. `withMeshes`: each element's exportGraphics triangles too (world
 *  coordinates), so tests can check that no triangle of ours leaves what iTwin.js fills. */
function reference(db, file, withMeshes = false, withLines = false) {
  const elements = [];
  const ids = [];
  db.withPreparedStatement('SELECT ECInstanceId FROM bis.GeometricElement3d ORDER BY ECInstanceId', (stmt) => {
    while (stmt.step() === 0 /* BE_SQLITE_ROW */ || stmt.getValue(0) !== undefined) {
      if (stmt.getValue(0).isNull) break;
      ids.push(stmt.getValue(0).getId());
      if (ids.length > 1e7) break;
    }
  });
  const graphics = new Map();
  db.exportGraphics({
    elementIdArray: ids,
    onGraphics: (info) => {
      const g = graphics.get(info.elementId) ?? { triangles: 0, area: 0, colors: [], mesh: [] };
      const p = info.mesh.points, idx = info.mesh.indices;
      if (withMeshes)
        for (let t = 0; t < idx.length; ++t) g.mesh.push(p[idx[t] * 3], p[idx[t] * 3 + 1], p[idx[t] * 3 + 2]);
      for (let t = 0; t < idx.length; t += 3) {
        const a = idx[t] * 3, b = idx[t + 1] * 3, c = idx[t + 2] * 3;
        const u = [p[b] - p[a], p[b + 1] - p[a + 1], p[b + 2] - p[a + 2]];
        const v = [p[c] - p[a], p[c + 1] - p[a + 1], p[c + 2] - p[a + 2]];
        const n = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
        g.area += 0.5 * Math.hypot(n[0], n[1], n[2]);
      }
      g.triangles += idx.length / 3;
      if (!g.colors.includes(info.color)) g.colors.push(info.color);
      graphics.set(info.elementId, g);
    },
    // Linework: segments, their length and colours (and, withLines, their end points).
    onLineGraphics: (info) => {
      const g = graphics.get(info.elementId) ?? { triangles: 0, area: 0, colors: [], mesh: [] };
      const p = info.lines.points, idx = info.lines.indices;
      g.lineSegments = (g.lineSegments ?? 0) + idx.length / 2;
      g.lineColors ??= [];
      if (!g.lineColors.includes(info.color)) g.lineColors.push(info.color);
      g.lineLength = g.lineLength ?? 0;
      g.segmentEnds ??= [];
      for (let k = 0; k < idx.length; k += 2) {
        const a = idx[k] * 3, b = idx[k + 1] * 3;
        g.lineLength += Math.hypot(p[b] - p[a], p[b + 1] - p[a + 1], p[b + 2] - p[a + 2]);
        if (withLines) g.segmentEnds.push(p[a], p[a + 1], p[a + 2], p[b], p[b + 1], p[b + 2]);
      }
      graphics.set(info.elementId, g);
    },
  });
  for (const id of ids) {
    const e = db.elements.getElementProps(id);
    const placement = Placement3d.fromJSON(e.placement);
    const range = placement.calculateRange();
    const g = graphics.get(id) ?? { triangles: 0, area: 0, colors: [], mesh: [] };
    elements.push({ id, classFullName: e.classFullName, model: e.model, category: e.category, label: e.userLabel,
      range: { low: [range.low.x, range.low.y, range.low.z], high: [range.high.x, range.high.y, range.high.z] },
      triangles: g.triangles, area: g.area, colors: g.colors, ...(withMeshes ? { triangleCorners: g.mesh } : {}),
      ...(withLines ? { lineSegments: g.lineSegments ?? 0, lineLength: g.lineLength ?? 0, lineColors: g.lineColors ?? [],
                        segmentEnds: g.segmentEnds ?? [] } : {}) });
  }
  const ecef = db.ecefLocation;
  return {
    file: path.basename(file), iModelId: db.iModelId, name: db.rootSubject.name,
    changeset: db.changeset, projectExtents: db.projectExtents.toJSON(),
    ecefLocation: ecef ? ecef.toJSON() : null, elements,
  };
}

function small(file) {
  const db = emptySnapshot(file, 'meshexport small fixture',
    { projectExtents: { low: { x: -100, y: -100, z: -20 }, high: { x: 200, y: 200, z: 80 } } });
  db.setEcefLocation(EcefLocation.createFromCartographicOrigin(
    Cartographic.fromDegrees({ longitude: 7.4474, latitude: 46.948, height: 540 })));
  db.updateIModelProps(); // persists the EcefLocation in dgn_Db/Units
  const buildings = PhysicalModel.insert(db, IModel.rootSubjectId, 'Buildings');
  const site = PhysicalModel.insert(db, IModel.rootSubjectId, 'Site');
  const walls = category(db, 'Walls', [200, 60, 40]);
  const glass = category(db, 'Glass', [90, 120, 220], 0.5);
  SubCategory.insert(db, walls, 'Trim', new SubCategoryAppearance({ color: ColorDef.from(20, 20, 20).toJSON() }));
  const none = YawPitchRollAngles.createDegrees(0, 0, 0);
  insert(db, buildings, walls, [0, 0, 0], none, [box([0, 0, 0], [10, 4, 3])], 'box');
  insert(db, buildings, walls, [20, 5, 0], YawPitchRollAngles.createDegrees(30, 10, 5), [box([0, 0, 0], [6, 6, 9])], 'rotated box');
  insert(db, buildings, glass, [40, 0, 0], none, [Sphere.createCenterRadius(Point3d.create(0, 0, 2), 2)], 'sphere');
  insert(db, site, walls, [60, 0, 0], none, [Cone.createAxisPoints(Point3d.create(0, 0, 0), Point3d.create(0, 0, 5), 1.5, 0.5, true)], 'cone');
  insert(db, site, walls, [80, 0, 0], YawPitchRollAngles.createDegrees(10, 12, -8),
         [LineString3d.create([0, 0, 0], [5, 0, 0], [5, 5, 0]), Arc3d.createXY(Point3d.create(0, 0, 1), 2)], 'curves');
  const builder = PolyfaceBuilder.create(StrokeOptions.createForFacets());
  builder.addGreedyTriangulationBetweenLineStrings([Point3d.create(0, 0, 0), Point3d.create(10, 0, 0)], [Point3d.create(0, 10, 0), Point3d.create(10, 10, 1)]);
  insert(db, site, walls, [0, 30, 0], none, [builder.claimPolyface()], 'polyface');
  db.saveChanges();
  const ref = reference(db, file, false, true);
  db.close();
  return ref;
}

/** One element per primitive kind and symbology rule (sections 7–9 of the format doc). */
function primitives(file) {
  const db = emptySnapshot(file, 'meshexport primitives fixture');
  const model = PhysicalModel.insert(db, IModel.rootSubjectId, 'Primitives');
  const cat = category(db, 'Solids', [180, 180, 180], 0.2);
  const trim = SubCategory.insert(db, cat, 'Trim', new SubCategoryAppearance({ color: ColorDef.from(10, 200, 10).toJSON() }));
  const red = RenderMaterialElement.insert(db, IModel.dictionaryId, 'Red', { paletteName: 'meshexport', color: [1, 0, 0] });
  const glassy = RenderMaterialElement.insert(db, IModel.dictionaryId, 'Glassy', { paletteName: 'meshexport', transmit: 0.6 });
  const partBuilder = new GeometryStreamBuilder();
  partBuilder.appendGeometry(box([-0.5, -0.5, 0], [0.5, 0.5, 2]));
  partBuilder.appendGeometry(Cone.createAxisPoints(Point3d.create(0, 0, 2), Point3d.create(0, 0, 4), 1.5, 0, true));
  const part = db.elements.insertElement({ classFullName: GeometryPart.classFullName, model: IModel.dictionaryId,
    code: GeometryPart.createCode(db, IModel.dictionaryId, 'tree'), geom: partBuilder.geometryStream });
  const none = YawPitchRollAngles.createDegrees(0, 0, 0);
  const params = (fn) => (b) => { const p = new GeometryParams(cat); fn(p); b.appendGeometryParamsChange(p); };
  let x = 0;
  const at = () => [x += 10, 0, 0];
  const add = (geometry, label, angles = none) => insert(db, model, cat, at(), angles, geometry, label);
  add([Box.createDgnBox(Point3d.create(0, 0, 0), Vector3d.unitX(), Vector3d.unitY(), Point3d.create(0, 0, 3), 1, 2, 1, 2, false)], 'box uncapped');
  add([Box.createDgnBox(Point3d.create(0, 0, 0), Vector3d.unitX(), Vector3d.unitY(), Point3d.create(1, 1, 2), 4, 3, 2, 1, true)], 'tapered box');
  add([Sphere.createEllipsoid(Transform.createOriginAndMatrix(Point3d.create(0, 0, 0), Matrix3d.createScale(1.5, 0.8, 1)))], 'ellipsoid');
  add([Sphere.createEllipsoid(Transform.createOriginAndMatrix(Point3d.create(0, 0, 0), Matrix3d.createScale(2, 2, 2)),
       AngleSweep.createStartEndDegrees(0, 90), true)], 'hemisphere capped');
  add([Cone.createAxisPoints(Point3d.create(0, 0, 0), Point3d.create(0, 0, 2), 1, 1, false)], 'cylinder uncapped');
  add([Cone.createAxisPoints(Point3d.create(0, 0, 0), Point3d.create(0, 0, 2), 1, 0, true)], 'cone apex capped');
  add([TorusPipe.createDgnTorusPipe(Point3d.create(0, 0, 0), Vector3d.unitX(), Vector3d.unitY(), 4, 0.35, Angle.createDegrees(360), false)], 'torus');
  add([TorusPipe.createDgnTorusPipe(Point3d.create(0, 0, 0), Vector3d.unitX(), Vector3d.unitY(), 1.2, 0.1, Angle.createDegrees(180), true)], 'half torus capped');
  const grid = PolyfaceBuilder.create(StrokeOptions.createForFacets());
  grid.addGreedyTriangulationBetweenLineStrings([Point3d.create(0, 0, 0), Point3d.create(4, 0, 0), Point3d.create(8, 0, 1)],
                                                [Point3d.create(0, 4, 0), Point3d.create(4, 4, 1), Point3d.create(8, 4, 0)]);
  add([grid.claimPolyface()], 'polyface');
  const square = (s, z = 0) => Loop.create(LineString3d.create([0, 0, z], [s, 0, z], [s, s, z], [0, s, z], [0, 0, z]));
  const circle = (cx, cy, r) => Loop.create(Arc3d.createXY(Point3d.create(cx, cy, 0), r));
  add([square(3)], 'planar square');
  add([ParityRegion.create(square(6), circle(3, 3, 1.5))], 'square with a round hole');
  add([circle(0, 0, 1)], 'disc');
  add([UnionRegion.create(square(2), Loop.create(LineString3d.create([1, 1, 0], [3, 1, 0], [3, 3, 0], [1, 3, 0], [1, 1, 0])))], 'union of two squares');
  add([LinearSweep.create(square(2), Vector3d.create(0, 0, 1), true)], 'extrusion capped');
  add([LinearSweep.create(ParityRegion.create(square(3), circle(1.5, 1.5, 1)), Vector3d.create(0, 0, 0.8), true)], 'extrusion with hole capped');
  add([LinearSweep.create(circle(0, 0, 0.5), Vector3d.create(0.5, 0, 2), false)], 'slanted cylinder uncapped');
  add([LinearSweep.create(LineString3d.create([0, 0, 0], [2, 0, 0], [2, 2, 0]), Vector3d.create(0, 0, 1), false)], 'extruded path');
  add([RotationalSweep.create(Path.create(Arc3d.createXYZXYZXYZ(0, 0, 0, 3, 0, 0, 0, 0, 3, AngleSweep.createStartEndDegrees(0, 90))),
       Ray3d.createXYZUVW(0, 0, 0, 0, 0, 1), Angle.createDegrees(360), false)], 'rotational sweep of a quarter arc, open');
  add([RotationalSweep.create(Loop.create(LineString3d.create([2, 0, 0], [3, 0, 0], [3, 0, 1], [2, 0, 1], [2, 0, 0])),
       Ray3d.createXYZUVW(0, 0, 0, 0, 0, 1), Angle.createDegrees(90), true)], 'rotational sweep of a rectangle, capped');
  add([RuledSweep.create([square(4), Loop.create(LineString3d.create([1, 1, 3], [3, 1, 3], [3, 3, 3], [1, 3, 3], [1, 1, 3]))], true)], 'ruled sweep, capped');
  const poles = [];
  for (let j = 0; j < 4; ++j) for (let i = 0; i < 4; ++i) poles.push(Point3d.create(i, j, (i === 1 || i === 2) && (j === 1 || j === 2) ? 1 : 0));
  add([BSplineSurface3d.create(poles, 4, 3, undefined, 4, 3, undefined)], 'bspline surface (not meshed yet)');
  add([params((p) => { p.lineColor = ColorDef.from(30, 60, 250); p.elmTransparency = 0.4; }), box([0, 0, 0], [1, 1, 1])], 'colour override + element transparency');
  add([params((p) => { p.subCategoryId = trim; }), box([0, 0, 0], [1, 1, 1])], 'sub-category switch');
  add([params((p) => { p.materialId = red; }), box([0, 0, 0], [1, 1, 1])], 'material with base colour');
  add([params((p) => { p.lineColor = ColorDef.from(0, 0, 255); p.materialId = glassy; }), box([0, 0, 0], [1, 1, 1])], 'material with transmit');
  add([(b) => b.appendGeometryPart3d(part, Point3d.create(0, 0, 0), YawPitchRollAngles.createDegrees(30, 10, 5), 1.5),
       (b) => b.appendGeometryPart3d(part, Point3d.create(4, 0, 0), none, 0.5)], 'part instances rotated and scaled',
      YawPitchRollAngles.createDegrees(30, 10, 5));
  add([params((p) => { p.lineColor = ColorDef.from(250, 250, 0); }),
       (b) => b.appendGeometryPart3d(part), box([3, 0, 0], [4, 1, 1])], 'state after a part instance');
  db.saveChanges();
  const ref = reference(db, file, false, true);
  db.close();
  return ref;
}

/** The demo iModel the README's first command tiles: a small geolocated campus. */
function demo(file) {
  const db = emptySnapshot(file, 'meshexport demo campus');
  db.setEcefLocation(EcefLocation.createFromCartographicOrigin(Cartographic.fromDegrees({ longitude: 7.4474, latitude: 46.948, height: 540 })));
  db.updateIModelProps();
  const buildings = PhysicalModel.insert(db, IModel.rootSubjectId, 'Buildings');
  const site = PhysicalModel.insert(db, IModel.rootSubjectId, 'Site');
  const walls = category(db, 'Walls', [214, 200, 180]);
  const roofs = category(db, 'Roofs', [150, 60, 50]);
  const glass = category(db, 'Glass', [120, 160, 220], 0.4);
  const ground = category(db, 'Ground', [110, 150, 90]);
  const trees = category(db, 'Trees', [40, 120, 50]);
  const tb = new GeometryStreamBuilder();
  tb.appendGeometry(Cone.createAxisPoints(Point3d.create(0, 0, 0), Point3d.create(0, 0, 2), 0.2, 0.2, true));
  tb.appendGeometry(Sphere.createCenterRadius(Point3d.create(0, 0, 3), 1.3));
  const tree = db.elements.insertElement({ classFullName: GeometryPart.classFullName, model: IModel.dictionaryId,
    code: GeometryPart.createCode(db, IModel.dictionaryId, 'tree'), geom: tb.geometryStream });
  const none = YawPitchRollAngles.createDegrees(0, 0, 0);
  insert(db, site, ground, [-20, -20, -0.2], none, [box([0, 0, 0], [160, 120, 0.2])], 'ground');
  let n = 0;
  for (let i = 0; i < 6; ++i) for (let j = 0; j < 4; ++j) {
    const w = 10 + (i * 7 + j * 3) % 9, d = 8 + (i * 5 + j * 11) % 7, h = 6 + ((i + 2 * j) % 5) * 4;
    const x = i * 22, y = j * 24, yaw = (i + j) % 3 === 0 ? 15 : 0;
    insert(db, buildings, walls, [x, y, 0], YawPitchRollAngles.createDegrees(yaw, 0, 0), [box([0, 0, 0], [w, d, h])], `building ${++n}`);
    insert(db, buildings, roofs, [x, y, h], YawPitchRollAngles.createDegrees(yaw, 0, 0),
           [Box.createDgnBox(Point3d.create(0, 0, 0), Vector3d.unitX(), Vector3d.unitY(), Point3d.create(w / 4, d / 4, 2), w, d, w / 2, d / 2, true)], `roof ${n}`);
    if ((i + j) % 4 === 1)
      insert(db, buildings, glass, [x + w + 1, y, 0], none, [box([0, 0, 0], [2, d, h * 0.8])], `glass ${n}`);
  }
  insert(db, site, walls, [140, 90, 0], none, [Cone.createAxisPoints(Point3d.create(0, 0, 0), Point3d.create(0, 0, 18), 1, 1, true),
                                              Sphere.createCenterRadius(Point3d.create(0, 0, 21), 4)], 'water tower');
  const tg = [];
  for (let k = 0; k < 30; ++k) tg.push((b) => b.appendGeometryPart3d(tree, Point3d.create((k % 10) * 14, -10 - Math.floor(k / 10) * 4, 0), YawPitchRollAngles.createDegrees(k * 37, 0, 0), 0.8 + (k % 5) * 0.1));
  insert(db, site, trees, [0, 0, 0], none, tg, 'trees');
  db.saveChanges();
  const ref = reference(db, file, false, true);
  db.close();
  return ref;
}

/** The benchmark iModel (≥ 50 k elements, ≥ 5 M triangles): written on demand, never committed. */
function large(file) {
  const db = emptySnapshot(file, 'meshexport large benchmark');
  const model = PhysicalModel.insert(db, IModel.rootSubjectId, 'Large');
  const cat = category(db, 'Things', [160, 160, 170]);
  const none = YawPitchRollAngles.createDegrees(0, 0, 0);
  for (let k = 0; k < 50000; ++k) {
    const x = (k % 250) * 6, y = Math.floor(k / 250) * 6;
    const g = k % 5 === 0 ? Sphere.createCenterRadius(Point3d.create(0, 0, 1.5), 1.5)          // 528 triangles
      : k % 5 === 1 ? TorusPipe.createDgnTorusPipe(Point3d.create(0, 0, 1), Vector3d.unitX(), Vector3d.unitY(), 1.5, 0.4, Angle.createDegrees(360), false) // 1152
      : box([0, 0, 0], [2, 2, 1 + (k % 7)]);                                                    // 12
    insert(db, model, cat, [x, y, 0], none, [g], undefined);
  }
  db.saveChanges();
  const ref = { file: path.basename(file), elements: 50000 };
  db.close();
  return ref;
}

/** What the other fixtures lack: a polyface whose GeometryStream blob spans several 64 KiB
 *  SnappyToBlob chunks, a Parasolid BRep (box ∪ cylinder, made by iTwin.js' own BRep operations),
 *  and closed regions bounded by B-spline curves (order 2 and order 3). */
function extras(file) {
  const db = emptySnapshot(file, 'meshexport extras fixture');
  const model = PhysicalModel.insert(db, IModel.rootSubjectId, 'Extras');
  const cat = category(db, 'Extras', [120, 160, 90]);
  const none = YawPitchRollAngles.createDegrees(0, 0, 0);
  // A 60 x 60 quad grid with normals and params over a wavy surface: ~200 KB of polyface.
  const options = StrokeOptions.createForFacets();
  options.needNormals = true;
  options.needParams = true;
  const builder = PolyfaceBuilder.create(options);
  const n = 60, z = (x, y) => 0.5 * Math.sin(x / 5) * Math.cos(y / 7);
  for (let j = 0; j < n; ++j)
    for (let i = 0; i < n; ++i) {
      const pts = [[i, j], [i + 1, j], [i + 1, j + 1], [i, j + 1]].map(([x, y]) => Point3d.create(x * 0.2, y * 0.2, z(x * 0.2, y * 0.2)));
      const uv = [[i, j], [i + 1, j], [i + 1, j + 1], [i, j + 1]].map(([x, y]) => Point2d.create(x / n, y / n));
      builder.addQuadFacet(pts, uv);
    }
  insert(db, model, cat, [0, 0, 0], none, [builder.claimPolyface()], 'multi-chunk polyface');
  // A BRep: box united with a cylinder.
  let brep;
  const status = db.createBRepGeometry({
    operation: BRepGeometryOperation.Unite,
    entryArray: [ElementGeometry.fromGeometryQuery(box([0, 0, 0], [2, 2, 2])),
                 ElementGeometry.fromGeometryQuery(Cone.createAxisPoints(Point3d.create(1, 1, 0), Point3d.create(1, 1, 4), 0.5, 0.5, true))],
    onResult: (info) => { brep = info.entryArray; },
  });
  if (status !== 0 || !brep) throw new Error(`createBRepGeometry failed: ${status}`);
  db.elements.insertElement({ classFullName: 'Generic:PhysicalObject', model, category: cat, code: Code.createEmpty(),
    userLabel: 'brep (box united with a cylinder)', placement: { origin: [40, 0, 0], angles: none },
    elementGeometryBuilderParams: { entryArray: brep } });
  // Closed B-spline curve regions.
  const square = BSplineCurve3d.create([[0, 0, 0], [2, 0, 0], [2, 2, 0], [0, 2, 0], [0, 0, 0]], [0, 1, 2, 3, 4], 2);
  insert(db, model, cat, [50, 0, 0], none, [Loop.create(square)], 'bspline curve loop, order 2');
  const rounded = BSplineCurve3d.create([[0, 0, 0], [2, -1, 0], [4, 0, 0], [5, 2, 0], [4, 4, 0], [2, 5, 0], [0, 4, 0], [-1, 2, 0], [0, 0, 0]],
                                        [0, 0, 1, 2, 3, 4, 5, 6, 7, 7], 3);
  insert(db, model, cat, [60, 0, 0], none, [Loop.create(rounded)], 'bspline curve loop, order 3');
  db.saveChanges();
  const ref = reference(db, file, false, true);
  db.close();
  return ref;
}

/** Planar regions as iTwin.js fills them: parity regions whose loops come in any order (the
 *  outer loop is the one that contains the others, not the first), with circle, arc-bounded and
 *  polygon holes, several holes, holes touching the outer loop, islands inside holes (nested
 *  parity), union regions of curved loops (overlapping members, a ring), and a tilted region.
 *  The reference keeps each element's exportGraphics triangles. */
function regions(file) {
  const db = emptySnapshot(file, 'meshexport regions fixture');
  const model = PhysicalModel.insert(db, IModel.rootSubjectId, 'Regions');
  const cat = category(db, 'Regions', [200, 180, 90]);
  const none = YawPitchRollAngles.createDegrees(0, 0, 0);
  let x = 0;
  const add = (g, label, angles = none) => insert(db, model, cat, [x += 60, 0, 0], angles, g, label);
  const rect = (x0, y0, x1, y1) => Loop.create(LineString3d.create([x0, y0, 0], [x1, y0, 0], [x1, y1, 0], [x0, y1, 0], [x0, y0, 0]));
  const circle = (cx, cy, r) => Loop.create(Arc3d.createXY(Point3d.create(cx, cy, 0), r));
  // A half disc on a chord: a loop of a line and a 180° arc.
  const dLoop = (cx, cy, r) => Loop.create(LineString3d.create([cx - r, cy, 0], [cx + r, cy, 0]),
                                           Arc3d.createXY(Point3d.create(cx, cy, 0), r, AngleSweep.createStartEndDegrees(0, 180)));
  add([ParityRegion.create(rect(0, 0, 40, 40), circle(10, 10, 1), rect(20, 20, 30, 30))], 'square with a circular and a square hole');
  add([ParityRegion.create(circle(10, 10, 1), rect(0, 0, 40, 40), rect(20, 20, 30, 30))], 'holes listed before the outer loop');
  add([ParityRegion.create(rect(0, 0, 40, 40), circle(8, 8, 4), circle(30, 10, 5), circle(10, 30, 3), rect(20, 20, 36, 36),
                           rect(2, 16, 6, 20), dLoop(16, 4, 3))], 'several holes');
  add([ParityRegion.create(rect(0, 0, 20, 20), circle(5, 5, 5), rect(14, 14, 20, 20))], 'holes touching the outer loop');
  add([ParityRegion.create(rect(0, 0, 40, 40), rect(5, 5, 35, 35), circle(20, 20, 8), rect(17, 17, 23, 23))], 'nested parity: an island in a hole');
  add([ParityRegion.create(dLoop(10, 0, 10), circle(10, 3, 2))], 'arc-bounded outer loop with a hole');
  add([UnionRegion.create(circle(0, 0, 5), circle(6, 0, 5))], 'union of two overlapping discs');
  add([UnionRegion.create(ParityRegion.create(circle(0, 0, 8), circle(0, 0, 3)), circle(20, 0, 4))], 'union of a ring and a disc');
  add([ParityRegion.create(circle(5, 5, 1), rect(0, 0, 20, 20), circle(14, 14, 3))], 'tilted region, holes first',
      YawPitchRollAngles.createDegrees(20, 35, 10));
  db.saveChanges();
  const ref = reference(db, file, true, true);
  db.close();
  return ref;
}

/** Linework: line strings, segments, open arcs of many sweeps, an ellipse, paths of lines and arcs,
 *  B-spline curves of order 2 to 5, point strings (authored points in the reference: exportGraphics
 *  does not report points), linework in a geometry part placed twice, and a colour change between
 *  wires; some elements mix wires and a solid. */
function lines(file) {
  const db = emptySnapshot(file, 'meshexport lines fixture',
    { projectExtents: { low: { x: -50, y: -50, z: -10 }, high: { x: 400, y: 100, z: 50 } } });
  db.setEcefLocation(EcefLocation.createFromCartographicOrigin(
    Cartographic.fromDegrees({ longitude: 8.5417, latitude: 47.3769, height: 410 })));
  db.updateIModelProps();
  const model = PhysicalModel.insert(db, IModel.rootSubjectId, 'Linework');
  const cat = category(db, 'Alignments', [230, 40, 40]);
  const none = YawPitchRollAngles.createDegrees(0, 0, 0);
  const points = {};
  let x = 0;
  const add = (g, label, angles = none) => insert(db, model, cat, [x += 25, 0, 0], angles, g, label);
  const color = (r, g, b) => (builder) => {
    const params = new GeometryParams(cat);
    params.lineColor = ColorDef.from(r, g, b);
    builder.appendGeometryParamsChange(params);
  };
  add([LineString3d.create([0, 0, 0], [10, 0, 0], [10, 10, 0], [20, 12, 3])], 'line string');
  add([LineSegment3d.createXYZXYZ(0, 0, 0, 5, 5, 5)], 'segment');
  for (const sweep of [10, 30, 31, 90, 135, 270, 359])
    add([Arc3d.createXY(Point3d.create(0, 0, 0), 3 + sweep / 60, AngleSweep.createStartEndDegrees(20, 20 + sweep))], `open arc ${sweep}°`);
  add([Arc3d.create(Point3d.create(0, 0, 0), Vector3d.create(8, 0, 0), Vector3d.create(0, 3, 1), AngleSweep.createStartEndDegrees(-40, 200))],
      'elliptic arc');
  add([Path.create(LineString3d.create([0, 0, 0], [10, 0, 0]),
                   Arc3d.createXY(Point3d.create(10, 5, 0), 5, AngleSweep.createStartEndDegrees(-90, 90)),
                   LineString3d.create([10, 10, 0], [0, 10, 0]))], 'path of lines and an arc');
  add([BSplineCurve3d.createUniformKnots([Point3d.create(0, 0, 0), Point3d.create(5, 10, 0), Point3d.create(10, 0, 0), Point3d.create(15, 10, 2)], 3)],
      'B-spline curve, order 3');
  add([BSplineCurve3d.createUniformKnots([Point3d.create(0, 0, 0), Point3d.create(4, 6, 1), Point3d.create(9, 2, 0), Point3d.create(12, 9, 0), Point3d.create(16, 3, 4)], 2)],
      'B-spline curve, order 2');
  const pts = [[0, 0, 0], [2, 1, 0], [4, 0, 1], [6, 3, 2]];
  // GeometryStreamBuilder drops point strings; a JSON geometry stream keeps them.
  const pointString = db.elements.insertElement({
    classFullName: 'Generic:PhysicalObject', model, category: cat, code: Code.createEmpty(), userLabel: 'point string',
    placement: { origin: [x += 25, 0, 0], angles: none },
    geom: [{ header: { flags: 0 } }, { pointString: pts }] });
  points[pointString] = pts;
  add([color(20, 200, 60), LineString3d.create([0, 0, 0], [6, 0, 0]), color(30, 60, 220),
       Arc3d.createXY(Point3d.create(0, 0, 0), 4, AngleSweep.createStartEndDegrees(0, 180))], 'two colours');
  add([box([0, 0, 0], [4, 4, 4]), LineString3d.create([2, 2, 4], [2, 2, 12])], 'a box with a mast line');
  add([Arc3d.createXY(Point3d.create(0, 0, 0), 6), LineString3d.create([-6, 0, 0], [6, 0, 0])], 'a circle and its diameter', YawPitchRollAngles.createDegrees(30, 20, 0));
  // Linework in a geometry part, placed twice.
  const partBuilder = new GeometryStreamBuilder();
  partBuilder.appendGeometry(LineString3d.create([0, 0, 0], [3, 0, 0], [3, 3, 0]));
  partBuilder.appendGeometry(Arc3d.createXY(Point3d.create(0, 0, 0), 2, AngleSweep.createStartEndDegrees(0, 120)));
  const partId = db.elements.insertElement({ classFullName: GeometryPart.classFullName, model: IModel.dictionaryId,
    code: Code.createEmpty(), geom: partBuilder.geometryStream });
  add([(b) => b.appendGeometryPart3d(partId, Point3d.create(0, 0, 0)),
       (b) => b.appendGeometryPart3d(partId, Point3d.create(8, 0, 0), YawPitchRollAngles.createDegrees(90, 0, 0), 2)],
      'part with linework, placed twice');
  // Higher orders: iTwin.js strokes each Bezier span by its control polygon's largest turn.
  const zigzag = (n) => Array.from({ length: n }, (_, i) => Point3d.create(i * 3, (i % 2) * 5 + i, i * 0.5));
  add([BSplineCurve3d.createUniformKnots(zigzag(7), 4)], 'B-spline curve, order 4');
  add([BSplineCurve3d.createUniformKnots(zigzag(8), 5)], 'B-spline curve, order 5');
  add([BSplineCurve3d.createUniformKnots([Point3d.create(0, 0, 0), Point3d.create(4, 0.2, 0), Point3d.create(8, 0, 0), Point3d.create(12, 0.1, 0)], 4)],
      'B-spline curve, order 4, nearly straight');
  db.saveChanges();
  const ref = reference(db, file, false, true);
  for (const e of ref.elements) if (points[e.id]) e.points = points[e.id].flat();
  db.close();
  return ref;
}

/** B-spline surfaces of varied shape, order and pole count (issue: iTwin.js' native facet rule):
 *  single Bezier patches of order 3 to 5, flat to folded; surfaces of 2 to 20 patches whose step
 *  counts differ from patch to patch (fringes), linear in one direction, closed around. (Rational
 *  surfaces: GeometryStreamBuilder writes no stream for BSplineSurface3dH.) */
function surfaces(file) {
  const db = emptySnapshot(file, 'meshexport surfaces fixture');
  const model = PhysicalModel.insert(db, IModel.rootSubjectId, 'Surfaces');
  const cat = category(db, 'Surfaces', [120, 170, 210]);
  const none = YawPitchRollAngles.createDegrees(0, 0, 0);
  let x = 0;
  const add = (g, label) => insert(db, model, cat, [x += 40, 0, 0], none, [g], label);
  const grid = (nu, nv, f) => { const p = []; for (let j = 0; j < nv; ++j) for (let i = 0; i < nu; ++i) p.push(Point3d.create(...f(i, j))); return p; };
  const wave = (amp, twist) => (i, j) => [i * 3, j * 3, amp * Math.sin(i * 1.3 + j * 0.7) + twist * i * j * 0.3];
  const bumps = (amp) => (i, j) => [i * 2 + 0.2 * j, j * 2.5, amp * Math.cos(i * 1.1) * Math.sin(j * 0.9 + 0.3)];
  for (const [o, amp, twist] of [[3, 2, 0], [4, 4, 1], [5, 8, 3], [4, 1, 5]])
    add(BSplineSurface3d.create(grid(o, o, wave(amp, twist)), o, o, undefined, o, o, undefined), `one patch, order ${o}`);
  for (const [nu, nv, ou, ov, amp] of [[4, 4, 3, 3, 5], [6, 6, 3, 3, 5], [5, 5, 4, 4, 2], [7, 5, 4, 3, 5], [6, 4, 2, 3, 2],
                                       [4, 6, 3, 2, 2], [8, 8, 4, 4, 2], [8, 6, 5, 3, 3]])
    add(BSplineSurface3d.create(grid(nu, nv, bumps(amp)), nu, ou, undefined, nv, ov, undefined), `${nu} x ${nv} poles, orders ${ou} and ${ov}`);
  // Around a wobbly ring (angles off the 7.5° steps where a count flips on rounding alone).
  const ring = grid(9, 5, (i, j) => {
    const a = 2 * Math.PI * i / 8, t = a + 0.1 * Math.sin(a), r = 3 + 0.4 * Math.sin(j + 1) + 0.3 * Math.sin(2 * a + 0.4);
    return [r * Math.cos(t), r * Math.sin(t), j * 2];
  });
  add(BSplineSurface3d.create(ring, 9, 3, undefined, 5, 3, undefined), 'closed around: first and last pole columns equal');
  db.saveChanges();
  const ref = reference(db, file, false, true);
  db.close();
  return ref;
}

const makers = wantLarge ? [['large', large]] : [['small', small], ['primitives', primitives], ['demo', demo], ['extras', extras], ['regions', regions], ['lines', lines], ['surfaces', surfaces]];
const only = process.argv.find((a) => a.startsWith('--only='))?.slice(7); // e.g. --only=extras
// --references-only: rewrite OUT_DIR/<name>.reference.json from the existing OUT_DIR/<name>.bim
// (same ids and iModel id), e.g. after the reference gains a field.
if (process.argv.includes('--references-only')) {
  for (const [name] of makers) {
    if (only && name !== only) continue;
    const file = path.join(outDir, `${name}.bim`);
    const db = SnapshotDb.openFile(file);
    const ref = reference(db, file, name === 'regions', true);
    for (const e of ref.elements) { // keep what the author recorded (point strings' points)
      const old = JSON.parse(fs.readFileSync(path.join(outDir, `${name}.reference.json`), 'utf8')).elements.find((o) => o.id === e.id);
      if (old?.points) e.points = old.points;
    }
    db.close();
    fs.writeFileSync(path.join(outDir, `${name}.reference.json`), JSON.stringify(ref, null, 1));
    console.log(`${file}: reference rewritten`);
  }
  await IModelHost.shutdown();
  process.exit(0);
}
for (const [name, make] of makers) {
  if (only && name !== only) continue;
  const file = path.join(outDir, `${name}.bim`);
  const ref = make(file);
  fs.writeFileSync(path.join(outDir, `${name}.reference.json`), JSON.stringify(ref, null, 1));
  console.log(`${file}: ${ref.elements.length} elements`);
}

await IModelHost.shutdown();
