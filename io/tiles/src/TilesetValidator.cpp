// The validator reads what the writer wrote with independent code (nlohmann::json and raw byte
// access), so a writer bug cannot hide behind shared helpers. Box volumes are compared through
// their axis-aligned bounds in the root frame (every box we write is axis-aligned there).
#include "GlbFormat.h"
#include "ValidatorCommon.h"

#include <mx/core/Math.h>
#include <mx/io/GlbValidator.h>
#include <mx/io/TilesetValidator.h>

#include <mx/io/ImdlWriter.h>

#include <meshoptimizer.h>
#include <nlohmann/json.hpp>
#include <tbb/parallel_for.h>

#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>

namespace mx::io {

using core::ErrorCode;
using core::Mat4d;
using core::Result;
using core::Status;
using nlohmann::json;

using namespace check;

namespace {

std::optional<Bounds> boxBounds(const json& bv, std::string& why) {
  if (!bv.is_object()) {
    why = "boundingVolume missing";
    return std::nullopt;
  }
  if (bv.contains("box")) {
    const json& b = bv["box"];
    if (!numberArray(b, 12)) {
      why = "box must be 12 finite numbers";
      return std::nullopt;
    }
    Bounds r;
    for (int a = 0; a < 3; ++a) {
      const double h =
          std::abs(b[3 + a].get<double>()) + std::abs(b[6 + a].get<double>()) + std::abs(b[9 + a].get<double>());
      r.min[a] = b[a].get<double>() - h;
      r.max[a] = b[a].get<double>() + h;
    }
    return r;
  }
  if (bv.contains("sphere")) {
    const json& s = bv["sphere"];
    if (!numberArray(s, 4) || s[3].get<double>() < 0) {
      why = "sphere must be 4 finite numbers, radius >= 0";
      return std::nullopt;
    }
    Bounds r;
    for (int a = 0; a < 3; ++a) {
      r.min[a] = s[a].get<double>() - s[3].get<double>();
      r.max[a] = s[a].get<double>() + s[3].get<double>();
    }
    return r;
  }
  why = "only box and sphere bounding volumes are written";
  return std::nullopt;
}

bool relativeUri(const std::string& uri) {
  if (uri.empty() || uri[0] == '/' || uri[0] == '\\') return false;
  if (uri.find("://") != std::string::npos || uri.find('?') != std::string::npos || uri.find('#') != std::string::npos)
    return false;
  if (uri.find("..") != std::string::npos || uri.find(':') != std::string::npos) return false;
  return true;
}

struct TileCheck {
  const json* tile;
  Mat4d transform; ///< Root frame → this tile's frame... composed ancestors' transforms.
  double parentError;
  std::optional<Bounds> parentBounds;
  std::string path;
};

struct ContentJob {
  std::string path, uri;
  Bounds tileBounds;
  Mat4d frame;
  std::optional<Bounds> contentVolume;
  std::vector<std::string> errors;
  uint64_t bytes, triangles;
  bool read;
  std::set<uint64_t> models = {}; ///< iMdl contents: model ids of the feature table.
};

bool readWhole(const std::filesystem::path& p, std::vector<uint8_t>& out) {
  std::ifstream f(p, std::ios::binary | std::ios::ate);
  if (!f) return false;
  const auto size = f.tellg();
  if (size < 0) return false;
  out.resize(size_t(size));
  f.seekg(0);
  return bool(f.read(reinterpret_cast<char*>(out.data()), size));
}

void checkContent(const std::filesystem::path& dir, ContentJob& job);

} // namespace

namespace {

void checkContent(const std::filesystem::path& dir, ContentJob& job) {
  std::vector<uint8_t> bytes;
  if (!readWhole(dir / job.uri, bytes)) {
    job.errors.push_back(job.path + ": content " + job.uri + " does not exist");
    return;
  }
  job.read = true;
  job.bytes = bytes.size();
  double cb[6];
  uint64_t tris = 0;
  Bounds contentBounds;
  if (job.uri.size() > 5 && job.uri.substr(job.uri.size() - 5) == ".imdl") {
    // iMdl positions are in the tile frame itself (z up, no glTF axis swap).
    ImdlSummary summary;
    if (!validateImdl(bytes, job.uri, job.errors, summary)) return;
    job.triangles = summary.triangles;
    job.models = std::move(summary.models);
    Bounds local;
    local.extend(summary.bounds[0], summary.bounds[1], summary.bounds[2]);
    local.extend(summary.bounds[3], summary.bounds[4], summary.bounds[5]);
    contentBounds = transformBounds(job.frame, local);
  } else {
    const bool b3dmContent = job.uri.size() > 5 && job.uri.substr(job.uri.size() - 5) == ".b3dm";
    if (b3dmContent ? !validateB3dm(bytes, job.uri, job.errors, cb, tris)
                    : !validateGlb(bytes, job.uri, job.errors, cb, tris))
      return;
    job.triangles = tris;
    Bounds gltfBounds;
    gltfBounds.extend(cb[0], cb[1], cb[2]);
    gltfBounds.extend(cb[3], cb[4], cb[5]);
    Mat4d yUp;
    std::copy(std::begin(glb::kYUpToZUp), std::end(glb::kYUpToZUp), yUp.begin());
    contentBounds = transformBounds(core::multiply(job.frame, yUp), gltfBounds);
  }
  const double ceps = 1e-5 * std::max(1.0, job.tileBounds.diagonal());
  auto text = [](const Bounds& b) {
    std::string t = "[";
    for (int a = 0; a < 6; ++a) t += (a ? "," : "") + std::to_string(a < 3 ? b.min[a] : b.max[a - 3]);
    return t + "]";
  };
  if (!job.tileBounds.contains(contentBounds, ceps))
    job.errors.push_back(job.path + ": content " + job.uri + " " + text(contentBounds) +
                         " extends outside the tile's bounding volume " + text(job.tileBounds));
  if (job.contentVolume && !job.contentVolume->contains(contentBounds, ceps))
    job.errors.push_back(job.path + ": content " + job.uri + " " + text(contentBounds) +
                         " extends outside content.boundingVolume " + text(*job.contentVolume));
}
} // namespace

namespace {

/// tileset.json from the top: asset and extensions, the BENTLEY_BatchedTileSet envelope of IMODEL
/// tilesets, then every tile (transforms, errors, volumes, content URIs), then the contents.
class TilesetChecker {
public:
  explicit TilesetChecker(ValidationReport& report) : _report(report) {}

  Result<ValidationReport> run(const std::filesystem::path& dir) {
    const auto tilesetPath = dir / "tileset.json";
    std::ifstream in(tilesetPath, std::ios::binary);
    if (!in) return Status{ErrorCode::IoError, "cannot read " + tilesetPath.string()};
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    _report.bytes += text.size();
    const json doc = json::parse(text, nullptr, false);
    if (!document(doc)) return _report;
    const json& root = doc["root"];
    if (root.value("refine", "") != "REPLACE" && root.value("refine", "") != "ADD")
      error("root: refine must be \"ADD\" or \"REPLACE\"");
    _batched = doc.contains("extensions") && doc["extensions"].is_object() &&
               doc["extensions"].contains("BENTLEY_BatchedTileSet");
    if (_batched) batchedModels(doc);
    _glbNeedsExtension = doc["asset"].value("version", "") == "1.0" && !_usedExt.count("3DTILES_content_gltf");
    std::vector<TileCheck> stack{
        {&root, core::identityMatrix(), doc.value("geometricError", 0.0), std::nullopt, "root"}};
    while (!stack.empty()) {
      TileCheck tc = stack.back();
      stack.pop_back();
      tile(tc, stack);
    }
    contents(dir);
    return _report;
  }

private:
  void error(const std::string& msg) { _report.errors.push_back(msg); }

  /// Top-level members; false when there is no root to walk.
  bool document(const json& doc) {
    if (doc.is_discarded() || !doc.is_object()) {
      error("tileset.json: does not parse as a JSON object");
      return false;
    }
    const json& asset = doc.value("asset", json::object());
    const std::string version = asset.value("version", "");
    if (version != "1.0" && version != "1.1") error("tileset.json: asset.version must be \"1.0\" or \"1.1\"");
    if (!doc.contains("geometricError") || !doc["geometricError"].is_number() ||
        doc["geometricError"].get<double>() < 0)
      error("tileset.json: top-level geometricError is required and must be >= 0");
    if (!doc.contains("root") || !doc["root"].is_object()) {
      error("tileset.json: root tile missing");
      return false;
    }
    for (const auto& e : doc.value("extensionsUsed", json::array())) _usedExt.insert(e.get<std::string>());
    for (const auto& e : doc.value("extensionsRequired", json::array()))
      if (!_usedExt.count(e.get<std::string>()))
        error("tileset.json: extensionsRequired " + e.get<std::string>() + " not in extensionsUsed");
    return true;
  }

  /// IMODEL tilesets (iMdl contents for @itwin/frontend-tiles): the models and their extents.
  void batchedModels(const json& doc) {
    if (!_usedExt.count("BENTLEY_BatchedTileSet"))
      error("tileset.json: BENTLEY_BatchedTileSet is not in extensionsUsed");
    const json& ext = doc["extensions"]["BENTLEY_BatchedTileSet"];
    if (!ext.is_object() || !ext.contains("models") || !ext["models"].is_object())
      return error("tileset.json: extensions.BENTLEY_BatchedTileSet.models must be an object");
    for (auto it = ext["models"].begin(); it != ext["models"].end(); ++it) {
      const std::string& key = it.key();
      bool canonical = key.size() > 2 && key.size() <= 18 && key.rfind("0x", 0) == 0 && key[2] != '0';
      for (size_t i = 2; canonical && i < key.size(); ++i)
        canonical = (key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f');
      if (!canonical) {
        error("tileset.json: model key \"" + key + "\" is not a canonical Id64 (frontend-tiles ignores it)");
        continue;
      }
      _listedModels.insert(std::stoull(key.substr(2), nullptr, 16));
      const json& v = it.value();
      if (!v.is_object() || !v.contains("extents") || !v["extents"].is_object() ||
          !numberArray(v["extents"].value("low", json()), 3) || !numberArray(v["extents"].value("high", json()), 3)) {
        error("tileset.json: model " + key + " needs extents {low: [x,y,z], high: [x,y,z]}");
        continue;
      }
      for (int a = 0; a < 3; ++a)
        if (v["extents"]["low"][a].get<double>() > v["extents"]["high"][a].get<double>())
          error("tileset.json: model " + key + " extents have low > high");
    }
  }

  /// The tile's frame (its ancestors' and its own transform); false when the transform is unusable.
  bool frameOf(const TileCheck& tc, const json& t, Mat4d& m) {
    m = tc.transform;
    if (!t.contains("transform")) return true;
    if (!numberArray(t["transform"], 16)) {
      error(tc.path + ": transform must be 16 finite numbers");
      return false;
    }
    Mat4d local;
    for (int i = 0; i < 16; ++i) local[size_t(i)] = t["transform"][i].get<double>();
    if (local[3] != 0 || local[7] != 0 || local[11] != 0 || local[15] != 1)
      error(tc.path + ": transform is not affine column-major (last row must be 0 0 0 1)");
    // frontend-tiles composes child transforms in reverse order: only translations commute.
    if (_batched && tc.path != "root" &&
        (local[0] != 1 || local[5] != 1 || local[10] != 1 || local[1] != 0 || local[2] != 0 || local[4] != 0 ||
         local[6] != 0 || local[8] != 0 || local[9] != 0))
      error(tc.path + ": transforms below the root of an IMODEL tileset must be translations");
    // Bounds are compared in the root tile's frame (below the root transform), so the root's
    // own transform is not composed; every descendant's is.
    if (tc.path != "root") m = core::multiply(tc.transform, local);
    return true;
  }

  /// The tile's content: a plain relative URI of the right kind, used once; queued for checking.
  /// False when the URI is unusable (the tile's walk stops there).
  bool content(const TileCheck& tc, const json& content, const Bounds& tileBounds, const Mat4d& frame) {
    const std::string uri =
        content.contains("uri") && content["uri"].is_string() ? content["uri"].get<std::string>() : "";
    if (!relativeUri(uri)) {
      error(tc.path + ": content uri \"" + uri + "\" is not a plain relative path");
      return false;
    }
    if (!_seenUris.insert(uri).second) error(tc.path + ": content uri " + uri + " is used twice");
    auto endsWith = [&](const std::string& suffix) {
      return uri.size() >= suffix.size() && uri.substr(uri.size() - suffix.size()) == suffix;
    };
    if (_batched ? !endsWith(".imdl") : !endsWith(".glb") && !endsWith(".b3dm")) {
      error(tc.path + ": content " + uri + " is not " + (_batched ? ".imdl" : ".glb or .b3dm"));
      return false;
    }
    if (!_batched && endsWith(".glb") && _glbNeedsExtension)
      error(tc.path + ": glb content " + uri + " in a 1.0 tileset needs 3DTILES_content_gltf");
    ContentJob job{tc.path, uri, tileBounds, frame, std::nullopt, {}, 0, 0, false};
    if (content.contains("boundingVolume")) {
      std::string why;
      auto cbv = boxBounds(content["boundingVolume"], why);
      if (!cbv)
        error(tc.path + ": content " + why);
      else
        job.contentVolume = transformBounds(frame, *cbv);
    }
    _jobs.push_back(std::move(job));
    return true;
  }

  void tile(const TileCheck& tc, std::vector<TileCheck>& stack) {
    const json& t = *tc.tile;
    ++_report.tiles;
    Mat4d frame;
    if (!frameOf(tc, t, frame)) return;
    if (!t.contains("geometricError") || !t["geometricError"].is_number() || t["geometricError"].get<double>() < 0)
      return error(tc.path + ": geometricError is required and must be >= 0");
    const double ge = t["geometricError"].get<double>();
    if (ge > tc.parentError * (1 + 1e-12))
      error(tc.path + ": geometricError " + std::to_string(ge) + " exceeds its parent's " +
            std::to_string(tc.parentError));
    if (t.contains("refine") && t["refine"] != "ADD" && t["refine"] != "REPLACE")
      error(tc.path + ": refine must be ADD or REPLACE");
    std::string why;
    auto bv = boxBounds(t.value("boundingVolume", json()), why);
    if (!bv) return error(tc.path + ": " + why);
    const Bounds tileBounds = transformBounds(frame, *bv);
    const double eps = 1e-6 * std::max(1.0, tileBounds.diagonal());
    if (tc.parentBounds && !tc.parentBounds->contains(tileBounds, eps))
      error(tc.path + ": bounding volume is not inside its parent's");
    if (t.contains("content") && !content(tc, t["content"], tileBounds, frame)) return;
    static const json kNoChildren = json::array();
    const json& children = t.contains("children") ? t["children"] : kNoChildren; // stack keeps pointers
    if (!children.is_array()) return error(tc.path + ": children must be an array");
    for (size_t i = children.size(); i-- > 0;)
      stack.push_back({&children[i], frame, ge, tileBounds, tc.path + "/" + std::to_string(i)});
  }

  /// Content files are independent: checked on oneTBB threads, reported in tree order.
  void contents(const std::filesystem::path& dir) {
    tbb::parallel_for(size_t(0), _jobs.size(), [&](size_t k) { checkContent(dir, _jobs[k]); });
    for (ContentJob& job : _jobs) {
      _report.errors.insert(_report.errors.end(), job.errors.begin(), job.errors.end());
      _report.bytes += job.bytes;
      _report.triangles += job.triangles;
      if (job.read) ++_report.contents;
      for (uint64_t m : job.models)
        if (!_listedModels.count(m))
          _report.errors.push_back(
              job.uri + ": model " + canonicalId64(m) +
              " is not listed in BENTLEY_BatchedTileSet.models (frontend-tiles would not draw it)");
    }
  }

  ValidationReport& _report;
  bool _batched = false;
  bool _glbNeedsExtension = false; // a 1.0 tileset without 3DTILES_content_gltf
  std::set<std::string> _usedExt;
  std::set<uint64_t> _listedModels;
  std::set<std::string> _seenUris;
  std::vector<ContentJob> _jobs;
};

} // namespace

Result<ValidationReport> validateTileset(const std::filesystem::path& dir) {
  ValidationReport report;
  try {
    return TilesetChecker(report).run(dir);
  } catch (const json::exception& e) {
    report.errors.push_back(std::string("tileset.json: a member has the wrong JSON type: ") + e.what());
    return report;
  }
}

} // namespace mx::io
