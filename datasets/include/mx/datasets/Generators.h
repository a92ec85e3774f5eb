#pragma once
// Deterministic synthetic scenes for tests and benchmarks (same parameters → same scene).
#include <mx/core/Scene.h>

#include <cstdint>
#include <vector>

namespace mx::datasets {

/// A rolling heightfield of n×n quads (2n² triangles) spanning `size` metres, one feature.
core::Scene makeTerrain(uint32_t n, double size = 1000.0, core::Vec3d origin = {});

/// A city: `buildings` boxes on a jittered grid, each its own feature (element id = 0x1000 + i,
/// model 0x20, sub-category by height class) with a colour; facades split into `facadeSplits`²
/// quads per side, so each building has 10·s² + 2 triangles. Some buildings are translucent.
core::Scene makeCity(uint32_t buildings, uint32_t facadeSplits, uint64_t seed, core::Vec3d origin = {});

/// `count` random triangles in a cube of `size` metres (no shared vertices), one feature per 1000.
core::Scene makeSoup(uint32_t count, uint64_t seed, double size = 100.0);

/// Terrain plus city, sized to roughly `triangles` triangles: the benchmark input.
core::Scene makeBenchmarkScene(uint64_t triangles, uint64_t seed);

/// A scene as the flat float arrays the compute backends take (feature id as the vertex class).
/// Plain meshes only: the generators make no shared meshes or instances.
struct FlatMesh {
  std::vector<float> positions;  ///< xyz per vertex.
  std::vector<uint32_t> classes; ///< Per vertex: the feature id.
  std::vector<uint32_t> indices; ///< 3 per triangle.
  core::Aabbf bounds;
  [[nodiscard]] size_t vertexCount() const { return positions.size() / 3; }
  [[nodiscard]] size_t triangleCount() const { return indices.size() / 3; }
};
FlatMesh flatten(const core::Scene& scene);

/// Appends `b`'s meshes, shared meshes, instances, features and materials to `a`.
void merge(core::Scene& a, const core::Scene& b);

/// The scene as a binary glTF written by io::encodeGlb (the tiler's glb writer): one node, y up,
/// float32 positions, per-vertex colours (COLOR_0) and features (EXT_mesh_features into the
/// scene's element, model and sub-category ids), which the glTF reader reads back. Plain meshes
/// only (instances are not written); empty when the scene has no triangles.
/// `quantized`: positions as uint16 steps of the bounds (KHR_mesh_quantization), 8 bytes a vertex
/// instead of 12, so 100 M benchmark triangles fit a glb's 4 GiB.
std::vector<uint8_t> sceneToGlb(const core::Scene& scene, bool quantized = false);
/// The same, releasing the scene's meshes as they are copied (100 M triangles in 24 GiB).
std::vector<uint8_t> sceneToGlb(core::Scene&& scene, bool quantized = false);

} // namespace mx::datasets
