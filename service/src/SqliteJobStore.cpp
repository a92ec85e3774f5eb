#include <mx/service/SqliteJobStore.h>

#include <mx/io/Sqlite.h>

namespace mx::service {

using core::ErrorCode;
using core::Status;
using io::sqlite::Db;
using io::sqlite::StepResult;

namespace {

/// Migration N brings the schema from version N to N+1; never edit one that shipped.
const char* const kMigrations[] = {
    R"(CREATE TABLE exports (
         id TEXT PRIMARY KEY,
         subject TEXT NOT NULL,
         imodel_id TEXT NOT NULL,
         changeset_id TEXT NOT NULL,
         changeset_index INTEGER NOT NULL,
         export_type TEXT NOT NULL,
         type_class TEXT NOT NULL,
         tiler_config TEXT NOT NULL,
         display_name TEXT NOT NULL,
         status TEXT NOT NULL,
         error TEXT NOT NULL DEFAULT '',
         stats TEXT NOT NULL DEFAULT '',
         imodel_path TEXT NOT NULL,
         created_ms INTEGER NOT NULL,
         modified_ms INTEGER NOT NULL);
       CREATE INDEX exports_by_subject ON exports(subject, imodel_id, type_class, modified_ms);
       CREATE INDEX exports_by_status ON exports(status, created_ms);)",
    // 2: the iMdl major version of IMODEL exports (0 for 3D Tiles), for the tileVersion filter.
    R"(ALTER TABLE exports ADD COLUMN tile_major INTEGER NOT NULL DEFAULT 0;)",
    // 3: the store says it is meshexport's (a file of another application is never taken over).
    R"(PRAGMA application_id = 1297631810;)",
};

constexpr const char* kColumns =
    "id, subject, imodel_id, changeset_id, changeset_index, export_type, type_class, tiler_config, display_name, "
    "status, error, stats, imodel_path, created_ms, modified_ms, tile_major";

ExportRecord readRow(const io::sqlite::Statement& s) {
  ExportRecord r;
  r.id = s.getText(0);
  r.subject = s.getText(1);
  r.iModelId = s.getText(2);
  r.changesetId = s.getText(3);
  r.changesetIndex = s.getInt64(4);
  r.exportType = s.getText(5);
  r.typeClass = s.getText(6);
  r.tilerConfig = s.getText(7);
  r.displayName = s.getText(8);
  // A status no release wrote (a damaged row) reads as Invalid, with the reason.
  const std::string status = s.getText(9);
  r.status = parseExportStatus(status).value_or(ExportStatus::Invalid);
  r.error = s.getText(10);
  r.stats = s.getText(11);
  r.imodelPath = s.getText(12);
  if (!parseExportStatus(status) && r.error.empty()) r.error = "The stored status of this export is unreadable.";
  r.createdMs = s.getInt64(13);
  r.modifiedMs = s.getInt64(14);
  r.tileMajor = s.getInt64(15);
  return r;
}

} // namespace

struct SqliteJobStore::Impl {
  Db db;
  std::mutex mutex;
  int64_t version = 0;

  std::vector<ExportRecord> query(const std::string& sql, const std::vector<std::string>& args, int64_t limit = -1,
                                  int64_t offset = 0) {
    std::vector<ExportRecord> out;
    auto s = db.prepare(sql + (limit >= 0 ? " LIMIT ? OFFSET ?" : ""));
    if (!s) return out;
    int i = 1;
    for (const auto& a : args) (void)s->bind(i++, a);
    if (limit >= 0) {
      (void)s->bind(i++, limit);
      (void)s->bind(i++, offset);
    }
    while (s->step() == StepResult::Row) out.push_back(readRow(*s));
    return out;
  }
};

SqliteJobStore::SqliteJobStore(std::unique_ptr<Impl> impl) : _impl(std::move(impl)) {}
SqliteJobStore::~SqliteJobStore() = default;
int64_t SqliteJobStore::version() const { return _impl->version; }

namespace {

/// What a store must hold to be opened, read without changing anything. DataLoss when it is not
/// a meshexport store, is damaged or lacks its schema; UnsupportedInput when it is newer.
Status verifyOpen(const Db& db, const std::string& name, int64_t& version, bool full = false) {
  auto damaged = [&](const std::string& why) { return Status{ErrorCode::DataLoss, name + " " + why}; };
  // quick_check reads every page (a zeroed or truncated page, a bad header); it answers "ok".
  auto check = db.prepare(full ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)");
  if (!check) return damaged("cannot be read as a SQLite database (" + check.status().message() + ")");
  std::string problems;
  while (true) {
    const StepResult r = check->step();
    if (r == StepResult::Done) break;
    if (r == StepResult::Error) return damaged("is damaged (" + check->error().message() + ")");
    const std::string line = check->getText(0);
    if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
  }
  if (!problems.empty()) return damaged("fails its integrity check: " + problems);
  auto v = db.queryInt("PRAGMA user_version");
  auto app = db.queryInt("PRAGMA application_id");
  if (!v || !app) return damaged("cannot be read (" + (v ? app.status() : v.status()).message() + ")");
  version = v->value_or(0);
  const int64_t appId = app->value_or(0);
  if (appId != 0 && appId != SqliteJobStore::kApplicationId)
    return damaged("belongs to another application (application_id " + std::to_string(appId) + ")");
  if (version <= 0) return damaged("was not created by meshexport (it has no schema version)");
  const int64_t known = int64_t(std::size(kMigrations));
  if (version > known)
    return Status{ErrorCode::UnsupportedInput, name + " has schema version " + std::to_string(version) +
                                                   ", newer than this meshexport knows (" + std::to_string(known) +
                                                   ")"};
  if (!db.tableExists("exports")) return damaged("lacks its schema (no exports table)");
  return Status::ok();
}

} // namespace

Status SqliteJobStore::verify(const std::filesystem::path& file, bool full) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return Status{ErrorCode::DataLoss, file.string() + " does not exist"};
  if (std::filesystem::file_size(file, ec) == 0) return Status{ErrorCode::DataLoss, file.string() + " is empty"};
  auto db = Db::openReadWrite(file.string());
  if (!db) return Status{ErrorCode::DataLoss, file.string() + " cannot be opened (" + db.status().message() + ")"};
  int64_t version = 0;
  return verifyOpen(*db, file.string(), version, full);
}

core::Result<std::unique_ptr<SqliteJobStore>> SqliteJobStore::open(const std::filesystem::path& file, Create create) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(file, ec);
  const bool empty = !exists || std::filesystem::file_size(file, ec) == 0;
  if (empty && create == Create::Never)
    return Status{ErrorCode::DataLoss, file.string() + (exists ? " is empty" : " does not exist") +
                                           ", and no new store is made here (exports may exist that it should list)"};
  auto impl = std::make_unique<Impl>();
  MX_ASSIGN_OR_RETURN(impl->db, Db::openReadWrite(file.string()));
  int64_t version = 0;
  if (!empty) MX_RETURN_IF_ERROR(verifyOpen(impl->db, file.string(), version));
  MX_RETURN_IF_ERROR(impl->db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"));
  const int64_t known = int64_t(std::size(kMigrations));
  for (; version < known; ++version) {
    MX_RETURN_IF_ERROR(impl->db.exec("BEGIN IMMEDIATE"));
    Status s = impl->db.exec(kMigrations[version]);
    if (s) s = impl->db.exec("PRAGMA user_version = " + std::to_string(version + 1));
    if (!s) {
      (void)impl->db.exec("ROLLBACK");
      return s.withContext("migration " + std::to_string(version + 1));
    }
    MX_RETURN_IF_ERROR(impl->db.exec("COMMIT"));
  }
  impl->version = version;
  return std::unique_ptr<SqliteJobStore>(new SqliteJobStore(std::move(impl)));
}

Status SqliteJobStore::insert(const ExportRecord& r) {
  std::lock_guard lock(_impl->mutex);
  MX_ASSIGN_OR_RETURN(auto s, _impl->db.prepare(std::string("INSERT INTO exports (") + kColumns +
                                                ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  int i = 1;
  for (const std::string* t : {&r.id, &r.subject, &r.iModelId, &r.changesetId}) MX_RETURN_IF_ERROR(s.bind(i++, *t));
  MX_RETURN_IF_ERROR(s.bind(i++, r.changesetIndex));
  const std::string status = toString(r.status);
  for (const std::string* t :
       {&r.exportType, &r.typeClass, &r.tilerConfig, &r.displayName, &status, &r.error, &r.stats, &r.imodelPath})
    MX_RETURN_IF_ERROR(s.bind(i++, *t));
  MX_RETURN_IF_ERROR(s.bind(i++, r.createdMs));
  MX_RETURN_IF_ERROR(s.bind(i++, r.modifiedMs));
  MX_RETURN_IF_ERROR(s.bind(i++, r.tileMajor));
  if (s.step() != StepResult::Done) return s.error();
  return Status::ok();
}

std::optional<ExportRecord> SqliteJobStore::get(const std::string& id) {
  std::lock_guard lock(_impl->mutex);
  auto rows = _impl->query(std::string("SELECT ") + kColumns + " FROM exports WHERE id = ?", {id});
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

std::vector<ExportRecord> SqliteJobStore::list(const ExportQuery& q, int64_t& total) {
  std::lock_guard lock(_impl->mutex);
  std::string where = " FROM exports WHERE subject = ?";
  std::vector<std::string> args{q.subject};
  if (!q.iModelId.empty()) {
    where += " AND imodel_id = ?";
    args.push_back(q.iModelId);
  }
  if (!q.changesetId.empty()) {
    where += " AND changeset_id = ?";
    args.push_back(q.changesetId);
  }
  if (!q.typeClass.empty()) {
    where += " AND type_class = ?";
    args.push_back(q.typeClass);
  }
  if (q.maxTileMajor >= 0) {
    where += " AND tile_major <= ?";
    args.push_back(std::to_string(q.maxTileMajor));
  }
  total = 0;
  if (auto s = _impl->db.prepare("SELECT COUNT(*)" + where)) {
    int i = 1;
    for (const auto& a : args) (void)s->bind(i++, a);
    if (s->step() == StepResult::Row) total = s->getInt64(0);
  }
  const char* order = q.order == ExportQuery::Order::DateAsc ? " ORDER BY modified_ms ASC, id ASC"
                      : q.order == ExportQuery::Order::DateDesc
                          ? " ORDER BY modified_ms DESC, id DESC"
                          : " ORDER BY changeset_index DESC, modified_ms DESC, id DESC";
  return _impl->query(std::string("SELECT ") + kColumns + where + order, args, q.top, q.skip);
}

std::optional<ExportRecord> SqliteJobStore::findSame(const std::string& subject, const std::string& iModelId,
                                                     const std::string& changesetId, const std::string& typeClass,
                                                     const std::string* tilerConfig) {
  std::lock_guard lock(_impl->mutex);
  std::string sql = std::string("SELECT ") + kColumns +
                    " FROM exports WHERE subject = ? AND imodel_id = ? AND changeset_id = ? AND type_class = ?"
                    " AND status != 'Invalid'";
  std::vector<std::string> args{subject, iModelId, changesetId, typeClass};
  if (tilerConfig) {
    sql += " AND tiler_config = ?";
    args.push_back(*tilerConfig);
  }
  auto rows = _impl->query(sql + " ORDER BY created_ms DESC", args, 1, 0);
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

Status SqliteJobStore::setStatus(const std::string& id, ExportStatus status, const std::string& error,
                                 const std::string& stats) {
  std::lock_guard lock(_impl->mutex);
  MX_ASSIGN_OR_RETURN(
      auto s,
      _impl->db.prepare("UPDATE exports SET status = ?, error = ?, stats = CASE WHEN ? = '' THEN stats ELSE ? END,"
                        " modified_ms = ? WHERE id = ?"));
  MX_RETURN_IF_ERROR(s.bind(1, toString(status)));
  MX_RETURN_IF_ERROR(s.bind(2, error));
  MX_RETURN_IF_ERROR(s.bind(3, stats));
  MX_RETURN_IF_ERROR(s.bind(4, stats));
  MX_RETURN_IF_ERROR(s.bind(5, nowMs()));
  MX_RETURN_IF_ERROR(s.bind(6, id));
  if (s.step() != StepResult::Done) return s.error();
  return Status::ok();
}

Status SqliteJobStore::remove(const std::string& id) {
  std::lock_guard lock(_impl->mutex);
  MX_ASSIGN_OR_RETURN(auto s, _impl->db.prepare("DELETE FROM exports WHERE id = ?"));
  MX_RETURN_IF_ERROR(s.bind(1, id));
  if (s.step() != StepResult::Done) return s.error();
  if (_impl->db.changes() == 0) return Status{ErrorCode::InvalidArgument, "no export " + id};
  return Status::ok();
}

std::vector<ExportRecord> SqliteJobStore::all() {
  std::lock_guard lock(_impl->mutex);
  return _impl->query(std::string("SELECT ") + kColumns + " FROM exports ORDER BY created_ms", {});
}

int64_t SqliteJobStore::requeueInProgress() {
  std::lock_guard lock(_impl->mutex);
  auto s = _impl->db.prepare("UPDATE exports SET status = 'NotStarted', modified_ms = ? WHERE status = 'InProgress'");
  if (!s || !s->bind(1, nowMs()) || s->step() != StepResult::Done) return 0;
  return _impl->db.changes();
}

std::vector<std::string> SqliteJobStore::idsWithStatus(ExportStatus status) {
  std::lock_guard lock(_impl->mutex);
  std::vector<std::string> out;
  for (auto& r : _impl->query(std::string("SELECT ") + kColumns + " FROM exports WHERE status = ? ORDER BY created_ms",
                              {toString(status)}))
    out.push_back(r.id);
  return out;
}

std::map<std::string, int64_t> SqliteJobStore::countsByStatus() {
  std::lock_guard lock(_impl->mutex);
  std::map<std::string, int64_t> out{{"NotStarted", 0}, {"InProgress", 0}, {"Complete", 0}, {"Invalid", 0}};
  auto s = _impl->db.prepare("SELECT status, COUNT(*) FROM exports GROUP BY status");
  if (!s) return out;
  while (s->step() == StepResult::Row) out[s->getText(0)] = s->getInt64(1);
  return out;
}

std::vector<ExportRecord> SqliteJobStore::history(const std::string& subject, const std::string& iModelId,
                                                  const std::string& typeClass) {
  std::lock_guard lock(_impl->mutex);
  return _impl->query(
      std::string("SELECT ") + kColumns +
          " FROM exports WHERE subject = ? AND imodel_id = ? AND type_class = ? ORDER BY created_ms DESC",
      {subject, iModelId, typeClass});
}

std::vector<std::string> SqliteJobStore::legacySubjects() {
  std::lock_guard lock(_impl->mutex);
  std::vector<std::string> out;
  auto s = _impl->db.prepare(
      "SELECT DISTINCT subject FROM exports WHERE subject NOT LIKE 'dev:%' AND subject NOT LIKE 'jwt:%'");
  if (!s) return out;
  while (s->step() == StepResult::Row) out.push_back(s->getText(0));
  return out;
}

Status SqliteJobStore::renameSubject(const std::string& from, const std::string& to) {
  std::lock_guard lock(_impl->mutex);
  MX_ASSIGN_OR_RETURN(auto s, _impl->db.prepare("UPDATE exports SET subject = ? WHERE subject = ?"));
  MX_RETURN_IF_ERROR(s.bind(1, to));
  MX_RETURN_IF_ERROR(s.bind(2, from));
  if (s.step() != StepResult::Done) return s.error();
  return Status::ok();
}

} // namespace mx::service
