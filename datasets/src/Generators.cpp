#include <mx/datasets/Generators.h>

#include <mx/io/GlbWriter.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <sstream>

namespace mx::datasets {

using core::Mesh;
using core::Scene;
using core::Vec3d;

namespace {

uint32_t addMaterial(Scene& s, core::Material m) {
  for (size_t i = 0; i < s.materials.size(); ++i)
    if (s.materials[i] == m) return uint32_t(i);
  s.materials.push_back(m);
  return uint32_t(s.materials.size() - 1);
}

void addQuad(Mesh& m, Vec3d a, Vec3d b, Vec3d c, Vec3d d) {
  const uint32_t base = uint32_t(m.positions.size());
  m.positions.insert(m.positions.end(), {a, b, c, d});
  m.indices.insert(m.indices.end(), {base, base + 1, base + 2, base, base + 2, base + 3});
}

/// A facade from p0 along u (width) and up (height), split s×s.
void addWall(Mesh& m, Vec3d p0, Vec3d u, Vec3d up, uint32_t s) {
  for (uint32_t i = 0; i < s; ++i)
    for (uint32_t j = 0; j < s; ++j) {
      const Vec3d a = p0 + u * (double(i) / s) + up * (double(j) / s);
      const Vec3d b = p0 + u * (double(i + 1) / s) + up * (double(j) / s);
      const Vec3d c = p0 + u * (double(i + 1) / s) + up * (double(j + 1) / s);
      const Vec3d d = p0 + u * (double(i) / s) + up * (double(j + 1) / s);
      addQuad(m, a, b, c, d);
    }
}

} // namespace

Scene makeTerrain(uint32_t n, double size, Vec3d origin) {
  Scene s;
  s.features.push_back({0x10, 0x20, 0x30, 0x40, "Generic:Terrain", "terrain"});
  Mesh m;
  m.material = addMaterial(s, {110, 140, 90, 255});
  const double step = size / n;
  m.positions.reserve(size_t(n + 1) * (n + 1));
  for (uint32_t y = 0; y <= n; ++y)
    for (uint32_t x = 0; x <= n; ++x) {
      const double px = x * step, py = y * step;
      const double h = 12.0 * std::sin(px * 0.013) * std::cos(py * 0.011) + 3.0 * std::sin(px * 0.07 + py * 0.05);
      m.positions.push_back(origin + Vec3d{px, py, h});
    }
  m.indices.reserve(size_t(n) * n * 6);
  for (uint32_t y = 0; y < n; ++y)
    for (uint32_t x = 0; x < n; ++x) {
      const uint32_t a = y * (n + 1) + x, b = a + 1, c = a + n + 2, d = a + n + 1;
      m.indices.insert(m.indices.end(), {a, b, c, a, c, d});
    }
  m.featureIds.assign(m.positions.size(), 0);
  s.meshes.push_back(std::move(m));
  return s;
}

Scene makeCity(uint32_t buildings, uint32_t facadeSplits, uint64_t seed, Vec3d origin) {
  Scene s;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  const uint32_t side = uint32_t(std::ceil(std::sqrt(double(buildings))));
  const double pitch = 30.0;
  const uint32_t split = std::max(1u, facadeSplits);
  for (uint32_t i = 0; i < buildings; ++i) {
    const double w = 8 + 14 * u01(rng), d = 8 + 14 * u01(rng), h = 6 + 60 * u01(rng) * u01(rng);
    const double x = (i % side) * pitch + 4 * u01(rng), y = (i / side) * pitch + 4 * u01(rng);
    const uint8_t shade = uint8_t(120 + 120 * u01(rng));
    const bool glass = u01(rng) < 0.1;
    core::Material mat{shade, uint8_t(shade * 0.9), uint8_t(glass ? 255 : shade * 0.8), uint8_t(glass ? 140 : 255)};
    s.features.push_back({0x1000 + i, 0x20, 0x30, uint64_t(0x40 + (h > 30 ? 1 : 0)), "Generic:Building",
                          "building " + std::to_string(i)});
    Mesh m;
    m.material = addMaterial(s, mat);
    const Vec3d p = origin + Vec3d{x, y, 0};
    const Vec3d up{0, 0, h};
    addWall(m, p, {w, 0, 0}, up, split);
    addWall(m, p + Vec3d{w, 0, 0}, {0, d, 0}, up, split);
    addWall(m, p + Vec3d{w, d, 0}, {-w, 0, 0}, up, split);
    addWall(m, p + Vec3d{0, d, 0}, {0, -d, 0}, up, split);
    // Roof: split too, so roofs simplify like facades.
    for (uint32_t a = 0; a < split; ++a)
      for (uint32_t b = 0; b < split; ++b) {
        const double x0 = w * a / split, x1 = w * (a + 1) / split, y0 = d * b / split, y1 = d * (b + 1) / split;
        addQuad(m, p + Vec3d{x0, y0, h}, p + Vec3d{x1, y0, h}, p + Vec3d{x1, y1, h}, p + Vec3d{x0, y1, h});
      }
    addQuad(m, p, p + Vec3d{0, d, 0}, p + Vec3d{w, d, 0}, p + Vec3d{w, 0, 0}); // floor
    m.featureIds.assign(m.positions.size(), uint32_t(s.features.size() - 1));
    s.meshes.push_back(std::move(m));
  }
  return s;
}

Scene makeSoup(uint32_t count, uint64_t seed, double size) {
  Scene s;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> pos(0.0, size), off(-size * 0.01, size * 0.01);
  Mesh m;
  const uint32_t features = std::max(1u, (count + 999) / 1000);
  for (uint32_t f = 0; f < features; ++f) s.features.push_back({0x5000 + f, 0x21, 0x31, 0x41, "Generic:Soup", ""});
  for (uint32_t t = 0; t < count; ++t) {
    const Vec3d c{pos(rng), pos(rng), pos(rng)};
    const uint32_t base = uint32_t(m.positions.size());
    for (int k = 0; k < 3; ++k) {
      m.positions.push_back(c + Vec3d{off(rng), off(rng), off(rng)});
      m.featureIds.push_back(t / 1000);
    }
    m.indices.insert(m.indices.end(), {base, base + 1, base + 2});
  }
  s.meshes.push_back(std::move(m));
  return s;
}

FlatMesh flatten(const Scene& scene) {
  FlatMesh f;
  f.positions.reserve(3 * scene.vertexCount());
  f.classes.reserve(scene.vertexCount());
  f.indices.reserve(3 * scene.triangleCount());
  for (const Mesh& m : scene.meshes) {
    const uint32_t base = uint32_t(f.positions.size() / 3);
    for (size_t v = 0; v < m.positions.size(); ++v) {
      const Vec3d& p = m.positions[v];
      f.positions.insert(f.positions.end(), {float(p.x), float(p.y), float(p.z)});
      f.bounds.extend(float(p.x), float(p.y), float(p.z));
      f.classes.push_back(m.featureIds[v]);
    }
    for (uint32_t i : m.indices) f.indices.push_back(base + i);
  }
  return f;
}

void merge(Scene& a, const Scene& b) {
  const uint32_t featureBase = uint32_t(a.features.size());
  a.features.insert(a.features.end(), b.features.begin(), b.features.end());
  for (Mesh m : b.meshes) {
    for (auto& f : m.featureIds) f += featureBase;
    m.material = addMaterial(a, b.materials[m.material]);
    a.meshes.push_back(std::move(m));
  }
  const uint32_t sharedBase = uint32_t(a.sharedMeshes.size());
  a.sharedMeshes.insert(a.sharedMeshes.end(), b.sharedMeshes.begin(), b.sharedMeshes.end());
  for (core::MeshInstance i : b.instances) {
    i.mesh += sharedBase;
    i.feature += featureBase;
    i.material = addMaterial(a, b.materials[i.material]);
    a.instances.push_back(i);
  }
}

Scene makeBenchmarkScene(uint64_t triangles, uint64_t seed) {
  // A quarter in the terrain, the rest in buildings of 10·4² + 2 = 162 triangles.
  const uint32_t n = uint32_t(std::sqrt(double(triangles) / 8.0));
  const uint32_t buildings = uint32_t(double(triangles - 2ull * n * n) / 162.0);
  const uint32_t side = uint32_t(std::ceil(std::sqrt(double(buildings))));
  Scene s = makeTerrain(n, side * 30.0 + 30.0, {-15, -15, -20});
  merge(s, makeCity(buildings, 4, seed));
  return s;
}

std::vector<uint8_t> sceneToGlb(const Scene& scene, bool quantized) {
  Scene copy = scene;
  return sceneToGlb(std::move(copy), quantized);
}

std::vector<uint8_t> sceneToGlb(Scene&& scene, bool quantized) {
  // One glb node holding every mesh, written by the tiler's own glb writer: positions in the glTF
  // frame (y up; float32, or uint16 steps of the bounds when `quantized`), each vertex's colour
  // (COLOR_0) and feature (EXT_mesh_features into a table of the scene's element, model and
  // sub-category ids), which the glTF reader reads back. Each mesh is released once copied.
  io::TileContent c;
  c.quantized = quantized;
  for (const core::Feature& f : scene.features) c.features.push_back({f.elementId, f.modelId, f.subCategoryId});
  core::Aabb box; // glTF frame
  size_t vertices = 0, indices = 0;
  for (const Mesh& mesh : scene.meshes) {
    for (const Vec3d& p : mesh.positions) box.extend(p.x, p.z, -p.y);
    vertices += mesh.positions.size();
    indices += mesh.indices.size();
  }
  if (quantized)
    for (int a = 0; a < 3; ++a) {
      c.translation[size_t(a)] = box.min[a];
      c.scale[size_t(a)] = std::max(box.extent(a), 1e-9) / 65535.0;
    }
  (quantized ? c.positionsQ.reserve(4 * vertices) : c.positions.reserve(3 * vertices));
  c.colors.reserve(vertices);
  c.featureIds.reserve(vertices);
  c.indices.reserve(indices);
  auto step = [&](double v, size_t a) { return uint16_t(std::lround((v - c.translation[a]) / c.scale[a])); };
  for (Mesh& mesh : scene.meshes) {
    const uint32_t base = uint32_t(c.vertexCount());
    const core::Material& m = scene.materials[mesh.material];
    const uint32_t rgba = uint32_t(m.r) | uint32_t(m.g) << 8 | uint32_t(m.b) << 16 | uint32_t(m.a) << 24;
    for (size_t v = 0; v < mesh.positions.size(); ++v) {
      const Vec3d p = mesh.positions[v];
      if (quantized)
        c.positionsQ.insert(c.positionsQ.end(), {step(p.x, 0), step(p.z, 1), step(-p.y, 2), 0});
      else
        c.positions.insert(c.positions.end(), {float(p.x), float(p.z), float(-p.y)}); // z-up → y-up
      c.colors.push_back(rgba);
      c.featureIds.push_back(mesh.featureIds[v]);
    }
    for (uint32_t i : mesh.indices) c.indices.push_back(base + i);
    mesh = Mesh{};
  }
  scene = Scene{};
  io::WriteOptions options;
  options.generator = "meshexport datasets";
  auto glb = io::encodeGlb(c, options);
  return glb ? std::move(glb).value() : std::vector<uint8_t>();
}

} // namespace mx::datasets
