#pragma once
#include <atomic>

namespace mx::core {

/// Checked between stages (and inside long loops); set from any thread to stop an export.
class CancelToken {
public:
  void cancel() noexcept { _cancelled.store(true, std::memory_order_relaxed); }
  [[nodiscard]] bool isCancelled() const noexcept { return _cancelled.load(std::memory_order_relaxed); }

private:
  std::atomic<bool> _cancelled{false};
};

} // namespace mx::core
