#pragma once
// Shared by the engine's end-to-end tests: a temp folder, options, the city scene, a folder's bytes.
#include <mx/datasets/Generators.h>
#include <mx/engine/Pipeline.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace pipeline_test {

namespace fs = std::filesystem;
using namespace mx;

inline fs::path tmpDir(const std::string& name) {
  const char* env = std::getenv("MESHEXPORT_TEST_TMP");
  auto p = fs::path(env ? env : "/tmp") / "engine" / name;
  fs::remove_all(p);
  fs::create_directories(p.parent_path());
  return p;
}

inline engine::ExportOptions options(uint32_t maxTris = 2000) {
  engine::ExportOptions o;
  o.config.maxTrianglesPerTile = maxTris;
  o.config.device = engine::DeviceChoice::Auto;
  return o;
}

inline const core::Scene& city() {
  static const core::Scene s = [] {
    core::Scene c = datasets::makeCity(150, 3, 21);
    datasets::merge(c, datasets::makeTerrain(60, 600, {-20, -20, -5}));
    return c;
  }();
  return s;
}

inline std::map<std::string, std::vector<char>> readAll(const fs::path& dir) {
  std::map<std::string, std::vector<char>> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    out[e.path().filename().string()] = {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  return out;
}

} // namespace pipeline_test
