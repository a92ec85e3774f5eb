// Table and column names, the GUID layout, the placement formula and the blob encoding follow
// ../shared/docs/imodel-format.md sections 1–5 (verified there against iTwin.js 5.7.3 files).
#include "ImodelImpl.h"
#include <mx/io/ImodelReader.h>

#include <nlohmann/json.hpp>
#include <snappy.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace mx::io {

using core::ErrorCode;
using core::Result;
using core::Status;
using nlohmann::json;

std::string_view toString(ImodelError e) noexcept {
  switch (e) {
  case ImodelError::NotSqlite:
    return "not-sqlite";
  case ImodelError::NotAnImodel:
    return "not-an-imodel";
  case ImodelError::UnsupportedProfile:
    return "unsupported-profile";
  case ImodelError::Corrupt:
    return "corrupt";
  }
  return "unknown";
}

namespace {

constexpr int64_t kBeDbApplicationId = 0x42654462; // "BeDb"
constexpr int kSupportedDgnProfileMajor = 2;

Status fail(ImodelError e, const std::string& msg) { return imodelFail(e, msg); }
Status corrupt(const Status& s) { return imodelCorrupt(s); }

std::optional<core::Vec3d> vec3(const json& j) {
  if (!j.is_array() || j.size() != 3) return std::nullopt;
  for (const auto& v : j)
    if (!v.is_number()) return std::nullopt;
  return core::Vec3d{j[0].get<double>(), j[1].get<double>(), j[2].get<double>()};
}

} // namespace

std::string formatId64(uint64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(id));
  return buf;
}

core::Mat4d placementTransform(const core::Vec3d& origin, double yawDeg, double pitchDeg, double rollDeg) {
  constexpr double kDeg = M_PI / 180.0;
  const double cz = std::cos(yawDeg * kDeg), sz = std::sin(yawDeg * kDeg);
  const double cy = std::cos(pitchDeg * kDeg), sy = std::sin(pitchDeg * kDeg);
  const double cx = std::cos(rollDeg * kDeg), sx = std::sin(rollDeg * kDeg);
  // Rows of R (format doc section 3), stored column-major.
  const double r[3][3] = {{cz * cy, -(sz * cx + cz * sy * sx), sz * sx - cz * sy * cx},
                          {sz * cy, cz * cx - sz * sy * sx, -(cz * sx + sz * sy * cx)},
                          {sy, cy * sx, cy * cx}};
  return {r[0][0], r[1][0], r[2][0], 0, r[0][1],  r[1][1],  r[2][1],  0,
          r[0][2], r[1][2], r[2][2], 0, origin.x, origin.y, origin.z, 1};
}

core::Aabb worldRange(const core::Aabb& localBox, const core::Mat4d& placement) {
  core::Aabb box = localBox, out;
  if (box.empty()) return out;
  for (int a = 0; a < 3; ++a)
    if (box.max[a] - box.min[a] < 0.001) {
      const double mid = (box.min[a] + box.max[a]) / 2;
      box.min[a] = mid - 0.0005;
      box.max[a] = mid + 0.0005;
    }
  for (int i = 0; i < 8; ++i) {
    const core::Vec3d p{(i & 1) ? box.max[0] : box.min[0], (i & 2) ? box.max[1] : box.min[1],
                        (i & 4) ? box.max[2] : box.min[2]};
    const core::Vec3d q = core::transformPoint(placement, p);
    out.extend(q.x, q.y, q.z);
  }
  return out;
}

Status ImodelFile::Impl::readFacts() {
  MX_ASSIGN_OR_RETURN(auto guid, prop("be_Db", "DbGuid"));
  if (guid && guid->second.size() == 16) {
    static const char* hex = "0123456789abcdef";
    std::string g;
    for (size_t i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) g += '-';
      g += hex[guid->second[i] >> 4];
      g += hex[guid->second[i] & 15];
    }
    facts.iModelId = g;
  }
  MX_ASSIGN_OR_RETURN(auto profile, prop("dgn_Db", "SchemaVersion"));
  if (!profile) return fail(ImodelError::NotAnImodel, "no dgn_Db SchemaVersion property");
  const json pv = json::parse(profile->first, nullptr, false);
  if (!pv.is_object() || !pv.contains("major") || !pv["major"].is_number_integer())
    return fail(ImodelError::Corrupt, "dgn_Db SchemaVersion is not the expected JSON: " + profile->first);
  facts.profileVersion =
      std::to_string(jsonGet<int>(pv, "major", 0)) + "." + std::to_string(jsonGet<int>(pv, "minor", 0)) + "." +
      std::to_string(jsonGet<int>(pv, "sub1", 0)) + "." + std::to_string(jsonGet<int>(pv, "sub2", 0));
  if (pv["major"].get<int>() != kSupportedDgnProfileMajor)
    return fail(ImodelError::UnsupportedProfile, "iModel profile " + facts.profileVersion + " (supported: " +
                                                     std::to_string(kSupportedDgnProfileMajor) + ".x)");
  MX_ASSIGN_OR_RETURN(auto extents, prop("dgn_Db", "Extents"));
  if (extents) {
    const json e = json::parse(extents->first, nullptr, false);
    auto lo = e.is_object() && e.contains("low") ? vec3(e["low"]) : std::nullopt;
    auto hi = e.is_object() && e.contains("high") ? vec3(e["high"]) : std::nullopt;
    if (lo && hi) {
      core::Aabb b;
      b.extend(lo->x, lo->y, lo->z);
      b.extend(hi->x, hi->y, hi->z);
      facts.projectExtents = b;
    }
  }
  MX_ASSIGN_OR_RETURN(auto units, prop("dgn_Db", "Units"));
  if (units) {
    const json u = json::parse(units->first, nullptr, false);
    if (u.is_object() && u.contains("ecefLocation") && u["ecefLocation"].is_object()) {
      const json& e = u["ecefLocation"];
      auto origin = e.contains("origin") ? vec3(e["origin"]) : std::nullopt;
      if (!origin) return fail(ImodelError::Corrupt, "ecefLocation without a valid origin");
      core::EcefLocation loc;
      loc.origin = *origin;
      auto xv = e.contains("xVector") ? vec3(e["xVector"]) : std::nullopt;
      auto yv = e.contains("yVector") ? vec3(e["yVector"]) : std::nullopt;
      if (xv && yv) {
        loc.xVector = *xv;
        loc.yVector = *yv;
      } else {
        const json o = e.contains("orientation") ? e["orientation"] : json::object();
        const core::Mat4d r = placementTransform({}, jsonGet<double>(o, "yaw", 0.0), jsonGet<double>(o, "pitch", 0.0),
                                                 jsonGet<double>(o, "roll", 0.0));
        loc.xVector = {r[0], r[1], r[2]};
        loc.yVector = {r[4], r[5], r[6]};
      }
      facts.ecef = loc;
    }
  }
  {
    MX_ASSIGN_OR_RETURN(sqlite::Statement s, db.prepare("SELECT CodeValue FROM bis_Element WHERE Id=1"));
    if (s.step() == sqlite::StepResult::Row)
      facts.name = s.getText(0);
    else
      return fail(ImodelError::Corrupt, "no root subject (element 1)");
  }
  if (db.tableExists("be_Local")) {
    MX_ASSIGN_OR_RETURN(
        sqlite::Statement s,
        db.prepare("SELECT Name, Val FROM be_Local WHERE Name IN ('ParentChangeSetId','parentChangeset')"));
    std::string parentId, parentJson;
    for (auto r = s.step(); r == sqlite::StepResult::Row; r = s.step())
      (s.getText(0) == "ParentChangeSetId" ? parentId : parentJson) = s.getText(1);
    facts.changesetId = parentId;
    const json pc = json::parse(parentJson, nullptr, false);
    if (pc.is_object() && jsonGet<std::string>(pc, "id", "") == parentId && pc.contains("index") &&
        pc["index"].is_number_integer())
      facts.changesetIndex = pc["index"].get<int64_t>();
  }
  return Status::ok();
}

ImodelFile::ImodelFile() = default;
ImodelFile::ImodelFile(ImodelFile&&) noexcept = default;
ImodelFile& ImodelFile::operator=(ImodelFile&&) noexcept = default;
ImodelFile::~ImodelFile() = default;

Result<ImodelFile> ImodelFile::open(const std::filesystem::path& path) {
  {
    std::ifstream f(path, std::ios::binary);
    if (!f) return Status{ErrorCode::IoError, "cannot read " + path.string()};
    char header[16] = {};
    f.read(header, 16);
    if (f.gcount() < 16 || std::memcmp(header, "SQLite format 3\0", 16) != 0)
      return fail(ImodelError::NotSqlite, path.string() + " is not an SQLite database");
  }
  auto db = sqlite::Db::openReadOnlyImmutable(path.string());
  if (!db) return fail(ImodelError::Corrupt, db.status().message());
  auto appId = db->queryInt("PRAGMA application_id");
  if (!appId) return corrupt(appId.status());
  if (appId->value_or(0) != kBeDbApplicationId)
    return fail(ImodelError::NotAnImodel,
                path.string() + " is an SQLite database but not a BeSQLite one (application_id is not BeDb)");
  for (const char* table : {"be_Prop", "bis_Element", "bis_GeometricElement3d", "bis_Model", "ec_Class", "ec_Schema"}) {
    if (!db->tableExists(table))
      return fail(ImodelError::NotAnImodel,
                  path.string() + " has no " + table + " table (a BeSQLite file, not an iModel)");
  }
  ImodelFile file;
  file._impl = std::make_unique<Impl>();
  file._impl->db = std::move(db).value();
  file._impl->path = path.string();
  Status s = file._impl->readFacts();
  if (!s) {
    if (s.code() == ErrorCode::IoError) return corrupt(s);
    return s;
  }
  return file;
}

const ImodelFacts& ImodelFile::facts() const { return _impl->facts; }

Status ImodelFile::Impl::forEachSpatialElement(const std::function<Status(ElementRecord&&)>& each) const {
  static constexpr const char* kSql = R"(
    SELECT e.Id, e.ModelId, g.CategoryId, s.Name || ':' || c.Name, e.CodeValue, e.UserLabel,
           g.Origin_X, g.Origin_Y, g.Origin_Z, g.Yaw, g.Pitch, g.Roll,
           g.BBoxLow_X, g.BBoxLow_Y, g.BBoxLow_Z, g.BBoxHigh_X, g.BBoxHigh_Y, g.BBoxHigh_Z,
           g.GeometryStream IS NOT NULL
    FROM bis_GeometricElement3d g
    CROSS JOIN bis_Element e ON e.Id = g.ElementId
    JOIN ec_Class c ON c.Id = e.ECClassId
    JOIN ec_Schema s ON s.Id = c.SchemaId
    WHERE e.ModelId IN (
      SELECT m.Id FROM bis_Model m
      WHERE coalesce(m.IsPrivate, 0) = 0 AND coalesce(m.IsTemplate, 0) = 0 AND m.ECClassId IN (
        SELECT h.ClassId FROM ec_cache_ClassHierarchy h
        JOIN ec_Class b ON b.Id = h.BaseClassId JOIN ec_Schema bs ON bs.Id = b.SchemaId
        WHERE bs.Name = 'BisCore' AND b.Name = 'SpatialModel'))
    ORDER BY g.ElementId)";
  auto stmt = db.prepare(kSql);
  if (!stmt) return corrupt(stmt.status());
  sqlite::StepResult r;
  while ((r = stmt->step()) == sqlite::StepResult::Row) {
    const sqlite::Statement& s = *stmt;
    ElementRecord e;
    e.id = uint64_t(s.getInt64(0));
    e.model = uint64_t(s.getInt64(1));
    e.category = uint64_t(s.getInt64(2));
    e.className = s.getText(3);
    e.codeValue = s.getText(4);
    e.userLabel = s.getText(5);
    e.hasGeometry = s.getInt64(18) != 0;
    if (!s.isNull(6)) {
      e.placement = placementTransform({s.getDouble(6), s.getDouble(7), s.getDouble(8)}, s.getDouble(9),
                                       s.getDouble(10), s.getDouble(11));
      if (!s.isNull(12)) {
        e.localBox.extend(s.getDouble(12), s.getDouble(13), s.getDouble(14));
        e.localBox.extend(s.getDouble(15), s.getDouble(16), s.getDouble(17));
        e.worldRange = worldRange(e.localBox, e.placement);
      }
    }
    MX_RETURN_IF_ERROR(each(std::move(e)));
  }
  if (r == sqlite::StepResult::Error) return corrupt(stmt->error());
  return Status::ok();
}

Result<std::vector<ElementRecord>> ImodelFile::spatialElements() const {
  std::vector<ElementRecord> out;
  MX_RETURN_IF_ERROR(_impl->forEachSpatialElement([&](ElementRecord&& e) {
    out.push_back(std::move(e));
    return Status::ok();
  }));
  return out;
}

Result<std::vector<uint8_t>> ImodelFile::geometryBlob(uint64_t elementId) const {
  auto stmt = _impl->db.prepare("SELECT GeometryStream FROM bis_GeometricElement3d WHERE ElementId=?");
  if (!stmt) return corrupt(stmt.status());
  MX_RETURN_IF_ERROR(stmt->bind(1, int64_t(elementId)));
  const auto r = stmt->step();
  if (r == sqlite::StepResult::Error) return corrupt(stmt->error());
  if (r == sqlite::StepResult::Done)
    return Status{ErrorCode::InvalidArgument, "no 3D element " + formatId64(elementId)};
  const auto blob = stmt->getBlob(0);
  return std::vector<uint8_t>(blob.begin(), blob.end());
}

// ---- GeometryStream --------------------------------------------------------------------------

Result<std::vector<uint8_t>> inflateGeometryBlob(std::span<const uint8_t> blob, size_t maxBytes) {
  constexpr size_t kMaxChunkOut = size_t(64) << 10; // the writer flushes every 32 KiB
  std::vector<uint8_t> out;
  size_t pos = 0, chunk = 0;
  while (pos < blob.size()) {
    if (blob.size() - pos < 2)
      return fail(ImodelError::Corrupt, "GeometryStream truncated in the size of chunk " + std::to_string(chunk));
    const size_t size = size_t(blob[pos]) | size_t(blob[pos + 1]) << 8;
    if (size < 3 || size > blob.size() - pos)
      return fail(ImodelError::Corrupt, "GeometryStream chunk " + std::to_string(chunk) + " at byte " +
                                            std::to_string(pos) + " has size " + std::to_string(size) + " (" +
                                            std::to_string(blob.size() - pos) + " bytes left)");
    const char* raw = reinterpret_cast<const char*>(blob.data() + pos + 2);
    size_t inflated = 0;
    // snappy trusts its length prefix: check it before letting it allocate or write.
    if (!snappy::GetUncompressedLength(raw, size - 2, &inflated) || inflated > kMaxChunkOut)
      return fail(ImodelError::Corrupt,
                  "GeometryStream chunk " + std::to_string(chunk) + " has an invalid Snappy length");
    if (out.size() + inflated > maxBytes)
      return fail(ImodelError::Corrupt, "GeometryStream inflates beyond " + std::to_string(maxBytes) + " bytes");
    const size_t at = out.size();
    out.resize(at + inflated);
    if (!snappy::RawUncompress(raw, size - 2, reinterpret_cast<char*>(out.data() + at)))
      return fail(ImodelError::Corrupt, "GeometryStream chunk " + std::to_string(chunk) + " does not decompress");
    pos += size;
    ++chunk;
  }
  return out;
}

Result<std::vector<GeometryOp>> parseGeometryStream(std::span<const uint8_t> in) {
  auto u32 = [&](size_t at) {
    uint32_t v;
    std::memcpy(&v, in.data() + at, 4);
    return v;
  };
  if (in.size() < 8) return fail(ImodelError::Corrupt, "GeometryStream shorter than its 8-byte header");
  if (u32(0) != 0x600) return fail(ImodelError::Corrupt, "GeometryStream signature is not 0x600");
  if (u32(4) != in.size() - 8)
    return fail(ImodelError::Corrupt, "GeometryStream header announces " + std::to_string(u32(4)) + " bytes, has " +
                                          std::to_string(in.size() - 8));
  std::vector<GeometryOp> ops;
  size_t pos = 8;
  while (pos < in.size()) {
    if (in.size() - pos < 8)
      return fail(ImodelError::Corrupt, "GeometryStream op header truncated at byte " + std::to_string(pos));
    const uint32_t code = u32(pos), size = u32(pos + 4);
    if (size > in.size() - pos - 8)
      return fail(ImodelError::Corrupt, "GeometryStream op " + std::to_string(code) + " at byte " +
                                            std::to_string(pos) + " claims " + std::to_string(size) + " bytes, " +
                                            std::to_string(in.size() - pos - 8) + " left");
    ops.push_back({code, in.subspan(pos + 8, size)});
    pos += 8 + size_t(size);
  }
  if (ops.empty() || ops.front().opCode != 1)
    return fail(ImodelError::Corrupt, "GeometryStream does not start with a Header op");
  return ops;
}

std::string_view opCodeName(uint32_t op) noexcept {
  using Op = GeometryOpCode;
  switch (Op(op)) {
  case Op::Header:
    return "Header";
  case Op::SubGraphicRange:
    return "SubGraphicRange";
  case Op::PartInstance:
    return "GeometryPartInstance";
  case Op::BasicSymbology:
    return "BasicSymbology";
  case Op::PointPrimitive:
    return "PointPrimitive";
  case Op::PointPrimitive2d:
    return "PointPrimitive2d";
  case Op::ArcPrimitive:
    return "ArcPrimitive";
  case Op::CurveVector:
    return "CurveVector";
  case Op::Polyface:
    return "Polyface";
  case Op::CurvePrimitive:
    return "CurvePrimitive";
  case Op::SolidPrimitive:
    return "SolidPrimitive";
  case Op::BsplineSurface:
    return "BsplineSurface";
  case Op::AreaFill:
    return "AreaFill";
  case Op::Pattern:
    return "Pattern";
  case Op::Material:
    return "Material";
  case Op::TextString:
    return "TextString";
  case Op::LineStyleModifiers:
    return "LineStyleModifiers";
  case Op::ParasolidBRep:
    return "ParasolidBRep";
  case Op::BRepPolyface:
    return "BRepPolyface";
  case Op::BRepCurveVector:
    return "BRepCurveVector";
  case Op::Image:
    return "Image";
  }
  return "Unknown";
}

} // namespace mx::io
