#pragma once
// The engine's input: what a reader (glTF, iModel) produces. Host memory, float64 world positions.
#include <mx/core/Math.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mx::core {

/// One feature per element (iModel) or per glTF node: what a clicked triangle identifies.
struct Feature {
  uint64_t elementId = 0;
  uint64_t modelId = 0;
  uint64_t categoryId = 0;
  uint64_t subCategoryId = 0;
  std::string className;
  std::string label;
};

/// Surface appearance of a mesh, linear colour as 8-bit sRGB RGBA (alpha 255 = opaque).
struct Material {
  uint8_t r = 255, g = 255, b = 255, a = 255;
  friend bool operator==(const Material&, const Material&) = default;
};

/// An indexed triangle mesh in world coordinates (z up).
struct Mesh {
  std::vector<Vec3d> positions;
  std::vector<float> normals;        ///< Empty, or 3 floats per position (unit length).
  std::vector<uint32_t> indices;     ///< 3 per triangle, each < positions.size().
  std::vector<uint32_t> featureIds;  ///< One per position, each < Scene::features.size().
  uint32_t material = 0;             ///< Index into Scene::materials.

  [[nodiscard]] size_t triangleCount() const { return indices.size() / 3; }
};

/// Where the scene sits on the earth: the ECEF position of the scene origin and the rotation
/// of the scene's axes (east-north-up when yaw/pitch/roll are 0), as iModels carry it.
struct EcefLocation {
  Vec3d origin;                 ///< ECEF metres.
  Vec3d xVector{1, 0, 0};       ///< Scene x axis in ECEF.
  Vec3d yVector{0, 1, 0};       ///< Scene y axis in ECEF.
};

struct Scene {
  std::vector<Mesh> meshes;
  std::vector<Material> materials{Material{}};
  std::vector<Feature> features;
  std::optional<EcefLocation> ecef;
  std::optional<Aabb> projectExtents;

  [[nodiscard]] size_t triangleCount() const {
    size_t n = 0;
    for (const auto& m : meshes) n += m.triangleCount();
    return n;
  }
  [[nodiscard]] size_t vertexCount() const {
    size_t n = 0;
    for (const auto& m : meshes) n += m.positions.size();
    return n;
  }
  /// Host bytes of the mesh data (positions, normals, indices, feature ids).
  [[nodiscard]] size_t byteSize() const {
    size_t n = 0;
    for (const auto& m : meshes)
      n += m.positions.size() * sizeof(Vec3d) + m.normals.size() * sizeof(float) +
           m.indices.size() * sizeof(uint32_t) + m.featureIds.size() * sizeof(uint32_t);
    return n;
  }
};

} // namespace mx::core
