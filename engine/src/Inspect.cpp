#include <mx/engine/Inspect.h>
#include <mx/io/ImodelReader.h>

#include <map>

namespace mx::engine {

using nlohmann::json;

namespace {
json vec(const core::Vec3d& v) { return json::array({v.x, v.y, v.z}); }
json range(const core::Aabb& b) {
  return {{"low", {b.min[0], b.min[1], b.min[2]}}, {"high", {b.max[0], b.max[1], b.max[2]}}};
}
} // namespace

core::Result<json> inspectImodel(const std::filesystem::path& path) {
  MX_ASSIGN_OR_RETURN(io::ImodelFile file, io::ImodelFile::open(path));
  const io::ImodelFacts& f = file.facts();
  json out = {{"file", path.filename().string()},
              {"iModelId", f.iModelId},
              {"name", f.name},
              {"changeset", {{"id", f.changesetId}, {"index", f.changesetIndex}}},
              {"profile", f.profileVersion},
              {"projectExtents", f.projectExtents ? range(*f.projectExtents) : json()},
              {"ecefLocation", f.ecef ? json{{"origin", vec(f.ecef->origin)}, {"xVector", vec(f.ecef->xVector)},
                                             {"yVector", vec(f.ecef->yVector)}}
                                      : json()}};
  MX_ASSIGN_OR_RETURN(std::vector<io::ElementRecord> elements, file.spatialElements());
  MX_ASSIGN_OR_RETURN(io::ImodelScene scene, file.readScene());
  json list = json::array();
  std::map<std::string, uint64_t> totals;
  uint64_t decodeErrors = 0;
  for (const io::ElementRecord& e : elements) {
    json rec = {{"id", io::formatId64(e.id)}, {"classFullName", e.className}, {"model", io::formatId64(e.model)},
                {"category", io::formatId64(e.category)}, {"range", e.worldRange.empty() ? json() : range(e.worldRange)}};
    if (!e.userLabel.empty()) rec["userLabel"] = e.userLabel;
    if (e.hasGeometry) {
      // An element whose stream does not decode is reported on that element only.
      auto blob = file.geometryBlob(e.id);
      auto inflated = blob ? io::inflateGeometryBlob(*blob) : core::Result<std::vector<uint8_t>>(blob.status());
      auto ops = inflated ? io::parseGeometryStream(*inflated) : core::Result<std::vector<io::GeometryOp>>(inflated.status());
      if (auto st = scene.elements.find(e.id); st != scene.elements.end()) {
        rec["triangles"] = st->second.triangles;
        rec["area"] = st->second.area;
        rec["colors"] = st->second.colors;
        if (!st->second.skipped.empty()) rec["skipped"] = st->second.skipped;
      }
      if (ops) {
        std::map<std::string, uint64_t> counts;
        for (const auto& op : *ops) {
          ++counts[std::string(io::opCodeName(op.opCode))];
          ++totals[std::string(io::opCodeName(op.opCode))];
        }
        rec["ops"] = counts;
      } else {
        rec["geometryError"] = ops.status().message();
        ++decodeErrors;
      }
    }
    list.push_back(std::move(rec));
  }
  out["elements"] = std::move(list);
  uint64_t triangles = 0;
  for (const auto& [id, st] : scene.elements) triangles += st.triangles;
  out["summary"] = {{"elements", elements.size()}, {"ops", totals}, {"geometryErrors", decodeErrors},
                    {"triangles", triangles}, {"skipped", scene.skipped}};
  return out;
}

} // namespace mx::engine
