// The one writer and its validator: round trip through an independent reader (tinygltf), golden
// files, and the validator catching each kind of broken output.
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

fs::path tmpDir(const std::string& name) {
  const char* env = std::getenv("MESHEXPORT_TEST_TMP");
  auto p = fs::path(env ? env : "/tmp") / "tiles" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

/// A unit square in the glTF frame (two features, one translucent vertex group).
io::TileContent squareContent(bool quantized = true) {
  io::TileContent c;
  c.quantized = quantized;
  if (quantized) {
    c.positionsQ = {0, 0, 0, 0, 65535, 0, 0, 0, 65535, 0, 65535, 0, 0, 0, 65535, 0};
    c.translation = {-1, 0, -1};
    c.scale = {2.0 / 65535, 1, 2.0 / 65535};
  } else {
    c.positions = {-1, 0, -1, 1, 0, -1, 1, 0, 1, -1, 0, 1};
  }
  c.normalsQ = {0, 127, 0, 0, 0, 127, 0, 0, 0, 127, 0, 0, 0, 127, 0, 0};
  c.colors = {0xff0000ffu, 0xff00ff00u, 0xffff0000u, 0x80ffffffu};
  c.featureIds = {0, 0, 1, 1};
  c.indices = {0, 2, 1, 0, 3, 2};
  c.features = {{0x20000000001ull, 0x20, 0x30}, {0x20000000002ull, 0x20, 0x31}};
  return c;
}

/// Root with one content tile and one child with the same content, in a folder.
io::TilesetModel twoTileModel() {
  io::TilesetModel m;
  m.contents = {squareContent(), squareContent()};
  core::Aabb box;
  box.min = {-1, -1, -1e-6};
  box.max = {1, 1, 1e-6};
  m.nodes.resize(2);
  m.nodes[0] = {box, 2.0, {1}, 0, "0-0.glb", box};
  m.nodes[1] = {box, 0.0, {}, 1, "1-0.glb", box};
  m.rootTransform = core::identityMatrix();
  m.rootTransform[12] = 1000;
  m.geometricError = 10;
  return m;
}

std::vector<uint8_t> readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void writeFile(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

json glbJson(const std::vector<uint8_t>& glb) {
  uint32_t len;
  std::memcpy(&len, glb.data() + 12, 4);
  return json::parse(glb.begin() + 20, glb.begin() + 20 + len);
}

/// Rewrites a glb with new JSON (padding kept valid), BIN chunk unchanged.
std::vector<uint8_t> withJson(const std::vector<uint8_t>& glb, const json& j) {
  uint32_t len;
  std::memcpy(&len, glb.data() + 12, 4);
  std::string text = j.dump();
  while (text.size() % 4) text.push_back(' ');
  std::vector<uint8_t> out(glb.begin(), glb.begin() + 12);
  const uint32_t newLen = uint32_t(text.size()), jsonType = 0x4E4F534A;
  out.resize(20);
  std::memcpy(out.data() + 12, &newLen, 4);
  std::memcpy(out.data() + 16, &jsonType, 4);
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), glb.begin() + 20 + len, glb.end());
  const uint32_t total = uint32_t(out.size());
  std::memcpy(out.data() + 8, &total, 4);
  return out;
}

std::vector<std::string> validateOne(const std::vector<uint8_t>& glb) {
  std::vector<std::string> errors;
  double b[6];
  uint64_t t = 0;
  io::validateGlb(glb, "t.glb", errors, b, t);
  return errors;
}

bool mentions(const std::vector<std::string>& errors, const std::string& what) {
  for (const auto& e : errors)
    if (e.find(what) != std::string::npos) return true;
  return false;
}

} // namespace

TEST(GlbWriter, RoundTripsThroughTinygltf) {
  for (bool meshopt : {false, true}) {
    for (bool quantized : {true, false}) {
      SCOPED_TRACE(std::string("meshopt=") + (meshopt ? "1" : "0") + " quantized=" + (quantized ? "1" : "0"));
      io::WriteOptions o;
      o.meshoptCompression = meshopt;
      auto glb = io::encodeGlb(squareContent(quantized), o);
      ASSERT_TRUE(glb.isOk()) << glb.status().toString();
      EXPECT_EQ(glb->size() % 4, 0u);
      EXPECT_TRUE(validateOne(*glb).empty());
      tinygltf::TinyGLTF loader;
      tinygltf::Model model;
      std::string err, warn;
      ASSERT_TRUE(loader.LoadBinaryFromMemory(&model, &err, &warn, glb->data(), unsigned(glb->size()))) << err;
      ASSERT_EQ(model.meshes.size(), 1u);
      ASSERT_EQ(model.meshes[0].primitives.size(), 2u); // opaque + translucent
      const auto& prim = model.meshes[0].primitives[0];
      EXPECT_TRUE(prim.attributes.count("_FEATURE_ID_0"));
      EXPECT_TRUE(prim.extensions.count("EXT_mesh_features"));
      EXPECT_TRUE(model.extensions.count("EXT_structural_metadata"));
      const auto& pos = model.accessors[size_t(prim.attributes.at("POSITION"))];
      EXPECT_EQ(pos.componentType, quantized ? TINYGLTF_COMPONENT_TYPE_UNSIGNED_SHORT : TINYGLTF_COMPONENT_TYPE_FLOAT);
      EXPECT_EQ(model.materials[1].alphaMode, "BLEND");
      if (!meshopt) {
        // The element ids are little-endian UINT64 in the property table's first column.
        const auto table = model.extensions.at("EXT_structural_metadata").Get("propertyTables").Get(0);
        const int view = table.Get("properties").Get("element").Get("values").GetNumberAsInt();
        const auto& bv = model.bufferViews[size_t(view)];
        uint64_t second;
        std::memcpy(&second, model.buffers[0].data.data() + bv.byteOffset + 8, 8);
        EXPECT_EQ(second, 0x20000000002ull);
        EXPECT_EQ(bv.byteOffset % 8, 0u);
      }
    }
  }
}

TEST(GlbWriter, RejectsInconsistentContent) {
  io::TileContent c = squareContent();
  c.featureIds[0] = 7;
  EXPECT_FALSE(io::encodeGlb(c, {}).isOk());
  c = squareContent();
  c.indices.push_back(99);
  c.indices.push_back(0);
  c.indices.push_back(1);
  EXPECT_FALSE(io::encodeGlb(c, {}).isOk());
  c = squareContent();
  c.indices.clear();
  EXPECT_FALSE(io::encodeGlb(c, {}).isOk());
}

/// The square with linework after it: a segment (two new vertices) and a point (one more).
io::TileContent squareWithLinework(bool quantized = true) {
  io::TileContent c = squareContent(quantized);
  if (quantized)
    c.positionsQ.insert(c.positionsQ.end(), {0, 0, 0, 0, 65535, 0, 65535, 0, 30000, 0, 30000, 0});
  else
    c.positions.insert(c.positions.end(), {-1, 0, -1, 1, 0, 1, 0, 0, 0});
  c.colors.insert(c.colors.end(), {0xff0000ffu, 0xff0000ffu, 0x80ffffffu});
  c.featureIds.insert(c.featureIds.end(), {1, 1, 0});
  c.lines = {4, 5};
  c.points = {6};
  c.wireVertices = 3;
  return c;
}

TEST(GlbWriter, WritesLinesAndPointsOverTheirOwnVertices) {
  for (bool meshopt : {false, true}) {
    for (bool batched : {false, true}) {
      SCOPED_TRACE(std::string("meshopt=") + (meshopt ? "1" : "0") + " b3dm=" + (batched ? "1" : "0"));
      io::WriteOptions o;
      o.meshoptCompression = meshopt;
      if (batched) o.format = io::ContentFormat::B3dm;
      auto glb = io::encodeGlb(squareWithLinework(), o);
      ASSERT_TRUE(glb.isOk()) << glb.status().toString();
      if (!batched) {
        EXPECT_TRUE(validateOne(*glb).empty());
      }
      tinygltf::TinyGLTF loader;
      tinygltf::Model model;
      std::string err, warn;
      ASSERT_TRUE(loader.LoadBinaryFromMemory(&model, &err, &warn, glb->data(), unsigned(glb->size()))) << err;
      const auto& prims = model.meshes[0].primitives;
      ASSERT_EQ(prims.size(), 4u); // triangles opaque + blended, LINES, POINTS (translucent point: blended)
      EXPECT_EQ(prims[2].mode, TINYGLTF_MODE_LINE);
      EXPECT_EQ(prims[3].mode, TINYGLTF_MODE_POINTS);
      EXPECT_EQ(prims[3].material, 1);
      for (size_t k : {size_t(2), size_t(3)}) {
        EXPECT_FALSE(prims[k].attributes.count("NORMAL"));
        EXPECT_TRUE(prims[k].attributes.count(batched ? "_BATCHID" : "_FEATURE_ID_0"));
        EXPECT_EQ(model.accessors[size_t(prims[k].attributes.at("POSITION"))].count, 3u);
        EXPECT_NE(prims[k].attributes.at("POSITION"), prims[0].attributes.at("POSITION"));
      }
      EXPECT_EQ(model.accessors[size_t(prims[0].attributes.at("NORMAL"))].count, 4u);
      EXPECT_EQ(model.accessors[size_t(prims[2].indices)].count, 2u);
      EXPECT_EQ(model.accessors[size_t(prims[3].indices)].count, 1u);
    }
  }
  // The glb of a tile without linework is unchanged by its support: no LINES or POINTS.
  auto plain = io::encodeGlb(squareContent(), {});
  ASSERT_TRUE(plain.isOk());
  const std::string text(plain->begin(), plain->end());
  EXPECT_EQ(text.find("\"mode\":1"), std::string::npos);
}

TEST(GlbWriter, RejectsLineworkOutsideItsVertices) {
  io::TileContent c = squareWithLinework();
  c.lines = {0, 5}; // a segment touching a triangle vertex
  EXPECT_FALSE(io::encodeGlb(c, {}).isOk());
  c = squareWithLinework();
  c.indices.push_back(4); // a triangle touching a linework vertex
  c.indices.push_back(0);
  c.indices.push_back(1);
  EXPECT_FALSE(io::encodeGlb(c, {}).isOk());
  c = squareWithLinework();
  c.lines.push_back(5); // odd
  EXPECT_FALSE(io::encodeGlb(c, {}).isOk());
  c = squareWithLinework();
  c.wireVertices = 0; // linework without its vertex range
  EXPECT_FALSE(io::encodeGlb(c, {}).isOk());
  c = squareWithLinework();
  c.normalsQ.resize(4 * 7); // normals for linework vertices
  EXPECT_FALSE(io::encodeGlb(c, {}).isOk());
  // Linework alone is a tile.
  io::TileContent w = squareWithLinework();
  w.indices.clear();
  w.wireVertices = 7;
  w.normalsQ.clear();
  w.lines = {0, 1, 1, 2};
  w.points = {3};
  auto glb = io::encodeGlb(w, {});
  ASSERT_TRUE(glb.isOk()) << glb.status().toString();
  EXPECT_TRUE(validateOne(*glb).empty());
}

TEST(TilesetWriter, MatchesGoldenFiles) {
  const auto dir = tmpDir("golden");
  auto r = io::writeTileset(twoTileModel(), dir,
                            {io::ExportType::ThreeDTiles, io::ContentFormat::Glb, false, "meshexport test"});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->files, 3u);
  const fs::path golden = fs::path(MESHEXPORT_SOURCE_DIR) / "datasets" / "golden";
  const json expected = json::parse(std::ifstream(golden / "two-tile" / "tileset.json"));
  const json actual = json::parse(std::ifstream(dir / "tileset.json"));
  EXPECT_EQ(expected, actual) << actual.dump(1);
  EXPECT_EQ(readFile(golden / "two-tile" / "0-0.glb"), readFile(dir / "0-0.glb"));
  auto v = io::validateTileset(dir);
  ASSERT_TRUE(v.isOk());
  EXPECT_TRUE(v->ok()) << (v->errors.empty() ? "" : v->errors[0]);
  EXPECT_EQ(v->tiles, 2u);
  EXPECT_EQ(v->contents, 2u);
  EXPECT_EQ(v->triangles, 4u);
}

TEST(TilesetWriter, TilesetJsonShape) {
  const json t = json::parse(io::encodeTilesetJson(twoTileModel(), {}));
  EXPECT_EQ(t["asset"]["version"], "1.1");
  EXPECT_EQ(t["geometricError"], 10.0);
  EXPECT_EQ(t["root"]["refine"], "REPLACE");
  EXPECT_EQ(t["root"]["transform"].size(), 16u);
  EXPECT_EQ(t["root"]["transform"][12], 1000.0); // column-major: translation in 12..14
  EXPECT_EQ(t["root"]["boundingVolume"]["box"].size(), 12u);
  EXPECT_EQ(t["root"]["children"][0]["content"]["uri"], "1-0.glb");
}

class ValidatorCatches : public ::testing::Test {
protected:
  void SetUp() override {
    dir = tmpDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(io::writeTileset(twoTileModel(), dir, {}).isOk());
    tileset = json::parse(std::ifstream(dir / "tileset.json"));
    glb = readFile(dir / "1-0.glb");
  }
  std::vector<std::string> errorsWithTileset(const json& t) {
    std::ofstream(dir / "tileset.json") << t.dump();
    auto v = io::validateTileset(dir);
    EXPECT_TRUE(v.isOk());
    return v->errors;
  }
  std::vector<std::string> errorsWithGlb(const std::vector<uint8_t>& bytes) {
    writeFile(dir / "1-0.glb", bytes);
    auto v = io::validateTileset(dir);
    EXPECT_TRUE(v.isOk());
    return v->errors;
  }
  fs::path dir;
  json tileset;
  std::vector<uint8_t> glb;
};

TEST_F(ValidatorCatches, NothingWhenValid) { EXPECT_TRUE(errorsWithTileset(tileset).empty()); }

TEST_F(ValidatorCatches, MissingTopLevelGeometricError) {
  tileset.erase("geometricError");
  EXPECT_TRUE(mentions(errorsWithTileset(tileset), "top-level geometricError"));
}

TEST_F(ValidatorCatches, ChildErrorAboveParent) {
  tileset["root"]["children"][0]["geometricError"] = 5.0;
  EXPECT_TRUE(mentions(errorsWithTileset(tileset), "exceeds its parent"));
}

TEST_F(ValidatorCatches, ChildBoxOutsideParent) {
  tileset["root"]["children"][0]["boundingVolume"]["box"][0] = 3.0;
  EXPECT_TRUE(mentions(errorsWithTileset(tileset), "not inside its parent"));
}

TEST_F(ValidatorCatches, ContentOutsideItsTile) {
  tileset["root"]["children"][0]["boundingVolume"]["box"] = {0.5, 0, 0, 0.4, 0, 0, 0, 0.4, 0, 0, 0, 0.4};
  EXPECT_TRUE(mentions(errorsWithTileset(tileset), "extends outside the tile"));
}

TEST_F(ValidatorCatches, BadRefineAndTransform) {
  tileset["root"]["refine"] = "replace";
  tileset["root"]["transform"][3] = 1.0;
  auto e = errorsWithTileset(tileset);
  EXPECT_TRUE(mentions(e, "refine"));
  EXPECT_TRUE(mentions(e, "affine"));
}

TEST_F(ValidatorCatches, BadUris) {
  for (const char* uri : {"/abs.glb", "../up.glb", "http://x/y.glb", "a.glb?x=1", "missing.glb"}) {
    SCOPED_TRACE(uri);
    json t = tileset;
    t["root"]["children"][0]["content"]["uri"] = uri;
    auto e = errorsWithTileset(t);
    EXPECT_FALSE(e.empty());
  }
}

TEST_F(ValidatorCatches, NotJson) {
  std::ofstream(dir / "tileset.json") << "{ nope";
  auto v = io::validateTileset(dir);
  ASSERT_TRUE(v.isOk());
  EXPECT_TRUE(mentions(v->errors, "does not parse"));
}

TEST_F(ValidatorCatches, WrongJsonTypes) {
  tileset["root"]["children"][0]["content"]["uri"] = 17;
  EXPECT_FALSE(errorsWithTileset(tileset).empty());
}

TEST_F(ValidatorCatches, GlbContainerDamage) {
  auto bad = glb;
  bad[0] = 'x';
  EXPECT_TRUE(mentions(errorsWithGlb(bad), "magic"));
  bad = glb;
  bad.resize(bad.size() - 4);
  EXPECT_TRUE(mentions(errorsWithGlb(bad), "file size"));
  bad = glb;
  bad.resize(bad.size() - 2);
  const uint32_t len = uint32_t(bad.size());
  std::memcpy(bad.data() + 8, &len, 4);
  EXPECT_FALSE(errorsWithGlb(bad).empty());
  bad = {glb.begin(), glb.begin() + 16};
  EXPECT_FALSE(errorsWithGlb(bad).empty());
}

TEST_F(ValidatorCatches, AccessorProblems) {
  json j = glbJson(glb);
  json k = j;
  k["accessors"][0]["max"][0] = 12.0;
  EXPECT_TRUE(mentions(validateOne(withJson(glb, k)), "min/max"));
  k = j;
  k["accessors"][0]["count"] = 4000;
  EXPECT_TRUE(mentions(validateOne(withJson(glb, k)), "exceeds"));
  k = j;
  k["accessors"][3]["normalized"] = true;
  EXPECT_TRUE(mentions(validateOne(withJson(glb, k)), "normalized"));
  k = j;
  k["meshes"][0]["primitives"][0]["extensions"]["EXT_mesh_features"]["featureIds"][0]["featureCount"] = 1;
  EXPECT_FALSE(validateOne(withJson(glb, k)).empty()); // feature id 1 >= featureCount 1
  k = j;
  k["extensionsUsed"] = {"EXT_structural_metadata"};
  EXPECT_TRUE(mentions(validateOne(withJson(glb, k)), "not in extensionsUsed"));
  k = j;
  k["extensions"]["EXT_structural_metadata"]["schema"]["classes"]["feature"]["properties"]["element"]["componentType"] =
      "UINT32";
  EXPECT_TRUE(mentions(validateOne(withJson(glb, k)), "UINT64"));
}

TEST_F(ValidatorCatches, IndexOutOfRange) {
  // Point the index accessor at the POSITION data: values up to 65535 ≫ 4 vertices.
  json j = glbJson(glb);
  j["accessors"][4]["bufferView"] = 0;
  EXPECT_TRUE(mentions(validateOne(withJson(glb, j)), ">= vertex count"));
}
