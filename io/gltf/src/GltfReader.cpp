// Every accessor is bounds-checked against its bufferView and buffer before a byte is read, so a
// hostile file can make the reader return an error but never read out of bounds.
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

namespace mx::io {

using core::ErrorCode;
using core::Mat4d;
using core::Result;
using core::Scene;
using core::Status;

namespace {

constexpr int kMaxNodeDepth = 256;

Status malformed(std::string msg) { return {ErrorCode::MalformedInput, std::move(msg)}; }

/// A checked view of an accessor: element i, component c as double (normalized when asked).
class AccessorView {
public:
  static Result<AccessorView> make(const tinygltf::Model& m, int index, const std::string& what) {
    if (index < 0 || size_t(index) >= m.accessors.size())
      return malformed(what + ": accessor " + std::to_string(index) + " does not exist");
    const tinygltf::Accessor& a = m.accessors[size_t(index)];
    const std::string name = what + " (accessor " + std::to_string(index) + ")";
    if (a.sparse.isSparse) return Status{ErrorCode::UnsupportedInput, name + ": sparse accessors are not supported"};
    AccessorView v;
    v._accessor = &a;
    v._components = tinygltf::GetNumComponentsInType(uint32_t(a.type));
    v._componentSize = tinygltf::GetComponentSizeInBytes(uint32_t(a.componentType));
    if (v._components <= 0 || v._componentSize <= 0) return malformed(name + ": bad type or componentType");
    if (a.count == 0) return v;
    if (a.bufferView < 0 || size_t(a.bufferView) >= m.bufferViews.size())
      return malformed(name + ": bufferView " + std::to_string(a.bufferView) + " does not exist");
    const tinygltf::BufferView& bv = m.bufferViews[size_t(a.bufferView)];
    if (bv.buffer < 0 || size_t(bv.buffer) >= m.buffers.size())
      return malformed(name + ": buffer " + std::to_string(bv.buffer) + " does not exist");
    const tinygltf::Buffer& buf = m.buffers[size_t(bv.buffer)];
    const size_t elementSize = size_t(v._components) * size_t(v._componentSize);
    v._stride = bv.byteStride ? bv.byteStride : elementSize;
    if (v._stride < elementSize) return malformed(name + ": byteStride smaller than an element");
    const size_t need = a.byteOffset + v._stride * (a.count - 1) + elementSize;
    if (bv.byteOffset > buf.data.size() || bv.byteLength > buf.data.size() - bv.byteOffset)
      return malformed(name + ": bufferView exceeds its buffer (buffer missing or truncated?)");
    if (need > bv.byteLength) return malformed(name + ": accessor exceeds its bufferView");
    v._data = buf.data.data() + bv.byteOffset + a.byteOffset;
    return v;
  }

  [[nodiscard]] size_t count() const { return _accessor->count; }
  [[nodiscard]] int components() const { return _components; }
  [[nodiscard]] int type() const { return _accessor->type; }
  [[nodiscard]] int componentType() const { return _accessor->componentType; }

  [[nodiscard]] double get(size_t i, int c) const {
    const uint8_t* p = _data + i * _stride + size_t(c) * size_t(_componentSize);
    const bool norm = _accessor->normalized;
    switch (_accessor->componentType) {
    case TINYGLTF_COMPONENT_TYPE_FLOAT: { float f; std::memcpy(&f, p, 4); return f; }
    case TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE: return norm ? p[0] / 255.0 : p[0];
    case TINYGLTF_COMPONENT_TYPE_BYTE: { int8_t s; std::memcpy(&s, p, 1); return norm ? std::max(s / 127.0, -1.0) : s; }
    case TINYGLTF_COMPONENT_TYPE_UNSIGNED_SHORT: { uint16_t s; std::memcpy(&s, p, 2); return norm ? s / 65535.0 : s; }
    case TINYGLTF_COMPONENT_TYPE_SHORT: { int16_t s; std::memcpy(&s, p, 2); return norm ? std::max(s / 32767.0, -1.0) : s; }
    case TINYGLTF_COMPONENT_TYPE_UNSIGNED_INT: { uint32_t s; std::memcpy(&s, p, 4); return s; }
    default: return 0;
    }
  }
  [[nodiscard]] uint32_t getIndex(size_t i) const {
    const uint8_t* p = _data + i * _stride;
    switch (_accessor->componentType) {
    case TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE: return p[0];
    case TINYGLTF_COMPONENT_TYPE_UNSIGNED_SHORT: { uint16_t s; std::memcpy(&s, p, 2); return s; }
    default: { uint32_t s; std::memcpy(&s, p, 4); return s; }
    }
  }

private:
  const tinygltf::Accessor* _accessor = nullptr;
  const uint8_t* _data = nullptr;
  size_t _stride = 0;
  int _components = 0;
  int _componentSize = 0;
};

Mat4d localMatrix(const tinygltf::Node& n) {
  if (n.matrix.size() == 16) {
    Mat4d m;
    for (int i = 0; i < 16; ++i) m[size_t(i)] = n.matrix[size_t(i)];
    return m;
  }
  const double tx = n.translation.size() == 3 ? n.translation[0] : 0;
  const double ty = n.translation.size() == 3 ? n.translation[1] : 0;
  const double tz = n.translation.size() == 3 ? n.translation[2] : 0;
  double qx = 0, qy = 0, qz = 0, qw = 1;
  if (n.rotation.size() == 4) { qx = n.rotation[0]; qy = n.rotation[1]; qz = n.rotation[2]; qw = n.rotation[3]; }
  const double sx = n.scale.size() == 3 ? n.scale[0] : 1;
  const double sy = n.scale.size() == 3 ? n.scale[1] : 1;
  const double sz = n.scale.size() == 3 ? n.scale[2] : 1;
  // Column-major T * R * S.
  return {(1 - 2 * (qy * qy + qz * qz)) * sx, (2 * (qx * qy + qz * qw)) * sx, (2 * (qx * qz - qy * qw)) * sx, 0,
          (2 * (qx * qy - qz * qw)) * sy, (1 - 2 * (qx * qx + qz * qz)) * sy, (2 * (qy * qz + qx * qw)) * sy, 0,
          (2 * (qx * qz + qy * qw)) * sz, (2 * (qy * qz - qx * qw)) * sz, (1 - 2 * (qx * qx + qy * qy)) * sz, 0,
          tx, ty, tz, 1};
}

/// glTF y-up → scene z-up: (x, y, z) → (x, -z, y).
constexpr Mat4d kYUpToZUp = {1, 0, 0, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 0, 0, 1};

bool finite(const Mat4d& m) {
  for (double v : m)
    if (!std::isfinite(v)) return false;
  return true;
}

class SceneBuilder {
public:
  explicit SceneBuilder(const tinygltf::Model& model) : _m(model) {}

  Result<Scene> build() {
    for (const std::string& ext : _m.extensionsRequired) {
      // Geometry we read as it is (KHR_mesh_quantization), and extensions that only change
      // textures or materials, which tiling ignores (the base colour factor is kept). Anything
      // else may change geometry we would misread (Draco, meshopt input): refused by name.
      static const std::set<std::string> kReadable = {"KHR_mesh_quantization", "KHR_texture_transform",
                                                      "KHR_texture_basisu", "EXT_texture_webp", "EXT_texture_avif",
                                                      "KHR_materials_variants"};
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
    _uses.assign(_m.meshes.size(), 0);
    for (const auto& n : _m.nodes)
      if (n.mesh >= 0 && size_t(n.mesh) < _uses.size()) ++_uses[size_t(n.mesh)];
    for (int r : roots) MX_RETURN_IF_ERROR(visit(r, kYUpToZUp, 0));
    Result<Scene> result(std::move(_scene));
    if (_skippedPrimitives > 0)
      result.warnings().push_back(std::to_string(_skippedPrimitives) +
                                  " point/line primitive(s) skipped: only triangles are tiled");
    return result;
  }

private:
  Status visit(int index, const Mat4d& parent, int depth) {
    if (index < 0 || size_t(index) >= _m.nodes.size())
      return malformed("node " + std::to_string(index) + " does not exist");
    if (depth > kMaxNodeDepth || !_onPath.insert(index).second)
      return malformed("node " + std::to_string(index) + ": node hierarchy has a cycle or is deeper than " + std::to_string(kMaxNodeDepth));
    const tinygltf::Node& node = _m.nodes[size_t(index)];
    const Mat4d world = core::multiply(parent, localMatrix(node));
    if (!finite(world)) return malformed("node " + std::to_string(index) + ": transform is not finite");
    if (node.mesh >= 0) {
      if (size_t(node.mesh) >= _m.meshes.size()) return malformed("node " + std::to_string(index) + ": mesh " + std::to_string(node.mesh) + " does not exist");
      core::Feature f;
      f.elementId = uint64_t(index) + 1;
      f.className = "glTF:Node";
      f.label = node.name.empty() ? "node " + std::to_string(index) : node.name;
      _scene.features.push_back(std::move(f));
      const uint32_t feature = uint32_t(_scene.features.size() - 1);
      const auto& mesh = _m.meshes[size_t(node.mesh)];
      // A mesh several nodes use is read once, in its own coordinates, and placed by instances.
      const bool shared = _uses[size_t(node.mesh)] > 1;
      for (size_t p = 0; p < mesh.primitives.size(); ++p) {
        auto context = [&] { return "node " + std::to_string(index) + " mesh " + std::to_string(node.mesh) + " primitive " + std::to_string(p); };
        if (shared) {
          auto [it, added] = _shared.try_emplace({node.mesh, p}, std::nullopt);
          if (added) {
            auto m = primitiveMesh(mesh.primitives[p], core::identityMatrix(), 0);
            if (!m) return Status(m.status()).withContext(context());
            if (*m) {
              (*m)->featureIds.clear();
              _scene.sharedMeshes.push_back(std::move(**m));
              it->second = uint32_t(_scene.sharedMeshes.size() - 1);
            }
          }
          if (it->second) _scene.instances.push_back({*it->second, world, feature, material(mesh.primitives[p].material)});
          continue;
        }
        auto m = primitiveMesh(mesh.primitives[p], world, feature);
        if (!m) return Status(m.status()).withContext(context());
        if (*m) _scene.meshes.push_back(std::move(**m));
      }
    }
    for (int c : node.children) MX_RETURN_IF_ERROR(visit(c, world, depth + 1));
    _onPath.erase(index);
    return Status::ok();
  }

  uint32_t material(int index) {
    core::Material mat;
    if (index >= 0 && size_t(index) < _m.materials.size()) {
      const auto& f = _m.materials[size_t(index)].pbrMetallicRoughness.baseColorFactor;
      auto to8 = [](double v) { return uint8_t(std::lround(std::clamp(v, 0.0, 1.0) * 255.0)); };
      if (f.size() == 4) mat = {to8(f[0]), to8(f[1]), to8(f[2]), to8(f[3])};
    }
    for (size_t i = 0; i < _scene.materials.size(); ++i)
      if (_scene.materials[i] == mat) return uint32_t(i);
    _scene.materials.push_back(mat);
    return uint32_t(_scene.materials.size() - 1);
  }

  /// A primitive's triangles in world coordinates (`world` applied); nothing for point and line
  /// primitives (counted) and primitives without triangles.
  Result<std::optional<core::Mesh>> primitiveMesh(const tinygltf::Primitive& prim, const Mat4d& world, uint32_t feature) {
    if (prim.mode != TINYGLTF_MODE_TRIANGLES && prim.mode != TINYGLTF_MODE_TRIANGLE_STRIP &&
        prim.mode != TINYGLTF_MODE_TRIANGLE_FAN && prim.mode != -1) {
      ++_skippedPrimitives;
      return std::optional<core::Mesh>();
    }
    if (prim.extensions.count("KHR_draco_mesh_compression"))
      return Status{ErrorCode::UnsupportedInput, "Draco-compressed primitives are not supported"};
    auto it = prim.attributes.find("POSITION");
    if (it == prim.attributes.end()) return malformed("primitive has no POSITION attribute");
    MX_ASSIGN_OR_RETURN(AccessorView pos, AccessorView::make(_m, it->second, "POSITION"));
    if (pos.type() != TINYGLTF_TYPE_VEC3) return malformed("POSITION is not VEC3");
    const size_t vcount = pos.count();
    if (vcount > (size_t(1) << 31)) return malformed("POSITION count is absurd");

    core::Mesh mesh;
    const core::Cofactor3 cof = core::cofactor3(world); // normals and winding follow the node transform
    mesh.material = material(prim.material);
    mesh.positions.resize(vcount);
    for (size_t i = 0; i < vcount; ++i) {
      const core::Vec3d p{pos.get(i, 0), pos.get(i, 1), pos.get(i, 2)};
      if (!std::isfinite(p.x) || !std::isfinite(p.y) || !std::isfinite(p.z))
        return malformed("POSITION[" + std::to_string(i) + "] is NaN or infinite");
      mesh.positions[i] = core::transformPoint(world, p);
    }
    if (auto n = prim.attributes.find("NORMAL"); n != prim.attributes.end()) {
      MX_ASSIGN_OR_RETURN(AccessorView nv, AccessorView::make(_m, n->second, "NORMAL"));
      if (nv.type() != TINYGLTF_TYPE_VEC3 || nv.count() != vcount) return malformed("NORMAL is not VEC3 of POSITION's count");
      // Normal matrix: inverse transpose of the upper 3x3 (the cofactor matrix without the sign of
      // the determinant; its scale is removed by normalising).
      const auto c = cof.normalMatrix();
      mesh.normals.resize(3 * vcount);
      for (size_t i = 0; i < vcount; ++i) {
        const double x = nv.get(i, 0), y = nv.get(i, 1), z = nv.get(i, 2);
        if (!std::isfinite(x) || !std::isfinite(y) || !std::isfinite(z))
          return malformed("NORMAL[" + std::to_string(i) + "] is NaN or infinite");
        double r[3] = {c[0] * x + c[1] * y + c[2] * z, c[3] * x + c[4] * y + c[5] * z, c[6] * x + c[7] * y + c[8] * z};
        const double len = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
        for (int k = 0; k < 3; ++k) mesh.normals[3 * i + size_t(k)] = len > 0 ? float(r[k] / len) : (k == 2 ? 1.0f : 0.0f);
      }
    }

    std::vector<uint32_t> raw;
    if (prim.indices >= 0) {
      MX_ASSIGN_OR_RETURN(AccessorView iv, AccessorView::make(_m, prim.indices, "indices"));
      if (iv.type() != TINYGLTF_TYPE_SCALAR ||
          (iv.componentType() != TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE && iv.componentType() != TINYGLTF_COMPONENT_TYPE_UNSIGNED_SHORT &&
           iv.componentType() != TINYGLTF_COMPONENT_TYPE_UNSIGNED_INT))
        return malformed("indices must be SCALAR unsigned byte, short or int");
      raw.resize(iv.count());
      for (size_t i = 0; i < raw.size(); ++i) {
        raw[i] = iv.getIndex(i);
        if (raw[i] >= vcount)
          return malformed("index " + std::to_string(i) + " = " + std::to_string(raw[i]) + " is out of range (" + std::to_string(vcount) + " vertices)");
      }
    } else {
      raw.resize(vcount);
      for (size_t i = 0; i < vcount; ++i) raw[i] = uint32_t(i);
    }
    const bool mirrored = cof.det < 0;
    auto emit = [&](uint32_t a, uint32_t b, uint32_t c) {
      if (mirrored) std::swap(b, c); // keep counter-clockwise front faces after a mirroring transform
      mesh.indices.insert(mesh.indices.end(), {a, b, c});
    };
    if (prim.mode == TINYGLTF_MODE_TRIANGLE_STRIP) {
      for (size_t i = 0; i + 2 < raw.size(); ++i)
        (i % 2 == 0) ? emit(raw[i], raw[i + 1], raw[i + 2]) : emit(raw[i + 1], raw[i], raw[i + 2]);
    } else if (prim.mode == TINYGLTF_MODE_TRIANGLE_FAN) {
      for (size_t i = 1; i + 1 < raw.size(); ++i) emit(raw[0], raw[i], raw[i + 1]);
    } else {
      if (raw.size() % 3 != 0) return malformed("TRIANGLES index count " + std::to_string(raw.size()) + " is not a multiple of 3");
      for (size_t i = 0; i < raw.size(); i += 3) emit(raw[i], raw[i + 1], raw[i + 2]);
    }
    if (mesh.indices.empty()) return std::optional<core::Mesh>();
    mesh.featureIds.assign(vcount, feature);
    return std::optional<core::Mesh>(std::move(mesh));
  }

  const tinygltf::Model& _m;
  Scene _scene;
  std::vector<uint32_t> _uses;  ///< Per glTF mesh: how many nodes use it.
  std::map<std::pair<int, size_t>, std::optional<uint32_t>> _shared; ///< (mesh, primitive) → shared mesh
  std::set<int> _onPath;
  size_t _skippedPrimitives = 0;
};

bool skipImage(tinygltf::Image*, const int, std::string*, std::string*, int, int, const unsigned char*, int, void*) {
  return true; // textures are not tiled; never decode them
}

Result<Scene> fromModel(bool ok, const tinygltf::Model& model, const std::string& err) {
  if (!ok) return malformed("glTF could not be parsed: " + (err.empty() ? std::string("unknown error") : err));
  return SceneBuilder(model).build();
}

} // namespace

Result<Scene> readGltfFromMemory(std::span<const uint8_t> bytes, bool binary, const std::string& baseDir) {
  tinygltf::TinyGLTF loader;
  loader.SetImageLoader(&skipImage, nullptr);
  tinygltf::Model model;
  std::string err, warn;
  bool ok;
  if (binary) {
    if (bytes.size() < 20) return malformed("glb is truncated: " + std::to_string(bytes.size()) + " bytes");
    ok = loader.LoadBinaryFromMemory(&model, &err, &warn, bytes.data(), unsigned(bytes.size()), baseDir);
  } else {
    ok = loader.LoadASCIIFromString(&model, &err, &warn, reinterpret_cast<const char*>(bytes.data()),
                                    unsigned(bytes.size()), baseDir);
  }
  return fromModel(ok, model, err);
}

Result<Scene> readGltf(const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status{ErrorCode::IoError, "cannot read " + path.string() + ": " + ec.message()};
  if (size > (uint64_t(4) << 30)) return malformed(path.string() + " is larger than 4 GiB");
  std::vector<uint8_t> bytes(size);
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(size)))
    return Status{ErrorCode::IoError, "cannot read " + path.string()};
  std::string ext = path.extension().string();
  for (auto& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  bool binary = ext == ".glb";
  if (ext != ".glb" && ext != ".gltf") binary = size >= 4 && std::memcmp(bytes.data(), "glTF", 4) == 0;
  const std::string base = path.parent_path().empty() ? "." : path.parent_path().string();
  auto result = readGltfFromMemory(bytes, binary, base);
  if (!result) {
    core::Status s = result.status();
    return s.withContext(path.string());
  }
  return result;
}

} // namespace mx::io
