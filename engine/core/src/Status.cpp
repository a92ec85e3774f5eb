#include <mx/core/IComputeBackend.h>
#include <mx/core/Status.h>

namespace mx::core {

std::string_view toString(ErrorCode code) noexcept {
  switch (code) {
  case ErrorCode::Ok:
    return "ok";
  case ErrorCode::InvalidArgument:
    return "invalid-argument";
  case ErrorCode::UnknownConfigKey:
    return "unknown-config-key";
  case ErrorCode::MalformedInput:
    return "malformed-input";
  case ErrorCode::UnsupportedInput:
    return "unsupported-input";
  case ErrorCode::IoError:
    return "io-error";
  case ErrorCode::DeviceUnavailable:
    return "device-unavailable";
  case ErrorCode::DeviceError:
    return "device-error";
  case ErrorCode::OutOfMemory:
    return "out-of-memory";
  case ErrorCode::ValidationFailed:
    return "validation-failed";
  case ErrorCode::Cancelled:
    return "cancelled";
  case ErrorCode::StorageFull:
    return "storage-full";
  case ErrorCode::Unavailable:
    return "unavailable";
  case ErrorCode::DataLoss:
    return "data-loss";
  case ErrorCode::AlreadyExists:
    return "already-exists";
  case ErrorCode::Internal:
    return "internal";
  }
  return "unknown";
}

Status& Status::withContext(std::string_view context) {
  if (!isOk()) _message = std::string(context) + ": " + _message;
  return *this;
}

std::string Status::toString() const {
  if (isOk()) return "ok";
  return std::string(mx::core::toString(_code)) + ": " + _message;
}

std::string_view toString(Stage stage) noexcept {
  switch (stage) {
  case Stage::Partition:
    return "partition";
  case Stage::Cluster:
    return "cluster";
  case Stage::Quantize:
    return "quantize";
  }
  return "unknown";
}

} // namespace mx::core
