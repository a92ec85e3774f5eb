#include "ElementDecoder.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace mx::io {

using core::Mat4d;
using core::Result;
using core::Status;
using core::Vec3d;
using geometry::triangleArea;
using nlohmann::json;

namespace {

uint64_t parseId(const json& j) {
  if (j.is_string()) return std::strtoull(j.get<std::string>().c_str(), nullptr, 0);
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  return 0;
}

/// Area scale of a similarity transform (rotations, uniform scale, translation): |det|^(2/3).
double areaScale(const Mat4d& m) { return std::pow(std::abs(core::cofactor3(m).det), 2.0 / 3.0); }

/// The GeometryStream-decoding state of one thread: its own SQLite connection (null when decoding
/// a lone blob) and caches of sub-category appearances, render materials and parts.

} // namespace

Result<ElementGeometryStats> ElementDecoder::decodeBlob(std::span<const uint8_t> blob) {
  ElementOut out;
  _stats = &out.stats;
  std::vector<Event> events;
  MX_RETURN_IF_ERROR(walk(blob, events, 0));
  State state;
  MX_RETURN_IF_ERROR(replay(events, core::identityMatrix(), state, out, nullptr));
  return std::move(out.stats);
}

/// Decodes one element; a damaged stream is reported in the element's stats, not returned.
/// Returns an error only when the file cannot be read.
Status ElementDecoder::element(const ElementRecord& e, ElementOut& out) {
  if (!_blobStmt) {
    MX_ASSIGN_OR_RETURN(sqlite::Statement s,
                        _db->prepare("SELECT GeometryStream FROM bis_GeometricElement3d WHERE ElementId=?"));
    _blobStmt = std::move(s);
  }
  MX_RETURN_IF_ERROR(_blobStmt->reset());
  MX_RETURN_IF_ERROR(_blobStmt->bind(1, int64_t(e.id)));
  if (_blobStmt->step() != sqlite::StepResult::Row) return imodelCorrupt(_blobStmt->error());
  _stats = &out.stats;
  _elementBox = e.localBox;
  _subGraphicRange.reset();
  _keepRange = false;
  std::vector<Event> events;
  State state;
  state.subCategory = e.category + 1; // the default sub-category
  Status s = walk(_blobStmt->getBlob(0), events, 0);
  if (s) s = replay(events, e.placement, state, out, nullptr);
  if (!s) {
    out.stats.error = s.message();
    out.stats.triangles = 0;
    out.stats.area = 0;
    out.stats.colors.clear();
    out.stats.lineSegments = out.stats.points = 0;
    out.stats.lineLength = 0;
    out.stats.lineColors.clear();
    out.meshes.clear();
    out.instances.clear();
  }
  return Status::ok();
}

Result<Appearance> ElementDecoder::appearance(uint64_t subCategory) {
  if (auto it = _appearances.find(subCategory); it != _appearances.end()) return it->second;
  Appearance a;
  if (_db && _columns.subCategory) {
    MX_ASSIGN_OR_RETURN(sqlite::Statement s, _db->prepare("SELECT " + _columns.subCategory->second + " FROM " +
                                                          _columns.subCategory->first + " WHERE ElementId=?"));
    MX_RETURN_IF_ERROR(s.bind(1, int64_t(subCategory)));
    if (s.step() == sqlite::StepResult::Row) {
      const json j = json::parse(s.getText(0), nullptr, false);
      if (j.is_object()) {
        a.color = jsonGet<uint32_t>(j, "color", 0u);
        a.transparency = jsonGet<double>(j, "transp", 0.0);
        a.material = j.contains("material") ? parseId(j["material"]) : 0;
        a.invisible = jsonGet<bool>(j, "invisible", false);
      }
    }
  }
  return _appearances[subCategory] = a;
}

Result<RenderMaterial> ElementDecoder::material(uint64_t id) {
  if (auto it = _materials.find(id); it != _materials.end()) return it->second;
  RenderMaterial m;
  if (!_db) return _materials[id] = m;
  MX_ASSIGN_OR_RETURN(sqlite::Statement s, _db->prepare("SELECT JsonProperties FROM bis_Element WHERE Id=?"));
  MX_RETURN_IF_ERROR(s.bind(1, int64_t(id)));
  if (s.step() == sqlite::StepResult::Row) {
    const json j = json::parse(s.getText(0), nullptr, false);
    const json assets = j.is_object() && j.contains("materialAssets") ? j["materialAssets"] : json::object();
    const json r = assets.is_object() && assets.contains("renderMaterial") ? assets["renderMaterial"] : json::object();
    const json color = r.is_object() && r.contains("color") ? r["color"] : json();
    if (jsonGet<bool>(r, "HasBaseColor", false) && color.is_array() && color.size() == 3 && color[0].is_number() &&
        color[1].is_number() && color[2].is_number()) {
      m.hasColor = true;
      for (int k = 0; k < 3; ++k) m.rgb[k] = color[k].get<double>();
    }
    if (jsonGet<bool>(r, "HasTransmit", false) && r.contains("transmit") && r["transmit"].is_number()) {
      m.hasTransmit = true;
      m.transmit = r["transmit"].get<double>();
    }
  }
  return _materials[id] = m;
}

/// The current symbology as RGBA8 (alpha = 255 − transparency byte) and iTwin.js' tbgr.
Result<std::pair<uint32_t, uint32_t>> ElementDecoder::resolve(const State& st) {
  MX_ASSIGN_OR_RETURN(Appearance a, appearance(st.subCategory));
  uint32_t tbgr = st.colorOverride.value_or(a.color);
  double t = 1 - (1 - st.elementTransparency) * (1 - a.transparency);
  const uint64_t matId = st.materialOverride.value_or(a.material);
  if (matId) {
    MX_ASSIGN_OR_RETURN(RenderMaterial m, material(matId));
    if (m.hasColor) {
      auto byte = [](double x) { return uint32_t(std::lround(std::clamp(x, 0.0, 1.0) * 255)); };
      tbgr = byte(m.rgb[0]) | byte(m.rgb[1]) << 8 | byte(m.rgb[2]) << 16;
    }
    if (m.hasTransmit) t = m.transmit;
  }
  const uint32_t tByte = uint32_t(std::floor(255 * std::clamp(t, 0.0, 1.0)));
  tbgr = (tbgr & 0xFFFFFFu) | tByte << 24;
  const uint32_t rgba = (tbgr & 0xFFFFFFu) | (255 - tByte) << 24;
  return std::pair{rgba, tbgr};
}

/// Replays recorded events with the element's state. `part` is null for the element's own
/// stream (pieces are transformed to world meshes) and the part being placed otherwise (pieces
/// become instances of its shared meshes, grouped by colour).
Status ElementDecoder::replay(const std::vector<Event>& events, const Mat4d& transform, State& st, ElementOut& out,
                              const std::shared_ptr<const PartGeometry>& part) {
  std::map<uint32_t, std::vector<uint32_t>> groups; // rgba → piece event indices (parts)
  const double scale = part ? areaScale(transform) : 1;
  for (size_t k = 0; k < events.size(); ++k) {
    const Event& ev = events[k];
    if (const auto* sym = std::get_if<SymbologyEvent>(&ev)) {
      if (sym->subCategory != 0) st.subCategory = sym->subCategory;
      st.colorOverride = sym->color;
      st.materialOverride.reset();
      st.elementTransparency = sym->transparency;
    } else if (const auto* mat = std::get_if<MaterialEvent>(&ev)) {
      st.materialOverride = mat->material;
    } else if (const auto* skip = std::get_if<SkipEvent>(&ev)) {
      ++out.stats.skipped[skip->kind];
    } else if (const auto* inst = std::get_if<InstanceEvent>(&ev)) { // walk() records only parts that decoded
      MX_RETURN_IF_ERROR(replay(inst->part->events, core::multiply(transform, inst->transform), st, out, inst->part));
    } else {
      const auto& piece = std::get<PieceEvent>(ev);
      MX_ASSIGN_OR_RETURN(auto colors, resolve(st));
      if (!out.firstSubCategory) out.firstSubCategory = st.subCategory;
      out.stats.triangles += piece.mesh.indices.size() / 3;
      out.stats.lineSegments += piece.mesh.lines.size() / 2;
      out.stats.points += piece.mesh.dots.size();
      auto note = [&](std::vector<uint32_t>& list) {
        if (std::find(list.begin(), list.end(), colors.second) == list.end()) list.push_back(colors.second);
      };
      if (!piece.mesh.indices.empty()) note(out.stats.colors);
      if (!piece.mesh.lines.empty()) note(out.stats.lineColors);
      if (part) {
        out.stats.area += piece.area * scale;
        out.stats.lineLength += piece.length * std::cbrt(std::abs(core::cofactor3(transform).det));
        groups[colors.first].push_back(uint32_t(k));
        continue;
      }
      replayPiece(piece, colors.first, transform, out);
    }
  }
  for (auto& [rgba, pieces] : groups) out.instances.push_back({part, std::move(pieces), transform, rgba});
  return Status::ok();
}

/// An element's own piece: into its world mesh of that colour, measured in world coordinates.
void ElementDecoder::replayPiece(const PieceEvent& piece, uint32_t rgba, const Mat4d& transform, ElementOut& out) {
  ElementOut::WorldMesh& w = out.meshes[rgba];
  const uint32_t base = uint32_t(w.points.size());
  const size_t ibase = w.indices.size();
  w.points.resize(base + piece.mesh.points.size());
  w.indices.resize(ibase + piece.mesh.indices.size());
  for (size_t k = 0; k < piece.mesh.points.size(); ++k)
    w.points[base + k] = core::transformPoint(transform, piece.mesh.points[k]);
  for (size_t k = 0; k < piece.mesh.indices.size(); ++k) w.indices[ibase + k] = base + piece.mesh.indices[k];
  for (uint32_t i : piece.mesh.lines) w.lines.push_back(base + i);
  for (uint32_t i : piece.mesh.dots) w.dots.push_back(base + i);
  for (size_t k = 0; k + 1 < piece.mesh.lines.size(); k += 2)
    out.stats.lineLength +=
        core::length(w.points[base + piece.mesh.lines[k]] - w.points[base + piece.mesh.lines[k + 1]]);
  for (size_t t = 0; t < piece.mesh.indices.size(); t += 3)
    out.stats.area += triangleArea(w.points[base + piece.mesh.indices[t]], w.points[base + piece.mesh.indices[t + 1]],
                                   w.points[base + piece.mesh.indices[t + 2]]);
}

} // namespace mx::io
