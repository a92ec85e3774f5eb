// The glb writer: glTF 2.0 + EXT_mesh_features + EXT_structural_metadata, with
// KHR_mesh_quantization and EXT_meshopt_compression as the content and options say. The glb
// container (a 12-byte header and two chunks) is assembled here around JSON produced by
// nlohmann::json; tinygltf 2.7's writer cannot emit EXT_meshopt_compression's data-less fallback
// buffer nor control bufferView alignment, both of which this format needs. tinygltf reads our
// output back in the round-trip tests.
#include "GlbFormat.h"

#include <mx/io/GlbWriter.h>

#include <meshoptimizer.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

namespace mx::io {

using core::ErrorCode;
using core::Result;
using core::Status;
using nlohmann::json;

namespace {

/// Accumulates the BIN chunk and the bufferViews/accessors that describe it.
class GlbBuilder {
public:
  explicit GlbBuilder(bool meshopt) : _meshopt(meshopt) {}

  /// Adds a view of `bytes`; `stride` 0 for non-vertex data. Returns the bufferView index.
  int addView(const void* data, size_t size, size_t stride, int target, size_t alignment,
              const char* meshoptMode = nullptr, size_t count = 0, const char* filter = nullptr) {
    json view;
    if (_meshopt && meshoptMode) {
      // Compressed bytes go to buffer 0; buffer 1 is the data-less fallback of the raw size.
      std::vector<uint8_t> enc;
      if (std::strcmp(meshoptMode, "TRIANGLES") == 0 || std::strcmp(meshoptMode, "INDICES") == 0) {
        const auto* idx = static_cast<const uint32_t*>(data); // count = index count
        size_t maxIndex = 0;
        for (size_t i = 0; i < count; ++i) maxIndex = std::max<size_t>(maxIndex, idx[i]);
        if (meshoptMode[0] == 'T') {
          enc.resize(meshopt_encodeIndexBufferBound(count, maxIndex + 1));
          enc.resize(meshopt_encodeIndexBuffer(enc.data(), enc.size(), idx, count));
        } else { // line and point indices: the sequence codec
          enc.resize(meshopt_encodeIndexSequenceBound(count, maxIndex + 1));
          enc.resize(meshopt_encodeIndexSequence(enc.data(), enc.size(), idx, count));
        }
      } else {
        enc.resize(meshopt_encodeVertexBufferBound(count, stride));
        enc.resize(meshopt_encodeVertexBuffer(enc.data(), enc.size(), data, count, stride));
      }
      const size_t offset = append(enc.data(), enc.size(), 4);
      const size_t fallbackOffset = (_fallbackSize + 3) & ~size_t(3);
      _fallbackSize = fallbackOffset + size;
      const size_t extStride = stride ? stride : size / count;
      json ext = {{"buffer", 0},    {"byteOffset", offset}, {"byteLength", enc.size()}, {"byteStride", extStride},
                  {"count", count}, {"mode", meshoptMode}};
      if (filter) ext["filter"] = filter;
      view = {{"buffer", 1},
              {"byteOffset", fallbackOffset},
              {"byteLength", size},
              {"extensions", {{"EXT_meshopt_compression", ext}}}};
    } else {
      const size_t offset = append(data, size, alignment);
      view = {{"buffer", 0}, {"byteOffset", offset}, {"byteLength", size}};
    }
    if (stride) view["byteStride"] = stride;
    if (target) view["target"] = target;
    _views.push_back(std::move(view));
    return int(_views.size() - 1);
  }

  int addAccessor(json accessor) {
    _accessors.push_back(std::move(accessor));
    return int(_accessors.size() - 1);
  }

  void reserve(size_t bytes) { _bin.reserve(bytes); }
  json& views() { return _views; }
  json& accessors() { return _accessors; }
  std::vector<uint8_t>& bin() { return _bin; }
  size_t fallbackSize() const { return _fallbackSize; }

private:
  size_t append(const void* data, size_t size, size_t alignment) {
    size_t offset = (_bin.size() + alignment - 1) / alignment * alignment;
    _bin.resize(offset + size, 0);
    if (size) std::memcpy(_bin.data() + offset, data, size);
    return offset;
  }

  bool _meshopt;
  std::vector<uint8_t> _bin;
  size_t _fallbackSize = 0;
  json _views = json::array();
  json _accessors = json::array();
};

void appendU32(std::vector<uint8_t>& out, uint32_t v) {
  uint8_t b[4];
  std::memcpy(b, &v, 4);
  out.insert(out.end(), b, b + 4);
}

Status checkContent(const TileContent& c) {
  const size_t vcount = c.vertexCount(), surface = c.surfaceVertices();
  if (vcount == 0 || (c.indices.empty() && c.lines.empty() && c.points.empty()))
    return Status{ErrorCode::InvalidArgument, "tile content has no triangles, lines or points"};
  if (c.indices.size() % 3 != 0 || c.lines.size() % 2 != 0)
    return Status{ErrorCode::InvalidArgument, "tile content index counts are not whole triangles or segments"};
  if (c.wireVertices > vcount || (c.wireVertices == 0) != (c.lines.empty() && c.points.empty()) ||
      (surface == 0) != c.indices.empty())
    return Status{ErrorCode::InvalidArgument, "tile content vertex ranges disagree with its primitives"};
  if ((c.quantized ? c.positionsQ.size() != 4 * vcount : c.positions.size() != 3 * vcount) ||
      c.colors.size() != vcount || (!c.normalsQ.empty() && c.normalsQ.size() != 4 * surface))
    return Status{ErrorCode::InvalidArgument, "tile content attribute sizes disagree"};
  for (uint32_t f : c.featureIds)
    if (f >= c.features.size()) return Status{ErrorCode::InvalidArgument, "feature id beyond the feature table"};
  for (uint32_t i : c.indices)
    if (i >= surface) return Status{ErrorCode::InvalidArgument, "triangle index beyond the triangles' vertices"};
  for (const auto* list : {&c.lines, &c.points})
    for (uint32_t i : *list)
      if (i < surface || i >= vcount)
        return Status{ErrorCode::InvalidArgument, "line or point index outside the linework's vertices"};
  return Status::ok();
}

/// The vertices one set of attributes covers: [first, first + count).
struct Range {
  size_t first = 0, count = 0;
};

/// POSITION: uint16 (quantized) or float32; min/max are required, in accessor units.
int addPositions(GlbBuilder& b, const TileContent& c, Range r) {
  const size_t vcount = r.count;
  double mn[3] = {std::numeric_limits<double>::max(), std::numeric_limits<double>::max(),
                  std::numeric_limits<double>::max()};
  double mx[3] = {std::numeric_limits<double>::lowest(), std::numeric_limits<double>::lowest(),
                  std::numeric_limits<double>::lowest()};
  for (size_t v = r.first; v < r.first + vcount; ++v)
    for (int a = 0; a < 3; ++a) {
      const double x = c.quantized ? double(c.positionsQ[4 * v + size_t(a)]) : double(c.positions[3 * v + size_t(a)]);
      mn[a] = std::min(mn[a], x);
      mx[a] = std::max(mx[a], x);
    }
  int view;
  json acc;
  if (c.quantized) {
    view = b.addView(c.positionsQ.data() + 4 * r.first, vcount * 8, 8, glb::kArrayBuffer, 4, "ATTRIBUTES", vcount);
    acc = {{"componentType", glb::kUnsignedShort}};
  } else {
    // Float positions padded to a 12-byte stride (already a multiple of 4).
    view = b.addView(c.positions.data() + 3 * r.first, vcount * 12, 12, glb::kArrayBuffer, 4, "ATTRIBUTES", vcount);
    acc = {{"componentType", glb::kFloat}};
  }
  acc.update(json{{"bufferView", view},
                  {"count", vcount},
                  {"type", "VEC3"},
                  {"min", {mn[0], mn[1], mn[2]}},
                  {"max", {mx[0], mx[1], mx[2]}}});
  return b.addAccessor(acc);
}

/// NORMAL: snorm8, or with meshopt the octahedral filter's 8-bit pairs.
int addNormals(GlbBuilder& b, const TileContent& c, bool meshopt) {
  const size_t vcount = c.surfaceVertices();
  int view;
  if (meshopt) {
    // Octahedral filter: meshopt re-encodes the snorm8 normals as 8-bit octahedral pairs.
    std::vector<float> f(4 * vcount);
    for (size_t v = 0; v < vcount; ++v) {
      for (int a = 0; a < 3; ++a) f[4 * v + size_t(a)] = std::max(c.normalsQ[4 * v + size_t(a)] / 127.0f, -1.0f);
      f[4 * v + 3] = 0;
    }
    std::vector<int8_t> oct(4 * vcount);
    meshopt_encodeFilterOct(oct.data(), vcount, 4, 8, f.data());
    view = b.addView(oct.data(), oct.size(), 4, glb::kArrayBuffer, 4, "ATTRIBUTES", vcount, "OCTAHEDRAL");
  } else {
    view = b.addView(c.normalsQ.data(), c.normalsQ.size(), 4, glb::kArrayBuffer, 4, "ATTRIBUTES", vcount);
  }
  return b.addAccessor(
      {{"bufferView", view}, {"componentType", glb::kByte}, {"normalized", true}, {"count", vcount}, {"type", "VEC3"}});
}

/// COLOR_0: RGBA8 normalized.
int addColors(GlbBuilder& b, const TileContent& c, Range r) {
  const size_t vcount = r.count;
  const int view = b.addView(c.colors.data() + r.first, vcount * 4, 4, glb::kArrayBuffer, 4, "ATTRIBUTES", vcount);
  return b.addAccessor({{"bufferView", view},
                        {"componentType", glb::kUnsignedByte},
                        {"normalized", true},
                        {"count", vcount},
                        {"type", "VEC4"}});
}

/// _FEATURE_ID_0 (or b3dm's _BATCHID): exact as FLOAT below 2^24, never quantized or normalized.
int addFeatureIds(GlbBuilder& b, const TileContent& c, Range r) {
  const size_t vcount = r.count;
  std::vector<float> ids(vcount);
  float maxId = 0, minId = std::numeric_limits<float>::max();
  for (size_t v = 0; v < vcount; ++v) {
    ids[v] = float(c.featureIds[r.first + v]);
    maxId = std::max(maxId, ids[v]);
    minId = std::min(minId, ids[v]);
  }
  const int view = b.addView(ids.data(), ids.size() * 4, 4, glb::kArrayBuffer, 4, "ATTRIBUTES", vcount);
  return b.addAccessor({{"bufferView", view},
                        {"componentType", glb::kFloat},
                        {"count", vcount},
                        {"type", "SCALAR"},
                        {"min", {double(minId)}},
                        {"max", {double(maxId)}}});
}

/// One mode's primitives (4 triangles, 1 lines, 0 points) split by transparency: one primitive
/// per material (0 opaque, 1 blended). `indices` (`per` a primitive) are rebased by `first`, the
/// first vertex of the attributes.
void addPrimitives(GlbBuilder& b, const TileContent& c, const std::vector<uint32_t>& indices, size_t per, int mode,
                   Range r, const json& attributes, bool meshopt, bool batched, json& primitives) {
  const size_t vcount = r.count;
  std::vector<uint32_t> groups[2];
  for (size_t t = 0; t < indices.size(); t += per) {
    bool translucent = false;
    for (size_t k = 0; k < per; ++k) translucent = translucent || (c.colors[indices[t + k]] >> 24) < 255;
    for (size_t k = 0; k < per; ++k) groups[translucent].push_back(uint32_t(indices[t + k] - r.first));
  }
  const bool wide = vcount > 65535;
  const json meshFeatures = {
      {"featureIds", {{{"featureCount", c.features.size()}, {"attribute", 0}, {"propertyTable", 0}}}}};
  for (int g = 0; g < 2; ++g) {
    if (groups[g].empty()) continue;
    int view;
    if (meshopt) {
      // meshopt's index codec reads 32-bit values; the decoded width (the extension's byteStride)
      // is the fallback view's size per index.
      view = b.addView(groups[g].data(), groups[g].size() * (wide ? 4 : 2), 0, glb::kElementArrayBuffer, 4,
                       mode == 4 ? "TRIANGLES" : "INDICES", groups[g].size());
    } else if (wide) {
      view = b.addView(groups[g].data(), groups[g].size() * 4, 0, glb::kElementArrayBuffer, 4);
    } else {
      std::vector<uint16_t> narrow(groups[g].begin(), groups[g].end());
      view = b.addView(narrow.data(), narrow.size() * 2, 0, glb::kElementArrayBuffer, 4);
    }
    const int acc = b.addAccessor({{"bufferView", view},
                                   {"componentType", wide ? glb::kUnsignedInt : glb::kUnsignedShort},
                                   {"count", groups[g].size()},
                                   {"type", "SCALAR"}});
    json primitive = {{"attributes", attributes}, {"indices", acc}, {"material", g}, {"mode", mode}};
    if (!batched) primitive["extensions"] = {{"EXT_mesh_features", meshFeatures}};
    primitives.push_back(std::move(primitive));
  }
}

/// EXT_structural_metadata: one property table, a UINT64 column per id, 8-byte aligned.
json addPropertyTable(GlbBuilder& b, const TileContent& c) {
  json tableProps;
  const size_t rows = c.features.size();
  std::vector<uint64_t> col(rows);
  const char* names[3] = {"element", "model", "subcategory"};
  for (int k = 0; k < 3; ++k) {
    for (size_t r = 0; r < rows; ++r)
      col[r] = k == 0 ? c.features[r].element : (k == 1 ? c.features[r].model : c.features[r].subcategory);
    const int view = b.addView(col.data(), rows * 8, 0, 0, 8);
    tableProps[names[k]] = {{"values", view}};
  }
  const json u64 = {{"type", "SCALAR"}, {"componentType", "UINT64"}};
  json properties = {{"element", u64}, {"model", u64}, {"subcategory", u64}};
  json schema = {{"id", "meshexport"}, {"classes", {{"feature", {{"properties", properties}}}}}};
  json table = {{"class", "feature"}, {"count", rows}, {"properties", tableProps}};
  return {{"schema", schema}, {"propertyTables", json::array({table})}};
}

/// The glTF document around the accessors the builder holds.
json document(const TileContent& c, const WriteOptions& options, GlbBuilder& b, json primitives, json metadata) {
  const bool meshopt = options.meshoptCompression;
  json node = {{"mesh", 0}};
  if (c.quantized) {
    node["translation"] = {c.translation[0], c.translation[1], c.translation[2]};
    node["scale"] = {c.scale[0], c.scale[1], c.scale[2]};
  }
  json material = {{"pbrMetallicRoughness",
                    {{"baseColorFactor", {1.0, 1.0, 1.0, 1.0}}, {"metallicFactor", 0.0}, {"roughnessFactor", 1.0}}},
                   {"doubleSided", true}};
  json blended = material;
  blended["alphaMode"] = "BLEND";

  const bool batched = metadata.is_null();
  std::vector<std::string> used;
  if (!batched) used = {"EXT_mesh_features", "EXT_structural_metadata"};
  std::vector<std::string> required;
  if (c.quantized || !c.normalsQ.empty()) {
    used.push_back("KHR_mesh_quantization");
    required.push_back("KHR_mesh_quantization");
  }
  if (meshopt) {
    used.push_back("EXT_meshopt_compression");
    required.push_back("EXT_meshopt_compression");
  }

  json buffers = json::array({{{"byteLength", b.bin().size()}}});
  if (meshopt)
    buffers.push_back(
        {{"byteLength", b.fallbackSize()}, {"extensions", {{"EXT_meshopt_compression", {{"fallback", true}}}}}});

  json doc = {{"asset", {{"version", "2.0"}, {"generator", options.generator}}},
              {"extensionsUsed", used},
              {"scene", 0},
              {"scenes", {{{"nodes", {0}}}}},
              {"nodes", {node}},
              {"meshes", {{{"primitives", std::move(primitives)}}}},
              {"materials", {material, blended}},
              {"buffers", buffers},
              {"bufferViews", b.views()},
              {"accessors", b.accessors()}};
  if (!batched) doc["extensions"] = {{"EXT_structural_metadata", std::move(metadata)}};
  if (used.empty()) doc.erase("extensionsUsed");
  if (!required.empty()) doc["extensionsRequired"] = required;
  return doc;
}

/// The glb container: header, JSON chunk (space-padded), BIN chunk (zero-padded). `align8`: the
/// whole glb a multiple of 8 bytes (b3dm's rule), by 4 more spaces of JSON where needed.
Result<std::vector<uint8_t>> container(const json& doc, std::vector<uint8_t>& bin, bool align8) {
  std::string text = doc.dump();
  while (text.size() % 4) text.push_back(' ');
  while (bin.size() % 4) bin.push_back(0);
  if (align8 && (text.size() + bin.size()) % 8 != 4) text.append(4, ' '); // 12 + 8 + 8 = 28 ≡ 4
  const size_t total = 12 + 8 + text.size() + 8 + bin.size();
  if (total > std::numeric_limits<uint32_t>::max()) return Status{ErrorCode::InvalidArgument, "tile larger than 4 GiB"};
  std::vector<uint8_t> out;
  out.reserve(total);
  appendU32(out, glb::kMagic);
  appendU32(out, glb::kVersion);
  appendU32(out, uint32_t(total));
  appendU32(out, uint32_t(text.size()));
  appendU32(out, glb::kChunkJson);
  out.insert(out.end(), text.begin(), text.end());
  appendU32(out, uint32_t(bin.size()));
  appendU32(out, glb::kChunkBin);
  out.insert(out.end(), bin.begin(), bin.end());
  return out;
}

} // namespace

Result<std::vector<uint8_t>> encodeGlb(const TileContent& c, const WriteOptions& options) {
  MX_RETURN_IF_ERROR(checkContent(c));
  const size_t vcount = c.vertexCount();
  const bool meshopt = options.meshoptCompression;
  GlbBuilder b(meshopt);
  // The uncompressed BIN size, padding aside: one allocation instead of a doubling series.
  b.reserve(vcount * ((c.quantized ? 8 : 12) + 4 + 4 + 4) + (c.indices.size() + c.lines.size() + c.points.size()) * 4 +
            64);
  // b3dm (3D Tiles 1.0): a feature's index is the vertex's _BATCHID into the b3dm's batch table.
  const bool batched = options.format == ContentFormat::B3dm && options.type != ExportType::Imodel;
  json primitives = json::array();
  // Triangles over the first vertices (with normals), linework over the last (without).
  const Range surface{0, c.surfaceVertices()}, wire{c.surfaceVertices(), c.wireVertices};
  for (const bool isSurface : {true, false}) {
    const Range r = isSurface ? surface : wire;
    if (r.count == 0) continue;
    json attributes;
    attributes["POSITION"] = addPositions(b, c, r);
    if (isSurface && !c.normalsQ.empty()) attributes["NORMAL"] = addNormals(b, c, meshopt);
    attributes["COLOR_0"] = addColors(b, c, r);
    attributes[batched ? "_BATCHID" : "_FEATURE_ID_0"] = addFeatureIds(b, c, r);
    if (isSurface) {
      addPrimitives(b, c, c.indices, 3, 4, r, attributes, meshopt, batched, primitives);
    } else {
      addPrimitives(b, c, c.lines, 2, 1, r, attributes, meshopt, batched, primitives);
      addPrimitives(b, c, c.points, 1, 0, r, attributes, meshopt, batched, primitives);
    }
  }
  json metadata = batched ? json() : addPropertyTable(b, c);
  return container(document(c, options, b, std::move(primitives), std::move(metadata)), b.bin(), batched);
}

} // namespace mx::io
