#include "Routes.h"
#include "HttpErrors.h"

#include <mx/service/PostgresJobStore.h>

#include <spdlog/spdlog.h>

#include <charconv>
#include <chrono>
#include <sstream>

namespace mx::service {

using nlohmann::json;

namespace {

std::string routeOf(const std::string& path) {
  if (path == "/mesh-export" || path == "/mesh-export/") return "/mesh-export/";
  if (path.rfind("/mesh-export/", 0) == 0) return "/mesh-export/{id}";
  if (path.rfind("/tiles/", 0) == 0) return "/tiles/{id}/*";
  if (path == "/imodels" || path == "/imodels/") return "/imodels";
  if (path == "/healthz" || path == "/metrics" || path == "/config-keys") return path;
  if (path == "/" || path == "/viewer" || path.rfind("/viewer/", 0) == 0) return "/viewer/*";
  return "other";
}

thread_local std::chrono::steady_clock::time_point tRequestStart;

/// The methods a known path answers (the Allow header of a 405); "" for a path no route serves.
std::string allowedMethods(const std::string& path) {
  const std::string route = routeOf(path);
  if (route == "/mesh-export/" || route == "/imodels") return "GET, HEAD, POST, OPTIONS";
  if (route == "/mesh-export/{id}") {
    // One segment after /mesh-export/ (an optional trailing slash): deeper paths are unknown.
    const std::string rest = path.substr(std::string("/mesh-export/").size());
    const size_t slash = rest.find('/');
    return slash == std::string::npos || slash + 1 == rest.size() ? "GET, HEAD, DELETE, OPTIONS" : "";
  }
  if (route == "/tiles/{id}/*") return path.find('/', 7) != std::string::npos ? "GET, HEAD, OPTIONS" : "";
  if (route == "/healthz" || route == "/metrics" || route == "/config-keys" || route == "/viewer/*")
    return "GET, HEAD, OPTIONS";
  return "";
}

/// Before routing: a body needs a length; only the two uploads take one (any other is refused
/// before it is read: cpp-httplib would read it whole, unauthenticated); x-api-host-and-root must
/// be a plain host and path.
httplib::Server::HandlerResponse checkFraming(const httplib::Request& req, httplib::Response& res) {
  tRequestStart = std::chrono::steady_clock::now();
  // A known path with a method it does not answer: 405 with Allow, before any body is read.
  if (const std::string allow = allowedMethods(req.path);
      !allow.empty() && (", " + allow + ",").find(", " + req.method + ",") == std::string::npos) {
    res.set_header("Allow", allow);
    if (req.has_header("Transfer-Encoding") || declaredLength(req) > 0) res.set_header("Connection", "close");
    sendError(res, ApiError::MethodNotAllowed,
              req.method + " is not allowed on " + req.path + " (allowed: " + allow + ").");
    return httplib::Server::HandlerResponse::Handled;
  }
  // A body of unknown length would be read until the client closes: ask for a length instead.
  if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") && !req.has_header("Content-Length") &&
      !req.has_header("Transfer-Encoding")) {
    res.set_header("Connection", "close");
    sendError(res, ApiError::LengthRequired, "A request body needs a Content-Length (or chunked Transfer-Encoding).");
    return httplib::Server::HandlerResponse::Handled;
  }
  // Only the two uploads take a body; any other request that brings one is refused before it
  // is read (cpp-httplib would read it whole, unauthenticated, before routing).
  const bool takesBody = req.method == "POST" && (req.path == "/mesh-export" || req.path == "/mesh-export/" ||
                                                  req.path == "/imodels" || req.path == "/imodels/");
  if (!takesBody && (req.has_header("Transfer-Encoding") || declaredLength(req) > 0)) {
    res.set_header("Connection", "close");
    sendError(res, ApiError::PayloadTooLarge, "This request takes no body.");
    return httplib::Server::HandlerResponse::Handled;
  }
  if (req.has_header("x-api-host-and-root") && !validHostAndRoot(req.get_header_value("x-api-host-and-root"))) {
    sendError(res, ApiError::InvalidHeader, "The x-api-host-and-root header is not a valid host and path.",
              {{"InvalidHeader", "Expected [scheme://]host[:port][/path] in printable ASCII.", "x-api-host-and-root"}});
    return httplib::Server::HandlerResponse::Handled;
  }
  return httplib::Server::HandlerResponse::Unhandled;
}

/// A status httplib set itself (no route, bad request, body too large) as a JSON error.
void answerUnhandled(const httplib::Request&, httplib::Response& res) {
  if (!res.body.empty()) return;
  if (res.status == 404)
    sendError(res, ApiError::ResourceNotFound,
              "The requested resource was not found. Verify the API URL and the Accept header.",
              {{"OperationNotFound", "No such operation.", ""}});
  else if (res.status == 413)
    sendError(res, ApiError::PayloadTooLarge, "The request body is too large.");
  else if (res.status == 400)
    sendError(res, ApiError::BadRequest, "The request is malformed.");
  else if (res.status == 405)
    sendError(res, ApiError::MethodNotAllowed, "This method is not allowed on this resource.");
  else if (res.status >= 400)
    sendJson(res, res.status, errorBody("Error", "The request failed with status " + std::to_string(res.status) + "."));
}

} // namespace

int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

int64_t declaredLength(const httplib::Request& req) {
  if (!req.has_header("Content-Length")) return -1;
  const std::string v = req.get_header_value("Content-Length");
  int64_t n = -1;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  return ec == std::errc() && p == v.data() + v.size() ? n : -1;
}

void Routes::install(HttpServer& http) {
  http.set_pre_routing_handler(checkFraming);
  http.set_post_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    const std::string origin = req.get_header_value("Origin");
    res.set_header("Access-Control-Allow-Origin", origin.empty() ? "*" : origin);
    if (!origin.empty()) res.set_header("Vary", "Origin");
    res.set_header("Access-Control-Expose-Headers", "Retry-After, ETag, Location, Content-Range, Content-Length");
  });
  http.set_error_handler(answerUnhandled);
  http.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("{} {}: internal error: {}", req.method, req.path, what);
    sendError(res, ApiError::InternalServerError, "The server failed to handle the request.");
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - tRequestStart).count();
    const std::string route = routeOf(req.path);
    metrics.request(route, req.method, res.status, seconds);
    // The path only: link signatures stay out of logs.
    spdlog::info("{} {} {} {} {:.1f} ms", req.remote_addr, req.method, req.path, res.status, seconds * 1e3);
  });
  installRoutes(http);
}

void Routes::installRoutes(HttpServer& http) {
  http.Options(R"(.*)", [](const httplib::Request& req, httplib::Response& res) {
    res.status = 204;
    res.set_header("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE, OPTIONS");
    const std::string asked = req.get_header_value("Access-Control-Request-Headers");
    res.set_header("Access-Control-Allow-Headers",
                   asked.empty() ? "Authorization, Accept, Prefer, Content-Type, SessionId, x-api-host-and-root"
                                 : asked);
    res.set_header("Access-Control-Max-Age", "600");
  });
  if (config.role == "worker") { // a worker answers its health and metrics only
    http.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) { sendJson(res, 200, health()); });
    http.Get("/metrics", [this, &http](const httplib::Request&, httplib::Response& res) { serveMetrics(http, res); });
    return;
  }
  http.Post(R"(/mesh-export/?)", [this](const httplib::Request& req, httplib::Response& res,
                                        const httplib::ContentReader& reader) { startExport(req, res, reader); });
  http.Get(R"(/mesh-export/?)", [this](const httplib::Request& req, httplib::Response& res) { listExports(req, res); });
  http.Get(R"(/mesh-export/([^/]+)/?)",
           [this](const httplib::Request& req, httplib::Response& res) { getExport(req, res); });
  http.Delete(R"(/mesh-export/([^/]+)/?)",
              [this](const httplib::Request& req, httplib::Response& res) { deleteExport(req, res); });
  http.Get(R"(/tiles/([^/]+)/(.*))",
           [this](const httplib::Request& req, httplib::Response& res) { serveTile(req, res); });
  http.Post(R"(/imodels/?)", [this](const httplib::Request& req, httplib::Response& res,
                                    const httplib::ContentReader& reader) { uploadImodel(req, res, reader); });
  http.Get(R"(/imodels/?)", [this](const httplib::Request& req, httplib::Response& res) { listImodels(req, res); });
  http.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) { sendJson(res, 200, health()); });
  http.Get("/metrics", [this, &http](const httplib::Request&, httplib::Response& res) { serveMetrics(http, res); });
  http.Get("/config-keys", [this](const httplib::Request& req, httplib::Response& res) { serveConfigKeys(req, res); });
  // The web viewer. Redirects are relative, so that they hold behind a publicUrl path prefix.
  http.Get("/", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("viewer/", 302); });
  http.Get("/viewer", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("viewer/", 302); });
  http.Get(R"(/viewer/(.*))", [this](const httplib::Request& req, httplib::Response& res) { serveViewer(req, res); });
}

nlohmann::json Routes::health() {
  const int64_t queued = jobs.queued();
  nlohmann::json slotList = nlohmann::json::array(), gpus = nlohmann::json::array();
  const auto busy = jobs.slotsBusy();
  if (config.role != "api")
    for (const Slot& s : slots) {
      const auto it = busy.find(s.name());
      slotList.push_back({{"slot", s.name()},
                          {"kind", s.kind == SlotKind::Gpu ? "gpu" : "cpu"},
                          {"export", it == busy.end() ? nlohmann::json(nullptr) : nlohmann::json(it->second)}});
      if (s.kind == SlotKind::Gpu) gpus.push_back(s.gpu);
    }
  nlohmann::json h = {
      {"status", queued < 0 ? "degraded" : "ok"},           {"node", config.nodeName}, {"role", config.role},
      {"store", leases ? "postgresql" : "sqlite"},          {"queued", queued},        {"running", jobs.active()},
      {"workers", config.role == "api" ? 0 : slots.size()}, {"slots", slotList},       {"gpus", gpus}};
  if (leases) {
    nlohmann::json nodes = nlohmann::json::array();
    for (const NodeState& n : leases->nodes(PostgresJobStore::kNodeAliveMs))
      nodes.push_back({{"node", n.name},
                       {"role", n.role},
                       {"gpus", n.gpus},
                       {"gpuSlots", n.gpuSlots},
                       {"cpuSlots", n.cpuSlots},
                       {"running", n.gpuBusy + n.cpuBusy}});
    h["fleet"] = {{"queued", queued}, {"nodes", nodes}};
  }
  return h;
}

void Routes::serveMetrics(HttpServer& http, httplib::Response& res) {
  const int64_t queued = jobs.queued();
  const size_t active = jobs.active();
  std::ostringstream conn;
  const auto& refused = http.refusals();
  conn << "# HELP meshexport_http_connections Open HTTP connections.\n# TYPE meshexport_http_connections gauge\n"
       << "meshexport_http_connections " << http.connections() << "\n"
       << "# HELP meshexport_http_connections_refused_total Connections the server answered itself and closed, by "
          "reason.\n"
       << "# TYPE meshexport_http_connections_refused_total counter\n";
  for (const auto& [reason, n] : {std::pair{"too_many_connections", refused.tooMany.load()},
                                  std::pair{"header_timeout", refused.headerTimeout.load()},
                                  std::pair{"headers_too_large", refused.headersTooLarge.load()},
                                  std::pair{"bad_framing", refused.badFraming.load()}})
    conn << "meshexport_http_connections_refused_total{reason=\"" << reason << "\"} " << n << "\n";
  size_t gpuSlots = 0, cpuSlots = 0;
  if (config.role != "api")
    for (const Slot& s : slots) ++(s.kind == SlotKind::Gpu ? gpuSlots : cpuSlots);
  conn << "# HELP meshexport_slots Tiler slots of this node, by kind.\n# TYPE meshexport_slots gauge\n"
       << "meshexport_slots{kind=\"gpu\"} " << gpuSlots << "\nmeshexport_slots{kind=\"cpu\"} " << cpuSlots << "\n"
       << "# HELP meshexport_slots_busy Tiler slots of this node running an export, by kind.\n"
       << "# TYPE meshexport_slots_busy gauge\n"
       << "meshexport_slots_busy{kind=\"gpu\"} " << jobs.busy(SlotKind::Gpu) << "\nmeshexport_slots_busy{kind=\"cpu\"} "
       << jobs.busy(SlotKind::Cpu) << "\n"
       << "# HELP meshexport_leases_expired_total Exports this node found with an expired lease (re-queued or "
          "Invalid).\n# TYPE meshexport_leases_expired_total counter\n"
       << "meshexport_leases_expired_total " << jobs.leasesExpired() << "\n";
  conn << "# HELP meshexport_exports_evicted_total Exports removed by retention (keepPerImodel).\n"
       << "# TYPE meshexport_exports_evicted_total counter\n"
       << "meshexport_exports_evicted_total " << jobs.evictions() << "\n";
  res.set_content(metrics.render(store.countsByStatus(), queued, active) + conn.str(), "text/plain; version=0.0.4");
}

} // namespace mx::service
