// The service attacked as a hostile or careless user would (loopback only): a damaged job store,
// a full disk, uploads and subjects that collide, slow and oversized requests, bytes that are not
// UTF-8, a killed service whose tiler lives on. Each test failed before its fix.
#include "ServiceTestSupport.h"

#include <mx/service/DataDir.h>
#include <mx/service/ImodelStore.h>
#include <mx/service/JobStore.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <set>

namespace mx::test {
namespace {

json body(const httplib::Result& r) { return r ? json::parse(r->body, nullptr, false) : json(); }

std::string addImodel(const fs::path& dir, const char* name = "small.bim") {
  service::ImodelStore store(dir / "imodels");
  return store.add(fixture(name), false)->iModelId;
}

std::string startExport(const TestService& s, const std::string& imodel, const json& extra = json::object(),
                        const std::string& token = kDevToken) {
  json b = {{"iModelId", imodel}};
  b.update(extra);
  auto r = s.post(b, token);
  EXPECT_TRUE(r && r->status == 202) << (r ? r->body : "no response");
  return r && r->status == 202 ? body(r)["export"]["id"].get<std::string>() : "";
}

int tileStatus(const TestService& s, const json& e) {
  if (!e.contains("_links")) return 0;
  const auto [base, query] = splitHref(e["_links"]["mesh"]["href"].get<std::string>());
  auto r = s.client().Get(base + "/tileset.json?" + query);
  return r ? r->status : -1;
}

/// Runs the meshexport binary; returns its exit code and output.
int runCli(const std::string& args, std::string* output = nullptr) {
  const std::string cmd = std::string("'") + MESHEXPORT_BINARY + "' " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::set<std::string> exportFolders(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir / "exports")) out.insert(e.path().filename().string());
  return out;
}

/// A data folder with three Complete exports (3DTILES, CESIUM, IMODEL) of small.bim.
fs::path dataWithThreeExports(const std::string& name, std::vector<std::string>& ids) {
  const fs::path dir = freshDir(name);
  const std::string imodel = addImodel(dir);
  TestService s(dir);
  for (const char* type : {"3DTILES", "CESIUM", "IMODEL"}) ids.push_back(startExport(s, imodel, {{"exportType", type}}));
  for (const auto& id : ids) EXPECT_EQ(s.waitDone(id)["status"], "Complete");
  return dir;
}

service::ServiceConfig configFor(const fs::path& dir) {
  service::ServiceConfig c;
  c.dataDir = dir;
  c.port = 0;
  c.tilerPath = MESHEXPORT_BINARY;
  c.signingSecret = kSecret;
  c.devTokens = {{kDevToken, "dev"}};
  return c;
}

// ---- 1. A damaged job store never deletes an export -------------------------------------------------

struct Damage {
  const char* name;
  std::function<void(const fs::path& db)> apply;
};

void writeAt(const fs::path& file, std::streamoff offset, const std::string& bytes) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(offset);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string randomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = char(rng() & 0xFF);
  return s;
}

const Damage kDamages[] = {
    {"emptied", [](const fs::path& db) { std::ofstream(db, std::ios::trunc); }},
    {"removed", [](const fs::path& db) { fs::remove(db); }},
    {"second page zeroed", [](const fs::path& db) { writeAt(db, 4096, std::string(4096, '\0')); }},
    {"table dropped",
     [](const fs::path& db) {
       sqlite3* h = nullptr;
       sqlite3_open(db.c_str(), &h);
       sqlite3_exec(h, "DROP TABLE exports", nullptr, nullptr, nullptr);
       sqlite3_close(h);
     }},
    {"200 random bytes in the header", [](const fs::path& db) { writeAt(db, 0, randomBytes(200, 1)); }},
    {"200 random bytes in a page", [](const fs::path& db) { writeAt(db, 8000, randomBytes(200, 2)); }},
    {"another application's database",
     [](const fs::path& db) {
       fs::remove(db);
       sqlite3* h = nullptr;
       sqlite3_open(db.c_str(), &h);
       sqlite3_exec(h, "CREATE TABLE notes(x); PRAGMA user_version = 7; PRAGMA application_id = 42;", nullptr, nullptr, nullptr);
       sqlite3_close(h);
     }},
};

TEST(ServiceHardening, DamagedStoreRefusesToStartAndRecoverRebuildsIt) {
  std::vector<std::string> ids;
  const fs::path base = dataWithThreeExports("damage-base", ids);
  ASSERT_EQ(ids.size(), 3u);
  for (const Damage& d : kDamages) {
    SCOPED_TRACE(d.name);
    const fs::path dir = freshDir("damage");
    fs::copy(base, dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    fs::remove(dir / "service.lock");
    d.apply(dir / "jobs.db");
    const auto before = exportFolders(dir);
    ASSERT_EQ(before.size(), 3u);

    // The service refuses to start, with DataLoss, and touches no folder.
    auto svc = service::Service::create(configFor(dir));
    ASSERT_FALSE(svc);
    EXPECT_EQ(svc.status().code(), core::ErrorCode::DataLoss) << svc.status().toString();
    EXPECT_NE(svc.status().message().find("store recover"), std::string::npos);
    EXPECT_EQ(exportFolders(dir), before);
    // So does the command line, with its exit code.
    std::string out;
    EXPECT_EQ(runCli("serve --port 0 --data-dir '" + dir.string() + "' --dev-token " + kDevToken, &out), 8) << out;
    EXPECT_EQ(exportFolders(dir), before);

    EXPECT_EQ(runCli("store check --data-dir '" + dir.string() + "'", &out), 8) << out;
    ASSERT_EQ(runCli("store recover --data-dir '" + dir.string() + "'", &out), 0) << out;
    EXPECT_NE(out.find("restored from manifests 3"), std::string::npos) << out;
    EXPECT_EQ(runCli("store check --data-dir '" + dir.string() + "'", &out), 0) << out;

    // Everything is back, links and all.
    TestService s(dir, [](service::ServiceConfig& c) { c.devTokens = {{kDevToken, "dev"}}; });
    for (const auto& id : ids) {
      json e = s.getExport(id);
      EXPECT_EQ(e["status"], "Complete") << id;
      EXPECT_EQ(tileStatus(s, e), 200) << id;
    }
    EXPECT_EQ(exportFolders(dir), before);
  }
}

TEST(ServiceHardening, FoldersTheStoreCannotAccountForAreQuarantinedNotDeleted) {
  std::vector<std::string> ids;
  const fs::path dir = dataWithThreeExports("quarantine", ids);
  const std::string stranger = "0badf00d-0000-4000-8000-000000000001";
  fs::create_directories(dir / "exports" / stranger);
  std::ofstream(dir / "exports" / stranger / "tileset.json") << "{}";
  fs::create_directories(dir / "exports" / "notes");
  TestService s(dir);
  EXPECT_FALSE(fs::exists(dir / "exports" / stranger));
  bool found = false;
  for (const auto& e : fs::directory_iterator(dir / "quarantine"))
    found = found || (e.path().filename().string().rfind(stranger, 0) == 0 && fs::exists(e.path() / "tileset.json"));
  EXPECT_TRUE(found);
  EXPECT_TRUE(fs::exists(dir / "exports" / "notes")); // not an export folder: left alone
  for (const auto& id : ids) EXPECT_EQ(s.getExport(id)["status"], "Complete");
}

TEST(ServiceHardening, OneProcessOwnsADataFolder) {
  const fs::path dir = freshDir("owner");
  TestService s(dir);
  auto second = service::Service::create(configFor(dir));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.status().code(), core::ErrorCode::Unavailable);
  std::string out;
  EXPECT_EQ(runCli("store recover --data-dir '" + dir.string() + "'", &out), 9) << out;
}

// ---- 2. DELETE: the row and the files go together, or neither ---------------------------------------

TEST(ServiceHardening, DeleteThatCannotWriteTheStoreKeepsTheExportWhole) {
  const fs::path dir = freshDir("delete-busy");
  const std::string imodel = addImodel(dir);
  std::string id;
  {
    TestService s(dir);
    id = startExport(s, imodel);
    ASSERT_EQ(s.waitDone(id)["status"], "Complete");
    // Another writer holds the store: the DELETE cannot remove the row.
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "jobs.db").c_str(), &h), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(h, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
    auto r = s.client().Delete("/mesh-export/" + id, TestService::auth());
    sqlite3_exec(h, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(h);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_EQ(body(r)["error"]["code"], "ServiceUnavailable");
    EXPECT_FALSE(r->get_header_value("Retry-After").empty());
    json e = s.getExport(id);
    EXPECT_EQ(e["status"], "Complete");
    EXPECT_EQ(tileStatus(s, e), 200);
  }
  {
    TestService s(dir); // and after a restart
    json e = s.getExport(id);
    EXPECT_EQ(e["status"], "Complete");
    EXPECT_EQ(tileStatus(s, e), 200);
    auto r = s.client().Delete("/mesh-export/" + id, TestService::auth());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 204);
    EXPECT_FALSE(fs::exists(dir / "exports" / id));
  }
  TestService s(dir);
  EXPECT_TRUE(s.getExport(id).is_null());
}

TEST(ServiceHardening, ARestartFinishesOrUndoesAnInterruptedDelete) {
  const fs::path dir = freshDir("delete-crash");
  const std::string imodel = addImodel(dir);
  std::string kept, gone;
  {
    TestService s(dir);
    kept = startExport(s, imodel);
    gone = startExport(s, imodel, {{"exportType", "CESIUM"}});
    ASSERT_EQ(s.waitDone(kept)["status"], "Complete");
    ASSERT_EQ(s.waitDone(gone)["status"], "Complete");
  }
  // A crash after the files moved to trash: one row still there, one already removed.
  for (const auto& id : {kept, gone}) {
    fs::create_directories(dir / "trash" / (id + ".x"));
    fs::rename(dir / "exports" / id, dir / "trash" / (id + ".x") / "exports");
    fs::rename(dir / "jobs" / id, dir / "trash" / (id + ".x") / "jobs");
  }
  {
    auto store = service::JobStore::open(dir / "jobs.db", service::JobStore::Create::Never);
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->remove(gone));
  }
  TestService s(dir);
  json e = s.getExport(kept);
  EXPECT_EQ(e["status"], "Complete");
  EXPECT_EQ(tileStatus(s, e), 200);
  EXPECT_TRUE(fs::exists(dir / "jobs" / kept / "manifest.json"));
  EXPECT_TRUE(s.getExport(gone).is_null());
  EXPECT_TRUE(fs::is_empty(dir / "trash"));
}


// ---- 5. Slow and greedy clients cost a socket, never a worker ----------------------------------------

namespace {

int connectTo(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

void sendAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;
    done += size_t(n);
  }
}

/// Everything the server sends until it closes (or `timeoutMs`).
std::string readUntilClosed(int fd, int timeoutMs) {
  timeval tv{timeoutMs / 1000, (timeoutMs % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  return out;
}

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

TEST(ServiceHardening, SlowHeadersNeverStarveTheWorkers) {
  const fs::path dir = freshDir("slowloris");
  TestService s(dir, [](service::ServiceConfig& c) {
    c.httpThreads = 8;
    c.headerTimeoutSeconds = 2;
  });
  // 24 connections (3× the workers) that send their headers a byte at a time.
  std::vector<int> slow;
  for (int i = 0; i < 24; ++i) {
    const int fd = connectTo(s.svc->port());
    ASSERT_GE(fd, 0);
    sendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    slow.push_back(fd);
  }
  std::atomic<bool> trickle{true};
  std::thread t([&] {
    while (trickle) {
      for (int fd : slow) sendAll(fd, "X");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  // /healthz answers at once, again and again, while they trickle.
  for (int i = 0; i < 10; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto c = s.client();
    c.set_read_timeout(3);
    auto r = c.Get("/healthz");
    ASSERT_TRUE(r) << "healthz unanswerable during the attack";
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(msSince(t0), 1000);
  }
  // The slow ones are answered 408 and closed once their headers are past due.
  const auto t0 = std::chrono::steady_clock::now();
  std::string first = readUntilClosed(slow[0], 5000);
  trickle = false;
  t.join();
  EXPECT_LT(msSince(t0), 4000);
  EXPECT_EQ(first.rfind("HTTP/1.1 408", 0), 0u) << first;
  for (int fd : slow) ::close(fd);
}

TEST(ServiceHardening, OversizedHeadersGet431AndCostNoMemory) {
  const fs::path dir = freshDir("bigheaders");
  TestService s(dir);
  const int fd = connectTo(s.svc->port());
  std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 2000; ++i) req += "X-Pad-" + std::to_string(i) + ": " + std::string(100, 'a') + "\r\n";
  req += "\r\n";
  std::thread sender([&] { sendAll(fd, req); });
  const std::string got = readUntilClosed(fd, 5000);
  sender.join();
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 431", 0), 0u) << got.substr(0, 200);
  // 16 KiB of headers is the default limit: just under it is fine.
  auto c = s.client();
  httplib::Headers h;
  for (int i = 0; i < 100; ++i) h.emplace("X-Pad-" + std::to_string(i), std::string(100, 'a'));
  auto r = c.Get("/healthz", h);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(ServiceHardening, ConnectionsPerAddressAreCapped) {
  const fs::path dir = freshDir("percap");
  TestService s(dir, [](service::ServiceConfig& c) { c.maxConnectionsPerIp = 4; });
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) held.push_back(connectTo(s.svc->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int extra = connectTo(s.svc->port());
  const std::string got = readUntilClosed(extra, 3000);
  ::close(extra);
  EXPECT_EQ(got.rfind("HTTP/1.1 503", 0), 0u) << got;
  EXPECT_NE(got.find("TooManyConnections"), std::string::npos);
  for (int fd : held) ::close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto r = s.client().Get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(ServiceHardening, KeepAliveHasLimits) {
  const fs::path dir = freshDir("keepalive");
  TestService s(dir, [](service::ServiceConfig& c) {
    c.keepAliveMaxRequests = 3;
    c.keepAliveTimeoutSeconds = 1;
  });
  const int fd = connectTo(s.svc->port());
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  sendAll(fd, get + get + get + get); // pipelined: the third answer closes the connection
  const std::string got = readUntilClosed(fd, 3000);
  ::close(fd);
  size_t responses = 0;
  for (size_t p = got.find("HTTP/1.1 200"); p != std::string::npos; p = got.find("HTTP/1.1 200", p + 1)) ++responses;
  EXPECT_EQ(responses, 3u) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
  // An idle keep-alive connection is closed after keepAliveTimeoutSeconds.
  const int idle = connectTo(s.svc->port());
  sendAll(idle, get);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string one = readUntilClosed(idle, 5000);
  ::close(idle);
  EXPECT_EQ(one.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_LT(msSince(t0), 3000);
}

// ---- 7. A reused connection answers as fast as a new one ----------------------------------------------

TEST(ServiceHardening, KeepAliveRequestsAreNotDelayed) {
  const fs::path dir = freshDir("nodelay");
  const std::string imodel = addImodel(dir);
  TestService s(dir);
  const std::string id = startExport(s, imodel);
  ASSERT_EQ(s.waitDone(id)["status"], "Complete");
  // Before: headers and body left in two writes without TCP_NODELAY, and a reused connection
  // waited for the delayed ACK (≈ 40 ms) on every response. Medians are far apart.
  auto c = s.client();
  c.set_keep_alive(true);
  std::vector<double> ms;
  for (int i = 0; i < 21; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c.Get("/mesh-export/" + id, TestService::auth());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    ms.push_back(msSince(t0));
  }
  std::sort(ms.begin(), ms.end());
  EXPECT_LT(ms[ms.size() / 2], 25.0) << "median of a keep-alive request";
}

} // namespace
} // namespace mx::test
