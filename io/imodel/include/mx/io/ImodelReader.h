#pragma once
// Reading iModel snapshot files (.bim) directly with SQLite — no iTwin.js at run time. Facts about
// the format: ../shared/docs/imodel-format.md. Reads the file facts and the spatial elements with
// their placements and world ranges, decodes GeometryStream blobs down to their operations, and
// tessellates them into a Scene with iTwin.js exportGraphics' stroke rules.
#include <mx/core/Math.h>
#include <mx/core/Result.h>
#include <mx/core/Scene.h>
#include <mx/core/SceneBatches.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace mx::io {

/// Why a file is not a readable iModel; the first word of every open() error message.
enum class ImodelError { NotSqlite, NotAnImodel, UnsupportedProfile, Corrupt };
std::string_view toString(ImodelError e) noexcept; ///< "not-sqlite", "not-an-imodel", …

struct ImodelFacts {
  std::string iModelId;    ///< DbGuid as 8-4-4-4-12 lowercase hex.
  std::string name;        ///< Root subject (element 1) CodeValue.
  std::string changesetId; ///< Empty for local snapshots.
  int64_t changesetIndex = 0;
  std::optional<core::Aabb> projectExtents;
  std::optional<core::EcefLocation> ecef; ///< Spatial → ECEF: origin + x/y axes.
  std::string profileVersion;             ///< dgn_Db SchemaVersion "major.minor.sub1.sub2".
};

struct ElementRecord {
  uint64_t id = 0, model = 0, category = 0;
  std::string className; ///< "Schema:Class", e.g. "Generic:PhysicalObject".
  std::string codeValue, userLabel;
  core::Mat4d placement = core::identityMatrix(); ///< Local → world.
  core::Aabb localBox;                            ///< Element-aligned box (local coordinates).
  core::Aabb worldRange;                          ///< As iTwin.js computes it (section 3 of the format doc).
  bool hasGeometry = false;
};

/// At most this many segments per full circle, whatever the tolerances ask for.
inline constexpr int kMaxCircleSegments = 1024;
/// At most this many points in one tessellated primitive: a stream asking for more (a B-spline
/// grid, a swept profile) fails its element ("corrupt: … would need N points").
inline constexpr size_t kMaxPrimitivePoints = size_t(1) << 24;

/// Tessellation tolerances (iTwin.js exportGraphics' defaults): a full circle is stroked with
/// 4 · ceil((π/2) / angleTolerance) segments, or more when chordTolerance > 0 demands it (never
/// more than kMaxCircleSegments).
struct TessellationOptions {
  double angleTolerance = 0.2617993877991494; ///< π/12 (15°); clamped to π/4 as iTwin.js does.
  double chordTolerance = 0;                  ///< Metres; 0 = off.
  /// Geometry that cannot be meshed (BReps, trimmed B-spline surfaces, text, images) is counted and
  /// skipped; with this set, each such op is replaced by a box: the local
  /// range its SubGraphicRange op announced, else the element's box, so nothing vanishes.
  bool boxForUnsupported = false;
};

/// What the scene builder made of one element (the `inspect` record and the conformance data).
struct ElementGeometryStats {
  uint64_t triangles = 0;
  double area = 0;                         ///< Sum of triangle areas, world units².
  std::vector<uint32_t> colors;            ///< tbgr, as iTwin.js reports them (first use order).
  uint64_t lineSegments = 0;               ///< Linework, as exportGraphics' onLineGraphics gives it.
  double lineLength = 0;                   ///< Sum of segment lengths, world units.
  std::vector<uint32_t> lineColors;        ///< tbgr of the linework (first use order).
  uint64_t points = 0;                     ///< Points of point strings.
  std::map<std::string, uint64_t> skipped; ///< Geometry ops not meshed, by kind.
  std::map<std::string, uint64_t> ops;     ///< The element stream's operations, by name.
  std::string error;                       ///< When the element's stream could not be decoded.
};

struct ImodelScene {
  core::Scene scene;                  ///< One feature per spatial element with geometry.
  std::vector<ElementRecord> records; ///< Every spatial element, as spatialElements().
  std::map<uint64_t, ElementGeometryStats> elements;
  std::map<std::string, uint64_t> skipped; ///< Totals over every element.
};

class ImodelFile {
public:
  ImodelFile();
  ImodelFile(ImodelFile&&) noexcept;
  ImodelFile& operator=(ImodelFile&&) noexcept;
  ~ImodelFile();

  /// Opens read-only (immutable=1) and proves the file is an iModel of a supported profile. Errors:
  /// MalformedInput ("not-sqlite: …", "not-an-imodel: …", "corrupt: …") or UnsupportedInput
  /// ("unsupported-profile: …").
  static core::Result<ImodelFile> open(const std::filesystem::path& path);

  [[nodiscard]] const ImodelFacts& facts() const;
  /// Every element of a spatial model (class derived from BisCore:SpatialModel, not private, not
  /// a template) that has a 3D placement, by id.
  [[nodiscard]] core::Result<std::vector<ElementRecord>> spatialElements() const;
  /// Tessellates every spatial element into a Scene (world coordinates, EcefLocation and project
  /// extents from the file). Meshed: polyfaces, boxes, spheres, cones/cylinders, torus pipes,
  /// closed shapes, discs, parity/union regions (B-spline curve boundaries included), extrusions,
  /// rotational and ruled sweeps, untrimmed B-spline surfaces, part instances (with the symbology
  /// rules of the format doc section 8: each part is tessellated once and becomes Scene shared
  /// meshes placed by instances), colours and transparency from sub-categories, overrides
  /// and render materials. Elements are decoded on every core; the Scene is the same for any
  /// thread count. Trimmed B-spline surfaces, BReps, text and images are skipped and
  /// counted per kind (or boxed); wires are counted, never meshed. An element whose
  /// stream is damaged is reported on that element and the rest go on.
  /// `batches`: the scene is handed over in batches of whole elements, in element order
  /// (core/SceneBatches.h; declared bounds: the project extents).
  [[nodiscard]] core::Result<ImodelScene> readScene(const TessellationOptions& options = {},
                                                    core::SceneBatches* batches = nullptr) const;

  /// The raw GeometryStream blob of a 3D element (empty when it has none).
  [[nodiscard]] core::Result<std::vector<uint8_t>> geometryBlob(uint64_t elementId) const;

  struct Impl; ///< Opaque: the open database, shared with the scene builder.

private:
  std::unique_ptr<Impl> _impl;
};

/// "0x1a": ids as iTwin.js writes them.
std::string formatId64(uint64_t id);

/// Local → world transform of a placement (origin, yaw/pitch/roll in degrees): R = Rz(yaw) ·
/// Ry(−pitch) · Rx(roll), then the origin.
core::Mat4d placementTransform(const core::Vec3d& origin, double yawDeg, double pitchDeg, double rollDeg);

/// iTwin.js' world range: dimensions thinner than 1 mm widened to 1 mm about their middle, then
/// the 8 corners transformed.
core::Aabb worldRange(const core::Aabb& localBox, const core::Mat4d& placement);

// ---- GeometryStream ------------------------------------------------------------------------------

/// Largest inflated GeometryStream accepted (a hostile blob cannot make us allocate more).
inline constexpr size_t kMaxGeometryStreamBytes = size_t(256) << 20;

/// Undoes the BeSQLite "SnappyToBlob" wrapper: chunks of (uint16 size incl. itself, raw Snappy
/// block), each inflating to at most 64 KiB. Errors name the chunk and byte offset.
core::Result<std::vector<uint8_t>> inflateGeometryBlob(std::span<const uint8_t> blob,
                                                       size_t maxBytes = kMaxGeometryStreamBytes);

/// GeometryStream operation codes (format doc section 7; iTwin.js' OpCode). Values not listed
/// (fills, patterns, line styles, deprecated codes) carry no geometry.
enum class GeometryOpCode : uint32_t {
  Header = 1,
  SubGraphicRange = 2,
  PartInstance = 3,
  BasicSymbology = 4,
  PointPrimitive = 5,
  PointPrimitive2d = 6,
  ArcPrimitive = 7,
  CurveVector = 8,
  Polyface = 9,
  CurvePrimitive = 10,
  SolidPrimitive = 11,
  BsplineSurface = 12,
  AreaFill = 19,
  Pattern = 20,
  Material = 21,
  TextString = 22,
  LineStyleModifiers = 23,
  ParasolidBRep = 25,
  BRepPolyface = 26,
  BRepCurveVector = 27,
  Image = 28,
};

struct GeometryOp {
  uint32_t opCode = 0;           ///< A GeometryOpCode, or a code this reader does not know.
  std::span<const uint8_t> data; ///< Points into the inflated buffer.
};

/// Checks the 8-byte header (signature 0x600, size) and splits the stream into operations.
core::Result<std::vector<GeometryOp>> parseGeometryStream(std::span<const uint8_t> inflated);

/// Decodes and meshes one GeometryStream blob on its own, without a file: symbology comes from
/// overrides only and part instances are not expanded (reported as errors). For fuzzing and
/// tests of the decoders; returns what the element would get.
core::Result<ElementGeometryStats> tessellateGeometryBlob(std::span<const uint8_t> blob,
                                                          const TessellationOptions& options = {});

/// Name of an opcode ("Header", "Polyface", …) or "Unknown".
std::string_view opCodeName(uint32_t opCode) noexcept;

} // namespace mx::io
