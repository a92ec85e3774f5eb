// iModel → Scene: every spatial element's GeometryStream decoded (ElementDecoder.h, on oneTBB
// threads, one SQLite connection each) and joined into the Scene in element order, so the Scene
// does not depend on the thread count. Tessellation rules: Tessellation.h.
#include "ElementDecoder.h"

#include <nlohmann/json.hpp>

#include <tbb/enumerable_thread_specific.h>
#include <tbb/task_group.h>

#include <deque>
#include <map>
#include <memory>
#include <unordered_map>

namespace mx::io {

using core::Result;
using core::Status;
using nlohmann::json;

namespace {

/// Adds the elements' results to the Scene in element order: one feature per element with
/// geometry, its own meshes by colour, and its part instances, whose shared meshes are built once
/// per (part, pieces of one colour).
class SceneJoiner {
public:
  explicit SceneJoiner(ImodelScene& out) : _out(out) {}

  void add(ElementOut&& e, const ElementRecord& rec) {
    ElementGeometryStats& stats = _out.elements.emplace_hint(_out.elements.end(), rec.id, std::move(e.stats))->second;
    for (const auto& [kind, n] : stats.skipped) _out.skipped[kind] += n;
    if (e.meshes.empty() && e.instances.empty()) return;
    core::Scene& scene = _out.scene;
    core::Feature f;
    f.elementId = rec.id;
    f.modelId = rec.model;
    f.categoryId = rec.category;
    f.subCategoryId = e.firstSubCategory.value_or(rec.category + 1);
    f.className = rec.className;
    f.label = rec.userLabel.empty() ? rec.codeValue : rec.userLabel;
    scene.features.push_back(std::move(f));
    const uint32_t feature = uint32_t(scene.features.size() - 1);
    for (auto& [rgba, w] : e.meshes) {
      core::Mesh mesh;
      mesh.positions = std::move(w.points);
      mesh.indices = std::move(w.indices);
      mesh.lines = std::move(w.lines);
      mesh.points = std::move(w.dots);
      mesh.featureIds.assign(mesh.positions.size(), feature);
      mesh.material = material(rgba);
      scene.meshes.push_back(std::move(mesh));
    }
    for (ElementOut::Instance& inst : e.instances) {
      auto [it, added] = _shared.try_emplace({inst.part->id, inst.pieces}, uint32_t(scene.sharedMeshes.size()));
      if (added) {
        core::Mesh mesh;
        for (uint32_t k : inst.pieces) {
          const LocalMesh& m = std::get<PieceEvent>(inst.part->events[k]).mesh;
          const uint32_t base = uint32_t(mesh.positions.size());
          mesh.positions.insert(mesh.positions.end(), m.points.begin(), m.points.end());
          for (uint32_t idx : m.indices) mesh.indices.push_back(base + idx);
          for (uint32_t idx : m.lines) mesh.lines.push_back(base + idx);
          for (uint32_t idx : m.dots) mesh.points.push_back(base + idx);
        }
        scene.sharedMeshes.push_back(std::move(mesh));
      }
      scene.instances.push_back({it->second, inst.transform, feature, material(inst.rgba)});
    }
  }

private:
  uint32_t material(uint32_t rgba) {
    auto [it, added] = _materials.try_emplace(rgba, uint32_t(_out.scene.materials.size()));
    if (added)
      _out.scene.materials.push_back({uint8_t(rgba), uint8_t(rgba >> 8), uint8_t(rgba >> 16), uint8_t(rgba >> 24)});
    return it->second;
  }

  ImodelScene& _out;
  std::unordered_map<uint32_t, uint32_t> _materials;
  std::map<std::pair<uint64_t, std::vector<uint32_t>>, uint32_t> _shared;
};

/// Elements per task: small enough to balance cheap boxes against costly surfaces.
constexpr size_t kElementsPerTask = 32;

/// Elements with geometry joined at a time when the scene is read in batches.
constexpr size_t kElementsPerWindow = 512;

Result<ImodelScene> buildScene(const ImodelFile::Impl& file, const TessellationOptions& options,
                               core::SceneBatches* batches) {
  ElementDecoder::Columns columns;
  MX_ASSIGN_OR_RETURN(columns.subCategory, file.column("BisCore", "SubCategory", "Properties"));
  MX_ASSIGN_OR_RETURN(columns.part, file.column("BisCore", "GeometryPart", "GeometryStream"));

  // Elements are independent: each thread decodes with its own connection and caches, and the
  // results join the Scene in element order, so the Scene does not depend on the thread count.
  // Decoding starts while the element query still steps: every kElementsPerTask elements with
  // geometry become a task. Deques keep the records and results in place as they grow.
  struct Worker {
    sqlite::Db db;
    std::optional<ElementDecoder> decoder;
  };
  tbb::enumerable_thread_specific<std::unique_ptr<Worker>> workers;
  std::deque<ElementRecord> records;
  std::deque<ElementOut> outs;            // one per element with geometry, in element order
  std::vector<const ElementRecord*> todo; // the same elements' records
  std::deque<Status> failures;            // one per task
  std::vector<std::pair<const ElementRecord*, ElementOut*>> batch;
  tbb::task_group tasks;
  auto launch = [&] {
    if (batch.empty()) return;
    Status& failure = failures.emplace_back();
    tasks.run([&file, &columns, &options, &workers, &failure, batch = std::move(batch)] {
      std::unique_ptr<Worker>& w = workers.local();
      if (!w) {
        auto db = sqlite::Db::openReadOnlyImmutable(file.path);
        if (!db) {
          failure = imodelCorrupt(db.status());
          return;
        }
        w = std::make_unique<Worker>();
        w->db = std::move(db).value();
        w->decoder.emplace(&w->db, columns, options);
      }
      for (const auto& [record, out] : batch) {
        Status s = w->decoder->element(*record, *out);
        if (!s) {
          failure = std::move(s);
          return;
        }
      }
    });
    batch.clear();
  };
  ImodelScene out;
  out.scene.materials.clear();
  out.scene.ecef = file.facts.ecef;
  out.scene.projectExtents = file.facts.projectExtents;
  SceneJoiner joiner(out);
  size_t joined = 0;
  // Decoded elements are joined in order; in batches (SceneBatches) every kElementsPerWindow
  // elements, after the scene is offered with their size (a taken scene lets go of its meshes).
  auto joinWindow = [&]() -> Status {
    launch();
    tasks.wait();
    for (Status& f : failures) MX_RETURN_IF_ERROR(std::move(f));
    failures.clear();
    if (batches && batches->take) {
      size_t upcoming = 0;
      for (size_t k = joined; k < todo.size(); ++k)
        upcoming += outs[k].stats.triangles + outs[k].stats.lineSegments + outs[k].stats.points;
      MX_ASSIGN_OR_RETURN(bool taken, batches->take(out.scene, upcoming));
      if (taken) {
        out.scene.meshes.clear();
        out.scene.instances.clear();
      }
    }
    for (; joined < todo.size(); ++joined) joiner.add(std::move(outs[joined]), *todo[joined]);
    return Status::ok();
  };
  if (batches) batches->declaredBounds = file.facts.projectExtents;
  Status walked = file.forEachSpatialElement([&](ElementRecord&& e) {
    records.push_back(std::move(e));
    if (!records.back().hasGeometry) return Status::ok();
    todo.push_back(&records.back());
    batch.emplace_back(&records.back(), &outs.emplace_back());
    if (batch.size() == kElementsPerTask) launch();
    if (batches && todo.size() - joined == kElementsPerWindow) return joinWindow();
    return Status::ok();
  });
  launch();
  tasks.wait(); // also when the walk failed: the tasks point into this frame
  MX_RETURN_IF_ERROR(walked);
  MX_RETURN_IF_ERROR(joinWindow());
  if (out.scene.materials.empty()) out.scene.materials.push_back({});
  // The records are handed back with the scene so callers need not query again.
  out.records.assign(std::make_move_iterator(records.begin()), std::make_move_iterator(records.end()));
  return out;
}

} // namespace

Result<ImodelScene> ImodelFile::readScene(const TessellationOptions& options, core::SceneBatches* batches) const {
  core::Result<ImodelScene> r = Status{core::ErrorCode::Internal, "not built"};
  try {
    r = buildScene(*_impl, options, batches);
  } catch (const json::exception& e) { // last line of defence: JSON of an unexpected shape
    return imodelFail(ImodelError::Corrupt, std::string("unexpected JSON in the iModel: ") + e.what());
  }
  if (!r && r.status().code() == core::ErrorCode::IoError) return imodelCorrupt(r.status());
  return r;
}

Result<ElementGeometryStats> tessellateGeometryBlob(std::span<const uint8_t> blob, const TessellationOptions& options) {
  ElementDecoder decoder(nullptr, {}, options);
  try {
    return decoder.decodeBlob(blob);
  } catch (const json::exception& e) {
    return imodelFail(ImodelError::Corrupt, std::string("unexpected JSON: ") + e.what());
  }
}

} // namespace mx::io