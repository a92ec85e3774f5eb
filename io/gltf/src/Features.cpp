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

bool FeatureRows::row(size_t v, uint32_t& out) const {
  const double x = view.get(v, 0);
  if (!(x >= 0) || x != std::floor(x) || x > double(UINT32_MAX)) return false;
  out = uint32_t(x);
  return out < rowCount || out == nullId;
}

Status FeatureRows::failure(size_t v) const {
  const double x = view.get(v, 0);
  if (!(x >= 0) || x != std::floor(x) || x > double(UINT32_MAX))
    return malformed(name + "[" + std::to_string(v) + "] is not a feature id");
  return malformed(name + "[" + std::to_string(v) + "] = " + std::to_string(uint32_t(x)) +
                   " is past its property table (" + std::to_string(rowCount) + " rows)");
}

Result<std::optional<FeatureRows>> featureRows(const Document& d, const tinygltf::Primitive& prim, size_t vertexCount,
                                               const std::vector<PropertyTable>& tables) {
  auto ext = prim.extensions.find("EXT_mesh_features");
  if (ext == prim.extensions.end() || !ext->second.Has("featureIds")) return std::optional<FeatureRows>();
  const tinygltf::Value& ids = ext->second.Get("featureIds");
  if (!ids.IsArray() || ids.ArrayLen() == 0) return std::optional<FeatureRows>();
  const tinygltf::Value& first = ids.Get(0);
  const int attribute = intMember(first, "attribute", -1), table = intMember(first, "propertyTable", -1);
  if (attribute < 0 || table < 0) return std::optional<FeatureRows>(); // implicit ids or no table: nothing to name
  if (size_t(table) >= tables.size())
    return malformed("EXT_mesh_features propertyTable " + std::to_string(table) + " does not exist");
  auto it = prim.attributes.find("_FEATURE_ID_" + std::to_string(attribute));
  if (it == prim.attributes.end())
    return malformed("EXT_mesh_features attribute _FEATURE_ID_" + std::to_string(attribute) + " is missing");
  FeatureRows f;
  f.name = it->first;
  MX_ASSIGN_OR_RETURN(f.view, AccessorView::make(d, it->second, it->first));
  if (f.view.type() != TINYGLTF_TYPE_SCALAR || f.view.count() != vertexCount)
    return malformed(it->first + " is not SCALAR of POSITION's count");
  f.table = size_t(table);
  if (const int n = intMember(first, "nullFeatureId", -1); n >= 0) f.nullId = uint32_t(n);
  f.rowCount = tables[f.table].count;
  return std::optional<FeatureRows>(std::move(f));
}

Result<std::optional<VertexFeatures>> readVertexFeatures(const Document& d, const tinygltf::Primitive& prim,
                                                         size_t vertexCount, const std::vector<PropertyTable>& tables) {
  MX_ASSIGN_OR_RETURN(std::optional<FeatureRows> f, featureRows(d, prim, vertexCount, tables));
  if (!f) return std::optional<VertexFeatures>();
  VertexFeatures vf;
  vf.table = f->table;
  vf.nullId = f->nullId;
  vf.rows.resize(vertexCount);
  const size_t bad = firstFailure(vertexCount, [&](size_t v) { return f->row(v, vf.rows[v]); });
  if (bad < vertexCount) return f->failure(bad);
  return std::optional<VertexFeatures>(std::move(vf));
}

bool ColorKeys::key(size_t v, uint32_t& out) const {
  uint32_t k = 0;
  const int components = view.components();
  auto to8 = [](double x) { return uint32_t(std::lround(std::clamp(x, 0.0, 1.0) * 255.0)); };
  for (int c = 0; c < 4; ++c) {
    if (bytes) {
      k |= (c < components ? view.byte(v, c) : 255u) << (8 * c);
      continue;
    }
    const double x = c < components ? view.get(v, c) : 1.0;
    if (!std::isfinite(x)) return false;
    k |= to8(factor[size_t(c)] * std::clamp(x, 0.0, 1.0)) << (8 * c);
  }
  out = k;
  return true;
}

Result<std::optional<ColorKeys>> colorKeys(const Document& d, const tinygltf::Primitive& prim, size_t vertexCount,
                                           const std::array<double, 4>& factor) {
  auto it = prim.attributes.find("COLOR_0");
  if (it == prim.attributes.end()) return std::optional<ColorKeys>();
  ColorKeys c;
  MX_ASSIGN_OR_RETURN(c.view, AccessorView::make(d, it->second, "COLOR_0"));
  if ((c.view.type() != TINYGLTF_TYPE_VEC3 && c.view.type() != TINYGLTF_TYPE_VEC4) || c.view.count() != vertexCount)
    return malformed("COLOR_0 is not VEC3 or VEC4 of POSITION's count");
  c.factor = factor;
  // Normalized bytes under a white factor are their own 8-bit values (lround(b / 255.0 · 255) = b).
  c.bytes = c.view.componentType() == TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE && c.view.normalized() &&
            factor == std::array<double, 4>{1, 1, 1, 1};
  return std::optional<ColorKeys>(std::move(c));
}

Result<std::optional<std::vector<uint32_t>>> readVertexColorKeys(const Document& d, const tinygltf::Primitive& prim,
                                                                 size_t vertexCount,
                                                                 const std::array<double, 4>& factor) {
  MX_ASSIGN_OR_RETURN(std::optional<ColorKeys> c, colorKeys(d, prim, vertexCount, factor));
  if (!c) return std::optional<std::vector<uint32_t>>();
  std::vector<uint32_t> keys(vertexCount);
  const size_t bad = firstFailure(vertexCount, [&](size_t v) { return c->key(v, keys[v]); });
  if (bad < vertexCount) return malformed("COLOR_0[" + std::to_string(bad) + "] is NaN or infinite");
  return std::optional<std::vector<uint32_t>>(std::move(keys));
}

} // namespace mx::io::gltf
