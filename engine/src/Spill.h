#pragma once
// Out-of-core tiling's spill (OutOfCore.h): prepared primitives as fixed-size records, sorted by
// the Morton code of their centroid into runs written to a folder, and read back in one k-way merge.
//   SpillRecord  one triangle, line segment or point: its corners in the root frame, unit normals
//                as snorm16, global vertex classes, and the 63-bit Morton key
//   RunWriter    buffers records; a full buffer is sorted by (key, arrival) and written as one run
//   RunMerger    the runs merged by (key, run): the order does not depend on the thread count,
//                and records of equal key keep their arrival order
// Write errors are IoError naming the file and the system's reason; a full disk or quota (or the
// file size limit) is StorageFull.
#include <mx/core/Math.h>
#include <mx/core/Result.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

namespace mx::engine {

struct SpillRecord {
  uint64_t key = 0;
  float p[9] = {};      ///< Corners, root frame (a segment repeats its end, a point its only corner).
  int16_t n[9] = {};    ///< Unit normals, snorm16.
  uint16_t corners = 3; ///< 3 triangle, 2 line segment, 1 point.
  uint32_t cls[3] = {}; ///< Vertex classes (indices into the export's class table).
};
static_assert(sizeof(SpillRecord) == 80);

/// The 63-bit Morton code of `p` in `box` (21 bits an axis, x highest; outside the box clamped).
uint64_t mortonKey(const core::Aabbf& box, float x, float y, float z);

class RunWriter {
public:
  /// Runs are written into `folder` (which must exist), `recordsPerRun` records each (at least 1).
  RunWriter(std::filesystem::path folder, size_t recordsPerRun);
  /// Adds `records` in order; each full buffer is sorted and written as a run.
  core::Status add(std::span<const SpillRecord> records);
  /// Writes the last, partial run.
  core::Status finish();
  [[nodiscard]] const std::vector<std::filesystem::path>& runs() const { return _runs; }
  [[nodiscard]] uint64_t records() const { return _total; }
  [[nodiscard]] uint64_t bytes() const { return _total * sizeof(SpillRecord); }

private:
  core::Status flush();
  std::filesystem::path _folder;
  size_t _perRun;
  std::vector<SpillRecord> _buffer;
  std::vector<std::filesystem::path> _runs;
  uint64_t _total = 0;
};

class RunMerger {
public:
  /// Opens every run with a read buffer of `bufferRecords` records each.
  static core::Result<RunMerger> open(const std::vector<std::filesystem::path>& runs, size_t bufferRecords);
  RunMerger(RunMerger&&) noexcept;
  RunMerger& operator=(RunMerger&&) noexcept;
  ~RunMerger();
  /// The next record in merge order; false when every run is used up.
  core::Result<bool> next(SpillRecord& out);

private:
  RunMerger() = default;
  struct Run;
  core::Status refill(Run& run);
  std::vector<std::unique_ptr<Run>> _runs;
  std::vector<uint32_t> _heap; ///< Runs with records left, a min-heap by (head key, run).
};

} // namespace mx::engine
