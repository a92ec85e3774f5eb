#pragma once
// Planar polygons with holes → triangles: holes are bridged into the outer loop (Eberly,
// "Triangulation by Ear Clipping", 2002), then ears are clipped. The polygon is projected onto
// its best-fit plane (Newell's normal), so loops may be anywhere in 3D.
#include <mx/core/Math.h>

#include <cstdint>
#include <vector>

namespace mx::io {

/// Triangles (indices into `points`) of the region bounded by `outer` and `holes` (loops of
/// indices into `points`, any orientation, no repeated closing point). Output faces follow the
/// outer loop's orientation. Degenerate or self-intersecting input gives as many triangles as can
/// be clipped, never an endless loop; a loop that would take more than a bounded amount of work
/// (about 1.3·10⁸ point-in-triangle tests) has its remainder fanned from one vertex.
std::vector<uint32_t> triangulatePolygon(const std::vector<core::Vec3d>& points, const std::vector<uint32_t>& outer,
                                         const std::vector<std::vector<uint32_t>>& holes);

} // namespace mx::io
