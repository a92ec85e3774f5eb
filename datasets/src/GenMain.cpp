// meshexport-gen: writes the synthetic scenes as .glb files (sample data, benchmark inputs).
//   meshexport-gen city|terrain|soup|bench OUT.glb [--triangles N] [--seed S] [--quantized]
#include <mx/datasets/Generators.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: meshexport-gen city|terrain|soup|bench OUT.glb [--triangles N] [--seed S] [--quantized]\n");
    return 2;
  }
  const std::string kind = argv[1], out = argv[2];
  uint64_t triangles = 100000, seed = 1;
  bool quantized = false;
  for (int i = 3; i < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--quantized") {
      quantized = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "%s needs a value\n", k.c_str());
      return 2;
    }
    if (k == "--triangles")
      triangles = std::strtoull(argv[i + 1], nullptr, 10);
    else if (k == "--seed")
      seed = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  mx::core::Scene scene;
  if (kind == "city")
    scene = mx::datasets::makeCity(uint32_t(triangles / 162), 4, seed);
  else if (kind == "terrain")
    scene = mx::datasets::makeTerrain(uint32_t(std::sqrt(triangles / 2.0)));
  else if (kind == "soup")
    scene = mx::datasets::makeSoup(uint32_t(triangles), seed);
  else if (kind == "bench")
    scene = mx::datasets::makeBenchmarkScene(triangles, seed);
  else {
    std::fprintf(stderr, "unknown kind %s\n", kind.c_str());
    return 2;
  }
  const size_t triangleCount = scene.triangleCount(), featureCount = scene.features.size();
  const auto bytes = mx::datasets::sceneToGlb(std::move(scene), quantized);
  std::ofstream f(out, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (bytes.empty() || !f) {
    std::fprintf(stderr, "cannot write %s\n", out.c_str());
    return 1;
  }
  std::fprintf(stderr, "%s: %zu triangles, %zu features, %zu bytes\n", out.c_str(), triangleCount, featureCount,
               bytes.size());
  return 0;
}
