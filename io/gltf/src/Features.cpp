#include "Features.h"

#include <algorithm>
#include <cmath>

namespace mx::io::gltf {

namespace {

int intMember(const tinygltf::Value& v, const char* key, int def) {
  if (!v.IsObject() || !v.Has(key)) return def;
  const tinygltf::Value& x = v.Get(key);
  return x.IsNumber() || x.IsInt() ? x.GetNumberAsInt() : def;
}

/// A UINT64 column of `count` rows from its `values` bufferView.
Result<std::vector<uint64_t>> readColumn(const Document& d, const tinygltf::Value& property, size_t count,
                                         const std::string& name) {
  const int view = intMember(property, "values", -1);
  const std::span<const uint8_t> bytes = bufferViewBytes(d, view);
  if (bytes.size() < count * 8)
    return malformed("EXT_structural_metadata column " + name + ": bufferView " + std::to_string(view) +
                     " is missing or shorter than " + std::to_string(count) + " UINT64 values");
  std::vector<uint64_t> out(count);
  if (count) std::memcpy(out.data(), bytes.data(), count * 8);
  return out;
}

} // namespace

Result<std::vector<PropertyTable>> readPropertyTables(const Document& d) {
  std::vector<PropertyTable> out;
  const tinygltf::Model& m = d.model;
  auto ext = m.extensions.find("EXT_structural_metadata");
  if (ext == m.extensions.end() || !ext->second.Has("propertyTables")) return out;
  const tinygltf::Value& tables = ext->second.Get("propertyTables");
  if (!tables.IsArray()) return malformed("EXT_structural_metadata propertyTables is not an array");
  for (size_t t = 0; t < tables.ArrayLen(); ++t) {
    const tinygltf::Value& table = tables.Get(int(t));
    const int count = intMember(table, "count", -1);
    if (count < 0) return malformed("EXT_structural_metadata property table " + std::to_string(t) + " has no count");
    PropertyTable pt;
    pt.count = size_t(count);
    if (table.Has("properties") && table.Get("properties").IsObject()) {
      const tinygltf::Value& props = table.Get("properties");
      for (auto [name, column] : {std::pair{"element", &pt.element}, std::pair{"model", &pt.model},
                                  std::pair{"subcategory", &pt.subcategory}})
        if (props.Has(name)) {
          MX_ASSIGN_OR_RETURN(*column, readColumn(d, props.Get(name), pt.count, name));
        }
    }
    out.push_back(std::move(pt));
  }
  return out;
}

Result<std::optional<VertexFeatures>> readVertexFeatures(const Document& d, const tinygltf::Primitive& prim,
                                                         size_t vertexCount, const std::vector<PropertyTable>& tables) {
  auto ext = prim.extensions.find("EXT_mesh_features");
  if (ext == prim.extensions.end() || !ext->second.Has("featureIds")) return std::optional<VertexFeatures>();
  const tinygltf::Value& ids = ext->second.Get("featureIds");
  if (!ids.IsArray() || ids.ArrayLen() == 0) return std::optional<VertexFeatures>();
  const tinygltf::Value& first = ids.Get(0);
  const int attribute = intMember(first, "attribute", -1), table = intMember(first, "propertyTable", -1);
  if (attribute < 0 || table < 0) return std::optional<VertexFeatures>(); // implicit ids or no table: nothing to name
  if (size_t(table) >= tables.size())
    return malformed("EXT_mesh_features propertyTable " + std::to_string(table) + " does not exist");
  auto it = prim.attributes.find("_FEATURE_ID_" + std::to_string(attribute));
  if (it == prim.attributes.end())
    return malformed("EXT_mesh_features attribute _FEATURE_ID_" + std::to_string(attribute) + " is missing");
  MX_ASSIGN_OR_RETURN(AccessorView view, AccessorView::make(d, it->second, it->first));
  if (view.type() != TINYGLTF_TYPE_SCALAR || view.count() != vertexCount)
    return malformed(it->first + " is not SCALAR of POSITION's count");
  VertexFeatures vf;
  vf.table = size_t(table);
  if (const int n = intMember(first, "nullFeatureId", -1); n >= 0) vf.nullId = uint32_t(n);
  vf.rows.resize(vertexCount);
  const size_t rowCount = tables[vf.table].count;
  const size_t bad = firstFailure(vertexCount, [&](size_t v) {
    const double x = view.get(v, 0);
    if (!(x >= 0) || x != std::floor(x) || x > double(UINT32_MAX)) return false;
    vf.rows[v] = uint32_t(x);
    return vf.rows[v] < rowCount || vf.rows[v] == vf.nullId;
  });
  if (bad < vertexCount) {
    const double x = view.get(bad, 0);
    if (!(x >= 0) || x != std::floor(x) || x > double(UINT32_MAX))
      return malformed(it->first + "[" + std::to_string(bad) + "] is not a feature id");
    return malformed(it->first + "[" + std::to_string(bad) + "] = " + std::to_string(vf.rows[bad]) +
                     " is past its property table (" + std::to_string(rowCount) + " rows)");
  }
  return std::optional<VertexFeatures>(std::move(vf));
}

Result<std::optional<std::vector<uint32_t>>> readVertexColorKeys(const Document& d, const tinygltf::Primitive& prim,
                                                                 size_t vertexCount,
                                                                 const std::array<double, 4>& factor) {
  auto it = prim.attributes.find("COLOR_0");
  if (it == prim.attributes.end()) return std::optional<std::vector<uint32_t>>();
  MX_ASSIGN_OR_RETURN(AccessorView view, AccessorView::make(d, it->second, "COLOR_0"));
  if ((view.type() != TINYGLTF_TYPE_VEC3 && view.type() != TINYGLTF_TYPE_VEC4) || view.count() != vertexCount)
    return malformed("COLOR_0 is not VEC3 or VEC4 of POSITION's count");
  std::vector<uint32_t> keys(vertexCount);
  // Normalized bytes under a white factor are their own 8-bit values (lround(b / 255.0 · 255) = b).
  const bool bytes = view.componentType() == TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE && view.normalized() &&
                     factor == std::array<double, 4>{1, 1, 1, 1};
  const int components = view.components();
  auto to8 = [](double v) { return uint32_t(std::lround(std::clamp(v, 0.0, 1.0) * 255.0)); };
  const size_t bad = firstFailure(vertexCount, [&](size_t v) {
    uint32_t key = 0;
    for (int c = 0; c < 4; ++c) {
      if (bytes) {
        key |= (c < components ? view.byte(v, c) : 255u) << (8 * c);
        continue;
      }
      const double x = c < components ? view.get(v, c) : 1.0;
      if (!std::isfinite(x)) return false;
      key |= to8(factor[size_t(c)] * std::clamp(x, 0.0, 1.0)) << (8 * c);
    }
    keys[v] = key;
    return true;
  });
  if (bad < vertexCount) return malformed("COLOR_0[" + std::to_string(bad) + "] is NaN or infinite");
  return std::optional<std::vector<uint32_t>>(std::move(keys));
}

} // namespace mx::io::gltf
