#include <mx/engine/TilerConfig.h>

#include <charconv>
#include <cmath>
#include <optional>
#include <set>
#include <type_traits>

namespace mx::engine {

using core::ErrorCode;
using core::Status;

std::string_view toString(Simplifier s) noexcept { return s == Simplifier::Cluster ? "cluster" : "quadric"; }

std::string_view toString(DeviceChoice d) noexcept {
  switch (d) {
  case DeviceChoice::Auto:
    return "auto";
  case DeviceChoice::Cpu:
    return "cpu";
  case DeviceChoice::Cuda:
    return "cuda";
  }
  return "auto";
}

const std::vector<ConfigKeyInfo>& tilerConfigKeys() {
  static const std::vector<ConfigKeyInfo> keys = {
      {"maxTrianglesPerTile", "integer", "32768", "64 .. 4194304",
       "Most triangles in one tile. Leaves of the spatial partition hold at most this many full-detail "
       "triangles; every parent tile is simplified until it holds at most this many."},
      {"geometricErrorScale", "number", "1", "0.01 .. 100",
       "Multiplies the measured geometric error of every tile (and the tileset's). Larger values make "
       "clients refine sooner (sharper, more data); smaller values later."},
      {"simplifier", "enum", "cluster", "cluster | quadric",
       "How parent tiles are simplified: vertex clustering on a grid (fast, dispatched to the backend), or "
       "meshoptimizer's quadric edge collapse (slower, better shapes; CPU only)."},
      {"quantizePositions", "boolean", "true", "true | false",
       "Store positions as uint16 in the tile's box (KHR_mesh_quantization). False stores float32."},
      {"meshoptCompression", "boolean", "false", "true | false",
       "Compress vertex and index data with EXT_meshopt_compression (required extension; normals use the "
       "octahedral filter). 3DTILES and CESIUM only."},
      {"enableCompression", "boolean", "false", "true | false",
       "The Mesh Export API's name for meshoptCompression (the compressed geometry encoding); give one of the "
       "two."},
      {"maxTileSize", "integer", "0", "0 | 16 .. 1048576",
       "Largest tile content file in KiB; 0 = no limit. Measured on the written files: when a tile is larger, "
       "the export is tiled again with proportionally fewer triangles a tile (maxTrianglesPerTile lowered, at "
       "least 64) until every tile fits, or fails naming the tile that cannot."},
      {"outputFormat", "enum", "glb", "glb | b3dm",
       "Tile content of 3DTILES and CESIUM exports: glb in a 3D Tiles 1.1 tileset (EXT_mesh_features, "
       "EXT_structural_metadata), or b3dm (Batched 3D Model) in a 3D Tiles 1.0 tileset whose batch table "
       "holds element, model and subcategory ids, for clients that read only 1.0. IMODEL exports write iMdl."},
      {"angleTolerance", "number", "0.2617993877991494", "0.01 .. 0.7853981633974483",
       "iModel input: largest angle (radians) between facets when curved surfaces are tessellated; "
       "iTwin.js' default π/12 (24 segments per circle)."},
      {"chordTolerance", "number", "0", "0 .. 1000",
       "iModel input: largest distance (metres) between a curve and its chords; 0 = off (iTwin.js' default). At most "
       "1024 segments a circle."},
      {"unsupportedGeometry", "enum", "skip", "skip | box",
       "iModel input: what to do with geometry that cannot be meshed (Parasolid BReps, B-spline surfaces, "
       "text, images). Always counted in the export's warnings; box draws its "
       "range instead so nothing vanishes."},
      {"device", "enum", "auto", "auto | cpu | cuda",
       "Where partition, clustering and quantization run: auto uses a CUDA device when one is present and "
       "the build has CUDA; cuda fails when none is present; cpu never uses the GPU."},
      {"deviceMemoryMB", "integer", "0", "0 .. 1048576",
       "GPU memory (MiB) one export may hold, for GPUs shared by several exports or processes; 0 = 80 % of the "
       "memory free when the export starts. Partition and quantization inputs larger than their share are "
       "cut into chunks; a clustering input that does not fit runs on the CPU (the stage's reason says so)."},
      {"memoryBudgetMB", "integer", "0", "0 .. 1048576",
       "Host memory (MiB) one export should stay within; 0 = no limit. An input whose in-core footprint "
       "(the scene as read plus about 90 bytes a triangle) would exceed it is tiled out of core: read in batches, "
       "spilled in "
       "Morton-sorted runs to the export's temporary folder, merged into chunks that fit, each chunk's "
       "subtree built and written before the next. The CLI takes it from --memory-budget-mb, the service "
       "from its config; a tilerConfig value wins."},
  };
  return keys;
}

namespace {

Status bad(std::string_view key, std::string_view value, std::string_view expected) {
  return {ErrorCode::InvalidArgument, "tilerConfig " + std::string(key) + ": invalid value \"" + std::string(value) +
                                          "\" (expected " + std::string(expected) + ")"};
}

/// The whole of `text` as a number in [lo, hi] (finite), or nullopt.
template <typename T> std::optional<T> parseNumber(std::string_view text, T lo, T hi) {
  T v{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  if constexpr (std::is_floating_point_v<T>)
    if (!std::isfinite(v)) return std::nullopt;
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

bool parseBool(std::string_view v, bool& out) {
  if (v == "true" || v == "1") {
    out = true;
    return true;
  }
  if (v == "false" || v == "0") {
    out = false;
    return true;
  }
  return false;
}

} // namespace

Status applyTilerConfig(TilerConfig& config, std::string_view key, std::string_view value) {
  if (key == "maxTrianglesPerTile") {
    auto v = parseNumber<uint64_t>(value, 64, 4194304);
    if (!v) return bad(key, value, "an integer in 64 .. 4194304");
    config.maxTrianglesPerTile = uint32_t(*v);
    return Status::ok();
  }
  if (key == "geometricErrorScale") {
    auto v = parseNumber<double>(value, 0.01, 100);
    if (!v) return bad(key, value, "a number in 0.01 .. 100");
    config.geometricErrorScale = *v;
    return Status::ok();
  }
  if (key == "simplifier") {
    if (value == "cluster")
      config.simplifier = Simplifier::Cluster;
    else if (value == "quadric")
      config.simplifier = Simplifier::Quadric;
    else
      return bad(key, value, "cluster or quadric");
    return Status::ok();
  }
  if (key == "quantizePositions") {
    if (!parseBool(value, config.quantizePositions)) return bad(key, value, "true or false");
    return Status::ok();
  }
  if (key == "meshoptCompression" || key == "enableCompression") {
    if (!parseBool(value, config.meshoptCompression)) return bad(key, value, "true or false");
    return Status::ok();
  }
  if (key == "angleTolerance" || key == "chordTolerance") {
    const bool angle = key == "angleTolerance";
    auto v = angle ? parseNumber<double>(value, 0.01, 0.7853981633974483) : parseNumber<double>(value, 0, 1000);
    if (!v) return bad(key, value, angle ? "a number of radians in 0.01 .. π/4" : "a number of metres in 0 .. 1000");
    (angle ? config.angleTolerance : config.chordTolerance) = *v;
    return Status::ok();
  }
  if (key == "unsupportedGeometry") {
    if (value == "skip")
      config.boxForUnsupported = false;
    else if (value == "box")
      config.boxForUnsupported = true;
    else
      return bad(key, value, "skip or box");
    return Status::ok();
  }
  if (key == "device") {
    if (value == "auto")
      config.device = DeviceChoice::Auto;
    else if (value == "cpu")
      config.device = DeviceChoice::Cpu;
    else if (value == "cuda")
      config.device = DeviceChoice::Cuda;
    else
      return bad(key, value, "auto, cpu or cuda");
    return Status::ok();
  }
  if (key == "maxTileSize") {
    auto v = parseNumber<uint64_t>(value, 0, 1048576);
    if (!v || (*v != 0 && *v < 16)) return bad(key, value, "0 or an integer number of KiB in 16 .. 1048576");
    config.maxTileSizeKiB = uint32_t(*v);
    return Status::ok();
  }
  if (key == "outputFormat") {
    if (value == "glb")
      config.outputFormat = io::ContentFormat::Glb;
    else if (value == "b3dm")
      config.outputFormat = io::ContentFormat::B3dm;
    else
      return bad(key, value, "glb or b3dm");
    return Status::ok();
  }
  if (key == "memoryBudgetMB") {
    auto v = parseNumber<uint64_t>(value, 0, 1048576);
    if (!v) return bad(key, value, "an integer number of MiB in 0 .. 1048576");
    config.memoryBudgetMB = uint32_t(*v);
    return Status::ok();
  }
  if (key == "deviceMemoryMB") {
    auto v = parseNumber<uint64_t>(value, 0, 1048576);
    if (!v) return bad(key, value, "an integer number of MiB in 0 .. 1048576");
    config.deviceMemoryMB = uint32_t(*v);
    return Status::ok();
  }
  std::string known;
  for (const auto& k : tilerConfigKeys()) known += (known.empty() ? "" : ", ") + std::string(k.name);
  return {ErrorCode::UnknownConfigKey, "tilerConfig " + std::string(key) + ": unknown key (known keys: " + known + ")"};
}

std::string_view canonicalConfigKey(std::string_view key) noexcept {
  return key == "enableCompression" ? std::string_view("meshoptCompression") : key;
}

Status checkTilerConfig(const TilerConfig& config, io::ExportType type) {
  if (type != io::ExportType::Imodel) return Status::ok();
  if (config.outputFormat == io::ContentFormat::B3dm)
    return {ErrorCode::InvalidArgument, "tilerConfig outputFormat: b3dm is for 3DTILES and CESIUM exports; IMODEL "
                                        "exports write iMdl tiles (leave outputFormat out or set it to glb)"};
  if (config.meshoptCompression)
    return {ErrorCode::InvalidArgument,
            "tilerConfig meshoptCompression/enableCompression: iMdl tiles (IMODEL) have no compressed encoding; "
            "the compressed geometry encoding is for 3DTILES and CESIUM exports"};
  return Status::ok();
}

core::Result<TilerConfig> parseTilerConfig(const std::vector<std::pair<std::string, std::string>>& pairs) {
  TilerConfig config;
  std::set<std::string, std::less<>> seen;
  for (const auto& [k, v] : pairs) {
    if (!seen.insert(std::string(canonicalConfigKey(k))).second)
      return Status{ErrorCode::InvalidArgument,
                    "tilerConfig " + k + ": given more than once" +
                        (canonicalConfigKey(k) != k
                             ? " (it is another name of " + std::string(canonicalConfigKey(k)) + ")"
                             : std::string())};
    MX_RETURN_IF_ERROR(applyTilerConfig(config, k, v));
  }
  return config;
}

} // namespace mx::engine
