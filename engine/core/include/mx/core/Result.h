#pragma once
// Result<T>: a value or a Status, plus warnings that do not stop the operation (cesium-native's
// shape; std::expected is not available under C++20 with g++ 12).
#include <mx/core/Status.h>

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mx::core {

template <typename T> class Result {
public:
  Result(T value) : _value(std::move(value)) {}                                   // NOLINT: implicit by design
  Result(Status status) : _status(std::move(status)) { assert(!_status.isOk()); } // NOLINT

  [[nodiscard]] bool isOk() const noexcept { return _value.has_value(); }
  explicit operator bool() const noexcept { return isOk(); }
  [[nodiscard]] const Status& status() const noexcept { return _status; }

  /// The value; only valid when isOk().
  T& value() & {
    assert(isOk());
    return *_value;
  }
  const T& value() const& {
    assert(isOk());
    return *_value;
  }
  T&& value() && {
    assert(isOk());
    return std::move(*_value);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  std::vector<std::string>& warnings() noexcept { return _warnings; }
  const std::vector<std::string>& warnings() const noexcept { return _warnings; }

private:
  std::optional<T> _value;
  Status _status;
  std::vector<std::string> _warnings;
};

} // namespace mx::core

/// Declares `lhs` from a Result-returning expression, or returns its Status from the function.
#define MX_ASSIGN_OR_RETURN(lhs, expr)                                                                                 \
  auto MX_CONCAT_(mx_result_, __LINE__) = (expr);                                                                      \
  if (!MX_CONCAT_(mx_result_, __LINE__).isOk()) return MX_CONCAT_(mx_result_, __LINE__).status();                      \
  lhs = std::move(MX_CONCAT_(mx_result_, __LINE__)).value()
#define MX_CONCAT_INNER_(a, b) a##b
#define MX_CONCAT_(a, b) MX_CONCAT_INNER_(a, b)
