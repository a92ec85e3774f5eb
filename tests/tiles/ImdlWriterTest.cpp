// The iMdl writer (exportType IMODEL) and its checker: the byte layout of the format doc's
// sections 3–8 read back independently here, the tileset envelope, and the checker catching each
// kind of damage frontend-tiles would silently turn into an empty tile.
#include <mx/io/ImdlWriter.h>
#include <mx/io/TilesetValidator.h>
#include <mx/io/TilesetWriter.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace mx;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

uint32_t u32(const std::vector<uint8_t>& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}
double f64(const std::vector<uint8_t>& b, size_t at) {
  double v;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}
void setU32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }

/// A 2 × 1 rectangle in the glTF frame (y up) at height 0: three features in two models (given in
/// an order the writer must regroup), one translucent vertex.
io::TileContent content() {
  io::TileContent c;
  c.quantized = true;
  c.positionsQ = {0, 0, 0, 0, 65535, 0, 0, 0, 65535, 0, 65535, 0, 0, 0, 65535, 0};
  c.translation = {0, 0, -1}; // glTF z = -1..0  →  tile y = 0..1
  c.scale = {2.0 / 65535, 1, 1.0 / 65535};
  c.normalsQ = {0, 127, 0, 0, 0, 127, 0, 0, 0, 127, 0, 0, 0, 127, 0, 0}; // glTF +y = tile +z
  c.colors = {0xff0000ffu, 0xff0000ffu, 0xff00ff00u, 0x80ffffffu};
  c.featureIds = {0, 1, 2, 2};
  c.indices = {0, 1, 2, 0, 2, 3};
  c.features = {{0x20000000001ull, 0x1d, 0x30}, {0x22, 0x1c, 0x31}, {0x23, 0x1d, 0x30}};
  return c;
}

struct Parsed {
  uint32_t ftOffset = 88, ftLength = 0, jsonOffset = 0, jsonLength = 0, binOffset = 0;
  json doc;
};
Parsed parse(const std::vector<uint8_t>& b) {
  Parsed p;
  p.ftLength = u32(b, 88);
  const uint32_t g = 88 + p.ftLength;
  p.jsonLength = u32(b, g + 12);
  p.jsonOffset = g + 20;
  p.binOffset = p.jsonOffset + p.jsonLength;
  p.doc = json::parse(b.begin() + p.jsonOffset, b.begin() + p.jsonOffset + p.jsonLength);
  return p;
}

std::vector<std::string> check(const std::vector<uint8_t>& b, io::ImdlSummary* out = nullptr) {
  std::vector<std::string> errors;
  io::ImdlSummary s;
  io::validateImdl(b, "t.imdl", errors, s);
  if (out) *out = s;
  return errors;
}

bool mentions(const std::vector<std::string>& errors, const std::string& what) {
  for (const auto& e : errors)
    if (e.find(what) != std::string::npos) return true;
  return false;
}

} // namespace

TEST(ImdlWriter, HeaderAndMultiModelFeatureTable) {
  auto r = io::encodeImdl(content(), 0.25);
  ASSERT_TRUE(r) << r.status().toString();
  const auto& b = *r;
  EXPECT_EQ(u32(b, 0), 0x6c644d69u); // "iMdl"
  EXPECT_EQ(u32(b, 4), 0x00250000u); // 37.0
  EXPECT_EQ(u32(b, 8), 88u);
  EXPECT_EQ(u32(b, 12), 16u);      // MultiModelFeatureTable
  EXPECT_DOUBLE_EQ(f64(b, 16), 0); // contentRange.low: tile frame, z up
  EXPECT_DOUBLE_EQ(f64(b, 24), 0);
  EXPECT_DOUBLE_EQ(f64(b, 40), 2);    // contentRange.high x
  EXPECT_DOUBLE_EQ(f64(b, 48), 1);    // y = -glTF z
  EXPECT_DOUBLE_EQ(f64(b, 64), 0.25); // tolerance
  EXPECT_EQ(u32(b, 72), 3u);          // elements
  EXPECT_EQ(u32(b, 80), b.size());    // tileLength
  // Feature table: features regrouped by model (0x1c first), sub-categories, model ranges.
  const uint32_t ft = 88;
  EXPECT_EQ(u32(b, ft) % 4, 0u);
  EXPECT_EQ(u32(b, ft + 8), 3u);
  EXPECT_EQ(u32(b, ft + 4), 2u);      // two sub-categories
  EXPECT_EQ(u32(b, ft + 12), 0x22u);  // feature 0: element 0x22 (model 0x1c)
  EXPECT_EQ(u32(b, ft + 24), 1u);     // feature 1: element 0x20000000001 low word
  EXPECT_EQ(u32(b, ft + 28), 0x200u); //            high word
  const uint32_t models = ft + 12 + 3 * 12 + 2 * 8;
  EXPECT_EQ(u32(b, models), 0u); // model 0x1c: last feature 0
  EXPECT_EQ(u32(b, models + 4), 0x1cu);
  EXPECT_EQ(u32(b, models + 12), 2u); // model 0x1d: last feature 2
  EXPECT_EQ(u32(b, models + 16), 0x1du);
  EXPECT_EQ(models + 24, ft + u32(b, ft)); // table length covers exactly that
  EXPECT_TRUE(check(b).empty()) << check(b).front();
}

TEST(ImdlWriter, GltfOneFramingAndPrimitives) {
  const auto b = *io::encodeImdl(content(), 0);
  const Parsed p = parse(b);
  const uint32_t g = 88 + p.ftLength;
  EXPECT_EQ(u32(b, g), 0x46546c67u); // "glTF"
  EXPECT_EQ(u32(b, g + 4), 1u);
  EXPECT_EQ(u32(b, g + 8), b.size() - g);
  EXPECT_EQ(u32(b, g + 16), 0u);
  EXPECT_EQ(p.jsonLength % 4, 0u);
  EXPECT_EQ(p.doc["nodes"]["Node_Root"], "Mesh_Root");
  const json& prims = p.doc["meshes"]["Mesh_Root"]["primitives"];
  ASSERT_EQ(prims.size(), 2u); // opaque, then translucent
  for (const auto& pr : prims) {
    EXPECT_TRUE(p.doc["materials"].contains(pr["material"].get<std::string>()));
    EXPECT_EQ(pr["surface"]["type"], 1); // lit
    EXPECT_EQ(pr["vertices"]["numRgbaPerVertex"], 4);
    EXPECT_EQ(pr["vertices"]["featureIndexType"], 2);
    for (const char* v : {"vertices", "surface"}) {
      const std::string id = v == std::string("vertices") ? pr["vertices"]["bufferView"] : pr["surface"]["indices"];
      EXPECT_EQ((p.binOffset + p.doc["bufferViews"][id]["byteOffset"].get<uint32_t>()) % 4, 0u);
    }
  }
  // Opaque primitive: two colours → a colour table (premultiplied RGBA after the vertices).
  const json& opaque = prims[0]["vertices"];
  EXPECT_FALSE(opaque.contains("uniformColor"));
  EXPECT_EQ(opaque["numColors"], 2);
  EXPECT_EQ(opaque["count"], 3);
  EXPECT_EQ(opaque["width"], 3 * 4 + 2);
  EXPECT_FALSE(opaque["hasTranslucency"]);
  const uint32_t vt =
      p.binOffset + p.doc["bufferViews"][opaque["bufferView"].get<std::string>()]["byteOffset"].get<uint32_t>();
  // Vertex 0: q = (0, 65535, 0) in the primitive's range (glTF z = -1 is tile y = 1), red, the
  // feature of element 0x20000000001 (index 1 after regrouping), normal +z.
  EXPECT_EQ(b[vt + 0] | b[vt + 1] << 8, 0);
  EXPECT_EQ(b[vt + 2] | b[vt + 3] << 8, 65535);
  EXPECT_EQ(b[vt + 8], 1);
  EXPECT_EQ(b[vt + 12] | b[vt + 13] << 8, (128 << 8) | 128); // oct(0, 0, 1)
  const uint32_t colors = vt + 3 * 16;
  EXPECT_EQ(b[colors + 0], 255); // red, opaque
  EXPECT_EQ(b[colors + 3], 255);
  EXPECT_EQ(b[colors + 5], 255); // green
  // Translucent primitive: one colour per vertex → a table with premultiplied alpha.
  const json& clear = prims[1]["vertices"];
  EXPECT_TRUE(clear["hasTranslucency"]);
}

TEST(ImdlWriter, OctNormalsFollowTheFormat) {
  // +z: x' = y' = 0 → both bytes trunc(0.5 + 0.5·255) = 128.
  auto c = content();
  auto b = *io::encodeImdl(c, 0);
  const Parsed p = parse(b);
  const json& v = p.doc["meshes"]["Mesh_Root"]["primitives"][0]["vertices"];
  const uint32_t vt =
      p.binOffset + p.doc["bufferViews"][v["bufferView"].get<std::string>()]["byteOffset"].get<uint32_t>();
  EXPECT_EQ(b[vt + 12], 128);
  EXPECT_EQ(b[vt + 13], 128);
  // −z folds: n = (0, 0, −1) → x'' = 1, y'' = 1 → 255, 255.
  for (size_t i = 0; i < 4; ++i) c.normalsQ[4 * i + 1] = -127;
  b = *io::encodeImdl(c, 0);
  EXPECT_EQ(b[vt + 12], 255);
  EXPECT_EQ(b[vt + 13], 255);
}

TEST(ImdlWriter, LargePrimitivesSplitIntoTexturesThatFit) {
  // 600 k triangles with their own vertices: more texels than one 2048² table holds.
  io::TileContent c;
  const uint32_t n = 600000;
  c.quantized = false;
  for (uint32_t t = 0; t < n; ++t)
    for (int k = 0; k < 3; ++k) {
      c.positions.insert(c.positions.end(), {float(t % 1000) + (k == 1), 0.f, float(t / 1000) + (k == 2)});
      c.normalsQ.insert(c.normalsQ.end(), {0, 127, 0, 0});
      c.colors.push_back(0xff000000u | (t & 0xFF));
      c.featureIds.push_back(t % 3);
      c.indices.push_back(3 * t + uint32_t(k));
    }
  c.features = {{1, 0x10, 0x20}, {2, 0x10, 0x20}, {3, 0x11, 0x20}};
  auto r = io::encodeImdl(c, 0);
  ASSERT_TRUE(r);
  const Parsed p = parse(*r);
  const json& prims = p.doc["meshes"]["Mesh_Root"]["primitives"];
  EXPECT_GE(prims.size(), 2u);
  for (const auto& pr : prims) {
    EXPECT_LE(pr["vertices"]["width"].get<uint32_t>(), 2048u);
    EXPECT_LE(pr["vertices"]["height"].get<uint32_t>(), 2048u);
    EXPECT_EQ(pr["vertices"]["width"].get<uint32_t>() % 4, 0u); // multi-row: whole vertices per row
  }
  io::ImdlSummary s;
  const auto errors = check(*r, &s);
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(s.triangles, n);
}

TEST(ImdlChecker, CatchesWhatWouldDecodeToAnEmptyTile) {
  const auto good = *io::encodeImdl(content(), 0);
  auto damaged = [&](auto&& edit) {
    auto b = good;
    edit(b);
    return check(b);
  };
  EXPECT_TRUE(mentions(damaged([](auto& b) { b[0] = 'x'; }), "magic"));
  EXPECT_TRUE(mentions(damaged([](auto& b) { setU32(b, 4, 38u << 16); }), "major 38"));
  EXPECT_TRUE(mentions(damaged([](auto& b) { setU32(b, 12, 0); }), "MultiModelFeatureTable"));
  EXPECT_TRUE(mentions(damaged([](auto& b) { setU32(b, 80, 5); }), "tileLength"));
  EXPECT_TRUE(mentions(damaged([](auto& b) { b.push_back(0); }), "tileLength"));
  EXPECT_TRUE(mentions(damaged([](auto& b) { setU32(b, 88 + 12 + 36 + 16, 2); }), "increasing feature order"));
  EXPECT_TRUE(mentions(damaged([](auto& b) {
                         const Parsed p = parse(b);
                         const json& v = p.doc["meshes"]["Mesh_Root"]["primitives"][0]["vertices"];
                         const uint32_t vt =
                             p.binOffset +
                             p.doc["bufferViews"][v["bufferView"].get<std::string>()]["byteOffset"].get<uint32_t>();
                         b[vt + 8] = 9; // feature index 9 of 3
                       }),
                       "feature index"));
  auto withDoc = [&](const std::function<void(json&)>& edit) {
    Parsed p = parse(good);
    edit(p.doc);
    std::string text = p.doc.dump();
    while (text.size() % 4) text.push_back(' ');
    std::vector<uint8_t> b(good.begin(), good.begin() + p.jsonOffset);
    b.insert(b.end(), text.begin(), text.end());
    b.insert(b.end(), good.begin() + p.binOffset, good.end());
    setU32(b, 88 + p.ftLength + 12, uint32_t(text.size()));
    setU32(b, 88 + p.ftLength + 8, uint32_t(b.size() - 88 - p.ftLength));
    setU32(b, 80, uint32_t(b.size()));
    return check(b);
  };
  EXPECT_TRUE(withDoc([](json&) {}).empty());
  EXPECT_TRUE(mentions(withDoc([](json& d) { d["nodes"].erase("Node_Root"); }), "Node_Root"));
  EXPECT_TRUE(mentions(withDoc([](json& d) { d["materials"].clear(); }), "material missing"));
  EXPECT_TRUE(mentions(withDoc([](json& d) { d["meshes"]["Mesh_Root"]["primitives"][0]["vertices"]["width"] = 7; }),
                       "table is"));
  EXPECT_TRUE(mentions(withDoc([](json& d) { d["bufferViews"]["bvIndices0"]["byteOffset"] = 2; }), "aligned"));
  EXPECT_TRUE(
      mentions(withDoc([](json& d) { d["meshes"]["Mesh_Root"]["primitives"][0]["vertices"]["featureIndexType"] = 1; }),
               "featureIndexType"));
  EXPECT_TRUE(mentions(withDoc([](json& d) {
                         d["meshes"]["Mesh_Root"]["primitives"][0]["vertices"]["params"]["decodedMax"] = {5, 5, 0};
                       }),
                       "contentRange"));
}

TEST(ImdlTileset, EnvelopeAndValidation) {
  io::TilesetModel m;
  m.contents = {content(), content()};
  core::Aabb box;
  box.min = {0, 0, -1e-6};
  box.max = {2, 1, 1e-6};
  m.nodes.resize(2);
  m.nodes[0] = {box, 2.0, {1}, 0, "0-0.imdl", box};
  m.nodes[1] = {box, 0.0, {}, 1, "1-0.imdl", box};
  m.rootTransform = core::identityMatrix();
  m.rootTransform[12] = 1000;
  m.rootTransform[13] = 2000;
  m.geometricError = 10;
  const char* env = std::getenv("MESHEXPORT_TEST_TMP");
  const fs::path dir = fs::path(env ? env : "/tmp") / "imdl-tileset";
  fs::remove_all(dir);
  fs::create_directories(dir);
  io::WriteOptions o;
  o.type = io::ExportType::Imodel;
  ASSERT_TRUE(io::writeTileset(m, dir, o));
  const json t = json::parse(std::ifstream(dir / "tileset.json"));
  EXPECT_EQ(t["asset"]["version"], "1.1");
  EXPECT_EQ(t["asset"]["tilesetVersion"], "37.0");
  EXPECT_EQ(t["extensionsUsed"], json::array({"BENTLEY_BatchedTileSet"}));
  const json& models = t["extensions"]["BENTLEY_BatchedTileSet"]["models"];
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models["0x1c"]["extents"]["low"], json::array({1002.0, 2001.0, 0.0})); // iModel coordinates
  EXPECT_EQ(models["0x1d"]["extents"]["high"], json::array({1002.0, 2001.0, 0.0}));
  EXPECT_TRUE(t["root"]["boundingVolume"].contains("box"));
  EXPECT_FALSE(t["root"]["children"][0].contains("transform"));
  auto report = io::validateTileset(dir);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok()) << report->errors.front();
  EXPECT_EQ(report->triangles, 4u);
  // The validator's envelope rules.
  auto withTileset = [&](const std::function<void(json&)>& edit) {
    json j = t;
    edit(j);
    std::ofstream(dir / "tileset.json") << j.dump();
    auto r = io::validateTileset(dir);
    std::ofstream(dir / "tileset.json") << t.dump();
    return r->errors;
  };
  EXPECT_TRUE(mentions(withTileset([](json& j) { j["extensions"]["BENTLEY_BatchedTileSet"]["models"].erase("0x1c"); }),
                       "not listed"));
  EXPECT_TRUE(mentions(withTileset([](json& j) {
                         auto& ms = j["extensions"]["BENTLEY_BatchedTileSet"]["models"];
                         ms["0x1C"] = ms["0x1c"];
                       }),
                       "canonical"));
  EXPECT_TRUE(mentions(
      withTileset([](json& j) {
        j["extensions"]["BENTLEY_BatchedTileSet"]["models"]["0x1c"] = {{"low", {0, 0, 0}}, {"high", {1, 1, 1}}};
      }),
      "extents"));
  EXPECT_TRUE(mentions(withTileset([](json& j) {
                         j["root"]["children"][0]["transform"] = {0, 1, 0, 0, -1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
                       }),
                       "must be translations"));
  EXPECT_TRUE(mentions(withTileset([](json& j) { j["root"]["content"]["uri"] = "0-0.glb"; }), "is not .imdl"));
}
