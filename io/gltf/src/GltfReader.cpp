// Every accessor is bounds-checked against its bufferView and buffer before a byte is read, so a
// hostile file can make the reader return an error but never read out of bounds.
#include "Accessor.h"
#include "Document.h"
#include "Features.h"
#include "Nodes.h"
#include "Slices.h"

#include <mx/io/GltfReader.h>

#include <tiny_gltf.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include <tbb/parallel_for.h>

namespace mx::io {

using core::ErrorCode;
using core::Mat4d;
using core::Result;
using core::Scene;
using core::Status;

using namespace gltf;

namespace {

bool finite(const Mat4d& m) {
  for (double v : m)
    if (!std::isfinite(v)) return false;
  return true;
}

/// A primitive's elements over its own vertex numbers, and where those vertices come from.
/// `mesh.positions` (and normals) are filled only when asked for (see primitiveMesh).
struct PrimitiveMesh {
  core::Mesh mesh;
  VertexSource vertices;
  size_t vertexCount = 0;
};

/// What of the glTF's look the tiles do not carry yet (textures, texture coordinates, material
/// extensions), as one warning ("" when nothing is dropped): the base colour factor and COLOR_0
/// are kept, the rest is named so that it is never dropped silently.
std::string droppedAppearance(const tinygltf::Model& m) {
  std::map<std::string, size_t> counts;
  for (const auto& mat : m.materials) {
    const auto& pbr = mat.pbrMetallicRoughness;
    if (pbr.baseColorTexture.index >= 0) ++counts["baseColorTexture"];
    if (pbr.metallicRoughnessTexture.index >= 0) ++counts["metallicRoughnessTexture"];
    if (mat.normalTexture.index >= 0) ++counts["normalTexture"];
    if (mat.occlusionTexture.index >= 0) ++counts["occlusionTexture"];
    if (mat.emissiveTexture.index >= 0) ++counts["emissiveTexture"];
    for (const auto& [name, value] : mat.extensions) ++counts[name];
  }
  for (const auto& mesh : m.meshes)
    for (const auto& prim : mesh.primitives)
      for (const auto& [name, accessor] : prim.attributes)
        if (name.rfind("TEXCOORD_", 0) == 0) ++counts[name];
  if (counts.empty()) return "";
  std::string text = "glTF appearance not carried into the tiles (only the base colour factor and COLOR_0 are):";
  for (const auto& [name, n] : counts) text += " " + name + " ×" + std::to_string(n) + ",";
  text.back() = '.';
  return text;
}

class GltfSceneBuilder {
public:
  GltfSceneBuilder(const Document& doc, core::SceneBatches* batches) : _d(doc), _m(doc.model), _batches(batches) {}

  Result<Scene> build() {
    for (const std::string& ext : _m.extensionsRequired) {
      // Geometry we read as it is (KHR_mesh_quantization), and extensions that only change
      // textures or materials, which tiling ignores (the base colour factor is kept). Draco was
      // decoded at load (Draco.h). Anything else may change geometry we would misread (meshopt
      // input): refused by name.
      static const std::set<std::string> kReadable = {"KHR_mesh_quantization", "KHR_texture_transform",
                                                      "KHR_texture_basisu",    "EXT_texture_webp",
                                                      "EXT_texture_avif",      "KHR_materials_variants"};
      const bool material = ext.rfind("KHR_materials_", 0) == 0;
      if (!kReadable.count(ext) && !material)
        return Status{ErrorCode::UnsupportedInput, "required glTF extension " + ext + " is not supported"};
    }
    std::vector<int> roots;
    if (!_m.scenes.empty()) {
      const int s = _m.defaultScene >= 0 ? _m.defaultScene : 0;
      if (size_t(s) >= _m.scenes.size()) return malformed("default scene " + std::to_string(s) + " does not exist");
      roots = _m.scenes[size_t(s)].nodes;
    } else {
      std::vector<bool> isChild(_m.nodes.size(), false);
      for (const auto& n : _m.nodes)
        for (int c : n.children)
          if (c >= 0 && size_t(c) < isChild.size()) isChild[size_t(c)] = true;
      for (size_t i = 0; i < _m.nodes.size(); ++i)
        if (!isChild[i]) roots.push_back(int(i));
    }
    MX_ASSIGN_OR_RETURN(_tables, readPropertyTables(_d));
    _rowFeatures.resize(_tables.size());
    for (size_t t = 0; t < _tables.size(); ++t) _rowFeatures[t].assign(_tables[t].count, kNoFeature);
    _uses.assign(_m.meshes.size(), 0);
    for (const auto& n : _m.nodes)
      if (n.mesh >= 0 && size_t(n.mesh) < _uses.size()) ++_uses[size_t(n.mesh)];
    if (_batches) _batches->declaredBounds = declaredBounds(_m, roots);
    for (int r : roots) MX_RETURN_IF_ERROR(visit(r, kYUpToZUp, 0));
    Result<Scene> result(std::move(_scene));
    if (_skippedPrimitives > 0)
      result.warnings().push_back(std::to_string(_skippedPrimitives) + " primitive(s) of an unknown mode skipped");
    if (std::string dropped = droppedAppearance(_m); !dropped.empty()) result.warnings().push_back(std::move(dropped));
    return result;
  }

private:
  Status visit(int index, const Mat4d& parent, int depth) {
    if (index < 0 || size_t(index) >= _m.nodes.size())
      return malformed("node " + std::to_string(index) + " does not exist");
    if (depth > kMaxNodeDepth || !_onPath.insert(index).second)
      return malformed("node " + std::to_string(index) + ": node hierarchy has a cycle or is deeper than " +
                       std::to_string(kMaxNodeDepth));
    const tinygltf::Node& node = _m.nodes[size_t(index)];
    const Mat4d world = core::multiply(parent, localMatrix(node));
    if (!finite(world)) return malformed("node " + std::to_string(index) + ": transform is not finite");
    if (node.mesh >= 0) MX_RETURN_IF_ERROR(visitMesh(index, node, world));
    for (int c : node.children) MX_RETURN_IF_ERROR(visit(c, world, depth + 1));
    _onPath.erase(index);
    return Status::ok();
  }

  /// A node's mesh: each primitive's triangles in world coordinates, or, for a mesh several nodes
  /// use (without per-vertex colours or features), one shared mesh placed by an instance.
  Status visitMesh(int index, const tinygltf::Node& node, const Mat4d& world) {
    if (size_t(node.mesh) >= _m.meshes.size())
      return malformed("node " + std::to_string(index) + ": mesh " + std::to_string(node.mesh) + " does not exist");
    // The node's own feature, made when a vertex first needs it (EXT_mesh_features may name them all).
    std::optional<uint32_t> nodeFeature;
    auto featureOfNode = [&] {
      if (nodeFeature) return *nodeFeature;
      core::Feature f;
      f.elementId = uint64_t(index) + 1;
      f.className = "glTF:Node";
      f.label = node.name.empty() ? "node " + std::to_string(index) : node.name;
      _scene.features.push_back(std::move(f));
      return *(nodeFeature = uint32_t(_scene.features.size() - 1));
    };
    const auto& mesh = _m.meshes[size_t(node.mesh)];
    for (size_t p = 0; p < mesh.primitives.size(); ++p) {
      const tinygltf::Primitive& prim = mesh.primitives[p];
      auto context = [&] {
        return "node " + std::to_string(index) + " mesh " + std::to_string(node.mesh) + " primitive " +
               std::to_string(p);
      };
      const bool perVertex = prim.attributes.count("COLOR_0") || prim.extensions.count("EXT_mesh_features");
      const size_t size = primitiveSize(prim);
      MX_RETURN_IF_ERROR(beforePiece(size));
      if (_streaming && size > _batches->primitives && (prim.mode == TINYGLTF_MODE_TRIANGLES || prim.mode == -1)) {
        MX_RETURN_IF_ERROR(addSlices(prim, world, featureOfNode).withContext(context()));
        continue;
      }
      if (_uses[size_t(node.mesh)] > 1 && !perVertex) {
        auto [it, added] = _shared.try_emplace({node.mesh, p}, std::nullopt);
        if (added) {
          auto m = primitiveMesh(prim, core::identityMatrix(), true);
          if (!m) return Status(m.status()).withContext(context());
          if (*m) {
            (*m)->mesh.featureIds.clear();
            _scene.sharedMeshes.push_back(std::move((*m)->mesh));
            it->second = uint32_t(_scene.sharedMeshes.size() - 1);
          }
        }
        if (it->second) _scene.instances.push_back({*it->second, world, featureOfNode(), material(prim.material)});
        continue;
      }
      // A primitive split by colour gathers each part's vertices from the accessors (no full copy).
      auto m = primitiveMesh(prim, world, prim.attributes.count("COLOR_0") == 0);
      if (!m) return Status(m.status()).withContext(context());
      if (*m) MX_RETURN_IF_ERROR(addMeshes(prim, std::move(**m), featureOfNode).withContext(context()));
    }
    return Status::ok();
  }

  /// Triangles, segments or points a primitive adds, from its accessors' counts (0 when unreadable).
  [[nodiscard]] size_t primitiveSize(const tinygltf::Primitive& prim) const {
    int accessor = prim.indices;
    if (accessor < 0)
      if (auto it = prim.attributes.find("POSITION"); it != prim.attributes.end()) accessor = it->second;
    if (accessor < 0 || size_t(accessor) >= _m.accessors.size()) return 0;
    const size_t n = _m.accessors[size_t(accessor)].count;
    switch (prim.mode) {
    case TINYGLTF_MODE_POINTS:
    case TINYGLTF_MODE_LINE_STRIP:
    case TINYGLTF_MODE_LINE_LOOP:
    case TINYGLTF_MODE_TRIANGLE_STRIP:
    case TINYGLTF_MODE_TRIANGLE_FAN:
      return n;
    case TINYGLTF_MODE_LINE:
      return n / 2;
    default:
      return n / 3;
    }
  }

  /// SceneBatches: before a piece of `size` that would bring what was added since the last call
  /// over the batch size, the scene is offered; taken, its meshes and instances are cleared.
  Status beforePiece(size_t size) {
    if (!_batches || !_batches->take) return Status::ok();
    if (_pending + size <= _batches->primitives) {
      _pending += size;
      return Status::ok();
    }
    MX_ASSIGN_OR_RETURN(bool taken, _batches->take(_scene, size));
    if (taken) {
      cleared();
      _streaming = true;
    }
    _pending = size;
    return Status::ok();
  }

  /// The primitive's index accessor, checked (SCALAR unsigned byte, short or int); none without.
  Result<std::optional<AccessorView>> indexView(const tinygltf::Primitive& prim) const {
    if (prim.indices < 0) return std::optional<AccessorView>();
    MX_ASSIGN_OR_RETURN(AccessorView iv, AccessorView::make(_d, prim.indices, "indices"));
    if (iv.type() != TINYGLTF_TYPE_SCALAR || (iv.componentType() != TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE &&
                                              iv.componentType() != TINYGLTF_COMPONENT_TYPE_UNSIGNED_SHORT &&
                                              iv.componentType() != TINYGLTF_COMPONENT_TYPE_UNSIGNED_INT))
      return malformed("indices must be SCALAR unsigned byte, short or int");
    return std::optional<AccessorView>(iv);
  }

  /// Lets go of the resident pages of [begin, end) when it lies in a file map (no-op else).
  void releaseMapped(const uint8_t* begin, const uint8_t* end) const {
    for (std::span<const uint8_t> m : _d.mapped)
      if (begin >= m.data() && end <= m.data() + m.size() && begin < end)
        core::MappedFile::releaseResident({begin, size_t(end - begin)});
  }

  /// After a batch was taken: its meshes go, and so do the file pages read for it.
  void cleared() {
    _scene.meshes.clear();
    _scene.instances.clear();
    for (std::span<const uint8_t> m : _d.mapped) releaseMapped(m.data(), m.data() + m.size());
  }

  /// POSITION (and NORMAL) of a primitive under `world`, their shapes checked (values are checked
  /// where they are read).
  Result<VertexSource> vertexSource(const tinygltf::Primitive& prim, const Mat4d& world) const {
    auto it = prim.attributes.find("POSITION");
    if (it == prim.attributes.end()) return malformed("primitive has no POSITION attribute");
    VertexSource src;
    MX_ASSIGN_OR_RETURN(src.pos, AccessorView::make(_d, it->second, "POSITION"));
    if (src.pos.type() != TINYGLTF_TYPE_VEC3) return malformed("POSITION is not VEC3");
    if (src.pos.count() > (size_t(1) << 31)) return malformed("POSITION count is absurd");
    src.world = world;
    const core::Cofactor3 cof = core::cofactor3(world); // normals and winding follow the node transform
    src.normalMatrix = cof.normalMatrix();
    src.mirrored = cof.det < 0;
    if (auto n = prim.attributes.find("NORMAL"); n != prim.attributes.end()) {
      MX_ASSIGN_OR_RETURN(AccessorView nv, AccessorView::make(_d, n->second, "NORMAL"));
      if (nv.type() != TINYGLTF_TYPE_VEC3 || nv.count() != src.pos.count())
        return malformed("NORMAL is not VEC3 of POSITION's count");
      src.normal = nv;
    }
    return src;
  }

  /// The scene feature of a property table row, looked up once per row (cached per table).
  uint32_t rowFeature(size_t table, uint32_t row) {
    uint32_t& f = _rowFeatures[table][row];
    if (f == kNoFeature) f = tableFeature(table, row);
    return f;
  }

  /// Streaming: a large TRIANGLES primitive in parts of whole triangles, each offered when read.
  template <typename NodeFeature>
  Status addSlices(const tinygltf::Primitive& prim, const Mat4d& world, NodeFeature&& featureOfNode) {
    SliceSource s;
    MX_ASSIGN_OR_RETURN(s.vertices, vertexSource(prim, world));
    s.vertexCount = s.vertices.pos.count();
    MX_ASSIGN_OR_RETURN(s.indices, indexView(prim));
    const size_t count = s.indices ? s.indices->count() : s.vertexCount;
    if (count % 3 != 0) return malformed("TRIANGLES index count " + std::to_string(count) + " is not a multiple of 3");
    MX_ASSIGN_OR_RETURN(std::optional<FeatureRows> rows, featureRows(_d, prim, s.vertexCount, _tables));
    MX_ASSIGN_OR_RETURN(std::optional<ColorKeys> colors,
                        colorKeys(_d, prim, s.vertexCount, baseColorFactor(prim.material)));
    s.rows = rows ? &*rows : nullptr;
    s.colors = colors ? &*colors : nullptr;
    s.release = [this](const uint8_t* begin, const uint8_t* end) { releaseMapped(begin, end); };
    auto featureOf = [&](std::optional<uint32_t> row) { return row ? rowFeature(rows->table, *row) : featureOfNode(); };
    const size_t triangles = count / 3;
    for (size_t first = 0; first < triangles; first += _batches->primitives) {
      const size_t last = std::min(triangles, first + _batches->primitives);
      MX_ASSIGN_OR_RETURN(std::vector<SlicePart> parts, readTriangleSlice(s, first, last, featureOf));
      for (SlicePart& part : parts) {
        const uint32_t key = part.color.value_or(0);
        part.mesh.material = part.color
                                 ? materialOf({uint8_t(key), uint8_t(key >> 8), uint8_t(key >> 16), uint8_t(key >> 24)})
                                 : material(prim.material);
        _scene.meshes.push_back(std::move(part.mesh));
      }
      MX_ASSIGN_OR_RETURN(bool taken, _batches->take(_scene, 0));
      if (taken) cleared();
    }
    _pending = 0;
    return Status::ok();
  }

  /// The scene feature of a property table row: one per element id (per row without an element
  /// column), shared by every primitive that names it.
  uint32_t tableFeature(size_t table, uint32_t row) {
    const PropertyTable& t = _tables[table];
    const uint64_t key = t.element.empty() ? (uint64_t(table) << 32 | row) : t.element[row];
    auto [it, added] = _tableFeatures.try_emplace({t.element.empty(), key}, uint32_t(_scene.features.size()));
    if (added) {
      core::Feature f;
      f.elementId = t.element.empty() ? uint64_t(row) + 1 : t.element[row];
      f.modelId = t.model.empty() ? 0 : t.model[row];
      f.subCategoryId = t.subcategory.empty() ? 0 : t.subcategory[row];
      f.className = "glTF:EXT_mesh_features";
      f.label = "feature " + std::to_string(f.elementId);
      _scene.features.push_back(std::move(f));
    }
    return it->second;
  }

  /// A primitive's mesh into the scene: features per vertex (EXT_mesh_features, else the node's),
  /// and with COLOR_0 one mesh per colour (baseColorFactor × the colour of a triangle's first corner).
  template <typename NodeFeature>
  Status addMeshes(const tinygltf::Primitive& prim, PrimitiveMesh&& primitive, NodeFeature&& featureOfNode) {
    core::Mesh& mesh = primitive.mesh;
    const size_t vcount = primitive.vertexCount;
    MX_ASSIGN_OR_RETURN(auto features, readVertexFeatures(_d, prim, vcount, _tables));
    if (features) {
      mesh.featureIds.resize(vcount);
      for (size_t v = 0; v < vcount; ++v) {
        const uint32_t row = features->rows[v];
        mesh.featureIds[v] = row == features->nullId ? featureOfNode() : rowFeature(features->table, row);
      }
    } else {
      mesh.featureIds.assign(vcount, featureOfNode());
    }
    MX_ASSIGN_OR_RETURN(auto colors, readVertexColorKeys(_d, prim, vcount, baseColorFactor(prim.material)));
    if (!colors) {
      mesh.material = material(prim.material);
      _scene.meshes.push_back(std::move(mesh));
      return Status::ok();
    }
    // Triangles grouped by the colour of their first corner, groups in order of first appearance.
    std::unordered_map<uint32_t, size_t> group; // rgba → index into byColor
    std::vector<std::pair<uint32_t, std::vector<uint32_t>>> byColor;
    uint32_t lastKey = 0;
    size_t last = SIZE_MAX;
    for (size_t t = 0; t + 2 < mesh.indices.size(); t += 3) {
      const uint32_t key = (*colors)[mesh.indices[t]];
      if (last == SIZE_MAX || key != lastKey) {
        auto [it, added] = group.try_emplace(key, byColor.size());
        if (added) byColor.emplace_back(key, std::vector<uint32_t>{});
        last = it->second;
        lastKey = key;
      }
      byColor[last].second.push_back(uint32_t(t));
    }
    std::vector<uint32_t> remap(vcount, kNoFeature);
    for (auto& [key, tris] : byColor) {
      _scene.meshes.push_back(
          subMesh(primitive, tris,
                  materialOf({uint8_t(key), uint8_t(key >> 8), uint8_t(key >> 16), uint8_t(key >> 24)}), remap));
      std::vector<uint32_t>().swap(tris);
    }
    return Status::ok();
  }

  /// The triangles `tris` (first index of each) of the primitive with their vertices compacted in
  /// order of first use, gathered from the source. `remap` (one entry per vertex of the
  /// primitive, all kNoFeature) is left as it was found.
  static core::Mesh subMesh(const PrimitiveMesh& p, const std::vector<uint32_t>& tris, uint32_t material,
                            std::vector<uint32_t>& remap) {
    const core::Mesh& mesh = p.mesh;
    core::Mesh out;
    out.material = material;
    out.indices.resize(tris.size() * 3);
    std::vector<uint32_t> order; // the source vertex of each new number
    for (size_t t = 0; t < tris.size(); ++t)
      for (uint32_t k = 0; k < 3; ++k) {
        const uint32_t v = mesh.indices[tris[t] + k];
        uint32_t& r = remap[v];
        if (r == kNoFeature) {
          r = uint32_t(order.size());
          order.push_back(v);
        }
        out.indices[3 * t + k] = r;
      }
    out.positions.resize(order.size());
    out.featureIds.resize(order.size());
    if (p.vertices.normal) out.normals.resize(3 * order.size());
    tbb::parallel_for(size_t(0), order.size(), [&](size_t r) {
      const uint32_t v = order[r];
      out.positions[r] = p.vertices.position(v);
      out.featureIds[r] = mesh.featureIds[v];
      if (p.vertices.normal) p.vertices.unitNormal(v, &out.normals[3 * r]);
    });
    for (uint32_t v : order) remap[v] = kNoFeature;
    return out;
  }

  [[nodiscard]] std::array<double, 4> baseColorFactor(int material) const {
    std::array<double, 4> factor = {1, 1, 1, 1};
    if (material >= 0 && size_t(material) < _m.materials.size()) {
      const auto& f = _m.materials[size_t(material)].pbrMetallicRoughness.baseColorFactor;
      if (f.size() == 4) factor = {f[0], f[1], f[2], f[3]};
    }
    return factor;
  }

  uint32_t materialOf(const core::Material& mat) {
    for (size_t i = 0; i < _scene.materials.size(); ++i)
      if (_scene.materials[i] == mat) return uint32_t(i);
    _scene.materials.push_back(mat);
    return uint32_t(_scene.materials.size() - 1);
  }

  uint32_t material(int index) {
    core::Material mat;
    if (index >= 0 && size_t(index) < _m.materials.size()) {
      const auto& f = _m.materials[size_t(index)].pbrMetallicRoughness.baseColorFactor;
      auto to8 = [](double v) { return uint8_t(std::lround(std::clamp(v, 0.0, 1.0) * 255.0)); };
      if (f.size() == 4) mat = {to8(f[0]), to8(f[1]), to8(f[2]), to8(f[3])};
    }
    return materialOf(mat);
  }

  /// A primitive's triangles, line segments (LINES, LINE_STRIP, LINE_LOOP) or points in world
  /// coordinates (`world` applied); nothing for primitives of another mode (counted) or without
  /// any. Features and the material are set by addMeshes (or the instance, for a shared mesh).
  Result<std::optional<PrimitiveMesh>> primitiveMesh(const tinygltf::Primitive& prim, const Mat4d& world,
                                                     bool withVertices) {
    if (prim.mode < -1 || prim.mode > TINYGLTF_MODE_TRIANGLE_FAN) {
      ++_skippedPrimitives;
      return std::optional<PrimitiveMesh>();
    }
    PrimitiveMesh out;
    MX_ASSIGN_OR_RETURN(out.vertices, vertexSource(prim, world));
    const VertexSource& src = out.vertices;
    const size_t vcount = src.pos.count();
    out.vertexCount = vcount;

    core::Mesh& mesh = out.mesh;
    if (withVertices) mesh.positions.resize(vcount);
    if (const size_t bad = firstFailure(vcount,
                                        [&](size_t i) {
                                          const core::Vec3d p{src.pos.get(i, 0), src.pos.get(i, 1), src.pos.get(i, 2)};
                                          if (withVertices) mesh.positions[i] = core::transformPoint(world, p);
                                          return std::isfinite(p.x) && std::isfinite(p.y) && std::isfinite(p.z);
                                        });
        bad < vcount)
      return malformed("POSITION[" + std::to_string(bad) + "] is NaN or infinite");
    if (src.normal) {
      const AccessorView& nv = *src.normal;
      if (withVertices) mesh.normals.resize(3 * vcount);
      if (const size_t bad = firstFailure(vcount,
                                          [&](size_t i) {
                                            const double x = nv.get(i, 0), y = nv.get(i, 1), z = nv.get(i, 2);
                                            if (!std::isfinite(x) || !std::isfinite(y) || !std::isfinite(z))
                                              return false;
                                            if (withVertices) src.unitNormal(i, &mesh.normals[3 * i]);
                                            return true;
                                          });
          bad < vcount)
        return malformed("NORMAL[" + std::to_string(bad) + "] is NaN or infinite");
    }

    std::vector<uint32_t> raw;
    MX_ASSIGN_OR_RETURN(std::optional<AccessorView> indices, indexView(prim));
    if (indices) {
      const AccessorView& iv = *indices;
      raw.resize(iv.count());
      if (const size_t bad = firstFailure(raw.size(),
                                          [&](size_t i) {
                                            raw[i] = iv.getIndex(i);
                                            return raw[i] < vcount;
                                          });
          bad < raw.size())
        return malformed("index " + std::to_string(bad) + " = " + std::to_string(raw[bad]) + " is out of range (" +
                         std::to_string(vcount) + " vertices)");
    } else {
      raw.resize(vcount);
      for (size_t i = 0; i < vcount; ++i) raw[i] = uint32_t(i);
    }
    const bool mirrored = src.mirrored;
    if (prim.mode == TINYGLTF_MODE_TRIANGLES || prim.mode == -1) mesh.indices.reserve(raw.size());
    auto emit = [&](uint32_t a, uint32_t b, uint32_t c) {
      if (mirrored) std::swap(b, c); // keep counter-clockwise front faces after a mirroring transform
      mesh.indices.insert(mesh.indices.end(), {a, b, c});
    };
    if (prim.mode == TINYGLTF_MODE_TRIANGLE_STRIP) {
      for (size_t i = 0; i + 2 < raw.size(); ++i)
        (i % 2 == 0) ? emit(raw[i], raw[i + 1], raw[i + 2]) : emit(raw[i + 1], raw[i], raw[i + 2]);
    } else if (prim.mode == TINYGLTF_MODE_TRIANGLE_FAN) {
      for (size_t i = 1; i + 1 < raw.size(); ++i) emit(raw[0], raw[i], raw[i + 1]);
    } else if (prim.mode == TINYGLTF_MODE_POINTS) {
      mesh.points = std::move(raw);
    } else if (prim.mode == TINYGLTF_MODE_LINE) {
      if (raw.size() % 2 != 0)
        return malformed("LINES index count " + std::to_string(raw.size()) + " is not a multiple of 2");
      mesh.lines = std::move(raw);
    } else if (prim.mode == TINYGLTF_MODE_LINE_STRIP || prim.mode == TINYGLTF_MODE_LINE_LOOP) {
      for (size_t i = 0; i + 1 < raw.size(); ++i) mesh.lines.insert(mesh.lines.end(), {raw[i], raw[i + 1]});
      if (prim.mode == TINYGLTF_MODE_LINE_LOOP && raw.size() > 2)
        mesh.lines.insert(mesh.lines.end(), {raw.back(), raw[0]});
    } else {
      if (raw.size() % 3 != 0)
        return malformed("TRIANGLES index count " + std::to_string(raw.size()) + " is not a multiple of 3");
      for (size_t i = 0; i < raw.size(); i += 3) emit(raw[i], raw[i + 1], raw[i + 2]);
    }
    if (mesh.indices.empty() && mesh.lines.empty() && mesh.points.empty()) return std::optional<PrimitiveMesh>();
    if (withVertices) mesh.featureIds.assign(vcount, 0); // set by addMeshes
    return std::optional<PrimitiveMesh>(std::move(out));
  }

  static constexpr uint32_t kNoFeature = UINT32_MAX;
  const Document& _d;
  const tinygltf::Model& _m;
  Scene _scene;
  std::vector<uint32_t> _uses;                                       ///< Per glTF mesh: how many nodes use it.
  std::map<std::pair<int, size_t>, std::optional<uint32_t>> _shared; ///< (mesh, primitive) → shared mesh
  std::set<int> _onPath;
  std::vector<PropertyTable> _tables;                           ///< EXT_structural_metadata
  std::map<std::pair<bool, uint64_t>, uint32_t> _tableFeatures; ///< (no element column, key) → feature
  std::vector<std::vector<uint32_t>> _rowFeatures;              ///< per table: row → feature (cache)
  size_t _skippedPrimitives = 0;
  core::SceneBatches* _batches = nullptr;
  size_t _pending = 0;     ///< Primitives added since the scene was last offered.
  bool _streaming = false; ///< The scene was taken once: large primitives are read in parts.
};

Result<Scene> readDocument(std::span<const uint8_t> bytes, bool binary, const std::string& baseDir,
                           core::SceneBatches* batches, bool bytesMapped) {
  MX_ASSIGN_OR_RETURN(std::unique_ptr<Document> doc, loadDocument(bytes, binary, baseDir));
  if (bytesMapped) doc->mapped.push_back(bytes);
  return GltfSceneBuilder(*doc, batches).build();
}

} // namespace

Result<Scene> readGltfFromMemory(std::span<const uint8_t> bytes, bool binary, const std::string& baseDir,
                                 core::SceneBatches* batches) {
  return readDocument(bytes, binary, baseDir, batches, false);
}

Result<Scene> readGltf(const std::filesystem::path& path, core::SceneBatches* batches) {
  auto file = core::MappedFile::open(path);
  if (!file) return file.status();
  if (file->size() > (uint64_t(4) << 30)) return malformed(path.string() + " is larger than 4 GiB");
  file->adviseSequential();
  const std::span<const uint8_t> bytes = file->bytes();
  std::string ext = path.extension().string();
  for (auto& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  bool binary = ext == ".glb";
  if (ext != ".glb" && ext != ".gltf") binary = bytes.size() >= 4 && std::memcmp(bytes.data(), "glTF", 4) == 0;
  const std::string base = path.parent_path().empty() ? "." : path.parent_path().string();
  auto result = readDocument(bytes, binary, base, batches, true);
  if (!result) {
    core::Status s = result.status();
    return s.withContext(path.string());
  }
  return result;
}

} // namespace mx::io
