#pragma once
// Errors as values. Every failure the engine, readers and writers can report has its own code;
// the service maps codes to HTTP once (service/), the CLI maps them to exit codes.
#include <string>
#include <string_view>
#include <utility>

namespace mx::core {

enum class ErrorCode {
  Ok = 0,
  InvalidArgument,   ///< A caller passed something the API does not accept (bad config value).
  UnknownConfigKey,  ///< A tilerConfig key the tiler does not know.
  MalformedInput,    ///< The input file is not what it claims to be (truncated, out-of-range, NaN).
  UnsupportedInput,  ///< Valid input using a feature we do not implement (e.g. sparse accessors).
  IoError,           ///< Reading or writing a file failed.
  DeviceUnavailable, ///< The requested compute device is absent (no GPU, no driver).
  DeviceError,       ///< A device call failed; the stage may be retried on the CPU.
  OutOfMemory,       ///< An allocation or a configured memory budget was exceeded.
  ValidationFailed,  ///< The written output did not pass the tileset validator.
  Cancelled,         ///< The caller's CancelToken was triggered.
  StorageFull,       ///< A write failed because the disk (or a quota) is full.
  Unavailable,       ///< A shared resource is busy or locked; the same call may succeed later.
  DataLoss,          ///< Stored state is damaged or cannot be accounted for; an operator must look.
  AlreadyExists,     ///< The thing to create exists already, with other content.
  Internal,          ///< A bug: an invariant did not hold.
};

/// Stable lowercase name of a code ("malformed-input"), used in logs, metrics and JSON.
std::string_view toString(ErrorCode code) noexcept;

/// The outcome of an operation that returns no value.
class Status {
public:
  Status() = default;
  Status(ErrorCode code, std::string message) : _code(code), _message(std::move(message)) {}

  static Status ok() { return {}; }

  [[nodiscard]] bool isOk() const noexcept { return _code == ErrorCode::Ok; }
  explicit operator bool() const noexcept { return isOk(); }
  [[nodiscard]] ErrorCode code() const noexcept { return _code; }
  [[nodiscard]] const std::string& message() const noexcept { return _message; }

  /// Prefixes the message with context ("reading nodes[3]: …") and returns *this.
  Status& withContext(std::string_view context);
  /// "malformed-input: message".
  [[nodiscard]] std::string toString() const;

private:
  ErrorCode _code = ErrorCode::Ok;
  std::string _message;
};

} // namespace mx::core

/// Returns the Status of `expr` from the enclosing function when it is not ok.
#define MX_RETURN_IF_ERROR(expr)                                                                                       \
  do {                                                                                                                 \
    ::mx::core::Status mx_status_ = (expr);                                                                            \
    if (!mx_status_.isOk()) return mx_status_;                                                                         \
  } while (false)
