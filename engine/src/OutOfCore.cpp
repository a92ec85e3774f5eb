#include "OutOfCore.h"

#include "Geolocation.h"
#include "Lod.h"
#include "Partition.h"
#include "Prepare.h"
#include "Quantize.h"
#include "Spill.h"

#include <mx/engine/Metrics.h>
#include <mx/io/TilesetWriter.h>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace mx::engine {

using core::ErrorCode;
using core::Result;
using core::Status;
using core::TileMesh;
namespace fs = std::filesystem;

BudgetPlan BudgetPlan::of(uint32_t budgetMB, uint32_t maxTrianglesPerTile) {
  BudgetPlan p;
  p.budgetBytes = uint64_t(budgetMB) << 20;
  // An upper level simplifies the union of 8 chunk roots of maxTrianglesPerTile each (about 128
  // bytes a triangle with its copies), beside 1 MiB of buffers.
  const uint64_t need = 8 * uint64_t(maxTrianglesPerTile) * 128 + (uint64_t(1) << 20);
  if (p.budgetBytes < need)
    p.usable = Status{ErrorCode::InvalidArgument,
                      "tilerConfig memoryBudgetMB " + std::to_string(budgetMB) +
                          " is too small to tile with maxTrianglesPerTile " + std::to_string(maxTrianglesPerTile) +
                          ": out-of-core tiling needs at least " + std::to_string((need + (1 << 20) - 1) >> 20) +
                          " MiB (raise memoryBudgetMB or lower maxTrianglesPerTile)"};
  // A reader batch in flight: the reader's part (ids, per-vertex data, meshes of doubles) and the
  // batch prepared, about 400 bytes a triangle together.
  p.batchPrimitives = std::max<size_t>(1024, size_t(p.budgetBytes / 4 / 400));
  p.recordsPerRun = size_t(p.budgetBytes / 4 / (sizeof(SpillRecord) + 16));
  // Two chunks in memory (one tiled, the next merged beside it), 250 bytes a primitive each.
  p.chunkPrimitives = std::max<size_t>(maxTrianglesPerTile, size_t(p.budgetBytes / 4 / 250));
  return p;
}

uint64_t inCoreBytes(const core::Scene& scene, size_t upcoming) {
  const uint64_t drawn = scene.triangleCount() + scene.wireCount() + upcoming;
  return scene.byteSize() + upcoming * kSceneBytesPerPrimitive + drawn * kPipelineBytesPerPrimitive;
}

namespace {

int16_t snorm16(float v) { return int16_t(std::lround(std::clamp(v, -1.0f, 1.0f) * 32767.0f)); }

/// The chunk's records as one indexed mesh: identical corners (position, normal, class) shared,
/// numbered in first-use order through a direct-mapped table of the corners seen last (hashed over
/// the corner's seven 32-bit words; an entry holds the corner itself, so a lookup reads one cache
/// line). Records come in Morton order, so a corner's twins are near and the table stays in cache;
/// a twin it has forgotten becomes a second vertex of the same values, which draws and simplifies
/// the same.
TileMesh chunkMesh(const std::vector<SpillRecord>& records) {
  using Words = std::array<uint32_t, 7>; // position, normal (float), class
  struct Entry {
    Words words;
    uint32_t number = UINT32_MAX;
  };
  constexpr size_t kRecent = size_t(1) << 16;
  std::vector<Entry> recent(kRecent);
  TileMesh m;
  auto vertex = [&](const SpillRecord& r, int k) {
    Words w;
    float nrm[3];
    for (int a = 0; a < 3; ++a) nrm[a] = float(r.n[3 * k + a]) / 32767.0f;
    std::memcpy(&w[0], &r.p[3 * k], 12);
    std::memcpy(&w[3], nrm, 12);
    w[6] = r.cls[k];
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (uint32_t x : w) h = (h ^ x) * 0xff51afd7ed558ccdULL;
    Entry& e = recent[(h ^ h >> 31) & (kRecent - 1)];
    if (e.number != UINT32_MAX && e.words == w) return e.number;
    e.words = w;
    e.number = uint32_t(m.classes.size());
    m.positions.insert(m.positions.end(), &r.p[3 * k], &r.p[3 * k] + 3);
    m.normals.insert(m.normals.end(), nrm, nrm + 3);
    m.classes.push_back(r.cls[k]);
    return e.number;
  };
  for (const SpillRecord& r : records) {
    if (r.corners == 3)
      m.indices.insert(m.indices.end(), {vertex(r, 0), vertex(r, 1), vertex(r, 2)});
    else if (r.corners == 2)
      m.lines.insert(m.lines.end(), {vertex(r, 0), vertex(r, 1)});
    else
      m.points.push_back(vertex(r, 0));
  }
  return m;
}

/// Tile counts of the upper levels over `chunks` chunk roots, root level first (ends with `chunks`).
std::vector<size_t> levelSizes(size_t chunks) {
  std::vector<size_t> sizes{chunks};
  while (sizes.back() > 1) sizes.push_back((sizes.back() + kMaxChildren - 1) / kMaxChildren);
  std::reverse(sizes.begin(), sizes.end());
  return sizes;
}

/// Stages of the same name (one per chunk) summed into the first.
void foldStages(core::ExportMetrics& metrics) {
  std::vector<core::StageMetrics> folded;
  for (core::StageMetrics& s : metrics.stages) {
    auto it = std::find_if(folded.begin(), folded.end(), [&](const auto& f) { return f.name == s.name; });
    if (it == folded.end()) {
      folded.push_back(std::move(s));
      continue;
    }
    it->wallMs += s.wallMs;
    it->kernelMs += s.kernelMs;
    it->copyMs += s.copyMs;
    it->itemsIn += s.itemsIn;
    it->itemsOut += s.itemsOut;
    it->bytes += s.bytes;
    if (it->backend != s.backend && it->backend.find(s.backend) == std::string::npos) it->backend += "+" + s.backend;
  }
  metrics.stages = std::move(folded);
}

/// The merge on its own thread, one chunk ahead of the tiling: chunks of up to `size` records in
/// merge order, each deduplicated into one indexed mesh. Two chunks are in memory at most (the
/// one being tiled and the next).
class ChunkFeed {
public:
  ChunkFeed(RunMerger& merger, size_t size) : _merger(merger), _size(size), _thread([this] { produce(); }) {}
  ~ChunkFeed() {
    {
      std::lock_guard lock(_mutex);
      _stop = true;
    }
    _changed.notify_all();
    _thread.join();
  }
  ChunkFeed(const ChunkFeed&) = delete;
  ChunkFeed& operator=(const ChunkFeed&) = delete;

  /// The next chunk's mesh; nullopt after the last; the merge's error, if it failed.
  Result<std::optional<TileMesh>> next() {
    std::unique_lock lock(_mutex);
    _changed.wait(lock, [&] { return _ready.has_value() || _finished; });
    if (!_ready) {
      if (!_failure.isOk()) return _failure;
      return std::optional<TileMesh>();
    }
    std::optional<TileMesh> out = std::move(_ready);
    _ready.reset();
    _changed.notify_all();
    return out;
  }
  [[nodiscard]] double busyMs() const { return _busyMs; }

private:
  void produce() {
    std::vector<SpillRecord> records;
    Status failure;
    for (bool more = true; more;) {
      const auto start = std::chrono::steady_clock::now();
      records.clear();
      records.reserve(_size);
      SpillRecord r;
      while (records.size() < _size) {
        auto got = _merger.next(r);
        if (!got) {
          failure = got.status();
          more = false;
          break;
        }
        if (!(more = *got)) break;
        records.push_back(r);
      }
      std::optional<TileMesh> mesh;
      if (failure.isOk() && !records.empty()) mesh = chunkMesh(records);
      std::vector<SpillRecord>().swap(records);
      _busyMs += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      std::unique_lock lock(_mutex);
      _changed.wait(lock, [&] { return !_ready.has_value() || _stop; });
      if (_stop) return;
      if (mesh) _ready = std::move(mesh);
      if (!failure.isOk() || !more) {
        _failure = failure;
        _finished = true;
      }
      _changed.notify_all();
      if (_finished) return;
    }
  }

  RunMerger& _merger;
  size_t _size;
  std::mutex _mutex;
  std::condition_variable _changed;
  std::optional<TileMesh> _ready;
  bool _finished = false, _stop = false;
  Status _failure;
  double _busyMs = 0;
  std::thread _thread; // last: starts once the rest is built
};

/// A chunk's root, kept for the upper levels.
struct ChunkRoot {
  TileMesh mesh;
  double error = 0, cellSize = 0;
  uint32_t node = 0; ///< Index into the chunk nodes.
};

} // namespace

struct StreamingExport::State {
  fs::path outDir;
  ExportOptions options;
  BudgetPlan plan;
  StageRunner runner;
  core::ExportMetrics metrics;
  bool streaming = false;
  std::optional<OutputFolder> folder;
  fs::path spillDir;
  std::optional<RunWriter> runs;
  std::optional<core::Aabb> declared;
  bool framed = false;
  core::Vec3d anchor;
  core::Aabbf keyBox;
  std::vector<core::VertexClass> classes;
  std::unordered_map<uint64_t, uint32_t> classIndex;
  double spillMs = 0;

  State(fs::path out, const ExportOptions& o, const BudgetPlan& p, const BackendSet& b)
      : outDir(std::move(out)), options(o), plan(p), runner(b) {}

  Status startStreaming() {
    MX_ASSIGN_OR_RETURN(OutputFolder made, OutputFolder::create(outDir));
    folder.emplace(std::move(made));
    spillDir = folder->temp() / ".spill";
    std::error_code ec;
    fs::create_directories(spillDir, ec);
    if (ec) return {ErrorCode::IoError, "cannot create " + spillDir.string() + ": " + ec.message()};
    runs.emplace(spillDir, plan.recordsPerRun);
    streaming = true;
    return Status::ok();
  }

  uint32_t globalClass(const core::VertexClass& c) {
    const uint64_t key = uint64_t(c.feature) << 32 | c.rgba;
    auto [it, added] = classIndex.try_emplace(key, uint32_t(classes.size()));
    if (added) classes.push_back(c);
    return it->second;
  }

  /// The scene's meshes and instances → records in the runs; the scene keeps features and materials.
  Status spill(core::Scene& scene) {
    const auto start = std::chrono::steady_clock::now();
    MX_RETURN_IF_ERROR(checkCancel(options));
    if (scene.meshes.empty() && scene.instances.empty()) return Status::ok();
    if (!framed) frame(scene);
    metrics.trianglesIn += scene.triangleCount();
    metrics.lineSegmentsIn += scene.lineSegmentCount();
    metrics.pointsIn += scene.pointCount();
    metrics.verticesIn += scene.vertexCount();
    metrics.inputBytes = std::max<uint64_t>(metrics.inputBytes, scene.byteSize());
    // In parts of at most a batch (the scene held in core until streaming began is larger), each
    // part's meshes released once spilled; features, materials and shared meshes lent to each part.
    auto size = [](const core::Mesh& m) { return m.triangleCount() + m.wireCount(); };
    size_t mi = 0, ii = 0;
    while (mi < scene.meshes.size() || ii < scene.instances.size()) {
      core::Scene part;
      part.features = std::move(scene.features);
      part.materials = std::move(scene.materials);
      part.sharedMeshes = std::move(scene.sharedMeshes);
      size_t n = 0;
      for (; mi < scene.meshes.size() && (n == 0 || n + size(scene.meshes[mi]) <= plan.batchPrimitives); ++mi) {
        n += size(scene.meshes[mi]);
        part.meshes.push_back(std::move(scene.meshes[mi]));
      }
      for (; ii < scene.instances.size() && n < plan.batchPrimitives; ++ii) {
        const core::MeshInstance& inst = scene.instances[ii];
        if (inst.mesh < part.sharedMeshes.size()) n += size(part.sharedMeshes[inst.mesh]);
        part.instances.push_back(inst);
      }
      Status spilled = spillPart(part);
      scene.features = std::move(part.features);
      scene.materials = std::move(part.materials);
      scene.sharedMeshes = std::move(part.sharedMeshes);
      MX_RETURN_IF_ERROR(spilled);
    }
    scene.meshes.clear();
    scene.instances.clear();
    spillMs += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    return Status::ok();
  }

  /// The root frame's origin (the declared bounds' centre, else the scene's) and the key box
  /// (declared bounds ∪ this scene, root frame).
  void frame(const core::Scene& scene) {
    core::Aabb box;
    for (const core::Mesh& m : scene.meshes)
      for (const core::Vec3d& p : m.positions) box.extend(p.x, p.y, p.z);
    std::vector<core::Aabb> shared(scene.sharedMeshes.size());
    for (size_t k = 0; k < shared.size(); ++k)
      for (const core::Vec3d& p : scene.sharedMeshes[k].positions) shared[k].extend(p.x, p.y, p.z);
    for (const core::MeshInstance& inst : scene.instances) {
      if (inst.mesh >= shared.size() || shared[inst.mesh].empty()) continue;
      const core::Aabb& b = shared[inst.mesh];
      for (int c = 0; c < 8; ++c) {
        const core::Vec3d w =
            core::transformPoint(inst.transform, {(c & 1) ? b.max[0] : b.min[0], (c & 2) ? b.max[1] : b.min[1],
                                                  (c & 4) ? b.max[2] : b.min[2]});
        box.extend(w.x, w.y, w.z);
      }
    }
    const core::Aabb& centred = declared && !declared->empty() ? *declared : box;
    if (!centred.empty())
      anchor = {(centred.min[0] + centred.max[0]) / 2, (centred.min[1] + centred.max[1]) / 2,
                (centred.min[2] + centred.max[2]) / 2};
    if (declared && !declared->empty()) box.extend(*declared);
    for (int a = 0; a < 3; ++a)
      if (!box.empty()) {
        keyBox.min[a] = float(box.min[a] - anchor[a]);
        keyBox.max[a] = float(box.max[a] - anchor[a]);
      }
    framed = true;
  }

  /// One part: prepared around the anchor, its records into the runs.
  Status spillPart(const core::Scene& part) {
    MX_ASSIGN_OR_RETURN(Prepared prepared, prepare(part, anchor));
    const TileMesh& m = prepared.mesh;
    std::vector<uint32_t> global(prepared.classes.size());
    for (size_t c = 0; c < global.size(); ++c) global[c] = globalClass(prepared.classes[c]);
    // Records on every core, then into the runs in order.
    const size_t nt = m.indices.size() / 3, nl = m.lines.size() / 2, np = m.points.size();
    std::vector<SpillRecord> records(nt + nl + np);
    tbb::parallel_for(tbb::blocked_range<size_t>(0, records.size(), 4096),
                      [&](const tbb::blocked_range<size_t>& range) {
                        for (size_t i = range.begin(); i < range.end(); ++i) {
                          const uint32_t* v = i < nt        ? &m.indices[3 * i]
                                              : i < nt + nl ? &m.lines[2 * (i - nt)]
                                                            : &m.points[i - nt - nl];
                          const uint16_t corners = i < nt ? 3 : i < nt + nl ? 2 : 1;
                          SpillRecord& r = records[i];
                          r.corners = corners;
                          float centroid[3] = {0, 0, 0};
                          for (int k = 0; k < 3; ++k) {
                            const uint32_t at = v[std::min(k, corners - 1)];
                            for (int a = 0; a < 3; ++a) {
                              r.p[3 * k + a] = m.positions[3 * at + a];
                              r.n[3 * k + a] = snorm16(m.normals[3 * at + a]);
                              centroid[a] += m.positions[3 * at + a] / 3.0f;
                            }
                            r.cls[k] = global[m.classes[at]];
                          }
                          r.key = mortonKey(keyBox, centroid[0], centroid[1], centroid[2]);
                        }
                      });
    return runs->add(records);
  }

  /// A part's contents written now (timed as write), its IMODEL model extents gathered.
  Status writePart(const io::TilesetModel& part, size_t tiles, io::ImdlModelExtents& extents) {
    StageTimer timer(metrics, "write");
    MX_ASSIGN_OR_RETURN(io::WriteReport report, io::writeContents(part, folder->temp(), writeOptions(options)));
    timer.stage().itemsIn = tiles;
    timer.stage().itemsOut = report.files;
    timer.stage().bytes = report.bytes;
    metrics.outputBytes += report.bytes;
    if (options.type == io::ExportType::Imodel) io::addImdlModelExtents(part, extents);
    return Status::ok();
  }

  Result<ExportResult> finish(core::Scene& scene, double readMs);
  Status tileChunks(const core::Scene& scene, std::vector<io::TilesetNode>& nodes, std::vector<ChunkRoot>& roots,
                    io::ImdlModelExtents& extents, uint32_t chunkLevel);
  Result<io::TilesetModel> upperLevels(const core::Scene& scene, std::vector<ChunkRoot>& roots,
                                       std::vector<io::TilesetNode>&& chunkNodes, io::ImdlModelExtents& extents);
};

StreamingExport::StreamingExport(fs::path outDir, const ExportOptions& options, const BudgetPlan& plan,
                                 const BackendSet& backends)
    : _s(std::make_unique<State>(std::move(outDir), options, plan, backends)) {}
StreamingExport::~StreamingExport() = default;

bool StreamingExport::streaming() const { return _s->streaming; }

Result<bool> StreamingExport::take(core::Scene& scene, size_t upcoming, const std::optional<core::Aabb>& declared) {
  State& s = *_s;
  if (!s.streaming) {
    if (inCoreBytes(scene, upcoming) <= s.plan.budgetBytes) return false;
    MX_RETURN_IF_ERROR(s.plan.usable);
    if (s.options.config.maxTileSizeKiB)
      return Status{ErrorCode::InvalidArgument,
                    "tilerConfig maxTileSize cannot be combined with out-of-core tiling, which this input needs under "
                    "memoryBudgetMB " +
                        std::to_string(s.options.config.memoryBudgetMB) + " (drop one of them)"};
    s.declared = declared;
    MX_RETURN_IF_ERROR(s.startStreaming());
  }
  MX_RETURN_IF_ERROR(s.spill(scene));
  return true;
}

Status StreamingExport::State::tileChunks(const core::Scene& scene, std::vector<io::TilesetNode>& nodes,
                                          std::vector<ChunkRoot>& roots, io::ImdlModelExtents& extents,
                                          uint32_t chunkLevel) {
  const size_t bufferRecords = std::max<size_t>(
      256, size_t(plan.budgetBytes / 16 / sizeof(SpillRecord) / std::max<size_t>(1, runs->runs().size())));
  MX_ASSIGN_OR_RETURN(RunMerger merger, RunMerger::open(runs->runs(), bufferRecords));
  const uint64_t total = runs->records();
  std::vector<uint32_t> levelCount;
  const SubtreeNaming naming{chunkLevel, &levelCount};
  ChunkFeed feed(merger, plan.chunkPrimitives);
  uint64_t done = 0;
  for (;;) {
    MX_RETURN_IF_ERROR(checkCancel(options));
    progress(options, "chunks", double(done) / double(std::max<uint64_t>(1, total)));
    MX_ASSIGN_OR_RETURN(std::optional<TileMesh> next, feed.next());
    if (!next) break;
    TileMesh mesh = std::move(*next);
    done += mesh.primitiveCount();
    MX_ASSIGN_OR_RETURN(core::PartitionOutput part, runPartition(mesh, options, metrics, runner));
    TreeWork work;
    MX_RETURN_IF_ERROR(runLod(std::move(mesh), std::move(part), options, metrics, runner, work.tiles));
    ChunkRoot root{work.tiles[0].mesh, work.tiles[0].error, work.tiles[0].cellSize, uint32_t(nodes.size())};
    work.classes = std::move(classes);
    work.center = anchor;
    auto model = runQuantize(work, scene, options, metrics, runner, &naming);
    classes = std::move(work.classes);
    if (!model) return model.status();
    MX_RETURN_IF_ERROR(writePart(*model, model->nodes.size(), extents));
    const uint32_t base = uint32_t(nodes.size());
    for (io::TilesetNode& n : model->nodes) {
      for (uint32_t& c : n.children) c += base;
      nodes.push_back(std::move(n));
    }
    roots.push_back(std::move(root));
  }
  core::StageMetrics merged{"merge",       "-",   "beside the chunk stages (its own thread)",
                            feed.busyMs(), total, roots.size()};
  metrics.stages.push_back(merged);
  return Status::ok();
}

Result<io::TilesetModel> StreamingExport::State::upperLevels(const core::Scene& scene, std::vector<ChunkRoot>& roots,
                                                             std::vector<io::TilesetNode>&& chunkNodes,
                                                             io::ImdlModelExtents& extents) {
  io::TilesetModel out;
  out.rootTransform = rootTransform(scene, options, anchor);
  if (roots.size() == 1) {
    out.nodes = std::move(chunkNodes);
    return out;
  }
  // Level sizes from the chunk roots up; tiles breadth first, the chunk roots (placeholders) last.
  const std::vector<size_t> sizes = levelSizes(roots.size());
  std::vector<size_t> first(sizes.size(), 0);
  for (size_t d = 1; d < sizes.size(); ++d) first[d] = first[d - 1] + sizes[d - 1];
  TreeWork work;
  work.tiles.resize(first.back() + sizes.back());
  for (size_t d = 0; d < sizes.size(); ++d)
    for (size_t j = 0; j < sizes[d]; ++j) {
      TileBuild& t = work.tiles[first[d] + j];
      t.level = uint32_t(d);
      if (d + 1 < sizes.size())
        for (size_t c = j * kMaxChildren; c < std::min(sizes[d + 1], (j + 1) * kMaxChildren); ++c)
          t.children.push_back(uint32_t(first[d + 1] + c));
    }
  const size_t placeholders = first.back();
  for (size_t k = 0; k < roots.size(); ++k) {
    TileBuild& t = work.tiles[placeholders + k];
    t.mesh = std::move(roots[k].mesh);
    t.error = roots[k].error;
    t.cellSize = roots[k].cellSize;
  }
  {
    StageTimer timer(metrics, "lod");
    MX_RETURN_IF_ERROR(simplifyParents(work.tiles, options, runner));
    timer.stage().itemsIn = roots.size();
    timer.stage().itemsOut = placeholders;
  }
  for (size_t k = placeholders; k < work.tiles.size(); ++k) work.tiles[k].mesh = {}; // written with their chunk
  work.classes = std::move(classes);
  work.center = anchor;
  std::vector<uint32_t> levelCount;
  const SubtreeNaming naming{0, &levelCount};
  auto model = runQuantize(work, scene, options, metrics, runner, &naming);
  classes = std::move(work.classes);
  if (!model) return model.status();
  // The placeholders were counted with their chunks already.
  metrics.tiles -= roots.size();
  metrics.tilesPerLevel[sizes.size() - 1] -= roots.size();
  MX_RETURN_IF_ERROR(writePart(*model, placeholders, extents));
  // Upper nodes first, then every chunk's nodes; a placeholder's parent points at the chunk root.
  const uint32_t base = uint32_t(placeholders);
  out.nodes.assign(std::make_move_iterator(model->nodes.begin()),
                   std::make_move_iterator(model->nodes.begin() + std::ptrdiff_t(placeholders)));
  for (io::TilesetNode& n : out.nodes)
    for (uint32_t& c : n.children)
      if (c >= base) c = base + roots[c - base].node;
  for (io::TilesetNode& n : chunkNodes) {
    for (uint32_t& c : n.children) c += base;
    out.nodes.push_back(std::move(n));
  }
  recomputeBoxes(out, placeholders);
  return out;
}

Result<ExportResult> StreamingExport::State::finish(core::Scene& scene, double readMs) {
  ExportResult result;
  MX_RETURN_IF_ERROR(spill(scene));
  MX_RETURN_IF_ERROR(runs->finish());
  {
    core::StageMetrics read{"read", "-", "", std::max(0.0, readMs - spillMs), 0, metrics.trianglesIn};
    core::StageMetrics spilled{"spill", "-", "", spillMs, metrics.trianglesIn, runs->records(), runs->bytes()};
    metrics.stages.insert(metrics.stages.begin(), {read, spilled});
  }
  MX_RETURN_IF_ERROR(checkInput(runs->records(), scene.features, options, metrics));
  const size_t chunks = size_t((runs->records() + plan.chunkPrimitives - 1) / plan.chunkPrimitives);
  const size_t depth = levelSizes(chunks).size() - 1;
  std::vector<io::TilesetNode> chunkNodes;
  std::vector<ChunkRoot> roots;
  io::ImdlModelExtents extents;
  MX_RETURN_IF_ERROR(tileChunks(scene, chunkNodes, roots, extents, uint32_t(depth)));
  runs.reset();
  std::error_code ec;
  fs::remove_all(spillDir, ec);
  MX_ASSIGN_OR_RETURN(io::TilesetModel model, upperLevels(scene, roots, std::move(chunkNodes), extents));
  model.geometricError = tilesetError(model);
  {
    StageTimer timer(metrics, "write");
    io::WriteReport report;
    MX_RETURN_IF_ERROR(io::writeTilesetJson(model, folder->temp(), writeOptions(options), report,
                                            options.type == io::ExportType::Imodel ? &extents : nullptr));
    timer.stage().itemsOut = report.files;
    timer.stage().bytes = report.bytes;
    metrics.outputBytes += report.bytes;
  }
  foldStages(metrics);
  result.metrics = std::move(metrics);
  MX_RETURN_IF_ERROR(validateStage(*folder, options, result));
  MX_RETURN_IF_ERROR(folder->publish());
  progress(options, "done", 1);
  return result;
}

Result<ExportResult> StreamingExport::finish(core::Scene& scene, double readMs) { return _s->finish(scene, readMs); }

} // namespace mx::engine
