#pragma once
// The input contract of each backend stage, checked in one place: every backend calls
// validate() first, so a bad input gets the same error whichever backend runs it.
//   partition  maxTrianglesPerLeaf ≥ 1; positions and indices in triples; < 2^32-1 triangles;
//              every index < vertex count (MalformedInput names the largest)
//   cluster    positions and indices in triples; one class per vertex; cellSize positive, finite
//              and giving at most kMaxClusterGrid cells per axis; every index < vertex count
//   quantize   positions in triples; normals empty or one per position
#include <mx/core/IComputeBackend.h>
#include <mx/core/Status.h>

namespace mx::core {

Status validate(const PartitionInput& in);
Status validate(const ClusterInput& in);
Status validate(const QuantizeInput& in);

} // namespace mx::core
