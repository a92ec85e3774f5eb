// The service's wiring: what `meshexport serve` owns and in which order it starts and stops.
//   create   data folder (locked), signing secret, job store (never reset under existing exports),
//            authenticator, rate limiter, iModel store, start-up recovery, the job queue
//   start    HTTP server with its limits, routes (Routes.h), workers (ExportWorker.h)
//   stop     no new connections, running exports get shutdownGraceSeconds, then are re-queued
#include <mx/service/Service.h>

#include "ExportWorker.h"
#include "HttpServer.h"
#include "JobService.h"
#include "RateLimiter.h"
#include "Routes.h"
#include "ServiceMetrics.h"

#include <mx/service/Auth.h>
#include <mx/service/DataDir.h>
#include <mx/service/ImodelStore.h>
#include <mx/service/JobStore.h>
#include <mx/service/SqliteJobStore.h>

#include <spdlog/spdlog.h>

#include <fstream>
#include <thread>

namespace mx::service {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Status;

struct Service::Impl {
  ServiceConfig config;
  DataDir dir;
  PidLock dirLock; ///< This process owns dataDir while it runs.
  std::string secret;
  std::unique_ptr<JobStore> store;
  std::unique_ptr<ImodelStore> imodels;
  std::optional<Authenticator> auth;
  std::unique_ptr<RateLimiter> limiter;
  ServiceMetrics metrics;
  std::unique_ptr<JobService> jobs;
  std::unique_ptr<Routes> routes;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<ExportWorker> worker;
  std::thread httpThread;
  std::vector<std::thread> workers;
  int boundPort = 0;
  std::string base;
  bool started = false, stopped = false;
};

namespace {

/// The link-signing secret: configured, or DATA/signing.key (made on first start, mode 0600).
core::Result<std::string> signingSecret(const ServiceConfig& config) {
  std::string secret = config.signingSecret;
  if (!secret.empty()) return secret;
  const fs::path keyFile = config.dataDir / "signing.key";
  std::ifstream in(keyFile);
  std::getline(in, secret);
  if (secret.size() >= 32) return secret;
  secret = randomHex(32);
  std::ofstream out(keyFile, std::ios::trunc);
  out << secret << "\n";
  if (!out) return Status{ErrorCode::IoError, "cannot write " + keyFile.string()};
  std::error_code ec;
  fs::permissions(keyFile, fs::perms::owner_read | fs::perms::owner_write, ec);
  return secret;
}

/// A new store only where no export exists that it would have to list: a store lost or emptied
/// under existing exports is an operator's matter (`meshexport store recover`), never a reset.
core::Result<std::unique_ptr<JobStore>> openStore(const ServiceConfig& config, const DataDir& dir) {
  auto opened = SqliteJobStore::open(dir.store(), dir.holdsExports() ? SqliteJobStore::Create::Never
                                                                     : SqliteJobStore::Create::IfMissing);
  if (!opened) {
    Status st = opened.status();
    if (st.code() == ErrorCode::DataLoss)
      st = Status{ErrorCode::DataLoss,
                  st.message() + ". Nothing was changed. `meshexport store check --data-dir " +
                      config.dataDir.string() + "` shows what is there; `meshexport store recover` " +
                      "rebuilds the store from the exports' manifests (a damaged store is moved aside)."};
    return st;
  }
  return std::unique_ptr<JobStore>(std::move(*opened));
}

/// Rows from before subjects were namespaced: a configured development subject keeps its
/// exports; otherwise the configured issuer's subject does. Without either they stay unseen.
Status migrateLegacySubjects(const ServiceConfig& config, JobStore& store) {
  for (const auto& legacy : store.legacySubjects()) {
    std::string to;
    for (const auto& t : config.devTokens)
      if (t.subject == legacy) to = devSubject(legacy);
    if (to.empty() && !config.issuer.empty()) to = jwtSubject(config.issuer, legacy);
    if (to.empty()) {
      spdlog::warn(
          "exports of subject \"{}\" predate issuer namespaces and match no dev token or issuer: nobody sees them",
          legacy);
      continue;
    }
    MX_RETURN_IF_ERROR(store.renameSubject(legacy, to));
    spdlog::info("exports of subject \"{}\" now belong to {}", legacy, to);
  }
  return Status::ok();
}

std::unique_ptr<HttpServer> makeHttpServer(const ServiceConfig& config) {
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
  auto http = std::make_unique<HttpServer>(limits);
  http->set_payload_max_length(size_t(std::max(config.maxUploadBytes, config.maxRequestBytes)));
  return http;
}

} // namespace

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
  for (const fs::path& d : {m.dir.imodels(), m.dir.exports(), m.dir.jobs()}) {
    fs::create_directories(d, ec);
    if (ec) return Status{ErrorCode::IoError, "cannot create " + d.string() + ": " + ec.message()};
  }
  MX_ASSIGN_OR_RETURN(m.secret, signingSecret(m.config));
  MX_ASSIGN_OR_RETURN(m.store, openStore(m.config, m.dir));
  auto auth = Authenticator::create(m.config);
  if (!auth) return auth.status();
  m.auth.emplace(std::move(*auth));
  m.limiter = std::make_unique<RateLimiter>(m.config.rateLimitPerSecond, m.config.rateLimitBurst);
  m.imodels = std::make_unique<ImodelStore>(m.config.dataDir / "imodels");
  for (const auto& p : m.imodels->rescan()) spdlog::warn("skipped {}", p);
  MX_RETURN_IF_ERROR(migrateLegacySubjects(m.config, *m.store));
  // A previous run that stopped (or crashed) mid-export: run those again; finish or undo
  // interrupted DELETEs; folders the store cannot account for go to quarantine, never away.
  if (const int64_t n = m.store->requeueInProgress(); n > 0) spdlog::info("{} export(s) left InProgress re-queued", n);
  for (const auto& line : reconcileFolders(m.dir, *m.store).log) spdlog::warn("{}", line);
  m.jobs = std::make_unique<JobService>(m.config, m.dir, *m.store, *m.imodels);
  m.jobs->loadQueue();
  return s;
}

Status Service::start() {
  Impl& m = *_impl;
  if (m.started) return Status{ErrorCode::InvalidArgument, "the service is already started"};
  m.http = makeHttpServer(m.config);
  m.routes.reset(new Routes{m.config, *m.jobs, *m.store, *m.imodels, *m.auth, *m.limiter, m.metrics, m.secret, m.base});
  m.routes->install(*m.http);
  MX_ASSIGN_OR_RETURN(m.boundPort, m.http->bindAndListen(m.config.host, m.config.port));
  m.base = m.config.publicUrl.empty()
               ? "http://" + (m.config.host == "0.0.0.0" ? std::string("127.0.0.1") : m.config.host) + ":" +
                     std::to_string(m.boundPort)
               : m.config.publicUrl;
  m.started = true;
  m.httpThread = std::thread([&m] { m.http->serve(); });
  m.worker = std::make_unique<ExportWorker>(m.config, m.dir, *m.jobs, m.metrics);
  for (int i = 0; i < m.config.workers; ++i) m.workers.emplace_back([&m] { m.worker->loop(); });
  spdlog::info("meshexport serving {} (data {}, {} worker(s), {} queued)", m.base, m.config.dataDir.string(),
               m.config.workers, m.jobs->queued());
  return Status::ok();
}

void Service::stop() {
  Impl& m = *_impl;
  if (!m.started || m.stopped) return;
  m.stopped = true;
  m.http->shutdown();
  if (m.httpThread.joinable()) m.httpThread.join();
  m.jobs->stop(std::chrono::seconds(m.config.shutdownGraceSeconds));
  for (auto& w : m.workers) w.join();
  m.workers.clear();
  spdlog::info("meshexport stopped");
}

int Service::port() const { return _impl->boundPort; }
std::string Service::baseUrl() const { return _impl->base; }
const ServiceConfig& Service::config() const { return _impl->config; }
std::vector<int> Service::runningTilers() const { return _impl->jobs->runningPids(); }

} // namespace mx::service
