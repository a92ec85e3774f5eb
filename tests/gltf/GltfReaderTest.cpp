// glTF input: what is read (transforms, strips, fans, features, materials) and every kind of
// malformed input giving a clear error instead of a crash.
#include <mx/datasets/Generators.h>
#include <mx/io/GlbWriter.h>
#include <mx/io/GltfReader.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <tuple>

using namespace mx;
using nlohmann::json;

namespace {

std::string base64(const std::vector<uint8_t>& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = uint32_t(in[i]) << 16 | uint32_t(in[i + 1]) << 8 | in[i + 2];
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint32_t(in[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = uint32_t(in[i]) << 16 | uint32_t(in[i + 1]) << 8;
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

/// Builds small .gltf documents with an embedded (data URI) buffer.
struct Doc {
  json j = {{"asset", {{"version", "2.0"}}}, {"accessors", json::array()}, {"bufferViews", json::array()}};
  std::vector<uint8_t> bin;

  template <typename T> int accessor(const std::vector<T>& data, int componentType, const char* type, size_t count) {
    while (bin.size() % 4) bin.push_back(0);
    const size_t off = bin.size();
    bin.resize(off + data.size() * sizeof(T));
    std::memcpy(bin.data() + off, data.data(), data.size() * sizeof(T));
    j["bufferViews"].push_back({{"buffer", 0}, {"byteOffset", off}, {"byteLength", data.size() * sizeof(T)}});
    j["accessors"].push_back({{"bufferView", j["bufferViews"].size() - 1},
                              {"componentType", componentType},
                              {"type", type},
                              {"count", count}});
    return int(j["accessors"].size() - 1);
  }
  std::string text() {
    json d = j;
    d["buffers"] = {{{"byteLength", bin.size()}, {"uri", "data:application/octet-stream;base64," + base64(bin)}}};
    return d.dump();
  }
  core::Result<core::Scene> read() {
    const std::string t = text();
    return io::readGltfFromMemory({reinterpret_cast<const uint8_t*>(t.data()), t.size()}, false);
  }
};

/// A quad (two triangles or a strip/fan of 4 vertices) under one node.
Doc quadDoc(int mode, std::vector<uint16_t> indices) {
  Doc d;
  const int pos = d.accessor(std::vector<float>{0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0}, 5126, "VEC3", 4);
  const int idx = d.accessor(indices, 5123, "SCALAR", indices.size());
  json prim = {{"attributes", {{"POSITION", pos}}}, {"indices", idx}, {"mode", mode}};
  json mesh = {{"primitives", json::array({prim})}};
  d.j["meshes"] = json::array({mesh});
  d.j["nodes"] = {{{"mesh", 0}, {"name", "quad"}}};
  d.j["scenes"] = {{{"nodes", {0}}}};
  return d;
}

std::filesystem::path tmpDir() {
  const char* env = std::getenv("MESHEXPORT_TEST_TMP");
  auto p = std::filesystem::path(env ? env : "/tmp") / "gltf";
  std::filesystem::create_directories(p);
  return p;
}

} // namespace

TEST(GltfReader, RoundTripsGeneratedCity) {
  const core::Scene city = datasets::makeCity(20, 2, 1);
  const auto glb = datasets::sceneToGlb(city);
  auto r = io::readGltfFromMemory(glb, true);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->triangleCount(), city.triangleCount());
  EXPECT_EQ(r->features.size(), city.features.size()); // one feature per node
  core::Aabb a, b;
  for (const auto& m : city.meshes)
    for (const auto& p : m.positions) a.extend(p.x, p.y, p.z);
  for (const auto& m : r->meshes)
    for (const auto& p : m.positions) b.extend(p.x, p.y, p.z);
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(a.min[k], b.min[k], 1e-3); // z-up → y-up → z-up
    EXPECT_NEAR(a.max[k], b.max[k], 1e-3);
  }
  EXPECT_GE(r->materials.size(), 2u);
  // Element, model and sub-category ids survive the glb (EXT_mesh_features + EXT_structural_metadata).
  std::set<std::tuple<uint64_t, uint64_t, uint64_t>> want, got;
  for (const auto& f : city.features) want.insert({f.elementId, f.modelId, f.subCategoryId});
  for (const auto& f : r->features) got.insert({f.elementId, f.modelId, f.subCategoryId});
  EXPECT_EQ(got, want);
}

TEST(GltfReader, ReadsBackATileWithItsFeaturesAndColours) {
  // A quantized tile as the writer makes it: two features, an opaque and a translucent colour.
  io::TileContent c;
  c.quantized = true;
  c.translation = {10, 20, 30};
  c.scale = {0.5, 0.5, 0.5};
  c.positionsQ = {0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 0, 0, 4, 0, 0, 0, 6, 0, 0, 0, 4, 2, 0, 0};
  c.colors = {0xFF0000FFu, 0xFF0000FFu, 0xFF0000FFu, 0x8000FF00u, 0x8000FF00u, 0x8000FF00u};
  c.featureIds = {0, 0, 0, 1, 1, 1};
  c.indices = {0, 1, 2, 3, 4, 5};
  c.features = {{0x2000000000001ull, 0x21, 0x31}, {0x2000000000002ull, 0x22, 0x32}};
  auto glb = io::encodeGlb(c, {});
  ASSERT_TRUE(glb.isOk()) << glb.status().toString();
  auto r = io::readGltfFromMemory(*glb, true);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->triangleCount(), 2u);
  ASSERT_EQ(r->features.size(), 2u); // the table's features only: no feature for the node itself
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> ids;
  for (const auto& f : r->features) ids[f.elementId] = {f.modelId, f.subCategoryId};
  using Ids = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ(ids[0x2000000000001ull], Ids(0x21, 0x31));
  EXPECT_EQ(ids[0x2000000000002ull], Ids(0x22, 0x32));
  // Each mesh keeps one colour and one feature: red opaque, green at alpha 0x80.
  std::set<std::tuple<int, int, int, int, uint64_t>> meshes;
  for (const auto& m : r->meshes) {
    const core::Material& mat = r->materials[m.material];
    for (uint32_t f : m.featureIds) meshes.insert({mat.r, mat.g, mat.b, mat.a, r->features[f].elementId});
  }
  const std::set<std::tuple<int, int, int, int, uint64_t>> want = {{255, 0, 0, 255, 0x2000000000001ull},
                                                                   {0, 255, 0, 128, 0x2000000000002ull}};
  EXPECT_EQ(meshes, want);
  // Dequantized through the node's translation and scale, then y-up → z-up: glTF (10, 20, 30) + q/2.
  core::Aabb b;
  for (const auto& m : r->meshes)
    for (const auto& p : m.positions) b.extend(p.x, p.y, p.z);
  EXPECT_DOUBLE_EQ(b.min[0], 10);
  EXPECT_DOUBLE_EQ(b.max[0], 13);
  EXPECT_DOUBLE_EQ(b.min[2], 20); // glTF y
  EXPECT_DOUBLE_EQ(b.max[2], 21);
  EXPECT_DOUBLE_EQ(b.min[1], -30); // -glTF z (all 0 here)
}

TEST(GltfReader, FeatureIdsPastTheirTableAreMalformed) {
  Doc d = quadDoc(4, {0, 1, 2, 0, 2, 3});
  const int ids = d.accessor(std::vector<float>{0, 0, 0, 5}, 5126, "SCALAR", 4);
  const int col = d.accessor(std::vector<uint64_t>{7, 8}, 5125, "SCALAR", 4); // 16 bytes: two UINT64
  d.j["meshes"][0]["primitives"][0]["attributes"]["_FEATURE_ID_0"] = ids;
  d.j["meshes"][0]["primitives"][0]["extensions"] = {
      {"EXT_mesh_features", {{"featureIds", {{{"featureCount", 2}, {"attribute", 0}, {"propertyTable", 0}}}}}}};
  const json element = {{"values", d.j["accessors"][col]["bufferView"]}};
  const json table = {{"class", "feature"}, {"count", 2}, {"properties", {{"element", element}}}};
  d.j["extensions"] = {{"EXT_structural_metadata", {{"propertyTables", json::array({table})}}}};
  auto r = d.read();
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), core::ErrorCode::MalformedInput);
  EXPECT_NE(r.status().message().find("past its property table"), std::string::npos) << r.status().message();
}

TEST(GltfReader, StripsAndFansBecomeTriangles) {
  for (auto [mode, idx, tris] :
       {std::tuple{4, std::vector<uint16_t>{0, 1, 2, 0, 2, 3}, 2}, std::tuple{5, std::vector<uint16_t>{0, 1, 3, 2}, 2},
        std::tuple{6, std::vector<uint16_t>{0, 1, 2, 3}, 2}}) {
    SCOPED_TRACE("mode " + std::to_string(mode));
    auto r = quadDoc(mode, idx).read();
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    ASSERT_EQ(r->triangleCount(), size_t(tris));
    // Every triangle faces +y in glTF terms = -z... the quad lies in glTF's z=0 plane, which is
    // the scene's y=0 plane: all triangles must keep the winding of the first one.
    const auto& m = r->meshes[0];
    auto normalY = [&](size_t t) {
      const auto a = m.positions[m.indices[3 * t]], b = m.positions[m.indices[3 * t + 1]],
                 c = m.positions[m.indices[3 * t + 2]];
      const auto u = b - a, v = c - a;
      return u.z * v.x - u.x * v.z;
    };
    EXPECT_GT(normalY(0) * normalY(1), 0);
  }
}

TEST(GltfReader, NodeTransformsAndYUpConversionAreApplied) {
  Doc d = quadDoc(4, {0, 1, 2, 0, 2, 3});
  // Parent translates by (10, 20, 30) in glTF (y up); child scales x by 2 with TRS; then a
  // matrix node translates by 1 in x.
  d.j["nodes"] = {{{"children", {1}}, {"translation", {10, 20, 30}}},
                  {{"children", {2}}, {"scale", {2, 1, 1}}},
                  {{"mesh", 0}, {"matrix", {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1}}}};
  d.j["scenes"] = {{{"nodes", {0}}}};
  auto r = d.read();
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->features.size(), 1u);
  EXPECT_EQ(r->features[0].elementId, 3u); // node index + 1
  core::Aabb b;
  for (const auto& p : r->meshes[0].positions) b.extend(p.x, p.y, p.z);
  // glTF x: (0..1 + 1) * 2 + 10 = 12..14; glTF y: 0..1 + 20; glTF z: 0 + 30.
  // Scene (z up): x = gx, y = -gz, z = gy.
  EXPECT_DOUBLE_EQ(b.min[0], 12);
  EXPECT_DOUBLE_EQ(b.max[0], 14);
  EXPECT_DOUBLE_EQ(b.min[1], -30);
  EXPECT_DOUBLE_EQ(b.min[2], 20);
  EXPECT_DOUBLE_EQ(b.max[2], 21);
}

TEST(GltfReader, AMeshSeveralNodesUseIsSharedAndInstanced) {
  // Three nodes place the same quad (translated, rotated, mirrored); a copy of the document with
  // one mesh per node gives the world-space triangles the instances must reproduce.
  auto build = [](bool copies) {
    Doc d = quadDoc(4, {0, 1, 2, 0, 2, 3});
    if (copies) d.j["meshes"] = json::array({d.j["meshes"][0], d.j["meshes"][0], d.j["meshes"][0]});
    d.j["materials"] = {{{"pbrMetallicRoughness", {{"baseColorFactor", {1, 0, 0, 1}}}}}};
    for (auto& m : d.j["meshes"]) m["primitives"][0]["material"] = 0;
    d.j["nodes"] = {{{"mesh", 0}, {"translation", {5, 0, 0}}},
                    {{"mesh", copies ? 1 : 0}, {"rotation", {0, 0.7071067811865476, 0, 0.7071067811865476}}},
                    {{"mesh", copies ? 2 : 0}, {"scale", {-1, 1, 1}}, {"name", "mirrored"}}};
    d.j["scenes"] = {{{"nodes", {0, 1, 2}}}};
    return d;
  };
  auto shared = build(false).read(), copied = build(true).read();
  ASSERT_TRUE(shared.isOk()) << shared.status().toString();
  ASSERT_TRUE(copied.isOk()) << copied.status().toString();
  EXPECT_TRUE(shared->meshes.empty());
  ASSERT_EQ(shared->sharedMeshes.size(), 1u);
  ASSERT_EQ(shared->instances.size(), 3u);
  ASSERT_EQ(copied->meshes.size(), 3u);
  EXPECT_EQ(shared->features.size(), 3u);
  EXPECT_EQ(shared->triangleCount(), copied->triangleCount());
  const core::Mesh& m = shared->sharedMeshes[0];
  EXPECT_TRUE(m.featureIds.empty());
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const core::MeshInstance& inst = shared->instances[i];
    EXPECT_EQ(inst.feature, i);
    EXPECT_EQ(shared->materials[inst.material], (core::Material{255, 0, 0, 255}));
    const core::Mesh& world = copied->meshes[i];
    ASSERT_EQ(world.positions.size(), m.positions.size());
    for (size_t v = 0; v < m.positions.size(); ++v) {
      const core::Vec3d p = core::transformPoint(inst.transform, m.positions[v]);
      EXPECT_NEAR(p.x, world.positions[v].x, 1e-12);
      EXPECT_NEAR(p.y, world.positions[v].y, 1e-12);
      EXPECT_NEAR(p.z, world.positions[v].z, 1e-12);
    }
  }
  // The mirrored copy had its winding flipped by the reader; the instance keeps the mesh's own
  // winding and a negative determinant (prepare flips it when placing).
  EXPECT_NE(copied->meshes[2].indices, m.indices);
  EXPECT_EQ(copied->meshes[0].indices, m.indices);
}

TEST(GltfReader, MirroredNodesKeepNormalsOnTheFrontSide) {
  // A quad facing +z with normals +z, under a node that mirrors x: the reader flips the winding,
  // and the normals must still agree with the triangles' faces.
  Doc d = quadDoc(4, {0, 1, 2, 0, 2, 3});
  const int normals = d.accessor(std::vector<float>{0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1}, 5126, "VEC3", 4);
  d.j["meshes"][0]["primitives"][0]["attributes"]["NORMAL"] = normals;
  d.j["nodes"] = {{{"mesh", 0}, {"scale", {-1, 1, 1}}}};
  auto r = d.read();
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->meshes.size(), 1u);
  const core::Mesh& m = r->meshes[0];
  ASSERT_EQ(m.normals.size(), 3 * m.positions.size());
  for (size_t t = 0; t < m.indices.size(); t += 3) {
    const core::Vec3d a = m.positions[m.indices[t]], b = m.positions[m.indices[t + 1]],
                      c = m.positions[m.indices[t + 2]];
    const core::Vec3d u = b - a, v = c - a;
    const double face[3] = {u.y * v.z - u.z * v.y, u.z * v.x - u.x * v.z, u.x * v.y - u.y * v.x};
    for (int k = 0; k < 3; ++k) {
      const float* n = &m.normals[3 * size_t(m.indices[t + size_t(k)])];
      EXPECT_GT(face[0] * n[0] + face[1] * n[1] + face[2] * n[2], 0) << "triangle " << t / 3 << " corner " << k;
    }
  }
}

TEST(GltfReader, ReadsPointsAndLines) {
  auto points = quadDoc(0, {0, 1, 2}).read(); // POINTS
  ASSERT_TRUE(points.isOk()) << points.status().toString();
  EXPECT_EQ(points->triangleCount(), 0u);
  EXPECT_TRUE(points.warnings().empty());
  ASSERT_EQ(points->meshes.size(), 1u);
  EXPECT_EQ(points->meshes[0].points, (std::vector<uint32_t>{0, 1, 2}));
  auto lines = quadDoc(1, {0, 1, 1, 2}).read(); // LINES
  ASSERT_TRUE(lines.isOk()) << lines.status().toString();
  ASSERT_EQ(lines->meshes.size(), 1u);
  EXPECT_EQ(lines->meshes[0].lines, (std::vector<uint32_t>{0, 1, 1, 2}));
  auto strip = quadDoc(3, {0, 1, 2}).read(); // LINE_STRIP
  ASSERT_TRUE(strip.isOk());
  EXPECT_EQ(strip->meshes[0].lines, (std::vector<uint32_t>{0, 1, 1, 2}));
  auto loop = quadDoc(2, {0, 1, 2}).read(); // LINE_LOOP
  ASSERT_TRUE(loop.isOk());
  EXPECT_EQ(loop->meshes[0].lines, (std::vector<uint32_t>{0, 1, 1, 2, 2, 0}));
  auto odd = quadDoc(1, {0, 1, 2}).read(); // LINES with an odd index count
  ASSERT_FALSE(odd.isOk());
  EXPECT_NE(odd.status().message().find("multiple of 2"), std::string::npos);
  auto unknown = quadDoc(7, {0, 1, 2}).read(); // no such mode: skipped with a warning
  ASSERT_TRUE(unknown.isOk());
  EXPECT_EQ(unknown.warnings().size(), 1u);
}

TEST(GltfReader, AppearanceItDoesNotCarryIsAWarningNotASilentDrop) {
  Doc d = quadDoc(4, {0, 1, 2});
  EXPECT_TRUE(d.read().warnings().empty()); // nothing but geometry and a colour: nothing dropped
  const int uv = d.accessor(std::vector<float>{0, 0, 1, 0, 1, 1, 0, 1}, 5126, "VEC2", 4);
  d.j["meshes"][0]["primitives"][0]["attributes"]["TEXCOORD_0"] = uv;
  d.j["meshes"][0]["primitives"][0]["material"] = 0;
  d.j["materials"] = {
      {{"pbrMetallicRoughness", {{"baseColorTexture", {{"index", 0}}}, {"baseColorFactor", {1, 0, 0, 1}}}},
       {"normalTexture", {{"index", 0}}},
       {"extensions", {{"KHR_materials_clearcoat", {{"clearcoatFactor", 1}}}}}}};
  d.j["textures"] = {{{"source", 0}}};
  d.j["images"] = {{{"uri", "checker.png"}}};
  auto r = d.read();
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r.warnings().size(), 1u);
  const std::string& w = r.warnings()[0];
  for (const char* named : {"baseColorTexture ×1", "normalTexture ×1", "KHR_materials_clearcoat ×1", "TEXCOORD_0 ×1"})
    EXPECT_NE(w.find(named), std::string::npos) << named << " in: " << w;
  EXPECT_EQ(r->materials.back(), (core::Material{255, 0, 0, 255})); // the base colour factor is kept
}

struct Bad {
  const char* name;
  std::function<void(Doc&)> mutate;
  core::ErrorCode code;
  const char* mentions;
};

TEST(GltfReader, MalformedDocumentsGiveClearErrors) {
  const std::vector<Bad> bad = {
      {"index out of range",
       [](Doc& d) {
         d = quadDoc(4, {0, 1, 9});
       },
       core::ErrorCode::MalformedInput, "out of range"},
      {"NaN position",
       [](Doc& d) {
         d = quadDoc(4, {0, 1, 2});
         float nan = std::nanf("");
         std::memcpy(d.bin.data() + 4, &nan, 4);
       },
       core::ErrorCode::MalformedInput, "NaN"},
      {"infinite position",
       [](Doc& d) {
         d = quadDoc(4, {0, 1, 2});
         float inf = INFINITY;
         std::memcpy(d.bin.data(), &inf, 4);
       },
       core::ErrorCode::MalformedInput, "NaN or infinite"},
      {"accessor beyond its view", [](Doc& d) { d.j["accessors"][0]["count"] = 400; }, core::ErrorCode::MalformedInput,
       "exceeds"},
      {"missing accessor", [](Doc& d) { d.j["meshes"][0]["primitives"][0]["attributes"]["POSITION"] = 42; },
       core::ErrorCode::MalformedInput, "accessor"},
      {"missing bufferView", [](Doc& d) { d.j["accessors"][0]["bufferView"] = 17; }, core::ErrorCode::MalformedInput,
       "bufferView"},
      {"sparse accessor",
       [](Doc& d) {
         d.j["accessors"][0]["sparse"] = {
             {"count", 1}, {"indices", {{"bufferView", 1}, {"componentType", 5123}}}, {"values", {{"bufferView", 0}}}};
       },
       core::ErrorCode::UnsupportedInput, "sparse"},
      {"meshopt input required (Draco is read: GltfDracoTest)",
       [](Doc& d) {
         d.j["extensionsUsed"] = {"EXT_meshopt_compression"};
         d.j["extensionsRequired"] = {"EXT_meshopt_compression"};
       },
       core::ErrorCode::UnsupportedInput, "EXT_meshopt_compression"},
      {"node cycle",
       [](Doc& d) {
         d.j["nodes"] = {{{"mesh", 0}, {"children", {1}}}, {{"children", {0}}}};
       },
       core::ErrorCode::MalformedInput, "cycle"},
      {"missing node",
       [](Doc& d) {
         d.j["scenes"] = {{{"nodes", {5}}}};
       },
       core::ErrorCode::MalformedInput, "node 5"},
      {"triangle count",
       [](Doc& d) {
         d = quadDoc(4, {0, 1, 2, 3});
       },
       core::ErrorCode::MalformedInput, "multiple of 3"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.name);
    Doc d = quadDoc(4, {0, 1, 2, 0, 2, 3});
    b.mutate(d);
    auto r = d.read();
    ASSERT_FALSE(r.isOk());
    EXPECT_EQ(r.status().code(), b.code) << r.status().toString();
    EXPECT_NE(r.status().message().find(b.mentions), std::string::npos) << r.status().toString();
  }
}

TEST(GltfReader, NotJsonIsMalformed) {
  const std::string t = "{ this is not json";
  auto r = io::readGltfFromMemory({reinterpret_cast<const uint8_t*>(t.data()), t.size()}, false);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), core::ErrorCode::MalformedInput);
}

TEST(GltfReader, TruncatedGlbNeverCrashes) {
  const auto glb = datasets::sceneToGlb(datasets::makeCity(3, 1, 1));
  for (size_t cut :
       {size_t(0), size_t(11), size_t(20), glb.size() / 3, glb.size() / 2, glb.size() - 4, glb.size() - 1}) {
    SCOPED_TRACE("cut at " + std::to_string(cut) + " of " + std::to_string(glb.size()));
    auto r = io::readGltfFromMemory({glb.data(), cut}, true);
    ASSERT_FALSE(r.isOk());
    EXPECT_EQ(r.status().code(), core::ErrorCode::MalformedInput);
  }
}

TEST(GltfReader, MissingExternalBufferIsMalformed) {
  const auto dir = tmpDir();
  Doc d = quadDoc(4, {0, 1, 2});
  json j = d.j;
  j["buffers"] = {{{"byteLength", d.bin.size()}, {"uri", "missing.bin"}}};
  std::ofstream(dir / "external.gltf") << j.dump();
  auto r = io::readGltf(dir / "external.gltf");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), core::ErrorCode::MalformedInput);
  EXPECT_NE(r.status().message().find("external.gltf"), std::string::npos);
}

TEST(GltfReader, MissingFileIsIoError) {
  auto r = io::readGltf("/nonexistent/file.glb");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), core::ErrorCode::IoError);
}

TEST(GltfReader, MaterialOnlyRequiredExtensionsAreReadable) {
  for (const char* ext : {"KHR_texture_basisu", "KHR_materials_emissive_strength", "KHR_mesh_quantization"}) {
    SCOPED_TRACE(ext);
    Doc d = quadDoc(4, {0, 1, 2, 0, 2, 3});
    d.j["extensionsUsed"] = {ext};
    d.j["extensionsRequired"] = {ext};
    auto r = d.read();
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_EQ(r->triangleCount(), 2u);
  }
  Doc d = quadDoc(4, {0, 1, 2});
  d.j["extensionsUsed"] = {"EXT_meshopt_compression"};
  d.j["extensionsRequired"] = {"EXT_meshopt_compression"};
  auto r = d.read();
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), core::ErrorCode::UnsupportedInput);
}

TEST(GltfReader, NormalizedQuantizedPositionsAndMaterials) {
  Doc d;
  // KHR_mesh_quantization: normalized unsigned shorts.
  const int pos = d.accessor(std::vector<uint16_t>{0, 0, 0, 0, 65535, 0, 0, 0, 65535, 65535, 0, 0}, 5123, "VEC3", 3);
  d.j["bufferViews"][0]["byteStride"] = 8;
  d.j["accessors"][0]["normalized"] = true;
  d.j["meshes"] =
      json::array({{{"primitives", json::array({{{"attributes", {{"POSITION", pos}}}, {"material", 0}}})}}});
  d.j["materials"] = json::array({{{"pbrMetallicRoughness", {{"baseColorFactor", {1.0, 0.5, 0.0, 0.25}}}}}});
  d.j["nodes"] = json::array({{{"mesh", 0}}});
  d.j["extensionsUsed"] = {"KHR_mesh_quantization"};
  d.j["extensionsRequired"] = {"KHR_mesh_quantization"};
  auto r = d.read();
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(r->triangleCount(), 1u);
  EXPECT_DOUBLE_EQ(r->meshes[0].positions[1].x, 1.0);
  const auto& mat = r->materials[r->meshes[0].material];
  EXPECT_EQ(mat.r, 255);
  EXPECT_EQ(mat.g, 128);
  EXPECT_EQ(mat.a, 64);
}
