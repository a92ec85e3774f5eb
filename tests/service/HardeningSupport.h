#pragma once
// Helpers of the service hardening suites (ServiceStoreTest, ServiceConnectionsTest,
// ServiceAccessTest): the CLI, the job store's file, and the damages a store suffers.
#include "ServiceTestSupport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <random>
#include <set>

namespace mx::test {

inline int tileStatus(const TestService& s, const json& e) {
  if (!e.contains("_links")) return 0;
  const auto [base, query] = splitHref(e["_links"]["mesh"]["href"].get<std::string>());
  auto r = s.client().Get(base + "/tileset.json?" + query);
  return r ? r->status : -1;
}

/// Runs the meshexport binary; returns its exit code and output.
inline int runCli(const std::string& args, std::string* output = nullptr) {
  const std::string cmd = std::string("'") + MESHEXPORT_BINARY + "' " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Runs SQL on a database file from outside the service (as another writer, or a careless hand).
inline void sqlExec(const fs::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  EXPECT_EQ(sqlite3_exec(h, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(h);
  sqlite3_close(h);
}

/// A data folder with small.bim and one Complete 3DTILES export of it; returns the export id.
inline std::string oneCompleteExport(const fs::path& dir) {
  const std::string imodel = addImodel(dir);
  TestService s(dir);
  const std::string id = startExport(s, imodel);
  EXPECT_EQ(s.waitDone(id)["status"], "Complete");
  return id;
}

inline std::set<std::string> exportFolders(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir / "exports")) out.insert(e.path().filename().string());
  return out;
}

/// A data folder with three Complete exports (3DTILES, CESIUM, IMODEL) of small.bim.
inline fs::path dataWithThreeExports(const std::string& name, std::vector<std::string>& ids) {
  const fs::path dir = freshDir(name);
  const std::string imodel = addImodel(dir);
  TestService s(dir);
  for (const char* type : {"3DTILES", "CESIUM", "IMODEL"})
    ids.push_back(startExport(s, imodel, {{"exportType", type}}));
  for (const auto& id : ids) EXPECT_EQ(s.waitDone(id)["status"], "Complete");
  return dir;
}

inline service::ServiceConfig configFor(const fs::path& dir) {
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

inline void writeAt(const fs::path& file, std::streamoff offset, const std::string& bytes) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(offset);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

inline std::string randomBytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = char(rng() & 0xFF);
  return s;
}

inline const Damage kDamages[] = {
    {"emptied", [](const fs::path& db) { std::ofstream(db, std::ios::trunc); }},
    {"removed", [](const fs::path& db) { fs::remove(db); }},
    {"second page zeroed", [](const fs::path& db) { writeAt(db, 4096, std::string(4096, '\0')); }},
    {"table dropped", [](const fs::path& db) { sqlExec(db, "DROP TABLE exports"); }},
    {"200 random bytes in the header", [](const fs::path& db) { writeAt(db, 0, randomBytes(200, 1)); }},
    {"200 random bytes in a page", [](const fs::path& db) { writeAt(db, 8000, randomBytes(200, 2)); }},
    {"another application's database",
     [](const fs::path& db) {
       fs::remove(db);
       sqlExec(db, "CREATE TABLE notes(x); PRAGMA user_version = 7; PRAGMA application_id = 42;");
     }},
};

inline std::string fileBytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// A copy of a fixture with other bytes but the same iModel and changeset (a header field changed).
inline fs::path sameIModelOtherBytes(const fs::path& dir, const char* name) {
  const fs::path p = dir / ("other-" + std::string(name));
  fs::copy_file(fixture(name), p, fs::copy_options::overwrite_existing);
  sqlExec(p, "PRAGMA user_version = 4242");
  return p;
}

inline int connectTo(int port) {
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

inline void sendAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;
    done += size_t(n);
  }
}

/// Everything the server sends until it closes (or `timeoutMs`).
inline std::string readUntilClosed(int fd, int timeoutMs) {
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

inline double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

/// /healthz answers within a second, ten times in a row.

} // namespace mx::test
