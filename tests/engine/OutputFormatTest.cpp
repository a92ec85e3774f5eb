// The seed's tilerConfig keys end to end: maxTileSize enforced on the written bytes,
// enableCompression, and outputFormat b3dm (a 3D Tiles 1.0 tileset that holds the same triangles
// and features as the glb export).
#include "PipelineTestSupport.h"

#include <mx/io/GlbValidator.h>
#include <mx/io/TilesetValidator.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace pipeline_test;
using nlohmann::json;

namespace {

uint64_t largestContent(const fs::path& dir, std::string* name = nullptr) {
  uint64_t largest = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != "tileset.json" && e.file_size() > largest) {
      largest = e.file_size();
      if (name) *name = e.path().filename().string();
    }
  return largest;
}

/// Triangles in the leaf tiles (tiles without children) of a glb tileset.
uint64_t leafTriangles(const fs::path& dir) {
  const json ts = json::parse(std::ifstream(dir / "tileset.json"));
  std::vector<const json*> stack{&ts["root"]};
  uint64_t total = 0;
  while (!stack.empty()) {
    const json& t = *stack.back();
    stack.pop_back();
    if (t.contains("children"))
      for (const json& c : t["children"]) stack.push_back(&c);
    else if (t.contains("content")) {
      std::ifstream in(dir / t["content"]["uri"].get<std::string>(), std::ios::binary);
      const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      std::vector<std::string> errors;
      double bounds[6];
      uint64_t tris = 0;
      EXPECT_TRUE(io::validateGlb(bytes, "leaf", errors, bounds, tris));
      total += tris;
    }
  }
  return total;
}

} // namespace

TEST(OutputFormat, MaxTileSizeBoundsEveryWrittenTile) {
  const fs::path free = tmpDir("maxsize-free");
  auto unbounded = engine::exportScene(city(), free, options(32768));
  ASSERT_TRUE(unbounded.isOk()) << unbounded.status().toString();
  const uint64_t biggest = largestContent(free);
  for (bool compressed : {false, true})
    for (uint32_t kib : {uint32_t(biggest / 1024 / 3), uint32_t(biggest / 1024 / 9), 16u}) {
      SCOPED_TRACE(std::to_string(kib) + " KiB" + (compressed ? ", compressed" : ""));
      const fs::path out = tmpDir("maxsize-" + std::to_string(kib) + (compressed ? "-c" : ""));
      engine::ExportOptions o = options(32768);
      o.config.maxTileSizeKiB = kib;
      o.config.meshoptCompression = compressed;
      auto r = engine::exportScene(city(), out, o);
      ASSERT_TRUE(r.isOk()) << r.status().toString();
      std::string name;
      EXPECT_LE(largestContent(out, &name), uint64_t(kib) * 1024) << name;
      EXPECT_EQ(r->metrics.trianglesIn, unbounded->metrics.trianglesIn);
      EXPECT_FALSE(r->metrics.warnings.empty()) << "a re-tiling is reported";
      if (!r->metrics.warnings.empty()) {
        EXPECT_NE(r->metrics.warnings.back().find("maxTileSize"), std::string::npos) << r->metrics.warnings.back();
      }
      // Every triangle is still in exactly one leaf: the leaves hold what the unbounded export's do.
      EXPECT_EQ(leafTriangles(out), leafTriangles(free));
      EXPECT_TRUE(r->validation.ok());
      EXPECT_EQ(r->metrics.stages.front().name, "prepare") << "the discarded attempts' stages are not kept";
    }
  // A limit every tile meets at once changes nothing.
  const fs::path same = tmpDir("maxsize-roomy");
  engine::ExportOptions roomy = options(32768);
  roomy.config.maxTileSizeKiB = uint32_t(biggest / 1024 + 1);
  auto r = engine::exportScene(city(), same, roomy);
  ASSERT_TRUE(r.isOk());
  EXPECT_TRUE(r->metrics.warnings.empty());
  EXPECT_EQ(readAll(same), readAll(free));
}

TEST(OutputFormat, B3dmHoldsWhatTheGlbExportHolds) {
  const fs::path glb = tmpDir("format-glb"), b3dm = tmpDir("format-b3dm");
  auto a = engine::exportScene(city(), glb, options());
  engine::ExportOptions o = options();
  o.config.outputFormat = io::ContentFormat::B3dm;
  auto b = engine::exportScene(city(), b3dm, o);
  ASSERT_TRUE(a.isOk() && b.isOk()) << b.status().toString();
  EXPECT_TRUE(b->validation.ok());
  EXPECT_EQ(b->validation.triangles, a->validation.triangles);
  EXPECT_EQ(b->metrics.tiles, a->metrics.tiles);
  const json ta = json::parse(std::ifstream(glb / "tileset.json")),
             tb = json::parse(std::ifstream(b3dm / "tileset.json"));
  EXPECT_EQ(tb["asset"]["version"], "1.0");
  EXPECT_EQ(ta["asset"]["version"], "1.1");
  EXPECT_EQ(tb["root"]["transform"], ta["root"]["transform"]);
  EXPECT_EQ(tb["geometricError"], ta["geometricError"]);
  size_t b3dms = 0;
  for (const auto& e : fs::directory_iterator(b3dm)) b3dms += e.path().extension() == ".b3dm";
  EXPECT_EQ(b3dms, b->metrics.tiles);

  // IMODEL has no b3dm: refused before any work, nothing written.
  engine::ExportOptions imodel = o;
  imodel.type = io::ExportType::Imodel;
  const fs::path never = tmpDir("format-imodel-b3dm");
  auto refused = engine::exportScene(city(), never, imodel);
  ASSERT_FALSE(refused.isOk());
  EXPECT_NE(refused.status().message().find("outputFormat"), std::string::npos);
  EXPECT_FALSE(fs::exists(never));
}
