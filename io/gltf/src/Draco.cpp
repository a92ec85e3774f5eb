#include "Draco.h"

#include "Accessor.h"

#include <draco/compression/decode.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <set>

namespace mx::io::gltf {

namespace {

constexpr const char* kDraco = "KHR_draco_mesh_compression";

/// Writes `count` values of `attribute` (point i's value in element i) as `T`, `components` each.
template <typename T> bool convert(const draco::PointAttribute& attribute, size_t count, int components, uint8_t* out) {
  std::vector<T> value;
  value.resize(size_t(components));
  for (size_t i = 0; i < count; ++i) {
    const draco::AttributeValueIndex v = attribute.mapped_index(draco::PointIndex(uint32_t(i)));
    if (v.value() >= attribute.size() || !attribute.ConvertValue<T>(v, int8_t(components), value.data())) return false;
    std::memcpy(out + i * sizeof(T) * size_t(components), value.data(), sizeof(T) * size_t(components));
  }
  return true;
}

bool convertAs(int componentType, const draco::PointAttribute& attribute, size_t count, int components, uint8_t* out) {
  switch (componentType) {
  case TINYGLTF_COMPONENT_TYPE_FLOAT:
    return convert<float>(attribute, count, components, out);
  case TINYGLTF_COMPONENT_TYPE_BYTE:
    return convert<int8_t>(attribute, count, components, out);
  case TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE:
    return convert<uint8_t>(attribute, count, components, out);
  case TINYGLTF_COMPONENT_TYPE_SHORT:
    return convert<int16_t>(attribute, count, components, out);
  case TINYGLTF_COMPONENT_TYPE_UNSIGNED_SHORT:
    return convert<uint16_t>(attribute, count, components, out);
  case TINYGLTF_COMPONENT_TYPE_UNSIGNED_INT:
    return convert<uint32_t>(attribute, count, components, out);
  default:
    return false;
  }
}

/// Points accessor `index` at `bytes` (a new decoded buffer and bufferView of its own) holding
/// `count` elements of `componentType`. An accessor another Draco primitive already rewrote is
/// copied first, so each keeps its own data and count.
int placeAccessor(Document& doc, int index, std::vector<uint8_t> bytes, size_t count, int componentType,
                  std::set<int>& rewritten) {
  tinygltf::Model& m = doc.model;
  if (!rewritten.insert(index).second) {
    tinygltf::Accessor copy = m.accessors[size_t(index)];
    m.accessors.push_back(std::move(copy));
    index = int(m.accessors.size() - 1);
    rewritten.insert(index);
  }
  tinygltf::BufferView view;
  view.buffer = int(doc.buffers.size());
  view.byteOffset = 0;
  view.byteLength = bytes.size();
  const std::vector<uint8_t>& stored = doc.decoded.emplace_back(std::move(bytes));
  doc.buffers.push_back(stored);
  m.bufferViews.push_back(view);
  tinygltf::Accessor& a = m.accessors[size_t(index)];
  a.bufferView = int(m.bufferViews.size() - 1);
  a.byteOffset = 0;
  a.count = count; // the Draco data's own count (see expandDraco)
  a.componentType = componentType;
  return index;
}

Status expandPrimitive(Document& doc, tinygltf::Primitive& prim, std::set<int>& rewritten, const std::string& what) {
  const tinygltf::Value& ext = prim.extensions.at(kDraco);
  if (!ext.IsObject() || !ext.Get("bufferView").IsInt() || !ext.Get("attributes").IsObject())
    return malformed(what + ": " + kDraco + " needs a bufferView and attributes");
  if (prim.mode != -1 && prim.mode != TINYGLTF_MODE_TRIANGLES)
    return Status{ErrorCode::UnsupportedInput, what + ": Draco data with mode " + std::to_string(prim.mode)};
  const int viewIndex = ext.Get("bufferView").GetNumberAsInt();
  const std::span<const uint8_t> data = bufferViewBytes(doc, viewIndex);
  if (data.empty())
    return malformed(what + ": Draco bufferView " + std::to_string(viewIndex) +
                     " is missing, empty or outside its buffer");
  draco::DecoderBuffer buffer;
  buffer.Init(reinterpret_cast<const char*>(data.data()), data.size());
  auto type = draco::Decoder::GetEncodedGeometryType(&buffer);
  if (!type.ok()) return malformed(what + ": Draco data could not be read: " + type.status().error_msg_string());
  if (type.value() != draco::TRIANGULAR_MESH)
    return Status{ErrorCode::UnsupportedInput, what + ": Draco point clouds are not supported"};
  draco::Decoder decoder;
  auto decoded = decoder.DecodeMeshFromBuffer(&buffer);
  if (!decoded.ok())
    return malformed(what + ": Draco data could not be decoded: " + decoded.status().error_msg_string());
  const std::unique_ptr<draco::Mesh> mesh = std::move(decoded).value();
  const size_t points = mesh->num_points();

  // Indices: the faces, as uint32.
  if (prim.indices >= 0) {
    if (size_t(prim.indices) >= doc.model.accessors.size())
      return malformed(what + ": indices accessor " + std::to_string(prim.indices) + " does not exist");
    const size_t count = size_t(mesh->num_faces()) * 3;
    std::vector<uint8_t> bytes(count * 4);
    for (draco::FaceIndex f(0); f < mesh->num_faces(); ++f)
      for (int k = 0; k < 3; ++k) {
        const uint32_t v = mesh->face(f)[size_t(k)].value();
        std::memcpy(bytes.data() + (size_t(f.value()) * 3 + size_t(k)) * 4, &v, 4);
      }
    prim.indices =
        placeAccessor(doc, prim.indices, std::move(bytes), count, TINYGLTF_COMPONENT_TYPE_UNSIGNED_INT, rewritten);
  }
  // Attributes the extension maps, each in the form its accessor declares.
  const tinygltf::Value& attributes = ext.Get("attributes");
  for (const std::string& name : attributes.Keys()) {
    const tinygltf::Value& id = attributes.Get(name);
    auto it = prim.attributes.find(name);
    if (!id.IsInt() || id.GetNumberAsInt() < 0 || it == prim.attributes.end())
      return malformed(what + ": Draco attribute " + name + " has no id or no accessor");
    const draco::PointAttribute* attribute = mesh->GetAttributeByUniqueId(uint32_t(id.GetNumberAsInt()));
    if (attribute == nullptr)
      return malformed(what + ": the Draco data has no attribute " + std::to_string(id.GetNumberAsInt()) + " (" + name +
                       ")");
    if (it->second < 0 || size_t(it->second) >= doc.model.accessors.size())
      return malformed(what + ": " + name + " accessor " + std::to_string(it->second) + " does not exist");
    const tinygltf::Accessor& a = doc.model.accessors[size_t(it->second)];
    const int componentType = a.componentType;
    const int components = tinygltf::GetNumComponentsInType(uint32_t(a.type));
    const int size = tinygltf::GetComponentSizeInBytes(uint32_t(componentType));
    if (components <= 0 || size <= 0) return malformed(what + ": " + name + " accessor has a bad type");
    std::vector<uint8_t> bytes(points * size_t(components) * size_t(size));
    if (!convertAs(componentType, *attribute, points, components, bytes.data()))
      return malformed(what + ": Draco attribute " + name + " does not convert to its accessor's type");
    it->second = placeAccessor(doc, it->second, std::move(bytes), points, componentType, rewritten);
  }
  prim.extensions.erase(kDraco);
  return Status::ok();
}

} // namespace

void standInDracoViews(nlohmann::json& gltf) {
  auto meshes = gltf.find("meshes");
  auto accessors = gltf.find("accessors");
  if (meshes == gltf.end() || !meshes->is_array() || accessors == gltf.end() || !accessors->is_array()) return;
  auto standIn = [&](const nlohmann::json& index, const nlohmann::json& view) {
    if (!index.is_number_unsigned() || index.get<size_t>() >= accessors->size()) return; // reported by tinygltf
    nlohmann::json& a = (*accessors)[index.get<size_t>()];
    if (a.is_object() && !a.contains("bufferView")) a["bufferView"] = view;
  };
  for (const auto& mesh : *meshes) {
    if (!mesh.is_object() || !mesh.contains("primitives") || !mesh["primitives"].is_array()) continue;
    for (const auto& prim : mesh["primitives"]) {
      if (!prim.is_object() || !prim.contains("extensions") || !prim["extensions"].is_object()) continue;
      auto ext = prim["extensions"].find(kDraco);
      if (ext == prim["extensions"].end() || !ext->is_object() || !ext->contains("bufferView")) continue;
      const nlohmann::json& view = (*ext)["bufferView"];
      if (prim.contains("indices")) standIn(prim["indices"], view);
      if (prim.contains("attributes") && prim["attributes"].is_object())
        for (const auto& [name, index] : prim["attributes"].items()) standIn(index, view);
    }
  }
}

Status expandDraco(Document& doc) {
  std::set<int> rewritten; // accessors that already hold a primitive's decoded data
  for (size_t mi = 0; mi < doc.model.meshes.size(); ++mi) {
    auto& prims = doc.model.meshes[mi].primitives;
    for (size_t p = 0; p < prims.size(); ++p)
      if (prims[p].extensions.count(kDraco))
        MX_RETURN_IF_ERROR(expandPrimitive(doc, prims[p], rewritten,
                                           "mesh " + std::to_string(mi) + " primitive " + std::to_string(p)));
  }
  auto& required = doc.model.extensionsRequired;
  required.erase(std::remove(required.begin(), required.end(), kDraco), required.end());
  return Status::ok();
}

} // namespace mx::io::gltf
