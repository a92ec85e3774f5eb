#pragma once
// Private to io/gltf: a primitive's vertices under its node transform, read from the accessors
// when wanted, and the out-of-core read of a large TRIANGLES primitive in parts of whole triangles
// (core::SceneBatches), so no array of the primitive's size is ever made.
#include "Accessor.h"
#include "Features.h"

#include <mx/core/Math.h>
#include <mx/core/Scene.h>

#include <array>
#include <cmath>
#include <functional>
#include <optional>
#include <vector>

namespace mx::io::gltf {

/// Where a primitive's scene vertices come from: POSITION (and NORMAL) under the node transform,
/// read from the accessors when a vertex is wanted, so a primitive split by colour is gathered
/// from the file instead of from a transformed copy of all its vertices.
struct VertexSource {
  AccessorView pos;
  std::optional<AccessorView> normal;
  core::Mat4d world{};
  std::array<double, 9> normalMatrix{}; // inverse transpose of the upper 3x3, sign of det taken out
  bool mirrored = false;                // the transform mirrors: the winding is flipped

  [[nodiscard]] core::Vec3d position(size_t v) const {
    return core::transformPoint(world, {pos.get(v, 0), pos.get(v, 1), pos.get(v, 2)});
  }
  /// The unit normal of vertex v (its scale removed by normalising; +z when degenerate).
  void unitNormal(size_t v, float* out) const {
    const auto& c = normalMatrix;
    const double x = normal->get(v, 0), y = normal->get(v, 1), z = normal->get(v, 2);
    const double r[3] = {c[0] * x + c[1] * y + c[2] * z, c[3] * x + c[4] * y + c[5] * z,
                         c[6] * x + c[7] * y + c[8] * z};
    const double len = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
    for (int k = 0; k < 3; ++k) out[k] = len > 0 ? float(r[k] / len) : (k == 2 ? 1.0f : 0.0f);
  }
};

/// What a part of a primitive is read from.
struct SliceSource {
  VertexSource vertices;
  std::optional<AccessorView> indices; ///< Absent: vertex i is index i.
  size_t vertexCount = 0;
  const FeatureRows* rows = nullptr;
  const ColorKeys* colors = nullptr;
  /// Lets go of the resident pages of bytes already read, when they are a file map (no-op else).
  std::function<void(const uint8_t* begin, const uint8_t* end)> release;
};

/// One mesh of a part: the triangles of one colour (the colour of a triangle's first corner),
/// vertices compacted in first-use order, featureIds set; the caller sets the material.
struct SlicePart {
  std::optional<uint32_t> color; ///< Packed RGBA, when the primitive has COLOR_0.
  core::Mesh mesh;
};

/// Triangles [first, last) of `s`, one mesh per colour in order of first appearance. The part's
/// vertices are read once each, in ascending order, and the pages behind the reader released as it
/// goes, so a part whose vertices are scattered over a large mapped buffer keeps little of it
/// resident.
/// `featureOf(row)` gives the scene feature of a property table row (nullopt: the node's feature).
/// Errors (index out of range, NaN position, colour or bad feature row) name the vertex.
Result<std::vector<SlicePart>> readTriangleSlice(const SliceSource& s, size_t first, size_t last,
                                                 const std::function<uint32_t(std::optional<uint32_t>)>& featureOf);

} // namespace mx::io::gltf
