// mx_service_bench: the HTTP service measured from outside, over loopback only, against a
// `meshexport serve` child on its own data folder (so its RSS is the service's alone).
//   BM_GetExport/keepalive, BM_GetExport/new_connection: GET /mesh-export/{id}, p50/p99 (ms)
//     as counters; the two are the baseline of each other in the same run.
//   BM_Soak: MESHEXPORT_SOAK_SECONDS (default 60; the soak is 600) of 8 keep-alive
//     clients and 8 that connect per request while 3 exports run at all times; errors, p50/p99
//     and the service's RSS at the start, the end and its peak.
#include <benchmark/benchmark.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
constexpr const char* kToken = "bench-token-0123456789abcdef";

int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

/// The meshexport to measure: this build's, or MESHEXPORT_BENCH_BINARY (an older build, for a
/// before/after in one session).
const char* binary() {
  const char* env = std::getenv("MESHEXPORT_BENCH_BINARY");
  return env && *env ? env : MESHEXPORT_BINARY;
}

int64_t rssBytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;
  return 0;
}

httplib::Headers auth() { return {{"Authorization", std::string("Bearer ") + kToken}}; }

/// `meshexport serve` on a fresh data folder with the demo iModel.
class ServiceChild {
public:
  ServiceChild() {
    dir = fs::temp_directory_path() / ("mx-service-bench-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string add = std::string("'") + binary() + "' imodels add '" + MESHEXPORT_SOURCE_DIR +
                            "/datasets/imodel/fixtures/demo.bim' --data-dir '" + dir.string() + "' > /dev/null 2>&1";
    if (std::system(add.c_str()) != 0) throw std::runtime_error("imodels add failed");
    port = freePort();
    pid = ::fork();
    if (pid == 0) {
      const std::string p = std::to_string(port), log = (dir / "service.log").string();
      if (std::freopen(log.c_str(), "w", stderr) == nullptr || std::freopen("/dev/null", "w", stdout) == nullptr)
        ::_exit(127);
      ::execl(binary(), binary(), "serve", "--port", p.c_str(), "--data-dir", dir.c_str(), "--dev-token", kToken,
              "--rate-limit-per-second", "0", "--workers", "3", "--keep-per-imodel", "100000",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      httplib::Client c("127.0.0.1", port);
      if (c.Get("/healthz")) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    httplib::Client c("127.0.0.1", port);
    auto list = c.Get("/imodels", auth());
    imodel = json::parse(list->body)["iModels"][0]["id"];
  }
  ~ServiceChild() {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    fs::remove_all(dir);
  }
  /// Starts an export and returns its id ("" on failure).
  std::string start(int variant) const {
    httplib::Client c("127.0.0.1", port);
    const json b = {{"iModelId", imodel},
                    {"tilerConfig", json::array({{{"key", "maxTrianglesPerTile"}, {"value", 1000 + variant}}})}};
    auto r = c.Post("/mesh-export/", auth(), b.dump(), "application/json");
    if (!r || r->status != 202) return "";
    const json j = json::parse(r->body, nullptr, false);
    return j.is_object() && j.contains("export") ? j["export"].value("id", "") : "";
  }
  std::string status(const std::string& id) const {
    httplib::Client c("127.0.0.1", port);
    if (id.empty()) return "";
    auto r = c.Get("/mesh-export/" + id, auth());
    if (!r || r->status != 200) return "";
    const json j = json::parse(r->body, nullptr, false);
    return j.is_object() && j.contains("export") ? j["export"].value("status", "") : "";
  }

  fs::path dir;
  int port = 0;
  pid_t pid = -1;
  std::string imodel;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size())))];
}

void BM_GetExport(benchmark::State& state, bool keepAlive) {
  ServiceChild svc;
  const std::string id = svc.start(0);
  while (svc.status(id) != "Complete") std::this_thread::sleep_for(std::chrono::milliseconds(50));
  httplib::Client keep("127.0.0.1", svc.port);
  keep.set_keep_alive(true);
  std::vector<double> ms;
  int64_t errors = 0;
  for (auto _ : state) {
    const auto t0 = Clock::now();
    httplib::Client fresh("127.0.0.1", svc.port);
    auto r = (keepAlive ? keep : fresh).Get("/mesh-export/" + id, auth());
    const double t = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (!r || r->status != 200) ++errors;
    ms.push_back(t);
    state.SetIterationTime(t / 1000);
  }
  state.counters["p50_ms"] = percentile(ms, 0.5);
  state.counters["p99_ms"] = percentile(ms, 0.99);
  state.counters["errors"] = double(errors);
}
BENCHMARK_CAPTURE(BM_GetExport, keepalive, true)->Iterations(500)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_GetExport, new_connection, false)->Iterations(500)->UseManualTime()->Unit(benchmark::kMillisecond);

void BM_Soak(benchmark::State& state) {
  const char* env = std::getenv("MESHEXPORT_SOAK_SECONDS");
  const int seconds = env ? std::max(1, std::atoi(env)) : 60;
  for (auto _ : state) {
    ServiceChild svc;
    const int64_t rssStart = rssBytes(svc.pid);
    std::atomic<int64_t> rssPeak{rssStart}, requests{0}, errors{0}, exportsDone{0}, noAnswer{0}, exportsFailed{0};
    std::mutex statusMutex;
    std::map<int, int64_t> badStatus;
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::vector<double> all;
    const auto end = Clock::now() + std::chrono::seconds(seconds);
    // Three exports at all times.
    std::thread exporter([&] {
      std::vector<std::string> running;
      int variant = 1;
      while (Clock::now() < end) {
        while (running.size() < 3) running.push_back(svc.start(variant++));
        for (auto it = running.begin(); it != running.end();) {
          const std::string st = svc.status(*it);
          if (st == "Complete" || st == "Invalid" || st.empty()) {
            // st empty: the start or the poll failed; counted, never a crash of the benchmark.
            if (st != "Complete") ++exportsFailed;
            ++exportsDone;
            httplib::Client c("127.0.0.1", svc.port);
            c.Delete("/mesh-export/" + *it, auth()); // the store stays small; deletes are part of the load
            it = running.erase(it);
          } else
            ++it;
        }
        rssPeak = std::max<int64_t>(rssPeak.load(), rssBytes(svc.pid));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    });
    std::vector<std::thread> clients;
    for (int t = 0; t < 16; ++t) {
      clients.emplace_back([&, t] {
        const bool keepAlive = t < 8;
        httplib::Client keep("127.0.0.1", svc.port);
        keep.set_keep_alive(true);
        std::vector<double> mine;
        int i = 0;
        while (Clock::now() < end) {
          const auto t0 = Clock::now();
          const std::string path = (i++ + t) % 2 ? "/mesh-export/?iModelId=" + svc.imodel + "&$top=10" : "/healthz";
          httplib::Client fresh("127.0.0.1", svc.port);
          auto r = (keepAlive ? keep : fresh).Get(path, auth());
          mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
          ++requests;
          if (!r) {
            ++noAnswer, ++errors;
            std::lock_guard lock(statusMutex);
            ++badStatus[-int(r.error()) - (keepAlive ? 100 : 0)];
          } else if (r->status != 200) {
            ++errors;
            std::lock_guard lock(statusMutex);
            ++badStatus[r->status];
          }
        }
        std::lock_guard lock(mutex);
        all.insert(all.end(), mine.begin(), mine.end());
      });
    }
    for (auto& c : clients) c.join();
    exporter.join();
    const int64_t rssEnd = rssBytes(svc.pid);
    state.counters["seconds"] = seconds;
    state.counters["requests"] = double(requests.load());
    state.counters["errors"] = double(errors.load());
    state.counters["no_answer"] = double(noAnswer.load());
    // status_N: HTTP status N; status_-E: no answer, httplib::Error E (-1xx: on a keep-alive client).
    for (const auto& [code, n] : badStatus) state.counters["status_" + std::to_string(code)] = double(n);
    state.counters["exports"] = double(exportsDone.load());
    state.counters["exports_failed"] = double(exportsFailed.load());
    state.counters["p50_ms"] = percentile(all, 0.5);
    state.counters["p99_ms"] = percentile(all, 0.99);
    state.counters["rss_start_MB"] = double(rssStart) / 1e6;
    state.counters["rss_end_MB"] = double(rssEnd) / 1e6;
    state.counters["rss_peak_MB"] = double(rssPeak.load()) / 1e6;
  }
}
BENCHMARK(BM_Soak)->Iterations(1)->Unit(benchmark::kSecond);

} // namespace

BENCHMARK_MAIN();
