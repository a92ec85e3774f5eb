#pragma once
// The export jobs: one SQLite database (WAL, numbered migrations in PRAGMA user_version). Every
// method takes the store's mutex, so one connection serves every thread.
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
  std::string subject;             ///< Who started it; only they see it.
  std::string iModelId, changesetId, exportType;
  int64_t changesetIndex = 0;
  std::string typeClass;           ///< exportType upper-cased ("3DTiles" → "3DTILES").
  std::string tilerConfig;         ///< Canonical JSON array as sent ("" when absent).
  std::string displayName;
  ExportStatus status = ExportStatus::NotStarted;
  std::string error;
  std::string stats;               ///< JSON object ("" when none yet).
  std::string imodelPath;
  int64_t createdMs = 0, modifiedMs = 0;
  int64_t tileMajor = 0;           ///< iMdl major of IMODEL exports; 0 otherwise.
};

struct ExportQuery {
  std::string subject;
  std::string iModelId, changesetId, typeClass; ///< "" = any.
  int64_t maxTileMajor = -1;                    ///< tileVersion: no export with a newer iMdl major.
  enum class Order { Default, DateAsc, DateDesc } order = Order::Default;
  int64_t skip = 0, top = 100;
};

class JobStore {
public:
  /// PRAGMA application_id of a meshexport store ("MXJB").
  static constexpr int64_t kApplicationId = 0x4D584A42;
  /// Whether open() may make a new store where the file is missing or empty.
  enum class Create { IfMissing, Never };

  /// Opens a store, making it when allowed. An existing file must pass SQLite's quick_check,
  /// carry a schema version and the exports table, and not belong to another application;
  /// otherwise DataLoss (nothing is changed). A newer schema is UnsupportedInput.
  static core::Result<std::unique_ptr<JobStore>> open(const std::filesystem::path& file, Create create);
  /// The checks open() makes on an existing store (quick_check), without migrating or creating
  /// anything; `full` runs integrity_check instead (indexes against rows too).
  static core::Status verify(const std::filesystem::path& file, bool full = false);

  /// Schema version after migrations.
  [[nodiscard]] int64_t version() const;

  core::Status insert(const ExportRecord& record);
  std::optional<ExportRecord> get(const std::string& id);
  /// One page and the total number of matches.
  std::vector<ExportRecord> list(const ExportQuery& query, int64_t& total);
  /// The newest export of `subject` with the same request that is not Invalid.
  std::optional<ExportRecord> findSame(const std::string& subject, const std::string& iModelId,
                                       const std::string& changesetId, const std::string& typeClass,
                                       const std::string* tilerConfig);
  core::Status setStatus(const std::string& id, ExportStatus status, const std::string& error = "",
                         const std::string& stats = "");
  /// Removes a row: InvalidArgument when there is none; StorageFull / Unavailable / IoError when
  /// the store cannot be written (the row is then still there).
  core::Status remove(const std::string& id);
  /// Subjects written before subjects were namespaced by issuer (no "dev:" / "jwt:" prefix).
  std::vector<std::string> legacySubjects();
  core::Status renameSubject(const std::string& from, const std::string& to);
  /// Every row, oldest first (store check and recover).
  std::vector<ExportRecord> all();
  /// InProgress → NotStarted (after a crash or a shutdown); returns how many.
  int64_t requeueInProgress();
  /// Ids in a status, oldest first.
  std::vector<std::string> idsWithStatus(ExportStatus status);
  std::map<std::string, int64_t> countsByStatus();
  /// Ids of `subject`'s exports of an iModel and type class, newest first.
  std::vector<ExportRecord> history(const std::string& subject, const std::string& iModelId, const std::string& typeClass);

  /// Milliseconds since the epoch, strictly increasing within this process (ordering ties).
  static int64_t nowMs();

private:
  struct Impl;
  explicit JobStore(std::unique_ptr<Impl> impl);
public:
  ~JobStore();
private:
  std::unique_ptr<Impl> _impl;
};

/// "2025-03-14T09:26:53Z".
std::string formatUtc(int64_t unixMs);

} // namespace mx::service
