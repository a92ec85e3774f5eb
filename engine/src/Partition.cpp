#include "Partition.h"

#include <mx/engine/Metrics.h>

namespace mx::engine {

std::vector<uint32_t> partitionIndices(const core::TileMesh& mesh) {
  std::vector<uint32_t> all;
  all.reserve(mesh.indices.size() + 3 * mesh.wireCount());
  all = mesh.indices;
  for (size_t k = 0; k + 1 < mesh.lines.size(); k += 2)
    all.insert(all.end(), {mesh.lines[k], mesh.lines[k + 1], mesh.lines[k + 1]});
  for (uint32_t p : mesh.points) all.insert(all.end(), {p, p, p});
  return all;
}

core::Result<core::PartitionOutput> runPartition(const core::TileMesh& mesh, const ExportOptions& options,
                                                 core::ExportMetrics& metrics, StageRunner& runner) {
  StageTimer timer(metrics, "partition");
  progress(options, "partition", 0);
  core::PartitionOutput part;
  // Triangles as they are; segments and points, when there are any, as degenerate triangles after them.
  std::vector<uint32_t> withWires;
  if (mesh.wireCount()) withWires = partitionIndices(mesh);
  const std::span<const uint32_t> indices = mesh.wireCount() ? std::span<const uint32_t>(withWires) : mesh.indices;
  core::PartitionInput in{mesh.positions, indices, options.config.maxTrianglesPerTile};
  const core::DeviceMemoryStats device0 = runner.device();
  MX_RETURN_IF_ERROR(runner.run(core::Stage::Partition, {mesh.vertexCount(), indices.size() / 3},
                                [&](core::IComputeBackend& b) { return b.partition(in, part); }));
  runner.describe(core::Stage::Partition, timer.stage());
  runner.recordDevice(timer.stage(), device0);
  timer.stage().itemsIn = mesh.primitiveCount();
  timer.stage().itemsOut = part.nodes.size();
  return part;
}

} // namespace mx::engine
