#include "ElementDecoder.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace mx::io {

using core::Mat4d;
using core::Result;
using core::Status;
using core::Vec3d;
using namespace geometry;

namespace {

/// Records a tessellated primitive (nothing when it has no triangles, segments or points). Only a part's pieces
/// (depth > 0) are measured here; replay measures the element's own in world coordinates.
Status piece(LocalMesh&& local, std::vector<Event>& events, int depth) {
  if (local.empty()) return Status::ok();
  for (const Vec3d& p : local.points)
    if (!std::isfinite(p.x) || !std::isfinite(p.y) || !std::isfinite(p.z))
      return imodelFail(ImodelError::Corrupt, "geometry with NaN or infinite coordinates");
  PieceEvent e;
  for (size_t t = 0; depth > 0 && t < local.indices.size(); t += 3)
    e.area += triangleArea(local.points[local.indices[t]], local.points[local.indices[t + 1]],
                           local.points[local.indices[t + 2]]);
  for (size_t k = 0; depth > 0 && k + 1 < local.lines.size(); k += 2)
    e.length += core::length(local.points[local.lines[k]] - local.points[local.lines[k + 1]]);
  e.mesh = std::move(local);
  events.emplace_back(std::move(e));
  return Status::ok();
}

template <typename T> Result<const T*> verified(std::span<const uint8_t> data, const char* what) {
  flatbuffers::Verifier verifier(data.data(), data.size());
  if (data.size() < 4 || !verifier.VerifyBuffer<T>(nullptr))
    return imodelFail(ImodelError::Corrupt, std::string(what) + " flatbuffer does not verify");
  return flatbuffers::GetRoot<T>(data.data());
}

/// The Bentley-geometry union of an op: the "bg0001fb" signature, then a verified BGFB buffer.
Result<const fb::VariantGeometry*> geometryUnion(const GeometryOp& op, const std::string& what) {
  if (op.data.size() < 8 || std::memcmp(op.data.data(), "bg0001fb", 8) != 0)
    return imodelFail(ImodelError::Corrupt, what + " op without the bg0001fb signature");
  return verified<fb::VariantGeometry>(op.data.subspan(8), what.c_str());
}

std::string skippedName(uint8_t type) {
  switch (type) {
  case 14:
    return "BsplineSurface";
  default:
    return "geometry type " + std::to_string(type);
  }
}

} // namespace

Result<std::vector<uint8_t>> ElementDecoder::partStream(uint64_t partId) {
  if (!_db || !_columns.part) return imodelFail(ImodelError::Corrupt, "no GeometryPart.GeometryStream column");
  MX_ASSIGN_OR_RETURN(sqlite::Statement s, _db->prepare("SELECT " + _columns.part->second + " FROM " +
                                                        _columns.part->first + " WHERE ElementId=?"));
  MX_RETURN_IF_ERROR(s.bind(1, int64_t(partId)));
  if (s.step() != sqlite::StepResult::Row)
    return imodelFail(ImodelError::Corrupt, "geometry part " + formatId64(partId) + " not found");
  const auto b = s.getBlob(0);
  return std::vector<uint8_t>(b.begin(), b.end());
}

/// A part, walked once per builder (errors are cached too: a damaged part fails every element
/// that instances it).
Result<std::shared_ptr<const PartGeometry>> ElementDecoder::part(uint64_t partId, int depth) {
  if (auto it = _parts.find(partId); it != _parts.end()) return it->second;
  auto g = std::make_shared<PartGeometry>();
  g->id = partId;
  auto stream = partStream(partId);
  if (!stream) {
    if (stream.status().code() == core::ErrorCode::IoError) return stream.status(); // the file, not the part
    g->error = stream.status();
  } else {
    // A SubGraphicRange before the instance op describes the instance, not the part's first op.
    const auto range = std::exchange(_subGraphicRange, std::nullopt);
    const bool keep = std::exchange(_keepRange, false);
    g->error = walk(*stream, g->events, depth);
    _subGraphicRange = range;
    _keepRange = keep;
  }
  _parts.emplace(partId, g);
  return std::shared_ptr<const PartGeometry>(g);
}

/// Decodes one stream (the element's at depth 0, a part's deeper) into events.
Status ElementDecoder::walk(std::span<const uint8_t> blob, std::vector<Event>& events, int depth) {
  if (depth > 4) return imodelFail(ImodelError::Corrupt, "geometry parts nest deeper than 4");
  MX_ASSIGN_OR_RETURN(std::vector<uint8_t> inflated, inflateGeometryBlob(blob));
  MX_ASSIGN_OR_RETURN(std::vector<GeometryOp> ops, parseGeometryStream(inflated));
  // Flatbuffer tables are read in place: their doubles must sit at 8-byte aligned addresses.
  // iTwin.js pads every op to 8 bytes; a stream that does not is copied so that they do.
  std::vector<uint64_t> aligned;
  if (std::any_of(ops.begin(), ops.end(),
                  [](const GeometryOp& op) { return reinterpret_cast<uintptr_t>(op.data.data()) % 8; })) {
    size_t words = 0;
    for (const GeometryOp& op : ops) words += (op.data.size() + 7) / 8;
    aligned.resize(words);
    size_t at = 0;
    for (GeometryOp& op : ops) {
      auto* dst = reinterpret_cast<uint8_t*>(aligned.data() + at);
      if (!op.data.empty()) std::memcpy(dst, op.data.data(), op.data.size());
      op.data = std::span<const uint8_t>(dst, op.data.size());
      at += (op.data.size() + 7) / 8;
    }
  }
  if (depth == 0)
    for (const GeometryOp& op : ops) ++_stats->ops[std::string(opCodeName(op.opCode))];
  for (const GeometryOp& op : ops) {
    struct ClearRange {
      std::optional<core::Aabb>& r;
      bool& keep;
      ~ClearRange() {
        if (!keep) r.reset();
        keep = false;
      }
    } clearRange{_subGraphicRange, _keepRange}; // a SubGraphicRange applies to the next op only
    MX_RETURN_IF_ERROR(walkOp(op, events, depth));
  }
  return Status::ok();
}

Status ElementDecoder::walkOp(const GeometryOp& op, std::vector<Event>& events, int depth) {
  using Op = GeometryOpCode;
  switch (Op(op.opCode)) {
  case Op::Header:
    return Status::ok();
  case Op::SubGraphicRange:
    return onSubGraphicRange(op);
  case Op::BasicSymbology:
    return onSymbology(op, events);
  case Op::Material:
    return onMaterial(op, events);
  case Op::PartInstance:
    return onPartInstance(op, events, depth);
  case Op::Polyface:
  case Op::SolidPrimitive:
    return onGeometry(op, events, depth);
  case Op::PointPrimitive:
    return onPoints(op, events, depth);
  case Op::ArcPrimitive:
    return onArc(op, events, depth);
  case Op::CurveVector:
    return onCurveVector(op, events, depth);
  case Op::PointPrimitive2d:
    events.emplace_back(SkipEvent{"2D geometry (not meshed)"});
    return Status::ok();
  case Op::CurvePrimitive:
    return onCurvePrimitive(op, events, depth);
  case Op::BsplineSurface:
    return onBsplineSurface(op, events, depth);
  case Op::TextString:
    return unsupported("TextString", events, depth);
  case Op::ParasolidBRep:
    return unsupported("ParasolidBRep", events, depth);
  case Op::Image:
    return unsupported("Image", events, depth);
  default:
    return Status::ok(); // fill, pattern, line style, deprecated and unknown ops: no geometry
  }
}

/// The local range of the next geometry op (used by boxForUnsupported).
Status ElementDecoder::onSubGraphicRange(const GeometryOp& op) {
  MX_ASSIGN_OR_RETURN(const fb::PointPrimitive* r, verified<fb::PointPrimitive>(op.data, "SubGraphicRange"));
  if (r->coords() && r->coords()->size() >= 2) {
    core::Aabb b;
    for (uint32_t i = 0; i < 2; ++i) b.extend(r->coords()->Get(i)->x, r->coords()->Get(i)->y, r->coords()->Get(i)->z);
    _subGraphicRange = b;
  }
  _keepRange = true;
  return Status::ok();
}

Status ElementDecoder::onSymbology(const GeometryOp& op, std::vector<Event>& events) {
  MX_ASSIGN_OR_RETURN(const fb::BasicSymbology* b, verified<fb::BasicSymbology>(op.data, "BasicSymbology"));
  SymbologyEvent e;
  e.subCategory = uint64_t(b->subCategoryId());
  if (b->useColor()) e.color = b->color();
  e.transparency = b->transparency();
  events.emplace_back(e);
  return Status::ok();
}

Status ElementDecoder::onMaterial(const GeometryOp& op, std::vector<Event>& events) {
  MX_ASSIGN_OR_RETURN(const fb::MaterialOp* m, verified<fb::MaterialOp>(op.data, "Material"));
  if (m->useMaterial()) events.emplace_back(MaterialEvent{uint64_t(m->materialId())});
  return Status::ok();
}

Status ElementDecoder::onPartInstance(const GeometryOp& op, std::vector<Event>& events, int depth) {
  MX_ASSIGN_OR_RETURN(const fb::GeometryPart* p, verified<fb::GeometryPart>(op.data, "GeometryPartInstance"));
  const fb::DPoint3d* o = p->origin();
  Mat4d instance = placementTransform(o ? toVec3(*o) : Vec3d{}, p->yaw(), p->pitch(), p->roll());
  const double scale = p->scale();
  if (!(scale > 0) || !std::isfinite(scale))
    return imodelFail(ImodelError::Corrupt, "part instance scale is not positive");
  for (int k : {0, 1, 2, 4, 5, 6, 8, 9, 10}) instance[size_t(k)] *= scale;
  MX_ASSIGN_OR_RETURN(std::shared_ptr<const PartGeometry> g, part(uint64_t(p->partId()), depth + 1));
  if (!g->error) return g->error;
  events.emplace_back(InstanceEvent{std::move(g), instance});
  return Status::ok();
}

/// Polyfaces and solid primitives (a BGFB geometry union).
Status ElementDecoder::onGeometry(const GeometryOp& op, std::vector<Event>& events, int depth) {
  MX_ASSIGN_OR_RETURN(const fb::VariantGeometry* g, geometryUnion(op, "geometry"));
  if (g->as<fb::Polyface>() == nullptr) return imodelFail(ImodelError::Corrupt, "geometry union without its member");
  // Solid details are structs: a table without one is damaged.
  const bool missingDetail = (g->type() == fb::kBox && !g->as<fb::DetailTable<fb::BoxDetail>>()->detail()) ||
                             (g->type() == fb::kSphere && !g->as<fb::DetailTable<fb::SphereDetail>>()->detail()) ||
                             (g->type() == fb::kCone && !g->as<fb::DetailTable<fb::ConeDetail>>()->detail()) ||
                             (g->type() == fb::kTorusPipe && !g->as<fb::DetailTable<fb::TorusDetail>>()->detail());
  if (missingDetail) return imodelFail(ImodelError::Corrupt, "solid primitive without its detail");
  if (!finiteDetail(*g))
    return imodelFail(ImodelError::Corrupt, "solid primitive with NaN, infinite or negative sizes");
  LocalMesh local;
  switch (g->type()) {
  case fb::kPolyface:
    MX_RETURN_IF_ERROR(tessellatePolyface(*g->as<fb::Polyface>(), local));
    break;
  case fb::kBox:
    tessellateBox(*g->as<fb::DetailTable<fb::BoxDetail>>()->detail(), local);
    break;
  case fb::kSphere:
    tessellateSphere(*g->as<fb::DetailTable<fb::SphereDetail>>()->detail(), _o, local);
    break;
  case fb::kCone:
    tessellateCone(*g->as<fb::DetailTable<fb::ConeDetail>>()->detail(), _o, local);
    break;
  case fb::kTorusPipe:
    tessellateTorus(*g->as<fb::DetailTable<fb::TorusDetail>>()->detail(), _o, local);
    break;
  case fb::kExtrusion:
    MX_RETURN_IF_ERROR(meshExtrusion(*g->as<fb::DgnExtrusion>(), _o, local));
    break;
  case fb::kRotationalSweep:
    MX_RETURN_IF_ERROR(meshRotationalSweep(*g->as<fb::DgnRotationalSweep>(), _o, local));
    break;
  case fb::kRuledSweep:
    MX_RETURN_IF_ERROR(meshRuledSweep(*g->as<fb::DgnRuledSweep>(), _o, local));
    break;
  default:
    MX_RETURN_IF_ERROR(unsupported(skippedName(g->type()), events, depth));
    break;
  }
  return piece(std::move(local), events, depth);
}

/// A closed point string is a planar shape; an open one a line string; boundary 0 points.
Status ElementDecoder::onPoints(const GeometryOp& op, std::vector<Event>& events, int depth) {
  MX_ASSIGN_OR_RETURN(const fb::PointPrimitive* p, verified<fb::PointPrimitive>(op.data, "PointPrimitive"));
  if (p->boundary() != 2) {
    std::vector<Vec3d> pts;
    if (const auto* c = p->coords()) {
      MX_RETURN_IF_ERROR(withinBudget(c->size(), "point string"));
      for (uint32_t i = 0; i < c->size(); ++i) pts.push_back(toVec3(*c->Get(i)));
    }
    LocalMesh local;
    if (p->boundary() == 0)
      for (const Vec3d& q : pts) local.dots.push_back(local.add(q));
    else
      addPolyline(local, pts);
    return piece(std::move(local), events, depth);
  }
  Region r;
  if (const auto* c = p->coords())
    for (uint32_t i = 0; i < c->size(); ++i) appendPoints(r.outer, {toVec3(*c->Get(i))});
  if (r.outer.size() > 1 && core::length(r.outer.front() - r.outer.back()) < 1e-9) r.outer.pop_back();
  LocalMesh local;
  if (r.outer.size() >= 3) meshRegion(r, local);
  return piece(std::move(local), events, depth);
}

/// A closed arc is a planar shape (a disc when the sweep is full); an open one a wire.
Status ElementDecoder::onArc(const GeometryOp& op, std::vector<Event>& events, int depth) {
  MX_ASSIGN_OR_RETURN(const fb::ArcPrimitive* a, verified<fb::ArcPrimitive>(op.data, "ArcPrimitive"));
  if (!a->center() || !a->vector0() || !a->vector90()) {
    events.emplace_back(SkipEvent{"arc without its ellipse"});
    return Status::ok();
  }
  if (a->boundary() != 2) {
    LocalMesh local;
    addPolyline(local, strokeArcWire(toVec3(*a->center()), toVec3(*a->vector0()), toVec3(*a->vector90()), a->start(),
                                     a->sweep(), _o));
    return piece(std::move(local), events, depth);
  }
  Region r;
  r.outer = strokeArc(toVec3(*a->center()), toVec3(*a->vector0()), toVec3(*a->vector90()), a->start(), a->sweep(), _o);
  if (r.outer.size() > 1 && core::length(r.outer.front() - r.outer.back()) < 1e-9) r.outer.pop_back();
  if (fullSweep(a->sweep())) r.discCenter = toVec3(*a->center());
  LocalMesh local;
  if (r.outer.size() >= 3) meshRegion(r, local);
  return piece(std::move(local), events, depth);
}

Status ElementDecoder::onCurveVector(const GeometryOp& op, std::vector<Event>& events, int depth) {
  MX_ASSIGN_OR_RETURN(const fb::VariantGeometry* g, geometryUnion(op, "CurveVector"));
  const fb::CurveVector* cv = g->type() == fb::kCurveVector ? g->as<fb::CurveVector>() : nullptr;
  if (!cv) {
    events.emplace_back(SkipEvent{"CurveVector op without a curve vector"});
    return Status::ok();
  }
  if (cv->boundaryType() < 2) { // a path or a bag of curves: linework
    LocalMesh local;
    std::vector<std::string> skipped;
    MX_RETURN_IF_ERROR(strokeWire(*g, _o, local, skipped));
    for (std::string& kind : skipped) events.emplace_back(SkipEvent{std::move(kind)});
    return piece(std::move(local), events, depth);
  }
  std::vector<Region> regions;
  MX_RETURN_IF_ERROR(regionsOf(*cv, _o, regions));
  LocalMesh local;
  for (const Region& r : regions) meshRegion(r, local);
  return piece(std::move(local), events, depth);
}

/// A single curve (a B-spline curve, a segment, an arc…): linework.
Status ElementDecoder::onCurvePrimitive(const GeometryOp& op, std::vector<Event>& events, int depth) {
  MX_ASSIGN_OR_RETURN(const fb::VariantGeometry* g, geometryUnion(op, "CurvePrimitive"));
  LocalMesh local;
  std::vector<std::string> skipped;
  MX_RETURN_IF_ERROR(strokeWire(*g, _o, local, skipped));
  for (std::string& kind : skipped) events.emplace_back(SkipEvent{std::move(kind)});
  return piece(std::move(local), events, depth);
}

Status ElementDecoder::onBsplineSurface(const GeometryOp& op, std::vector<Event>& events, int depth) {
  MX_ASSIGN_OR_RETURN(const fb::VariantGeometry* g, geometryUnion(op, "BsplineSurface"));
  const fb::BsplineSurface* s = g->type() == fb::kBsplineSurface ? g->as<fb::BsplineSurface>() : nullptr;
  if (!s) return imodelFail(ImodelError::Corrupt, "BsplineSurface op without a B-spline surface");
  if (s->trimmed()) return unsupported("BsplineSurface (trimmed)", events, depth);
  LocalMesh local;
  MX_RETURN_IF_ERROR(meshBsplineSurface(*s, _o, local));
  return piece(std::move(local), events, depth);
}

/// Counts an op that is not meshed; with boxForUnsupported, draws its range (or the element's
/// box) instead.
Status ElementDecoder::unsupported(const std::string& kind, std::vector<Event>& events, int depth) {
  events.emplace_back(SkipEvent{kind});
  if (!_o.boxForUnsupported) return Status::ok();
  // Inside a part the element's box is in another frame: only a SubGraphicRange can stand in.
  const core::Aabb b = _subGraphicRange ? *_subGraphicRange : (depth == 0 ? _elementBox : core::Aabb{});
  if (b.empty()) return Status::ok();
  events.emplace_back(SkipEvent{"substituted by a box"});
  fb::BoxDetail d{};
  d.baseOrigin = {b.min[0], b.min[1], b.min[2]};
  d.topOrigin = {b.min[0], b.min[1], std::max(b.max[2], b.min[2] + 1e-3)};
  d.vectorX = {1, 0, 0};
  d.vectorY = {0, 1, 0};
  d.baseX = d.topX = std::max(b.max[0] - b.min[0], 1e-3);
  d.baseY = d.topY = std::max(b.max[1] - b.min[1], 1e-3);
  d.capped = 1;
  LocalMesh local;
  tessellateBox(d, local);
  return piece(std::move(local), events, depth);
}

} // namespace mx::io
