#pragma once
// Every error the API sends, in one table: the HTTP status and the error code of the body
// { "error": { code, message, [details] } } (Api.h errorBody). Routes name an ApiError and a
// message; failures of the server's own storage (core::Status) map through apiErrorOf() and never
// carry their internal message (it names paths).
#include "Api.h"

#include <mx/core/Status.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <string_view>
#include <vector>

namespace mx::service {

enum class ApiError {
  BadRequest,               ///< 400
  InvalidHeader,            ///< 400
  Unauthorized,             ///< 401, code from the authenticator (HeaderNotFound, InvalidToken, ...)
  InvalidSignature,         ///< 403
  LinkExpired,              ///< 403
  ResourceNotFound,         ///< 404, no such route
  ExportNotFound,           ///< 404
  IModelNotFound,           ///< 404
  FileNotFound,             ///< 404
  MethodNotAllowed,         ///< 405
  IModelChangesetExists,    ///< 409
  LengthRequired,           ///< 411
  PayloadTooLarge,          ///< 413
  InvalidMeshExportRequest, ///< 422
  InvalidIModel,            ///< 422
  RateLimitExceeded,        ///< 429 (+ Retry-After)
  InternalServerError,      ///< 500
  ServiceUnavailable,       ///< 503 (+ Retry-After)
  InsufficientStorage,      ///< 507
};

struct ApiErrorSpec {
  int status;
  std::string_view code;
};

/// The status and code of an ApiError.
ApiErrorSpec specOf(ApiError error);

/// Which ApiError a failure of the server's own storage is: StorageFull → InsufficientStorage,
/// Unavailable → ServiceUnavailable, anything else → InternalServerError.
ApiError apiErrorOf(core::ErrorCode code);

void sendJson(httplib::Response& res, int status, const nlohmann::json& body);

/// The error's status and body; `code` replaces the table's code (Unauthorized only).
void sendError(httplib::Response& res, ApiError error, std::string_view message,
               const std::vector<ErrorDetail>& details = {}, std::string_view code = {});

/// A storage failure as a response: `what` and the condition, never the internal message.
/// ServiceUnavailable comes with Retry-After.
void sendStatusError(httplib::Response& res, const core::Status& s, std::string_view what);

/// 413 for a body over `limit` bytes; the connection closes (the rest of the body is not read).
void payloadTooLarge(httplib::Response& res, int64_t limit);

} // namespace mx::service
