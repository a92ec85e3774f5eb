// The glb half of the validator: container, glTF JSON and every accessor of one content file,
// read with nlohmann::json and raw byte access (meshopt-compressed views are decoded first).
#include "GlbFormat.h"
#include "ValidatorCommon.h"

#include <mx/io/GlbValidator.h>

#include <meshoptimizer.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>

namespace mx::io {

using core::Mat4d;
using nlohmann::json;
using namespace check;

namespace {

uint32_t readU32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

int componentSize(int type) {
  switch (type) {
  case glb::kByte:
  case glb::kUnsignedByte:
    return 1;
  case glb::kShort:
  case glb::kUnsignedShort:
    return 2;
  case glb::kUnsignedInt:
  case glb::kFloat:
    return 4;
  default:
    return 0;
  }
}

int componentCount(const std::string& type) {
  if (type == "SCALAR") return 1;
  if (type == "VEC2") return 2;
  if (type == "VEC3") return 3;
  if (type == "VEC4") return 4;
  if (type == "MAT4") return 16;
  return 0;
}

/// glb checks; the resolved bytes of every bufferView (decoded when meshopt-compressed).
class GlbChecker {
public:
  GlbChecker(std::span<const uint8_t> bytes, std::string name, std::vector<std::string>& errors,
             std::optional<uint64_t> batchLength)
      : _bytes(bytes), _name(std::move(name)), _errors(errors), _batchLength(batchLength) {}

  bool run(double bounds[6], uint64_t& triangles) {
    if (!container()) return false;
    if (!buffersAndViews()) return false;
    if (!extensionsDeclared()) return false;
    Bounds local;
    const json& meshes = _doc.value("meshes", json::array());
    triangles = 0;
    for (size_t m = 0; m < meshes.size(); ++m) {
      for (const json& prim : meshes[m].value("primitives", json::array())) {
        if (!primitive(prim, triangles)) return false;
      }
    }
    // Content bounds in the glTF scene frame: each mesh node's transform applied to its
    // POSITION min/max box.
    const json& nodes = _doc.value("nodes", json::array());
    for (size_t n = 0; n < nodes.size(); ++n) {
      const json& node = nodes[n];
      if (!node.contains("mesh")) continue;
      if (node.contains("children") && !node["children"].empty())
        return fail("node " + std::to_string(n) + ": nested nodes are not expected");
      Mat4d m = core::identityMatrix();
      if (node.contains("matrix")) {
        if (!numberArray(node["matrix"], 16)) return fail("node matrix must be 16 numbers");
        for (int i = 0; i < 16; ++i) m[size_t(i)] = node["matrix"][i].get<double>();
      } else {
        if (node.contains("rotation")) return fail("node rotation is not expected");
        if (node.contains("scale")) {
          if (!numberArray(node["scale"], 3)) return fail("node scale must be 3 numbers");
          for (int a = 0; a < 3; ++a) m[size_t(a * 5)] = node["scale"][a].get<double>();
        }
        if (node.contains("translation")) {
          if (!numberArray(node["translation"], 3)) return fail("node translation must be 3 numbers");
          for (int a = 0; a < 3; ++a) m[size_t(12 + a)] = node["translation"][a].get<double>();
        }
      }
      const size_t mesh = node["mesh"].get<size_t>();
      if (mesh >= meshes.size()) return fail("node mesh index out of range");
      for (const json& prim : meshes[mesh]["primitives"]) {
        const json& acc = _doc["accessors"][prim["attributes"]["POSITION"].get<size_t>()];
        Bounds b;
        b.extend(acc["min"][0].get<double>(), acc["min"][1].get<double>(), acc["min"][2].get<double>());
        b.extend(acc["max"][0].get<double>(), acc["max"][1].get<double>(), acc["max"][2].get<double>());
        const Bounds t = transformBounds(m, b);
        local.extend(t.min[0], t.min[1], t.min[2]);
        local.extend(t.max[0], t.max[1], t.max[2]);
      }
    }
    for (int a = 0; a < 3; ++a) {
      bounds[a] = local.min[a];
      bounds[3 + a] = local.max[a];
    }
    return true;
  }

private:
  bool fail(const std::string& msg) {
    _errors.push_back(_name + ": " + msg);
    return false;
  }

  bool container() {
    if (_bytes.size() < 20) return fail("shorter than a glb header");
    if (readU32(_bytes.data()) != glb::kMagic) return fail("magic is not glTF");
    if (readU32(_bytes.data() + 4) != glb::kVersion) return fail("glb version is not 2");
    if (readU32(_bytes.data() + 8) != _bytes.size())
      return fail("header length " + std::to_string(readU32(_bytes.data() + 8)) + " != file size " +
                  std::to_string(_bytes.size()));
    if (_bytes.size() % 4) return fail("file length is not a multiple of 4");
    const uint32_t jsonLen = readU32(_bytes.data() + 12);
    if (readU32(_bytes.data() + 16) != glb::kChunkJson) return fail("first chunk is not JSON");
    if (jsonLen % 4 || 20 + size_t(jsonLen) > _bytes.size())
      return fail("JSON chunk length is unaligned or exceeds the file");
    const size_t binHeader = 20 + size_t(jsonLen);
    if (binHeader < _bytes.size()) {
      if (binHeader + 8 > _bytes.size()) return fail("truncated BIN chunk header");
      const uint32_t binLen = readU32(_bytes.data() + binHeader);
      if (readU32(_bytes.data() + binHeader + 4) != glb::kChunkBin) return fail("second chunk is not BIN");
      if (binLen % 4 || binHeader + 8 + size_t(binLen) != _bytes.size())
        return fail("BIN chunk length is unaligned or does not end the file");
      _bin = _bytes.subspan(binHeader + 8, binLen);
    }
    _doc = json::parse(_bytes.begin() + 20, _bytes.begin() + 20 + jsonLen, nullptr, false);
    if (_doc.is_discarded() || !_doc.is_object()) return fail("JSON chunk does not parse");
    if (!_doc.contains("asset") || _doc["asset"].value("version", "") != "2.0")
      return fail("asset.version must be \"2.0\"");
    return true;
  }

  bool buffersAndViews() {
    const json& buffers = _doc.value("buffers", json::array());
    std::vector<size_t> bufferSizes;
    for (size_t i = 0; i < buffers.size(); ++i) {
      const json& b = buffers[i];
      if (!b.contains("byteLength") || !b["byteLength"].is_number_unsigned())
        return fail("buffers[" + std::to_string(i) + "].byteLength missing");
      const size_t len = b["byteLength"].get<size_t>();
      const bool fallback = b.contains("extensions") && b["extensions"].contains("EXT_meshopt_compression") &&
                            b["extensions"]["EXT_meshopt_compression"].value("fallback", false);
      if (i == 0 && !b.contains("uri")) {
        if (len > _bin.size() || _bin.size() - len > 3)
          return fail("buffers[0].byteLength " + std::to_string(len) + " does not match the BIN chunk (" +
                      std::to_string(_bin.size()) + ")");
      } else if (!fallback) {
        return fail("buffers[" + std::to_string(i) + "] is external; content must be self-contained");
      }
      bufferSizes.push_back(len);
    }
    const json& views = _doc.value("bufferViews", json::array());
    _views.resize(views.size());
    for (size_t i = 0; i < views.size(); ++i) {
      const json& v = views[i];
      const std::string at = "bufferViews[" + std::to_string(i) + "]";
      const size_t buffer = v.value("buffer", size_t(~0ull)), offset = v.value("byteOffset", size_t(0)),
                   length = v.value("byteLength", size_t(0));
      if (buffer >= bufferSizes.size()) return fail(at + ": buffer out of range");
      if (offset > bufferSizes[buffer] || length > bufferSizes[buffer] - offset)
        return fail(at + ": exceeds its buffer");
      if (v.contains("byteStride") && (v["byteStride"].get<size_t>() % 4 || v["byteStride"].get<size_t>() < 4 ||
                                       v["byteStride"].get<size_t>() > 252))
        return fail(at + ": byteStride must be a multiple of 4 in [4, 252]");
      if (v.contains("extensions") && v["extensions"].contains("EXT_meshopt_compression")) {
        const json& e = v["extensions"]["EXT_meshopt_compression"];
        const size_t cOff = e.value("byteOffset", size_t(0)), cLen = e.value("byteLength", size_t(0));
        const size_t count = e.value("count", size_t(0)), stride = e.value("byteStride", size_t(0));
        if (e.value("buffer", size_t(~0ull)) != 0 || cOff > _bin.size() || cLen > _bin.size() - cOff)
          return fail(at + ": EXT_meshopt_compression source exceeds the BIN chunk");
        if (count * stride != length) return fail(at + ": count * byteStride != byteLength");
        auto& out = _decoded[i];
        out.resize(length);
        const std::string mode = e.value("mode", "");
        int rc;
        if (mode == "ATTRIBUTES")
          rc = meshopt_decodeVertexBuffer(out.data(), count, stride, _bin.data() + cOff, cLen);
        else if (mode == "TRIANGLES")
          rc = meshopt_decodeIndexBuffer(out.data(), count, stride, _bin.data() + cOff, cLen);
        else if (mode == "INDICES")
          rc = meshopt_decodeIndexSequence(out.data(), count, stride, _bin.data() + cOff, cLen);
        else
          return fail(at + ": unknown meshopt mode " + mode);
        if (rc != 0) return fail(at + ": meshopt data does not decode (" + std::to_string(rc) + ")");
        const std::string filter = e.value("filter", "NONE");
        if (filter == "OCTAHEDRAL") {
          if (stride != 4 && stride != 8) return fail(at + ": OCTAHEDRAL filter needs byteStride 4 or 8");
          meshopt_decodeFilterOct(out.data(), count, stride);
        } else if (filter != "NONE") {
          return fail(at + ": unexpected filter " + filter);
        }
        _views[i] = out;
        _compressed = true;
      } else {
        if (buffer != 0) return fail(at + ": refers to a fallback buffer without compression");
        _views[i] = _bin.subspan(offset, length);
        _viewOffsets[i] = offset;
      }
    }
    return true;
  }

  bool extensionsDeclared() {
    std::set<std::string> used;
    for (const auto& e : _doc.value("extensionsUsed", json::array())) used.insert(e.get<std::string>());
    for (const auto& e : _doc.value("extensionsRequired", json::array()))
      if (!used.count(e.get<std::string>()))
        return fail("extensionsRequired " + e.get<std::string>() + " is not in extensionsUsed");
    if (_compressed && !used.count("EXT_meshopt_compression"))
      return fail("EXT_meshopt_compression used but not declared");
    if (_compressed) {
      bool req = false;
      for (const auto& e : _doc.value("extensionsRequired", json::array()))
        req |= e.get<std::string>() == "EXT_meshopt_compression";
      if (!req) return fail("EXT_meshopt_compression without fallback data must be required");
    }
    const bool meta = _doc.contains("extensions") && _doc["extensions"].contains("EXT_structural_metadata");
    if (meta && !used.count("EXT_structural_metadata")) return fail("EXT_structural_metadata used but not declared");
    _used = used;
    return true;
  }

  struct View {
    const uint8_t* data = nullptr;
    size_t count = 0, stride = 0;
    int ctype = 0, components = 0;
    const json* acc = nullptr;
  };

  /// Checks accessor `index`'s placement in its view and returns where its elements are.
  bool accessor(size_t index, View& out) {
    if (!_doc.contains("accessors") || !_doc["accessors"].is_array() || index >= _doc["accessors"].size())
      return fail("accessor " + std::to_string(index) + " out of range");
    const json* acc = &_doc["accessors"][index]; // points into _doc, which outlives every caller
    const std::string at = "accessors[" + std::to_string(index) + "]";
    const int ctype = acc->value("componentType", 0);
    const int csize = componentSize(ctype), ccount = componentCount(acc->value("type", ""));
    if (!csize || !ccount) return fail(at + ": bad componentType or type");
    const size_t count = acc->value("count", size_t(0));
    if (count == 0) return fail(at + ": count must be >= 1");
    const size_t view = acc->value("bufferView", size_t(~0ull));
    if (view >= _views.size()) return fail(at + ": bufferView out of range");
    const json& v = _doc["bufferViews"][view];
    const size_t elem = size_t(csize) * size_t(ccount);
    const size_t stride = v.value("byteStride", elem);
    const size_t offset = acc->value("byteOffset", size_t(0));
    if (offset % size_t(csize)) return fail(at + ": byteOffset not aligned to its component size");
    if (auto it = _viewOffsets.find(view); it != _viewOffsets.end() && (it->second + offset) % size_t(csize))
      return fail(at + ": data not aligned to its component size in the BIN chunk");
    const auto data = _views[view];
    if (offset + stride * (count - 1) + elem > data.size()) return fail(at + ": exceeds its bufferView");
    out = {data.data() + offset, count, stride, ctype, ccount, acc};
    return true;
  }

  /// Calls f(element index, component, value) for every component, with one switch per call.
  template <typename F> static void forEach(const View& v, F&& f) {
    auto loop = [&](auto tag) {
      using T = decltype(tag);
      for (size_t i = 0; i < v.count; ++i) {
        const uint8_t* p = v.data + i * v.stride;
        for (int c = 0; c < v.components; ++c) {
          T x;
          std::memcpy(&x, p + size_t(c) * sizeof(T), sizeof(T));
          f(i, c, double(x));
        }
      }
    };
    switch (v.ctype) {
    case glb::kByte:
      loop(int8_t{});
      break;
    case glb::kUnsignedByte:
      loop(uint8_t{});
      break;
    case glb::kShort:
      loop(int16_t{});
      break;
    case glb::kUnsignedShort:
      loop(uint16_t{});
      break;
    case glb::kUnsignedInt:
      loop(uint32_t{});
      break;
    case glb::kFloat:
      loop(float{});
      break;
    default:
      break;
    }
  }

  bool primitive(const json& prim, uint64_t& triangles) {
    // TRIANGLES, and LINES and POINTS for linework: corners per primitive.
    const int mode = prim.value("mode", 4);
    if (mode != 4 && mode != 1 && mode != 0) return fail("only TRIANGLES, LINES and POINTS primitives are written");
    const size_t corners = mode == 4 ? 3 : mode == 1 ? 2 : 1;
    if (mode != 4 && prim["attributes"].contains("NORMAL")) return fail("LINES and POINTS are written without NORMAL");
    const json& attrs = prim.value("attributes", json::object());
    if (!attrs.contains("POSITION")) return fail("primitive without POSITION");
    const size_t posIndex = attrs["POSITION"].get<size_t>();
    View pos;
    if (!accessor(posIndex, pos)) return false;
    const json* acc = pos.acc;
    if (acc->value("type", "") != "VEC3") return fail("POSITION must be VEC3");
    if (pos.ctype != glb::kFloat && !_used.count("KHR_mesh_quantization"))
      return fail("quantized POSITION without KHR_mesh_quantization");
    if (!acc->contains("min") || !acc->contains("max") || !numberArray((*acc)["min"], 3) ||
        !numberArray((*acc)["max"], 3))
      return fail("POSITION min/max missing");
    const size_t vcount = pos.count;
    if (!_minMax.count(posIndex)) { // primitives sharing POSITION are checked once
      std::array<double, 6> mm = {kMax, kMax, kMax, -kMax, -kMax, -kMax};
      bool finite = true;
      forEach(pos, [&](size_t, int c, double x) {
        finite &= std::isfinite(x);
        mm[size_t(c)] = std::min(mm[size_t(c)], x);
        mm[size_t(c) + 3] = std::max(mm[size_t(c) + 3], x);
      });
      if (!finite) return fail("POSITION has NaN or infinite values");
      for (int a = 0; a < 3; ++a)
        if (mm[size_t(a)] != (*acc)["min"][a].get<double>() || mm[size_t(a) + 3] != (*acc)["max"][a].get<double>())
          return fail("POSITION min/max do not match the data on axis " + std::to_string(a));
      _minMax[posIndex] = mm;
    }
    for (const auto& [name, index] : attrs.items()) {
      View a;
      if (!accessor(index.get<size_t>(), a)) return false;
      if (a.count != vcount) return fail("attribute " + name + " count differs from POSITION's");
    }
    if (!prim.contains("indices")) return fail("primitive without indices");
    View idx;
    if (!accessor(prim["indices"].get<size_t>(), idx)) return false;
    if (idx.ctype != glb::kUnsignedShort && idx.ctype != glb::kUnsignedInt && idx.ctype != glb::kUnsignedByte)
      return fail("indices must be unsigned integers");
    if (idx.components != 1) return fail("indices must be SCALAR");
    if (idx.count % corners) return fail("index count not a multiple of " + std::to_string(corners));
    double maxIndex = 0;
    forEach(idx, [&](size_t, int, double x) { maxIndex = std::max(maxIndex, x); });
    if (maxIndex >= double(vcount))
      return fail("index " + std::to_string(uint64_t(maxIndex)) + " >= vertex count " + std::to_string(vcount));
    if (mode == 4) triangles += idx.count / 3;
    return _batchLength ? batchIds(prim, vcount) : meshFeatures(prim, vcount);
  }

  /// A b3dm's glb: every vertex's _BATCHID (integral, not normalized) indexes the batch table.
  bool batchIds(const json& prim, size_t vcount) {
    if (prim.contains("extensions") && prim["extensions"].contains("EXT_mesh_features"))
      return fail("a b3dm's glb identifies features by _BATCHID, not EXT_mesh_features");
    if (!prim["attributes"].contains("_BATCHID")) return fail("primitive without _BATCHID");
    View ids;
    if (!accessor(prim["attributes"]["_BATCHID"].get<size_t>(), ids)) return false;
    if (ids.acc->value("normalized", false)) return fail("_BATCHID must not be normalized");
    if (ids.components != 1) return fail("_BATCHID must be SCALAR");
    if (ids.ctype == glb::kUnsignedInt) return fail("_BATCHID must not be UNSIGNED_INT (not a vertex attribute type)");
    if (ids.count != vcount) return fail("_BATCHID count differs from POSITION's");
    bool ok = true;
    double bad = 0;
    forEach(ids, [&](size_t, int, double v) {
      if (ok && (v < 0 || v >= double(*_batchLength) || v != std::floor(v))) {
        ok = false;
        bad = v;
      }
    });
    if (!ok)
      return fail("_BATCHID value " + std::to_string(bad) + " outside [0, BATCH_LENGTH " +
                  std::to_string(*_batchLength) + ")");
    return true;
  }

  bool meshFeatures(const json& prim, size_t vcount) {
    if (!prim.contains("extensions") || !prim["extensions"].contains("EXT_mesh_features"))
      return fail("primitive without EXT_mesh_features");
    if (!_used.count("EXT_mesh_features")) return fail("EXT_mesh_features used but not declared");
    const json& ids = prim["extensions"]["EXT_mesh_features"].value("featureIds", json::array());
    if (ids.empty()) return fail("EXT_mesh_features.featureIds is empty");
    for (const json& f : ids) {
      const size_t featureCount = f.value("featureCount", size_t(0));
      if (featureCount < 1) return fail("featureCount must be >= 1");
      if (!f.contains("attribute")) return fail("feature ids must come from a vertex attribute");
      const std::string attr = "_FEATURE_ID_" + std::to_string(f["attribute"].get<int>());
      if (!prim["attributes"].contains(attr)) return fail(attr + " referenced but missing");
      const size_t index = prim["attributes"][attr].get<size_t>();
      View idView;
      if (!accessor(index, idView)) return false;
      if (idView.acc->value("normalized", false)) return fail(attr + " must not be normalized");
      if (idView.components != 1) return fail(attr + " must be SCALAR");
      if (idView.count != vcount) return fail(attr + " count differs from POSITION's");
      const auto key = std::make_pair(index, featureCount);
      if (!_checkedIds.count(key)) {
        double bad = -1;
        bool ok = true;
        forEach(idView, [&](size_t, int, double v) {
          if (ok && (v < 0 || v >= double(featureCount) || v != std::floor(v))) {
            ok = false;
            bad = v;
          }
        });
        if (!ok)
          return fail(attr + " value " + std::to_string(bad) + " outside [0, featureCount " +
                      std::to_string(featureCount) + ")");
        _checkedIds.insert(key);
      }
      if (f.contains("propertyTable") && !propertyTable(f["propertyTable"].get<size_t>(), featureCount)) return false;
    }
    return true;
  }

  bool propertyTable(size_t index, size_t featureCount) {
    if (!_doc.contains("extensions") || !_doc["extensions"].contains("EXT_structural_metadata"))
      return fail("propertyTable referenced without EXT_structural_metadata");
    const json& meta = _doc["extensions"]["EXT_structural_metadata"];
    const json& tables = meta.value("propertyTables", json::array());
    if (index >= tables.size()) return fail("propertyTable " + std::to_string(index) + " out of range");
    const json& table = tables[index];
    const size_t count = table.value("count", size_t(0));
    if (count != featureCount)
      return fail("property table count " + std::to_string(count) + " != featureCount " + std::to_string(featureCount));
    const std::string cls = table.value("class", "");
    if (!meta.contains("schema") || !meta["schema"]["classes"].contains(cls))
      return fail("property table class " + cls + " not in the schema");
    const json& props = meta["schema"]["classes"][cls].value("properties", json::object());
    for (const char* name : {"element", "model", "subcategory"}) {
      if (!props.contains(name) || props[name].value("type", "") != "SCALAR" ||
          props[name].value("componentType", "") != "UINT64")
        return fail(std::string("class property ") + name + " must be a UINT64 SCALAR");
      if (!table["properties"].contains(name)) return fail(std::string("property table lacks ") + name);
      const size_t view = table["properties"][name].value("values", size_t(~0ull));
      if (view >= _views.size()) return fail(std::string(name) + " values bufferView out of range");
      if (_views[view].size() != count * 8) return fail(std::string(name) + " values are not count * 8 bytes");
      auto it = _viewOffsets.find(view);
      if (it == _viewOffsets.end() || it->second % 8) return fail(std::string(name) + " values are not 8-byte aligned");
    }
    return true;
  }

  std::span<const uint8_t> _bytes;
  std::string _name;
  std::vector<std::string>& _errors;
  std::span<const uint8_t> _bin;
  json _doc;
  std::vector<std::span<const uint8_t>> _views;    // every view's bytes (decoded when compressed)
  std::map<size_t, std::vector<uint8_t>> _decoded; // owners of decoded views
  std::map<size_t, std::array<double, 6>> _minMax; // accessor → checked min/max (xyz)
  std::map<size_t, size_t> _viewOffsets;           // uncompressed views: offset in the BIN chunk
  std::set<std::string> _used;
  std::set<std::pair<size_t, size_t>> _checkedIds; // (accessor, featureCount) already checked
  std::optional<uint64_t> _batchLength;            // set: the glb of a b3dm
  bool _compressed = false;
};

} // namespace

bool validateGlb(std::span<const uint8_t> bytes, const std::string& name, std::vector<std::string>& errors,
                 double bounds[6], uint64_t& triangles, std::optional<uint64_t> batchLength) {
  GlbChecker checker(bytes, name, errors, batchLength);
  try {
    return checker.run(bounds, triangles);
  } catch (const json::exception& e) {
    // A member of the wrong JSON type (e.g. a string where an index belongs).
    errors.push_back(name + ": glTF JSON has a member of the wrong type: " + e.what());
    return false;
  }
}

} // namespace mx::io
