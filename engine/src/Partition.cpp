#include "Partition.h"

#include <mx/engine/Metrics.h>

namespace mx::engine {

core::Result<core::PartitionOutput> runPartition(const core::TileMesh& mesh, const ExportOptions& options,
                                                 core::ExportMetrics& metrics, StageRunner& runner) {
  StageTimer timer(metrics, "partition");
  progress(options, "partition", 0);
  core::PartitionOutput part;
  core::PartitionInput in{mesh.positions, mesh.indices, options.config.maxTrianglesPerTile};
  const core::DeviceMemoryStats device0 = runner.device();
  MX_RETURN_IF_ERROR(runner.run(core::Stage::Partition, {mesh.vertexCount(), mesh.triangleCount()},
                                [&](core::IComputeBackend& b) { return b.partition(in, part); }));
  runner.describe(core::Stage::Partition, timer.stage());
  runner.recordDevice(timer.stage(), device0);
  timer.stage().itemsIn = mesh.triangleCount();
  timer.stage().itemsOut = part.nodes.size();
  return part;
}

} // namespace mx::engine
