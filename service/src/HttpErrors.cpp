#include "HttpErrors.h"

#include <string>

namespace mx::service {

using core::ErrorCode;
using nlohmann::json;

ApiErrorSpec specOf(ApiError error) {
  switch (error) {
  case ApiError::BadRequest:
    return {400, "BadRequest"};
  case ApiError::InvalidHeader:
    return {400, "InvalidHeader"};
  case ApiError::Unauthorized:
    return {401, "Unauthorized"};
  case ApiError::InvalidSignature:
    return {403, "InvalidSignature"};
  case ApiError::LinkExpired:
    return {403, "LinkExpired"};
  case ApiError::ResourceNotFound:
    return {404, "ResourceNotFound"};
  case ApiError::ExportNotFound:
    return {404, "ExportNotFound"};
  case ApiError::IModelNotFound:
    return {404, "IModelNotFound"};
  case ApiError::FileNotFound:
    return {404, "FileNotFound"};
  case ApiError::MethodNotAllowed:
    return {405, "MethodNotAllowed"};
  case ApiError::IModelChangesetExists:
    return {409, "IModelChangesetExists"};
  case ApiError::LengthRequired:
    return {411, "LengthRequired"};
  case ApiError::PayloadTooLarge:
    return {413, "PayloadTooLarge"};
  case ApiError::InvalidMeshExportRequest:
    return {422, "InvalidMeshExportRequest"};
  case ApiError::InvalidIModel:
    return {422, "InvalidIModel"};
  case ApiError::RateLimitExceeded:
    return {429, "RateLimitExceeded"};
  case ApiError::InternalServerError:
    return {500, "InternalServerError"};
  case ApiError::ServiceUnavailable:
    return {503, "ServiceUnavailable"};
  case ApiError::InsufficientStorage:
    return {507, "InsufficientStorage"};
  }
  return {500, "InternalServerError"};
}

ApiError apiErrorOf(ErrorCode code) {
  switch (code) {
  case ErrorCode::StorageFull:
    return ApiError::InsufficientStorage;
  case ErrorCode::Unavailable:
    return ApiError::ServiceUnavailable;
  default:
    return ApiError::InternalServerError;
  }
}

void sendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Text from files and stores (iModel names, tiler messages) may not be UTF-8: replaced, never thrown.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void sendError(httplib::Response& res, ApiError error, std::string_view message,
               const std::vector<ErrorDetail>& details, std::string_view code) {
  const ApiErrorSpec spec = specOf(error);
  sendJson(res, spec.status, errorBody(code.empty() ? spec.code : code, message, details));
}

void sendStatusError(httplib::Response& res, const core::Status& s, std::string_view what) {
  const ApiError error = apiErrorOf(s.code());
  switch (error) {
  case ApiError::InsufficientStorage:
    return sendError(res, error, std::string(what) + " The server's storage is full.");
  case ApiError::ServiceUnavailable:
    res.set_header("Retry-After", "5");
    return sendError(res, error, std::string(what) + " The job store is busy; try again.");
  default:
    return sendError(res, error, std::string(what) + " The server failed to store the change.");
  }
}

void payloadTooLarge(httplib::Response& res, int64_t limit) {
  res.set_header("Connection", "close"); // the rest of the body is not read
  sendError(res, ApiError::PayloadTooLarge,
            "The request body is larger than this server accepts (" + std::to_string(limit) + " bytes).");
}

} // namespace mx::service
