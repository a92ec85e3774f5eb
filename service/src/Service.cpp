// The service's wiring: what `meshexport serve` owns and in which order it starts and stops.
//   create   data folder, signing secret, job store (never reset under existing exports),
//            authenticator, rate limiter, iModel store, the tiler slots, the job queue. One node
//            (SQLite): the folder is locked and start-up recovery runs. A fleet (PostgreSQL): the
//            folder is a storage root every node mounts, so neither (leases recover instead)
//   start    HTTP server with its limits, routes (Routes.h: the API unless role=worker),
//            one worker per slot unless role=api (ExportWorker.h), a fleet's heartbeat
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
#include <mx/service/PostgresJobStore.h>
#include <mx/service/SqliteJobStore.h>

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <sstream>
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
  JobLeases* leases = nullptr; ///< The store's fleet side (PostgreSQL); nullptr on one node.
  std::vector<Slot> slots;
  std::string gpuList; ///< The GPU indices the slots use, "0,2".
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
  std::thread heartbeat;
  std::mutex heartbeatMutex;
  std::condition_variable heartbeatStop;
  bool heartbeatStopping = false;
  int boundPort = 0;
  std::string base;
  bool started = false, stopped = false;
};

namespace {

/// The link-signing secret: configured, or DATA/signing.key, made on the first start (mode 0600)
/// by whichever node of a fleet gets there first: it is written beside, then linked into place,
/// which fails when another node's key is there already; that one is then read.
core::Result<std::string> signingSecret(const ServiceConfig& config) {
  std::string secret = config.signingSecret;
  if (!secret.empty()) return secret;
  const fs::path keyFile = config.dataDir / "signing.key";
  auto readKey = [&] {
    std::string key;
    std::ifstream in(keyFile);
    std::getline(in, key);
    return key;
  };
  if (secret = readKey(); secret.size() >= 32) return secret;
  const fs::path temp = config.dataDir / ("signing.key." + uniqueSuffix());
  {
    std::ofstream out(temp, std::ios::trunc);
    out << randomHex(32) << "\n";
    if (!out) return Status{ErrorCode::IoError, "cannot write " + temp.string()};
  }
  std::error_code ec;
  fs::permissions(temp, fs::perms::owner_read | fs::perms::owner_write, ec);
  if (::link(temp.c_str(), keyFile.c_str()) != 0 && errno == EEXIST && readKey().size() < 32)
    fs::rename(temp, keyFile, ec); // a short or empty key file of an interrupted start is replaced
  fs::remove(temp, ec);
  if (secret = readKey(); secret.size() >= 32) return secret;
  return Status{ErrorCode::IoError, "cannot write " + keyFile.string()};
}

/// The GPUs of this host: MESHEXPORT_FAKE_GPUS ("0,1"; "" none) when set — the tests' device
/// list, no GPU being lent to CI — else one per entry of /proc/driver/nvidia/gpus.
std::vector<int> hostGpus() {
  std::vector<int> out;
  if (const char* fake = std::getenv("MESHEXPORT_FAKE_GPUS")) {
    std::stringstream list(fake);
    for (std::string item; std::getline(list, item, ',');)
      if (!item.empty()) out.push_back(std::atoi(item.c_str()));
    return out;
  }
  std::error_code ec;
  int n = 0;
  for (fs::directory_iterator it("/proc/driver/nvidia/gpus", ec), end; !ec && it != end; it.increment(ec)) ++n;
  for (int i = 0; i < n; ++i) out.push_back(i);
  return out;
}

/// One slot per GPU that `gpus` names (all, none, "0,2"), then cpuSlots CPU slots.
core::Result<std::vector<Slot>> makeSlots(const ServiceConfig& config, std::string& gpuList) {
  const std::vector<int> found = hostGpus();
  std::vector<int> use;
  if (config.gpus == "all") use = found;
  if (config.gpus != "all" && config.gpus != "none") {
    std::stringstream list(config.gpus);
    for (std::string item; std::getline(list, item, ',');) {
      if (item.empty()) continue;
      const int g = std::atoi(item.c_str());
      if (std::find(found.begin(), found.end(), g) == found.end()) {
        std::string have;
        for (int f : found) have += (have.empty() ? "" : ",") + std::to_string(f);
        return Status{ErrorCode::InvalidArgument, "config gpus=\"" + config.gpus + "\": GPU " + item +
                                                      " is not on this host (found: " + (have.empty() ? "none" : have) +
                                                      ")"};
      }
      use.push_back(g);
    }
  }
  std::vector<Slot> slots;
  for (int g : use) {
    slots.push_back({SlotKind::Gpu, g, int(slots.size())});
    gpuList += (gpuList.empty() ? "" : ",") + std::to_string(g);
  }
  for (int i = 0; i < config.cpuSlots; ++i) slots.push_back({SlotKind::Cpu, -1, i});
  if (slots.empty() && config.role != "api")
    return Status{ErrorCode::InvalidArgument, "this node has no tiler slot (gpus=" + config.gpus +
                                                  " found none, cpuSlots=0): give it cpuSlots or role api"};
  return slots;
}

/// A PostgreSQL store (a fleet), or a SQLite file. A new SQLite store only where no export exists
/// that it would have to list: a store lost or emptied under existing exports is an operator's
/// matter (`meshexport store recover`), never a reset.
core::Result<std::unique_ptr<JobStore>> openStore(const ServiceConfig& config, const DataDir& dir) {
  if (isPostgresStore(config.store)) {
    auto pg = PostgresJobStore::open(config.store);
    if (!pg) {
      Status st = pg.status();
      return st.withContext("store");
    }
    return std::unique_ptr<JobStore>(std::move(*pg));
  }
  const fs::path file = config.store.substr(std::string("sqlite:").size());
  auto opened = SqliteJobStore::open(file, dir.holdsExports() ? SqliteJobStore::Create::Never
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
  const bool fleet = isPostgresStore(m.config.store);
  // One node owns its data folder; a fleet's nodes share it (the store's leases coordinate them).
  if (!fleet) {
    MX_ASSIGN_OR_RETURN(m.dirLock, lockDataDir(m.config.dataDir));
  }
  for (const fs::path& d : {m.dir.imodels(), m.dir.exports(), m.dir.jobs()}) {
    fs::create_directories(d, ec);
    if (ec) return Status{ErrorCode::IoError, "cannot create " + d.string() + ": " + ec.message()};
  }
  MX_ASSIGN_OR_RETURN(m.slots, makeSlots(m.config, m.gpuList));
  MX_ASSIGN_OR_RETURN(m.secret, signingSecret(m.config));
  MX_ASSIGN_OR_RETURN(m.store, openStore(m.config, m.dir));
  if (fleet) m.leases = dynamic_cast<JobLeases*>(m.store.get());
  auto auth = Authenticator::create(m.config);
  if (!auth) return auth.status();
  m.auth.emplace(std::move(*auth));
  m.limiter = std::make_unique<RateLimiter>(m.config.rateLimitPerSecond, m.config.rateLimitBurst);
  m.imodels = std::make_unique<ImodelStore>(m.config.dataDir / "imodels");
  // A fleet records every file it finds in the store's catalog as it scans.
  for (const auto& p : fleet ? m.imodels->setCatalog(dynamic_cast<ImodelCatalog*>(m.store.get())) : m.imodels->rescan())
    spdlog::warn("skipped {}", p);
  MX_RETURN_IF_ERROR(migrateLegacySubjects(m.config, *m.store));
  if (!fleet) {
    // A previous run that stopped (or crashed) mid-export: run those again; finish or undo
    // interrupted DELETEs; folders the store cannot account for go to quarantine, never away.
    // (In a fleet other nodes are running: expired leases re-queue exports instead.)
    if (const int64_t n = m.store->requeueInProgress(); n > 0)
      spdlog::info("{} export(s) left InProgress re-queued", n);
    for (const auto& line : reconcileFolders(m.dir, *m.store).log) spdlog::warn("{}", line);
  }
  m.jobs = std::make_unique<JobService>(m.config, m.dir, *m.store, *m.imodels, m.leases);
  m.jobs->setGpuSlots(
      int(std::count_if(m.slots.begin(), m.slots.end(), [](const Slot& slot) { return slot.kind == SlotKind::Gpu; })));
  m.jobs->loadQueue();
  return s;
}

Status Service::start() {
  Impl& m = *_impl;
  /// A fleet node's heartbeat, every second: its slots and what they run (a CPU slot leaves `auto`
  /// exports to a GPU slot that a heartbeat says is free).
  auto runHeartbeat = [](Impl& node) {
    bool reported = false;
    std::unique_lock lock(node.heartbeatMutex);
    while (!node.heartbeatStopping) {
      lock.unlock();
      NodeState n;
      n.name = node.config.nodeName;
      n.role = node.config.role;
      n.gpus = node.gpuList;
      if (node.config.role != "api")
        for (const Slot& s : node.slots) ++(s.kind == SlotKind::Gpu ? n.gpuSlots : n.cpuSlots);
      n.gpuBusy = int64_t(node.jobs->busy(SlotKind::Gpu));
      n.cpuBusy = int64_t(node.jobs->busy(SlotKind::Cpu));
      const Status s = node.leases->heartbeat(n);
      if (!s && !reported) spdlog::error("heartbeat: {}", s.message());
      reported = !s;
      lock.lock();
      node.heartbeatStop.wait_for(lock, std::chrono::seconds(1), [&] { return node.heartbeatStopping; });
    }
  };
  if (m.started) return Status{ErrorCode::InvalidArgument, "the service is already started"};
  m.http = makeHttpServer(m.config);
  m.routes.reset(new Routes{m.config, *m.jobs, *m.store, *m.imodels, *m.auth, *m.limiter, m.metrics, m.secret, m.base,
                            m.slots, m.leases});
  m.routes->install(*m.http);
  MX_ASSIGN_OR_RETURN(m.boundPort, m.http->bindAndListen(m.config.host, m.config.port));
  m.base = m.config.publicUrl.empty() ? boundUrl() : m.config.publicUrl;
  m.started = true;
  m.httpThread = std::thread([&m] { m.http->serve(); });
  m.worker = std::make_unique<ExportWorker>(m.config, m.dir, *m.jobs, m.metrics);
  if (m.config.role != "api")
    for (const Slot& slot : m.slots) m.workers.emplace_back([&m, slot] { m.worker->loop(slot); });
  if (m.leases) m.heartbeat = std::thread([&m, runHeartbeat] { runHeartbeat(m); });
  spdlog::info("meshexport {} {} serving {} (data {}, store {}, {} tiler slot(s){}, {} queued)", m.config.role,
               m.config.nodeName, m.base, m.config.dataDir.string(), m.leases ? "postgresql" : "sqlite",
               m.config.role == "api" ? 0 : m.slots.size(),
               m.gpuList.empty() ? std::string() : " with GPUs " + m.gpuList, m.jobs->queued());
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
  if (m.heartbeat.joinable()) {
    {
      std::lock_guard lock(m.heartbeatMutex);
      m.heartbeatStopping = true;
    }
    m.heartbeatStop.notify_all();
    m.heartbeat.join();
    (void)m.leases->leave(m.config.nodeName);
  }
  spdlog::info("meshexport stopped");
}

int Service::port() const { return _impl->boundPort; }
std::string Service::boundUrl() const {
  const std::string& host = _impl->config.host;
  return "http://" + (host == "0.0.0.0" ? std::string("127.0.0.1") : host) + ":" + std::to_string(_impl->boundPort);
}
std::string Service::baseUrl() const { return _impl->base; }
const ServiceConfig& Service::config() const { return _impl->config; }
std::vector<int> Service::runningTilers() const { return _impl->jobs->runningPids(); }

} // namespace mx::service
