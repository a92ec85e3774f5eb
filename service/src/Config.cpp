#include <mx/service/Config.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <functional>

namespace mx::service {

using core::ErrorCode;
using core::Status;

namespace {

Status bad(std::string_view key, std::string_view value, std::string_view why) {
  return {ErrorCode::InvalidArgument,
          "config " + std::string(key) + "=\"" + std::string(value) + "\": " + std::string(why)};
}

template <typename T> Status parseInt(std::string_view key, std::string_view v, T& dst, int64_t lo, int64_t hi) {
  int64_t x = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size()) return bad(key, v, "not an integer");
  if (x < lo || x > hi) return bad(key, v, "out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  dst = T(x);
  return Status::ok();
}

Status parseDouble(std::string_view key, std::string_view v, double& dst, double lo, double hi) {
  const std::string s(v);
  char* end = nullptr;
  const double x = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !(x >= lo && x <= hi)) return bad(key, v, "not a number in range");
  dst = x;
  return Status::ok();
}

Status parseBool(std::string_view key, std::string_view v, bool& dst) {
  if (v == "true" || v == "1" || v == "on" || v == "yes")
    dst = true;
  else if (v == "false" || v == "0" || v == "off" || v == "no")
    dst = false;
  else
    return bad(key, v, "not a boolean");
  return Status::ok();
}

struct Key {
  const char* name;
  const char* description;
  std::function<Status(ServiceConfig&, std::string_view)> set;
};

/// One entry per key: a table of data, not logic, so it grows with the keys (the only function
/// over 80 lines in the tree, on purpose).
const std::vector<Key>& table() {
  static const std::vector<Key> keys = {
      {"host", "address to listen on",
       [](ServiceConfig& c, std::string_view v) {
         c.host = v;
         return Status::ok();
       }},
      {"port", "port to listen on (0 = any free port)",
       [](ServiceConfig& c, std::string_view v) { return parseInt("port", v, c.port, 0, 65535); }},
      {"dataDir", "folder of the job store, iModels (DATA/imodels) and exports (DATA/exports)",
       [](ServiceConfig& c, std::string_view v) {
         c.dataDir = std::string(v);
         return Status::ok();
       }},
      {"publicUrl", "base URL clients reach this server at (default http://HOST:PORT)",
       [](ServiceConfig& c, std::string_view v) {
         c.publicUrl = v;
         return Status::ok();
       }},
      {"cdnUrl", "base URL for mesh links when a client asks cdn=1",
       [](ServiceConfig& c, std::string_view v) {
         c.cdnUrl = v;
         return Status::ok();
       }},
      {"signingSecret", "HMAC-SHA256 key of mesh links (default: kept in DATA/signing.key)",
       [](ServiceConfig& c, std::string_view v) {
         c.signingSecret = v;
         return Status::ok();
       }},
      {"linkLifetimeSeconds", "lifetime of a mesh link",
       [](ServiceConfig& c, std::string_view v) {
         return parseInt("linkLifetimeSeconds", v, c.linkLifetimeSeconds, 1, 30LL * 86400);
       }},
      {"jwksFile", "JWKS file with the RS256/ES256 keys that sign access tokens",
       [](ServiceConfig& c, std::string_view v) {
         c.jwksFile = std::string(v);
         return Status::ok();
       }},
      {"issuer", "required token issuer (iss)",
       [](ServiceConfig& c, std::string_view v) {
         c.issuer = v;
         return Status::ok();
       }},
      {"audience", "required token audience (aud)",
       [](ServiceConfig& c, std::string_view v) {
         c.audience = v;
         return Status::ok();
       }},
      {"leewaySeconds", "clock leeway for exp/nbf",
       [](ServiceConfig& c, std::string_view v) { return parseInt("leewaySeconds", v, c.leewaySeconds, 0, 600); }},
      {"devToken", "a static development token (subject \"dev\"); for scripts, never production",
       [](ServiceConfig& c, std::string_view v) {
         if (v.size() < 16) return bad("devToken", "…", "must be at least 16 characters");
         c.devTokens.push_back({std::string(v), "dev"});
         return Status::ok();
       }},
      {"rateLimitPerSecond", "requests per second per subject (token refill); 0 = no limit",
       [](ServiceConfig& c, std::string_view v) {
         return parseDouble("rateLimitPerSecond", v, c.rateLimitPerSecond, 0, 1e6);
       }},
      {"rateLimitBurst", "bucket size per subject",
       [](ServiceConfig& c, std::string_view v) { return parseDouble("rateLimitBurst", v, c.rateLimitBurst, 1, 1e7); }},
      {"store",
       "job store: sqlite:PATH (default sqlite:DATA/jobs.db) or a PostgreSQL connection string "
       "(postgresql://USER@HOST/DB, or libpq key=value) shared by a fleet of nodes",
       [](ServiceConfig& c, std::string_view v) {
         c.store = v;
         return Status::ok();
       }},
      {"role", "api (answers the API, runs no tiler), worker (runs tilers; /healthz and /metrics only) or all",
       [](ServiceConfig& c, std::string_view v) {
         if (v != "api" && v != "worker" && v != "all") return bad("role", v, "must be api, worker or all");
         c.role = v;
         return Status::ok();
       }},
      {"gpus", "GPU tiler slots, one per GPU: all (every GPU found), none, or indices like 0,2",
       [](ServiceConfig& c, std::string_view v) {
         if (v != "all" && v != "none" && (v.empty() || v.find_first_not_of("0123456789,") != std::string_view::npos))
           return bad("gpus", v, "must be all, none or a list of GPU indices like 0,2");
         c.gpus = v;
         return Status::ok();
       }},
      {"cpuSlots", "CPU-only tiler slots (default: workers)",
       [](ServiceConfig& c, std::string_view v) { return parseInt("cpuSlots", v, c.cpuSlots, 0, 256); }},
      {"leaseSeconds", "a fleet worker's lease on a running export; another worker takes it once it expires",
       [](ServiceConfig& c, std::string_view v) { return parseInt("leaseSeconds", v, c.leaseSeconds, 2, 3600); }},
      {"maxAttempts", "runs of one export whose worker died before it is Invalid (fleet)",
       [](ServiceConfig& c, std::string_view v) { return parseInt("maxAttempts", v, c.maxAttempts, 1, 100); }},
      {"nodeName", "this node's name in the fleet (default HOSTNAME:PID)",
       [](ServiceConfig& c, std::string_view v) {
         c.nodeName = v;
         return Status::ok();
       }},
      {"workers", "CPU tiler slots unless cpuSlots is set (exports running at once on one node without GPUs)",
       [](ServiceConfig& c, std::string_view v) { return parseInt("workers", v, c.workers, 1, 256); }},
      {"httpThreads", "HTTP worker threads (a request holds one while it is answered; idle connections hold none)",
       [](ServiceConfig& c, std::string_view v) { return parseInt("httpThreads", v, c.httpThreads, 1, 1024); }},
      {"maxHeaderBytes", "largest request line + headers (431 beyond)",
       [](ServiceConfig& c, std::string_view v) {
         return parseInt("maxHeaderBytes", v, c.maxHeaderBytes, 1024, 1 << 20);
       }},
      {"headerTimeoutSeconds", "a request's headers must arrive whole within this (408 beyond)",
       [](ServiceConfig& c, std::string_view v) {
         return parseDouble("headerTimeoutSeconds", v, c.headerTimeoutSeconds, 0.1, 3600);
       }},
      {"keepAliveTimeoutSeconds", "an idle keep-alive connection is closed after this",
       [](ServiceConfig& c, std::string_view v) {
         return parseDouble("keepAliveTimeoutSeconds", v, c.keepAliveTimeoutSeconds, 0.1, 3600);
       }},
      {"keepAliveMaxRequests", "requests per connection before it is closed",
       [](ServiceConfig& c, std::string_view v) {
         return parseInt("keepAliveMaxRequests", v, c.keepAliveMaxRequests, 1, 1000000);
       }},
      {"maxConnections", "open connections in all (503 beyond)",
       [](ServiceConfig& c, std::string_view v) {
         return parseInt("maxConnections", v, c.maxConnections, 1, 1000000);
       }},
      {"maxConnectionsPerIp", "open connections per client address (503 beyond)",
       [](ServiceConfig& c, std::string_view v) {
         return parseInt("maxConnectionsPerIp", v, c.maxConnectionsPerIp, 1, 1000000);
       }},
      {"readTimeoutSeconds", "longest wait for each read of a request body",
       [](ServiceConfig& c, std::string_view v) {
         return parseDouble("readTimeoutSeconds", v, c.readTimeoutSeconds, 0.1, 3600);
       }},
      {"minBodyBytesPerSecond", "a request body slower than this, once readTimeoutSeconds has passed, is dropped",
       [](ServiceConfig& c, std::string_view v) {
         return parseInt("minBodyBytesPerSecond", v, c.minBodyBytesPerSecond, 0, INT64_MAX);
       }},
      {"tilerPath", "the tiler executable (default: this meshexport)",
       [](ServiceConfig& c, std::string_view v) {
         c.tilerPath = std::string(v);
         return Status::ok();
       }},
      {"exportTimeoutSeconds", "an export taking longer is killed and Invalid",
       [](ServiceConfig& c, std::string_view v) {
         return parseInt("exportTimeoutSeconds", v, c.exportTimeoutSeconds, 1, 7 * 86400);
       }},
      {"exportMemoryBytes", "peak RSS allowed to a tiler (0 = 3/4 of physical memory)",
       [](ServiceConfig& c, std::string_view v) {
         return parseInt("exportMemoryBytes", v, c.exportMemoryBytes, 0, INT64_MAX);
       }},
      {"memoryBudgetMB",
       "default tilerConfig memoryBudgetMB of exports, which a request's own value overrides: larger inputs are "
       "tiled out of core (-1 = exportMemoryBytes less 64 MiB, so a tiler streams instead of being stopped; 0 = none)",
       [](ServiceConfig& c, std::string_view v) {
         return parseInt("memoryBudgetMB", v, c.memoryBudgetMB, -1, 1048576);
       }},
      {"autoGenerate", "a list with iModelId and exportType starts an export when none exists",
       [](ServiceConfig& c, std::string_view v) { return parseBool("autoGenerate", v, c.autoGenerate); }},
      {"keepPerImodel",
       "newest auto-generated exports kept per subject, iModel and type (older finished ones are deleted; exports "
       "started by a request are kept until deleted unless evictExplicitExports)",
       [](ServiceConfig& c, std::string_view v) { return parseInt("keepPerImodel", v, c.keepPerImodel, 1, 100000); }},
      {"evictExplicitExports", "keepPerImodel applies to exports started by a request too (default false)",
       [](ServiceConfig& c, std::string_view v) {
         return parseBool("evictExplicitExports", v, c.evictExplicitExports);
       }},
      {"maxRequestBytes", "largest JSON request body",
       [](ServiceConfig& c, std::string_view v) {
         return parseInt("maxRequestBytes", v, c.maxRequestBytes, 1024, int64_t(1) << 30);
       }},
      {"maxUploadBytes", "largest iModel upload (413 beyond; default 1 GiB)",
       [](ServiceConfig& c, std::string_view v) {
         return parseInt("maxUploadBytes", v, c.maxUploadBytes, 1024, INT64_MAX);
       }},
      {"imodelUploadScope", "subject: an uploaded iModel is seen by its uploader only; shared: by every subject",
       [](ServiceConfig& c, std::string_view v) {
         if (v != "subject" && v != "shared") return bad("imodelUploadScope", v, "must be subject or shared");
         c.imodelUploadScope = v;
         return Status::ok();
       }},
      {"shutdownGraceSeconds", "on shutdown, running exports get this long before they are re-queued",
       [](ServiceConfig& c, std::string_view v) {
         return parseInt("shutdownGraceSeconds", v, c.shutdownGraceSeconds, 0, 86400);
       }},
      {"viewerDir",
       "folder of the built web viewer served at /viewer/ (default: viewer/dist of the source tree; "
       "scripts/build-viewer.sh builds it)",
       [](ServiceConfig& c, std::string_view v) {
         c.viewerDir = std::string(v);
         return Status::ok();
       }},
  };
  return keys;
}

std::string envName(std::string_view key) {
  std::string out = "MESHEXPORT_";
  for (char c : key) {
    if (std::isupper(static_cast<unsigned char>(c))) out += '_';
    out += char(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

std::string flagName(std::string_view key) {
  std::string out = "--";
  for (char c : key) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      out += '-';
      out += char(std::tolower(static_cast<unsigned char>(c)));
    } else
      out += c;
  }
  return out;
}

} // namespace

std::vector<ConfigKeyDoc> configKeys() {
  std::vector<ConfigKeyDoc> out;
  for (const auto& k : table()) out.push_back({k.name, envName(k.name), flagName(k.name), k.description});
  return out;
}

Status setConfigValue(ServiceConfig& config, std::string_view key, std::string_view value) {
  for (const auto& k : table())
    if (key == k.name) return k.set(config, value);
  return {ErrorCode::UnknownConfigKey, "unknown service config key \"" + std::string(key) + "\""};
}

Status loadConfigFile(ServiceConfig& config, const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return {ErrorCode::IoError, "cannot read config file " + file.string()};
  nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return {ErrorCode::InvalidArgument, file.string() + ": not a JSON object"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "devTokens") {
      if (!it->is_array()) return {ErrorCode::InvalidArgument, file.string() + ": devTokens must be an array"};
      for (const auto& t : *it) {
        if (!t.is_object() || !t.contains("token") || !t["token"].is_string() || !t.contains("subject") ||
            !t["subject"].is_string() || t["token"].get<std::string>().size() < 16 ||
            t["subject"].get<std::string>().empty())
          return {ErrorCode::InvalidArgument,
                  file.string() + ": devTokens items are {\"token\": ≥16 characters, \"subject\": non-empty}"};
        config.devTokens.push_back({t["token"].get<std::string>(), t["subject"].get<std::string>()});
      }
      continue;
    }
    std::string text;
    if (it->is_string())
      text = it->get<std::string>();
    else if (it->is_boolean())
      text = it->get<bool>() ? "true" : "false";
    else if (it->is_number_integer())
      text = std::to_string(it->get<int64_t>());
    else if (it->is_number())
      text = nlohmann::json(it->get<double>()).dump();
    else
      return {ErrorCode::InvalidArgument, file.string() + ": \"" + it.key() + "\" must be a string, number or boolean"};
    Status s = setConfigValue(config, it.key(), text);
    if (!s) return s.withContext(file.string());
  }
  return Status::ok();
}

Status loadConfigEnvironment(ServiceConfig& config) {
  for (const auto& k : table()) {
    const char* v = std::getenv(envName(k.name).c_str());
    if (v && *v) MX_RETURN_IF_ERROR(k.set(config, v));
  }
  return Status::ok();
}

Status loadConfigFlags(ServiceConfig& config, const std::vector<std::string>& args) {
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--config") MX_RETURN_IF_ERROR(loadConfigFile(config, args[i + 1]));
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config") {
      ++i;
      continue;
    }
    bool matched = false;
    for (const auto& k : table()) {
      if (args[i] != flagName(k.name)) continue;
      if (i + 1 >= args.size()) return {ErrorCode::InvalidArgument, args[i] + " needs a value"};
      MX_RETURN_IF_ERROR(k.set(config, args[++i]));
      matched = true;
      break;
    }
    if (!matched) return {ErrorCode::InvalidArgument, "unknown option " + args[i]};
  }
  return Status::ok();
}

bool isPostgresStore(const std::string& store) {
  return store.rfind("postgresql://", 0) == 0 || store.rfind("postgres://", 0) == 0 ||
         (store.rfind("sqlite:", 0) != 0 && store.find('=') != std::string::npos);
}

Status finalizeConfig(ServiceConfig& config) {
  if (config.tilerPath.empty()) {
    std::error_code ec;
    config.tilerPath = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return {ErrorCode::IoError, "cannot find this executable: " + ec.message()};
  }
  if (config.exportMemoryBytes == 0) {
    const long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGE_SIZE);
    config.exportMemoryBytes = pages > 0 && pageSize > 0 ? int64_t(pages) * pageSize / 4 * 3 : int64_t(8) << 30;
  }
  if (config.viewerDir.empty()) config.viewerDir = MESHEXPORT_DEFAULT_VIEWER_DIR;
  if (config.memoryBudgetMB < 0) config.memoryBudgetMB = std::max<int64_t>(1, (config.exportMemoryBytes >> 20) - 64);
  while (!config.publicUrl.empty() && config.publicUrl.back() == '/') config.publicUrl.pop_back();
  while (!config.cdnUrl.empty() && config.cdnUrl.back() == '/') config.cdnUrl.pop_back();
  if (config.dataDir.empty()) return {ErrorCode::InvalidArgument, "dataDir must not be empty"};
  if (config.store.empty()) config.store = "sqlite:" + (config.dataDir / "jobs.db").string();
  if (!isPostgresStore(config.store) && config.store.rfind("sqlite:", 0) != 0)
    return bad("store", config.store, "must be sqlite:PATH or a PostgreSQL connection string (postgresql://…)");
  if (config.role != "all" && !isPostgresStore(config.store))
    return bad("role", config.role,
               "roles api and worker share a PostgreSQL store (--store postgresql://…); a SQLite store serves one "
               "node of role all");
  if (config.cpuSlots < 0) config.cpuSlots = config.workers;
  if (config.nodeName.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    config.nodeName = std::string(host) + ":" + std::to_string(::getpid());
  }
  return Status::ok();
}

} // namespace mx::service
