#pragma once
// The request and response shapes of the Mesh Export API: StartExport validation (the seed's
// JSON schema, plus tilerConfig keys the tiler knows) and the Export JSON.
#include <mx/service/JobStore.h>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mx::service {

struct ErrorDetail {
  std::string code, message, target;
};

struct StartRequest {
  std::string iModelId;
  std::string changesetId;            ///< "" = latest.
  std::string exportType = "3DTiles"; ///< As sent.
  std::string typeClass = "3DTILES";
  std::optional<nlohmann::json> tilerConfig;                   ///< The array as sent.
  std::vector<std::pair<std::string, std::string>> tilerPairs; ///< key → value text for the tiler.
};

/// Validates a POST body; every problem becomes one detail (code InvalidRequestBody).
std::vector<ErrorDetail> parseStartExport(std::string_view body, StartRequest& out);

/// "IMODEL", "CESIUM", "3DTILES" for the four accepted spellings (case-insensitive for list
/// filters when `lenient`); nullopt otherwise.
std::optional<std::string> exportTypeClass(std::string_view type, bool lenient);

/// Ids are case-insensitive (GUIDs and changeset hashes in any case name the same thing): the
/// lower-case form every lookup uses.
std::string lowerAscii(std::string_view text);

/// Whether the Prefer header values ask for `return=representation` (RFC 7240: comma-separated
/// preferences, names and this token compared case-insensitively, optional whitespace, quoted
/// values and parameters after ';').
bool prefersRepresentation(const std::vector<std::string>& preferHeaders);

/// A message fit for a response body: every absolute path in it ("/srv/data/imodels/x.bim")
/// becomes its last component ("x.bim"). Server paths belong in logs only.
std::string redactPaths(std::string_view message);

/// Whether an `x-api-host-and-root` header is a plain [scheme://]host[:port][/path] in printable
/// ASCII (no spaces, quotes, angle brackets, control or non-ASCII bytes).
bool validHostAndRoot(std::string_view value);

/// { "error": { code, message, [target], [details] } }.
nlohmann::json errorBody(std::string_view code, std::string_view message, const std::vector<ErrorDetail>& details = {});

} // namespace mx::service
