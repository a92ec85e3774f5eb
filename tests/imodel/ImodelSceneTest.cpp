// iModel → Scene: tessellation against exportGraphics' counts and areas on every fixture,
// symbology, parts as shared meshes, budgets, and independence from the thread count.
#include "ImodelTestSupport.h"

namespace mx::test {
namespace {

TEST(ImodelScene, BsplineCurveLoopsAreStroked) {
  // Order 2: the control polygon itself, a 2 × 2 square.
  auto square = io::tessellateGeometryBlob(
      bsplineLoopOp(2, {0, 0, 0, 2, 0, 0, 2, 2, 0, 0, 2, 0, 0, 0, 0}, {}, {0, 0, 1, 2, 3, 4, 4}));
  ASSERT_TRUE(square.isOk()) << square.status().toString();
  EXPECT_TRUE(square->error.empty()) << square->error;
  EXPECT_EQ(square->triangles, 2u);
  EXPECT_NEAR(square->area, 4.0, 1e-12);
  // A rational quadratic circle of radius 1 (poles stored multiplied by their weights).
  const double s = std::sqrt(0.5);
  const double cx[9] = {1, 1, 0, -1, -1, -1, 0, 1, 1}, cy[9] = {0, 1, 1, 1, 0, -1, -1, -1, 0};
  std::vector<double> poles, weights;
  for (int i = 0; i < 9; ++i) {
    const double wi = i % 2 ? s : 1;
    weights.push_back(wi);
    poles.insert(poles.end(), {cx[i] * wi, cy[i] * wi, 0});
  }
  auto circle = io::tessellateGeometryBlob(bsplineLoopOp(3, poles, weights, {0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4}));
  ASSERT_TRUE(circle.isOk()) << circle.status().toString();
  // Four 90° spans, ceil(90° / 15°) = 6 steps each: a 24-gon, as exportGraphics strokes a circle.
  EXPECT_EQ(circle->triangles, 22u);
  EXPECT_NEAR(circle->area, 12 * std::sin(2 * M_PI / 24), 1e-3); // parameter steps are not equal angles
  // Finer angle tolerance, more triangles, closer to π.
  io::TessellationOptions fine;
  fine.angleTolerance = 0.05;
  auto finer = io::tessellateGeometryBlob(bsplineLoopOp(3, poles, weights, {0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4}), fine);
  ASSERT_TRUE(finer.isOk());
  EXPECT_GT(finer->triangles, circle->triangles);
  EXPECT_LT(std::abs(finer->area - M_PI), std::abs(circle->area - M_PI));
  // Damage is an error for the element, never a crash.
  for (const auto& bad : {bsplineLoopOp(3, poles, weights, {0, 0, 0, 1, 2}),                       // knots too few
                          bsplineLoopOp(3, poles, {1, 1}, {0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 4}),   // weights too few
                          bsplineLoopOp(3, poles, weights, {0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, -1}), // decreasing
                          bsplineLoopOp(1, poles, weights, {0, 0, 0, 1, 1, 2, 2, 3, 3, 4})}) {     // order 1
    auto r = io::tessellateGeometryBlob(bad);
    EXPECT_FALSE(r.isOk() && r->error.empty());
  }
}
class FixtureTessellation : public ::testing::TestWithParam<std::string> {};

// Tolerances per primitive kind: every kind meshed so far (boxes capped, uncapped and tapered;
// spheres, ellipsoids and capped partial spheres; cylinders and cones with apex; full and capped
// partial torus pipes; polyfaces; closed shapes, discs, parity and union regions; extrusions of
// regions with holes and of open paths; rotational and ruled sweeps; part instances rotated and
// scaled; regions: loops in any order, curved, touching and nested holes) follows
// exportGraphics' stroke rules exactly, so triangle counts are equal and areas within 1e-9 relative.
// B-spline curves in region loops match exactly too (extras: order 2 and 3). Untrimmed B-spline
// surfaces follow iTwin.js' native facet rule (BsplineSurfaces.cpp): equal triangle counts on the
// surfaces fixture (13 surfaces: one patch of order 3 to 5, 4 to 20 patches with fringes, linear
// in one direction, closed around) and the primitives one; areas within 1e-3 relative. Colours
// (tbgr with transparency: overrides, element transparency, sub-category switches, render
// materials' base colour and transmit, state left by a part) are equal.
TEST_P(FixtureTessellation, MatchesExportGraphics) {
  const json ref = reference(GetParam());
  auto file = io::ImodelFile::open(kFixtures / (GetParam() + ".bim"));
  ASSERT_TRUE(file.isOk());
  auto scene = file->readScene();
  ASSERT_TRUE(scene.isOk()) << scene.status().toString();
  for (const json& r : ref["elements"]) {
    const uint64_t id = std::stoull(r["id"].get<std::string>(), nullptr, 16);
    SCOPED_TRACE(r["id"].get<std::string>());
    const auto& st = scene->elements.at(id);
    EXPECT_TRUE(st.error.empty()) << st.error;
    if (st.skipped.count("ParasolidBRep")) {
      // BReps need Parasolid (iTwin.js meshes them natively): reported, and the gap visible here.
      EXPECT_GT(r["triangles"].get<uint64_t>(), 0u);
      continue;
    }
    for (const auto& [kind, n] : st.skipped) // only wires (never meshed, as in exportGraphics) are left out
      EXPECT_EQ(kind.rfind("wire", 0), 0u) << kind;
    if (st.ops.count("BsplineSurface")) {
      // The native facet rule: equal counts; where patches of different step counts meet, the
      // fringe triangles are ours, so areas within 1e-3.
      EXPECT_EQ(st.triangles, r["triangles"].get<uint64_t>());
      expectNear(st.area, r["area"].get<double>(), 1e-3, "area");
      EXPECT_EQ(json(st.colors), r["colors"]);
      continue;
    }
    EXPECT_EQ(st.triangles, r["triangles"].get<uint64_t>());
    expectNear(st.area, r["area"].get<double>(), 1e-9, "area");
    EXPECT_EQ(json(st.colors), r["colors"]);
    if (!r.contains("lineSegments")) continue; // references made without onLineGraphics
    if (r.contains("points")) {
      // A point string: points here; exportGraphics reports them joined as a line string.
      EXPECT_EQ(st.points, r["points"].size() / 3);
      EXPECT_EQ(st.lineSegments, 0u);
      continue;
    }
    EXPECT_EQ(st.lineSegments, r["lineSegments"].get<uint64_t>());
    expectNear(st.lineLength, r["lineLength"].get<double>(), 1e-9, "line length");
    EXPECT_EQ(json(st.lineColors), r["lineColors"]);
  }
}
TEST(ImodelScene, UnsupportedGeometryCanBeABox) {
  // extras.bim holds a real Parasolid BRep (box ∪ cylinder, made by iTwin.js), which cannot be
  // meshed without Parasolid: counted, and drawn as its SubGraphicRange box on request.
  auto file = io::ImodelFile::open(kFixtures / "extras.bim");
  ASSERT_TRUE(file.isOk());
  io::TessellationOptions o;
  auto skipped = file->readScene(o);
  ASSERT_TRUE(skipped.isOk());
  EXPECT_EQ(skipped->skipped.at("ParasolidBRep"), 1u);
  o.boxForUnsupported = true;
  auto boxed = file->readScene(o);
  ASSERT_TRUE(boxed.isOk());
  EXPECT_EQ(boxed->skipped.at("substituted by a box"), 1u);
  EXPECT_EQ(boxed->scene.triangleCount(), skipped->scene.triangleCount() + 12);
  EXPECT_EQ(boxed->elements.at(0x15).triangles, 12u);
  io::TessellationOptions coarse;
  coarse.angleTolerance = 0.5;
  auto c = file->readScene(coarse);
  ASSERT_TRUE(c.isOk());
  EXPECT_LT(c->scene.triangleCount(), skipped->scene.triangleCount());
}
INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureTessellation,
                         ::testing::Values("small", "primitives", "demo", "extras", "regions", "lines", "surfaces"));

// Linework (line strings, segments, open arcs of many sweeps, an elliptic arc, a path of lines and
// an arc, B-spline curves, linework in a part placed twice, a tilted circle): every segment of
// ours is one of exportGraphics' (same end points within 1e-9 m, either direction), and a point
// string's points are the points iTwin.js joins into its line string.
TEST(ImodelScene, LineworkIsExportGraphicsSegments) {
  const json ref = reference("lines");
  auto file = io::ImodelFile::open(kFixtures / "lines.bim");
  ASSERT_TRUE(file.isOk());
  auto scene = file->readScene();
  ASSERT_TRUE(scene.isOk()) << scene.status().toString();
  const core::Scene& sc = scene->scene;
  // World segments and points per element.
  std::map<uint64_t, std::vector<std::pair<core::Vec3d, core::Vec3d>>> segments;
  std::map<uint64_t, std::vector<core::Vec3d>> points;
  auto collect = [&](const core::Mesh& m, const core::Mat4d& t, uint64_t element) {
    for (size_t k = 0; k + 1 < m.lines.size(); k += 2)
      segments[element].emplace_back(core::transformPoint(t, m.positions[m.lines[k]]),
                                     core::transformPoint(t, m.positions[m.lines[k + 1]]));
    for (uint32_t p : m.points) points[element].push_back(core::transformPoint(t, m.positions[p]));
  };
  for (const core::Mesh& m : sc.meshes)
    if (!m.featureIds.empty()) collect(m, core::identityMatrix(), sc.features[m.featureIds[0]].elementId);
  for (const core::MeshInstance& i : sc.instances)
    collect(sc.sharedMeshes[i.mesh], i.transform, sc.features[i.feature].elementId);
  auto near = [](core::Vec3d a, core::Vec3d b) { return core::length(a - b) < 1e-9; };
  size_t checked = 0;
  for (const json& r : ref["elements"]) {
    const uint64_t id = std::stoull(r["id"].get<std::string>(), nullptr, 16);
    SCOPED_TRACE(r["label"].get<std::string>());
    std::vector<std::pair<core::Vec3d, core::Vec3d>> theirs;
    const auto& e = r["segmentEnds"];
    for (size_t k = 0; k + 5 < e.size(); k += 6)
      theirs.emplace_back(core::Vec3d{e[k], e[k + 1], e[k + 2]}, core::Vec3d{e[k + 3], e[k + 4], e[k + 5]});
    if (r.contains("points")) {
      ASSERT_EQ(points[id].size(), theirs.size() + 1);
      for (size_t k = 0; k < theirs.size(); ++k) {
        EXPECT_TRUE(near(points[id][k], theirs[k].first)) << "point " << k;
        EXPECT_TRUE(near(points[id][k + 1], theirs[k].second)) << "point " << k + 1;
      }
      ++checked;
      continue;
    }
    ASSERT_EQ(segments[id].size(), theirs.size());
    std::vector<bool> used(theirs.size(), false);
    for (const auto& [a, b] : segments[id]) {
      bool found = false;
      for (size_t k = 0; k < theirs.size() && !found; ++k)
        if (!used[k] && ((near(a, theirs[k].first) && near(b, theirs[k].second)) ||
                         (near(b, theirs[k].first) && near(a, theirs[k].second))))
          used[k] = found = true;
      EXPECT_TRUE(found) << "segment (" << a.x << "," << a.y << "," << a.z << ")-(" << b.x << "," << b.y << "," << b.z
                         << ") is not one of exportGraphics'";
    }
    ++checked;
  }
  EXPECT_EQ(checked, ref["elements"].size());
  EXPECT_EQ(sc.instances.size(), 2u); // the part with linework, placed twice, is shared
}

// Regions (parity regions whose loops come in any order, circle, arc-bounded and polygon holes,
// holes touching the outer loop, islands in holes, unions of curved loops, a tilted one): besides
// equal counts and areas (above), no triangle of ours leaves what iTwin.js fills. Each triangle's
// centroid and its vertices pulled 1 % towards it must lie in exportGraphics' triangles.
TEST(ImodelScene, RegionTrianglesStayInsideTheRegion) {
  const json ref = reference("regions");
  auto file = io::ImodelFile::open(kFixtures / "regions.bim");
  ASSERT_TRUE(file.isOk());
  auto scene = file->readScene();
  ASSERT_TRUE(scene.isOk());
  std::map<uint64_t, std::vector<core::Vec3d>> ours; // element → triangle corners (world)
  for (const core::Mesh& m : scene->scene.meshes)
    for (size_t t = 0; t + 2 < m.indices.size(); t += 3) {
      auto& corners = ours[scene->scene.features[m.featureIds[m.indices[t]]].elementId];
      for (int k = 0; k < 3; ++k) corners.push_back(m.positions[m.indices[t + size_t(k)]]);
    }
  for (const json& r : ref["elements"]) {
    SCOPED_TRACE(r["label"].get<std::string>());
    const uint64_t id = std::stoull(r["id"].get<std::string>(), nullptr, 16);
    const std::vector<double> theirs = r["triangleCorners"].get<std::vector<double>>();
    ASSERT_EQ(theirs.size(), 9 * r["triangles"].get<size_t>());
    // Distance from q to the nearest of their triangles (0 inside one).
    auto distance = [&](core::Vec3d q) {
      double best = 1e300;
      for (size_t t = 0; t + 8 < theirs.size(); t += 9) {
        const core::Vec3d a{theirs[t], theirs[t + 1], theirs[t + 2]}, b{theirs[t + 3], theirs[t + 4], theirs[t + 5]},
            c{theirs[t + 6], theirs[t + 7], theirs[t + 8]};
        best = std::min(best, pointTriangleDistance(q, a, b, c));
      }
      return best;
    };
    const auto& mine = ours[id];
    ASSERT_FALSE(mine.empty());
    size_t outside = 0;
    for (size_t t = 0; t + 2 < mine.size(); t += 3) {
      const core::Vec3d c = (mine[t] + mine[t + 1] + mine[t + 2]) * (1.0 / 3);
      bool in = distance(c) < 1e-7;
      for (int k = 0; k < 3 && in; ++k) in = distance(mine[t + size_t(k)] + (c - mine[t + size_t(k)]) * 0.01) < 1e-7;
      outside += !in;
    }
    EXPECT_EQ(outside, 0u) << "of " << mine.size() / 3 << " triangles";
  }
}
namespace {

/// A closed B-spline loop op: `count` zigzag poles along y = 0…1 and two more at y = 10 that close
/// it into a sawtooth (a simple polygon, nearly every other vertex reflex), split over as many
/// 32 KiB SnappyToBlob chunks as it needs.
std::vector<uint8_t> zigzagLoopBlob(int teeth, int order) {
  std::vector<double> poles, knots;
  for (int i = 0; i < teeth; ++i) poles.insert(poles.end(), {double(i), (i % 2) ? 1.0 : 0.0, 0.0});
  poles.insert(poles.end(), {double(teeth - 1), 10.0, 0.0, 0.0, 10.0, 0.0});
  const int count = teeth + 2;
  for (int i = 0; i < count + order; ++i) knots.push_back(double(std::clamp(i - order + 1, 0, count - order + 1)));
  const std::vector<uint8_t> single = bsplineLoopOp(order, poles, {}, knots);
  std::string raw;
  EXPECT_TRUE(snappy::Uncompress(reinterpret_cast<const char*>(single.data()) + 2, single.size() - 2, &raw));
  std::vector<uint8_t> blob;
  for (size_t at = 0; at < raw.size(); at += 32768) {
    const auto piece = chunk(std::vector<uint8_t>(raw.begin() + std::ptrdiff_t(at),
                                                  raw.begin() + std::ptrdiff_t(std::min(raw.size(), at + 32768))));
    blob.insert(blob.end(), piece.begin(), piece.end());
  }
  return blob;
}

} // namespace
TEST(ImodelScene, CircleSegmentsAreCapped) {
  // A chord tolerance far below the primitive's size asks for ~7 000 segments a circle: capped at
  // kMaxCircleSegments (primitives.bim 0x1a is a sphere, 528 triangles by default).
  auto file = io::ImodelFile::open(kFixtures / "primitives.bim");
  ASSERT_TRUE(file.isOk());
  auto sphere = file->geometryBlob(0x1a);
  ASSERT_TRUE(sphere.isOk());
  io::TessellationOptions fine;
  fine.chordTolerance = 1e-9;
  auto st = io::tessellateGeometryBlob(*sphere, fine);
  ASSERT_TRUE(st.isOk()) << st.status().toString();
  const uint64_t n = io::kMaxCircleSegments;
  EXPECT_GT(st->triangles, 528u * 100);
  EXPECT_LE(st->triangles, 2 * n * (n / 2));
}
TEST(ImodelScene, WireCurvesOfOtherKindsAreCountedNotFatal) {
  // A path (boundary 1) of a transition spiral (union tag 17, not stroked here) and a B-spline
  // curve: the spiral is counted as skipped, the curve still becomes line segments.
  flatbuffers::FlatBufferBuilder b;
  const std::vector<double> poles{0, 0, 0, 5, 10, 0, 10, 0, 0, 15, 10, 0}, knots{0, 0, 0, 1, 2, 2, 2};
  const auto p = b.CreateVector(poles);
  const auto k = b.CreateVector(knots);
  auto start = b.StartTable();
  b.AddElement<int32_t>(slot(0), 3, 0);
  b.AddOffset(slot(2), p);
  b.AddOffset(slot(4), k);
  const flatbuffers::Offset<void> curve(b.EndTable(start));
  start = b.StartTable(); // an empty table stands for the spiral's detail
  const flatbuffers::Offset<void> spiral(b.EndTable(start));
  const auto path = curveVectorTable(b, 1, {variantTable(b, 17, spiral), variantTable(b, 3, curve)}); // open path
  auto st = io::tessellateGeometryBlob(geometryOpBlob(b, variantTable(b, 5, path)));
  ASSERT_TRUE(st.isOk()) << st.status().toString();
  EXPECT_TRUE(st->error.empty()) << st->error;
  EXPECT_EQ(st->skipped.at("wire (TransitionSpiral, not stroked)"), 1u);
  EXPECT_EQ(st->lineSegments, 18u); // the curve of the lines fixture's order-3 element
}
TEST(ImodelScene, PrimitivesPastThePointBudgetFailTheirElement) {
  // Stroking this loop at the finest angle would need more than kMaxPrimitivePoints points (70 000
  // spans turning enough for 256 steps each): the element fails, nothing is allocated past the
  // budget.
  io::TessellationOptions finest;
  finest.angleTolerance = 1e-3;
  auto big = io::tessellateGeometryBlob(zigzagLoopBlob(70000, 3), finest);
  ASSERT_FALSE(big.isOk());
  EXPECT_NE(big.status().message().find("would need"), std::string::npos) << big.status().toString();
}
TEST(ImodelScene, HugeContortedRegionsTriangulateInBoundedTime) {
  // A 40 002-point sawtooth: ear clipping would take O(n²) tests of O(n) each; past its work
  // budget the rest is fanned, so the element finishes (in well under a second) with its n − 2
  // triangles.
  const int teeth = 40000;
  auto st = io::tessellateGeometryBlob(zigzagLoopBlob(teeth, 2));
  ASSERT_TRUE(st.isOk()) << st.status().toString();
  EXPECT_EQ(st->triangles, uint64_t(teeth));
}
TEST(ImodelScene, SmallFixtureScene) {
  const json ref = reference("small");
  auto file = io::ImodelFile::open(kFixtures / "small.bim");
  ASSERT_TRUE(file.isOk());
  auto scene = file->readScene();
  ASSERT_TRUE(scene.isOk()) << scene.status().toString();
  for (const json& r : ref["elements"]) {
    const uint64_t id = std::stoull(r["id"].get<std::string>(), nullptr, 16);
    SCOPED_TRACE(r["id"].get<std::string>());
    const auto& st = scene->elements.at(id);
    EXPECT_TRUE(st.error.empty()) << st.error;
    EXPECT_EQ(st.triangles, r["triangles"].get<uint64_t>());
    expectNear(st.area, r["area"].get<double>(), 1e-9, "area");
    EXPECT_EQ(json(st.colors), r["colors"]);
  }
  // The open arc (0x1c) is linework: line segments, as exportGraphics' onLineGraphics strokes it.
  EXPECT_TRUE(scene->skipped.empty());
  EXPECT_GT(scene->elements.at(0x1c).lineSegments, 0u);
  EXPECT_EQ(scene->scene.wireCount(), scene->elements.at(0x1c).lineSegments);
  // One feature per element with geometry, geolocated.
  EXPECT_EQ(scene->scene.features.size(), 6u);
  EXPECT_TRUE(scene->scene.ecef.has_value());
  EXPECT_EQ(scene->scene.triangleCount(), 650u);
}
TEST(ImodelScene, PartsBecomeSharedMeshesWithInstances) {
  // demo.bim: one "trees" element places the same part (trunk + crown, one colour) 30 times.
  auto file = io::ImodelFile::open(kFixtures / "demo.bim");
  ASSERT_TRUE(file.isOk());
  auto r = file->readScene();
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  const core::Scene& scene = r->scene;
  ASSERT_EQ(scene.instances.size(), 30u);
  // The part is tessellated once: one shared mesh for the 30 placements.
  ASSERT_EQ(scene.sharedMeshes.size(), 1u);
  for (const core::Mesh& m : scene.sharedMeshes) {
    EXPECT_TRUE(m.featureIds.empty());
    EXPECT_GT(m.triangleCount(), 0u);
  }
  // Triangles drawn = what every element reports (the reference's exportGraphics counts).
  uint64_t fromStats = 0;
  for (const auto& [id, st] : r->elements) fromStats += st.triangles;
  EXPECT_EQ(scene.triangleCount(), fromStats);
  // Every placed vertex lies in its element's world range (iTwin.js' range, 1 mm widening).
  std::map<uint64_t, const io::ElementRecord*> records;
  for (const auto& rec : r->records) records[rec.id] = &rec;
  std::set<uint64_t> instanced;
  for (const core::MeshInstance& inst : scene.instances) {
    ASSERT_LT(inst.mesh, scene.sharedMeshes.size());
    ASSERT_LT(inst.feature, scene.features.size());
    ASSERT_LT(inst.material, scene.materials.size());
    const uint64_t id = scene.features[inst.feature].elementId;
    instanced.insert(id);
    const core::Aabb& range = records.at(id)->worldRange;
    for (const core::Vec3d& p : scene.sharedMeshes[inst.mesh].positions) {
      const core::Vec3d w = core::transformPoint(inst.transform, p);
      core::Aabb one;
      one.extend(w.x, w.y, w.z);
      ASSERT_TRUE(range.contains(one, 1e-6)) << io::formatId64(id);
    }
  }
  EXPECT_EQ(instanced.size(), 1u);
}
TEST(ImodelScene, SceneDoesNotDependOnTheThreadCount) {
  auto read = [](size_t threads) {
    tbb::global_control limit(tbb::global_control::max_allowed_parallelism, threads);
    auto file = io::ImodelFile::open(kFixtures / "demo.bim");
    EXPECT_TRUE(file.isOk());
    auto r = file->readScene();
    EXPECT_TRUE(r.isOk());
    return std::move(r).value();
  };
  const io::ImodelScene one = read(1), many = read(8);
  ASSERT_EQ(one.scene.features.size(), many.scene.features.size());
  for (size_t f = 0; f < one.scene.features.size(); ++f)
    EXPECT_EQ(one.scene.features[f].elementId, many.scene.features[f].elementId);
  ASSERT_EQ(one.scene.meshes.size(), many.scene.meshes.size());
  for (size_t m = 0; m < one.scene.meshes.size(); ++m) {
    EXPECT_EQ(one.scene.meshes[m].positions, many.scene.meshes[m].positions);
    EXPECT_EQ(one.scene.meshes[m].indices, many.scene.meshes[m].indices);
    EXPECT_EQ(one.scene.meshes[m].featureIds, many.scene.meshes[m].featureIds);
    EXPECT_EQ(one.scene.meshes[m].material, many.scene.meshes[m].material);
  }
  ASSERT_EQ(one.scene.sharedMeshes.size(), many.scene.sharedMeshes.size());
  for (size_t m = 0; m < one.scene.sharedMeshes.size(); ++m)
    EXPECT_EQ(one.scene.sharedMeshes[m].positions, many.scene.sharedMeshes[m].positions);
  ASSERT_EQ(one.scene.instances.size(), many.scene.instances.size());
  for (size_t i = 0; i < one.scene.instances.size(); ++i) {
    EXPECT_EQ(one.scene.instances[i].mesh, many.scene.instances[i].mesh);
    EXPECT_EQ(one.scene.instances[i].transform, many.scene.instances[i].transform);
    EXPECT_EQ(one.scene.instances[i].feature, many.scene.instances[i].feature);
  }
  EXPECT_EQ(one.scene.materials, many.scene.materials);
}
TEST(ImodelScene, DamagedStreamFailsOnlyThatElement) {
  const auto dir = tmpDir();
  fs::copy_file(kFixtures / "small.bim", dir / "damaged.bim", fs::copy_options::overwrite_existing);
  // Truncate one element's blob (0x18) to its first 10 bytes.
  sqliteExec(dir / "damaged.bim",
             "UPDATE bis_GeometricElement3d SET GeometryStream = substr(GeometryStream, 1, 10) WHERE ElementId = 24;");
  auto file = io::ImodelFile::open(dir / "damaged.bim");
  ASSERT_TRUE(file.isOk());
  auto scene = file->readScene();
  ASSERT_TRUE(scene.isOk()) << scene.status().toString();
  EXPECT_FALSE(scene->elements.at(0x18).error.empty());
  EXPECT_EQ(scene->elements.at(0x19).triangles, 12u); // the others go on
  EXPECT_EQ(scene->scene.features.size(), 5u);        // 0x19, 0x1a, 0x1b, 0x1d and the arc 0x1c
}

} // namespace
} // namespace mx::test
