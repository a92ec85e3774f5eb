#pragma once
// The HTTP side of the service: routes that parse requests and format responses, nothing more.
// The rules live in JobService; errors go out through one table (HttpErrors.h).
//   Routes.cpp        installs the handlers: framing checks before routing (411, 413 for bodies
//                     where none is taken, the x-api-host-and-root header), CORS, the error and
//                     exception handlers, the access log and request metrics, /healthz, /metrics
//   ExportRoutes.cpp  POST/GET /mesh-export/, GET/DELETE /mesh-export/{id}: authentication and
//                     rate limit, query parameters, the Export JSON with its signed link
//   FileRoutes.cpp    GET /tiles/{id}/* (signed links, ETag, gzip, ranges); POST/GET /imodels
//   ViewerRoutes.cpp  GET / and /viewer/* (the web viewer's built files, with their CSP and
//                     caching); GET /config-keys (the tilerConfig keys, for the viewer's form)
#include "HttpServer.h"
#include "JobService.h"
#include "RateLimiter.h"
#include "ServiceMetrics.h"

#include <mx/service/Auth.h>
#include <mx/service/Config.h>
#include <mx/service/ImodelStore.h>
#include <mx/service/JobStore.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace mx::service {

struct Routes {
  const ServiceConfig& config;
  JobService& jobs;
  JobStore& store;
  ImodelStore& imodels;
  Authenticator& auth;
  RateLimiter& limiter;
  ServiceMetrics& metrics;
  const std::string& secret;
  const std::string& base;        ///< The public URL; set once the server is bound.
  const std::vector<Slot>& slots; ///< This node's tiler slots.
  JobLeases* leases;              ///< The fleet's store (nullptr on one node).

  void install(HttpServer& http);
  void installRoutes(HttpServer& http);
  /// /healthz: this node's role, slots and what they run; the queue (a fleet's: all of it).
  [[nodiscard]] nlohmann::json health();
  void serveMetrics(HttpServer& http, httplib::Response& res);

  // ExportRoutes.cpp
  /// Authenticates and rate-limits; on failure the response is written and nullopt returned.
  std::optional<Principal> authorize(const httplib::Request& req, httplib::Response& res, Access access);
  void startExport(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
  void listExports(const httplib::Request& req, httplib::Response& res);
  void getExport(const httplib::Request& req, httplib::Response& res);
  void deleteExport(const httplib::Request& req, httplib::Response& res);
  /// 503 with Retry-After: the shared store is away (a restart, a fail-over).
  static void storeUnreachable(httplib::Response& res);
  [[nodiscard]] nlohmann::json exportJson(const ExportRecord& r, bool full, bool cdn) const;
  [[nodiscard]] std::string meshLink(const ExportRecord& r, bool cdn) const;

  // FileRoutes.cpp
  void serveTile(const httplib::Request& req, httplib::Response& res);
  void uploadImodel(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader);
  void listImodels(const httplib::Request& req, httplib::Response& res);
  /// Where a subject's uploads go: its own scope, or the shared one when the operator says so.
  [[nodiscard]] std::string uploadScope(const Principal& who) const;

  // ViewerRoutes.cpp
  /// A file of the built viewer (matches[1]: its path below viewerDir; empty = index.html).
  void serveViewer(const httplib::Request& req, httplib::Response& res);
  void serveConfigKeys(const httplib::Request& req, httplib::Response& res);
};

/// The tilerConfig keys (the table `meshexport config-keys` prints), with each key's `allowed`
/// text also as `values` (enum and boolean words) and `ranges` ([lo, hi] pairs; a lone number is
/// [n, n]), and `aliasOf` for a second name of a key.
nlohmann::json tilerKeysJson();

/// Unix seconds now.
int64_t unixNow();

/// Content-Length as sent (-1 when absent or chunked).
int64_t declaredLength(const httplib::Request& req);

} // namespace mx::service
