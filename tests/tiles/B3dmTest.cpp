// b3dm (3D Tiles 1.0 Batched 3D Model, tilerConfig outputFormat=b3dm): the writer's layout, the
// embedded glb read back by an independent reader (tinygltf), and the validator catching each kind
// of broken file.
#include <mx/io/B3dmWriter.h>
#include <mx/io/GlbValidator.h>
#include <mx/io/TilesetValidator.h>
#include <mx/io/TilesetWriter.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <tiny_gltf.h>

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace mx;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

io::TileContent content(size_t features = 2) {
  io::TileContent c;
  c.positionsQ = {0, 0, 0, 0, 65535, 0, 0, 0, 65535, 0, 65535, 0, 0, 0, 65535, 0};
  c.translation = {-1, 0, -1};
  c.scale = {2.0 / 65535, 1, 2.0 / 65535};
  c.colors = {0xff0000ffu, 0xff00ff00u, 0xffff0000u, 0x80ffffffu};
  c.featureIds = {0, 0, uint32_t(features - 1), uint32_t(features - 1)};
  c.indices = {0, 2, 1, 0, 3, 2};
  for (size_t f = 0; f < features; ++f) c.features.push_back({0x20000000001ull + f, 0x20, 0});
  return c;
}

io::WriteOptions b3dmOptions(bool meshopt = false) {
  io::WriteOptions o;
  o.format = io::ContentFormat::B3dm;
  o.meshoptCompression = meshopt;
  return o;
}

uint32_t u32(const std::vector<uint8_t>& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

void setU32(std::vector<uint8_t>& b, size_t at, uint32_t v) { std::memcpy(b.data() + at, &v, 4); }

struct Parts {
  json featureTable, batchTable;
  std::vector<uint8_t> glb;
  size_t glbStart = 0;
};

Parts split(const std::vector<uint8_t>& b) {
  Parts p;
  const size_t ft = u32(b, 12), ftb = u32(b, 16), bt = u32(b, 20), btb = u32(b, 24);
  p.featureTable = json::parse(b.begin() + 28, b.begin() + 28 + long(ft));
  p.batchTable = json::parse(b.begin() + 28 + long(ft + ftb), b.begin() + 28 + long(ft + ftb + bt));
  p.glbStart = 28 + ft + ftb + bt + btb;
  p.glb.assign(b.begin() + long(p.glbStart), b.end());
  return p;
}

std::vector<std::string> errorsOf(const std::vector<uint8_t>& b) {
  std::vector<std::string> errors;
  double bounds[6];
  uint64_t tris = 0;
  io::validateB3dm(b, "t.b3dm", errors, bounds, tris);
  return errors;
}

/// The b3dm with its batch table JSON replaced (same length, space-padded), or empty when longer.
std::vector<uint8_t> withBatchTable(std::vector<uint8_t> b, const json& table) {
  const size_t ft = u32(b, 12), ftb = u32(b, 16), bt = u32(b, 20);
  std::string text = table.dump();
  if (text.size() > bt) return {};
  text.resize(bt, ' ');
  std::memcpy(b.data() + 28 + ft + ftb, text.data(), bt);
  return b;
}

} // namespace

TEST(B3dm, LayoutTablesAndGlb) {
  for (bool meshopt : {false, true}) {
    SCOPED_TRACE(meshopt ? "meshopt" : "plain");
    auto r = io::encodeB3dm(content(), b3dmOptions(meshopt));
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    const std::vector<uint8_t>& b = *r;
    EXPECT_EQ(std::string(b.begin(), b.begin() + 4), "b3dm");
    EXPECT_EQ(u32(b, 4), 1u);
    EXPECT_EQ(u32(b, 8), b.size());
    EXPECT_EQ(b.size() % 8, 0u);
    const Parts p = split(b);
    EXPECT_EQ(p.glbStart % 8, 0u);
    EXPECT_EQ(p.featureTable, json({{"BATCH_LENGTH", 2}}));
    EXPECT_EQ(p.batchTable["element"], json({"0x20000000001", "0x20000000002"}));
    EXPECT_EQ(p.batchTable["model"], json({"0x20", "0x20"}));
    EXPECT_EQ(p.batchTable["subcategory"], json({"0", "0"}));
    EXPECT_EQ(u32(p.glb, 8), p.glb.size()) << "the glb's own length covers it to the b3dm's end";
    EXPECT_TRUE(errorsOf(b).empty()) << errorsOf(b).front();

    // tinygltf reads the glb: _BATCHID per vertex, no EXT_mesh_features, no EXT_structural_metadata.
    tinygltf::TinyGLTF loader;
    tinygltf::Model model;
    std::string err, warn;
    if (meshopt) continue; // tinygltf does not decode EXT_meshopt_compression
    ASSERT_TRUE(loader.LoadBinaryFromMemory(&model, &err, &warn, p.glb.data(), unsigned(p.glb.size()))) << err;
    ASSERT_EQ(model.meshes.size(), 1u);
    for (const auto& prim : model.meshes[0].primitives) {
      EXPECT_TRUE(prim.attributes.count("_BATCHID"));
      EXPECT_FALSE(prim.attributes.count("_FEATURE_ID_0"));
      EXPECT_FALSE(prim.extensions.count("EXT_mesh_features"));
    }
    EXPECT_FALSE(model.extensions.count("EXT_structural_metadata"));
    for (const auto& e : model.extensionsUsed) EXPECT_NE(e.rfind("EXT_mesh_features", 0), 0u);
  }
}

TEST(B3dm, Id64Strings) {
  EXPECT_EQ(io::id64String(0), "0");
  EXPECT_EQ(io::id64String(1), "0x1");
  EXPECT_EQ(io::id64String(0x20000000a1bull), "0x20000000a1b");
  EXPECT_EQ(io::id64String(~0ull), "0xffffffffffffffff");
}

TEST(B3dm, ValidatorCatchesEachBrokenRule) {
  auto r = io::encodeB3dm(content(3), b3dmOptions());
  ASSERT_TRUE(r.isOk());
  const std::vector<uint8_t> good = *r;
  struct Case {
    std::string name, expected;
    std::vector<uint8_t> bytes;
  };
  std::vector<Case> cases;
  auto mutate = [&](std::string name, std::string expected, auto&& f) {
    std::vector<uint8_t> b = good;
    f(b);
    cases.push_back({std::move(name), std::move(expected), std::move(b)});
  };
  mutate("magic", "magic", [](auto& b) { b[0] = 'x'; });
  mutate("version", "version", [](auto& b) { setU32(b, 4, 2); });
  mutate("byteLength", "byteLength", [](auto& b) { setU32(b, 8, uint32_t(b.size() + 8)); });
  mutate("truncated", "byteLength", [](auto& b) { b.resize(b.size() - 8); });
  mutate("table past the end", "past the end", [](auto& b) { setU32(b, 20, uint32_t(b.size())); });
  mutate("unaligned table", "8-byte boundary", [](auto& b) {
    setU32(b, 12, u32(b, 12) - 4);
    setU32(b, 20, u32(b, 20) + 4);
  });
  mutate("no batch table", "no batch table", [](auto& b) {
    // The batch table's bytes become spaces of the feature table's padding.
    std::fill(b.begin() + 28 + u32(b, 12), b.begin() + 28 + u32(b, 12) + u32(b, 20), uint8_t(' '));
    setU32(b, 12, u32(b, 12) + u32(b, 20));
    setU32(b, 20, 0);
  });
  const Parts p = split(good);
  json bt = p.batchTable;
  bt["element"].erase(0);
  cases.push_back({"short property", "has 2 values", withBatchTable(good, bt)});
  bt = p.batchTable;
  bt["model"][1] = "0x2G";
  cases.push_back({"bad id", "Id64", withBatchTable(good, bt)});
  bt = p.batchTable;
  bt.erase("subcategory");
  cases.push_back({"missing ids", "subcategory", withBatchTable(good, bt)});
  // BATCH_LENGTH 2 and two ids a property, while _BATCHID reaches 2 (three features written).
  std::vector<uint8_t> shorter = good;
  shorter[28 + std::string(good.begin() + 28, good.end()).find("\"BATCH_LENGTH\":3") + 15] = '2';
  bt = p.batchTable;
  for (const char* k : {"element", "model", "subcategory"}) bt[k].erase(2);
  cases.push_back({"batch id past BATCH_LENGTH", "_BATCHID value 2", withBatchTable(shorter, bt)});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_FALSE(c.bytes.empty());
    const auto errors = errorsOf(c.bytes);
    ASSERT_FALSE(errors.empty());
    EXPECT_NE(errors.front().find(c.expected), std::string::npos) << errors.front();
  }
}

TEST(B3dm, TilesetIsVersion10WithB3dmContentAndValidates) {
  const char* env = std::getenv("MESHEXPORT_TEST_TMP");
  const fs::path dir = fs::path(env ? env : "/tmp") / "tiles" / "b3dm";
  fs::remove_all(dir);
  fs::create_directories(dir);
  io::TilesetModel m;
  m.contents = {content(), content()};
  core::Aabb box;
  box.min = {-1, -1, -1e-6};
  box.max = {1, 1, 1e-6};
  m.nodes = {{box, 2.0, {1}, 0, "0-0.b3dm", box}, {box, 0.0, {}, 1, "1-0.b3dm", box}};
  m.geometricError = 10;
  auto w = io::writeTileset(m, dir, b3dmOptions());
  ASSERT_TRUE(w.isOk()) << w.status().toString();
  EXPECT_EQ(w->largestContentBytes, fs::file_size(dir / "0-0.b3dm"));
  const json doc = json::parse(std::ifstream(dir / "tileset.json"));
  EXPECT_EQ(doc["asset"]["version"], "1.0");
  EXPECT_EQ(doc["root"]["content"]["uri"], "0-0.b3dm");
  auto v = io::validateTileset(dir);
  ASSERT_TRUE(v.isOk());
  EXPECT_TRUE(v->ok()) << v->errors.front();
  EXPECT_EQ(v->triangles, 4u);

  // glb content in a 1.0 tileset without 3DTILES_content_gltf is refused; b3dm content is not.
  m.nodes[1].uri = "1-0.glb";
  ASSERT_TRUE(io::writeTileset(m, dir, io::WriteOptions{}).isOk());
  json mixed = json::parse(std::ifstream(dir / "tileset.json"));
  mixed["asset"]["version"] = "1.0";
  std::ofstream(dir / "tileset.json") << mixed.dump();
  v = io::validateTileset(dir);
  ASSERT_TRUE(v.isOk());
  ASSERT_FALSE(v->ok());
  EXPECT_NE(v->errors.front().find("3DTILES_content_gltf"), std::string::npos) << v->errors.front();
}
