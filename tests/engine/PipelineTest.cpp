// End to end through the engine: valid output, determinism, LOD invariants, and failures that
// leave nothing behind.
#include <mx/datasets/Generators.h>
#include <mx/engine/BackendRegistry.h>
#include <mx/engine/Metrics.h>
#include <mx/engine/Pipeline.h>

#include "PipelineTestSupport.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

using namespace mx;
namespace fs = std::filesystem;
using nlohmann::json;
using namespace pipeline_test;

TEST(Pipeline, ExportsAValidTilesetWithMetrics) {
  const auto out = tmpDir("valid");
  auto r = engine::exportScene(city(), out, options());
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->validation.ok());
  EXPECT_TRUE(fs::exists(out / "tileset.json"));
  const auto& m = r->metrics;
  EXPECT_EQ(m.trianglesIn, city().triangleCount());
  EXPECT_EQ(m.trianglesPerLevel.back() > 0, true);
  EXPECT_GT(m.tiles, 1u);
  EXPECT_GT(m.peakRssBytes, 0u);
  std::set<std::string> stages;
  for (const auto& s : m.stages) {
    stages.insert(s.name);
    if (s.name == "partition" || s.name == "lod" || s.name == "quantize") {
      EXPECT_TRUE(s.backend == "cpu-simd" || s.backend == "cuda" || s.backend == "cpu-scalar")
          << s.name << " " << s.backend;
      EXPECT_FALSE(s.reason.empty()) << s.name;
    }
  }
  EXPECT_EQ(stages, (std::set<std::string>{"prepare", "partition", "lod", "quantize", "write", "validate"}));
  const json j = engine::toJson(m);
  EXPECT_TRUE(j.contains("stages") && j.contains("totals") && j.contains("counts"));
  // Nothing else left beside the output (the temporary folder was renamed).
  for (const auto& e : fs::directory_iterator(out.parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".valid."), std::string::npos) << e.path();
}

TEST(Pipeline, IsDeterministicAcrossRunsAndCpuLevels) {
  auto a = tmpDir("det-a"), b = tmpDir("det-b"), c = tmpDir("det-c");
  auto o = options();
  ASSERT_TRUE(engine::exportScene(city(), a, o).isOk());
  ASSERT_TRUE(engine::exportScene(city(), b, o).isOk());
  o.cpuLevel = cpu::CpuLevel::Scalar;
  ASSERT_TRUE(engine::exportScene(city(), c, o).isOk());
  const auto fa = readAll(a);
  EXPECT_EQ(fa, readAll(b));
  EXPECT_EQ(fa, readAll(c));
  EXPECT_GT(fa.size(), 3u);
}

namespace {

core::Mat4d affine(double xx, double xy, double yx, double yy, double zz, core::Vec3d t) {
  // Columns: x axis image, y axis image, z axis image, translation (column-major).
  return {xx, xy, 0, 0, yx, yy, 0, 0, 0, 0, zz, 0, t.x, t.y, t.z, 1};
}

} // namespace

TEST(Pipeline, InstancesExportLikeTheirExpandedMeshes) {
  // Shared meshes placed by instances (translated, rotated 90° and scaled 2×, mirrored) must give
  // the same tiles, byte for byte, as the same triangles written out as plain meshes. The
  // transforms are exact in floating point, so both paths compute identical numbers.
  core::Scene base = datasets::makeCity(6, 2, 5);
  core::Scene instanced;
  instanced.features = {{1, 1, 1, 1, "A", "a"}, {2, 1, 1, 1, "B", "b"}, {3, 1, 1, 1, "C", "c"}};
  instanced.materials = {{200, 10, 10, 255}, {10, 200, 10, 128}};
  instanced.meshes.push_back(base.meshes[0]);
  for (uint32_t& f : instanced.meshes[0].featureIds) f = 0;
  instanced.meshes[0].material = 0;
  core::Mesh withNormals = datasets::makeTerrain(16, 100).meshes[0], without = base.meshes[2];
  withNormals.featureIds.clear();
  without.featureIds.clear();
  without.normals.clear();
  withNormals.normals.resize(3 * withNormals.positions.size());
  for (size_t v = 0; v < withNormals.positions.size(); ++v) { // arbitrary unit normals
    const float a = float(v % 7) * 0.4f;
    withNormals.normals[3 * v] = std::cos(a);
    withNormals.normals[3 * v + 1] = std::sin(a);
    withNormals.normals[3 * v + 2] = 0;
  }
  instanced.sharedMeshes = {withNormals, without};
  instanced.instances = {
      {0, affine(1, 0, 0, 1, 1, {40, 0, 0}), 0, 0},
      {0, affine(0, 2, -2, 0, 2, {-60, 10, 5}), 1, 1}, // rotate 90° about z, scale 2
      {1, affine(-1, 0, 0, 1, 1, {0, 80, 0}), 2, 0},   // mirror x: winding flips
      {1, affine(1, 0, 0, 1, 1, {90, 90, 0}), 0, 1},
  };
  core::Scene expanded;
  expanded.features = instanced.features;
  expanded.materials = instanced.materials;
  expanded.meshes.push_back(instanced.meshes[0]);
  for (const core::MeshInstance& inst : instanced.instances) {
    const core::Mesh& src = instanced.sharedMeshes[inst.mesh];
    const core::Mat4d& m = inst.transform;
    const bool mirrored = m[0] * m[5] - m[1] * m[4] < 0;
    core::Mesh out;
    for (const auto& p : src.positions) out.positions.push_back(core::transformPoint(m, p));
    for (size_t i = 0; i < src.indices.size(); i += 3)
      out.indices.insert(out.indices.end(), {src.indices[i], src.indices[mirrored ? i + 2 : i + 1],
                                             src.indices[mirrored ? i + 1 : i + 2]});
    for (size_t v = 0; 3 * v < src.normals.size(); ++v) { // directions: the rotation part only
      const float x = src.normals[3 * v], y = src.normals[3 * v + 1], z = src.normals[3 * v + 2];
      const float sx = float(m[0] == 0 ? 0 : (m[0] > 0 ? 1 : -1)), sy = float(m[4] == 0 ? 0 : (m[4] > 0 ? 1 : -1));
      const float rx = float(m[1] == 0 ? 0 : (m[1] > 0 ? 1 : -1)), ry = float(m[5] == 0 ? 0 : (m[5] > 0 ? 1 : -1));
      out.normals.insert(out.normals.end(), {sx * x + sy * y, rx * x + ry * y, z});
    }
    out.featureIds.assign(out.positions.size(), inst.feature);
    out.material = inst.material;
    expanded.meshes.push_back(std::move(out));
  }
  ASSERT_GT(instanced.triangleCount(), 1000u);
  EXPECT_EQ(instanced.triangleCount(), expanded.triangleCount());
  EXPECT_EQ(instanced.vertexCount(), expanded.vertexCount());
  EXPECT_LT(instanced.byteSize(), expanded.byteSize());
  auto a = tmpDir("instanced"), b = tmpDir("expanded");
  auto ra = engine::exportScene(instanced, a, options(100));
  auto rb = engine::exportScene(expanded, b, options(100));
  ASSERT_TRUE(ra.isOk()) << ra.status().toString();
  ASSERT_TRUE(rb.isOk()) << rb.status().toString();
  const auto fa = readAll(a);
  EXPECT_GT(fa.size(), 3u);
  EXPECT_EQ(fa, readAll(b));
}

TEST(Pipeline, RejectsInconsistentInstances) {
  core::Scene s = datasets::makeCity(2, 1, 1);
  s.sharedMeshes.push_back(s.meshes[0]);
  s.sharedMeshes[0].featureIds.clear();
  const auto out = tmpDir("bad-instance");
  auto expectRejected = [&](core::MeshInstance inst, const std::string& what) {
    core::Scene t = s;
    t.instances = {inst};
    auto r = engine::exportScene(t, out, options());
    ASSERT_FALSE(r.isOk()) << what;
    EXPECT_EQ(r.status().code(), core::ErrorCode::MalformedInput);
    EXPECT_NE(r.status().message().find("instance 0: " + what), std::string::npos) << r.status().message();
    EXPECT_FALSE(fs::exists(out));
  };
  expectRejected({7, core::identityMatrix(), 0, 0}, "shared mesh out of range");
  expectRejected({0, core::identityMatrix(), 999, 0}, "feature id out of range");
  expectRejected({0, core::identityMatrix(), 0, 999}, "material out of range");
  core::Mat4d nan = core::identityMatrix();
  nan[12] = std::nan("");
  expectRejected({0, nan, 0, 0}, "transform is NaN or infinite");
  // A shared mesh is checked like any other.
  s.sharedMeshes[0].indices.push_back(1u << 30);
  s.sharedMeshes[0].indices.push_back(0);
  s.sharedMeshes[0].indices.push_back(0);
  s.instances = {{0, core::identityMatrix(), 0, 0}};
  auto r = engine::exportScene(s, out, options());
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("shared mesh 0: index out of range"), std::string::npos) << r.status().message();
}

TEST(Pipeline, LodInvariants) {
  for (auto simplifier : {engine::Simplifier::Cluster, engine::Simplifier::Quadric}) {
    SCOPED_TRACE(std::string(engine::toString(simplifier)));
    auto o = options(1500);
    o.config.simplifier = simplifier;
    core::ExportMetrics metrics;
    auto tree = engine::buildTileTree(city(), o, metrics);
    ASSERT_TRUE(tree.isOk()) << tree.status().toString();
    const auto& nodes = tree->nodes;
    ASSERT_GT(nodes.size(), 8u);
    size_t leafTriangles = 0;
    std::set<uint32_t> leafFeatures;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const auto& n = nodes[i];
      EXPECT_LE(n.mesh.triangleCount(), 1500u) << "tile " << i; // leaves by partition, parents by LOD
      EXPECT_LE(n.children.size(), 8u);
      for (uint32_t c : n.children) {
        EXPECT_LE(nodes[c].geometricError, n.geometricError) << "error grows from " << i << " to " << c;
        EXPECT_TRUE(n.box.contains(nodes[c].box, 1e-9));
        EXPECT_EQ(nodes[c].level, n.level + 1);
      }
      if (n.children.empty()) {
        EXPECT_EQ(n.geometricError, 0.0);
        leafTriangles += n.mesh.triangleCount();
        for (uint32_t cls : n.mesh.classes) leafFeatures.insert(tree->classes[cls].feature);
      } else {
        EXPECT_GT(n.geometricError, 0.0) << "tile " << i;
      }
    }
    // Leaves hold every input triangle at full detail, with every feature.
    EXPECT_EQ(leafTriangles, city().triangleCount());
    EXPECT_EQ(leafFeatures.size(), city().features.size());
    // Each level up holds fewer triangles than the one below.
    std::map<uint32_t, size_t> perLevel;
    for (const auto& n : nodes) perLevel[n.level] += n.mesh.triangleCount();
    EXPECT_LT(perLevel[0], leafTriangles);
  }
}

TEST(Pipeline, GeometricErrorScaleScalesErrors) {
  auto a = tmpDir("ges-a"), b = tmpDir("ges-b");
  auto o = options();
  ASSERT_TRUE(engine::exportScene(city(), a, o).isOk());
  o.config.geometricErrorScale = 2;
  ASSERT_TRUE(engine::exportScene(city(), b, o).isOk());
  const json ja = json::parse(std::ifstream(a / "tileset.json")), jb = json::parse(std::ifstream(b / "tileset.json"));
  EXPECT_DOUBLE_EQ(2 * ja["root"]["geometricError"].get<double>(), jb["root"]["geometricError"].get<double>());
}

TEST(Pipeline, EcefLocationBecomesTheRootTransform) {
  core::Scene s = datasets::makeCity(10, 1, 2);
  s.ecef = core::EcefLocation{{4000000, 300000, 4900000}, {0, 1, 0}, {-0.76, 0, 0.65}};
  const auto out = tmpDir("ecef");
  auto o = options();
  o.type = io::ExportType::Cesium;
  ASSERT_TRUE(engine::exportScene(s, out, o).isOk());
  const json t = json::parse(std::ifstream(out / "tileset.json"));
  const auto m = t["root"]["transform"];
  EXPECT_GT(std::abs(m[12].get<double>()), 1e6); // translation in ECEF metres
  EXPECT_EQ(m[4].get<double>(), -0.76);          // second column = the y vector
  EXPECT_EQ(m[5].get<double>(), 0.0);
  EXPECT_EQ(m[6].get<double>(), 0.65);
  EXPECT_EQ(m[0].get<double>(), 0.0); // first column = the x vector
  EXPECT_EQ(m[1].get<double>(), 1.0);
}

TEST(Pipeline, SmallInputIsOneLeafRoot) {
  const auto out = tmpDir("single");
  auto r = engine::exportScene(datasets::makeCity(2, 1, 1), out, options(64));
  ASSERT_TRUE(r.isOk());
  const json t = json::parse(std::ifstream(out / "tileset.json"));
  EXPECT_EQ(t["root"]["content"]["uri"], "0-0.glb");
  EXPECT_EQ(t["root"]["geometricError"], 0.0);
  EXPECT_GT(t["geometricError"].get<double>(), 0.0);
}

TEST(Pipeline, FailuresLeaveNothingBehind) {
  // Cancelled before it starts.
  const auto out = tmpDir("cancel");
  core::CancelToken cancel;
  cancel.cancel();
  auto o = options();
  o.cancel = &cancel;
  auto r = engine::exportScene(city(), out, o);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), core::ErrorCode::Cancelled);
  EXPECT_FALSE(fs::exists(out));
  // Empty scene.
  r = engine::exportScene(core::Scene{}, out, options());
  ASSERT_FALSE(r.isOk());
  EXPECT_FALSE(fs::exists(out));
  // A scene whose mesh is inconsistent.
  core::Scene bad = datasets::makeCity(2, 1, 1);
  bad.meshes[0].indices.push_back(100000);
  bad.meshes[0].indices.push_back(0);
  bad.meshes[0].indices.push_back(1);
  r = engine::exportScene(bad, out, options());
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), core::ErrorCode::MalformedInput);
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(out.parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".cancel."), std::string::npos) << e.path();
}

TEST(Pipeline, RefusesANonEmptyOutputUnlessOverwriting) {
  const auto out = tmpDir("exists");
  fs::create_directories(out);
  std::ofstream(out / "keep.txt") << "precious";
  auto r = engine::exportScene(datasets::makeCity(3, 1, 1), out, options());
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), core::ErrorCode::IoError);
  EXPECT_TRUE(fs::exists(out / "keep.txt"));
  auto o = options();
  o.overwrite = true;
  ASSERT_TRUE(engine::exportScene(datasets::makeCity(3, 1, 1), out, o).isOk());
  EXPECT_FALSE(fs::exists(out / "keep.txt"));
  EXPECT_TRUE(fs::exists(out / "tileset.json"));
}

TEST(Pipeline, DeviceCudaWithoutAGpuIsAClearError) {
  auto set = engine::BackendSet::create(engine::DeviceChoice::Cuda, cpu::CpuLevel::Simd);
  auto probe = engine::createBackend("cuda");
  if (probe && probe->isAvailable()) GTEST_SKIP() << "a CUDA device is present";
  ASSERT_FALSE(set.isOk());
  EXPECT_EQ(set.status().code(), core::ErrorCode::DeviceUnavailable);
  auto o = options();
  o.config.device = engine::DeviceChoice::Cuda;
  const auto out = tmpDir("cuda");
  auto r = engine::exportScene(datasets::makeCity(3, 1, 1), out, o);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), core::ErrorCode::DeviceUnavailable);
  EXPECT_FALSE(fs::exists(out));
  // From a file: before the input is read (this one does not even exist).
  auto f = engine::exportFile(out / "no-such-input.bim", out, o);
  ASSERT_FALSE(f.isOk());
  EXPECT_EQ(f.status().code(), core::ErrorCode::DeviceUnavailable) << f.status().toString();
}

TEST(Pipeline, CudaExportsTheCpuTilesAndSaysWhichBackendRan) {
  // On a GPU: the same tiles (same files, same sizes: partition, clustering topology and
  // quantization are exact; only cluster means may differ by rounding) as the CPU, each compute
  // stage reported as cuda with its reason; with a device budget too small for anything every
  // stage runs on the CPU and says why.
  auto probe = engine::createBackend("cuda");
  if (!probe || !probe->isAvailable())
    GTEST_SKIP() << "no CUDA device: " << (probe ? probe->unavailableReason() : "this build has no CUDA backend");
  const core::Scene scene = datasets::makeCity(60, 4, 7);
  auto files = [](const fs::path& dir) {
    std::map<std::string, uintmax_t> sizes;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ".glb")
        sizes[fs::relative(e.path(), dir).string()] = e.file_size();
    return sizes;
  };
  auto cpuOptions = options();
  cpuOptions.config.device = engine::DeviceChoice::Cpu;
  const auto cpuDir = tmpDir("cuda-vs-cpu-cpu");
  ASSERT_TRUE(engine::exportScene(scene, cpuDir, cpuOptions).isOk());
  auto gpuOptions = options();
  gpuOptions.config.device = engine::DeviceChoice::Cuda;
  const auto gpuDir = tmpDir("cuda-vs-cpu-gpu");
  auto gpu = engine::exportScene(scene, gpuDir, gpuOptions);
  ASSERT_TRUE(gpu.isOk()) << gpu.status().toString();
  EXPECT_EQ(files(cpuDir), files(gpuDir));
  for (const auto& st : gpu->metrics.stages)
    if (st.name == "partition" || st.name == "lod" || st.name == "quantize") {
      EXPECT_EQ(st.backend, "cuda") << st.name << ": " << st.reason;
      EXPECT_GT(st.kernelMs, 0) << st.name;
    }
  EXPECT_FALSE(gpu->metrics.gpuName.empty());
  EXPECT_GT(gpu->metrics.hostToDeviceBytes, 0u);

  gpuOptions.config.deviceMemoryMB = 1;
  const auto tinyDir = tmpDir("cuda-tiny-budget");
  auto tiny = engine::exportScene(scene, tinyDir, gpuOptions);
  ASSERT_TRUE(tiny.isOk()) << tiny.status().toString();
  for (const auto& st : tiny->metrics.stages)
    if (st.name == "partition" || st.name == "quantize") {
      EXPECT_NE(st.backend, "cuda") << st.name;
      EXPECT_NE(st.reason.find("cuda does not support"), std::string::npos) << st.name << ": " << st.reason;
    }
  EXPECT_EQ(files(cpuDir), files(tinyDir));
}

TEST(Pipeline, ProgressIsReported) {
  std::vector<std::string> stages;
  auto o = options();
  o.progress = [&](std::string_view s, double) {
    if (stages.empty() || stages.back() != s) stages.emplace_back(s);
  };
  ASSERT_TRUE(engine::exportScene(datasets::makeCity(30, 2, 1), tmpDir("progress"), o).isOk());
  EXPECT_EQ(stages.front(), "prepare");
  EXPECT_EQ(stages.back(), "done");
}

TEST(Geolocation, EcefAtWgs84) {
  const auto e = engine::ecefAt(0, 0, 0);
  EXPECT_NEAR(e.origin.x, 6378137.0, 1e-6);
  EXPECT_NEAR(e.origin.y, 0, 1e-6);
  EXPECT_NEAR(e.yVector.z, 1, 1e-12); // north is +z at the equator
  EXPECT_NEAR(e.xVector.y, 1, 1e-12); // east is +y at longitude 0
  const auto pole = engine::ecefAt(0, 90, 100);
  EXPECT_NEAR(pole.origin.z, 6356752.314245 + 100, 1e-3); // polar radius + height
}

TEST(Geolocation, LocationOptionSetsTheRootTransform) {
  const auto out = tmpDir("location");
  auto o = options();
  o.location = engine::ecefAt(7.4474, 46.948, 540);
  ASSERT_TRUE(engine::exportScene(datasets::makeCity(10, 1, 2), out, o).isOk());
  const json t = json::parse(std::ifstream(out / "tileset.json"));
  const auto m = t["root"]["transform"];
  const double r = std::sqrt(m[12].get<double>() * m[12].get<double>() + m[13].get<double>() * m[13].get<double>() +
                             m[14].get<double>() * m[14].get<double>());
  EXPECT_NEAR(r, 6.3675e6, 2e4); // on the earth's surface
}

TEST(Pipeline, TilesAnIModelWithElementIdsInEveryFeature) {
  const auto out = tmpDir("imodel");
  auto o = options(200);
  auto r = engine::exportFile(fs::path(MESHEXPORT_SOURCE_DIR) / "datasets/imodel/fixtures/small.bim", out, o);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->validation.ok());
  EXPECT_EQ(r->metrics.trianglesIn, 650u);
  EXPECT_TRUE(r->metrics.warnings.empty()); // the arc of element 0x1c is linework now
  // Collect the UINT64 element column of every leaf glb's property table.
  std::set<uint64_t> ids;
  for (const auto& e : fs::directory_iterator(out)) {
    if (e.path().extension() != ".glb") continue;
    std::ifstream in(e.path(), std::ios::binary);
    const std::vector<uint8_t> b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    uint32_t jsonLen;
    std::memcpy(&jsonLen, b.data() + 12, 4);
    const json g = json::parse(b.begin() + 20, b.begin() + 20 + jsonLen);
    const size_t bin = 20 + jsonLen + 8;
    const auto& table = g["extensions"]["EXT_structural_metadata"]["propertyTables"][0];
    const auto& view = g["bufferViews"][table["properties"]["element"]["values"].get<size_t>()];
    for (size_t k = 0; k < table["count"].get<size_t>(); ++k) {
      uint64_t id;
      std::memcpy(&id, b.data() + bin + view["byteOffset"].get<size_t>() + 8 * k, 8);
      ids.insert(id);
    }
  }
  EXPECT_EQ(ids, (std::set<uint64_t>{0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d}));
  const json t = json::parse(std::ifstream(out / "tileset.json"));
  EXPECT_GT(std::abs(t["root"]["transform"][12].get<double>()), 1e6); // ECEF from the iModel
}

TEST(Pipeline, ImodelExportsIMdlTilesInIModelCoordinates) {
  const auto out = tmpDir("imodel-imdl");
  auto o = options(200);
  o.type = io::ExportType::Imodel;
  auto r = engine::exportFile(fs::path(MESHEXPORT_SOURCE_DIR) / "datasets/imodel/fixtures/small.bim", out, o);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->validation.ok());
  EXPECT_EQ(r->validation.triangles >= 650u, true);
  const json t = json::parse(std::ifstream(out / "tileset.json"));
  // A translation in iModel coordinates (frontend-tiles places the tree itself), never ECEF.
  const auto& m = t["root"]["transform"];
  EXPECT_LT(std::abs(m[12].get<double>()) + std::abs(m[13].get<double>()) + std::abs(m[14].get<double>()), 1e4);
  EXPECT_EQ(m[0], 1.0);
  EXPECT_EQ(m[5], 1.0);
  EXPECT_TRUE(t["extensions"]["BENTLEY_BatchedTileSet"]["models"].contains("0x11"));
  size_t imdl = 0;
  for (const auto& e : fs::directory_iterator(out)) {
    EXPECT_NE(e.path().extension(), ".glb");
    imdl += e.path().extension() == ".imdl";
  }
  EXPECT_GT(imdl, 1u);
}
