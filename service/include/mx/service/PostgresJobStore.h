#pragma once
// The PostgreSQL job store (issue "Scale out", first part): the JobStore contract on a PostgreSQL
// 15+ server through libpq, for services that share one store. Numbered migrations recorded in
// meshexport_schema, run under a session advisory lock so that nodes starting together migrate
// once; a store newer than this binary is refused. A small pool of connections per store object
// (up to 8); in a fleet it also holds the iModels' catalog (ImodelCatalog); a broken connection is re-established once
// per call before the call fails Unavailable. `meshexport serve --store postgresql://…` runs on it as a fleet
// (JobLeases.h: claims with FOR UPDATE SKIP LOCKED, leases, node heartbeats). tests/service/JobStoreContract runs the
// same contract over it and over SqliteJobStore against a real, throwaway server.
#include <mx/service/ImodelStore.h>
#include <mx/service/JobLeases.h>
#include <mx/service/JobStore.h>

#include <memory>
#include <string>

namespace mx::service {

class PostgresJobStore final : public JobStore, public JobLeases, public ImodelCatalog {
public:
  /// The advisory lock key migrations hold ("MXJB" as on the SQLite store).
  static constexpr int64_t kMigrationLock = 0x4D584A42;
  /// A node whose heartbeat is older than this is not counted (its free GPU slots neither).
  static constexpr int64_t kNodeAliveMs = 5000;

  /// Connects (`conninfo`: any libpq connection string or URI) and migrates. Unavailable when the
  /// server cannot be reached; UnsupportedInput when its schema is newer than this binary's.
  static core::Result<std::unique_ptr<PostgresJobStore>> open(const std::string& conninfo);

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

  core::Result<std::optional<ExportRecord>> insertUnlessSame(const ExportRecord& record,
                                                             const std::string* tilerConfig) override;

  core::Result<std::optional<Claim>> claim(const std::string& owner, SlotKind kind, int64_t leaseMs) override;
  core::Result<bool> renew(const std::string& id, const std::string& owner, int64_t leaseMs) override;
  core::Result<bool> finish(const std::string& id, const std::string& owner, ExportStatus status,
                            const std::string& error, const std::string& stats) override;
  core::Status release(const std::string& id, const std::string& owner) override;
  core::Result<std::vector<ExpiredLease>> expireLeases(int64_t maxAttempts) override;
  core::Status heartbeat(const NodeState& node) override;
  core::Status leave(const std::string& node) override;
  std::vector<NodeState> nodes(int64_t aliveMs) override;
  int64_t queueLength() override;

  core::Status recordImodel(const ImodelEntry& entry, const std::string& relativePath) override;
  std::vector<std::pair<ImodelEntry, std::string>> recordedImodels(const std::string& iModelId) override;

  [[nodiscard]] bool lastCallUnreachable() const override;

  ~PostgresJobStore() override;

private:
  struct Impl;
  explicit PostgresJobStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> _impl;
};

} // namespace mx::service
