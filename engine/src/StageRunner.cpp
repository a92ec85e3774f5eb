#include "StageRunner.h"

#include <algorithm>

namespace mx::engine {

namespace {
std::string join(const std::set<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}
} // namespace

void StageRunner::record(core::Stage stage, const BackendSet::Choice& choice) {
  std::lock_guard lock(_mutex);
  auto& rec = _records[stage];
  rec.backends.insert(std::string(choice.backend->name()));
  rec.reasons.insert(choice.reason);
}

void StageRunner::describe(core::Stage stage, core::StageMetrics& m) const {
  std::lock_guard lock(_mutex);
  auto it = _records.find(stage);
  if (it == _records.end()) return;
  m.backend = join(it->second.backends, "+");
  m.reason = join(it->second.reasons, "; ");
}

void StageRunner::recordDevice(core::StageMetrics& m, const core::DeviceMemoryStats& before) const {
  const core::DeviceMemoryStats now = device();
  m.kernelMs = now.kernelMs - before.kernelMs;
  m.copyMs = now.copyMs - before.copyMs;
}

BackendOptions backendOptions(const ExportOptions& options) {
  BackendOptions o;
  o.deviceMemoryBytes = uint64_t(options.config.deviceMemoryMB) << 20;
  o.deviceShare = std::max(1u, options.deviceShare);
  return o;
}

core::Status checkCancel(const ExportOptions& o) {
  if (o.cancel && o.cancel->isCancelled()) return {core::ErrorCode::Cancelled, "export cancelled"};
  return core::Status::ok();
}

void progress(const ExportOptions& o, std::string_view stage, double f) {
  if (o.progress) o.progress(stage, f);
}

} // namespace mx::engine
