#pragma once
// The seam between the engine and its compute backends (cpu/, cuda/). Inputs and outputs are host
// spans and vectors of plain types; where data lives while a backend works is its own business.
// Every stage is deterministic: the same input gives the same output on every run.
#include <mx/core/Math.h>
#include <mx/core/Status.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mx::core {

enum class Stage { Partition, Cluster, Quantize };
std::string_view toString(Stage stage) noexcept;

struct MeshStats {
  uint64_t vertices = 0;
  uint64_t triangles = 0;
};

// ---- Partition: Morton codes of triangle centroids → radix sort → BVH with bounded leaves ------

struct PartitionInput {
  std::span<const float> positions;  ///< xyz per vertex.
  std::span<const uint32_t> indices; ///< 3 per triangle, each < positions.size()/3.
  uint32_t maxTrianglesPerLeaf = 0;  ///< ≥ 1.
};

/// A binary BVH node over a contiguous range of PartitionOutput::order.
struct BvhNode {
  Aabbf bounds;       ///< Bounds of every vertex of every triangle in the range.
  uint32_t begin = 0; ///< First position in `order`.
  uint32_t end = 0;   ///< One past the last.
  int32_t left = -1;  ///< Child node indices, -1 for leaves.
  int32_t right = -1;
  [[nodiscard]] bool isLeaf() const { return left < 0; }
  [[nodiscard]] uint32_t count() const { return end - begin; }
};

struct PartitionOutput {
  std::vector<uint32_t> order; ///< Triangle ids sorted by (Morton code, id).
  std::vector<uint32_t> codes; ///< 30-bit Morton code of each entry of `order`.
  std::vector<BvhNode> nodes;  ///< Pre-order: nodes[0] is the root, a parent before its children.
};

// ---- Vertex clustering -------------------------------------------------------------------------

/// Largest grid resolution per axis: cell coordinates are packed in 10 bits each.
inline constexpr uint32_t kMaxClusterGrid = 1024;

struct ClusterInput {
  std::span<const float> positions;  ///< xyz per vertex.
  std::span<const uint32_t> classes; ///< Per vertex; vertices of different classes never merge.
  std::span<const uint32_t> indices; ///< 3 per triangle.
  Aabbf bounds;                      ///< Grid origin is bounds.min; must contain every vertex.
  float cellSize = 0;                ///< > 0 and ≥ bounds.maxExtent() / kMaxClusterGrid.
};

struct ClusterOutput {
  std::vector<uint32_t> remap;   ///< Per input vertex: its cell, numbered by first occurrence.
  std::vector<float> positions;  ///< Per cell: the mean position of its vertices (xyz).
  std::vector<uint32_t> classes; ///< Per cell.
  std::vector<uint32_t> indices; ///< Non-degenerate remapped triangles, in input order.
  float maxDisplacement = 0;     ///< Largest distance from a vertex to its cell's mean.
};

// ---- Quantization (KHR_mesh_quantization) --------------------------------------------------------

struct QuantizeInput {
  std::span<const float> positions; ///< xyz per vertex, inside `box`.
  std::span<const float> normals;   ///< Empty, or xyz per vertex (unit length).
  Aabbf box;                        ///< Quantization box: min maps to 0, max to 65535.
};

struct QuantizeOutput {
  std::vector<uint16_t> positions; ///< 4 per vertex (x, y, z, 0): 8-byte glTF stride.
  std::vector<int8_t> normals;     ///< 4 per vertex (x, y, z, 0) snorm8, or empty.
  std::array<float, 3> scale{};    ///< Dequantize: p = box.min + q * scale.
};

/// Scale of the uint16 grid along one axis of `box` (1 for a flat axis, so nodes stay invertible).
inline float quantizationScale(const Aabbf& box, int axis) {
  float e = box.max[axis] - box.min[axis];
  return e > 0 ? e / 65535.0f : 1.0f;
}

struct DeviceMemoryStats {
  uint64_t peakBytes = 0; ///< Device memory held at most (every lane's arena together).
  uint64_t hostToDeviceBytes = 0;
  uint64_t deviceToHostBytes = 0;
  double kernelMs = 0; ///< Device time of the calls, first enqueued work to last (copies included).
  double copyMs = 0;   ///< Of which spans of host↔device copies (they overlap kernels).
};

/// One compute backend. Implementations: cpu::CpuBackend (scalar reference, Highway SIMD) and
/// cuda::CudaBackend. Calls return a Status; a backend never throws or aborts.
class IComputeBackend {
public:
  virtual ~IComputeBackend() = default;
  /// Stable id: "cpu-scalar", "cpu-simd", "cuda".
  [[nodiscard]] virtual std::string_view name() const = 0;
  /// False when the backend cannot run here (no GPU); see unavailableReason().
  [[nodiscard]] virtual bool isAvailable() const = 0;
  [[nodiscard]] virtual std::string unavailableReason() const { return {}; }
  /// Human-readable device ("AVX3", "NVIDIA H100 80GB HBM3").
  [[nodiscard]] virtual std::string deviceName() const = 0;
  /// Whether `stage` can run on input of this size (memory budget).
  [[nodiscard]] virtual bool supports(Stage stage, const MeshStats& stats) const = 0;

  virtual Status partition(const PartitionInput& in, PartitionOutput& out) = 0;
  virtual Status clusterVertices(const ClusterInput& in, ClusterOutput& out) = 0;
  virtual Status quantize(const QuantizeInput& in, QuantizeOutput& out) = 0;

  [[nodiscard]] virtual DeviceMemoryStats memoryStats() const { return {}; }
};

} // namespace mx::core
