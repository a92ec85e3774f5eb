// The fleet: `meshexport serve` processes of roles api and worker on one PostgreSQL store and one
// storage root, against a real, throwaway server (tests/external/with-postgres.sh; CTest
// service_fleet). Without MESHEXPORT_TEST_POSTGRES every case skips and says why. Each case gets
// a schema and a storage root of its own; the nodes are real processes, killed with SIGKILL where
// the scenario says so.
#include "ServiceTestSupport.h"

#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <map>
#include <regex>
#include <set>

namespace mx::test {
namespace {

/// A tiler that waits first (so that exports can be killed, deleted or interrupted while they
/// run), logs what it was started with and how it ended, and maps device=cuda to auto (no GPU is
/// lent to CI: the fake device list schedules, the CPU tiles).
fs::path fleetTiler(const fs::path& dir, double seconds) {
  const fs::path p = dir / "fleet-tiler.sh";
  std::ofstream out(p);
  out << "#!/usr/bin/env bash\n"
      << "args=(\"$@\"); for i in \"${!args[@]}\"; do [ \"${args[$i]}\" = device=cuda ] && args[$i]=device=auto; done\n"
      << "echo \"start $$ gpu=[${CUDA_VISIBLE_DEVICES-unset}] $*\" >> '" << (dir / "tiler-runs.log").string()
      << "'\n"
      // The children die with this script, as the real tiler dies with its worker.
      << "setpriv --pdeathsig KILL sleep " << seconds << "\n"
      << "setpriv --pdeathsig KILL '" << MESHEXPORT_BINARY << "' \"${args[@]}\"; rc=$?\n"
      << "echo \"end $$ rc=$rc $4\" >> '" << (dir / "tiler-runs.log").string() << "'\n"
      << "exit $rc\n";
  out.close();
  fs::permissions(p, fs::perms::owner_all);
  return p;
}

/// A schema of the test server of its own, as a connection string.
std::string fleetSchema(const std::string& name) {
  const char* pg = std::getenv("MESHEXPORT_TEST_POSTGRES");
  PGconn* c = PQconnectdb(pg);
  const std::string sql = "DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name + ";";
  PGresult* r = PQexec(c, sql.c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  PQclear(r);
  PQfinish(c);
  return ok ? std::string(pg) + " options='-csearch_path=" + name + "'" : std::string();
}

/// One `meshexport serve` process.
class Node {
public:
  Node(const std::string& name, const std::vector<std::string>& args, const fs::path& log,
       const std::vector<std::string>& env = {})
      : _name(name), _log(log) {
    std::vector<std::string> argv = {MESHEXPORT_BINARY, "serve", "--node-name", name, "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargs;
    for (auto& a : argv) cargs.push_back(a.data());
    cargs.push_back(nullptr);
    std::vector<std::string> envCopy = env;
    std::error_code ec;
    const auto before = fs::exists(log, ec) ? fs::file_size(log, ec) : 0; // a restarted node appends
    _pid = ::fork();
    if (_pid == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      for (auto& e : envCopy) ::putenv(e.data());
      ::execv(cargs[0], cargs.data());
      ::_exit(127);
    }
    // The log names the bound address once the node serves.
    const std::regex listening("listening on http://127\\.0\\.0\\.1:(\\d+)");
    for (int i = 0; i < 600 && _port == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      std::ifstream in(log);
      in.seekg(std::streamoff(before));
      std::stringstream text;
      text << in.rdbuf();
      std::smatch m;
      const std::string t = text.str();
      if (std::regex_search(t, m, listening)) _port = std::stoi(m[1].str());
      int status = 0;
      if (::waitpid(_pid, &status, WNOHANG) == _pid) {
        _pid = -1;
        break;
      }
    }
  }
  ~Node() { stop(SIGTERM); }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  [[nodiscard]] bool up() const { return _port != 0 && _pid > 0; }
  [[nodiscard]] const std::string& name() const { return _name; }
  [[nodiscard]] int port() const { return _port; }

  void stop(int sig) {
    if (_pid <= 0) return;
    ::kill(_pid, sig);
    int status = 0;
    ::waitpid(_pid, &status, 0);
    _pid = -1;
  }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", _port);
    c.set_connection_timeout(5);
    c.set_read_timeout(30);
    return c;
  }
  httplib::Result post(const json& b) const {
    return client().Post("/mesh-export/", TestService::auth(), b.dump(), "application/json");
  }
  json getExport(const std::string& id) const {
    auto r = client().Get("/mesh-export/" + id, TestService::auth());
    return r && r->status == 200 ? json::parse(r->body)["export"] : json();
  }
  json health() const {
    auto r = client().Get("/healthz");
    return r && r->status == 200 ? json::parse(r->body) : json();
  }

private:
  std::string _name;
  fs::path _log;
  pid_t _pid = -1;
  int _port = 0;
};

class Fleet : public ::testing::Test {
protected:
  void SetUp() override {
    if (!std::getenv("MESHEXPORT_TEST_POSTGRES"))
      GTEST_SKIP() << "no PostgreSQL server: CTest's service_fleet runs these through with-postgres.sh";
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string id = "mxf_" + std::to_string(getpid()) + "_";
    for (char ch : test)
      if (std::isalnum(static_cast<unsigned char>(ch))) id += char(std::tolower(static_cast<unsigned char>(ch)));
    store = fleetSchema(id.substr(0, 60));
    ASSERT_FALSE(store.empty());
    root = freshDir("fleet-" + test);
    imodel = addImodel(root);
  }
  void TearDown() override {
    nodes.clear();
    if (!root.empty() && !HasFailure()) fs::remove_all(root);
  }

  /// Starts a node of `role` on the shared store and root.
  Node& start(const std::string& name, const std::string& role, std::vector<std::string> more = {},
              const std::vector<std::string>& env = {}) {
    std::vector<std::string> args = {"--store",
                                     store,
                                     "--role",
                                     role,
                                     "--data-dir",
                                     root.string(),
                                     "--signing-secret",
                                     kSecret,
                                     "--dev-token",
                                     kDevToken,
                                     "--lease-seconds",
                                     "3",
                                     "--shutdown-grace-seconds",
                                     "0",
                                     "--rate-limit-per-second",
                                     "0",
                                     "--gpus",
                                     "none",
                                     "--cpu-slots",
                                     "1"};
    args.insert(args.end(), more.begin(), more.end());
    nodes[name] = std::make_unique<Node>(name, args, root / (name + ".log"), env);
    EXPECT_TRUE(nodes[name]->up()) << name << " did not start; see " << (root / (name + ".log"));
    return *nodes[name];
  }

  /// A request unlike every other of this test (the same request returns the export there).
  json request(int n, const std::string& device = "") const {
    json cfg = json::array({{{"key", "maxTrianglesPerTile"}, {"value", 1000 + n}}});
    if (!device.empty()) cfg.push_back({{"key", "device"}, {"value", device}});
    return {{"iModelId", imodel}, {"tilerConfig", cfg}};
  }
  std::string startOn(const Node& n, int k, const std::string& device = "") const {
    auto r = n.post(request(k, device));
    EXPECT_TRUE(r && r->status == 202) << (r ? r->body : "no response from " + n.name());
    return r && r->status == 202 ? json::parse(r->body)["export"]["id"].get<std::string>() : "";
  }
  static json waitFor(const Node& n, const std::string& id, const std::function<bool(const json&)>& until,
                      int seconds = 120) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    json e;
    while (std::chrono::steady_clock::now() < end) {
      e = n.getExport(id);
      if (e.is_object() && until(e)) return e;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return e;
  }
  static json waitDone(const Node& n, const std::string& id, int seconds = 120) {
    return waitFor(
        n, id, [](const json& e) { return e["status"] == "Complete" || e["status"] == "Invalid"; }, seconds);
  }
  /// The tileset of an export, fetched from `n` through the link another node may have made.
  static int tilesetStatus(const Node& n, const json& e) {
    if (!e.contains("_links")) return 0;
    const auto [path, query] = splitHref(e["_links"]["mesh"]["href"].get<std::string>());
    auto r = n.client().Get(path + "/tileset.json?" + query);
    return r ? r->status : -1;
  }
  /// Lines of the fleet tiler's log.
  std::vector<std::string> tilerRuns() const {
    std::vector<std::string> out;
    std::ifstream in(root / "tiler-runs.log");
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }
  /// Completed (rc=0) tiler runs per export id.
  std::map<std::string, int> completedRuns() const {
    std::map<std::string, int> out;
    const std::regex end("^end \\d+ rc=0 .*/jobs/([0-9a-f-]{36})/output\\.");
    for (const auto& line : tilerRuns()) {
      std::smatch m;
      if (std::regex_search(line, m, end)) ++out[m[1].str()];
    }
    return out;
  }

  std::string store, imodel;
  fs::path root;
  std::map<std::string, std::unique_ptr<Node>> nodes;
};

TEST_F(Fleet, TwoApiNodesAndThreeWorkersRunTwentyExportsThenSurviveARestart) {
  const std::string tiler = fleetTiler(root, 0.3).string();
  Node& a = start("api-a", "api");
  Node& b = start("api-b", "api");
  for (const char* w : {"worker-1", "worker-2", "worker-3"}) start(w, "worker", {"--tiler-path", tiler});
  std::vector<std::string> ids;
  for (int k = 0; k < 20; ++k) ids.push_back(startOn(k % 2 ? b : a, k));
  std::set<std::string> ranOn;
  for (size_t k = 0; k < ids.size(); ++k) {
    const Node& other = k % 2 ? a : b; // read through the node that did not start it
    const json e = waitDone(other, ids[k]);
    ASSERT_EQ(e["status"], "Complete") << e.dump();
    ranOn.insert(e["stats"]["worker"]["node"].get<std::string>());
    EXPECT_EQ(tilesetStatus(other, e), 200) << "a link made by one API node is valid on the other";
  }
  EXPECT_EQ(ranOn, (std::set<std::string>{"worker-1", "worker-2", "worker-3"})) << "every worker ran some";
  for (const auto& [id, runs] : completedRuns()) EXPECT_EQ(runs, 1) << id << " ran to completion once";
  EXPECT_EQ(completedRuns().size(), 20u);
  // The fleet's view from any node: three workers of one slot each, nothing queued.
  const json h = a.health();
  EXPECT_EQ(h["role"], "api");
  EXPECT_EQ(h["fleet"]["queued"], 0);
  EXPECT_EQ(h["fleet"]["nodes"].size(), 5u) << h.dump();
  const json hw = nodes["worker-2"]->health();
  EXPECT_EQ(hw["role"], "worker");
  EXPECT_EQ(hw["slots"].size(), 1u);
  EXPECT_EQ(nodes["worker-2"]->client().Get("/mesh-export/", TestService::auth())->status, 404)
      << "a worker answers no API";

  // The whole fleet stopped, then started again: every export still listed, its tiles served.
  nodes.clear();
  Node& a2 = start("api-a", "api");
  start("worker-1", "worker", {"--tiler-path", tiler});
  auto list = a2.client().Get("/mesh-export/?$top=100", TestService::auth());
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200) << list->body;
  EXPECT_EQ(json::parse(list->body)["exports"].size(), 20u);
  for (const auto& id : ids) EXPECT_EQ(tilesetStatus(a2, a2.getExport(id)), 200) << id;
}

TEST_F(Fleet, AKilledWorkersExportIsFinishedByAnotherAfterTheLease) {
  const std::string tiler = fleetTiler(root, 2.0).string();
  Node& api = start("api", "api");
  Node& w1 = start("worker-1", "worker", {"--tiler-path", tiler});
  const std::string id = startOn(api, 0);
  ASSERT_EQ(waitFor(api, id, [](const json& e) { return e["status"] == "InProgress"; })["status"], "InProgress");
  w1.stop(SIGKILL); // its tiler dies with it (PR_SET_PDEATHSIG)
  const auto killed = std::chrono::steady_clock::now();
  start("worker-2", "worker", {"--tiler-path", tiler});
  const json e = waitDone(api, id);
  ASSERT_EQ(e["status"], "Complete") << e.dump();
  EXPECT_EQ(e["stats"]["worker"]["node"], "worker-2");
  EXPECT_EQ(e["stats"]["worker"]["attempt"], 2);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  EXPECT_LT(seconds, 3 + 2 + 30) << "lease 3 s, tiler 2 s";
  EXPECT_EQ(tilesetStatus(api, e), 200);
  EXPECT_EQ(completedRuns()[id], 1);
}

TEST_F(Fleet, AnExportWhoseWorkersKeepDyingBecomesInvalidAfterMaxAttempts) {
  const std::string tiler = fleetTiler(root, 30).string();
  Node& api = start("api", "api");
  const std::string id = startOn(api, 0);
  for (int attempt = 1; attempt <= 2; ++attempt) {
    Node& w = start("worker-" + std::to_string(attempt), "worker", {"--tiler-path", tiler, "--max-attempts", "2"});
    // Once this worker runs it (the first one's lease expires first), it is killed too.
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < end && w.health()["slots"][0]["export"] != id)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_EQ(w.health()["slots"][0]["export"], id);
    w.stop(SIGKILL);
  }
  start("sweeper", "worker", {"--tiler-path", tiler, "--max-attempts", "2"});
  const json e = waitDone(api, id, 30);
  ASSERT_EQ(e["status"], "Invalid") << e.dump();
  EXPECT_NE(e.dump().find("started 2 times"), std::string::npos) << e.dump();
}

TEST_F(Fleet, AKilledApiNodeLeavesTheOtherAnswering) {
  Node& a = start("api-a", "api");
  Node& b = start("api-b", "api");
  start("worker", "worker");
  const std::string id = startOn(a, 0);
  a.stop(SIGKILL);
  const json e = waitDone(b, id);
  EXPECT_EQ(e["status"], "Complete") << e.dump();
  EXPECT_EQ(tilesetStatus(b, e), 200);
  auto list = b.client().Get("/mesh-export/", TestService::auth());
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
}

TEST_F(Fleet, ADeleteThroughOneApiNodeCancelsTheExportOnItsWorker) {
  const std::string tiler = fleetTiler(root, 8.0).string();
  Node& a = start("api-a", "api");
  Node& b = start("api-b", "api");
  Node& w = start("worker-c", "worker", {"--tiler-path", tiler});
  const std::string id = startOn(b, 0);
  ASSERT_EQ(waitFor(a, id, [](const json& e) { return e["status"] == "InProgress"; })["status"], "InProgress");
  ASSERT_EQ(w.health()["slots"][0]["export"], id);
  auto del = a.client().Delete("/mesh-export/" + id, TestService::auth());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 204) << del->body;
  const auto t0 = std::chrono::steady_clock::now();
  // The worker notices at its next lease renewal, stops its tiler and removes what it wrote.
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5) && !w.health()["slots"][0]["export"].is_null())
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(w.health()["slots"][0]["export"].is_null()) << "still running after " << seconds << " s";
  EXPECT_LT(seconds, 2.5);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_FALSE(fs::exists(root / "jobs" / id));
  EXPECT_FALSE(fs::exists(root / "exports" / id));
  EXPECT_EQ(completedRuns().count(id), 0u) << "the tiler never finished";
  EXPECT_EQ(b.client().Get("/mesh-export/" + id, TestService::auth())->status, 404);
}

TEST_F(Fleet, APostgresRestartMidRunLosesNothingAndRunsNothingTwice) {
  const char* ctl = std::getenv("MESHEXPORT_TEST_POSTGRES_CTL");
  if (!ctl) GTEST_SKIP() << "with-postgres.sh names no control script";
  const std::string tiler = fleetTiler(root, 1.5).string();
  Node& a = start("api-a", "api");
  start("worker-1", "worker", {"--tiler-path", tiler});
  start("worker-2", "worker", {"--tiler-path", tiler});
  std::vector<std::string> ids;
  for (int k = 0; k < 6; ++k) ids.push_back(startOn(a, k));
  ASSERT_EQ(waitFor(a, ids[0], [](const json& e) { return e["status"] == "InProgress"; })["status"], "InProgress");
  ASSERT_EQ(std::system((std::string(ctl) + " stop").c_str()), 0);
  // While it is away the API says so (503, Retry-After), not "no such export".
  auto away = a.client().Get("/mesh-export/" + ids[0], TestService::auth());
  ASSERT_TRUE(away);
  EXPECT_EQ(away->status, 503) << away->body;
  EXPECT_TRUE(away->has_header("Retry-After"));
  std::this_thread::sleep_for(std::chrono::seconds(1));
  ASSERT_EQ(std::system((std::string(ctl) + " start").c_str()), 0);
  for (const auto& id : ids) {
    const json e = waitDone(a, id);
    EXPECT_EQ(e["status"], "Complete") << e.dump();
  }
  for (const auto& id : ids) EXPECT_EQ(completedRuns()[id], 1) << id << ": ran to completion exactly once";
  // Still answering after the restart, on every route that reads the store.
  auto list = a.client().Get("/mesh-export/", TestService::auth());
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
}

TEST_F(Fleet, AutoGenerationAndSubjectsBehaveAsOnOneNode) {
  // Two subjects; CesiumJS-like lists through both API nodes at once auto-generate one export.
  const fs::path cfg = root / "tokens.json";
  std::ofstream(cfg) << json{{"devTokens", json::array({{{"token", kOtherToken}, {"subject", "other"}}})}}.dump();
  Node& a = start("api-a", "api", {"--config", cfg.string()});
  Node& b = start("api-b", "api", {"--config", cfg.string()});
  start("worker", "worker");
  std::vector<std::thread> pollers;
  for (int k = 0; k < 8; ++k)
    pollers.emplace_back([&, k] {
      const Node& n = k % 2 ? b : a;
      (void)n.client().Get("/mesh-export/?iModelId=" + imodel + "&exportType=3DTILES", TestService::auth());
    });
  for (auto& t : pollers) t.join();
  auto listed = b.client().Get("/mesh-export/?iModelId=" + imodel, TestService::auth());
  ASSERT_TRUE(listed);
  const json exports = json::parse(listed->body)["exports"];
  ASSERT_EQ(exports.size(), 1u) << "eight lists on two nodes started one export: " << listed->body;
  const std::string id = exports[0]["id"];
  EXPECT_EQ(waitDone(a, id)["status"], "Complete");
  // The other subject sees none of it on either node, and cannot delete it.
  for (const Node* n : {&a, &b}) {
    auto theirs = n->client().Get("/mesh-export/" + id, TestService::auth(kOtherToken));
    ASSERT_TRUE(theirs);
    EXPECT_EQ(theirs->status, 404);
    auto del = n->client().Delete("/mesh-export/" + id, TestService::auth(kOtherToken));
    EXPECT_EQ(del->status, 404);
  }
  EXPECT_EQ(a.getExport(id)["status"], "Complete");
}

TEST_F(Fleet, AnIModelUploadedToOneNodeIsExportedThroughAnotherAtOnce) {
  Node& a = start("api-a", "api");
  Node& b = start("api-b", "api");
  start("worker", "worker");
  // B has just scanned the folder (and would not again for a second): the store's catalog knows.
  ASSERT_EQ(b.client().Get("/imodels", TestService::auth())->status, 200);
  std::ifstream in(fixture("primitives.bim"), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(bytes.empty());
  auto up = a.client().Post("/imodels", TestService::auth(), bytes, "application/octet-stream");
  ASSERT_TRUE(up);
  ASSERT_EQ(up->status, 201) << up->body;
  const std::string uploaded = json::parse(up->body)["iModel"]["id"];
  auto r = b.post({{"iModelId", uploaded}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  const json e = waitDone(a, json::parse(r->body)["export"]["id"]);
  EXPECT_EQ(e["status"], "Complete") << e.dump();
  // Both nodes list it (B from the catalog or its next scan); the catalog has the file.
  for (const Node* n : {&a, &b}) {
    auto list = n->client().Get("/imodels", TestService::auth());
    EXPECT_NE(list->body.find(uploaded), std::string::npos) << list->body;
  }
  PGconn* c = PQconnectdb(store.c_str());
  PGresult* q = PQexecParams(c, "SELECT path FROM imodels WHERE imodel_id = $1", 1, nullptr,
                             std::vector<const char*>{uploaded.c_str()}.data(), nullptr, nullptr, 0);
  ASSERT_EQ(PQntuples(q), 1);
  EXPECT_TRUE(fs::exists(root / "imodels" / PQgetvalue(q, 0, 0)));
  PQclear(q);
  PQfinish(c);
}

TEST_F(Fleet, GpuSlotsFromAFakeDeviceListTakeCudaExportsAndAreReported) {
  const std::string tiler = fleetTiler(root, 0.8).string();
  Node& api = start("api", "api");
  Node& w = start("gpu-host", "worker", {"--tiler-path", tiler, "--gpus", "all", "--cpu-slots", "1"},
                  {"MESHEXPORT_FAKE_GPUS=0,1"});
  const json h = w.health();
  EXPECT_EQ(h["gpus"], json::array({0, 1})) << h.dump();
  ASSERT_EQ(h["slots"].size(), 3u);
  auto metrics = w.client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("meshexport_slots{kind=\"gpu\"} 2"), std::string::npos);
  EXPECT_NE(metrics->body.find("meshexport_slots{kind=\"cpu\"} 1"), std::string::npos);
  std::vector<std::string> cuda, cpu;
  for (int k = 0; k < 3; ++k) cuda.push_back(startOn(api, k, "cuda"));
  for (int k = 3; k < 5; ++k) cpu.push_back(startOn(api, k, "cpu"));
  for (const auto& id : cuda) {
    const json e = waitDone(api, id);
    ASSERT_EQ(e["status"], "Complete") << e.dump();
    EXPECT_EQ(e["stats"]["worker"]["slot"].get<std::string>().substr(0, 3), "gpu") << "device=cuda on a GPU slot";
  }
  for (const auto& id : cpu) {
    const json e = waitDone(api, id);
    ASSERT_EQ(e["status"], "Complete") << e.dump();
    EXPECT_EQ(e["stats"]["worker"]["slot"], "cpu0");
  }
  // Each tiler saw its own GPU only, or none on the CPU slot.
  std::set<std::string> seen;
  for (const auto& line : tilerRuns())
    if (line.rfind("start", 0) == 0) {
      const size_t at = line.find("gpu=[");
      seen.insert(line.substr(at, line.find(']', at) + 1 - at));
    }
  EXPECT_TRUE(seen.count("gpu=[0]") && seen.count("gpu=[1]")) << "both GPUs used";
  EXPECT_TRUE(seen.count("gpu=[]")) << "the CPU slot's tilers see no GPU";
  // A GPU that the host does not have is refused at the start, clearly.
  std::string out;
  const std::string cmd = std::string("MESHEXPORT_FAKE_GPUS=0,1 '") + MESHEXPORT_BINARY + "' serve --store \"" + store +
                          "\" --role worker --data-dir '" + root.string() + "' --gpus 0,2 --port 0 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  EXPECT_NE(::pclose(p), 0);
  EXPECT_NE(out.find("GPU 2 is not on this host (found: 0,1)"), std::string::npos) << out;
}

TEST(FleetConfig, RolesOtherThanAllNeedAPostgresStore) {
  std::string out;
  const std::string cmd = std::string("'") + MESHEXPORT_BINARY + "' serve --role worker --data-dir '" +
                          freshDir("roles").string() + "' --port 0 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  EXPECT_NE(::pclose(p), 0);
  EXPECT_NE(out.find("roles api and worker share a PostgreSQL store"), std::string::npos) << out;
}

} // namespace
} // namespace mx::test
