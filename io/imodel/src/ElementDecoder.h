#pragma once
// Decoding one element's GeometryStream (format doc sections 7-8). walk() frames the ops and
// records what they hold as events (symbology changes, tessellated pieces, skipped kinds, part
// instances); replay() runs the events through the symbology state machine with the element's
// placement: colours, world meshes, part instances and stats. One decoder per thread: it owns a
// SQLite connection's statements and caches of sub-category appearances, render materials and
// parts (a part is decoded once, however often it is instanced).
//   ElementDecoder.cpp  element(), decodeBlob(), symbology (appearance, material, resolve), replay
//   StreamWalker.cpp    walk() and one handler per op code (GeometryOpCode), parts, unsupported
#include "ImodelImpl.h"
#include "Tessellation.h"

#include <mx/core/Math.h>

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace mx::io {

using geometry::LocalMesh;

struct Appearance {
  uint32_t color = 0; ///< tbgr (T ignored)
  double transparency = 0;
  uint64_t material = 0;
  bool invisible = false;
};

struct RenderMaterial {
  bool hasColor = false;
  double rgb[3] = {0, 0, 0};
  bool hasTransmit = false;
  double transmit = 0;
};

// ---- Recording and replaying streams ----------------------------------------------------------
// A walk over a GeometryStream records what it found as events; replaying them with an element's
// symbology state gives colours, triangles and stats. A geometry part is walked (decoded,
// tessellated) once per builder, however often it is instanced, and becomes shared meshes.

struct PartGeometry;

struct SymbologyEvent {
  uint64_t subCategory = 0;      ///< 0 = keep the current one.
  std::optional<uint32_t> color; ///< tbgr override.
  double transparency = 0;
};
struct MaterialEvent {
  uint64_t material = 0;
};
struct PieceEvent {
  LocalMesh mesh;    ///< In the walked stream's coordinates.
  double area = 0;   ///< Of `mesh`, in those coordinates (a part's pieces only).
  double length = 0; ///< Of its line segments, likewise.
};
struct SkipEvent {
  std::string kind;
};
struct InstanceEvent {
  std::shared_ptr<const PartGeometry> part;
  core::Mat4d transform = core::identityMatrix(); ///< Part → the walked stream's coordinates.
};
using Event = std::variant<SymbologyEvent, MaterialEvent, PieceEvent, SkipEvent, InstanceEvent>;

struct PartGeometry {
  uint64_t id = 0;
  std::vector<Event> events;
  core::Status error; ///< Why the part's stream could not be decoded.
};

/// The symbology state machine's state (format doc section 8); it carries over across part
/// instances of one element.
struct State {
  uint64_t subCategory = 0;
  std::optional<uint32_t> colorOverride;
  double elementTransparency = 0;
  std::optional<uint64_t> materialOverride;
};

/// One element's result, before it joins the Scene.
struct ElementOut {
  struct WorldMesh {
    std::vector<core::Vec3d> points;
    std::vector<uint32_t> indices; ///< 3 per triangle.
    std::vector<uint32_t> lines;   ///< 2 per segment.
    std::vector<uint32_t> dots;    ///< 1 per point.
  };
  /// Pieces of one part drawn with one colour: a shared mesh (part id + piece event indices)
  /// placed at `transform`.
  struct Instance {
    std::shared_ptr<const PartGeometry> part;
    std::vector<uint32_t> pieces;
    core::Mat4d transform;
    uint32_t rgba = 0;
  };
  ElementGeometryStats stats;
  std::map<uint32_t, WorldMesh> meshes; ///< The element's own geometry by RGBA, world coordinates.
  std::vector<Instance> instances;
  std::optional<uint64_t> firstSubCategory;
};

class ElementDecoder {
public:
  struct Columns {
    std::optional<std::pair<std::string, std::string>> subCategory, part;
  };

  /// `db` null: a lone blob (no sub-categories, materials or parts to look up).
  ElementDecoder(const sqlite::Db* db, Columns columns, const TessellationOptions& o)
      : _db(db), _columns(std::move(columns)), _o(o) {}

  /// The stats of one blob in its own coordinates (fuzzing, tests).
  core::Result<ElementGeometryStats> decodeBlob(std::span<const uint8_t> blob);

  /// Decodes one element; a damaged stream is reported in the element's stats, not returned.
  /// Returns an error only when the file cannot be read.
  core::Status element(const ElementRecord& e, ElementOut& out);

private:
  // ElementDecoder.cpp
  core::Result<Appearance> appearance(uint64_t subCategory);
  core::Result<RenderMaterial> material(uint64_t id);
  core::Result<std::pair<uint32_t, uint32_t>> resolve(const State& st);
  core::Status replay(const std::vector<Event>& events, const core::Mat4d& transform, State& st, ElementOut& out,
                      const std::shared_ptr<const PartGeometry>& part);
  void replayPiece(const PieceEvent& piece, uint32_t rgba, const core::Mat4d& transform, ElementOut& out);

  // StreamWalker.cpp
  core::Status walk(std::span<const uint8_t> blob, std::vector<Event>& events, int depth);
  core::Status walkOp(const GeometryOp& op, std::vector<Event>& events, int depth);
  core::Status onSubGraphicRange(const GeometryOp& op);
  core::Status onSymbology(const GeometryOp& op, std::vector<Event>& events);
  core::Status onMaterial(const GeometryOp& op, std::vector<Event>& events);
  core::Status onPartInstance(const GeometryOp& op, std::vector<Event>& events, int depth);
  core::Status onGeometry(const GeometryOp& op, std::vector<Event>& events, int depth);
  core::Status onPoints(const GeometryOp& op, std::vector<Event>& events, int depth);
  core::Status onArc(const GeometryOp& op, std::vector<Event>& events, int depth);
  core::Status onCurveVector(const GeometryOp& op, std::vector<Event>& events, int depth);
  core::Status onCurvePrimitive(const GeometryOp& op, std::vector<Event>& events, int depth);
  core::Status onBsplineSurface(const GeometryOp& op, std::vector<Event>& events, int depth);
  core::Status unsupported(const std::string& kind, std::vector<Event>& events, int depth);
  core::Result<std::vector<uint8_t>> partStream(uint64_t partId);
  core::Result<std::shared_ptr<const PartGeometry>> part(uint64_t partId, int depth);

  const sqlite::Db* _db;
  Columns _columns;
  TessellationOptions _o;
  std::optional<sqlite::Statement> _blobStmt;
  std::unordered_map<uint64_t, Appearance> _appearances;
  std::unordered_map<uint64_t, RenderMaterial> _materials;
  std::unordered_map<uint64_t, std::shared_ptr<const PartGeometry>> _parts;
  std::optional<core::Aabb> _subGraphicRange;
  bool _keepRange = false;
  core::Aabb _elementBox;
  ElementGeometryStats* _stats = nullptr;
};

} // namespace mx::io
