#include <mx/io/ImdlWriter.h>

#include "ImdlLayout.h"
#include "TileTreeJson.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <numeric>
#include <unordered_map>

namespace mx::io {

using core::ErrorCode;
using core::Status;
using nlohmann::json;

std::string canonicalId64(uint64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(id));
  return id == 0 ? "0" : buf;
}

namespace {

void putU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(uint8_t(v >> (8 * i)));
}
void putF64(std::vector<uint8_t>& out, double v) {
  uint8_t b[8];
  std::memcpy(b, &v, 8);
  out.insert(out.end(), b, b + 8);
}
void pad4(std::vector<uint8_t>& out, uint8_t fill = 0) {
  while (out.size() % 4) out.push_back(fill);
}

/// Vertex positions and normals of a content, in the tile frame (z up).
struct Decoded {
  std::vector<double> pos; ///< 3 per vertex
  std::vector<float> nrm;  ///< 3 per vertex, or empty
};

/// Vertex v of a content in the tile frame (z up): the glTF frame (y up) turned back.
std::array<double, 3> tilePosition(const TileContent& c, size_t v) {
  double g[3];
  for (size_t a = 0; a < 3; ++a)
    g[a] =
        c.quantized ? c.translation[a] + double(c.positionsQ[4 * v + a]) * c.scale[a] : double(c.positions[3 * v + a]);
  return {g[0], -g[2], g[1]};
}

Decoded decode(const TileContent& c) {
  Decoded d;
  const size_t n = c.vertexCount();
  d.pos.resize(3 * n);
  for (size_t v = 0; v < n; ++v) {
    const auto p = tilePosition(c, v);
    std::copy(p.begin(), p.end(), d.pos.begin() + std::ptrdiff_t(3 * v));
  }
  const size_t surface = c.surfaceVertices(); // linework's vertices have no normals
  if (c.normalsQ.size() >= 4 * surface && surface > 0) {
    d.nrm.resize(3 * n);
    for (size_t v = 0; v < surface; ++v) {
      const float gx = float(c.normalsQ[4 * v]) / 127.f, gy = float(c.normalsQ[4 * v + 1]) / 127.f,
                  gz = float(c.normalsQ[4 * v + 2]) / 127.f;
      d.nrm[3 * v] = gx;
      d.nrm[3 * v + 1] = -gz;
      d.nrm[3 * v + 2] = gy;
    }
  }
  return d;
}

uint32_t tbgrOf(uint32_t rgba) {
  const uint32_t a = rgba >> 24;
  return (rgba & 0x00FFFFFFu) | ((255u - a) << 24);
}

/// iMdl MeshPrimitiveType.
enum class Kind : int { Mesh = 0, Polyline = 1, Point = 2 };

struct Primitive {
  Kind kind = Kind::Mesh;
  bool translucent = false;
  std::vector<uint32_t> vertices;               ///< Content vertex ids.
  std::unordered_map<uint32_t, uint32_t> local; ///< Content vertex → local index.
  std::vector<uint32_t> indices;                ///< Local: 3 per triangle, 2 per segment, 1 per point.
  std::vector<uint32_t> colors;                 ///< Distinct tbgr, in first-use order.
  std::unordered_map<uint32_t, uint32_t> colorIndex;
};

/// The multi-model feature table: each model's features contiguous (stable within a model).
struct FeatureTable {
  std::vector<uint8_t> bytes;
  std::vector<uint32_t> newIndex; ///< Content feature → table row.
  uint32_t numElements = 0;       ///< Distinct element ids.
};

FeatureTable buildFeatureTable(const TileContent& c) {
  FeatureTable ft;
  std::vector<uint32_t> order(c.features.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(),
                   [&](uint32_t a, uint32_t b) { return c.features[a].model < c.features[b].model; });
  ft.newIndex.resize(c.features.size());
  for (uint32_t i = 0; i < order.size(); ++i) ft.newIndex[order[i]] = i;
  std::vector<uint64_t> subCategories;
  std::unordered_map<uint64_t, uint32_t> subIndex;
  std::vector<uint8_t>& table = ft.bytes;
  putU32(table, 0); // length, patched below
  putU32(table, 0); // numSubCategories, patched below
  putU32(table, uint32_t(c.features.size()));
  std::vector<uint64_t> elements;
  for (uint32_t i : order) {
    const FeatureRow& f = c.features[i];
    auto [it, added] = subIndex.try_emplace(f.subcategory, uint32_t(subCategories.size()));
    if (added) subCategories.push_back(f.subcategory);
    putU32(table, uint32_t(f.element));
    putU32(table, uint32_t(f.element >> 32));
    putU32(table, (0u << 24) | it->second); // geometry class Primary
    elements.push_back(f.element);
  }
  for (uint64_t sc : subCategories) {
    putU32(table, uint32_t(sc));
    putU32(table, uint32_t(sc >> 32));
  }
  for (uint32_t i = 0; i < order.size(); ++i) {
    const uint64_t model = c.features[order[i]].model;
    if (i + 1 == order.size() || c.features[order[i + 1]].model != model) {
      putU32(table, i);
      putU32(table, uint32_t(model));
      putU32(table, uint32_t(model >> 32));
    }
  }
  const uint32_t tableLength = uint32_t(table.size());
  std::memcpy(table.data(), &tableLength, 4);
  const uint32_t numSub = uint32_t(subCategories.size());
  std::memcpy(table.data() + 4, &numSub, 4);
  std::sort(elements.begin(), elements.end());
  ft.numElements = uint32_t(std::unique(elements.begin(), elements.end()) - elements.begin());
  return ft;
}

/// One kind's primitives (`indices`, `per` an item: triangles, segments or points): opaque first,
/// then translucent; each fits the lookup texture and 2^16 colours.
void splitPrimitives(const TileContent& c, const std::vector<uint32_t>& indices, size_t per, Kind kind,
                     uint32_t rgbaPerVertex, std::vector<Primitive>& prims) {
  const size_t nt = indices.size() / per;
  const uint64_t maxRgba = uint64_t(kImdlMaxTextureDim) * kImdlMaxTextureDim;
  for (int pass = 0; pass < 2; ++pass) {
    Primitive cur;
    cur.kind = kind;
    cur.translucent = pass == 1;
    auto flush = [&] {
      if (!cur.indices.empty()) prims.push_back(std::move(cur));
      cur = Primitive();
      cur.kind = kind;
      cur.translucent = pass == 1;
    };
    for (size_t t = 0; t < nt; ++t) {
      const uint32_t* tri = &indices[per * t];
      bool translucent = false;
      for (size_t k = 0; k < per; ++k) translucent = translucent || (c.colors[tri[k]] >> 24) < 255;
      if (translucent != (pass == 1)) continue;
      if ((uint64_t(cur.vertices.size()) + per) * rgbaPerVertex + cur.colors.size() + per > maxRgba ||
          cur.colors.size() + per > 65536)
        flush();
      for (size_t k = 0; k < per; ++k) {
        const uint32_t v = tri[k];
        auto [it, added] = cur.local.try_emplace(v, uint32_t(cur.vertices.size()));
        if (added) {
          cur.vertices.push_back(v);
          const uint32_t col = tbgrOf(c.colors[v]);
          cur.colorIndex.try_emplace(col, uint32_t(cur.colors.size()));
          if (cur.colorIndex.size() > cur.colors.size()) cur.colors.push_back(col);
        }
        cur.indices.push_back(it->second);
      }
    }
    flush();
  }
}

/// What the writer shares across the primitives of one tile.
struct TileData {
  const TileContent& c;
  const Decoded& d;
  const std::vector<uint32_t>& newIndex;
  uint32_t rgbaPerVertex; ///< Of the mesh primitives (polylines: 4, points: 3).
  bool lit;               ///< The mesh primitives' normals.
};

/// Vertex table width of a primitive of `kind`: a polyline vertex carries its cumulative distance
/// in a 4th RGBA (0 here: lines are drawn solid).
uint32_t rgbaPerVertexOf(const TileData& t, Kind kind) {
  return kind == Kind::Mesh ? t.rgbaPerVertex : kind == Kind::Polyline ? 4 : 3;
}

void put24(std::vector<uint8_t>& bin, uint32_t i) {
  bin.push_back(uint8_t(i));
  bin.push_back(uint8_t(i >> 8));
  bin.push_back(uint8_t(i >> 16));
}

/// A polyline's segments tessellated as iTwin.js' PolylineTesselator does for a 2-point line
/// string drawn 1 pixel wide (no joint triangles): 6 entries a segment of the vertex index, the
/// index of the vertex before it and, with the 8-bit param, the one after it. Params (iTwin.js
/// PolylineParam): kSquare 3 at line ends, +24 negate the perpendicular, +48 negate along.
void putPolyline(const Primitive& pr, std::vector<uint8_t>& indices, std::vector<uint8_t>& prev,
                 std::vector<uint8_t>& nextAndParam) {
  for (size_t s = 0; s + 1 < pr.indices.size(); s += 2) {
    const uint32_t a = pr.indices[s], b = pr.indices[s + 1];
    struct Entry {
      uint32_t vertex, prev, next;
      uint8_t param;
    };
    const Entry entries[6] = {{a, a, b, 27}, {b, b, a, 51}, {a, a, b, 3}, {a, a, b, 3}, {b, b, a, 51}, {b, b, a, 75}};
    for (const Entry& e : entries) {
      put24(indices, e.vertex);
      put24(prev, e.prev);
      put24(nextAndParam, e.next);
      nextAndParam.push_back(e.param);
    }
  }
}

/// One vertex of the lookup texture: quantized position, colour index, feature index, normal.
void putVertex(const TileData& t, uint32_t v, uint32_t colorIndex, const double lo[3], const double scale[3],
               uint8_t* o) {
  for (int a = 0; a < 3; ++a) {
    const double q = std::floor(std::clamp(0.5 + (t.d.pos[3 * v + a] - lo[a]) * scale[a], 0.0, 65535.0));
    const auto u = uint16_t(q);
    o[2 * a] = uint8_t(u);
    o[2 * a + 1] = uint8_t(u >> 8);
  }
  o[6] = uint8_t(colorIndex);
  o[7] = uint8_t(colorIndex >> 8);
  const uint32_t fi = t.newIndex[t.c.featureIds[v]];
  o[8] = uint8_t(fi);
  o[9] = uint8_t(fi >> 8);
  o[10] = uint8_t(fi >> 16);
  o[11] = 0;
  if (t.lit) {
    const uint16_t oct = imdl::octEncode(t.d.nrm[3 * v], t.d.nrm[3 * v + 1], t.d.nrm[3 * v + 2]);
    o[12] = uint8_t(oct);
    o[13] = uint8_t(oct >> 8);
  }
}

/// The colour table after the vertices (premultiplied RGBA); whether any colour is translucent.
bool putColors(const Primitive& pr, uint32_t numColors, uint8_t* colorOut) {
  bool anyTranslucentColor = false;
  for (size_t k = 0; k < numColors; ++k) {
    const uint32_t col = pr.colors[k];
    const uint32_t alpha = 255 - (col >> 24);
    if (alpha < 255) anyTranslucentColor = true;
    if (alpha == 0) continue;
    for (int ch = 0; ch < 3; ++ch)
      colorOut[4 * k + size_t(ch)] = uint8_t(std::floor(double((col >> (8 * ch)) & 255) * alpha / 255.0 + 0.5));
    colorOut[4 * k + 3] = uint8_t(alpha);
  }
  return anyTranslucentColor;
}

/// Primitive `p`: its vertex table and indices into `bin`, its views and material, and its JSON.
json writePrimitive(const TileData& t, const Primitive& pr, size_t p, std::vector<uint8_t>& bin, json& views,
                    json& materials, double rangeLo[3], double rangeHi[3]) {
  double lo[3] = {1e300, 1e300, 1e300}, hi[3] = {-1e300, -1e300, -1e300};
  for (uint32_t v : pr.vertices)
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], t.d.pos[3 * v + a]);
      hi[a] = std::max(hi[a], t.d.pos[3 * v + a]);
    }
  double scale[3];
  for (int a = 0; a < 3; ++a) {
    scale[a] = hi[a] > lo[a] ? 65535.0 / (hi[a] - lo[a]) : 0.0;
    rangeLo[a] = std::min(rangeLo[a], lo[a]);
    rangeHi[a] = std::max(rangeHi[a], hi[a]);
  }
  const bool uniform = pr.colors.size() == 1;
  const uint32_t numColors = uniform ? 0 : uint32_t(pr.colors.size());
  const uint32_t rgbaPerVertex = rgbaPerVertexOf(t, pr.kind);
  const uint64_t nRgba = uint64_t(pr.vertices.size()) * rgbaPerVertex + numColors;
  uint32_t width, height;
  imdl::tableDimensions(nRgba, rgbaPerVertex, kImdlMaxTextureDim, width, height);
  const size_t tableBytes = size_t(width) * height * 4;
  const size_t vertexOffset = bin.size();
  bin.resize(vertexOffset + tableBytes, 0);
  uint8_t* out = bin.data() + vertexOffset;
  const TileData vt{t.c, t.d, t.newIndex, rgbaPerVertex, t.lit && pr.kind == Kind::Mesh}; // normals: meshes only
  for (size_t lv = 0; lv < pr.vertices.size(); ++lv) {
    const uint32_t v = pr.vertices[lv];
    putVertex(vt, v, uniform ? 0 : pr.colorIndex.at(tbgrOf(t.c.colors[v])), lo, scale, out + lv * rgbaPerVertex * 4);
  }
  const bool anyTranslucentColor = putColors(pr, numColors, out + pr.vertices.size() * rgbaPerVertex * 4);
  pad4(bin);
  // Index views: a mesh's or point string's 24-bit indices; a polyline's three tessellated arrays.
  const std::string sp = std::to_string(p), vId = "bvVertex" + sp, iId = "bvIndices" + sp, mId = "M" + sp;
  views[vId] = {{"byteOffset", vertexOffset}, {"byteLength", tableBytes}};
  auto addView = [&](const std::string& id, const std::vector<uint8_t>& bytes) {
    views[id] = {{"byteOffset", bin.size()}, {"byteLength", bytes.size()}};
    bin.insert(bin.end(), bytes.begin(), bytes.end());
    pad4(bin);
  };
  std::vector<uint8_t> indexBytes;
  if (pr.kind == Kind::Polyline) {
    std::vector<uint8_t> prev, next;
    putPolyline(pr, indexBytes, prev, next);
    addView(iId, indexBytes);
    addView("bvPrevIndices" + sp, prev);
    addView("bvNextIndicesAndParams" + sp, next);
  } else {
    for (uint32_t i : pr.indices) put24(indexBytes, i);
    addView(iId, indexBytes);
  }
  const uint32_t fill = pr.colors.front();
  materials[mId] = {{"type", pr.kind == Kind::Mesh ? 0 : 1},       {"fillColor", fill}, {"lineColor", fill},
                    {"lineWidth", pr.kind == Kind::Point ? 3 : 1}, {"linePixels", 0},   {"fillFlags", 0},
                    {"ignoreLighting", pr.kind != Kind::Mesh}};
  json vertices = {{"bufferView", vId},
                   {"count", pr.vertices.size()},
                   {"numRgbaPerVertex", rgbaPerVertex},
                   {"width", width},
                   {"height", height},
                   {"hasTranslucency", uniform ? (fill >> 24) != 0 : anyTranslucentColor},
                   {"featureIndexType", 2},
                   {"params", {{"decodedMin", {lo[0], lo[1], lo[2]}}, {"decodedMax", {hi[0], hi[1], hi[2]}}}}};
  if (uniform)
    vertices["uniformColor"] = fill;
  else
    vertices["numColors"] = numColors;
  json primitive = {{"type", int(pr.kind)}, {"material", mId}, {"isPlanar", false}, {"vertices", std::move(vertices)}};
  if (pr.kind == Kind::Mesh) {
    primitive["surface"] = {{"type", t.lit ? 1 : 0}, {"indices", iId}};
  } else {
    primitive["indices"] = iId;
    if (pr.kind == Kind::Polyline) {
      primitive["prevIndices"] = "bvPrevIndices" + sp;
      primitive["nextIndicesAndParams"] = "bvNextIndicesAndParams" + sp;
    }
  }
  return primitive;
}

/// The iMdl container: header (ranges, tolerance, element count), feature table, then the glTF
/// v1-style chunk of JSON and binary.
core::Result<std::vector<uint8_t>> imdlContainer(const FeatureTable& ft, const std::string& text,
                                                 const std::vector<uint8_t>& bin, const double rangeLo[3],
                                                 const double rangeHi[3], double tolerance) {
  std::vector<uint8_t> out;
  const size_t total = imdl::kHeaderLength + ft.bytes.size() + imdl::kGltfHeaderLength + text.size() + bin.size();
  if (total > 0xFFFFFFFFull) return Status{ErrorCode::UnsupportedInput, "iMdl tile larger than 4 GiB"};
  out.reserve(total);
  putU32(out, imdl::kMagic);
  putU32(out, (kImdlMajor << 16) | kImdlMinor);
  putU32(out, imdl::kHeaderLength);
  putU32(out, imdl::kFlagMultiModelFeatureTable);
  for (int a = 0; a < 3; ++a) putF64(out, rangeLo[a]);
  for (int a = 0; a < 3; ++a) putF64(out, rangeHi[a]);
  putF64(out, tolerance);
  putU32(out, ft.numElements);
  putU32(out, 0);
  putU32(out, uint32_t(total));
  putU32(out, 0);
  out.insert(out.end(), ft.bytes.begin(), ft.bytes.end());
  putU32(out, imdl::kGltfMagic);
  putU32(out, 1);
  putU32(out, uint32_t(imdl::kGltfHeaderLength + text.size() + bin.size()));
  putU32(out, uint32_t(text.size()));
  putU32(out, 0);
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), bin.begin(), bin.end());
  return out;
}

} // namespace

core::Result<std::vector<uint8_t>> encodeImdl(const TileContent& c, double tolerance) {
  if (c.features.empty() || (c.indices.empty() && c.lines.empty() && c.points.empty()))
    return Status{ErrorCode::InvalidArgument, "iMdl tile without features, triangles, lines or points"};
  if (c.features.size() >= (1u << 24))
    return Status{ErrorCode::UnsupportedInput, "more than 2^24 features in one tile"};
  const Decoded d = decode(c);
  const bool lit = !d.nrm.empty();
  const uint32_t rgbaPerVertex = lit ? 4 : 3;
  const FeatureTable ft = buildFeatureTable(c);
  std::vector<Primitive> prims;
  splitPrimitives(c, c.indices, 3, Kind::Mesh, rgbaPerVertex, prims);
  splitPrimitives(c, c.lines, 2, Kind::Polyline, 4, prims);
  splitPrimitives(c, c.points, 1, Kind::Point, 3, prims);

  const TileData t{c, d, ft.newIndex, rgbaPerVertex, lit};
  std::vector<uint8_t> bin;
  json primitives = json::array(), views = json::object(), materials = json::object();
  double rangeLo[3] = {1e300, 1e300, 1e300}, rangeHi[3] = {-1e300, -1e300, -1e300};
  for (size_t p = 0; p < prims.size(); ++p)
    primitives.push_back(writePrimitive(t, prims[p], p, bin, views, materials, rangeLo, rangeHi));
  const json doc = {{"scene", "defaultScene"},
                    {"scenes", {{"defaultScene", {{"nodes", {"Node_Root"}}}}}},
                    {"nodes", {{"Node_Root", "Mesh_Root"}}},
                    {"meshes", {{"Mesh_Root", {{"primitives", std::move(primitives)}}}}},
                    {"bufferViews", std::move(views)},
                    {"materials", std::move(materials)}};
  std::string text = doc.dump();
  while (text.size() % 4) text.push_back(' ');
  return imdlContainer(ft, text, bin, rangeLo, rangeHi, tolerance);
}

void addImdlModelExtents(const TilesetModel& model, ImdlModelExtents& extents) {
  // Model extents in iModel coordinates: every content's decoded vertices plus the root translation.
  const core::Vec3d origin{model.rootTransform[12], model.rootTransform[13], model.rootTransform[14]};
  for (const TileContent& c : model.contents) {
    // Per feature first (a vector), then per model: one map lookup per feature, not per vertex.
    std::vector<core::Aabb> byFeature(c.features.size());
    for (size_t v = 0; v < c.vertexCount(); ++v) {
      const auto p = tilePosition(c, v);
      byFeature[c.featureIds[v]].extend(p[0] + origin.x, p[1] + origin.y, p[2] + origin.z);
    }
    for (size_t f = 0; f < byFeature.size(); ++f)
      if (!byFeature[f].empty()) extents[c.features[f].model].extend(byFeature[f]);
  }
}

std::string encodeImdlTilesetJson(const TilesetModel& model, const std::string& generator,
                                  const ImdlModelExtents* given) {
  ImdlModelExtents own;
  if (!given) addImdlModelExtents(model, own);
  json models = json::object();
  for (const auto& [id, box] : given ? *given : own)
    models[canonicalId64(id)] = {{"extents", {{"low", box.min}, {"high", box.max}}}};

  const json doc = {{"asset",
                     {{"version", "1.1"},
                      {"generator", generator},
                      {"tilesetVersion", std::to_string(kImdlMajor) + "." + std::to_string(kImdlMinor)}}},
                    {"geometricError", model.geometricError},
                    {"extensionsUsed", {"BENTLEY_BatchedTileSet"}},
                    {"extensions", {{"BENTLEY_BatchedTileSet", {{"models", std::move(models)}}}}},
                    {"root", tileTreeJson(model)}};
  return doc.dump(1);
}

} // namespace mx::io
