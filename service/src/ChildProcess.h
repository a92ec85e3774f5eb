#pragma once
// Running the tiler as a child process: posix_spawn into its own process group with stdout and
// stderr in a log file, watched for time, memory and cancellation.
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
  int64_t memoryBytes = 0;  ///< Peak resident set of the child; 0 = none.
};

struct ChildOutcome {
  enum class Kind { Exited, Signalled, TimedOut, OutOfMemory, Stopped, SpawnFailed } kind = Kind::SpawnFailed;
  int code = 0;             ///< Exit code, or the signal.
  int64_t peakRssBytes = 0;
  std::string message;      ///< For SpawnFailed.
};

/// Runs argv[0] with argv; `onStart(pid)` is called once it runs; `stop()` is polled every 20 ms
/// and a true answer kills the child's process group (Stopped).
ChildOutcome runChild(const std::vector<std::string>& argv, const std::filesystem::path& logFile, const ChildLimits& limits,
                      const std::function<void(int)>& onStart, const std::function<bool()>& stop);

/// The last non-empty line of a text file (for error messages), at most 500 characters.
std::string lastLine(const std::filesystem::path& file);

} // namespace mx::service
