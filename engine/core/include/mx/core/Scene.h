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

/// An indexed mesh in world coordinates (z up): triangles, and linework drawn as lines and
/// points (line strings, arcs and curves already stroked into segments).
struct Mesh {
  std::vector<Vec3d> positions;
  std::vector<float> normals;       ///< Empty, or 3 floats per position (unit length).
  std::vector<uint32_t> indices;    ///< 3 per triangle, each < positions.size().
  std::vector<uint32_t> lines;      ///< 2 per line segment, each < positions.size().
  std::vector<uint32_t> points;     ///< 1 per point, each < positions.size().
  std::vector<uint32_t> featureIds; ///< One per position, each < Scene::features.size().
  uint32_t material = 0;            ///< Index into Scene::materials.

  [[nodiscard]] size_t triangleCount() const { return indices.size() / 3; }
  /// Line segments and points.
  [[nodiscard]] size_t wireCount() const { return lines.size() / 2 + points.size(); }
};

/// Where the scene sits on the earth: the ECEF position of the scene origin and the rotation
/// of the scene's axes (east-north-up when yaw/pitch/roll are 0), as iModels carry it.
struct EcefLocation {
  Vec3d origin;           ///< ECEF metres.
  Vec3d xVector{1, 0, 0}; ///< Scene x axis in ECEF.
  Vec3d yVector{0, 1, 0}; ///< Scene y axis in ECEF.
};

/// One placement of a shared mesh (an iModel geometry part an element instances): the shared
/// mesh's vertices, transformed to world, all belonging to one feature and drawn with one material.
/// A transform that mirrors (negative determinant) keeps the triangles front-facing.
struct MeshInstance {
  uint32_t mesh = 0;                  ///< Index into Scene::sharedMeshes.
  Mat4d transform = identityMatrix(); ///< Shared-mesh coordinates → world (affine).
  uint32_t feature = 0;               ///< Index into Scene::features.
  uint32_t material = 0;              ///< Index into Scene::materials.
};

struct Scene {
  std::vector<Mesh> meshes;
  /// Meshes drawn only through instances, in their own coordinates; their featureIds are empty
  /// and their material unused (each instance brings both).
  std::vector<Mesh> sharedMeshes;
  std::vector<MeshInstance> instances;
  std::vector<Material> materials{Material{}};
  std::vector<Feature> features;
  std::optional<EcefLocation> ecef;
  std::optional<Aabb> projectExtents;

  /// The sum of `count(mesh)` over what is drawn: every mesh once, every shared mesh once per
  /// instance.
  template <typename Count> [[nodiscard]] size_t drawn(Count&& count) const {
    size_t n = 0;
    for (const auto& m : meshes) n += count(m);
    for (const auto& i : instances)
      if (i.mesh < sharedMeshes.size()) n += count(sharedMeshes[i.mesh]);
    return n;
  }
  /// Triangles drawn.
  [[nodiscard]] size_t triangleCount() const {
    return drawn([](const Mesh& m) { return m.triangleCount(); });
  }
  /// Line segments drawn.
  [[nodiscard]] size_t lineSegmentCount() const {
    return drawn([](const Mesh& m) { return m.lines.size() / 2; });
  }
  /// Points drawn.
  [[nodiscard]] size_t pointCount() const {
    return drawn([](const Mesh& m) { return m.points.size(); });
  }
  /// Line segments and points drawn.
  [[nodiscard]] size_t wireCount() const { return lineSegmentCount() + pointCount(); }
  /// Vertices drawn.
  [[nodiscard]] size_t vertexCount() const {
    return drawn([](const Mesh& m) { return m.positions.size(); });
  }
  /// Host bytes of the mesh data as held (positions, normals, indices, feature ids, instances):
  /// a shared mesh counts once.
  [[nodiscard]] size_t byteSize() const {
    auto bytes = [](const Mesh& m) {
      return m.positions.size() * sizeof(Vec3d) + m.normals.size() * sizeof(float) +
             (m.indices.size() + m.lines.size() + m.points.size() + m.featureIds.size()) * sizeof(uint32_t);
    };
    size_t n = instances.size() * sizeof(MeshInstance);
    for (const auto& m : meshes) n += bytes(m);
    for (const auto& m : sharedMeshes) n += bytes(m);
    return n;
  }
};

} // namespace mx::core
