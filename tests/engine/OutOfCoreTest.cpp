// Out-of-core tiling (tilerConfig memoryBudgetMB, engine/src/OutOfCore.h) against the in-core
// export of the same input: the streaming path runs, stays within its memory bound, writes a valid
// tileset with honest errors whose leaves hold every input triangle exactly once, and fails
// cleanly (nothing left behind) when the disk is full or the budget cannot make progress.
#include "PipelineTestSupport.h"

#include <mx/io/GltfReader.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <map>
#include <sys/wait.h>
#include <unistd.h>

using namespace pipeline_test;
using nlohmann::json;

namespace {

struct CmdResult {
  int code;
  std::string output;
};

/// Runs a shell command line to completion, stdout and stderr captured.
CmdResult shell(const std::string& cmd) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// The 2 M-triangle benchmark city as a glb, made by meshexport-gen (a child: this process stays
/// small, so the tiler's ru_maxrss is its own). One per test process: ctest runs the cases of
/// this file in parallel processes.
const fs::path& benchGlb() {
  struct Input {
    fs::path dir, glb;
    Input() : dir(tmpDir("ooc-input-" + std::to_string(::getpid()))), glb(dir / "bench-2m.glb") {
      fs::create_directories(dir);
      const CmdResult r = shell(std::string(MESHEXPORT_GEN) + " bench " + glb.string() + " --triangles 2000000");
      EXPECT_EQ(r.code, 0) << r.output;
    }
    ~Input() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  };
  static const Input input;
  return input.glb;
}

/// Per element id: leaf triangles, their area and the sum of their centroids (world).
struct ElementSum {
  uint64_t triangles = 0;
  double area = 0;
  double c[3] = {0, 0, 0};
};

struct Leaves {
  std::map<uint64_t, ElementSum> elements;
  uint64_t triangles = 0;
  size_t tiles = 0;
};

void walk(const json& tile, double parentError, const fs::path& dir, const core::Mat4d& root, Leaves& out) {
  const double error = tile.at("geometricError").get<double>();
  EXPECT_LE(error, parentError) << "a child's error is larger than its parent's";
  ++out.tiles;
  if (!tile.contains("children")) {
    EXPECT_EQ(error, 0) << "a leaf has an error";
    ASSERT_TRUE(tile.contains("content"));
    auto scene = io::readGltf(dir / tile["content"]["uri"].get<std::string>());
    ASSERT_TRUE(scene) << scene.status().toString();
    for (const core::Mesh& m : scene->meshes)
      for (size_t t = 0; t + 2 < m.indices.size(); t += 3) {
        core::Vec3d p[3];
        for (int k = 0; k < 3; ++k) p[k] = core::transformPoint(root, m.positions[m.indices[t + size_t(k)]]);
        const core::Vec3d u = p[1] - p[0], v = p[2] - p[0];
        const double cx = u.y * v.z - u.z * v.y, cy = u.z * v.x - u.x * v.z, cz = u.x * v.y - u.y * v.x;
        ElementSum& e = out.elements[scene->features[m.featureIds[m.indices[t]]].elementId];
        ++e.triangles;
        e.area += 0.5 * std::sqrt(cx * cx + cy * cy + cz * cz);
        for (int a = 0; a < 3; ++a) e.c[a] += (p[0][a] + p[1][a] + p[2][a]) / 3;
        ++out.triangles;
      }
    return;
  }
  for (const json& c : tile["children"]) walk(c, error, dir, root, out);
}

Leaves leaves(const fs::path& dir) {
  std::ifstream in(dir / "tileset.json");
  const json ts = json::parse(in);
  core::Mat4d root = core::identityMatrix();
  if (ts["root"].contains("transform"))
    for (size_t i = 0; i < 16; ++i) root[i] = ts["root"]["transform"][i].get<double>();
  Leaves out;
  walk(ts["root"], ts["geometricError"].get<double>(), dir, root, out);
  return out;
}

/// Every element has the same leaf triangles in both: counts exact, area and centroids within
/// float rounding (exports compared with quantizePositions=false), or within what 16-bit steps of
/// the tile boxes move (`quantized`).
void expectSameLeafTriangles(const Leaves& a, const Leaves& b, bool quantized = false) {
  const double areaTolerance = quantized ? 5e-3 : 1e-4, centroidTolerance = quantized ? 0.05 : 1e-3;
  EXPECT_EQ(a.triangles, b.triangles);
  ASSERT_EQ(a.elements.size(), b.elements.size());
  size_t reported = 0;
  for (const auto& [id, ea] : a.elements) {
    auto it = b.elements.find(id);
    ASSERT_NE(it, b.elements.end()) << "element " << id << " missing";
    const ElementSum& eb = it->second;
    bool same = ea.triangles == eb.triangles && std::abs(ea.area - eb.area) <= areaTolerance * std::max(1.0, ea.area);
    for (int k = 0; k < 3; ++k) same = same && std::abs(ea.c[k] - eb.c[k]) <= centroidTolerance * double(ea.triangles);
    if (!same && reported++ < 5)
      ADD_FAILURE() << "element " << id << ": " << ea.triangles << " vs " << eb.triangles << " triangles, area "
                    << ea.area << " vs " << eb.area;
  }
  EXPECT_EQ(reported, 0u);
}

json metricsOf(const fs::path& file) {
  std::ifstream in(file);
  return json::parse(in);
}

/// An export under `budget` MiB that must have run out of core: valid, with a spill stage.
core::Result<engine::ExportResult> streamed(const fs::path& in, const fs::path& out, engine::ExportOptions o,
                                            uint32_t budget) {
  o.config.memoryBudgetMB = budget;
  auto r = engine::exportFile(in, out, o);
  if (!r) return r;
  EXPECT_TRUE(r->validation.ok());
  bool spilled = false;
  for (const auto& st : r->metrics.stages) spilled |= st.name == "spill";
  EXPECT_TRUE(spilled) << "the out-of-core path did not run";
  return r;
}

bool hasStage(const json& metrics, const std::string& name) {
  for (const json& s : metrics["metrics"]["stages"])
    if (s["name"] == name) return true;
  return false;
}

} // namespace

// The case: 2 M triangles under a 64 MB budget must stream, stay within budget + the fixed
// overhead docs/performance.md states (64 MiB), and hold the in-core export's leaf triangles.
TEST(OutOfCore, TwoMillionTrianglesUnder64MiBStreamAndKeepEveryTriangle) {
  const fs::path in = benchGlb(), dir = tmpDir("ooc-2m"), ooc = dir / "ooc", metrics = dir / "ooc.json";
  fs::create_directories(dir);
  const CmdResult r =
      shell(std::string(MESHEXPORT_BINARY) + " tile " + in.string() + " -o " + ooc.string() +
            " --memory-budget-mb 64 --config quantizePositions=false --quiet --metrics " + metrics.string());
  ASSERT_EQ(r.code, 0) << r.output;
  const json m = metricsOf(metrics);
  EXPECT_TRUE(hasStage(m, "spill") && hasStage(m, "merge")) << "the out-of-core path did not run";
  EXPECT_EQ(m["status"], "Complete");
  EXPECT_EQ(m["validation"]["errors"].get<int>(), 0);
  const uint64_t peak = m["metrics"]["totals"]["peakRssBytes"].get<uint64_t>();
#if defined(__SANITIZE_ADDRESS__)
  (void)peak; // AddressSanitizer's shadow memory and quarantine are not the tiler's
#else
  EXPECT_LE(peak, uint64_t(64 + 64) << 20) << "peak RSS " << (peak >> 20) << " MiB";
#endif
  EXPECT_FALSE(fs::exists(ooc / ".spill")) << "the spill folder was published";

  const fs::path core = dir / "core";
  engine::ExportOptions o = options(32768);
  o.config.quantizePositions = false; // positions compared as written, not 16-bit steps of tile boxes
  auto inCore = engine::exportFile(in, core, o);
  ASSERT_TRUE(inCore) << inCore.status().toString();
  const Leaves a = leaves(core), b = leaves(ooc);
  EXPECT_EQ(b.triangles, 1999958u);
  expectSameLeafTriangles(a, b);
}

// The same through the engine with every export type, a small maxTrianglesPerTile (deeper chunk
// subtrees) and a budget small enough for many chunks and upper levels; output is deterministic.
TEST(OutOfCore, ExportTypesAreValidAndDeterministic) {
  const fs::path glb = tmpDir("ooc-city") / "city.glb";
  fs::create_directories(glb.parent_path());
  {
    const auto bytes = datasets::sceneToGlb(city());
    std::ofstream(glb, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
  for (io::ExportType type : {io::ExportType::ThreeDTiles, io::ExportType::Cesium}) {
    engine::ExportOptions o = options(256);
    o.type = type;
    const fs::path a = tmpDir("ooc-city-a"), b = tmpDir("ooc-city-b");
    auto ra = streamed(glb, a, o, 2);
    ASSERT_TRUE(ra) << ra.status().toString();
    EXPECT_GT(ra->metrics.tilesPerLevel.size(), 3u);
    o.config.memoryBudgetMB = 2;
    auto rb = engine::exportFile(glb, b, o);
    ASSERT_TRUE(rb) << rb.status().toString();
    EXPECT_EQ(readAll(a), readAll(b)) << "out-of-core output differs between runs";
    const fs::path core = tmpDir("ooc-city-core");
    engine::ExportOptions inCore = options(256);
    inCore.type = type;
    ASSERT_TRUE(engine::exportFile(glb, core, inCore));
    expectSameLeafTriangles(leaves(core), leaves(a), true);
  }
}

// An iModel streams too (elements in id order), for every export type, IMODEL included; in core
// with a budget it fits, it is the same bytes as without one.
TEST(OutOfCore, ImodelInputStreamsAndFitsInCoreUnchanged) {
  const fs::path bim = fs::path(MESHEXPORT_SOURCE_DIR) / "datasets/imodel/fixtures/demo.bim";
  for (io::ExportType type : {io::ExportType::ThreeDTiles, io::ExportType::Imodel}) {
    engine::ExportOptions o = options(64);
    o.type = type;
    const fs::path out = tmpDir("ooc-bim");
    auto r = streamed(bim, out, o, 2);
    ASSERT_TRUE(r) << r.status().toString();
    if (type == io::ExportType::ThreeDTiles) {
      const fs::path core = tmpDir("ooc-bim-core");
      ASSERT_TRUE(engine::exportFile(bim, core, options(64)));
      expectSameLeafTriangles(leaves(core), leaves(out), true);
    }
  }
  engine::ExportOptions plain = options(2000), budget = options(2000);
  budget.config.memoryBudgetMB = 1024;
  const fs::path a = tmpDir("ooc-bim-plain"), b = tmpDir("ooc-bim-budget");
  ASSERT_TRUE(engine::exportFile(bim, a, plain));
  auto rb = engine::exportFile(bim, b, budget);
  ASSERT_TRUE(rb);
  for (const auto& s : rb->metrics.stages) EXPECT_NE(s.name, "spill");
  EXPECT_EQ(readAll(a), readAll(b));
}

// A budget out-of-core tiling cannot work in is a clear error when the input needs it, and only then.
TEST(OutOfCore, BudgetTooSmallToMakeProgressIsAClearError) {
  engine::ExportOptions o = options(32768);
  o.config.memoryBudgetMB = 16;
  const fs::path out = tmpDir("ooc-small");
  auto r = engine::exportFile(benchGlb(), out, o);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), core::ErrorCode::InvalidArgument);
  EXPECT_NE(r.status().message().find("too small"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(out.parent_path()))
    EXPECT_EQ(e.path().filename().string().find(".ooc-small"), std::string::npos) << "left behind: " << e.path();
  // maxTileSize would tile chunks again: refused when the input needs streaming, allowed when it fits.
  o.config.memoryBudgetMB = 64;
  o.config.maxTileSizeKiB = 128;
  auto sized = engine::exportFile(benchGlb(), out, o);
  ASSERT_FALSE(sized);
  EXPECT_EQ(sized.status().code(), core::ErrorCode::InvalidArgument);
  EXPECT_NE(sized.status().message().find("maxTileSize cannot be combined"), std::string::npos)
      << sized.status().message();
  EXPECT_FALSE(fs::exists(out));
  o.config.memoryBudgetMB = 1; // the small fixture fits in 1 MiB in core
  auto fits = engine::exportFile(fs::path(MESHEXPORT_SOURCE_DIR) / "datasets/imodel/fixtures/small.bim", out, o);
  EXPECT_TRUE(fits) << fits.status().toString();
}

// A write that fails for want of space (here the file size limit: the same failed write) is a
// clear error naming the spill file, and nothing is left: no output, no temporary folder.
TEST(OutOfCore, FullDiskIsAClearErrorAndLeavesNothing) {
  const fs::path in = benchGlb(), dir = tmpDir("ooc-full");
  fs::create_directories(dir);
  const fs::path out = dir / "out";
  const CmdResult r = shell("ulimit -f 4096; trap '' XFSZ; " + std::string(MESHEXPORT_BINARY) + " tile " + in.string() +
                            " -o " + out.string() + " --memory-budget-mb 64 --quiet");
  EXPECT_EQ(r.code, 10) << r.output; // storage-full, as the README's exit codes say
  EXPECT_NE(r.output.find("storage-full"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("spill run"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("File too large"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(dir)) ADD_FAILURE() << "left behind: " << e.path();
}
