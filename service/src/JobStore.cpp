#include <mx/service/JobStore.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace mx::service {

int64_t JobStore::nowMs() {
  static std::atomic<int64_t> last{0};
  int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  int64_t prev = last.load();
  while (true) {
    const int64_t next = now > prev ? now : prev + 1;
    if (last.compare_exchange_weak(prev, next)) return next;
  }
}

std::string toString(ExportStatus status) {
  switch (status) {
  case ExportStatus::NotStarted:
    return "NotStarted";
  case ExportStatus::InProgress:
    return "InProgress";
  case ExportStatus::Complete:
    return "Complete";
  case ExportStatus::Invalid:
    return "Invalid";
  }
  return "Invalid";
}

std::optional<ExportStatus> parseExportStatus(std::string_view name) {
  for (ExportStatus s :
       {ExportStatus::NotStarted, ExportStatus::InProgress, ExportStatus::Complete, ExportStatus::Invalid})
    if (name == toString(s)) return s;
  return std::nullopt;
}

std::string formatUtc(int64_t unixMs) {
  const std::time_t t = std::time_t(unixMs / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

} // namespace mx::service
