// Linework through the pipeline: line segments and points are partitioned with the triangles,
// kept whole in the leaves, clustered on the parents' grid, quantized with their own vertices
// (no normals) and written as LINES / POINTS primitives (glb, b3dm) and polylines / point strings
// (iMdl), with feature ids like the triangles.
#include "PipelineTestSupport.h"

#include <mx/engine/Pipeline.h>
#include <mx/io/ImdlWriter.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <set>

namespace pipeline_test {
namespace {

using nlohmann::json;

/// The JSON chunk of a glb file.
json glbJson(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  const std::vector<char> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint32_t len = 0;
  std::memcpy(&len, b.data() + 12, 4);
  return json::parse(b.begin() + 20, b.begin() + 20 + len);
}

struct Counts {
  uint64_t triangles = 0, segments = 0, points = 0;
  uint64_t total() const { return triangles + segments + points; }
};

/// Primitive counts of one glb content, from its index accessors.
Counts countsOf(const json& g) {
  Counts c;
  for (const json& p : g["meshes"][0]["primitives"]) {
    const uint64_t n = g["accessors"][p["indices"].get<size_t>()]["count"];
    const int mode = p.value("mode", 4);
    (mode == 4 ? c.triangles : mode == 1 ? c.segments : c.points) += mode == 4 ? n / 3 : mode == 1 ? n / 2 : n;
    if (mode != 4) {
      EXPECT_FALSE(p["attributes"].contains("NORMAL")) << "linework is written without normals";
    }
  }
  return c;
}

/// Per tile of tileset.json (depth first): its content counts and its children's.
struct TileCounts {
  Counts own;
  std::vector<TileCounts> children;
  double error = 0;
};

TileCounts walk(const json& tile, const fs::path& dir) {
  TileCounts t;
  t.error = tile["geometricError"];
  if (tile.contains("content")) t.own = countsOf(glbJson(dir / tile["content"]["uri"].get<std::string>()));
  for (const json& c : tile.value("children", json::array())) t.children.push_back(walk(c, dir));
  return t;
}

Counts leafTotals(const TileCounts& t) {
  if (t.children.empty()) return t.own;
  Counts s;
  for (const auto& c : t.children) {
    const Counts k = leafTotals(c);
    s.triangles += k.triangles;
    s.segments += k.segments;
    s.points += k.points;
  }
  return s;
}

/// Every parent holds at most maxPrims primitives, no more segments or points than its children
/// together, and a positive error when it left something out.
void checkParents(const TileCounts& t, uint64_t maxPrims) {
  if (t.children.empty()) return;
  Counts below;
  for (const auto& c : t.children) {
    below.segments += c.own.segments;
    below.points += c.own.points;
    checkParents(c, maxPrims);
  }
  EXPECT_LE(t.own.total(), maxPrims);
  EXPECT_LE(t.own.segments, below.segments);
  EXPECT_LE(t.own.points, below.points);
}

const fs::path kLines = fs::path(MESHEXPORT_SOURCE_DIR) / "datasets/imodel/fixtures/lines.bim";

TEST(Linework, IModelLineworkIsTiledWholeInTheLeaves) {
  // lines.bim: 296 segments, 4 points and one box (12 triangles), 21 elements.
  const auto out = tmpDir("lines");
  auto r = engine::exportFile(kLines, out, options(64));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->validation.ok());
  const json tileset = json::parse(std::ifstream(out / "tileset.json"));
  const TileCounts tree = walk(tileset["root"], out);
  ASSERT_FALSE(tree.children.empty()) << "64 primitives a tile must give a tree";
  const Counts leaves = leafTotals(tree);
  EXPECT_EQ(leaves.triangles, 12u);
  EXPECT_EQ(leaves.segments, 296u);
  EXPECT_EQ(leaves.points, 4u);
  checkParents(tree, 64);
  // Every element is pickable: its id is in some tile's property table.
  std::set<uint64_t> elements;
  for (const auto& e : fs::directory_iterator(out)) {
    if (e.path().extension() != ".glb") continue;
    std::ifstream in(e.path(), std::ios::binary);
    const std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    uint32_t len;
    std::memcpy(&len, b.data() + 12, 4);
    const json g = json::parse(b.begin() + 20, b.begin() + 20 + len);
    const auto& table = g["extensions"]["EXT_structural_metadata"]["propertyTables"][0];
    const auto& view = g["bufferViews"][table["properties"]["element"]["values"].get<size_t>()];
    for (size_t k = 0; k < table["count"].get<size_t>(); ++k) {
      uint64_t id;
      std::memcpy(&id, b.data() + 20 + len + 8 + view["byteOffset"].get<size_t>() + 8 * k, 8);
      elements.insert(id);
    }
  }
  EXPECT_EQ(elements.size(), 21u);
}

TEST(Linework, EveryFormatCarriesIt) {
  // b3dm, meshopt compression and IMODEL: written and validated by the project's validators.
  for (const auto& [name, set] : std::vector<std::pair<std::string, std::function<void(engine::ExportOptions&)>>>{
           {"b3dm", [](engine::ExportOptions& o) { o.config.outputFormat = io::ContentFormat::B3dm; }},
           {"meshopt", [](engine::ExportOptions& o) { o.config.meshoptCompression = true; }},
           {"floats", [](engine::ExportOptions& o) { o.config.quantizePositions = false; }},
           {"imodel", [](engine::ExportOptions& o) { o.type = io::ExportType::Imodel; }}}) {
    SCOPED_TRACE(name);
    auto o = options(64);
    set(o);
    const auto out = tmpDir("lines-" + name);
    auto r = engine::exportFile(kLines, out, o);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_TRUE(r->validation.ok());
  }
}

TEST(Linework, IMdlTilesHoldPolylinesAndPointStrings) {
  const auto out = tmpDir("lines-imdl");
  auto o = options(100000); // one tile: the leaf is the whole scene
  o.type = io::ExportType::Imodel;
  auto r = engine::exportFile(kLines, out, o);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  std::ifstream in(out / "0-0.imdl", std::ios::binary);
  const std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> errors;
  io::ImdlSummary s;
  ASSERT_TRUE(io::validateImdl(b, "0-0.imdl", errors, s)) << (errors.empty() ? "" : errors[0]);
  EXPECT_EQ(s.triangles, 12u);
  EXPECT_EQ(s.segments, 296u);
  EXPECT_EQ(s.points, 4u);
  EXPECT_EQ(s.elementSegments.at(0x14), 3u); // the line string
}

/// A scene of linework only: a zigzag of `n` segments and a grid of points, one feature each.
core::Scene linework(size_t n, size_t points) {
  core::Scene s;
  s.features.resize(2);
  s.features[0].elementId = 0x100;
  s.features[1].elementId = 0x101;
  s.materials = {core::Material{200, 30, 30, 255}};
  core::Mesh line;
  for (size_t i = 0; i <= n; ++i) line.positions.push_back({double(i) * 0.5, (i % 2) * 0.3, std::sin(i * 0.01) * 5});
  for (uint32_t i = 0; i < n; ++i) line.lines.insert(line.lines.end(), {i, i + 1});
  line.featureIds.assign(line.positions.size(), 0);
  core::Mesh dots;
  for (size_t i = 0; i < points; ++i) {
    dots.positions.push_back({double(i % 50) * 2, 10 + double(i / 50) * 2, 0});
    dots.points.push_back(uint32_t(i));
  }
  dots.featureIds.assign(dots.positions.size(), 1);
  s.meshes = {line, dots};
  return s;
}

TEST(Linework, ParentsClusterLineworkOnTheirGrid) {
  const auto out = tmpDir("zigzag");
  auto r = engine::exportScene(linework(4000, 1000), out, options(256));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->validation.ok());
  const json tileset = json::parse(std::ifstream(out / "tileset.json"));
  const TileCounts tree = walk(tileset["root"], out);
  const Counts leaves = leafTotals(tree);
  EXPECT_EQ(leaves.segments, 4000u);
  EXPECT_EQ(leaves.points, 1000u);
  EXPECT_EQ(leaves.triangles, 0u);
  checkParents(tree, 256);
  EXPECT_GT(tree.own.segments, 0u); // the root draws a coarse line, not nothing
  EXPECT_GT(tree.error, 0.0);
  // Byte-identical on a second run.
  const auto again = tmpDir("zigzag-again");
  ASSERT_TRUE(engine::exportScene(linework(4000, 1000), again, options(256)).isOk());
  EXPECT_EQ(readAll(out), readAll(again));
}

TEST(Linework, BadLineIndicesAreMalformedInput) {
  core::Scene s = linework(10, 0);
  s.meshes[0].lines.push_back(3); // odd count
  auto odd = engine::exportScene(s, tmpDir("odd"), options());
  ASSERT_FALSE(odd.isOk());
  EXPECT_EQ(odd.status().code(), core::ErrorCode::MalformedInput);
  s = linework(10, 0);
  s.meshes[0].lines.back() = 999; // out of range
  auto range = engine::exportScene(s, tmpDir("range"), options());
  ASSERT_FALSE(range.isOk());
  EXPECT_NE(range.status().message().find("index out of range"), std::string::npos);
}

} // namespace
} // namespace pipeline_test
