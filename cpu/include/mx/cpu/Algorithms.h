#pragma once
// The CPU algorithms behind CpuBackend, exposed one by one so each can be tested and benchmarked.
// Every function takes the level explicitly; the scalar level is the reference the SIMD level and
// the CUDA backend are checked against. Functions use oneTBB threads where that pays.
#include <mx/core/IComputeBackend.h>
#include <mx/cpu/CpuLevel.h>

#include <cstdint>
#include <span>

namespace mx::cpu {

/// Triangle centroids as three arrays (structure of arrays), each of size indices.size()/3.
void triangleCentroids(std::span<const float> positions, std::span<const uint32_t> indices, std::span<float> cx,
                       std::span<float> cy, std::span<float> cz);

/// Bounds of points given as three equally sized arrays.
core::Aabbf boundsOf(CpuLevel level, std::span<const float> x, std::span<const float> y, std::span<const float> z);

/// 30-bit Morton codes (10 bits per axis, x highest) of points quantized on a 1024³ grid
/// spanning `bounds`. All spans have the same size.
void mortonCodes(CpuLevel level, std::span<const float> x, std::span<const float> y, std::span<const float> z,
                 const core::Aabbf& bounds, std::span<uint32_t> codes);

/// Sorts `keys` ascending and applies the same permutation to `values`; equal keys keep their
/// input order (stable). Scalar: LSD radix sort (TBB-parallel histograms and scatter);
/// Simd: Highway's vectorised quicksort on (key << 32 | value), which gives the same order when
/// the values of equal keys are ascending, as they are for the index arrays the engine sorts.
void sortPairs(CpuLevel level, std::span<uint32_t> keys, std::span<uint32_t> values);

/// Morton codes + sort + BVH (core::buildBvh): the whole partition stage.
core::Status partition(CpuLevel level, const core::PartitionInput& in, core::PartitionOutput& out);

/// Grid cell key of every vertex for vertex clustering: the 30-bit Morton code of its cell
/// (origin bounds.min, cell size `cellSize`, coordinates clamped to 0..1023).
void cellCodes(CpuLevel level, std::span<const float> positions, const core::Aabbf& bounds, float cellSize,
               std::span<uint32_t> codes);

/// Vertex clustering: vertices of one class in one grid cell merge into their mean; triangles
/// that become degenerate are dropped. Cells are numbered in order of first occurrence.
core::Status clusterVertices(CpuLevel level, const core::ClusterInput& in, core::ClusterOutput& out);

/// KHR_mesh_quantization: positions to uint16 in the box, normals to snorm8.
core::Status quantize(CpuLevel level, const core::QuantizeInput& in, core::QuantizeOutput& out);

} // namespace mx::cpu
