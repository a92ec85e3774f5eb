#pragma once
// The export jobs: the records, their states, and the JobStore interface (SqliteJobStore.h is
// the SQLite implementation).
#include <mx/core/Result.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mx::service {

/// An export's state: NotStarted → InProgress → Complete | Invalid (InProgress → NotStarted when
/// a run is interrupted and queued again). Stored and sent as its name.
enum class ExportStatus { NotStarted, InProgress, Complete, Invalid };
/// "NotStarted", "InProgress", "Complete", "Invalid".
std::string toString(ExportStatus status);
/// The status a name stands for; nullopt for any other text.
std::optional<ExportStatus> parseExportStatus(std::string_view name);

struct ExportRecord {
  std::string id;
  std::string subject; ///< Who started it; only they see it.
  std::string iModelId, changesetId, exportType;
  int64_t changesetIndex = 0;
  std::string typeClass;   ///< exportType upper-cased ("3DTiles" → "3DTILES").
  std::string tilerConfig; ///< Canonical JSON array as sent ("" when absent).
  std::string displayName;
  ExportStatus status = ExportStatus::NotStarted;
  std::string error;
  std::string stats; ///< JSON object ("" when none yet).
  std::string imodelPath;
  int64_t createdMs = 0, modifiedMs = 0;
  int64_t tileMajor = 0; ///< iMdl major of IMODEL exports; 0 otherwise.
};

struct ExportQuery {
  std::string subject;
  std::string iModelId, changesetId, typeClass; ///< "" = any.
  int64_t maxTileMajor = -1;                    ///< tileVersion: no export with a newer iMdl major.
  enum class Order { Default, DateAsc, DateDesc } order = Order::Default;
  int64_t skip = 0, top = 100;
};

/// Where exports are kept: the interface every store implements (SQLite today: SqliteJobStore;
/// a store shared by several processes next). Each call is one transaction of its own, safe to
/// make from any thread; errors come back as values, never thrown.
class JobStore {
public:
  virtual ~JobStore() = default;

  virtual core::Status insert(const ExportRecord& record) = 0;
  virtual std::optional<ExportRecord> get(const std::string& id) = 0;
  /// One page and the total number of matches.
  virtual std::vector<ExportRecord> list(const ExportQuery& query, int64_t& total) = 0;
  /// The newest export of `subject` with the same request that is not Invalid.
  virtual std::optional<ExportRecord> findSame(const std::string& subject, const std::string& iModelId,
                                               const std::string& changesetId, const std::string& typeClass,
                                               const std::string* tilerConfig) = 0;
  /// Sets status and error; `stats` replaces the stats unless empty.
  virtual core::Status setStatus(const std::string& id, ExportStatus status, const std::string& error = "",
                                 const std::string& stats = "") = 0;
  /// Removes a row: InvalidArgument when there is none; StorageFull / Unavailable / IoError when
  /// the store cannot be written (the row is then still there).
  virtual core::Status remove(const std::string& id) = 0;
  /// Subjects written before subjects were namespaced by issuer (no "dev:" / "jwt:" prefix).
  virtual std::vector<std::string> legacySubjects() = 0;
  virtual core::Status renameSubject(const std::string& from, const std::string& to) = 0;
  /// Every row, oldest first (store check and recover).
  virtual std::vector<ExportRecord> all() = 0;
  /// InProgress → NotStarted (after a crash or a shutdown); returns how many.
  virtual int64_t requeueInProgress() = 0;
  /// Ids in a status, oldest first.
  virtual std::vector<std::string> idsWithStatus(ExportStatus status) = 0;
  virtual std::map<std::string, int64_t> countsByStatus() = 0;
  /// `subject`'s exports of an iModel and type class, newest first.
  virtual std::vector<ExportRecord> history(const std::string& subject, const std::string& iModelId,
                                            const std::string& typeClass) = 0;

  /// Milliseconds since the epoch, strictly increasing within this process (ordering ties).
  static int64_t nowMs();
};

/// "2025-03-14T09:26:53Z".
std::string formatUtc(int64_t unixMs);

} // namespace mx::service
