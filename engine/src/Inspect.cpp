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
              {"ecefLocation", f.ecef ? json{{"origin", vec(f.ecef->origin)},
                                             {"xVector", vec(f.ecef->xVector)},
                                             {"yVector", vec(f.ecef->yVector)}}
                                      : json()}};
  // One pass over the file: readScene decodes every stream once and reports, per element, the
  // operations it found, what it meshed, and any decoding error.
  MX_ASSIGN_OR_RETURN(io::ImodelScene scene, file.readScene());
  json list = json::array();
  std::map<std::string, uint64_t> totals;
  uint64_t decodeErrors = 0;
  for (const io::ElementRecord& e : scene.records) {
    json rec = {{"id", io::formatId64(e.id)},
                {"classFullName", e.className},
                {"model", io::formatId64(e.model)},
                {"category", io::formatId64(e.category)},
                {"range", e.worldRange.empty() ? json() : range(e.worldRange)}};
    if (!e.userLabel.empty()) rec["userLabel"] = e.userLabel;
    if (auto st = scene.elements.find(e.id); st != scene.elements.end()) {
      const io::ElementGeometryStats& g = st->second;
      rec["triangles"] = g.triangles;
      rec["area"] = g.area;
      rec["colors"] = g.colors;
      if (g.lineSegments) {
        rec["lineSegments"] = g.lineSegments;
        rec["lineLength"] = g.lineLength;
        rec["lineColors"] = g.lineColors;
      }
      if (g.points) rec["points"] = g.points;
      if (!g.skipped.empty()) rec["skipped"] = g.skipped;
      if (!g.ops.empty()) rec["ops"] = g.ops;
      for (const auto& [name, count] : g.ops) totals[name] += count;
      if (!g.error.empty()) { // reported on that element only
        rec["geometryError"] = g.error;
        ++decodeErrors;
      }
    }
    list.push_back(std::move(rec));
  }
  out["elements"] = std::move(list);
  uint64_t triangles = 0;
  uint64_t lineSegments = 0, points = 0;
  for (const auto& [id, st] : scene.elements) {
    triangles += st.triangles;
    lineSegments += st.lineSegments;
    points += st.points;
  }
  out["summary"] = {{"elements", scene.records.size()}, {"ops", totals},
                    {"geometryErrors", decodeErrors},   {"triangles", triangles},
                    {"lineSegments", lineSegments},     {"points", points},
                    {"skipped", scene.skipped}};
  return out;
}

} // namespace mx::engine
