#include <mx/io/Sqlite.h>

#include <sqlite3.h>

#include <utility>

namespace mx::io::sqlite {

using core::ErrorCode;
using core::Status;

Status statusFromSqlite(int rc, sqlite3* db, std::string_view context) {
  const int primary = rc & 0xFF;
  const std::string text = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  const ErrorCode code = (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) ? ErrorCode::MalformedInput
                         : primary == SQLITE_FULL                                ? ErrorCode::StorageFull
                         : (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)  ? ErrorCode::Unavailable
                                                                                 : ErrorCode::IoError;
  return {code, std::string(context) + ": " + text};
}

Statement::Statement(Statement&& o) noexcept : _db(o._db), _stmt(std::exchange(o._stmt, nullptr)) {}
Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    if (_stmt) sqlite3_finalize(_stmt);
    _db = o._db;
    _stmt = std::exchange(o._stmt, nullptr);
  }
  return *this;
}
Statement::~Statement() {
  if (_stmt) sqlite3_finalize(_stmt);
}

Status Statement::bind(int index, int64_t value) {
  const int rc = sqlite3_bind_int64(_stmt, index, value);
  return rc == SQLITE_OK ? Status::ok() : statusFromSqlite(rc, _db, "bind");
}
Status Statement::bind(int index, std::string_view text) {
  const int rc = sqlite3_bind_text(_stmt, index, text.data(), int(text.size()), SQLITE_TRANSIENT);
  return rc == SQLITE_OK ? Status::ok() : statusFromSqlite(rc, _db, "bind");
}
Status Statement::bindDouble(int index, double value) {
  const int rc = sqlite3_bind_double(_stmt, index, value);
  return rc == SQLITE_OK ? Status::ok() : statusFromSqlite(rc, _db, "bind");
}
Status Statement::bindNull(int index) {
  const int rc = sqlite3_bind_null(_stmt, index);
  return rc == SQLITE_OK ? Status::ok() : statusFromSqlite(rc, _db, "bind");
}
StepResult Statement::step() {
  const int rc = sqlite3_step(_stmt);
  if (rc == SQLITE_ROW) return StepResult::Row;
  if (rc == SQLITE_DONE) return StepResult::Done;
  return StepResult::Error;
}
Status Statement::reset() {
  const int rc = sqlite3_reset(_stmt);
  return rc == SQLITE_OK ? Status::ok() : statusFromSqlite(rc, _db, "reset");
}
Status Statement::error() const { return statusFromSqlite(sqlite3_errcode(_db), _db, "query"); }
bool Statement::isNull(int col) const { return sqlite3_column_type(_stmt, col) == SQLITE_NULL; }
int64_t Statement::getInt64(int col) const { return sqlite3_column_int64(_stmt, col); }
double Statement::getDouble(int col) const { return sqlite3_column_double(_stmt, col); }
std::string Statement::getText(int col) const {
  const auto* t = sqlite3_column_text(_stmt, col);
  return t ? std::string(reinterpret_cast<const char*>(t), size_t(sqlite3_column_bytes(_stmt, col))) : std::string();
}
std::span<const uint8_t> Statement::getBlob(int col) const {
  const void* p = sqlite3_column_blob(_stmt, col);
  const int n = sqlite3_column_bytes(_stmt, col);
  return p ? std::span<const uint8_t>(static_cast<const uint8_t*>(p), size_t(n)) : std::span<const uint8_t>();
}

Db::Db(Db&& o) noexcept : _db(std::exchange(o._db, nullptr)) {}
Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    if (_db) sqlite3_close_v2(_db);
    _db = std::exchange(o._db, nullptr);
  }
  return *this;
}
Db::~Db() {
  if (_db) sqlite3_close_v2(_db);
}

core::Result<Db> Db::openReadOnlyImmutable(const std::string& path) {
  // A URI needs '%', '?' and '#' escaped in the path.
  std::string uri = "file:";
  for (char c : path) {
    if (c == '%')
      uri += "%25";
    else if (c == '?')
      uri += "%3f";
    else if (c == '#')
      uri += "%23";
    else
      uri += c;
  }
  uri += "?immutable=1";
  Db db;
  const int rc = sqlite3_open_v2(uri.c_str(), &db._db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  if (rc != SQLITE_OK) return statusFromSqlite(rc, db._db, "open " + path);
  return db;
}

core::Result<Db> Db::openReadWrite(const std::string& path, int busyTimeoutMs) {
  Db db;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db._db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return statusFromSqlite(rc, db._db, "open " + path);
  sqlite3_busy_timeout(db._db, busyTimeoutMs);
  return db;
}

Status Db::exec(std::string_view sql) const {
  const std::string text(sql);
  char* err = nullptr;
  const int rc = sqlite3_exec(_db, text.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::ok();
  Status s = statusFromSqlite(rc, _db, "exec \"" + text.substr(0, 60) + "\"");
  sqlite3_free(err);
  return s;
}

int64_t Db::changes() const { return sqlite3_changes64(_db); }

core::Result<Statement> Db::prepare(std::string_view sql) const {
  Statement s;
  s._db = _db;
  const int rc = sqlite3_prepare_v2(_db, sql.data(), int(sql.size()), &s._stmt, nullptr);
  if (rc != SQLITE_OK) return statusFromSqlite(rc, _db, "prepare \"" + std::string(sql.substr(0, 60)) + "\"");
  return s;
}

core::Result<std::optional<int64_t>> Db::queryInt(std::string_view sql) const {
  MX_ASSIGN_OR_RETURN(Statement s, prepare(sql));
  switch (s.step()) {
  case StepResult::Row:
    return std::optional<int64_t>(s.getInt64(0));
  case StepResult::Done:
    return std::optional<int64_t>();
  default:
    return s.error();
  }
}

bool Db::tableExists(std::string_view name) const {
  auto s = prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?");
  if (!s) return false;
  if (!s->bind(1, name)) return false;
  return s->step() == StepResult::Row;
}

} // namespace mx::io::sqlite
