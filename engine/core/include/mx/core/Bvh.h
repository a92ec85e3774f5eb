#pragma once
// The BVH build over Morton-sorted triangles, shared by every backend: the CPU runs all of the
// partition stage; the CUDA backend computes and sorts the codes on the device and builds the
// hierarchy here (a few binary searches per node, cheap on the host).
#include <mx/core/IComputeBackend.h>
#include <mx/core/Status.h>

#include <cstdint>
#include <span>

namespace mx::core {

/// A range splits at the highest bit in which its first and last codes differ (at the middle
/// when all codes are equal) until it holds at most maxTrianglesPerLeaf triangles. Fills
/// out.nodes in pre-order with bounds; out.order and out.codes must be set.
Status buildBvh(std::span<const float> positions, std::span<const uint32_t> indices, uint32_t maxTrianglesPerLeaf,
                PartitionOutput& out);

} // namespace mx::core
