#include <mx/service/DataDir.h>

#include <mx/service/Auth.h>
#include <mx/service/SqliteJobStore.h>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace mx::service {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Status;
using nlohmann::json;

namespace {

bool isUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i])))
      return false;
  }
  return true;
}

std::string utcStamp() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

json recordJson(const ExportRecord& r) {
  return {{"manifestVersion", 1},
          {"id", r.id},
          {"subject", r.subject},
          {"iModelId", r.iModelId},
          {"changesetId", r.changesetId},
          {"changesetIndex", r.changesetIndex},
          {"exportType", r.exportType},
          {"typeClass", r.typeClass},
          {"tilerConfig", r.tilerConfig},
          {"displayName", r.displayName},
          {"status", toString(r.status)},
          {"error", r.error},
          {"stats", r.stats},
          {"imodelPath", r.imodelPath},
          {"createdMs", r.createdMs},
          {"modifiedMs", r.modifiedMs},
          {"tileMajor", r.tileMajor}};
}

/// Moves `from` to DATA/quarantine/<name>.<stamp>.<rand>; returns the log line.
std::string quarantine(const DataDir& dir, const fs::path& from, const std::string& why) {
  std::error_code ec;
  fs::create_directories(dir.quarantine(), ec);
  const fs::path to = dir.quarantine() / (from.filename().string() + "." + utcStamp() + "." + uniqueSuffix());
  fs::rename(from, to, ec);
  if (ec) return "could not quarantine " + from.string() + " (" + why + "): " + ec.message() + "; left where it is";
  return "quarantined " + from.string() + " (" + why + ") → " + to.string();
}

} // namespace

std::string uniqueSuffix() { return randomHex(4); }

Status statusFromErrno(int err, const std::string& what) {
  const ErrorCode code = (err == ENOSPC || err == EDQUOT) ? ErrorCode::StorageFull : ErrorCode::IoError;
  return Status{code, what + ": " + std::strerror(err)};
}

bool DataDir::holdsExports() const {
  std::error_code ec;
  for (fs::directory_iterator it(exports(), ec), end; !ec && it != end; it.increment(ec))
    if (isUuid(it->path().filename().string())) return true;
  ec.clear();
  for (fs::directory_iterator it(jobs(), ec), end; !ec && it != end; it.increment(ec))
    if (fs::exists(it->path() / "manifest.json")) return true;
  return false;
}

// ---- locks ------------------------------------------------------------------------------------
core::Result<PidLock> PidLock::open(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return statusFromErrno(errno, "cannot open " + file.string());
  PidLock l;
  l._fd = fd;
  return l;
}
bool PidLock::tryLock() const { return ::flock(_fd, LOCK_EX | LOCK_NB) == 0; }
int PidLock::holder() const {
  char buf[32] = {};
  const ssize_t n = ::pread(_fd, buf, sizeof buf - 1, 0);
  return n > 0 ? std::atoi(buf) : 0;
}
void PidLock::setPid(int pid) const {
  const std::string text = std::to_string(pid) + "\n";
  if (::ftruncate(_fd, 0) != 0 || ::pwrite(_fd, text.data(), text.size(), 0) != ssize_t(text.size())) {
    // Only messages and the kill of an orphan use the pid; the lock holds without it.
  }
}
PidLock::PidLock(PidLock&& o) noexcept : _fd(std::exchange(o._fd, -1)) {}
PidLock& PidLock::operator=(PidLock&& o) noexcept {
  if (this != &o) {
    if (_fd >= 0) ::close(_fd);
    _fd = std::exchange(o._fd, -1);
  }
  return *this;
}
PidLock::~PidLock() {
  if (_fd >= 0) ::close(_fd);
}

core::Result<PidLock> lockDataDir(const fs::path& dataDir) {
  const fs::path file = dataDir / "service.lock";
  MX_ASSIGN_OR_RETURN(PidLock lock, PidLock::open(file));
  if (!lock.tryLock())
    return Status{ErrorCode::Unavailable, "another meshexport process (pid " + std::to_string(lock.holder()) +
                                              ") holds " + file.string() +
                                              "; one process owns a data folder at a time"};
  lock.setPid(::getpid());
  return lock;
}

// ---- files -------------------------------------------------------------------------------------
Status writeFileAtomic(const fs::path& file, const std::string& content) {
  const fs::path temp = file.parent_path() / ("." + file.filename().string() + "." + uniqueSuffix() + ".tmp");
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return statusFromErrno(errno, "cannot write " + file.string());
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      ::unlink(temp.c_str());
      return statusFromErrno(err, "cannot write " + file.string());
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return statusFromErrno(err, "cannot write " + file.string());
  }
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return statusFromErrno(err, "cannot write " + file.string());
  }
  return Status::ok();
}

Status writeManifest(const DataDir& dir, const ExportRecord& r) {
  std::error_code ec;
  if (!fs::is_directory(dir.jobs() / r.id, ec))
    return Status{ErrorCode::IoError, "the job folder of export " + r.id + " is gone"};
  return writeFileAtomic(dir.manifest(r.id), recordJson(r).dump(1) + "\n");
}

core::Result<ExportRecord> readManifest(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return Status{ErrorCode::IoError, "cannot read " + file.string()};
  const json j = json::parse(in, nullptr, false);
  if (!j.is_object() || j.value("manifestVersion", 0) != 1)
    return Status{ErrorCode::MalformedInput, file.string() + " is not an export manifest"};
  ExportRecord r;
  try {
    r.id = j.at("id").get<std::string>();
    r.subject = j.at("subject").get<std::string>();
    r.iModelId = j.at("iModelId").get<std::string>();
    r.changesetId = j.at("changesetId").get<std::string>();
    r.changesetIndex = j.at("changesetIndex").get<int64_t>();
    r.exportType = j.at("exportType").get<std::string>();
    r.typeClass = j.at("typeClass").get<std::string>();
    r.tilerConfig = j.at("tilerConfig").get<std::string>();
    r.displayName = j.at("displayName").get<std::string>();
    const auto status = parseExportStatus(j.at("status").get<std::string>());
    if (!status) return Status{ErrorCode::MalformedInput, file.string() + ": unknown status " + j.at("status").dump()};
    r.status = *status;
    r.error = j.at("error").get<std::string>();
    r.stats = j.at("stats").get<std::string>();
    r.imodelPath = j.at("imodelPath").get<std::string>();
    r.createdMs = j.at("createdMs").get<int64_t>();
    r.modifiedMs = j.at("modifiedMs").get<int64_t>();
    r.tileMajor = j.at("tileMajor").get<int64_t>();
  } catch (const json::exception& e) {
    return Status{ErrorCode::MalformedInput, file.string() + ": " + e.what()};
  }
  if (!isUuid(r.id) || file.parent_path().filename() != r.id)
    return Status{ErrorCode::MalformedInput, file.string() + " names another export (" + r.id + ")"};
  return r;
}

// ---- DELETE's trash ------------------------------------------------------------------------------
core::Result<TrashedExport> moveToTrash(const DataDir& dir, const std::string& id) {
  TrashedExport t;
  t._folder = dir.trash() / (id + "." + uniqueSuffix());
  std::error_code ec;
  fs::create_directories(t._folder, ec);
  if (ec) return statusFromErrno(ec.value(), "cannot make " + t._folder.string());
  for (const auto& [from, to] :
       {std::pair{dir.exports() / id, t._folder / "exports"}, std::pair{dir.jobs() / id, t._folder / "jobs"}}) {
    if (!fs::exists(from, ec)) continue;
    fs::rename(from, to, ec);
    if (ec) {
      const Status failed = statusFromErrno(ec.value(), "cannot move " + from.string() + " aside");
      t.restore();
      return failed;
    }
    t._moved.emplace_back(from, to);
  }
  return t;
}

void TrashedExport::restore() {
  std::error_code ec;
  for (const auto& [from, to] : _moved) fs::rename(to, from, ec);
  _moved.clear();
  fs::remove_all(_folder, ec);
}

Status TrashedExport::empty() {
  std::error_code ec;
  fs::remove_all(_folder, ec);
  if (ec) return statusFromErrno(ec.value(), "its files stay in " + _folder.string());
  return Status::ok();
}

// ---- check and recover ---------------------------------------------------------------------------
StoreReport checkStore(const DataDir& dir) {
  StoreReport report;
  report.store = SqliteJobStore::verify(dir.store(), true);
  std::map<std::string, ExportRecord> rows;
  if (report.store) {
    auto store = SqliteJobStore::open(dir.store(), SqliteJobStore::Create::Never);
    if (!store)
      report.store = store.status();
    else
      for (auto& r : (*store)->all()) rows.emplace(r.id, std::move(r));
  }
  report.rows = int64_t(rows.size());
  std::error_code ec;
  for (const auto& [id, r] : rows)
    if (r.status == ExportStatus::Complete && !fs::exists(dir.exports() / id / "tileset.json", ec))
      report.problems.push_back("export " + id + " is Complete but its files are missing");
  for (fs::directory_iterator it(dir.exports(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!isUuid(name)) continue;
    auto r = rows.find(name);
    if (r == rows.end())
      report.problems.push_back("folder exports/" + name + " has no row in the store");
    else if (r->second.status != ExportStatus::Complete)
      report.problems.push_back("folder exports/" + name + " belongs to an export that is " +
                                toString(r->second.status));
  }
  ec.clear();
  size_t quarantined = 0;
  for (fs::directory_iterator it(dir.quarantine(), ec), end; !ec && it != end; it.increment(ec)) ++quarantined;
  if (quarantined > 0)
    report.problems.push_back(std::to_string(quarantined) +
                              " folder(s) in quarantine/ that no row accounted for: look at them");
  ec.clear();
  for (fs::directory_iterator it(dir.jobs(), ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path m = it->path() / "manifest.json";
    if (!fs::exists(m)) continue;
    auto rec = readManifest(m);
    if (!rec)
      report.problems.push_back(rec.status().message());
    else if (!rows.count(rec->id))
      report.problems.push_back("manifest of export " + rec->id + " (" + toString(rec->status) +
                                ") has no row in the store");
    else if (rows.at(rec->id).status != rec->status)
      report.problems.push_back("export " + rec->id + ": the store says " + toString(rows.at(rec->id).status) +
                                ", its manifest " + toString(rec->status));
  }
  return report;
}

core::Result<RecoverReport> recoverStore(const DataDir& dir) {
  RecoverReport report;
  // integrity_check, not quick_check: a row whose bytes were damaged disagrees with its indexes.
  const Status sound = SqliteJobStore::verify(dir.store(), true);
  if (!sound && sound.code() == ErrorCode::UnsupportedInput) return sound;
  std::error_code ec;
  if (!sound && fs::exists(dir.store(), ec)) {
    const std::string aside = dir.store().string() + ".damaged-" + utcStamp();
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const fs::path from = dir.store().string() + suffix;
      if (!fs::exists(from, ec)) continue;
      fs::rename(from, aside + suffix, ec);
      if (ec) return Status{ErrorCode::IoError, "cannot move " + from.string() + " aside: " + ec.message()};
    }
    report.movedAside = aside;
    report.notes.push_back("the store was unusable (" + sound.message() + "); moved to " + aside);
  }
  MX_ASSIGN_OR_RETURN(auto store, SqliteJobStore::open(dir.store(), SqliteJobStore::Create::IfMissing));
  std::set<std::string> present;
  for (const auto& r : store->all()) present.insert(r.id);
  report.rowsKept = int64_t(present.size());
  for (fs::directory_iterator it(dir.jobs(), ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path m = it->path() / "manifest.json";
    if (!fs::exists(m)) continue;
    auto rec = readManifest(m);
    if (!rec) {
      report.notes.push_back("skipped " + rec.status().message());
      continue;
    }
    if (present.count(rec->id)) continue;
    ExportRecord r = std::move(*rec);
    if (r.status == ExportStatus::InProgress) r.status = ExportStatus::NotStarted;
    if (r.status == ExportStatus::Complete && !fs::exists(dir.exports() / r.id, ec)) {
      // A service that met the damaged store may have quarantined the files: bring them back.
      std::error_code e2;
      for (fs::directory_iterator q(dir.quarantine(), e2), qend; !e2 && q != qend; q.increment(e2)) {
        const std::string name = q->path().filename().string();
        if (name.rfind(r.id + ".", 0) != 0 || !fs::exists(q->path() / "tileset.json", e2)) continue;
        fs::rename(q->path(), dir.exports() / r.id, e2);
        if (!e2) report.notes.push_back("export " + r.id + ": files brought back from " + q->path().string());
        break;
      }
    }
    if (r.status == ExportStatus::Complete && !fs::exists(dir.exports() / r.id / "tileset.json", ec)) {
      r.status = ExportStatus::Invalid;
      r.error = "The export's files were lost.";
      report.notes.push_back("export " + r.id + " was Complete but its files are missing: restored as Invalid");
    }
    MX_RETURN_IF_ERROR(store->insert(r));
    (void)writeManifest(dir, r);
    ++report.rowsRestored;
  }
  return report;
}

// ---- start-up reconciliation ---------------------------------------------------------------------
ReconcileReport reconcileFolders(const DataDir& dir, JobStore& store) {
  ReconcileReport report;
  std::error_code ec;
  // Rows from before manifests existed get one, so that a recovery can rebuild them too.
  int64_t backfilled = 0;
  for (const auto& r : store.all()) {
    if (fs::exists(dir.manifest(r.id), ec)) continue;
    fs::create_directories(dir.jobs() / r.id, ec);
    if (writeManifest(dir, r)) ++backfilled;
  }
  if (backfilled > 0)
    report.log.push_back("wrote the manifests of " + std::to_string(backfilled) + " export(s) that had none");
  // Interrupted DELETEs: DATA/trash/ID.RAND/{exports,jobs}.
  for (fs::directory_iterator it(dir.trash(), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string id = name.substr(0, name.find('.'));
    std::error_code e2;
    if (isUuid(id) && store.get(id)) {
      // The row was never removed: the DELETE failed after moving the files; put them back.
      for (const auto& [sub, target] : {std::pair{"exports", dir.exports() / id}, std::pair{"jobs", dir.jobs() / id}})
        if (fs::exists(it->path() / sub, e2) && !fs::exists(target, e2)) fs::rename(it->path() / sub, target, e2);
      report.log.push_back("restored the files of export " + id +
                           " from an unfinished DELETE (its row is still there)");
    } else {
      report.log.push_back("finished an interrupted DELETE of " + name);
    }
    fs::remove_all(it->path(), e2);
  }
  ec.clear();
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(dir.exports(), ec), end; !ec && it != end; it.increment(ec))
    entries.push_back(it->path());
  for (const fs::path& p : entries) {
    const std::string name = p.filename().string();
    // ID, or the tiler's temporary siblings .ID.tmp-PID-N / .ID.old-PID-N.
    const bool temp = name.size() > 38 && name[0] == '.' && name[37] == '.';
    const std::string id = temp ? name.substr(1, 36) : name;
    if (!isUuid(id)) {
      report.log.push_back("left " + p.string() + " alone: not an export folder");
      continue;
    }
    const auto r = store.get(id);
    if (r && r->status == ExportStatus::Complete && !temp) continue;
    if (r && (r->status == ExportStatus::NotStarted || r->status == ExportStatus::InProgress)) {
      // Half-written output of an export the store runs again: it is rebuilt from scratch.
      std::error_code e2;
      fs::remove_all(p, e2);
      report.log.push_back("removed the partial output " + p.string() + " of export " + id + " (" +
                           toString(r->status) + ", runs again)");
      continue;
    }
    report.log.push_back(
        quarantine(dir, p, r ? "its export is " + toString(r->status) : "no row in the store accounts for it"));
  }
  return report;
}

} // namespace mx::service
