// mx_fleet_bench: the fleet on a real PostgreSQL (run it through tests/external/with-postgres.sh,
// which names the throwaway server in MESHEXPORT_TEST_POSTGRES; without it every case skips).
//   BM_Claims/W: 2000 queued exports claimed by W workers (1, 4, 16), each with its own store
//     object (connections), until none is left: claims/s. W = 1 is the baseline of the others.
//   BM_ListGet/fleet, BM_ListGet/sqlite: 50 clients list and get for 5 s, over two API nodes on
//     PostgreSQL, and over one node on SQLite (the single-node default, the baseline): p50/p99 ms.
//   BM_Failover: a worker killed (SIGKILL) while it runs an export; the seconds until another
//     worker runs it, against the lease (3 s).
#include <mx/service/PostgresJobStore.h>

#include <benchmark/benchmark.h>
#include <httplib.h>
#include <libpq-fe.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using mx::service::ExportRecord;
using mx::service::PostgresJobStore;
constexpr const char* kToken = "bench-token-0123456789abcdef";
constexpr const char* kSecret = "bench-secret-0123456789abcdef0123456789";

const char* server() { return std::getenv("MESHEXPORT_TEST_POSTGRES"); }

/// A fresh schema of the server, as a connection string.
std::string schema(const std::string& name) {
  PGconn* c = PQconnectdb(server());
  const std::string sql = "DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name + ";";
  PQclear(PQexec(c, sql.c_str()));
  PQfinish(c);
  return std::string(server()) + " options='-csearch_path=" + name + "'";
}

fs::path freshDir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("mx-fleet-bench-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

httplib::Headers auth() { return {{"Authorization", std::string("Bearer ") + kToken}}; }

/// One `meshexport serve` process; its log names the port it bound.
class Node {
public:
  Node(const fs::path& root, const std::string& name, std::vector<std::string> args) {
    const fs::path log = root / (name + ".log");
    std::vector<std::string> argv = {MESHEXPORT_BINARY,
                                     "serve",
                                     "--node-name",
                                     name,
                                     "--port",
                                     "0",
                                     "--data-dir",
                                     root.string(),
                                     "--dev-token",
                                     kToken,
                                     "--rate-limit-per-second",
                                     "0",
                                     "--signing-secret",
                                     kSecret,
                                     "--shutdown-grace-seconds",
                                     "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c;
    for (auto& a : argv) c.push_back(a.data());
    c.push_back(nullptr);
    pid = ::fork();
    if (pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execv(c[0], c.data());
      ::_exit(127);
    }
    const std::regex listening("listening on http://127\\.0\\.0\\.1:(\\d+)");
    for (int i = 0; i < 600 && port == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::ifstream in(log);
      std::stringstream text;
      text << in.rdbuf();
      const std::string t = text.str();
      std::smatch m;
      if (std::regex_search(t, m, listening)) port = std::stoi(m[1].str());
    }
  }
  ~Node() { stop(SIGTERM); }
  void stop(int sig) {
    if (pid <= 0) return;
    ::kill(pid, sig);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
  [[nodiscard]] httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30);
    return c;
  }
  pid_t pid = -1;
  int port = 0;
};

std::string addDemo(const fs::path& root) {
  const std::string cmd = std::string("'") + MESHEXPORT_BINARY + "' imodels add '" + MESHEXPORT_SOURCE_DIR +
                          "/datasets/imodel/fixtures/small.bim' --data-dir '" + root.string() + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  std::smatch m;
  return std::regex_search(out, m, std::regex("added ([0-9a-f-]{36})")) ? m[1].str() : "";
}

std::string startExport(const Node& n, const std::string& imodel, int variant) {
  const json b = {{"iModelId", imodel},
                  {"tilerConfig", json::array({{{"key", "maxTrianglesPerTile"}, {"value", 1000 + variant}}})}};
  auto r = n.client().Post("/mesh-export/", auth(), b.dump(), "application/json");
  return r && r->status == 202 ? json::parse(r->body)["export"]["id"].get<std::string>() : "";
}

json getExport(const Node& n, const std::string& id) {
  auto r = n.client().Get("/mesh-export/" + id, auth());
  return r && r->status == 200 ? json::parse(r->body)["export"] : json();
}

void BM_Claims(benchmark::State& state) {
  if (!server()) return state.SkipWithError("no PostgreSQL: run through tests/external/with-postgres.sh");
  const int workers = int(state.range(0));
  constexpr int kExports = 2000;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string conninfo = schema("mx_claims_" + std::to_string(workers));
    {
      auto store = PostgresJobStore::open(conninfo);
      if (!store) return state.SkipWithError(store.status().message().c_str());
      for (int i = 0; i < kExports; ++i) {
        ExportRecord r;
        r.id = "c" + std::to_string(i);
        r.subject = "dev:bench";
        r.iModelId = "m";
        r.exportType = r.typeClass = "3DTILES";
        r.createdMs = r.modifiedMs = 1000 + i;
        (void)(*store)->insert(r);
      }
    }
    std::vector<std::unique_ptr<PostgresJobStore>> nodes;
    for (int w = 0; w < workers; ++w) {
      auto node = PostgresJobStore::open(conninfo);
      if (!node) return state.SkipWithError(node.status().message().c_str());
      nodes.push_back(std::move(node).value());
    }
    std::atomic<int> claimed{0};
    state.ResumeTiming();
    const auto t0 = Clock::now();
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w)
      threads.emplace_back([&, w] {
        while (true) {
          auto c = nodes[size_t(w)]->claim("w" + std::to_string(w), mx::service::SlotKind::Gpu, 60000);
          if (!c || !*c) break;
          ++claimed;
        }
      });
    for (auto& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    state.counters["claims"] = claimed.load();
    state.counters["claims_per_s"] = claimed.load() / seconds;
  }
}
BENCHMARK(BM_Claims)->Arg(1)->Arg(4)->Arg(16)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

/// 50 clients for 5 s, each alternating a list and a get, spread over `nodes`.
void loadNodes(benchmark::State& state, const std::vector<const Node*>& nodes, const std::string& imodel,
               const std::vector<std::string>& ids) {
  std::vector<std::vector<double>> listMs(50), getMs(50);
  std::atomic<int> errors{0};
  const auto end = Clock::now() + std::chrono::seconds(5);
  std::vector<std::thread> clients;
  for (size_t k = 0; k < 50; ++k)
    clients.emplace_back([&, k] {
      httplib::Client c = nodes[k % nodes.size()]->client();
      c.set_keep_alive(true);
      for (size_t i = 0; Clock::now() < end; ++i) {
        const auto t0 = Clock::now();
        auto r = i % 2 ? c.Get("/mesh-export/" + ids[i % ids.size()], auth())
                       : c.Get("/mesh-export/?iModelId=" + imodel + "&$top=10", auth());
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (!r || r->status != 200) ++errors;
        (i % 2 ? getMs : listMs)[k].push_back(ms);
      }
    });
  for (auto& t : clients) t.join();
  std::vector<double> lists, gets;
  for (size_t k = 0; k < 50; ++k) {
    lists.insert(lists.end(), listMs[k].begin(), listMs[k].end());
    gets.insert(gets.end(), getMs[k].begin(), getMs[k].end());
  }
  state.counters["list_p50_ms"] = percentile(lists, 0.5);
  state.counters["list_p99_ms"] = percentile(lists, 0.99);
  state.counters["get_p50_ms"] = percentile(gets, 0.5);
  state.counters["get_p99_ms"] = percentile(gets, 0.99);
  state.counters["requests_per_s"] = double(lists.size() + gets.size()) / 5.0;
  state.counters["errors"] = errors.load();
}

void BM_ListGet(benchmark::State& state, bool fleet) {
  if (fleet && !server()) return state.SkipWithError("no PostgreSQL: run through tests/external/with-postgres.sh");
  for (auto _ : state) {
    const fs::path root = freshDir(fleet ? "fleet" : "sqlite");
    const std::string imodel = addDemo(root);
    std::vector<std::unique_ptr<Node>> nodes;
    if (fleet) {
      const std::string store = schema("mx_listget");
      nodes.push_back(
          std::make_unique<Node>(root, "api-a", std::vector<std::string>{"--store", store, "--role", "api"}));
      nodes.push_back(
          std::make_unique<Node>(root, "api-b", std::vector<std::string>{"--store", store, "--role", "api"}));
      nodes.push_back(std::make_unique<Node>(
          root, "worker", std::vector<std::string>{"--store", store, "--role", "worker", "--cpu-slots", "2"}));
    } else {
      nodes.push_back(std::make_unique<Node>(root, "single", std::vector<std::string>{"--workers", "2"}));
    }
    std::vector<std::string> ids;
    for (int k = 0; k < 20; ++k) ids.push_back(startExport(*nodes[0], imodel, k));
    for (const auto& id : ids)
      for (int i = 0; i < 1200 && getExport(*nodes[0], id).value("status", "") != "Complete"; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::vector<const Node*> api = {nodes[0].get()};
    if (fleet) api.push_back(nodes[1].get());
    loadNodes(state, api, imodel, ids);
    nodes.clear();
    fs::remove_all(root);
  }
}
BENCHMARK_CAPTURE(BM_ListGet, sqlite, false)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ListGet, fleet, true)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

void BM_Failover(benchmark::State& state) {
  if (!server()) return state.SkipWithError("no PostgreSQL: run through tests/external/with-postgres.sh");
  for (auto _ : state) {
    const fs::path root = freshDir("failover");
    const std::string imodel = addDemo(root);
    const fs::path tiler = root / "slow-tiler.sh";
    {
      std::ofstream out(tiler);
      out << "#!/bin/sh\nsleep 4\nexec '" << MESHEXPORT_BINARY << "' \"$@\"\n";
    }
    fs::permissions(tiler, fs::perms::owner_all);
    const std::string store = schema("mx_failover");
    const std::vector<std::string> worker = {"--store",      store,          "--role",          "worker",
                                             "--tiler-path", tiler.string(), "--lease-seconds", "3"};
    Node api(root, "api", {"--store", store, "--role", "api"});
    auto first = std::make_unique<Node>(root, "worker-1", worker);
    const std::string id = startExport(api, imodel, 0);
    for (int i = 0; i < 600 && getExport(api, id).value("status", "") != "InProgress"; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    Node second(root, "worker-2", worker); // idle, polling
    const auto killed = Clock::now();
    first->stop(SIGKILL);
    double seconds = -1;
    for (int i = 0; i < 3000; ++i) {
      auto h = second.client().Get("/healthz");
      bool running = false;
      const json health = h && h->status == 200 ? json::parse(h->body) : json::object();
      if (health.contains("slots"))
        for (const auto& slot : health["slots"]) running |= slot["export"] == id;
      if (running) {
        seconds = std::chrono::duration<double>(Clock::now() - killed).count();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    state.counters["lease_s"] = 3;
    state.counters["death_to_running_s"] = seconds;
    state.counters["ratio_to_lease"] = seconds / 3;
    if (seconds < 0) {
      state.SkipWithError(("the export never ran again; logs in " + root.string()).c_str());
      return;
    }
    fs::remove_all(root);
  }
}
BENCHMARK(BM_Failover)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

} // namespace
