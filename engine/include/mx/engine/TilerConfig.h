#pragma once
// tilerConfig: the key/value options of an export (REST `tilerConfig`, CLI `--config KEY=VALUE`).
// Every key is validated; an unknown key or a bad value is an error that names the key.
#include <mx/core/Result.h>
#include <mx/io/TilesetModel.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mx::engine {

enum class Simplifier { Cluster, Quadric };
enum class DeviceChoice { Auto, Cpu, Cuda };

std::string_view toString(Simplifier s) noexcept;
std::string_view toString(DeviceChoice d) noexcept;

struct TilerConfig {
  uint32_t maxTrianglesPerTile = 32768; ///< Leaf size limit; parents are simplified to it.
  double geometricErrorScale = 1.0;     ///< Multiplies every measured geometric error.
  Simplifier simplifier = Simplifier::Cluster;
  bool quantizePositions = true;   ///< uint16 positions (KHR_mesh_quantization).
  bool meshoptCompression = false; ///< EXT_meshopt_compression (also named enableCompression).
  /// maxTileSize: the largest tile content file in KiB, 0 = no limit. Enforced by the bytes
  /// written: an export whose largest tile is over it is tiled again with fewer triangles a tile.
  uint32_t maxTileSizeKiB = 0;
  io::ContentFormat outputFormat = io::ContentFormat::Glb; ///< glb (3D Tiles 1.1) or b3dm (1.0).
  DeviceChoice device = DeviceChoice::Auto;
  uint32_t deviceMemoryMB = 0; ///< GPU memory an export may hold; 0 = 80 % of what is free.
  /// Host memory (MiB) an export should stay within; 0 = no limit (in core). An input whose in-core
  /// footprint would exceed it is tiled out of core (OutOfCore.h).
  uint32_t memoryBudgetMB = 0;
  double angleTolerance = 0.2617993877991494; ///< iModel tessellation, radians (π/12).
  double chordTolerance = 0;                  ///< iModel tessellation, metres (0 = off).
  bool boxForUnsupported = false;             ///< unsupportedGeometry=box.
};

/// Documentation of one key, used by `meshexport config-keys` and docs/tiler-config.md.
struct ConfigKeyInfo {
  std::string_view name;
  std::string_view type; ///< integer, number, boolean or enum.
  std::string_view defaultValue;
  std::string_view allowed; ///< Range or values.
  std::string_view description;
};

const std::vector<ConfigKeyInfo>& tilerConfigKeys();

/// Applies one key. Errors: UnknownConfigKey, InvalidArgument (message names the key and value).
core::Status applyTilerConfig(TilerConfig& config, std::string_view key, std::string_view value);

/// The key a name sets: names that are another name of a key (enableCompression →
/// meshoptCompression) give that key; others are returned as they are. Two names of one key in
/// one config are a repeated key.
std::string_view canonicalConfigKey(std::string_view key) noexcept;

/// The checks between keys and the export type, once every key is applied: outputFormat b3dm and
/// meshoptCompression are for 3DTILES and CESIUM (InvalidArgument naming the key otherwise).
core::Status checkTilerConfig(const TilerConfig& config, io::ExportType type);

/// Applies KEY=VALUE pairs in order onto the defaults; a repeated key is an error.
core::Result<TilerConfig> parseTilerConfig(const std::vector<std::pair<std::string, std::string>>& pairs);

} // namespace mx::engine
