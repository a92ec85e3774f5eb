#pragma once
// Private to io/imodel: the open file's state, shared by the reader and the scene builder.
#include <mx/io/ImodelReader.h>
#include <mx/io/Sqlite.h>

#include <functional>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace mx::io {

/// Reads from untrusted JSON: a member that is missing, null or of another type gives `def`.
template <typename T, typename Json> T jsonGet(const Json& j, const char* key, T def) {
  if (!j.is_object() || !j.contains(key)) return def;
  const auto& v = j[key];
  if constexpr (std::is_same_v<T, bool>)
    return v.is_boolean() ? v.template get<bool>() : def;
  else if constexpr (std::is_arithmetic_v<T>)
    return v.is_number() ? v.template get<T>() : def;
  else
    return v.is_string() ? v.template get<T>() : def;
}

inline core::Status imodelFail(ImodelError e, const std::string& msg) {
  const core::ErrorCode code =
      e == ImodelError::UnsupportedProfile ? core::ErrorCode::UnsupportedInput : core::ErrorCode::MalformedInput;
  return {code, std::string(toString(e)) + ": " + msg};
}

/// A SQLite failure while reading an iModel: the file is damaged (or not what it claims).
inline core::Status imodelCorrupt(const core::Status& s) { return imodelFail(ImodelError::Corrupt, s.message()); }

struct ImodelFile::Impl {
  std::string path; ///< Where it was opened: worker threads open their own connections.
  sqlite::Db db;
  ImodelFacts facts;

  core::Result<std::optional<std::pair<std::string, std::vector<uint8_t>>>> prop(std::string_view ns,
                                                                                 std::string_view name) const {
    MX_ASSIGN_OR_RETURN(
        sqlite::Statement s,
        db.prepare("SELECT StrData, Data FROM be_Prop WHERE Namespace=? AND Name=? AND Id=0 AND SubId=0"));
    MX_RETURN_IF_ERROR(s.bind(1, ns));
    MX_RETURN_IF_ERROR(s.bind(2, name));
    switch (s.step()) {
    case sqlite::StepResult::Row: {
      const auto blob = s.getBlob(1);
      return std::optional<std::pair<std::string, std::vector<uint8_t>>>(
          std::pair{s.getText(0), std::vector<uint8_t>(blob.begin(), blob.end())});
    }
    case sqlite::StepResult::Done:
      return std::optional<std::pair<std::string, std::vector<uint8_t>>>();
    default:
      return s.error();
    }
  }

  /// (table, column) holding a property, resolved through the ECDb mapping (format doc 2.2).
  core::Result<std::optional<std::pair<std::string, std::string>>> column(std::string_view schema, std::string_view cls,
                                                                          std::string_view access) const {
    MX_ASSIGN_OR_RETURN(sqlite::Statement s, db.prepare(R"(
      SELECT t.Name, c.Name FROM ec_PropertyMap pm
      JOIN ec_Column c ON c.Id = pm.ColumnId JOIN ec_Table t ON t.Id = c.TableId
      JOIN ec_PropertyPath pp ON pp.Id = pm.PropertyPathId
      JOIN ec_Class cl ON cl.Id = pm.ClassId JOIN ec_Schema sc ON sc.Id = cl.SchemaId
      WHERE sc.Name = ? AND cl.Name = ? AND pp.AccessString = ?)"));
    MX_RETURN_IF_ERROR(s.bind(1, schema));
    MX_RETURN_IF_ERROR(s.bind(2, cls));
    MX_RETURN_IF_ERROR(s.bind(3, access));
    switch (s.step()) {
    case sqlite::StepResult::Row:
      return std::optional<std::pair<std::string, std::string>>(std::pair{s.getText(0), s.getText(1)});
    case sqlite::StepResult::Done:
      return std::optional<std::pair<std::string, std::string>>();
    default:
      return s.error();
    }
  }

  core::Status readFacts();
  /// Every spatial element, by id, as ImodelFile::spatialElements() lists them, handed to `each`
  /// as the query steps (a failing `each` stops the walk and is returned).
  core::Status forEachSpatialElement(const std::function<core::Status(ElementRecord&&)>& each) const;
};

} // namespace mx::io
