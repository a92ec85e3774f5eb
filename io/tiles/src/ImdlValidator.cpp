#include <mx/io/ImdlWriter.h>

#include "ImdlLayout.h"

#include <nlohmann/json.hpp>

#include <cstring>

namespace mx::io {

using nlohmann::json;

namespace {
uint32_t u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
double f64(const uint8_t* p) {
  double v;
  std::memcpy(&v, p, 8);
  return v;
}

bool numbers(const json& j, size_t n) {
  if (!j.is_array() || j.size() != n) return false;
  for (const auto& x : j)
    if (!x.is_number()) return false;
  return true;
}
} // namespace

namespace {

/// One tile's checks in order: header, feature table, glTF-1 section, each primitive, bounds.
/// Each step returns false after adding its error.
class ImdlChecker {
public:
  ImdlChecker(std::span<const uint8_t> bytes, const std::string& name, std::vector<std::string>& errors,
              ImdlSummary& summary)
      : _b(bytes.data()), _size(bytes.size()), _name(name), _errors(errors), _summary(summary) {}

  bool run() {
    if (!header() || !featureTable() || !gltfSection()) return false;
    try {
      return primitives() && bounds();
    } catch (const json::exception& e) {
      return fail(std::string("JSON member missing or of the wrong type: ") + e.what());
    }
  }

private:
  bool fail(const std::string& why) {
    _errors.push_back(_name + ": " + why);
    return false;
  }

  bool header() {
    const uint8_t* b = _b;
    if (_size < imdl::kHeaderLength + 12 + imdl::kGltfHeaderLength) return fail("too short for an iMdl tile");
    if (u32(b) != imdl::kMagic) return fail("magic is not \"iMdl\"");
    const uint32_t version = u32(b + 4);
    _summary.major = version >> 16;
    if (_summary.major == 0 || _summary.major > kImdlMajor)
      return fail("iMdl major " + std::to_string(_summary.major) + " is not readable by iTwin.js 5 (≤ " +
                  std::to_string(kImdlMajor) + ")");
    const uint32_t headerLength = u32(b + 8);
    if (headerLength != imdl::kHeaderLength)
      return fail("headerLength is " + std::to_string(headerLength) + ", not 88");
    if (!(u32(b + 12) & imdl::kFlagMultiModelFeatureTable)) return fail("flag MultiModelFeatureTable (16) is not set");
    for (int a = 0; a < 3; ++a) {
      _summary.contentLow[a] = f64(b + 16 + 8 * a);
      _summary.contentHigh[a] = f64(b + 40 + 8 * a);
    }
    if (u32(b + 80) != _size)
      return fail("tileLength " + std::to_string(u32(b + 80)) + " is not the file size " + std::to_string(_size));
    return true;
  }

  bool featureTable() {
    const uint8_t* ft = _b + imdl::kHeaderLength;
    const uint32_t ftLength = u32(ft), numSub = u32(ft + 4);
    _numFeatures = u32(ft + 8);
    if (ftLength % 4 || ftLength < 12 || imdl::kHeaderLength + uint64_t(ftLength) + imdl::kGltfHeaderLength > _size)
      return fail("feature table length " + std::to_string(ftLength) + " is not a multiple of 4 inside the tile");
    if (_numFeatures == 0) return fail("feature table has no features");
    const uint64_t fixedWords = 3ull * _numFeatures + 2ull * numSub;
    if (12 + 4 * fixedWords > ftLength || (ftLength - 12 - 4 * fixedWords) % 12)
      return fail("feature table length does not fit its features, sub-categories and model entries");
    const uint64_t numModels = (ftLength - 12 - 4 * fixedWords) / 12;
    if (numModels == 0) return fail("feature table has no model section");
    _featureElement.resize(_numFeatures);
    for (uint32_t i = 0; i < _numFeatures; ++i) {
      const uint8_t* f = ft + 12 + 12 * size_t(i);
      _featureElement[i] = uint64_t(u32(f)) | uint64_t(u32(f + 4)) << 32;
      const uint32_t packed = u32(f + 8);
      if ((packed & 0xFFFFFF) >= numSub)
        return fail("feature " + std::to_string(i) + " names sub-category index " + std::to_string(packed & 0xFFFFFF) +
                    " of " + std::to_string(numSub));
      if ((packed >> 24) > 3)
        return fail("feature " + std::to_string(i) + " has geometry class " + std::to_string(packed >> 24));
    }
    const uint8_t* models = ft + 12 + 4 * fixedWords;
    int64_t previousLast = -1;
    for (uint64_t m = 0; m < numModels; ++m) {
      const uint32_t last = u32(models + 12 * m);
      const uint64_t id = uint64_t(u32(models + 12 * m + 4)) | uint64_t(u32(models + 12 * m + 8)) << 32;
      if (int64_t(last) <= previousLast || last >= _numFeatures)
        return fail("model entries are not in increasing feature order");
      if (id == 0) return fail("model entry with id 0");
      previousLast = last;
      _summary.models.insert(id);
    }
    if (previousLast != int64_t(_numFeatures) - 1) return fail("the last model entry does not end at the last feature");
    _gltf = ft + ftLength;
    return true;
  }

  /// glTF-1 framing and JSON.
  bool gltfSection() {
    const uint8_t* g = _gltf;
    const size_t gOffset = size_t(g - _b);
    if (u32(g) != imdl::kGltfMagic) return fail("glTF section magic missing after the feature table");
    if (u32(g + 4) != 1 || u32(g + 16) != 0) return fail("glTF section is not glTF-1 framing (version 1, format 0)");
    const uint32_t jsonLength = u32(g + 12);
    if (jsonLength % 4 || gOffset + imdl::kGltfHeaderLength + uint64_t(jsonLength) > _size)
      return fail("JSON length out of range or unpadded");
    if (u32(g + 8) != _size - gOffset) return fail("gltfLength does not reach the end of the tile");
    _binOffset = gOffset + imdl::kGltfHeaderLength + jsonLength;
    _binSize = _size - _binOffset;
    if (_binOffset % 4) return fail("binary section does not start 4-byte aligned");
    _doc = json::parse(g + imdl::kGltfHeaderLength, g + imdl::kGltfHeaderLength + jsonLength, nullptr, false);
    if (_doc.is_discarded() || !_doc.is_object()) return fail("JSON does not parse as an object");
    return true;
  }

  bool view(const json& id, size_t& off, size_t& len, const std::string& what) {
    const json& views = _doc.at("bufferViews");
    if (!id.is_string() || !views.contains(id.get<std::string>())) return fail(what + " names a missing bufferView");
    const json& v = views[id.get<std::string>()];
    off = v.at("byteOffset").get<size_t>();
    len = v.at("byteLength").get<size_t>();
    if (off + len > _binSize || len == 0) return fail(what + " bufferView is outside the binary section or empty");
    if ((_binOffset + off) % 4) return fail(what + " bufferView is not 4-byte aligned in the file");
    return true;
  }

  bool primitives() {
    if (!_doc.contains("nodes") || !_doc["nodes"].contains("Node_Root") || !_doc["nodes"]["Node_Root"].is_string())
      return fail("nodes.Node_Root is missing (the tile would load empty)");
    const std::string meshId = _doc["nodes"]["Node_Root"];
    if (!_doc.contains("meshes") || !_doc["meshes"].is_object() || !_doc["meshes"].contains(meshId))
      return fail("meshes." + meshId + " is missing");
    const json& prims = _doc["meshes"][meshId]["primitives"];
    if (!prims.is_array() || prims.empty()) return fail("Mesh_Root has no primitives");
    for (size_t p = 0; p < prims.size(); ++p)
      if (!primitive(prims[p], "primitive " + std::to_string(p))) return false;
    return true;
  }

  /// A primitive's layout: material, views, lookup-table size, colours, quantization params.
  struct Layout {
    int type = 0; ///< 0 mesh, 1 polyline, 2 point string.
    size_t vOff = 0, vLen = 0, iOff = 0, iLen = 0, pOff = 0, pLen = 0, nOff = 0, nLen = 0;
    uint32_t count = 0, rgba = 0, numColors = 0;
    bool uniform = false;
    double pmin[3] = {}, step[3] = {};
  };

  bool layout(const json& pr, const std::string& at, Layout& l) {
    l.type = pr.at("type");
    if (l.type < 0 || l.type > 2) return fail(at + ": not a mesh, polyline or point string primitive");
    if (!pr.contains("material") || !_doc.at("materials").contains(pr["material"].get<std::string>()))
      return fail(at + ": material missing (the primitive would be dropped)");
    const json& vx = pr.at("vertices");
    if (!view(vx.at("bufferView"), l.vOff, l.vLen, at + " vertices")) return false;
    l.count = vx.at("count");
    l.rgba = vx.at("numRgbaPerVertex");
    const uint32_t width = vx.at("width"), height = vx.at("height");
    if (l.type == 0) {
      const json& sf = pr.at("surface");
      if (!view(sf.at("indices"), l.iOff, l.iLen, at + " indices")) return false;
      const int surfaceType = sf.at("type");
      if ((surfaceType == 1 && l.rgba != 4) || (surfaceType == 0 && l.rgba != 3) || surfaceType > 1)
        return fail(at + ": surface type " + std::to_string(surfaceType) + " with " + std::to_string(l.rgba) +
                    " RGBA per vertex");
    } else {
      // Polylines: tessellated indices, prevIndices, nextIndicesAndParams (6 entries a segment)
      // and a 4th RGBA per vertex (cumulative distance); point strings: indices, 3 RGBA.
      if (!view(pr.at("indices"), l.iOff, l.iLen, at + " indices")) return false;
      if (l.type == 1 && (!view(pr.at("prevIndices"), l.pOff, l.pLen, at + " prevIndices") ||
                          !view(pr.at("nextIndicesAndParams"), l.nOff, l.nLen, at + " nextIndicesAndParams")))
        return false;
      if (l.rgba != (l.type == 1 ? 4u : 3u))
        return fail(at + ": " + (l.type == 1 ? "polyline" : "point string") + " with " + std::to_string(l.rgba) +
                    " RGBA per vertex");
      if (l.type == 1 && (l.pLen != l.iLen || l.nLen != l.iLen / 3 * 4))
        return fail(at + ": polyline index views disagree in length");
    }
    if (vx.at("featureIndexType") != 2) return fail(at + ": featureIndexType must be 2 (per vertex)");
    l.numColors = vx.value("numColors", 0u);
    l.uniform = vx.contains("uniformColor");
    if (l.uniform == (l.numColors > 0)) return fail(at + ": needs exactly one of uniformColor and a colour table");
    if (width > kImdlMaxTextureDim || height > kImdlMaxTextureDim)
      return fail(at + ": lookup texture larger than 2048");
    uint32_t ew, eh;
    imdl::tableDimensions(uint64_t(l.count) * l.rgba + l.numColors, l.rgba, kImdlMaxTextureDim, ew, eh);
    if (ew != width || eh != height)
      return fail(at + ": table is " + std::to_string(width) + "x" + std::to_string(height) + ", expected " +
                  std::to_string(ew) + "x" + std::to_string(eh));
    if (l.vLen != size_t(width) * height * 4) return fail(at + ": vertex bufferView is not width·height·4 bytes");
    const json& params = vx.at("params");
    if (!numbers(params.at("decodedMin"), 3) || !numbers(params.at("decodedMax"), 3))
      return fail(at + ": quantization params missing");
    for (int a = 0; a < 3; ++a) {
      const double pmax = params["decodedMax"][a];
      l.pmin[a] = params["decodedMin"][a];
      l.step[a] = pmax > l.pmin[a] ? (pmax - l.pmin[a]) / 65535.0 : 0.0;
    }
    const size_t per = l.type == 0 ? 3 : l.type == 1 ? 6 : 1;
    if (l.iLen % 3 || (l.iLen / 3) % per)
      return fail(at + ": index bufferView is not 3-byte indices, " + std::to_string(per) + " per " +
                  (l.type == 0   ? "triangle"
                   : l.type == 1 ? "segment"
                                 : "point"));
    return true;
  }

  bool primitive(const json& pr, const std::string& at) {
    Layout l;
    if (!layout(pr, at, l)) return false;
    const uint8_t* vt = _b + _binOffset + l.vOff;
    const uint8_t* ix = _b + _binOffset + l.iOff;
    for (uint32_t v = 0; v < l.count; ++v) {
      const uint8_t* o = vt + size_t(v) * l.rgba * 4;
      const uint32_t colorIndex = uint32_t(o[6]) | uint32_t(o[7]) << 8;
      const uint32_t feature = uint32_t(o[8]) | uint32_t(o[9]) << 8 | uint32_t(o[10]) << 16;
      if (feature >= _numFeatures)
        return fail(at + ": vertex " + std::to_string(v) + " has feature index " + std::to_string(feature));
      if (!l.uniform && colorIndex >= l.numColors)
        return fail(at + ": vertex " + std::to_string(v) + " has colour index out of range");
      for (int a = 0; a < 3; ++a) {
        const double x = l.pmin[a] + double(uint32_t(o[2 * a]) | uint32_t(o[2 * a + 1]) << 8) * l.step[a];
        _lo[a] = std::min(_lo[a], x);
        _hi[a] = std::max(_hi[a], x);
      }
    }
    const size_t numIndices = l.iLen / 3;
    auto index24 = [](const uint8_t* q) { return uint32_t(q[0]) | uint32_t(q[1]) << 8 | uint32_t(q[2]) << 16; };
    if (l.type != 0) {
      const uint8_t* px = _b + _binOffset + l.pOff;
      const uint8_t* nx = _b + _binOffset + l.nOff;
      for (size_t k = 0; k < numIndices; ++k) {
        const uint32_t idx = index24(ix + 3 * k);
        if (idx >= l.count || (l.type == 1 && (index24(px + 3 * k) >= l.count || index24(nx + 4 * k) >= l.count)))
          return fail(at + ": index " + std::to_string(k) + " ≥ vertex count " + std::to_string(l.count));
        if (l.type == 1 && k % 6) continue; // a segment counts once, at its first entry
        const uint8_t* o = vt + size_t(idx) * l.rgba * 4;
        const uint64_t element = _featureElement[uint32_t(o[8]) | uint32_t(o[9]) << 8 | uint32_t(o[10]) << 16];
        if (l.type == 1) {
          ++_summary.elementSegments[element];
          ++_summary.segments;
        } else {
          ++_summary.points;
        }
      }
      return true;
    }
    for (size_t k = 0; k < numIndices; k += 3) {
      uint32_t first = 0;
      for (size_t j = 0; j < 3; ++j) {
        const uint8_t* q = ix + 3 * (k + j);
        const uint32_t idx = uint32_t(q[0]) | uint32_t(q[1]) << 8 | uint32_t(q[2]) << 16;
        if (idx >= l.count)
          return fail(at + ": index " + std::to_string(idx) + " ≥ vertex count " + std::to_string(l.count));
        if (j == 0) first = idx;
      }
      const uint8_t* o = vt + size_t(first) * l.rgba * 4;
      ++_summary.elementTriangles[_featureElement[uint32_t(o[8]) | uint32_t(o[9]) << 8 | uint32_t(o[10]) << 16]];
      ++_summary.triangles;
    }
    return true;
  }

  bool bounds() {
    for (int a = 0; a < 3; ++a) {
      _summary.bounds[a] = _lo[a];
      _summary.bounds[3 + a] = _hi[a];
      const double eps = 1e-6 * std::max(1.0, std::abs(_hi[a]) + std::abs(_lo[a]));
      if (_lo[a] < _summary.contentLow[a] - eps || _hi[a] > _summary.contentHigh[a] + eps)
        return fail("header contentRange does not enclose the decoded positions");
    }
    return true;
  }

  const uint8_t* _b;
  size_t _size;
  const std::string& _name;
  std::vector<std::string>& _errors;
  ImdlSummary& _summary;
  uint32_t _numFeatures = 0;
  std::vector<uint64_t> _featureElement;
  const uint8_t* _gltf = nullptr;
  size_t _binOffset = 0, _binSize = 0;
  json _doc;
  double _lo[3] = {1e300, 1e300, 1e300}, _hi[3] = {-1e300, -1e300, -1e300};
};

} // namespace

bool validateImdl(std::span<const uint8_t> bytes, const std::string& name, std::vector<std::string>& errors,
                  ImdlSummary& summary) {
  const size_t errorsBefore = errors.size();
  return ImdlChecker(bytes, name, errors, summary).run() && errors.size() == errorsBefore;
}

} // namespace mx::io
