#pragma once
// The SQLite job store: one database file (WAL, numbered migrations in PRAGMA user_version,
// application_id "MXJB"). Every method takes the store's mutex, so one connection serves every
// thread of one process; DataDir's lock keeps other processes out.
#include <mx/service/JobStore.h>

#include <filesystem>
#include <memory>

namespace mx::service {

class SqliteJobStore final : public JobStore {
public:
  /// PRAGMA application_id of a meshexport store ("MXJB").
  static constexpr int64_t kApplicationId = 0x4D584A42;
  /// Whether open() may make a new store where the file is missing or empty.
  enum class Create { IfMissing, Never };

  /// Opens a store, making it when allowed. An existing file must pass SQLite's quick_check,
  /// carry a schema version and the exports table, and not belong to another application;
  /// otherwise DataLoss (nothing is changed). A newer schema is UnsupportedInput.
  static core::Result<std::unique_ptr<SqliteJobStore>> open(const std::filesystem::path& file, Create create);
  /// The checks open() makes on an existing store (quick_check), without migrating or creating
  /// anything; `full` runs integrity_check instead (indexes against rows too).
  static core::Status verify(const std::filesystem::path& file, bool full = false);

  /// Schema version after migrations.
  [[nodiscard]] int64_t version() const;

  core::Status insert(const ExportRecord& record) override;
  std::optional<ExportRecord> get(const std::string& id) override;
  std::vector<ExportRecord> list(const ExportQuery& query, int64_t& total) override;
  std::optional<ExportRecord> findSame(const std::string& subject, const std::string& iModelId,
                                       const std::string& changesetId, const std::string& typeClass,
                                       const std::string* tilerConfig) override;
  core::Status setStatus(const std::string& id, ExportStatus status, const std::string& error = "",
                         const std::string& stats = "") override;
  core::Status remove(const std::string& id) override;
  std::vector<std::string> legacySubjects() override;
  core::Status renameSubject(const std::string& from, const std::string& to) override;
  std::vector<ExportRecord> all() override;
  int64_t requeueInProgress() override;
  std::vector<std::string> idsWithStatus(ExportStatus status) override;
  std::map<std::string, int64_t> countsByStatus() override;
  std::vector<ExportRecord> history(const std::string& subject, const std::string& iModelId,
                                    const std::string& typeClass) override;

  ~SqliteJobStore() override;

private:
  struct Impl;
  explicit SqliteJobStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> _impl;
};

} // namespace mx::service
