#pragma once
// The service's data folder and the rules that keep it whole:
//   DATA/service.lock        flock held by the one process that owns DATA (a service, a store tool)
//   DATA/jobs.db             the job store (JobStore)
//   DATA/exports/ID/         a Complete export's files, served through signed links
//   DATA/jobs/ID/            the export's manifest.json, tiler.log, metrics.json, tiler.lock
//   DATA/trash/ID.RAND/      a DELETE in flight: files moved here before the row goes
//   DATA/quarantine/NAME.T/  folders the store cannot account for, moved aside (never deleted)
// Every export keeps a manifest (id, subject, request, status, stats) beside its job files, so
// the rows can be rebuilt from the folders when the store is lost (`meshexport store recover`).
#include <mx/core/Result.h>
#include <mx/service/JobStore.h>

#include <filesystem>
#include <string>
#include <vector>

namespace mx::service {

struct DataDir {
  std::filesystem::path root;

  [[nodiscard]] std::filesystem::path store() const { return root / "jobs.db"; }
  [[nodiscard]] std::filesystem::path exports() const { return root / "exports"; }
  [[nodiscard]] std::filesystem::path jobs() const { return root / "jobs"; }
  [[nodiscard]] std::filesystem::path trash() const { return root / "trash"; }
  [[nodiscard]] std::filesystem::path quarantine() const { return root / "quarantine"; }
  [[nodiscard]] std::filesystem::path imodels() const { return root / "imodels"; }
  [[nodiscard]] std::filesystem::path manifest(const std::string& id) const { return jobs() / id / "manifest.json"; }

  /// Whether any export folder or manifest exists: a store may be created only when none does.
  [[nodiscard]] bool holdsExports() const;
};

/// An exclusive flock on a file that names its holder's pid (close-on-exec: children get it
/// only when handed its descriptor). DATA/service.lock: the one process that owns a data folder.
/// DATA/jobs/ID/tiler.lock: the one tiler that runs an export (ChildProcess.h).
class PidLock {
public:
  /// Opens (creating) `file` without locking it.
  static core::Result<PidLock> open(const std::filesystem::path& file);
  /// Takes the lock now, or fails.
  [[nodiscard]] bool tryLock() const;
  /// The pid the file names (0 when none).
  [[nodiscard]] int holder() const;
  /// Writes `pid` into the file (the lock holds whether or not this succeeds).
  void setPid(int pid) const;
  [[nodiscard]] int fd() const { return _fd; }

  PidLock() = default;
  PidLock(PidLock&& o) noexcept;
  PidLock& operator=(PidLock&& o) noexcept;
  PidLock(const PidLock&) = delete;
  PidLock& operator=(const PidLock&) = delete;
  ~PidLock();

private:
  int _fd = -1;
};

/// DATA/service.lock, held: Unavailable (naming the holder's pid) when another process owns DATA.
core::Result<PidLock> lockDataDir(const std::filesystem::path& dataDir);

/// Writes `content` to `file` through a temporary sibling, fsync and rename: readers see the
/// old or the new file, never a part. ENOSPC/EDQUOT → StorageFull. The folder must exist.
core::Status writeFileAtomic(const std::filesystem::path& file, const std::string& content);

/// The manifest of an export (its row as JSON) in DATA/jobs/ID/manifest.json. The job folder is
/// not created: a manifest is never written for an export whose folder was deleted.
core::Status writeManifest(const DataDir& dir, const ExportRecord& record);
core::Result<ExportRecord> readManifest(const std::filesystem::path& file);

/// An export's files (exports/ID and jobs/ID) moved into DATA/trash/ID.RAND by renames, which
/// need no space: the first half of a DELETE. restore() puts them back (the row could not go),
/// empty() removes them (the row is gone); a restart finishes either (reconcileFolders).
class TrashedExport {
public:
  void restore();
  core::Status empty();

private:
  friend core::Result<TrashedExport> moveToTrash(const DataDir& dir, const std::string& id);
  std::filesystem::path _folder;
  std::vector<std::pair<std::filesystem::path, std::filesystem::path>> _moved; ///< from → to
};
core::Result<TrashedExport> moveToTrash(const DataDir& dir, const std::string& id);

/// What `store check` finds: the store's own state and every disagreement with the folders.
struct StoreReport {
  core::Status store; ///< SqliteJobStore::verify.
  int64_t rows = 0;
  std::vector<std::string> problems; ///< One line each; empty when consistent.
  [[nodiscard]] bool ok() const { return store.isOk() && problems.empty(); }
};
StoreReport checkStore(const DataDir& dir);

/// What `store recover` did.
struct RecoverReport {
  std::string movedAside; ///< Where a damaged store went ("" when it was sound).
  int64_t rowsKept = 0, rowsRestored = 0;
  std::vector<std::string> notes;
};
/// Rebuilds the store from the manifests: a damaged (integrity_check) or missing store is moved
/// aside (never deleted) and a new one made; every manifest whose row is missing is inserted
/// (InProgress becomes NotStarted; a Complete export's files are taken back from quarantine/
/// when a service put them there; Complete without its files becomes Invalid). Rows already
/// present in a sound store stay.
core::Result<RecoverReport> recoverStore(const DataDir& dir);

/// What a service does with the folders when it starts, once its store is open:
/// - a row without a manifest (written by an older release) gets one;
/// - a DELETE that was interrupted is finished (its row is gone) or undone (its row is there);
/// - a folder under exports/ that is not a Complete export's: a half-written output of an export
///   the store will run again is removed; anything else is moved to quarantine/, never deleted.
struct ReconcileReport {
  std::vector<std::string> log; ///< One line per action, for the service's log.
};
ReconcileReport reconcileFolders(const DataDir& dir, JobStore& store);

/// A failed file operation as a Status: ENOSPC/EDQUOT → StorageFull (507 over HTTP), else IoError.
core::Status statusFromErrno(int err, const std::string& what);

/// A fresh random suffix for trash and quarantine names.
std::string uniqueSuffix();

} // namespace mx::service
