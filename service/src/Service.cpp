#include <mx/service/Service.h>

#include "Api.h"
#include "ChildProcess.h"
#include "HttpServer.h"
#include "RateLimiter.h"
#include "ServiceMetrics.h"

#include <mx/service/Auth.h>
#include <mx/service/DataDir.h>
#include <mx/service/ImodelStore.h>
#include <mx/service/JobStore.h>
#include <mx/service/SqliteJobStore.h>
#include <mx/io/ImdlWriter.h>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <zlib.h>

#include <cerrno>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace mx::service {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Status;
using nlohmann::json;

namespace {

int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string newUuid() {
  std::string h = randomHex(16);
  h[12] = '4';                                        // version 4
  h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3]; // variant 10xx
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string urlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~' || c == '$' || c == ':') out += c;
    else { out += '%'; out += kHex[u >> 4]; out += kHex[u & 15]; }
  }
  return out;
}

void sendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Text from files and stores (iModel names, tiler messages) may not be UTF-8: replaced, never thrown.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void sendError(httplib::Response& res, int status, std::string_view code, std::string_view message,
               const std::vector<ErrorDetail>& details = {}) {
  sendJson(res, status, errorBody(code, message, details));
}

/// A failure of the server's own storage as a response: never the internal message (it names
/// paths), only the condition. StorageFull → 507, Unavailable → 503 with Retry-After, else 500.
void sendStatusError(httplib::Response& res, const Status& s, std::string_view what) {
  switch (s.code()) {
  case ErrorCode::StorageFull:
    return sendError(res, 507, "InsufficientStorage", std::string(what) + " The server's storage is full.");
  case ErrorCode::Unavailable:
    res.set_header("Retry-After", "5");
    return sendError(res, 503, "ServiceUnavailable", std::string(what) + " The job store is busy; try again.");
  default:
    return sendError(res, 500, "InternalServerError", std::string(what) + " The server failed to store the change.");
  }
}

std::string contentTypeFor(const fs::path& p) {
  const std::string e = p.extension().string();
  if (e == ".json") return "application/json";
  if (e == ".glb") return "model/gltf-binary";
  if (e == ".gltf") return "model/gltf+json";
  if (e == ".bin" || e == ".imdl" || e == ".b3dm" || e == ".i3dm" || e == ".cmpt" || e == ".subtree")
    return "application/octet-stream";
  if (e == ".png") return "image/png";
  if (e == ".jpg" || e == ".jpeg") return "image/jpeg";
  if (e == ".ktx2") return "image/ktx2";
  if (e == ".txt" || e == ".log") return "text/plain";
  return "application/octet-stream";
}

bool gzipString(std::string_view in, std::string& out, int level) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  out.resize(deflateBound(&z, uLong(in.size())) + 32);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END;
}

bool readFile(const fs::path& p, std::string& out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = std::move(ss).str();
  return bool(in) || in.eof();
}

/// A path under an export folder from a URL path: no empty, "." or ".." segments, no NUL or
/// backslash, no leading slash.
bool safeRelativePath(const std::string& rel) {
  if (rel.empty() || rel.front() == '/' || rel.find('\\') != std::string::npos || rel.find('\0') != std::string::npos)
    return false;
  size_t start = 0;
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    const std::string seg = rel.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    start = end + 1;
  }
  return true;
}

std::string routeOf(const std::string& path) {
  if (path == "/mesh-export" || path == "/mesh-export/") return "/mesh-export/";
  if (path.rfind("/mesh-export/", 0) == 0) return "/mesh-export/{id}";
  if (path.rfind("/tiles/", 0) == 0) return "/tiles/{id}/*";
  if (path == "/imodels" || path == "/imodels/") return "/imodels";
  if (path == "/healthz" || path == "/metrics") return path;
  return "other";
}

thread_local std::chrono::steady_clock::time_point tRequestStart;

} // namespace

struct Service::Impl {
  ServiceConfig config;
  DataDir dir;
  PidLock dirLock;                         ///< This process owns dataDir while it runs.
  std::string secret;
  std::unique_ptr<JobStore> store;
  std::unique_ptr<ImodelStore> imodels;
  std::optional<Authenticator> auth;
  std::unique_ptr<RateLimiter> limiter;
  ServiceMetrics metrics;
  std::unique_ptr<HttpServer> http;
  std::thread httpThread;
  std::vector<std::thread> workers;
  int boundPort = 0;
  std::string base;

  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::string> queue;
  std::map<std::string, int> running;      ///< export id → tiler pid (0 while starting)
  std::set<std::string> cancelled;         ///< DELETEd while running
  bool stopping = false;                   ///< No new work.
  std::atomic<bool> abandon{false};        ///< Kill running tilers and re-queue.
  bool started = false, stopped = false;

  fs::path exportsDir() const { return config.dataDir / "exports"; }
  fs::path jobsDir() const { return config.dataDir / "jobs"; }

  // ---- jobs ----------------------------------------------------------------------------------------
  void enqueue(const std::string& id) {
    {
      std::lock_guard lock(mutex);
      queue.push_back(id);
    }
    cv.notify_one();
  }

  void removeFiles(const std::string& id) {
    std::error_code ec;
    fs::remove_all(exportsDir() / id, ec);
    fs::remove_all(jobsDir() / id, ec);
  }

  /// Changes an export's status in the store, then in its manifest (a manifest that cannot be
  /// written is logged: the store stays the truth while it is sound).
  Status updateStatus(const std::string& id, ExportStatus status, const std::string& error = "",
                      const std::string& stats = "") {
    Status s = store->setStatus(id, status, error, stats);
    if (!s) {
      spdlog::error("export {}: cannot record status {}: {}", id, toString(status), s.message());
      return s;
    }
    if (auto r = store->get(id)) {
      std::error_code ec;
      if (fs::is_directory(jobsDir() / id, ec))
        if (Status m = writeManifest(dir, *r); !m) spdlog::warn("export {}: manifest not updated: {}", id, m.message());
    }
    return s;
  }

  /// Deletes an export so that a row never outlives its files: the files are first moved into
  /// DATA/trash (a rename needs no space), then the row is removed. When that fails the files are
  /// put back and the error returned: nothing changed. Once the row is gone, a running export is
  /// cancelled, a queued one dropped, and the trash emptied (a restart finishes what is left).
  Status deleteExport(const std::string& id) {
    MX_ASSIGN_OR_RETURN(TrashedExport trashed, moveToTrash(dir, id));
    if (Status s = store->remove(id); !s) {
      trashed.restore();
      return s;
    }
    {
      std::lock_guard lock(mutex);
      if (running.count(id)) cancelled.insert(id);
      queue.erase(std::remove(queue.begin(), queue.end(), id), queue.end());
    }
    if (Status s = trashed.empty(); !s) spdlog::warn("export {} deleted; {} (finished at the next start)", id, s.message());
    return Status::ok();
  }

  void applyRetention(const ExportRecord& r) {
    auto history = store->history(r.subject, r.iModelId, r.typeClass);
    for (size_t i = size_t(config.keepPerImodel); i < history.size(); ++i) {
      const auto& old = history[i];
      if (old.status != ExportStatus::Complete && old.status != ExportStatus::Invalid) continue;
      if (Status s = deleteExport(old.id); !s) spdlog::warn("export {} not evicted: {}", old.id, s.message());
      else spdlog::info("export {} evicted (keepPerImodel={})", old.id, config.keepPerImodel);
    }
  }

  json computeStats(const ExportRecord& r, int64_t startMs, int64_t durationMs, const json& tilerMetrics) {
    json stats;
    std::error_code ec;
    stats["iModelSize"] = fs::exists(r.imodelPath, ec) ? fs::file_size(r.imodelPath, ec) : 0;
    uint64_t raw = 0, compressed = 0, files = 0;
    // One walk: every file's size and gzip size, summed per child of the export folder (by name).
    std::map<std::string, uint64_t> bytesByChild;
    const fs::path folder = exportsDir() / r.id;
    for (fs::recursive_directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
      uint64_t& child = bytesByChild[it->path().lexically_relative(folder).begin()->string()];
      if (!it->is_regular_file(ec)) continue;
      const uint64_t size = it->file_size(ec);
      raw += size;
      child += size;
      ++files;
      std::string content, packed;
      if (readFile(it->path(), content) && gzipString(content, packed, 1)) compressed += std::min<uint64_t>(packed.size(), size);
      else compressed += size;
    }
    const std::vector<std::pair<std::string, uint64_t>> children(bytesByChild.begin(), bytesByChild.end());
    json structure = json::array();
    for (size_t i = 0; i < children.size() && i < 100; ++i)
      structure.push_back({{"name", children[i].first}, {"size", children[i].second}});
    stats["rawSize"] = raw;
    stats["compressedSize"] = compressed;
    stats["startTime"] = formatUtc(startMs);
    stats["duration"] = durationMs;
    struct statvfs vfs{};
    if (statvfs(folder.c_str(), &vfs) == 0) {
      stats["diskSize"] = uint64_t(vfs.f_blocks) * vfs.f_frsize;
      stats["freeDiskSpace"] = uint64_t(vfs.f_bavail) * vfs.f_frsize;
    }
    stats["exportDirSize"] = raw;
    stats["exportDirStructure"] = {{"files", files}, {"children", structure}, {"omitted", children.size() > 100 ? children.size() - 100 : 0}};
    if (!tilerMetrics.is_null()) stats["metrics"] = tilerMetrics;
    return stats;
  }

  void runExport(const std::string& id) {
    auto rec = store->get(id);
    if (!rec || rec->status != ExportStatus::NotStarted) return;
    const int64_t startMs = JobStore::nowMs();
    const auto t0 = std::chrono::steady_clock::now();
    auto finish = [&](ExportStatus status, const std::string& error, const json& stats) {
      (void)updateStatus(id, status, error, stats.is_null() ? std::string() : stats.dump());
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      metrics.exportFinished(toString(status), seconds);
      if (status == ExportStatus::Invalid) spdlog::warn("export {} Invalid after {:.1f} s: {}", id, seconds, error);
      else spdlog::info("export {} {} in {:.1f} s", id, toString(status), seconds);
    };
    std::error_code ec;
    if (!fs::exists(rec->imodelPath, ec)) {
      finish(ExportStatus::Invalid, "The iModel file of this export is no longer available.", {});
      return;
    }
    (void)updateStatus(id, ExportStatus::InProgress);
    spdlog::info("export {} InProgress ({} changeset {} → {})", id, rec->iModelId, rec->changesetIndex, rec->exportType);
    const fs::path jobDir = jobsDir() / id, outDir = exportsDir() / id, metricsFile = jobDir / "metrics.json";
    fs::create_directories(jobDir, ec);
    fs::remove_all(outDir, ec);
    fs::remove(metricsFile, ec);
    std::vector<std::string> argv = {config.tilerPath.string(), "tile", rec->imodelPath, "-o", outDir.string(), "--force",
                                     "--type", rec->typeClass == "CESIUM" ? "cesium" : rec->typeClass == "IMODEL" ? "imodel" : "3dtiles", "--metrics",
                                     metricsFile.string()};
    if (config.workers > 1) { // exports running at once share the GPU's memory
      argv.push_back("--device-share");
      argv.push_back(std::to_string(config.workers));
    }
    if (!rec->tilerConfig.empty()) {
      const json cfg = json::parse(rec->tilerConfig, nullptr, false);
      if (cfg.is_array())
        for (const auto& item : cfg) {
          const json& v = item["value"];
          argv.push_back("--config");
          argv.push_back(item["key"].get<std::string>() + "=" +
                         (v.is_string() ? v.get<std::string>() : v.is_boolean() ? (v.get<bool>() ? "true" : "false") : v.dump()));
        }
    }
    // One tiler per export at a time, across restarts: an orphan of a killed service is ended first.
    auto jobLock = lockJob(jobDir / "tiler.lock", std::chrono::seconds(10));
    if (!jobLock) {
      spdlog::error("export {}: {}", id, jobLock.status().message());
      (void)updateStatus(id, ExportStatus::NotStarted);
      return;
    }
    ChildLimits limits;
    limits.timeout = std::chrono::seconds(config.exportTimeoutSeconds);
    limits.memoryBytes = config.exportMemoryBytes;
    limits.inheritFd = jobLock->fd();
    auto isCancelled = [&] {
      std::lock_guard lock(mutex);
      return cancelled.count(id) > 0;
    };
    const ChildOutcome o = runChild(
        argv, jobDir / "tiler.log", limits,
        [&](int pid) {
          jobLock->setPid(pid);
          std::lock_guard lock(mutex);
          running[id] = pid;
        },
        [&] { return abandon.load() || isCancelled(); });
    {
      std::lock_guard lock(mutex);
      running.erase(id);
      if (cancelled.erase(id)) {
        removeFiles(id);
        spdlog::info("export {} cancelled and deleted", id);
        return;
      }
    }
    if (o.kind == ChildOutcome::Kind::Stopped) {
      // Shutting down: the next start runs it again.
      fs::remove_all(outDir, ec);
      (void)updateStatus(id, ExportStatus::NotStarted);
      spdlog::info("export {} re-queued for the next start", id);
      return;
    }
    json tilerJson;
    {
      std::ifstream in(metricsFile);
      if (in) tilerJson = json::parse(in, nullptr, false);
      if (tilerJson.is_discarded()) tilerJson = json();
    }
    const int64_t durationMs =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    std::string error;
    switch (o.kind) {
    case ChildOutcome::Kind::SpawnFailed: error = o.message; break;
    case ChildOutcome::Kind::TimedOut:
      error = "The export took longer than " + std::to_string(config.exportTimeoutSeconds) + " s and was stopped.";
      break;
    case ChildOutcome::Kind::OutOfMemory:
      error = "The export needed more than " + std::to_string(config.exportMemoryBytes) + " bytes (peak seen " +
              std::to_string(o.peakRssBytes) + ") and was stopped.";
      break;
    case ChildOutcome::Kind::Signalled:
      error = "The tiler was killed by signal " + std::to_string(o.code) + " (" + strsignal(o.code) + ").";
      break;
    case ChildOutcome::Kind::Exited:
      if (o.code != 0) {
        if (tilerJson.is_object() && tilerJson.contains("error") && tilerJson["error"].is_object())
          error = tilerJson["error"].value("message", "");
        if (error.empty()) error = lastLine(jobDir / "tiler.log");
        if (error.empty()) error = "The tiler failed with exit code " + std::to_string(o.code) + ".";
      } else if (!fs::exists(outDir / "tileset.json", ec)) {
        error = "The tiler finished without writing tileset.json.";
      }
      break;
    default: break;
    }
    if (!error.empty()) {
      fs::remove_all(outDir, ec);
      finish(ExportStatus::Invalid, error, {});
      return;
    }
    json m = tilerJson.is_object() && tilerJson.contains("metrics") ? tilerJson["metrics"] : json();
    if (m.is_object()) m["tilerPeakRssBytes"] = o.peakRssBytes;
    finish(ExportStatus::Complete, "", computeStats(*rec, startMs, durationMs, m));
  }

  void workerLoop() {
    while (true) {
      std::string id;
      {
        std::unique_lock lock(mutex);
        cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (stopping) return;
        id = queue.front();
        queue.pop_front();
        running[id] = 0;
      }
      try {
        runExport(id);
      } catch (const std::exception& e) {
        spdlog::error("export {}: internal error: {}", id, e.what());
        (void)updateStatus(id, ExportStatus::Invalid, std::string("Internal error: ") + e.what());
      }
      std::lock_guard lock(mutex);
      running.erase(id);
      if (cancelled.erase(id)) removeFiles(id);
    }
  }

  // ---- JSON ----------------------------------------------------------------------------------------
  std::string meshLink(const ExportRecord& r, bool cdn) const {
    const int64_t expires = unixNow() + config.linkLifetimeSeconds;
    const std::string& root = cdn && !config.cdnUrl.empty() ? config.cdnUrl : base;
    return root + "/tiles/" + r.id + "?exp=" + std::to_string(expires) + "&sig=" + signMeshLink(secret, r.id, expires);
  }

  json exportJson(const ExportRecord& r, bool full, bool cdn) const {
    json e = {{"id", r.id}, {"displayName", r.displayName}, {"status", toString(r.status)}, {"lastModified", formatUtc(r.modifiedMs)}};
    if (!full) return e;
    json req = {{"iModelId", r.iModelId}, {"contextId", ""}, {"iTwinId", ""}, {"changesetId", r.changesetId},
                {"changesetIndex", std::to_string(r.changesetIndex)}, {"exportType", r.exportType}};
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

  // ---- HTTP ----------------------------------------------------------------------------------------
  /// Authenticates and rate-limits; on failure the response is written and nullopt returned.
  std::optional<Principal> authorize(const httplib::Request& req, httplib::Response& res, Access access) {
    Principal who;
    AuthFailure why;
    if (!auth->authenticate(req.get_header_value("Authorization"), access, unixNow(), who, why)) {
      if (why.code == "HeaderNotFound") sendError(res, 401, why.code, why.message);
      else sendError(res, 401, why.code, why.message, {{why.code, why.message, "Authorization"}});
      res.set_header("WWW-Authenticate", "Bearer");
      return std::nullopt;
    }
    if (const int64_t wait = limiter->take(who.subject); wait > 0) {
      res.set_header("Retry-After", std::to_string(wait));
      sendError(res, 429, "RateLimitExceeded",
                "The client sent more requests than allowed by this API for the current tier of the client.");
      return std::nullopt;
    }
    return who;
  }

  /// Reads a body through the content reader, at most `limit` bytes.
  static bool readBody(const httplib::Request& req, const httplib::ContentReader& reader, int64_t limit, std::string& body) {
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

  void startExport(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    // Who first: a body is read only for a caller who may send it, and only up to its limit.
    auto who = authorize(req, res, Access::Modify);
    if (!who) return;
    if (declaredLength(req) > config.maxRequestBytes) return payloadTooLarge(res, config.maxRequestBytes);
    std::string body;
    if (!readBody(req, reader, config.maxRequestBytes, body)) return payloadTooLarge(res, config.maxRequestBytes);
    StartRequest sr;
    auto details = parseStartExport(body, sr);
    if (!details.empty()) {
      sendError(res, 422, "InvalidMeshExportRequest", "Cannot create export job.", details);
      return;
    }
    auto model = imodels->find(sr.iModelId, sr.changesetId, ImodelStore::ownerKey(who->subject));
    if (!model) {
      sendError(res, 404, "IModelNotFound", "Requested iModel is not available.",
                sr.changesetId.empty() || !imodels->knows(sr.iModelId, ImodelStore::ownerKey(who->subject))
                    ? std::vector<ErrorDetail>{}
                    : std::vector<ErrorDetail>{{"ChangesetNotFound", "Changeset " + sr.changesetId + " of this iModel is not available.", "changesetId"}});
      return;
    }
    const std::string cfg = sr.tilerConfig ? sr.tilerConfig->dump() : std::string();
    if (auto same = store->findSame(who->subject, model->iModelId, model->changesetId, sr.typeClass, &cfg)) {
      res.set_header("Location", base + "/mesh-export/" + same->id);
      sendJson(res, 202, {{"export", exportJson(*same, true, false)}});
      return;
    }
    auto rec = createExport(who->subject, *model, sr.exportType, sr.typeClass, cfg);
    if (!rec) {
      spdlog::error("cannot create an export: {}", rec.status().message());
      return sendStatusError(res, rec.status(), "Cannot create export job.");
    }
    res.set_header("Location", base + "/mesh-export/" + rec->id);
    sendJson(res, 202, {{"export", exportJson(*rec, true, false)}});
  }

  core::Result<ExportRecord> createExport(const std::string& subject, const ImodelEntry& model, const std::string& type,
                                          const std::string& typeClass, const std::string& cfg) {
    ExportRecord r;
    r.id = newUuid();
    r.subject = subject;
    r.iModelId = model.iModelId;
    r.changesetId = model.changesetId;
    r.changesetIndex = model.changesetIndex;
    r.exportType = type;
    r.typeClass = typeClass;
    r.tilerConfig = cfg;
    r.displayName = model.name;
    r.imodelPath = model.path.string();
    r.tileMajor = typeClass == "IMODEL" ? int64_t(io::kImdlMajor) : 0;
    r.createdMs = r.modifiedMs = JobStore::nowMs();
    // The manifest first, then the row: a row never exists that a recovery could not rebuild.
    std::error_code ec;
    fs::create_directories(jobsDir() / r.id, ec);
    if (ec) return Status{ErrorCode::IoError, "cannot make the job folder of " + r.id + ": " + ec.message()};
    Status s = writeManifest(dir, r);
    if (s) s = store->insert(r);
    if (!s) {
      fs::remove_all(jobsDir() / r.id, ec);
      return s;
    }
    spdlog::info("export {} NotStarted: {} changeset {} → {} for {}", r.id, r.iModelId, r.changesetIndex, type, subject);
    enqueue(r.id);
    applyRetention(r);
    return r;
  }

  void listExports(const httplib::Request& req, httplib::Response& res) {
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
      if (o == "date:asc" || o == "date") q.order = ExportQuery::Order::DateAsc;
      else if (o == "date:desc") q.order = ExportQuery::Order::DateDesc;
      else details.push_back({"InvalidParameter", "$orderBy must be date:asc or date:desc.", "$orderBy"});
    }
    // frontend-tiles sends its newest readable iMdl major: never list an IMODEL export it cannot read.
    if (req.has_param("tileVersion")) q.maxTileMajor = intParam("tileVersion", -1, 0, 65535);
    q.iModelId = req.get_param_value("iModelId");
    q.changesetId = req.get_param_value("changesetId");
    const std::string type = req.get_param_value("exportType");
    if (!type.empty()) {
      auto c = exportTypeClass(type, true);
      if (!c) details.push_back({"InvalidParameter", "exportType must be one of IMODEL, CESIUM, 3DTILES, 3DTiles.", "exportType"});
      else q.typeClass = *c;
    }
    if (!details.empty()) {
      sendError(res, 422, "InvalidMeshExportRequest", "Cannot list exports.", details);
      return;
    }
    // CesiumJS never starts an export: listing an iModel and type is how one appears.
    const bool readable = q.typeClass != "IMODEL" || q.maxTileMajor < 0 || int64_t(io::kImdlMajor) <= q.maxTileMajor;
    if (config.autoGenerate && readable && !q.iModelId.empty() && !q.typeClass.empty()) {
      if (auto model = imodels->find(q.iModelId, q.changesetId, ImodelStore::ownerKey(who->subject));
          model && !store->findSame(who->subject, model->iModelId, model->changesetId, q.typeClass, nullptr)) {
        std::lock_guard lock(autoMutex); // two pollers must not start two exports
        if (!store->findSame(who->subject, model->iModelId, model->changesetId, q.typeClass, nullptr)) {
          auto created = createExport(who->subject, *model, q.typeClass, q.typeClass, "");
          if (!created) spdlog::error("auto-generation failed: {}", created.status().message());
        }
      }
    }
    int64_t total = 0;
    const auto rows = store->list(q, total);
    const bool full = req.get_header_value("Prefer").find("return=representation") != std::string::npos;
    const bool cdn = req.get_param_value("cdn") == "1";
    json items = json::array();
    for (const auto& r : rows) items.push_back(exportJson(r, full, cdn));

    std::string root = req.get_header_value("x-api-host-and-root");
    while (!root.empty() && root.back() == '/') root.pop_back();
    if (root.empty()) root = base;
    else if (root.find("://") == std::string::npos) root = "https://" + root;
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
  std::mutex autoMutex;

  std::optional<ExportRecord> visibleExport(const std::string& id, const Principal& who) {
    auto r = store->get(id);
    if (!r || r->subject != who.subject) return std::nullopt;
    return r;
  }

  void getExport(const httplib::Request& req, httplib::Response& res) {
    auto who = authorize(req, res, Access::Read);
    if (!who) return;
    auto r = visibleExport(req.matches[1], *who);
    if (!r) return sendError(res, 404, "ExportNotFound", "Requested export is not available.");
    sendJson(res, 200, {{"export", exportJson(*r, true, req.get_param_value("cdn") == "1")}});
  }

  void deleteExportRoute(const httplib::Request& req, httplib::Response& res) {
    auto who = authorize(req, res, Access::Modify);
    if (!who) return;
    auto r = visibleExport(req.matches[1], *who);
    if (!r) return sendError(res, 404, "ExportNotFound", "Requested export is not available.");
    if (Status s = deleteExport(r->id); !s) {
      spdlog::error("DELETE of export {} failed, nothing changed: {}", r->id, s.message());
      return sendStatusError(res, s, "The export was not deleted.");
    }
    spdlog::info("export {} deleted by {}", r->id, who->subject);
    res.status = 204;
  }

  void serveTile(const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1], rel = req.matches[2];
    const LinkCheck check = verifyMeshLink(secret, id, req.get_param_value("exp"), req.get_param_value("sig"), unixNow());
    if (check != LinkCheck::Ok) {
      const char* why = check == LinkCheck::Missing     ? "The link has no signature (exp and sig)."
                        : check == LinkCheck::Expired   ? "The link has expired; get a fresh one from the export."
                        : check == LinkCheck::Malformed ? "The link's signature is malformed."
                                                        : "The link's signature is not valid for this export.";
      return sendError(res, 403, check == LinkCheck::Expired ? "LinkExpired" : "InvalidSignature", why);
    }
    if (!safeRelativePath(rel)) return sendError(res, 404, "FileNotFound", "The requested file is not part of this export.");
    auto r = store->get(id);
    if (!r || r->status != ExportStatus::Complete) return sendError(res, 404, "ExportNotFound", "Requested export is not available.");
    const fs::path root = exportsDir() / id;
    const fs::path file = root / rel;
    std::error_code ec;
    const fs::path canonical = fs::weakly_canonical(file, ec), canonicalRoot = fs::weakly_canonical(root, ec);
    const auto mismatch = std::mismatch(canonicalRoot.begin(), canonicalRoot.end(), canonical.begin(), canonical.end());
    if (ec || mismatch.first != canonicalRoot.end() || !fs::is_regular_file(canonical, ec))
      return sendError(res, 404, "FileNotFound", "The requested file is not part of this export.");
    const auto size = fs::file_size(canonical, ec);
    const auto mtime = fs::last_write_time(canonical, ec).time_since_epoch().count();
    std::ostringstream etag;
    etag << '"' << std::hex << size << '-' << mtime << '"';
    res.set_header("ETag", etag.str());
    res.set_header("Cache-Control", "private, max-age=3600");
    res.set_header("Accept-Ranges", "bytes");
    const std::string inm = req.get_header_value("If-None-Match");
    if (!inm.empty() && (inm == etag.str() || inm == "*" || inm.find(etag.str()) != std::string::npos)) {
      res.status = 304;
      return;
    }
    std::string content;
    if (!readFile(canonical, content)) return sendError(res, 500, "InternalServerError", "Cannot read the file.");
    const std::string type = contentTypeFor(canonical);
    // httplib gzips text and JSON itself; binary tiles are gzipped here when asked (and no Range).
    const bool binary = type != "application/json" && type.rfind("text/", 0) != 0;
    res.set_header("Vary", "Accept-Encoding");
    if (binary && !req.has_header("Range") && req.get_header_value("Accept-Encoding").find("gzip") != std::string::npos) {
      std::string packed;
      if (gzipString(content, packed, 6) && packed.size() < content.size()) {
        res.set_header("Content-Encoding", "gzip");
        content = std::move(packed);
      }
    }
    res.set_content(std::move(content), type.c_str());
    res.status = -1; // lets httplib answer a Range with 206
  }

  /// Content-Length as sent (-1 when absent or chunked).
  static int64_t declaredLength(const httplib::Request& req) {
    if (!req.has_header("Content-Length")) return -1;
    const std::string v = req.get_header_value("Content-Length");
    int64_t n = -1;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    return ec == std::errc() && p == v.data() + v.size() ? n : -1;
  }

  static void payloadTooLarge(httplib::Response& res, int64_t limit) {
    res.set_header("Connection", "close"); // the rest of the body is not read
    sendError(res, 413, "PayloadTooLarge", "The request body is larger than this server accepts (" + std::to_string(limit) + " bytes).");
  }

  void uploadImodel(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    // Authenticated and within the limit before a byte of the body is read.
    auto who = authorize(req, res, Access::Modify);
    if (!who) return res.set_header("Connection", "close");
    if (declaredLength(req) > config.maxUploadBytes) return payloadTooLarge(res, config.maxUploadBytes);
    std::error_code ec;
    fs::create_directories(imodels->dir(), ec);
    const fs::path temp = imodels->dir() / (".upload-" + randomHex(8) + ".tmp");
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      const Status failed = statusFromErrno(errno, "upload: cannot create " + temp.string());
      spdlog::error("{}", failed.message());
      res.set_header("Connection", "close");
      return sendStatusError(res, failed, "The iModel was not added.");
    }
    // Streamed to disk as it arrives; never held in memory whole.
    int64_t total = 0;
    bool over = false;
    int writeError = 0;
    const bool complete = reader([&](const char* data, size_t len) {
      total += int64_t(len);
      if (total > config.maxUploadBytes) return !(over = true);
      while (len > 0) {
        const ssize_t n = ::write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return !(writeError = n < 0 ? errno : EIO);
        data += n;
        len -= size_t(n);
      }
      return true;
    });
    if (!writeError && ::fsync(fd) != 0) writeError = errno;
    ::close(fd);
    auto discard = [&] { fs::remove(temp, ec); };
    if (over) return discard(), payloadTooLarge(res, config.maxUploadBytes);
    if (writeError) {
      discard();
      const Status failed = statusFromErrno(writeError, "upload by " + who->subject + ": write failed");
      spdlog::error("{}", failed.message());
      res.set_header("Connection", "close");
      return sendStatusError(res, failed, "The iModel was not added.");
    }
    if (!complete) return discard(), sendError(res, 400, "BadRequest", "The upload ended before its body was complete.");
    auto added = imodels->add(temp, true, uploadScope(*who));
    discard();
    if (!added) {
      const Status& st = added.status();
      spdlog::warn("upload by {} refused: {}", who->subject, st.message());
      if (st.code() == ErrorCode::StorageFull || st.code() == ErrorCode::Unavailable || st.code() == ErrorCode::IoError)
        return sendStatusError(res, st, "The iModel was not added.");
      if (st.code() == ErrorCode::AlreadyExists)
        return sendError(res, 409, "IModelChangesetExists", "Cannot add the iModel.",
                         {{"ChangesetExists", redactPaths(st.message()), "body"}});
      std::string why = st.message();
      for (size_t p; (p = why.find(temp.string())) != std::string::npos;) why.replace(p, temp.string().size(), "the upload");
      return sendError(res, 422, "InvalidIModel", "Cannot add the iModel.",
                       {{"InvalidRequestBody", "The upload is not a readable iModel: " + redactPaths(why), "body"}});
    }
    spdlog::info("iModel {} changeset {} ({}) uploaded by {}", added->iModelId, added->changesetIndex, added->name, who->subject);
    sendJson(res, 201, {{"iModel", imodelJson(*added)}});
  }

  /// Where a subject's uploads go: its own scope, or the shared one when the operator says so.
  std::string uploadScope(const Principal& who) const {
    return config.imodelUploadScope == "shared" ? std::string() : ImodelStore::ownerKey(who.subject);
  }

  static json imodelJson(const ImodelEntry& e) {
    return {{"id", e.iModelId}, {"displayName", e.name}, {"changesetId", e.changesetId},
            {"changesetIndex", std::to_string(e.changesetIndex)}, {"size", e.size}};
  }

  void setupRoutes() {
    HttpLimits limits;
    limits.threads = config.httpThreads;
    limits.maxHeaderBytes = size_t(config.maxHeaderBytes);
    limits.headerTimeoutMs = int(config.headerTimeoutSeconds * 1000);
    limits.keepAliveTimeoutMs = int(config.keepAliveTimeoutSeconds * 1000);
    limits.keepAliveMaxRequests = config.keepAliveMaxRequests;
    limits.maxConnections = config.maxConnections;
    limits.maxConnectionsPerIp = config.maxConnectionsPerIp;
    limits.readTimeoutMs = int(config.readTimeoutSeconds * 1000);
    limits.minBodyBytesPerSecond = config.minBodyBytesPerSecond;
    http = std::make_unique<HttpServer>(limits);
    http->set_payload_max_length(size_t(std::max(config.maxUploadBytes, config.maxRequestBytes)));
    http->set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      tRequestStart = std::chrono::steady_clock::now();
      // A body of unknown length would be read until the client closes: ask for a length instead.
      if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") && !req.has_header("Content-Length") &&
          !req.has_header("Transfer-Encoding")) {
        res.set_header("Connection", "close");
        sendError(res, 411, "LengthRequired", "A request body needs a Content-Length (or chunked Transfer-Encoding).");
        return httplib::Server::HandlerResponse::Handled;
      }
      // Only the two uploads take a body; any other request that brings one is refused before it
      // is read (cpp-httplib would read it whole, unauthenticated, before routing).
      const bool takesBody = req.method == "POST" && (req.path == "/mesh-export" || req.path == "/mesh-export/" ||
                                                      req.path == "/imodels" || req.path == "/imodels/");
      if (!takesBody && (req.has_header("Transfer-Encoding") || declaredLength(req) > 0)) {
        res.set_header("Connection", "close");
        sendError(res, 413, "PayloadTooLarge", "This request takes no body.");
        return httplib::Server::HandlerResponse::Handled;
      }
      if (req.has_header("x-api-host-and-root") && !validHostAndRoot(req.get_header_value("x-api-host-and-root"))) {
        sendError(res, 400, "InvalidHeader", "The x-api-host-and-root header is not a valid host and path.",
                  {{"InvalidHeader", "Expected [scheme://]host[:port][/path] in printable ASCII.", "x-api-host-and-root"}});
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http->set_post_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      const std::string origin = req.get_header_value("Origin");
      res.set_header("Access-Control-Allow-Origin", origin.empty() ? "*" : origin);
      if (!origin.empty()) res.set_header("Vary", "Origin");
      res.set_header("Access-Control-Expose-Headers", "Retry-After, ETag, Location, Content-Range, Content-Length");
    });
    http->set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 404)
        sendJson(res, 404, {{"error", {{"code", "ResourceNotFound"},
                                       {"message", "The requested resource was not found. Verify the API URL and the Accept header."},
                                       {"details", json::array({{{"code", "OperationNotFound"}, {"message", "No such operation."}, {"target", nullptr}}})}}}});
      else if (res.status == 413)
        sendError(res, 413, "PayloadTooLarge", "The request body is too large.");
      else if (res.status == 400)
        sendError(res, 400, "BadRequest", "The request is malformed.");
      else if (res.status == 405)
        sendError(res, 405, "MethodNotAllowed", "This method is not allowed on this resource.");
      else if (res.status >= 400)
        sendError(res, res.status, "Error", "The request failed with status " + std::to_string(res.status) + ".");
    });
    http->set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown";
      try { std::rethrow_exception(ep); } catch (const std::exception& e) { what = e.what(); } catch (...) {}
      spdlog::error("{} {}: internal error: {}", req.method, req.path, what);
      sendError(res, 500, "InternalServerError", "The server failed to handle the request.");
    });
    http->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - tRequestStart).count();
      const std::string route = routeOf(req.path);
      metrics.request(route, req.method, res.status, seconds);
      // The path only: link signatures stay out of logs.
      spdlog::info("{} {} {} {} {:.1f} ms", req.remote_addr, req.method, req.path, res.status, seconds * 1e3);
    });

    http->Options(R"(.*)", [](const httplib::Request& req, httplib::Response& res) {
      res.status = 204;
      res.set_header("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE, OPTIONS");
      const std::string asked = req.get_header_value("Access-Control-Request-Headers");
      res.set_header("Access-Control-Allow-Headers",
                     asked.empty() ? "Authorization, Accept, Prefer, Content-Type, SessionId, x-api-host-and-root" : asked);
      res.set_header("Access-Control-Max-Age", "600");
    });
    http->Post(R"(/mesh-export/?)", [this](const httplib::Request& req, httplib::Response& res,
                                          const httplib::ContentReader& reader) { startExport(req, res, reader); });
    http->Get(R"(/mesh-export/?)", [this](const httplib::Request& req, httplib::Response& res) { listExports(req, res); });
    http->Get(R"(/mesh-export/([^/]+)/?)", [this](const httplib::Request& req, httplib::Response& res) { getExport(req, res); });
    http->Delete(R"(/mesh-export/([^/]+)/?)",
                [this](const httplib::Request& req, httplib::Response& res) { deleteExportRoute(req, res); });
    http->Get(R"(/tiles/([^/]+)/(.*))", [this](const httplib::Request& req, httplib::Response& res) { serveTile(req, res); });
    http->Post(R"(/imodels/?)", [this](const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader& reader) { uploadImodel(req, res, reader); });
    http->Get(R"(/imodels/?)", [this](const httplib::Request& req, httplib::Response& res) {
      auto who = authorize(req, res, Access::Read);
      if (!who) return;
      json list = json::array();
      for (const auto& e : imodels->list(ImodelStore::ownerKey(who->subject))) list.push_back(imodelJson(e));
      sendJson(res, 200, {{"iModels", std::move(list)}});
    });
    http->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
      size_t queued, active;
      {
        std::lock_guard lock(mutex);
        queued = queue.size();
        active = running.size();
      }
      sendJson(res, 200, {{"status", "ok"}, {"queued", queued}, {"running", active}, {"workers", config.workers}});
    });
    http->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      size_t queued, active;
      {
        std::lock_guard lock(mutex);
        queued = queue.size();
        active = running.size();
      }
      std::ostringstream conn;
      const auto& refused = http->refusals();
      conn << "# HELP meshexport_http_connections Open HTTP connections.\n# TYPE meshexport_http_connections gauge\n"
           << "meshexport_http_connections " << http->connections() << "\n"
           << "# HELP meshexport_http_connections_refused_total Connections the server answered itself and closed, by reason.\n"
           << "# TYPE meshexport_http_connections_refused_total counter\n";
      for (const auto& [reason, n] : {std::pair{"too_many_connections", refused.tooMany.load()},
                                      std::pair{"header_timeout", refused.headerTimeout.load()},
                                      std::pair{"headers_too_large", refused.headersTooLarge.load()},
                                      std::pair{"bad_framing", refused.badFraming.load()}})
        conn << "meshexport_http_connections_refused_total{reason=\"" << reason << "\"} " << n << "\n";
      res.set_content(metrics.render(store->countsByStatus(), queued, active) + conn.str(), "text/plain; version=0.0.4");
    });
  }
};

Service::Service() : _impl(std::make_unique<Impl>()) {}
Service::~Service() { stop(); }

core::Result<std::unique_ptr<Service>> Service::create(ServiceConfig config) {
  MX_RETURN_IF_ERROR(finalizeConfig(config));
  std::unique_ptr<Service> s(new Service());
  Impl& m = *s->_impl;
  m.config = std::move(config);
  m.dir.root = m.config.dataDir;
  std::error_code ec;
  fs::create_directories(m.config.dataDir, ec);
  if (ec) return Status{ErrorCode::IoError, "cannot create " + m.config.dataDir.string() + ": " + ec.message()};
  MX_ASSIGN_OR_RETURN(m.dirLock, lockDataDir(m.config.dataDir));
  for (const fs::path& d : {m.dir.imodels(), m.exportsDir(), m.jobsDir()}) {
    fs::create_directories(d, ec);
    if (ec) return Status{ErrorCode::IoError, "cannot create " + d.string() + ": " + ec.message()};
  }
  m.secret = m.config.signingSecret;
  if (m.secret.empty()) {
    const fs::path keyFile = m.config.dataDir / "signing.key";
    std::ifstream in(keyFile);
    std::getline(in, m.secret);
    if (m.secret.size() < 32) {
      m.secret = randomHex(32);
      std::ofstream out(keyFile, std::ios::trunc);
      out << m.secret << "\n";
      if (!out) return Status{ErrorCode::IoError, "cannot write " + keyFile.string()};
      fs::permissions(keyFile, fs::perms::owner_read | fs::perms::owner_write, ec);
    }
  }
  // A new store only where no export exists that it would have to list: a store lost or emptied
  // under existing exports is an operator's matter (`meshexport store recover`), never a reset.
  {
    auto opened = SqliteJobStore::open(m.dir.store(), m.dir.holdsExports() ? SqliteJobStore::Create::Never : SqliteJobStore::Create::IfMissing);
    if (!opened) {
      Status st = opened.status();
      if (st.code() == ErrorCode::DataLoss)
        st = Status{ErrorCode::DataLoss, st.message() + ". Nothing was changed. `meshexport store check --data-dir " +
                                             m.config.dataDir.string() + "` shows what is there; `meshexport store recover` " +
                                             "rebuilds the store from the exports' manifests (a damaged store is moved aside)."};
      return st;
    }
    m.store = std::move(*opened);
  }
  auto auth = Authenticator::create(m.config);
  if (!auth) return auth.status();
  m.auth.emplace(std::move(*auth));
  m.limiter = std::make_unique<RateLimiter>(m.config.rateLimitPerSecond, m.config.rateLimitBurst);
  m.imodels = std::make_unique<ImodelStore>(m.config.dataDir / "imodels");
  for (const auto& p : m.imodels->rescan()) spdlog::warn("skipped {}", p);
  // A previous run that stopped (or crashed) mid-export: run those again; finish or undo
  // interrupted DELETEs; folders the store cannot account for go to quarantine, never away.
  // Rows from before subjects were namespaced: a configured development subject keeps its
  // exports; otherwise the configured issuer's subject does. Without either they stay unseen.
  for (const auto& legacy : m.store->legacySubjects()) {
    std::string to;
    for (const auto& t : m.config.devTokens)
      if (t.subject == legacy) to = devSubject(legacy);
    if (to.empty() && !m.config.issuer.empty()) to = jwtSubject(m.config.issuer, legacy);
    if (to.empty()) {
      spdlog::warn("exports of subject \"{}\" predate issuer namespaces and match no dev token or issuer: nobody sees them", legacy);
      continue;
    }
    if (Status st = m.store->renameSubject(legacy, to); !st) return st;
    spdlog::info("exports of subject \"{}\" now belong to {}", legacy, to);
  }
  if (const int64_t n = m.store->requeueInProgress(); n > 0) spdlog::info("{} export(s) left InProgress re-queued", n);
  for (const auto& line : reconcileFolders(m.dir, *m.store).log) spdlog::warn("{}", line);
  for (const auto& id : m.store->idsWithStatus(ExportStatus::NotStarted)) m.queue.push_back(id);
  return s;
}

Status Service::start() {
  Impl& m = *_impl;
  if (m.started) return Status{ErrorCode::InvalidArgument, "the service is already started"};
  m.setupRoutes();
  MX_ASSIGN_OR_RETURN(m.boundPort, m.http->bindAndListen(m.config.host, m.config.port));
  m.base = m.config.publicUrl.empty()
               ? "http://" + (m.config.host == "0.0.0.0" ? std::string("127.0.0.1") : m.config.host) + ":" + std::to_string(m.boundPort)
               : m.config.publicUrl;
  m.started = true;
  m.httpThread = std::thread([&m] { m.http->serve(); });
  for (int i = 0; i < m.config.workers; ++i) m.workers.emplace_back([&m] { m.workerLoop(); });
  spdlog::info("meshexport serving {} (data {}, {} worker(s), {} queued)", m.base, m.config.dataDir.string(),
               m.config.workers, m.queue.size());
  return Status::ok();
}

void Service::stop() {
  Impl& m = *_impl;
  if (!m.started || m.stopped) return;
  m.stopped = true;
  m.http->shutdown();
  if (m.httpThread.joinable()) m.httpThread.join();
  {
    std::lock_guard lock(m.mutex);
    m.stopping = true;
    m.queue.clear();
  }
  m.cv.notify_all();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(m.config.shutdownGraceSeconds);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(m.mutex);
      if (m.running.empty()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  m.abandon = true;
  for (auto& w : m.workers) w.join();
  m.workers.clear();
  spdlog::info("meshexport stopped");
}

int Service::port() const { return _impl->boundPort; }
std::string Service::baseUrl() const { return _impl->base; }
const ServiceConfig& Service::config() const { return _impl->config; }
std::vector<int> Service::runningTilers() const {
  std::lock_guard lock(_impl->mutex);
  std::vector<int> out;
  for (const auto& [id, pid] : _impl->running)
    if (pid > 0) out.push_back(pid);
  return out;
}

} // namespace mx::service
