#pragma once
// Out-of-core export (tilerConfig memoryBudgetMB), driven by exportFile through a reader's
// core::SceneBatches:
//   decide  while what was read so far, with the next piece, would fit the budget in core
//           (inCoreBytes: the scene as held plus what the pipeline adds a drawn primitive), the
//           reader keeps it and the export runs in core as without a budget (the same bytes)
//   spill   from the piece that would not fit on, every batch is prepared in one root frame (the
//           anchor: the declared bounds' centre, else the first batch's), cut into SpillRecords with
//           the export's vertex classes and Morton keys in the key box (declared bounds ∪ the first
//           batch), and its meshes are released; RunWriter writes sorted runs to `.spill/` in the
//           export's temporary output folder
//   merge   RunMerger streams the records in key order, cut into chunks of chunkPrimitives
//   chunk   per chunk: vertices deduplicated, then partition → lod → quantize as in core, its
//           contents written and freed; its root's simplified mesh is kept
//   upper   the chunk roots, 8 consecutive to a parent, simplified level by level to one root
//           (errors: the children's largest plus what simplification moved), quantized, written;
//           then tileset.json over every node, validation, publication
// The spill folder is removed before validation; on any error the temporary folder goes with it.
// maxTileSize is refused with a budget (it would tile chunks again).
#include "OutputFolder.h"
#include "StageRunner.h"

#include <mx/core/Result.h>
#include <mx/core/Scene.h>
#include <mx/core/SceneBatches.h>
#include <mx/engine/Pipeline.h>

#include <cstdint>
#include <memory>

namespace mx::engine {

/// Host bytes an in-core export adds to its Scene for each triangle, segment or point drawn (the
/// flat prepared mesh, partition, leaves; measured: 8 M city 137 - 58 bytes of Scene, the 17 M
/// instanced iModel 82, with margin).
inline constexpr uint64_t kPipelineBytesPerPrimitive = 90;
/// Scene bytes of a piece not read yet, a drawn primitive (the city's meshes: 58).
inline constexpr uint64_t kSceneBytesPerPrimitive = 64;

/// What an in-core export of `scene` and a piece of `upcoming` primitives would hold at its peak:
/// what decides between in core and out of core.
uint64_t inCoreBytes(const core::Scene& scene, size_t upcoming);

/// How a budget is shared out.
struct BudgetPlan {
  uint64_t budgetBytes = 0;
  size_t batchPrimitives = 0; ///< A reader batch: a quarter of the budget.
  size_t recordsPerRun = 0;   ///< A run buffer: a quarter.
  size_t chunkPrimitives = 0; ///< A chunk through partition, lod and quantize: half.
  /// Ok, or InvalidArgument when out-of-core tiling cannot make progress in the budget with
  /// maxTrianglesPerTile (an upper level holds 8 chunk roots of that size at once): the error of
  /// an export that needs it (an input that fits in core does not).
  core::Status usable;
  static BudgetPlan of(uint32_t budgetMB, uint32_t maxTrianglesPerTile);
};

class StreamingExport {
public:
  StreamingExport(std::filesystem::path outDir, const ExportOptions& options, const BudgetPlan& plan,
                  const BackendSet& backends);
  ~StreamingExport();
  StreamingExport(const StreamingExport&) = delete;
  StreamingExport& operator=(const StreamingExport&) = delete;

  /// The reader's take (core::SceneBatches::take): keeps the scene in core while it fits, else spills
  /// it. Starting to stream is refused (InvalidArgument) when the plan is not usable or maxTileSize
  /// is set.
  core::Result<bool> take(core::Scene& scene, size_t upcoming, const std::optional<core::Aabb>& declared);
  [[nodiscard]] bool streaming() const;

  /// After the read: spills what the reader still holds, then merge, chunks, upper levels, write,
  /// validate and publish. `readMs`: the read's wall time (the spill's share is taken out of it).
  core::Result<ExportResult> finish(core::Scene& scene, double readMs);

private:
  struct State;
  std::unique_ptr<State> _s;
};

} // namespace mx::engine
