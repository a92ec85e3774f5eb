// KHR_draco_mesh_compression input (libdraco): a primitive compressed with Draco reads as the
// same primitive stored plainly — exactly when the Draco data is lossless (sequential encoding, no
// quantization), within the quantization step otherwise — with its normals and vertex colours;
// Draco data that is damaged is an error that names the primitive, accessor counts that disagree
// with it give way to the Draco data's own; and a real Draco file (Debian's assimp-testmodels 2CylinderEngine) reads as
// its uncompressed twin.
#include <mx/datasets/Generators.h>
#include <mx/io/GltfReader.h>

#include <draco/compression/encode.h>
#include <draco/mesh/mesh.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>

using namespace mx;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// One mesh as the glb stores it: float positions and normals, RGBA8 colours, uint32 indices.
struct Part {
  std::vector<float> positions, normals;
  std::vector<uint8_t> colours;
  std::vector<uint32_t> indices;
};

std::vector<Part> partsOf(const core::Scene& scene) {
  std::vector<Part> parts;
  for (const core::Mesh& m : scene.meshes) {
    Part p;
    for (size_t i = 0; i < m.positions.size(); ++i) {
      p.positions.insert(p.positions.end(),
                         {float(m.positions[i].x), float(m.positions[i].y), float(m.positions[i].z)});
      // A colour per vertex that varies along the mesh.
      p.colours.insert(p.colours.end(),
                       {uint8_t(40 + i % 200), uint8_t(90 + (i / 3) % 150), uint8_t(200 - i % 180), 255});
    }
    p.normals = m.normals;
    if (p.normals.empty()) // flat normals per vertex from its first triangle, so that NORMAL is exercised
      p.normals.assign(p.positions.size(), 0.0f);
    for (size_t t = 0; t + 2 < m.indices.size(); t += 3) {
      const core::Vec3d &a = m.positions[m.indices[t]], &b = m.positions[m.indices[t + 1]],
                        &c = m.positions[m.indices[t + 2]];
      const double ux = b.x - a.x, uy = b.y - a.y, uz = b.z - a.z, vx = c.x - a.x, vy = c.y - a.y, vz = c.z - a.z;
      double nx = uy * vz - uz * vy, ny = uz * vx - ux * vz, nz = ux * vy - uy * vx;
      const double len = std::sqrt(nx * nx + ny * ny + nz * nz);
      if (len == 0) continue;
      nx /= len, ny /= len, nz /= len;
      for (int k = 0; k < 3; ++k) {
        float* n = &p.normals[size_t(m.indices[t + size_t(k)]) * 3];
        if (m.normals.empty()) n[0] = float(nx), n[1] = float(ny), n[2] = float(nz);
      }
    }
    p.indices = m.indices;
    parts.push_back(std::move(p));
  }
  return parts;
}

enum class Encoding { Plain, DracoLossless, DracoQuantized };

std::vector<uint8_t> dracoBytes(const Part& p, Encoding encoding, int& positionId, int& normalId, int& colourId) {
  draco::Mesh mesh;
  const size_t n = p.positions.size() / 3;
  mesh.set_num_points(uint32_t(n));
  auto add = [&](draco::GeometryAttribute::Type type, int comps, draco::DataType dt, bool normalized, const void* data,
                 size_t elementSize) {
    draco::GeometryAttribute ga;
    ga.Init(type, nullptr, int8_t(comps), dt, normalized, int64_t(elementSize), 0);
    const int id = mesh.AddAttribute(ga, true, uint32_t(n));
    for (size_t i = 0; i < n; ++i)
      mesh.attribute(id)->SetAttributeValue(draco::AttributeValueIndex(uint32_t(i)),
                                            static_cast<const uint8_t*>(data) + i * elementSize);
    return int(mesh.attribute(id)->unique_id());
  };
  positionId = add(draco::GeometryAttribute::POSITION, 3, draco::DT_FLOAT32, false, p.positions.data(), 12);
  normalId = add(draco::GeometryAttribute::NORMAL, 3, draco::DT_FLOAT32, false, p.normals.data(), 12);
  colourId = add(draco::GeometryAttribute::COLOR, 4, draco::DT_UINT8, true, p.colours.data(), 4);
  for (size_t t = 0; t + 2 < p.indices.size(); t += 3)
    mesh.AddFace(
        {draco::PointIndex(p.indices[t]), draco::PointIndex(p.indices[t + 1]), draco::PointIndex(p.indices[t + 2])});
  draco::Encoder encoder;
  if (encoding == Encoding::DracoLossless) {
    encoder.SetEncodingMethod(draco::MESH_SEQUENTIAL_ENCODING);
  } else {
    encoder.SetAttributeQuantization(draco::GeometryAttribute::POSITION, 16);
    encoder.SetAttributeQuantization(draco::GeometryAttribute::NORMAL, 12);
  }
  draco::EncoderBuffer buffer;
  const draco::Status s = encoder.EncodeMeshToBuffer(mesh, &buffer);
  EXPECT_TRUE(s.ok()) << s.error_msg_string();
  return std::vector<uint8_t>(buffer.data(), buffer.data() + buffer.size());
}

/// A glb with one node and mesh per part, stored plainly or Draco-compressed.
std::vector<uint8_t> makeGlb(const std::vector<Part>& parts, Encoding encoding) {
  json j = {{"asset", {{"version", "2.0"}}}, {"scene", 0}, {"scenes", {{{"nodes", json::array()}}}}};
  std::vector<uint8_t> bin;
  auto view = [&](const void* data, size_t bytes) {
    while (bin.size() % 4) bin.push_back(0);
    const size_t at = bin.size();
    bin.insert(bin.end(), static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + bytes);
    j["bufferViews"].push_back({{"buffer", 0}, {"byteOffset", at}, {"byteLength", bytes}});
    return int(j["bufferViews"].size() - 1);
  };
  auto accessor = [&](int bufferView, size_t count, const char* type, int componentType, bool normalized) {
    json a = {{"count", count}, {"type", type}, {"componentType", componentType}};
    if (bufferView >= 0) a["bufferView"] = bufferView;
    if (normalized) a["normalized"] = true;
    j["accessors"].push_back(a);
    return int(j["accessors"].size() - 1);
  };
  for (const Part& p : parts) {
    const size_t n = p.positions.size() / 3;
    const bool plain = encoding == Encoding::Plain;
    const int pos = accessor(plain ? view(p.positions.data(), p.positions.size() * 4) : -1, n, "VEC3", 5126, false);
    // glTF asks for POSITION bounds.
    float lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (size_t i = 0; i < p.positions.size(); ++i) {
      lo[i % 3] = std::min(lo[i % 3], p.positions[i]);
      hi[i % 3] = std::max(hi[i % 3], p.positions[i]);
    }
    j["accessors"][size_t(pos)]["min"] = {lo[0], lo[1], lo[2]};
    j["accessors"][size_t(pos)]["max"] = {hi[0], hi[1], hi[2]};
    const int nor = accessor(plain ? view(p.normals.data(), p.normals.size() * 4) : -1, n, "VEC3", 5126, false);
    const int col = accessor(plain ? view(p.colours.data(), p.colours.size()) : -1, n, "VEC4", 5121, true);
    const int idx =
        accessor(plain ? view(p.indices.data(), p.indices.size() * 4) : -1, p.indices.size(), "SCALAR", 5125, false);
    json prim = {{"attributes", {{"POSITION", pos}, {"NORMAL", nor}, {"COLOR_0", col}}}, {"indices", idx}, {"mode", 4}};
    if (!plain) {
      int pid = 0, nid = 0, cid = 0;
      const std::vector<uint8_t> d = dracoBytes(p, encoding, pid, nid, cid);
      prim["extensions"]["KHR_draco_mesh_compression"] = {
          {"bufferView", view(d.data(), d.size())},
          {"attributes", {{"POSITION", pid}, {"NORMAL", nid}, {"COLOR_0", cid}}}};
    }
    j["meshes"].push_back({{"primitives", {prim}}});
    j["nodes"].push_back({{"mesh", j["meshes"].size() - 1}});
    j["scenes"][0]["nodes"].push_back(j["nodes"].size() - 1);
  }
  if (encoding != Encoding::Plain) {
    j["extensionsUsed"] = {"KHR_draco_mesh_compression"};
    j["extensionsRequired"] = {"KHR_draco_mesh_compression"};
  }
  while (bin.size() % 4) bin.push_back(0);
  j["buffers"] = {{{"byteLength", bin.size()}}};
  std::string text = j.dump();
  while (text.size() % 4) text += ' ';
  std::vector<uint8_t> out;
  auto add32 = [&](uint32_t v) {
    const auto* b = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), b, b + 4);
  };
  add32(0x46546C67);
  add32(2);
  add32(uint32_t(12 + 8 + text.size() + 8 + bin.size()));
  add32(uint32_t(text.size()));
  add32(0x4E4F534A);
  out.insert(out.end(), text.begin(), text.end());
  add32(uint32_t(bin.size()));
  add32(0x004E4942);
  out.insert(out.end(), bin.begin(), bin.end());
  return out;
}

const std::vector<Part>& cityParts() {
  static const std::vector<Part> parts = [] {
    const std::vector<uint8_t> glb = datasets::sceneToGlb(datasets::makeCity(3, 2, 5));
    auto scene = io::readGltfFromMemory(glb, true);
    EXPECT_TRUE(scene.isOk());
    return partsOf(*scene);
  }();
  return parts;
}

double area(const core::Scene& s) {
  double a = 0;
  for (const core::Mesh& m : s.meshes)
    for (size_t t = 0; t + 2 < m.indices.size(); t += 3) {
      const core::Vec3d &p = m.positions[m.indices[t]], &q = m.positions[m.indices[t + 1]],
                        &r = m.positions[m.indices[t + 2]];
      const double ux = q.x - p.x, uy = q.y - p.y, uz = q.z - p.z, vx = r.x - p.x, vy = r.y - p.y, vz = r.z - p.z;
      a += 0.5 *
           std::sqrt(std::pow(uy * vz - uz * vy, 2) + std::pow(uz * vx - ux * vz, 2) + std::pow(ux * vy - uy * vx, 2));
    }
  return a;
}

} // namespace

TEST(GltfDraco, LosslessDracoReadsExactlyAsThePlainPrimitive) {
  ASSERT_FALSE(cityParts().empty());
  auto plain = io::readGltfFromMemory(makeGlb(cityParts(), Encoding::Plain), true);
  ASSERT_TRUE(plain.isOk()) << plain.status().toString();
  auto draco = io::readGltfFromMemory(makeGlb(cityParts(), Encoding::DracoLossless), true);
  ASSERT_TRUE(draco.isOk()) << draco.status().toString();
  ASSERT_GT(plain->triangleCount(), 100u);
  ASSERT_EQ(plain->triangleCount(), draco->triangleCount());
  // Triangles, positions, normals and colours (materials and their assignment) all equal.
  ASSERT_EQ(plain->meshes.size(), draco->meshes.size());
  EXPECT_EQ(plain->materials, draco->materials);
  for (size_t m = 0; m < plain->meshes.size(); ++m) {
    const core::Mesh &a = plain->meshes[m], &b = draco->meshes[m];
    ASSERT_EQ(a.positions.size(), b.positions.size());
    EXPECT_EQ(a.normals, b.normals);
    EXPECT_EQ(a.material, b.material);
    // Sequential encoding keeps the faces; the points may come back in another order.
    ASSERT_EQ(a.indices.size(), b.indices.size());
    for (size_t i = 0; i < a.indices.size(); ++i) {
      const core::Vec3d &p = a.positions[a.indices[i]], &q = b.positions[b.indices[i]];
      ASSERT_EQ(p.x, q.x) << "mesh " << m << " corner " << i;
      ASSERT_EQ(p.y, q.y);
      ASSERT_EQ(p.z, q.z);
    }
  }
}

TEST(GltfDraco, QuantizedDracoReadsWithinItsStep) {
  auto plain = io::readGltfFromMemory(makeGlb(cityParts(), Encoding::Plain), true);
  auto draco = io::readGltfFromMemory(makeGlb(cityParts(), Encoding::DracoQuantized), true);
  ASSERT_TRUE(plain.isOk() && draco.isOk()) << draco.status().toString();
  // Edgebreaker may rotate a triangle's corners and split vertices at attribute seams; the
  // triangles and their surface stay.
  EXPECT_EQ(plain->triangleCount(), draco->triangleCount());
  EXPECT_NEAR(area(*draco), area(*plain), area(*plain) * 1e-3);
}

TEST(GltfDraco, DamagedDracoDataIsAnErrorNamingThePrimitive) {
  std::vector<Part> one(cityParts().begin(), cityParts().begin() + 1);
  const std::vector<uint8_t> good = makeGlb(one, Encoding::DracoQuantized);
  ASSERT_TRUE(io::readGltfFromMemory(good, true).isOk());
  // The Draco bytes cut short (the bufferView says half its length).
  {
    std::vector<uint8_t> bad = good;
    const uint32_t jsonLen = *reinterpret_cast<const uint32_t*>(bad.data() + 12);
    json j = json::parse(bad.begin() + 20, bad.begin() + 20 + jsonLen);
    auto& v = j["bufferViews"].back();
    v["byteLength"] = v["byteLength"].get<size_t>() / 2;
    std::string text = j.dump();
    text.resize(jsonLen, ' ');
    ASSERT_LE(j.dump().size(), size_t(jsonLen));
    std::memcpy(bad.data() + 20, text.data(), jsonLen);
    auto r = io::readGltfFromMemory(bad, true);
    ASSERT_FALSE(r.isOk());
    EXPECT_EQ(r.status().code(), core::ErrorCode::MalformedInput);
    EXPECT_NE(r.status().message().find("mesh 0 primitive 0"), std::string::npos) << r.status().message();
  }
  // An attribute id the Draco data lacks.
  {
    std::vector<uint8_t> bad = good;
    const uint32_t jsonLen = *reinterpret_cast<const uint32_t*>(bad.data() + 12);
    json j = json::parse(bad.begin() + 20, bad.begin() + 20 + jsonLen);
    j["meshes"][0]["primitives"][0]["extensions"]["KHR_draco_mesh_compression"]["attributes"]["NORMAL"] = 9;
    std::string text = j.dump();
    ASSERT_LE(text.size(), size_t(jsonLen));
    text.resize(jsonLen, ' ');
    std::memcpy(bad.data() + 20, text.data(), jsonLen);
    auto r = io::readGltfFromMemory(bad, true);
    ASSERT_FALSE(r.isOk());
    EXPECT_EQ(r.status().code(), core::ErrorCode::MalformedInput);
    EXPECT_NE(r.status().message().find("Draco"), std::string::npos) << r.status().message();
  }
}

TEST(GltfDraco, TheDracoDataSaysHowManyPointsAndTrianglesThereAre) {
  // Accessor counts that disagree with the decoded data (an encoder that split vertices at seams
  // and kept the old counts) read as the Draco data, as CesiumJS and three.js draw it.
  std::vector<Part> one(cityParts().begin(), cityParts().begin() + 1);
  const std::vector<uint8_t> good = makeGlb(one, Encoding::DracoQuantized);
  auto expected = io::readGltfFromMemory(good, true);
  ASSERT_TRUE(expected.isOk());
  std::vector<uint8_t> off = good;
  const uint32_t jsonLen = *reinterpret_cast<const uint32_t*>(off.data() + 12);
  json j = json::parse(off.begin() + 20, off.begin() + 20 + jsonLen);
  for (auto& a : j["accessors"]) a["count"] = a["count"].get<size_t>() > 3 ? a["count"].get<size_t>() - 3 : 1;
  std::string text = j.dump();
  ASSERT_LE(text.size(), size_t(jsonLen));
  text.resize(jsonLen, ' ');
  std::memcpy(off.data() + 20, text.data(), jsonLen);
  auto r = io::readGltfFromMemory(off, true);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->triangleCount(), expected->triangleCount());
  EXPECT_EQ(r->vertexCount(), expected->vertexCount());
}

TEST(GltfDraco, TheDracoEngineOfAssimpTestModelsReadsAsItsUncompressedTwin) {
  const fs::path models = "/usr/share/assimp/models/glTF2";
  if (!fs::exists(models / "draco/2CylinderEngine.gltf"))
    GTEST_SKIP() << "assimp-testmodels is not installed (scripts/install-deps.sh installs it)";
  auto draco = io::readGltf(models / "draco/2CylinderEngine.gltf");
  ASSERT_TRUE(draco.isOk()) << draco.status().toString();
  auto twin = io::readGltf(models / "2CylinderEngine-glTF-Binary/2CylinderEngine.glb");
  ASSERT_TRUE(twin.isOk()) << twin.status().toString();
  // The Draco sample declares 110 336 triangles: its encoder dropped degenerate ones of the 121 496
  // in the plain sample (zero area: the surface below is the same).
  EXPECT_EQ(draco->triangleCount(), 110336u);
  EXPECT_EQ(twin->triangleCount(), 121496u);
  // Draco quantized the positions: the same extent and area within a small tolerance.
  auto bounds = [](const core::Scene& s) {
    core::Aabb b;
    for (const auto& m : s.meshes)
      for (const auto& p : m.positions) b.extend(p.x, p.y, p.z);
    return b;
  };
  const core::Aabb a = bounds(*draco), b = bounds(*twin);
  const double size = std::max({b.max[0] - b.min[0], b.max[1] - b.min[1], b.max[2] - b.min[2]});
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(a.min[size_t(k)], b.min[size_t(k)], size * 1e-3) << k;
    EXPECT_NEAR(a.max[size_t(k)], b.max[size_t(k)], size * 1e-3) << k;
  }
  EXPECT_NEAR(area(*draco), area(*twin), area(*twin) * 1e-2);
}
