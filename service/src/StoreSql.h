#pragma once
// What the SQL job stores (SqliteJobStore, PostgresJobStore) share: the exports table's column
// list, the list query's WHERE and ORDER BY, and how a stored status text is read back.
#include <mx/service/JobStore.h>

#include <string>
#include <vector>

namespace mx::service::sql {

/// The exports columns in the order both stores read and write them.
inline constexpr const char* kExportColumns =
    "id, subject, imodel_id, changeset_id, changeset_index, export_type, type_class, tiler_config, display_name, "
    "status, error, stats, imodel_path, created_ms, modified_ms, tile_major, auto_generated, itwin_id";

/// " FROM exports WHERE …" of a list query; `args` receives its parameters in order and
/// `placeholder(n)` writes the n-th (1-based: "?" for SQLite, "$n" for PostgreSQL).
template <typename Placeholder>
std::string listWhere(const ExportQuery& q, std::vector<std::string>& args, Placeholder&& placeholder) {
  std::string where = " FROM exports WHERE subject = ";
  args = {q.subject};
  where += placeholder(args.size());
  auto add = [&](const char* condition, std::string value) {
    args.push_back(std::move(value));
    where += std::string(" AND ") + condition + placeholder(args.size());
  };
  if (!q.iModelId.empty()) add("imodel_id = ", q.iModelId);
  if (!q.changesetId.empty()) add("changeset_id = ", q.changesetId);
  if (!q.typeClass.empty()) add("type_class = ", q.typeClass);
  if (q.maxTileMajor >= 0) add("tile_major <= ", std::to_string(q.maxTileMajor));
  return where;
}

/// " ORDER BY …" of a list query.
inline const char* listOrder(ExportQuery::Order order) {
  return order == ExportQuery::Order::DateAsc    ? " ORDER BY modified_ms ASC, id ASC"
         : order == ExportQuery::Order::DateDesc ? " ORDER BY modified_ms DESC, id DESC"
                                                 : " ORDER BY changeset_index DESC, modified_ms DESC, id DESC";
}

/// Sets r.status from its stored text: a status no release wrote (a damaged row) reads as Invalid,
/// with the reason unless the row has an error already.
inline void readStatus(ExportRecord& r, const std::string& status) {
  const auto parsed = parseExportStatus(status);
  r.status = parsed.value_or(ExportStatus::Invalid);
  if (!parsed && r.error.empty()) r.error = "The stored status of this export is unreadable.";
}

} // namespace mx::service::sql
