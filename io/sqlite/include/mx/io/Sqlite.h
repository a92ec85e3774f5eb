#pragma once
// A thin RAII layer over the SQLite C API (BeSQLite's shape: Db, Statement, step() → enum).
// Errors are Status values; nothing here throws.
#include <mx/core/Result.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace mx::io::sqlite {

enum class StepResult { Row, Done, Error };

class Statement {
public:
  Statement() = default;
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;
  ~Statement();

  core::Status bind(int index, int64_t value); ///< 1-based, as in SQLite.
  core::Status bind(int index, std::string_view text);
  core::Status bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  core::Status bindDouble(int index, double value);
  core::Status bindNull(int index);
  StepResult step();
  core::Status reset();
  /// The error of the last failed step.
  [[nodiscard]] core::Status error() const;

  [[nodiscard]] bool isNull(int col) const;
  [[nodiscard]] int64_t getInt64(int col) const;
  [[nodiscard]] double getDouble(int col) const;
  [[nodiscard]] std::string getText(int col) const;              ///< Empty for NULL.
  [[nodiscard]] std::span<const uint8_t> getBlob(int col) const; ///< Valid until the next step.

private:
  friend class Db;
  sqlite3* _db = nullptr;
  sqlite3_stmt* _stmt = nullptr;
};

class Db {
public:
  Db() = default;
  Db(Db&&) noexcept;
  Db& operator=(Db&&) noexcept;
  ~Db();

  /// Opens `path` read-only with `immutable=1` (no -wal/-shm side files, no locking): for files
  /// nobody writes. IoError when it cannot be opened.
  static core::Result<Db> openReadOnlyImmutable(const std::string& path);
  /// Opens (creating it when missing) `path` for reading and writing, with a busy timeout so
  /// concurrent writers wait instead of failing. For the service's own stores.
  static core::Result<Db> openReadWrite(const std::string& path, int busyTimeoutMs = 5000);

  /// Runs one or more statements that return no rows.
  core::Status exec(std::string_view sql) const;
  /// Rows changed by the last INSERT/UPDATE/DELETE on this connection.
  [[nodiscard]] int64_t changes() const;

  core::Result<Statement> prepare(std::string_view sql) const;
  /// Runs a query that returns one integer (e.g. a PRAGMA); nullopt when no row.
  core::Result<std::optional<int64_t>> queryInt(std::string_view sql) const;
  [[nodiscard]] bool tableExists(std::string_view name) const;
  [[nodiscard]] sqlite3* handle() const { return _db; }

private:
  sqlite3* _db = nullptr;
};

/// Maps a SQLite result code to a Status: SQLITE_CORRUPT / SQLITE_NOTADB → MalformedInput, the
/// rest → IoError; the message carries SQLite's text.
core::Status statusFromSqlite(int rc, sqlite3* db, std::string_view context);

} // namespace mx::io::sqlite
