#include "HttpErrors.h"
#include "Routes.h"

#include <mx/io/ImdlWriter.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace mx::service {

using core::Status;
using nlohmann::json;

namespace {

std::string urlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~' || c == '$' || c == ':')
      out += c;
    else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

/// Reads a body through the content reader, at most `limit` bytes.
bool readBody(const httplib::Request& req, const httplib::ContentReader& reader, int64_t limit, std::string& body) {
  if (!req.is_multipart_form_data()) {
    bool over = false;
    reader([&](const char* data, size_t len) {
      if (int64_t(body.size() + len) > limit) {
        over = true;
        return false;
      }
      body.append(data, len);
      return true;
    });
    return !over;
  }
  return false;
}

} // namespace

std::string Routes::meshLink(const ExportRecord& r, bool cdn) const {
  const int64_t expires = unixNow() + config.linkLifetimeSeconds;
  const std::string& root = cdn && !config.cdnUrl.empty() ? config.cdnUrl : base;
  return root + "/tiles/" + r.id + "?exp=" + std::to_string(expires) + "&sig=" + signMeshLink(secret, r.id, expires);
}

json Routes::exportJson(const ExportRecord& r, bool full, bool cdn) const {
  json e = {{"id", r.id},
            {"displayName", r.displayName},
            {"status", toString(r.status)},
            {"lastModified", formatUtc(r.modifiedMs)}};
  if (!full) return e;
  json req = {{"iModelId", r.iModelId},
              {"changesetId", r.changesetId},
              {"changesetIndex", std::to_string(r.changesetIndex)},
              {"exportType", r.exportType}};
  if (!r.iTwinId.empty()) { // omitted when unknown (an iModel registered without one)
    req["iTwinId"] = r.iTwinId;
    req["contextId"] = r.iTwinId;
  }
  if (!r.tilerConfig.empty()) {
    json cfg = json::parse(r.tilerConfig, nullptr, false);
    if (!cfg.is_discarded()) req["tilerConfig"] = std::move(cfg);
  }
  e["request"] = std::move(req);
  if (!r.stats.empty()) {
    json s = json::parse(r.stats, nullptr, false);
    if (!s.is_discarded()) e["stats"] = std::move(s);
  }
  if (!r.error.empty()) e["error"] = redactPaths(r.error);
  if (r.status == ExportStatus::Complete) e["_links"] = {{"mesh", {{"href", meshLink(r, cdn)}}}};
  return e;
}

std::optional<Principal> Routes::authorize(const httplib::Request& req, httplib::Response& res, Access access) {
  Principal who;
  AuthFailure why;
  if (!auth.authenticate(req.get_header_value("Authorization"), access, unixNow(), who, why)) {
    if (why.code == "HeaderNotFound")
      sendError(res, ApiError::Unauthorized, why.message, {}, why.code);
    else
      sendError(res, ApiError::Unauthorized, why.message, {{why.code, why.message, "Authorization"}}, why.code);
    res.set_header("WWW-Authenticate", "Bearer");
    return std::nullopt;
  }
  if (const int64_t wait = limiter.take(who.subject); wait > 0) {
    res.set_header("Retry-After", std::to_string(wait));
    sendError(res, ApiError::RateLimitExceeded,
              "The client sent more requests than allowed by this API for the current tier of the client.");
    return std::nullopt;
  }
  return who;
}

void Routes::startExport(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
  // Who first: a body is read only for a caller who may send it, and only up to its limit.
  auto who = authorize(req, res, Access::Modify);
  if (!who) return;
  if (declaredLength(req) > config.maxRequestBytes) return payloadTooLarge(res, config.maxRequestBytes);
  std::string body;
  if (!readBody(req, reader, config.maxRequestBytes, body)) return payloadTooLarge(res, config.maxRequestBytes);
  StartRequest sr;
  auto details = parseStartExport(body, sr);
  if (!details.empty()) {
    sendError(res, ApiError::InvalidMeshExportRequest, "Cannot create export job.", details);
    return;
  }
  auto model = imodels.find(sr.iModelId, sr.changesetId, ImodelStore::ownerKey(who->subject));
  if (!model) {
    sendError(res, ApiError::IModelNotFound, "Requested iModel is not available.",
              sr.changesetId.empty() || !imodels.knows(sr.iModelId, ImodelStore::ownerKey(who->subject))
                  ? std::vector<ErrorDetail>{}
                  : std::vector<ErrorDetail>{{"ChangesetNotFound",
                                              "Changeset " + sr.changesetId + " of this iModel is not available.",
                                              "changesetId"}});
    return;
  }
  auto created = jobs.create(who->subject, *model, sr);
  if (!created) {
    spdlog::error("cannot create an export: {}", created.status().message());
    return sendStatusError(res, created.status(), "Cannot create export job.");
  }
  res.set_header("Location", base + "/mesh-export/" + created->record.id);
  sendJson(res, 202, {{"export", exportJson(created->record, true, false)}});
}

void Routes::listExports(const httplib::Request& req, httplib::Response& res) {
  auto who = authorize(req, res, Access::Read);
  if (!who) return;
  std::vector<ErrorDetail> details;
  auto intParam = [&](const char* name, int64_t def, int64_t lo, int64_t hi) {
    if (!req.has_param(name)) return def;
    const std::string v = req.get_param_value(name);
    int64_t x = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size() || x < lo || x > hi) {
      details.push_back({"InvalidParameter",
                         std::string(name) + " must be an integer from " + std::to_string(lo) +
                             (hi < INT64_MAX ? " to " + std::to_string(hi) : std::string(" up")) + ".",
                         name});
      return def;
    }
    return x;
  };
  ExportQuery q;
  q.subject = who->subject;
  q.top = intParam("$top", 100, 1, 1000);
  q.skip = intParam("$skip", 0, 0, INT64_MAX / 2);
  if (req.has_param("$orderBy")) {
    std::string o = req.get_param_value("$orderBy");
    for (auto& c : o) c = char(std::tolower(static_cast<unsigned char>(c)));
    o.erase(std::remove(o.begin(), o.end(), ' '), o.end());
    if (o == "date:asc" || o == "date")
      q.order = ExportQuery::Order::DateAsc;
    else if (o == "date:desc")
      q.order = ExportQuery::Order::DateDesc;
    else
      details.push_back({"InvalidParameter", "$orderBy must be date:asc or date:desc.", "$orderBy"});
  }
  // frontend-tiles sends its newest readable iMdl major: never list an IMODEL export it cannot read.
  if (req.has_param("tileVersion")) q.maxTileMajor = intParam("tileVersion", -1, 0, 65535);
  q.iModelId = lowerAscii(req.get_param_value("iModelId"));
  q.changesetId = lowerAscii(req.get_param_value("changesetId"));
  const std::string type = req.get_param_value("exportType");
  if (!type.empty()) {
    auto c = exportTypeClass(type, true);
    if (!c)
      details.push_back(
          {"InvalidParameter", "exportType must be one of IMODEL, CESIUM, 3DTILES, 3DTiles.", "exportType"});
    else
      q.typeClass = *c;
  }
  if (!details.empty()) {
    sendError(res, ApiError::InvalidMeshExportRequest, "Cannot list exports.", details);
    return;
  }
  int64_t total = 0;
  const auto rows = jobs.list(q, total);
  if (rows.empty() && store.lastCallUnreachable()) return storeUnreachable(res);
  std::vector<std::string> prefer;
  for (size_t i = 0; i < req.get_header_value_count("Prefer"); ++i) prefer.push_back(req.get_header_value("Prefer", i));
  const bool full = prefersRepresentation(prefer);
  const bool cdn = req.get_param_value("cdn") == "1";
  json items = json::array();
  for (const auto& r : rows) items.push_back(exportJson(r, full, cdn));

  std::string root = req.get_header_value("x-api-host-and-root");
  while (!root.empty() && root.back() == '/') root.pop_back();
  if (root.empty())
    root = base;
  else if (root.find("://") == std::string::npos)
    root = "https://" + root;
  auto pageLink = [&](int64_t skip) {
    std::string url = root + "/mesh-export/?";
    for (const auto& [k, v] : req.params)
      if (k != "$top" && k != "$skip") url += urlEncode(k) + "=" + urlEncode(v) + "&";
    return json{{"href", url + "$top=" + std::to_string(q.top) + "&$skip=" + std::to_string(skip)}};
  };
  json links = {{"self", pageLink(q.skip)}};
  if (q.skip + q.top < total) links["next"] = pageLink(q.skip + q.top);
  if (q.skip > 0) links["prev"] = pageLink(std::max<int64_t>(0, q.skip - q.top));
  sendJson(res, 200, {{"exports", std::move(items)}, {"_links", std::move(links)}});
}

void Routes::storeUnreachable(httplib::Response& res) {
  res.set_header("Retry-After", "5");
  sendError(res, ApiError::ServiceUnavailable, "The job store cannot be reached; try again shortly.");
}

void Routes::getExport(const httplib::Request& req, httplib::Response& res) {
  auto who = authorize(req, res, Access::Read);
  if (!who) return;
  auto r = jobs.visible(lowerAscii(req.matches[1].str()), who->subject);
  if (!r && store.lastCallUnreachable()) return storeUnreachable(res);
  if (!r) return sendError(res, ApiError::ExportNotFound, "Requested export is not available.");
  sendJson(res, 200, {{"export", exportJson(*r, true, req.get_param_value("cdn") == "1")}});
}

void Routes::deleteExport(const httplib::Request& req, httplib::Response& res) {
  auto who = authorize(req, res, Access::Modify);
  if (!who) return;
  auto r = jobs.visible(lowerAscii(req.matches[1].str()), who->subject);
  if (!r && store.lastCallUnreachable()) return storeUnreachable(res);
  if (!r) return sendError(res, ApiError::ExportNotFound, "Requested export is not available.");
  if (Status s = jobs.remove(r->id); !s) {
    spdlog::error("DELETE of export {} failed, nothing changed: {}", r->id, s.message());
    return sendStatusError(res, s, "The export was not deleted.");
  }
  spdlog::info("export {} deleted by {}", r->id, who->subject);
  res.status = 204;
}

} // namespace mx::service
