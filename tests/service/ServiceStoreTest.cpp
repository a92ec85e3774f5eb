// The service's data under damage (loopback only): a damaged job store, folders the store cannot
// account for, DELETEs interrupted or refused, a killed service whose tiler lives on, a full disk.
// Each test failed before its fix.
#include "HardeningSupport.h"

#include <mx/service/DataDir.h>
#include <mx/service/ImodelStore.h>
#include <mx/service/JobStore.h>
#include <mx/service/SqliteJobStore.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/file.h>
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

TEST(ServiceHardening, DamagedRowsAreQuarantinedAndRecoverBringsThemBack) {
  // Bytes damaged inside a row pass quick_check: the service starts, lists without a 500 and
  // deletes nothing; `store check` (integrity_check) sees it, `store recover` rebuilds the rows
  // and takes the quarantined files back.
  const fs::path dir = freshDir("damaged-row");
  const std::string id = oneCompleteExport(dir);
  // Change the status text in place, as random bytes would, without SQLite knowing (the
  // exports_by_status index keeps the old value).
  {
    std::string bytes;
    {
      std::ifstream in(dir / "jobs.db", std::ios::binary);
      bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    // The first copy is the row's (the table's page comes before its indexes' pages).
    const size_t p = bytes.find("Complete");
    ASSERT_NE(p, std::string::npos);
    bytes[p + 1] = '\xff';
    std::ofstream(dir / "jobs.db", std::ios::binary | std::ios::trunc) << bytes;
  }
  {
    TestService s(dir);
    auto list = s.client().Get("/mesh-export/", TestService::auth(kDevToken, {{"Prefer", "return=representation"}}));
    ASSERT_TRUE(list);
    EXPECT_EQ(list->status, 200) << list->body;
    EXPECT_FALSE(fs::exists(dir / "exports" / id)); // quarantined, not deleted
    EXPECT_FALSE(fs::is_empty(dir / "quarantine"));
  }
  std::string out;
  EXPECT_EQ(runCli("store check --data-dir '" + dir.string() + "'", &out), 8) << out;
  ASSERT_EQ(runCli("store recover --data-dir '" + dir.string() + "'", &out), 0) << out;
  EXPECT_NE(out.find("brought back"), std::string::npos) << out;
  TestService s(dir);
  json e = s.getExport(id);
  EXPECT_EQ(e["status"], "Complete");
  EXPECT_EQ(tileStatus(s, e), 200);
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

TEST(ServiceHardening, ExportsFromBeforeManifestsGetOneAndCanBeRecovered) {
  const fs::path dir = freshDir("backfill");
  const std::string id = oneCompleteExport(dir);
  fs::remove(dir / "jobs" / id / "manifest.json"); // as an older release left it
  { TestService s(dir); }
  ASSERT_TRUE(fs::exists(dir / "jobs" / id / "manifest.json"));
  std::ofstream(dir / "jobs.db", std::ios::trunc);
  std::string out;
  ASSERT_EQ(runCli("store recover --data-dir '" + dir.string() + "'", &out), 0) << out;
  TestService s(dir);
  json e = s.getExport(id);
  EXPECT_EQ(e["status"], "Complete");
  EXPECT_EQ(tileStatus(s, e), 200);
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
  const std::string id = oneCompleteExport(dir);
  {
    TestService s(dir);
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
    auto store = service::SqliteJobStore::open(dir / "jobs.db", service::SqliteJobStore::Create::Never);
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

// ---- 9. Tilers die with the service, and never run twice --------------------------------------------------

namespace {

bool alive(int pid) { return ::kill(pid, 0) == 0; }

bool waitUntil(const std::function<bool()>& f, int ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return f();
}

int tilerPid(const fs::path& dir, const std::string& id) {
  std::ifstream in(dir / "jobs" / id / "tiler.lock");
  int pid = 0;
  in >> pid;
  return pid;
}

} // namespace

TEST(ServiceHardening, KillingTheServiceKillsItsTilerAndARestartRunsItOnce) {
  const fs::path dir = freshDir("orphan");
  const std::string imodel = addImodel(dir);
  const fs::path slow = slowTiler(dir, 30);
  const int port = [] { // a free port for the child service
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return int(ntohs(a.sin_port));
  }();
  const pid_t service = ::fork();
  if (service == 0) {
    const std::string p = std::to_string(port);
    ::execl(MESHEXPORT_BINARY, MESHEXPORT_BINARY, "serve", "--port", p.c_str(), "--data-dir", dir.c_str(),
            "--dev-token", kDevToken, "--tiler-path", slow.c_str(), "--workers", "1", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  httplib::Client c("127.0.0.1", port);
  ASSERT_TRUE(waitUntil([&] { return bool(c.Get("/healthz")); }, 10000));
  auto r = c.Post("/mesh-export/", TestService::auth(), json{{"iModelId", imodel}}.dump(), "application/json");
  ASSERT_TRUE(r && r->status == 202);
  const std::string id = body(r)["export"]["id"];
  ASSERT_TRUE(waitUntil([&] { return tilerPid(dir, id) > 0; }, 10000));
  const int tiler = tilerPid(dir, id);
  ASSERT_TRUE(alive(tiler));
  ::kill(service, SIGKILL);
  ::waitpid(service, nullptr, 0);
  // The tiler goes with it (PR_SET_PDEATHSIG), not 30 s later.
  EXPECT_TRUE(waitUntil([&] { return !alive(tiler); }, 2000)) << "orphaned tiler " << tiler << " still runs";
  ::kill(-tiler, SIGKILL); // the test cleans up whatever happens

  // An orphan that holds the job's lock (as one of an older release would) is ended before the
  // export runs again: never two tilers of one export.
  const pid_t holder = ::fork();
  if (holder == 0) {
    ::setpgid(0, 0);
    const int fd = ::open((dir / "jobs" / id / "tiler.lock").c_str(), O_RDWR);
    ::flock(fd, LOCK_EX);
    const std::string me = std::to_string(::getpid());
    (void)!::ftruncate(fd, 0);
    (void)!::pwrite(fd, me.data(), me.size(), 0);
    ::pause();
    ::_exit(0);
  }
  ASSERT_TRUE(waitUntil([&] { return tilerPid(dir, id) == holder; }, 5000));
  TestService s(dir);
  EXPECT_EQ(s.waitDone(id)["status"], "Complete");
  int status = 0;
  EXPECT_EQ(::waitpid(holder, &status, WNOHANG), holder) << "the old lock holder still runs";
  EXPECT_TRUE(WIFSIGNALED(status));
}

// ---- 10. Status codes that name the condition, and no server paths -----------------------------------------

namespace {

/// A tmpfs of `bytes` at `dir` (root only, as on CI); unmounted when destroyed.
class Tmpfs {
public:
  Tmpfs(const fs::path& dir, size_t bytes) : _dir(dir) {
    fs::create_directories(dir);
    _ok = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + std::to_string(bytes)).c_str()) == 0;
  }
  ~Tmpfs() {
    if (_ok) ::umount2(_dir.c_str(), MNT_DETACH);
  }
  [[nodiscard]] bool ok() const { return _ok; }

private:
  fs::path _dir;
  bool _ok = false;
};

void fillDisk(const fs::path& file) {
  std::ofstream out(file, std::ios::binary);
  const std::string block(1 << 16, 'f');
  while (out.write(block.data(), std::streamsize(block.size()))) {
  }
  out.close();
  // Whatever is left in smaller pieces.
  const int fd = ::open(file.c_str(), O_WRONLY | O_APPEND);
  char b = 'f';
  while (::write(fd, &b, 1) == 1) {
  }
  ::close(fd);
}

} // namespace

TEST(ServiceHardening, AFullDiskAnswers507AndLosesNothing) {
  const fs::path dir = freshDir("fulldisk");
  Tmpfs tmpfs(dir, 24u << 20);
  if (!tmpfs.ok()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root): the full-disk case is not checked";
  const std::string imodel = addImodel(dir);
  const std::string demo = fileBytes(fixture("demo.bim"));
  std::string id;
  {
    TestService s(dir);
    id = startExport(s, imodel);
    ASSERT_EQ(s.waitDone(id)["status"], "Complete");
    fillDisk(dir / "filler");
    struct statvfs v {};
    ::statvfs(dir.c_str(), &v);
    ASSERT_LT(uint64_t(v.f_bavail) * v.f_frsize, 4096u);
    // New exports until the store refuses: then 507, never 500.
    int status = 202;
    for (int i = 0; i < 200 && status == 202; ++i) {
      auto r = s.post({{"iModelId", imodel},
                       {"tilerConfig", json::array({{{"key", "maxTrianglesPerTile"}, {"value", 1000 + i}}})}});
      ASSERT_TRUE(r);
      status = r->status;
      if (status != 202) {
        EXPECT_EQ(body(r)["error"]["code"], "InsufficientStorage") << r->body;
        EXPECT_EQ(r->body.find(dir.string()), std::string::npos);
      }
    }
    EXPECT_EQ(status, 507);
    auto up = s.client().Post("/imodels", TestService::auth(), demo, "application/octet-stream");
    ASSERT_TRUE(up);
    EXPECT_EQ(up->status, 507) << up->body;
    // DELETE: the row and the files go together, or neither.
    auto del = s.client().Delete("/mesh-export/" + id, TestService::auth());
    ASSERT_TRUE(del);
    EXPECT_TRUE(del->status == 204 || del->status == 507 || del->status == 503) << del->status << " " << del->body;
    json e = s.getExport(id);
    if (del->status == 204) {
      EXPECT_TRUE(e.is_null());
      EXPECT_FALSE(fs::exists(dir / "exports" / id));
    } else {
      EXPECT_EQ(tileStatus(s, e), 200);
    }
  }
  fs::remove(dir / "filler");
  TestService s(dir);
  json e = s.getExport(id);
  if (e.is_object()) {
    EXPECT_EQ(tileStatus(s, e), 200) << "a row without its files after a restart";
  } else {
    EXPECT_FALSE(fs::exists(dir / "exports" / id));
  }
}

} // namespace
} // namespace mx::test
