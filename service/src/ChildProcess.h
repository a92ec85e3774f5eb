#pragma once
// Running the tiler as a child process: fork + exec into its own process group with stdout and
// stderr in a log file, watched for time, memory and cancellation. The child dies with the
// service (PR_SET_PDEATHSIG, and a check right after the fork for a parent already gone).
#include <mx/core/Result.h>
#include <mx/service/DataDir.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace mx::service {

struct ChildLimits {
  std::chrono::milliseconds timeout{3600 * 1000};
  int64_t memoryBytes = 0; ///< Peak resident set of the child; 0 = none.
  int inheritFd = -1;      ///< Passed to the child as descriptor 3 (e.g. a held job lock); -1 none.
  /// Set in the child's environment ("CUDA_VISIBLE_DEVICES=1"), beside what it inherits.
  std::vector<std::string> environment;
};

struct ChildOutcome {
  enum class Kind { Exited, Signalled, TimedOut, OutOfMemory, Stopped, SpawnFailed } kind = Kind::SpawnFailed;
  int code = 0; ///< Exit code, or the signal.
  int64_t peakRssBytes = 0;
  std::string message; ///< For SpawnFailed.
};

/// Runs argv[0] with argv; `onStart(pid)` is called once it runs; `stop()` is polled every 20 ms
/// and a true answer kills the child's process group (Stopped).
ChildOutcome runChild(const std::vector<std::string>& argv, const std::filesystem::path& logFile,
                      const ChildLimits& limits, const std::function<void(int)>& onStart,
                      const std::function<bool()>& stop);

/// A job's lock (DATA/jobs/ID/tiler.lock): held by the service while it runs the job's tiler
/// and by the tiler itself (pass fd() as ChildLimits::inheritFd), so it outlives a killed service
/// exactly as long as an orphaned tiler does; the file names the tiler's pid. When an earlier
/// run's tiler still holds it, that tiler's process group is killed and the lock awaited up to
/// `wait`: Unavailable when it stays held.
core::Result<PidLock> lockJob(const std::filesystem::path& file, std::chrono::milliseconds wait);

/// The last non-empty line of a text file (for error messages), at most 500 characters.
std::string lastLine(const std::filesystem::path& file);

} // namespace mx::service
