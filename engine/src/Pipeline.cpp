// The export pipeline. Stage order and data flow:
//   prepare   Scene (float64 world) → one flat mesh in the root frame (float32, centred), a
//             per-vertex class (feature + colour) table, normals where the input had none
//   partition backend: Morton codes → sort → BVH with leaves of ≤ maxTrianglesPerTile
//   lod       the binary BVH collapsed to a tile tree of ≤ 8 children; leaves get their triangles,
//             parents (bottom-up, one level at a time, tiles of a level in parallel) the union of
//             their children simplified until it fits maxTrianglesPerTile; geometric error is
//             measured from what the simplification moved
//   quantize  backend: per tile, positions to uint16 in the tile box (glTF y-up frame)
//   write     io/tiles, into a temporary folder
//   validate  io/tiles validator; only a valid folder is renamed into place
#include <mx/engine/BackendRegistry.h>
#include <mx/engine/Metrics.h>
#include <mx/engine/Pipeline.h>
#include <mx/io/GltfReader.h>
#include <mx/io/ImodelReader.h>
#include <mx/io/TilesetWriter.h>

#include <meshoptimizer.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_invoke.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <cstdlib>
#include <cstring>
#include <unistd.h>
#include <unordered_map>

namespace mx::engine {

using core::Aabb;
using core::Aabbf;
using core::ErrorCode;
using core::Result;
using core::Stage;
using core::Status;
using core::TileMesh;

namespace {


// ---------------------------------------------------------------------------------------------
// Backend dispatch with per-stage fallback and bookkeeping for ExportMetrics.

class StageRunner {
public:
  explicit StageRunner(const BackendSet& set) : _set(set) {}

  template <typename Fn>
  Status run(Stage stage, const core::MeshStats& stats, Fn&& fn) {
    BackendSet::Choice choice = _set.choose(stage, stats);
    Status s = fn(*choice.backend);
    if (!s && choice.backend != &_set.cpu() &&
        (s.code() == ErrorCode::DeviceError || s.code() == ErrorCode::DeviceUnavailable || s.code() == ErrorCode::OutOfMemory)) {
      choice = {&_set.cpu(), std::string(choice.backend->name()) + " failed (" + s.message() + "), fell back to the CPU"};
      s = fn(_set.cpu());
    }
    std::lock_guard lock(_mutex);
    auto& rec = _records[stage];
    rec.backends.insert(std::string(choice.backend->name()));
    rec.reasons.insert(choice.reason);
    return s;
  }

  void describe(Stage stage, core::StageMetrics& m) const {
    std::lock_guard lock(_mutex);
    auto it = _records.find(stage);
    if (it == _records.end()) return;
    m.backend = join(it->second.backends, "+");
    m.reason = join(it->second.reasons, "; ");
  }

  [[nodiscard]] const BackendSet& set() const { return _set; }

  /// Device counters so far (zeros without a GPU); a stage records what changed while it ran.
  [[nodiscard]] core::DeviceMemoryStats device() const { return _set.gpu() ? _set.gpu()->memoryStats() : core::DeviceMemoryStats{}; }
  void recordDevice(core::StageMetrics& m, const core::DeviceMemoryStats& before) const {
    const core::DeviceMemoryStats now = device();
    m.kernelMs = now.kernelMs - before.kernelMs;
    m.copyMs = now.copyMs - before.copyMs;
  }

private:
  static std::string join(const std::set<std::string>& items, const char* sep) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
    return out;
  }
  struct Record { std::set<std::string> backends, reasons; };
  const BackendSet& _set;
  mutable std::mutex _mutex;
  std::map<Stage, Record> _records;
};

BackendOptions backendOptions(const ExportOptions& options) {
  BackendOptions o;
  o.deviceMemoryBytes = uint64_t(options.config.deviceMemoryMB) << 20;
  o.deviceShare = std::max(1u, options.deviceShare);
  return o;
}

// ---------------------------------------------------------------------------------------------
// prepare

struct Prepared {
  TileMesh mesh;                        ///< Every triangle, root frame.
  std::vector<core::VertexClass> classes;
  core::Vec3d center;                   ///< Root frame origin in scene coordinates.
};

void accumulateNormals(std::span<const float> positions, std::span<const uint32_t> indices, std::span<float> normals) {
  for (size_t t = 0; t + 2 < indices.size(); t += 3) {
    const float* a = &positions[3 * size_t(indices[t])];
    const float* b = &positions[3 * size_t(indices[t + 1])];
    const float* c = &positions[3 * size_t(indices[t + 2])];
    const float u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    const float n[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
    for (int k = 0; k < 3; ++k)
      for (int a2 = 0; a2 < 3; ++a2) normals[3 * size_t(indices[t + size_t(k)]) + size_t(a2)] += n[a2];
  }
}

void normalize(std::span<float> normals) {
  for (size_t i = 0; i + 2 < normals.size(); i += 3) {
    const float len = std::sqrt(normals[i] * normals[i] + normals[i + 1] * normals[i + 1] + normals[i + 2] * normals[i + 2]);
    if (len > 0) { normals[i] /= len; normals[i + 1] /= len; normals[i + 2] /= len; }
    else { normals[i] = 0; normals[i + 1] = 0; normals[i + 2] = 1; }
  }
}

/// Checks one mesh's arrays; `shared` meshes take their feature and material from instances.
Status checkMesh(const core::Mesh& mesh, const core::Scene& scene, size_t index, bool shared) {
  const auto fail = [&](const char* what) {
    return Status{ErrorCode::MalformedInput, std::string(shared ? "shared mesh " : "mesh ") + std::to_string(index) + ": " + what};
  };
  if (mesh.indices.size() % 3) return fail("index count is not a multiple of 3");
  if (!mesh.normals.empty() && mesh.normals.size() != 3 * mesh.positions.size()) return fail("normals must be empty or 3 per position");
  if (!shared) {
    if (mesh.featureIds.size() != mesh.positions.size()) return fail("needs one feature id per position");
    if (mesh.material >= scene.materials.size()) return fail("material out of range");
    for (uint32_t f : mesh.featureIds)
      if (f >= scene.features.size()) return fail("feature id out of range");
  }
  for (uint32_t i : mesh.indices)
    if (i >= mesh.positions.size()) return fail("index out of range");
  for (const auto& p : mesh.positions)
    if (!std::isfinite(p.x) || !std::isfinite(p.y) || !std::isfinite(p.z)) return fail("position is NaN or infinite");
  return Status::ok();
}

/// One flat run of the prepared arrays: a mesh, or a shared mesh placed by an instance.
struct Source {
  const core::Mesh* mesh = nullptr;
  const core::MeshInstance* instance = nullptr; ///< Null for a plain mesh.
};

Result<Prepared> prepare(const core::Scene& scene) {
  Prepared out;
  {
    // Every mesh checked in parallel; the first failure in mesh order is the one reported.
    const size_t nm = scene.meshes.size();
    std::vector<Status> checks(nm + scene.sharedMeshes.size());
    tbb::parallel_for(size_t(0), checks.size(), [&](size_t m) {
      checks[m] = m < nm ? checkMesh(scene.meshes[m], scene, m, false) : checkMesh(scene.sharedMeshes[m - nm], scene, m - nm, true);
    });
    for (Status& c : checks) MX_RETURN_IF_ERROR(std::move(c));
  }
  std::vector<Source> sources;
  sources.reserve(scene.meshes.size() + scene.instances.size());
  for (const core::Mesh& mesh : scene.meshes) sources.push_back({&mesh, nullptr});
  for (size_t i = 0; i < scene.instances.size(); ++i) {
    const core::MeshInstance& inst = scene.instances[i];
    const std::string at = "instance " + std::to_string(i);
    if (inst.mesh >= scene.sharedMeshes.size()) return Status{ErrorCode::MalformedInput, at + ": shared mesh out of range"};
    if (inst.feature >= scene.features.size()) return Status{ErrorCode::MalformedInput, at + ": feature id out of range"};
    if (inst.material >= scene.materials.size()) return Status{ErrorCode::MalformedInput, at + ": material out of range"};
    if (!std::all_of(inst.transform.begin(), inst.transform.end(), [](double x) { return std::isfinite(x); }))
      return Status{ErrorCode::MalformedInput, at + ": transform is NaN or infinite"};
    sources.push_back({&scene.sharedMeshes[inst.mesh], &inst});
  }

  // Bounds (and the sizes) per source in parallel, in world coordinates.
  std::vector<Aabb> boxes(sources.size());
  tbb::parallel_for(size_t(0), sources.size(), [&](size_t s) {
    const Source& src = sources[s];
    for (const auto& p : src.mesh->positions) {
      const core::Vec3d w = src.instance ? core::transformPoint(src.instance->transform, p) : p;
      boxes[s].extend(w.x, w.y, w.z);
    }
  });
  Aabb bounds;
  std::vector<size_t> vbase(sources.size() + 1, 0), ibase(sources.size() + 1, 0);
  for (size_t s = 0; s < sources.size(); ++s) {
    bounds.extend(boxes[s]);
    vbase[s + 1] = vbase[s] + sources[s].mesh->positions.size();
    ibase[s + 1] = ibase[s] + sources[s].mesh->indices.size();
  }
  const size_t vtotal = vbase.back(), itotal = ibase.back();
  if (vtotal >= 0xFFFFFFFFull || itotal / 3 >= 0xFFFFFFFFull)
    return Status{ErrorCode::UnsupportedInput, "more than 2^32-1 vertices or triangles in one export"};
  out.center = bounds.empty() ? core::Vec3d{} : core::Vec3d{(bounds.min[0] + bounds.max[0]) / 2, (bounds.min[1] + bounds.max[1]) / 2, (bounds.min[2] + bounds.max[2]) / 2};

  TileMesh& w = out.mesh;
  // Four fresh arrays (≈ 28 bytes per vertex + 12 per triangle): their pages are faulted in and
  // zeroed by whoever touches them first, so the four are sized on different threads.
  tbb::parallel_invoke([&] { w.positions.resize(3 * vtotal); }, [&] { w.normals.assign(3 * vtotal, 0.0f); },
                       [&] { w.classes.resize(vtotal); }, [&] { w.indices.resize(itotal); });
  // Classes are numbered by first occurrence over the sources in order (one sequential pass; runs
  // of equal keys are cheap), everything else per source in parallel.
  std::unordered_map<uint64_t, uint32_t> classIndex;
  auto rgbaOf = [&](uint32_t material) {
    const core::Material& mat = scene.materials[material];
    return uint32_t(mat.r) | uint32_t(mat.g) << 8 | uint32_t(mat.b) << 16 | uint32_t(mat.a) << 24;
  };
  auto classOf = [&](uint32_t feature, uint32_t rgba) {
    const uint64_t key = uint64_t(feature) << 32 | rgba;
    auto [it, added] = classIndex.try_emplace(key, uint32_t(out.classes.size()));
    if (added) out.classes.push_back({feature, rgba});
    return it->second;
  };
  for (size_t s = 0; s < sources.size(); ++s) {
    const Source& src = sources[s];
    const size_t n = src.mesh->positions.size();
    if (src.instance) {
      if (n) std::fill_n(w.classes.begin() + std::ptrdiff_t(vbase[s]), n, classOf(src.instance->feature, rgbaOf(src.instance->material)));
      continue;
    }
    const uint32_t rgba = rgbaOf(src.mesh->material);
    uint32_t lastFeature = ~0u, lastClass = 0;
    for (size_t v = 0; v < n; ++v) {
      const uint32_t f = src.mesh->featureIds[v];
      if (f != lastFeature) { lastClass = classOf(f, rgba); lastFeature = f; }
      w.classes[vbase[s] + v] = lastClass;
    }
  }
  tbb::parallel_for(size_t(0), sources.size(), [&](size_t s) {
    const core::Mesh& mesh = *sources[s].mesh;
    const core::MeshInstance* inst = sources[s].instance;
    const size_t vb = vbase[s], ib = ibase[s];
    for (size_t v = 0; v < mesh.positions.size(); ++v) {
      const auto p = inst ? core::transformPoint(inst->transform, mesh.positions[v]) : mesh.positions[v];
      float* dst = &w.positions[3 * (vb + v)];
      dst[0] = float(p.x - out.center.x);
      dst[1] = float(p.y - out.center.y);
      dst[2] = float(p.z - out.center.z);
    }
    // Winding and normals follow the instance transform (flipped winding when it mirrors).
    const core::Cofactor3 cof = core::cofactor3(inst ? inst->transform : core::identityMatrix());
    const bool flip = cof.det < 0;
    for (size_t i = 0; i < mesh.indices.size(); i += 3) {
      w.indices[ib + i] = uint32_t(vb + mesh.indices[i]);
      w.indices[ib + i + 1] = uint32_t(vb + mesh.indices[flip ? i + 2 : i + 1]);
      w.indices[ib + i + 2] = uint32_t(vb + mesh.indices[flip ? i + 1 : i + 2]);
    }
    auto normals = std::span(w.normals).subspan(3 * vb, 3 * mesh.positions.size());
    if (!mesh.normals.empty()) {
      if (!inst) {
        std::copy(mesh.normals.begin(), mesh.normals.end(), normals.begin());
      } else {
        const std::array<double, 9> c = cof.normalMatrix();
        for (size_t v = 0; v < mesh.positions.size(); ++v) {
          const float* n = &mesh.normals[3 * v];
          for (int r = 0; r < 3; ++r) normals[3 * v + size_t(r)] = float(c[size_t(3 * r)] * n[0] + c[size_t(3 * r + 1)] * n[1] + c[size_t(3 * r + 2)] * n[2]);
        }
      }
    } else {
      // This source's triangles touch only its own vertices: no other task writes these normals.
      accumulateNormals(w.positions, std::span(w.indices).subspan(ib, mesh.indices.size()), w.normals);
    }
    normalize(normals);
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// lod

struct TileBuild {
  int32_t bvh = -1;
  uint32_t level = 0;
  std::vector<uint32_t> children;
  TileMesh mesh;
  double error = 0;     ///< Metres, before geometricErrorScale.
  double cellSize = 0;  ///< Clustering cell of this tile's content (0 = full detail).
};

/// A leaf's triangles with its vertices compacted in first-use order. The global → local map (an
/// open-addressing table) and the vertex scratch arrays are kept per thread and reused from leaf
/// to leaf — only the slots a leaf used are cleared — so leaves do not allocate, fault in and fill
/// fresh tables; the leaf's own arrays are allocated once at their final size.
TileMesh gatherLeaf(const TileMesh& all, std::span<const uint32_t> triangles) {
  struct Scratch {
    std::vector<uint64_t> slots; // global id << 32 | local id; ~0 = free
    std::vector<uint32_t> used;
    std::vector<float> positions, normals;
    std::vector<uint32_t> classes;
  };
  thread_local Scratch sc;
  // At most 3 new vertices per triangle: 4 slots per triangle keep the load at most 3/4.
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, triangles.size() * 4));
  if (sc.slots.size() < capacity) sc.slots.assign(capacity, ~0ull);
  const size_t maxVertices = triangles.size() * 3;
  if (sc.classes.size() < maxVertices) {
    sc.positions.resize(3 * maxVertices);
    sc.normals.resize(3 * maxVertices);
    sc.classes.resize(maxVertices);
  }
  uint64_t* slots = sc.slots.data();
  const size_t mask = capacity - 1; // the first `capacity` slots serve this leaf, all free
  sc.used.clear();
  TileMesh m;
  m.indices.resize(triangles.size() * 3);
  uint32_t count = 0;
  size_t k = 0;
  auto hashOf = [mask](uint32_t g) { return size_t((uint64_t(g) * 0x9E3779B97F4A7C15ull) >> 40) & mask; };
  // The loop is bound by cache misses (triangles come in Morton order, their corners and the
  // table slots are scattered): the corners 16 triangles ahead and the slots of those 8 ahead are
  // prefetched.
  constexpr size_t kAheadCorners = 16, kAheadSlots = 8;
  const size_t n = triangles.size();
  for (size_t i = 0; i < n; ++i) {
    if (i + kAheadCorners < n) __builtin_prefetch(&all.indices[3 * size_t(triangles[i + kAheadCorners])]);
    if (i + kAheadSlots < n) {
      const uint32_t* ahead = &all.indices[3 * size_t(triangles[i + kAheadSlots])];
      for (int c = 0; c < 3; ++c) __builtin_prefetch(&slots[hashOf(ahead[c])]);
    }
    const uint32_t t = triangles[i];
    for (int c = 0; c < 3; ++c) {
      const uint32_t g = all.indices[3 * size_t(t) + size_t(c)];
      size_t h = hashOf(g);
      while (slots[h] != ~0ull && uint32_t(slots[h] >> 32) != g) h = (h + 1) & mask;
      if (slots[h] == ~0ull) {
        slots[h] = uint64_t(g) << 32 | count;
        sc.used.push_back(uint32_t(h));
        std::memcpy(&sc.positions[3 * size_t(count)], &all.positions[3 * size_t(g)], 3 * sizeof(float));
        std::memcpy(&sc.normals[3 * size_t(count)], &all.normals[3 * size_t(g)], 3 * sizeof(float));
        sc.classes[count] = all.classes[g];
        ++count;
      }
      m.indices[k++] = uint32_t(slots[h]);
    }
  }
  for (uint32_t h : sc.used) slots[h] = ~0ull;
  m.positions.assign(sc.positions.begin(), sc.positions.begin() + std::ptrdiff_t(3 * size_t(count)));
  m.normals.assign(sc.normals.begin(), sc.normals.begin() + std::ptrdiff_t(3 * size_t(count)));
  m.classes.assign(sc.classes.begin(), sc.classes.begin() + std::ptrdiff_t(count));
  if (maxVertices > (size_t(1) << 20)) sc = {}; // huge tiles (a large maxTrianglesPerTile): do not keep ~100 MB a thread
  return m;
}

TileMesh concatenate(const std::vector<const TileMesh*>& parts) {
  TileMesh u;
  size_t v = 0, i = 0;
  for (const TileMesh* p : parts) { v += p->vertexCount(); i += p->indices.size(); }
  u.positions.reserve(3 * v); u.normals.reserve(3 * v); u.classes.reserve(v); u.indices.reserve(i);
  for (const TileMesh* p : parts) {
    const uint32_t base = uint32_t(u.vertexCount());
    u.positions.insert(u.positions.end(), p->positions.begin(), p->positions.end());
    u.normals.insert(u.normals.end(), p->normals.begin(), p->normals.end());
    u.classes.insert(u.classes.end(), p->classes.begin(), p->classes.end());
    for (uint32_t idx : p->indices) u.indices.push_back(base + idx);
  }
  return u;
}

/// Removes vertices no triangle uses (keeps first-use order of the remaining ones stable).
void compact(TileMesh& m) {
  std::vector<uint32_t> remap(m.vertexCount(), ~0u);
  uint32_t next = 0;
  std::vector<uint32_t> order;
  for (uint32_t& idx : m.indices) {
    if (remap[idx] == ~0u) { remap[idx] = next++; order.push_back(idx); }
    idx = remap[idx];
  }
  TileMesh c;
  c.positions.resize(3 * order.size()); c.normals.resize(3 * order.size()); c.classes.resize(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    for (int a = 0; a < 3; ++a) {
      c.positions[3 * i + size_t(a)] = m.positions[3 * size_t(order[i]) + size_t(a)];
      c.normals[3 * i + size_t(a)] = m.normals[3 * size_t(order[i]) + size_t(a)];
    }
    c.classes[i] = m.classes[order[i]];
  }
  c.indices = std::move(m.indices);
  m = std::move(c);
}

double surfaceArea(const TileMesh& m) {
  double area = 0;
  for (size_t t = 0; t + 2 < m.indices.size(); t += 3) {
    const float* a = &m.positions[3 * size_t(m.indices[t])];
    const float* b = &m.positions[3 * size_t(m.indices[t + 1])];
    const float* c = &m.positions[3 * size_t(m.indices[t + 2])];
    const double u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    const double n[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
    area += 0.5 * std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
  }
  return area;
}

struct Simplified {
  TileMesh mesh;
  double error = 0;
  double cellSize = 0;
};

/// One clustering pass at `cell` through the backend; the error is what the pass moved: the
/// largest vertex displacement, and for a triangle that collapsed, that displacement plus the
/// length of what it collapsed to (its area is gone from the tile).
Result<Simplified> clusterOnce(const TileMesh& u, const Aabbf& bounds, double cell, StageRunner& runner) {
  core::ClusterInput in{u.positions, u.classes, u.indices, bounds, float(cell)};
  core::ClusterOutput out;
  MX_RETURN_IF_ERROR(runner.run(Stage::Cluster, {u.vertexCount(), u.triangleCount()},
                                [&](core::IComputeBackend& b) { return b.clusterVertices(in, out); }));
  Simplified s;
  s.cellSize = cell;
  double dropped2 = 0; // squared: one square root at the end (sqrt is monotonic and correctly rounded)
  for (size_t t = 0; t + 2 < u.indices.size(); t += 3) {
    const uint32_t r[3] = {out.remap[u.indices[t]], out.remap[u.indices[t + 1]], out.remap[u.indices[t + 2]]};
    if (r[0] != r[1] && r[1] != r[2] && r[0] != r[2]) continue;
    for (int k = 0; k < 3; ++k) {
      const float* a = &out.positions[3 * size_t(r[k])];
      const float* b = &out.positions[3 * size_t(r[(k + 1) % 3])];
      dropped2 = std::max(dropped2, double(a[0] - b[0]) * (a[0] - b[0]) + double(a[1] - b[1]) * (a[1] - b[1]) + double(a[2] - b[2]) * (a[2] - b[2]));
    }
  }
  const double dropped = std::sqrt(dropped2);
  s.error = double(out.maxDisplacement) + (u.indices.size() != out.indices.size() ? dropped : 0.0);
  s.mesh.positions = std::move(out.positions);
  s.mesh.classes = std::move(out.classes);
  s.mesh.indices = std::move(out.indices);
  s.mesh.normals.assign(s.mesh.positions.size(), 0.0f);
  for (size_t v = 0; v < u.vertexCount(); ++v)
    for (int a = 0; a < 3; ++a) s.mesh.normals[3 * size_t(out.remap[v]) + size_t(a)] += u.normals[3 * v + size_t(a)];
  normalize(s.mesh.normals);
  compact(s.mesh);
  return s;
}

Result<Simplified> simplifyCluster(const TileMesh& u, double childCell, uint32_t target, StageRunner& runner) {
  const Aabbf bounds = u.bounds();
  const double extent = std::max<double>(bounds.maxExtent(), 1e-6);
  const double gridFloor = extent / (core::kMaxClusterGrid - 1); // 10-bit cell coordinates
  // A surface of area A on cells of size c occupies about A / c² cells and keeps about twice as
  // many triangles; start where that estimate meets the target, never finer than the children.
  const double estimate = std::sqrt(surfaceArea(u) / (0.5 * target));
  double cell = std::max({2 * childCell, gridFloor, estimate, 1e-6});
  Simplified best;
  for (int iter = 0; iter < 12; ++iter) {
    MX_ASSIGN_OR_RETURN(best, clusterOnce(u, bounds, cell, runner));
    const size_t tris = best.mesh.triangleCount();
    if (tris <= target) break;
    cell *= std::max(1.25, 1.05 * std::sqrt(double(tris) / target));
  }
  return best;
}

Result<Simplified> simplifyQuadric(const TileMesh& u, double childCell, uint32_t target, StageRunner& runner) {
  Simplified s;
  s.mesh = u;
  if (u.triangleCount() > 0) {
    std::vector<uint32_t> dst(u.indices.size());
    float relError = 0;
    const size_t n = meshopt_simplify(dst.data(), u.indices.data(), u.indices.size(), u.positions.data(), u.vertexCount(),
                                      12, std::min<size_t>(u.indices.size(), size_t(target) * 3 / 2), 1.0f, 0, &relError);
    dst.resize(n);
    s.error = double(relError) * double(meshopt_simplifyScale(u.positions.data(), u.vertexCount(), 12));
    s.mesh.indices = std::move(dst);
    compact(s.mesh);
  }
  s.cellSize = childCell;
  if (s.mesh.triangleCount() > target) {
    // Edge collapse stops at topology it must keep; clustering finishes the job.
    MX_ASSIGN_OR_RETURN(Simplified c, simplifyCluster(s.mesh, childCell, target, runner));
    c.error += s.error;
    return c;
  }
  return s;
}

} // namespace

// ---------------------------------------------------------------------------------------------

Result<core::Scene> readScene(const std::filesystem::path& input, const TilerConfig& config) {
  std::string ext = input.extension().string();
  for (auto& ch : ext) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  if (ext == ".glb" || ext == ".gltf") return io::readGltf(input);
  if (ext == ".bim") {
    MX_ASSIGN_OR_RETURN(io::ImodelFile file, io::ImodelFile::open(input));
    io::TessellationOptions t;
    t.angleTolerance = config.angleTolerance;
    t.chordTolerance = config.chordTolerance;
    t.boxForUnsupported = config.boxForUnsupported;
    MX_ASSIGN_OR_RETURN(io::ImodelScene is, file.readScene(t));
    Result<core::Scene> scene(std::move(is.scene));
    // Geometry we cannot mesh yet is reported, never silently dropped.
    for (const auto& [kind, count] : is.skipped)
      scene.warnings().push_back(std::to_string(count) + " × " + kind + (kind.rfind("wire", 0) == 0 ? "" : ": not meshed yet"));
    for (const auto& [id, st] : is.elements)
      if (!st.error.empty()) scene.warnings().push_back("element " + io::formatId64(id) + " skipped: " + st.error);
    return scene;
  }
  return Status{ErrorCode::UnsupportedInput, input.string() + ": unknown input type (expected .bim, .glb or .gltf)"};
}

namespace {

struct TreeWork {
  std::vector<TileBuild> tiles;
  std::vector<core::VertexClass> classes;
  core::Vec3d center;
};

Status checkCancel(const ExportOptions& o) {
  if (o.cancel && o.cancel->isCancelled()) return {ErrorCode::Cancelled, "export cancelled"};
  return Status::ok();
}

void progress(const ExportOptions& o, std::string_view stage, double f) {
  if (o.progress) o.progress(stage, f);
}

/// `owned`, when given, is the same scene as `scene`, owned by the caller and no longer needed
/// after prepare: its meshes are released there (the flat copy replaces them), which lowers the
/// peak memory of an export by the size of the input mesh.
Result<TreeWork> buildTree(const core::Scene& scene, const ExportOptions& options, core::ExportMetrics& metrics,
                           StageRunner& runner, core::Scene* owned = nullptr) {
  const TilerConfig& cfg = options.config;
  TreeWork work;
  Prepared prepared;
  {
    StageTimer timer(metrics, "prepare");
    progress(options, "prepare", 0);
    MX_ASSIGN_OR_RETURN(prepared, prepare(scene));
    if (owned) { owned->meshes = {}; owned->sharedMeshes = {}; owned->instances = {}; }
    timer.stage().itemsIn = prepared.mesh.triangleCount();
    timer.stage().itemsOut = prepared.classes.size();
    work.classes = std::move(prepared.classes);
    work.center = prepared.center;
  }
  MX_RETURN_IF_ERROR(checkCancel(options));

  core::PartitionOutput part;
  {
    StageTimer timer(metrics, "partition");
    progress(options, "partition", 0);
    const TileMesh& m = prepared.mesh;
    core::PartitionInput in{m.positions, m.indices, cfg.maxTrianglesPerTile};
    const core::DeviceMemoryStats device0 = runner.device();
    MX_RETURN_IF_ERROR(runner.run(Stage::Partition, {m.vertexCount(), m.triangleCount()},
                                  [&](core::IComputeBackend& b) { return b.partition(in, part); }));
    runner.describe(Stage::Partition, timer.stage());
    runner.recordDevice(timer.stage(), device0);
    timer.stage().itemsIn = m.triangleCount();
    timer.stage().itemsOut = part.nodes.size();
  }
  MX_RETURN_IF_ERROR(checkCancel(options));

  StageTimer lodTimer(metrics, "lod");
  const core::DeviceMemoryStats lodDevice0 = runner.device();
  progress(options, "lod", 0);
  if (part.nodes.empty()) return work; // no triangles: an empty tree
  // Collapse the binary BVH into tiles of up to kMaxChildren children, breadth first, so tiles
  // come out grouped by level and numbered within it in a fixed order.
  work.tiles.push_back({0, 0, {}, {}, 0, 0});
  for (size_t i = 0; i < work.tiles.size(); ++i) {
    const int32_t bvh = work.tiles[i].bvh;
    if (part.nodes[size_t(bvh)].isLeaf()) continue;
    std::vector<int32_t> frontier{bvh};
    for (int depth = 0; depth < 3; ++depth) { // 2^3 = kMaxChildren
      std::vector<int32_t> next;
      for (int32_t f : frontier) {
        const auto& n = part.nodes[size_t(f)];
        if (n.isLeaf()) { next.push_back(f); continue; }
        next.push_back(n.left);
        next.push_back(n.right);
      }
      if (next.size() == frontier.size()) break;
      frontier = std::move(next);
    }
    const uint32_t level = work.tiles[i].level + 1;
    for (int32_t f : frontier) {
      work.tiles[i].children.push_back(uint32_t(work.tiles.size()));
      work.tiles.push_back({f, level, {}, {}, 0, 0});
    }
  }
  // Leaves: full detail.
  std::vector<uint32_t> leaves;
  for (uint32_t i = 0; i < work.tiles.size(); ++i)
    if (work.tiles[i].children.empty()) leaves.push_back(i);
  tbb::parallel_for(size_t(0), leaves.size(), [&](size_t k) {
    TileBuild& t = work.tiles[leaves[k]];
    const auto& n = part.nodes[size_t(t.bvh)];
    t.mesh = gatherLeaf(prepared.mesh, std::span(part.order).subspan(n.begin, n.count()));
  });
  prepared.mesh = {}; // the flat mesh is no longer needed
  part = {};

  // Parents, deepest level first.
  uint32_t maxLevel = 0;
  for (const auto& t : work.tiles) maxLevel = std::max(maxLevel, t.level);
  std::vector<std::vector<uint32_t>> byLevel(maxLevel + 1);
  for (uint32_t i = 0; i < work.tiles.size(); ++i)
    if (!work.tiles[i].children.empty()) byLevel[work.tiles[i].level].push_back(i);
  for (uint32_t level = maxLevel + 1; level-- > 0;) {
    MX_RETURN_IF_ERROR(checkCancel(options));
    progress(options, "lod", double(maxLevel - level) / double(maxLevel + 1));
    const auto& ids = byLevel[level];
    std::vector<Status> statuses(ids.size());
    tbb::parallel_for(size_t(0), ids.size(), [&](size_t k) {
      TileBuild& t = work.tiles[ids[k]];
      std::vector<const TileMesh*> parts;
      double childError = 0, childCell = 0;
      for (uint32_t c : t.children) {
        parts.push_back(&work.tiles[c].mesh);
        childError = std::max(childError, work.tiles[c].error);
        childCell = std::max(childCell, work.tiles[c].cellSize);
      }
      const TileMesh u = concatenate(parts);
      auto r = cfg.simplifier == Simplifier::Quadric ? simplifyQuadric(u, childCell, cfg.maxTrianglesPerTile, runner)
                                                     : simplifyCluster(u, childCell, cfg.maxTrianglesPerTile, runner);
      if (!r) { statuses[k] = r.status(); return; }
      t.mesh = std::move(r->mesh);
      t.error = childError + r->error;
      t.cellSize = r->cellSize;
    });
    for (const Status& s : statuses) MX_RETURN_IF_ERROR(s);
  }
  runner.describe(Stage::Cluster, lodTimer.stage());
  runner.recordDevice(lodTimer.stage(), lodDevice0);
  if (cfg.simplifier == Simplifier::Quadric) {
    lodTimer.stage().backend = "cpu (meshoptimizer)" + (lodTimer.stage().backend == "-" ? std::string() : "+" + lodTimer.stage().backend);
    lodTimer.stage().reason = "simplifier=quadric runs meshopt_simplify on the CPU";
  }
  lodTimer.stage().itemsIn = metrics.stages.back().itemsIn; // triangles partitioned
  uint64_t out = 0;
  for (const auto& t : work.tiles) out += t.mesh.triangleCount();
  lodTimer.stage().itemsOut = out;
  return work;
}

} // namespace

core::EcefLocation ecefAt(double longitudeDeg, double latitudeDeg, double height) {
  constexpr double kA = 6378137.0, kF = 1.0 / 298.257223563, kE2 = kF * (2 - kF); // WGS84
  const double lon = longitudeDeg * M_PI / 180, lat = latitudeDeg * M_PI / 180;
  const double sl = std::sin(lat), cl = std::cos(lat), so = std::sin(lon), co = std::cos(lon);
  const double n = kA / std::sqrt(1 - kE2 * sl * sl);
  core::EcefLocation e;
  e.origin = {(n + height) * cl * co, (n + height) * cl * so, (n * (1 - kE2) + height) * sl};
  e.xVector = {-so, co, 0};
  e.yVector = {-sl * co, -sl * so, cl};
  return e;
}

namespace {

/// Column-major ENU-style frame of an EcefLocation: columns x, y, x×y, origin.
core::Mat4d ecefMatrix(const core::EcefLocation& e) {
  const core::Vec3d x = e.xVector, y = e.yVector;
  core::Vec3d z{x.y * y.z - x.z * y.y, x.z * y.x - x.x * y.z, x.x * y.y - x.y * y.x};
  const double len = core::length(z);
  if (len > 0) z = z * (1.0 / len);
  return {x.x, x.y, x.z, 0, y.x, y.y, y.z, 0, z.x, z.y, z.z, 0, e.origin.x, e.origin.y, e.origin.z, 1};
}

/// Root frame → world: a translation to the scene centre, then the EcefLocation frame (the
/// --location option's, else the input's) when there is one.
core::Mat4d rootTransform(const core::Scene& scene, const ExportOptions& options, const core::Vec3d& center) {
  core::Mat4d translate = core::identityMatrix();
  translate[12] = center.x;
  translate[13] = center.y;
  translate[14] = center.z;
  // IMODEL tilesets live in iModel spatial coordinates (frontend-tiles places them itself).
  if (options.type == io::ExportType::Imodel) return translate;
  const auto& ecef = options.location ? options.location : scene.ecef;
  return ecef ? core::multiply(ecefMatrix(*ecef), translate) : translate;
}

/// Grows flat axes so every box has volume (clients build oriented boxes from the half axes).
Aabb padded(Aabb b) {
  if (b.empty()) return b;
  const double eps = 1e-6 * std::max(1.0, b.diagonal());
  for (int a = 0; a < 3; ++a)
    if (b.max[a] - b.min[a] < 2 * eps) { b.min[a] -= eps; b.max[a] += eps; }
  return b;
}

Aabb toDouble(const Aabbf& f) {
  Aabb b;
  if (f.empty()) return b;
  for (int a = 0; a < 3; ++a) { b.min[a] = f.min[a]; b.max[a] = f.max[a]; }
  return b;
}

/// Tile meshes → quantized glb contents + tileset nodes.
Result<io::TilesetModel> buildModel(TreeWork& work, const core::Scene& scene, const ExportOptions& options,
                                    core::ExportMetrics& metrics, StageRunner& runner) {
  const TilerConfig& cfg = options.config;
  io::TilesetModel model;
  const size_t n = work.tiles.size();
  model.nodes.resize(n);
  std::vector<int32_t> contentOf(n, -1);
  for (size_t i = 0; i < n; ++i)
    if (work.tiles[i].mesh.triangleCount() > 0) {
      contentOf[i] = int32_t(model.contents.size());
      model.contents.emplace_back();
    }
  StageTimer timer(metrics, "quantize");
  const core::DeviceMemoryStats quantizeDevice0 = runner.device();
  progress(options, "quantize", 0);
  std::vector<Status> statuses(n);
  std::vector<Aabb> contentBoxes(n);
  tbb::parallel_for(size_t(0), n, [&](size_t i) {
    if (contentOf[i] < 0) return;
    TileMesh& m = work.tiles[i].mesh;
    io::TileContent& c = model.contents[size_t(contentOf[i])];
    const size_t vc = m.vertexCount();
    // Root frame (z up) → glTF frame (y up): (x, y, z) → (x, z, -y).
    std::vector<float> gpos(3 * vc), gnrm(3 * vc);
    for (size_t v = 0; v < vc; ++v) {
      gpos[3 * v] = m.positions[3 * v]; gpos[3 * v + 1] = m.positions[3 * v + 2]; gpos[3 * v + 2] = -m.positions[3 * v + 1];
      gnrm[3 * v] = m.normals[3 * v]; gnrm[3 * v + 1] = m.normals[3 * v + 2]; gnrm[3 * v + 2] = -m.normals[3 * v + 1];
    }
    Aabbf gbox;
    for (size_t v = 0; v < vc; ++v) gbox.extend(gpos[3 * v], gpos[3 * v + 1], gpos[3 * v + 2]);
    core::QuantizeOutput q;
    core::QuantizeInput qin{gpos, gnrm, gbox};
    Status s = runner.run(Stage::Quantize, {vc, m.triangleCount()}, [&](core::IComputeBackend& b) { return b.quantize(qin, q); });
    if (!s) { statuses[i] = s; return; }
    c.quantized = cfg.quantizePositions;
    if (c.quantized) {
      c.positionsQ = std::move(q.positions);
      for (int a = 0; a < 3; ++a) { c.translation[size_t(a)] = gbox.min[a]; c.scale[size_t(a)] = q.scale[size_t(a)]; }
    } else {
      c.positions = std::move(gpos);
    }
    c.normalsQ = std::move(q.normals);
    c.colors.resize(vc);
    c.featureIds.resize(vc);
    std::unordered_map<uint32_t, uint32_t> local;
    for (size_t v = 0; v < vc; ++v) {
      const core::VertexClass& cls = work.classes[m.classes[v]];
      c.colors[v] = cls.rgba;
      auto [it, added] = local.try_emplace(cls.feature, uint32_t(c.features.size()));
      if (added) {
        const core::Feature& f = scene.features[cls.feature];
        c.features.push_back({f.elementId, f.modelId, f.subCategoryId});
      }
      c.featureIds[v] = it->second;
    }
    c.indices = std::move(m.indices);
    // Content bounds in the root frame, from the quantization box (what clients will decode).
    Aabb cb;
    cb.min = {gbox.min[0], -double(gbox.max[2]), gbox.min[1]};
    cb.max = {gbox.max[0], -double(gbox.min[2]), gbox.max[1]};
    contentBoxes[i] = padded(cb);
    m = {};
  });
  for (const Status& s : statuses) MX_RETURN_IF_ERROR(s);
  runner.describe(Stage::Quantize, timer.stage());
  runner.recordDevice(timer.stage(), quantizeDevice0);
  timer.stage().itemsIn = model.contents.size();
  timer.finish();

  // Boxes bottom-up (children follow parents in breadth-first order); names per level.
  std::vector<uint32_t> levelCount;
  for (size_t i = 0; i < n; ++i) {
    const TileBuild& t = work.tiles[i];
    if (levelCount.size() <= t.level) levelCount.resize(t.level + 1, 0);
    const uint32_t indexInLevel = levelCount[t.level]++;
    io::TilesetNode& node = model.nodes[i];
    node.children = t.children;
    node.geometricError = t.children.empty() ? 0.0 : t.error * cfg.geometricErrorScale;
    node.content = contentOf[i];
    if (node.content >= 0) {
      node.uri = std::to_string(t.level) + "-" + std::to_string(indexInLevel) +
                 (options.type == io::ExportType::Imodel ? ".imdl" : ".glb");
      node.contentBox = contentBoxes[i];
    }
  }
  for (size_t i = n; i-- > 0;) {
    io::TilesetNode& node = model.nodes[i];
    Aabb box = node.content >= 0 ? node.contentBox : Aabb{};
    for (uint32_t c : node.children) box.extend(model.nodes[c].box);
    node.box = padded(box);
  }
  metrics.tilesPerLevel.assign(levelCount.size(), 0);
  metrics.trianglesPerLevel.assign(levelCount.size(), 0);
  for (size_t i = 0; i < n; ++i) {
    ++metrics.tilesPerLevel[work.tiles[i].level];
    if (contentOf[i] >= 0) metrics.trianglesPerLevel[work.tiles[i].level] += model.contents[size_t(contentOf[i])].indices.size() / 3;
  }
  metrics.tiles = n;

  model.rootTransform = rootTransform(scene, options, work.center);
  const double rootError = model.nodes.empty() ? 0 : model.nodes[0].geometricError;
  model.geometricError = std::max(rootError * 2, model.nodes.empty() ? 0.0 : model.nodes[0].box.diagonal());
  return model;
}

std::filesystem::path temporarySibling(const std::filesystem::path& outDir, const char* tag) {
  static std::atomic<unsigned> counter{0};
  const auto parent = outDir.parent_path().empty() ? std::filesystem::path(".") : outDir.parent_path();
  return parent / ("." + outDir.filename().string() + "." + tag + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
}

Status checkOutputFolder(const std::filesystem::path& outDir, bool overwrite) {
  std::error_code ec;
  if (outDir.filename().empty()) return {ErrorCode::InvalidArgument, "output folder name is empty: " + outDir.string()};
  if (!std::filesystem::exists(outDir, ec)) return Status::ok();
  if (!std::filesystem::is_directory(outDir, ec)) return {ErrorCode::IoError, outDir.string() + " exists and is not a folder"};
  if (!overwrite && !std::filesystem::is_empty(outDir, ec))
    return {ErrorCode::IoError, outDir.string() + " exists and is not empty (use --force to replace it)"};
  return Status::ok();
}

/// Atomically publishes `tmp` as `outDir` (rename; an existing folder is moved away first).
Status publish(const std::filesystem::path& tmp, const std::filesystem::path& outDir) {
  std::error_code ec;
  std::filesystem::path old;
  if (std::filesystem::exists(outDir, ec)) {
    old = temporarySibling(outDir, "old");
    std::filesystem::rename(outDir, old, ec);
    if (ec) return {ErrorCode::IoError, "cannot move " + outDir.string() + " aside: " + ec.message()};
  }
  std::filesystem::rename(tmp, outDir, ec);
  if (ec) {
    if (!old.empty()) std::filesystem::rename(old, outDir, ec);
    return {ErrorCode::IoError, "cannot rename " + tmp.string() + " to " + outDir.string() + ": " + ec.message()};
  }
  if (!old.empty()) std::filesystem::remove_all(old, ec);
  return Status::ok();
}

} // namespace

Result<core::TileTree> buildTileTree(const core::Scene& scene, const ExportOptions& options, core::ExportMetrics& metrics) {
  MX_ASSIGN_OR_RETURN(BackendSet backends, BackendSet::create(options.config.device, options.cpuLevel, backendOptions(options)));
  StageRunner runner(backends);
  MX_ASSIGN_OR_RETURN(TreeWork work, buildTree(scene, options, metrics, runner));
  core::TileTree tree;
  tree.classes = std::move(work.classes);
  std::vector<uint32_t> levelCount;
  for (auto& t : work.tiles) {
    core::TileNode node;
    node.level = t.level;
    if (levelCount.size() <= t.level) levelCount.resize(t.level + 1, 0);
    node.indexInLevel = levelCount[t.level]++;
    node.geometricError = t.children.empty() ? 0 : t.error;
    node.children = t.children;
    node.mesh = std::move(t.mesh);
    tree.nodes.push_back(std::move(node));
  }
  for (size_t i = tree.nodes.size(); i-- > 0;) {
    Aabb box = toDouble(tree.nodes[i].mesh.bounds());
    for (uint32_t c : tree.nodes[i].children) box.extend(tree.nodes[c].box);
    tree.nodes[i].box = box;
  }
  tree.rootTransform = rootTransform(scene, options, work.center);
  return tree;
}

namespace {
/// `backends` null: they are chosen once the scene has passed its checks.
Result<ExportResult> exportImpl(const core::Scene& scene, core::Scene* owned, const std::filesystem::path& outDir,
                                const ExportOptions& options, const BackendSet* backends);
}

Result<ExportResult> exportScene(const core::Scene& scene, const std::filesystem::path& outDir, const ExportOptions& options) {
  return exportImpl(scene, nullptr, outDir, options, nullptr);
}

Result<ExportResult> exportScene(core::Scene&& scene, const std::filesystem::path& outDir, const ExportOptions& options) {
  return exportImpl(scene, &scene, outDir, options, nullptr);
}

namespace {
Result<ExportResult> exportImpl(const core::Scene& scene, core::Scene* owned, const std::filesystem::path& outDir,
                                const ExportOptions& options, const BackendSet* backendsIn) {
  const auto start = std::chrono::steady_clock::now();
  ExportResult result;
  core::ExportMetrics& metrics = result.metrics;
  MX_RETURN_IF_ERROR(checkOutputFolder(outDir, options.overwrite));
  if (scene.triangleCount() == 0) return Status{ErrorCode::MalformedInput, "the input has no triangles to tile"};
  if (options.type == io::ExportType::Imodel)
    for (const core::Feature& f : scene.features)
      if (f.modelId == 0)
        return Status{ErrorCode::InvalidArgument,
                      "exportType IMODEL needs an iModel input: every feature must belong to a model (this input has none)"};
  metrics.features = scene.features.size();
  metrics.trianglesIn = scene.triangleCount();
  metrics.verticesIn = scene.vertexCount();
  metrics.inputBytes = scene.byteSize();
  metrics.cpuLevel = options.cpuLevel == cpu::CpuLevel::Scalar ? "scalar" : cpu::simdTargetName();

  std::optional<BackendSet> created;
  if (!backendsIn) {
    MX_ASSIGN_OR_RETURN(BackendSet set, BackendSet::create(options.config.device, options.cpuLevel, backendOptions(options)));
    created.emplace(std::move(set));
  }
  const BackendSet& backends = backendsIn ? *backendsIn : *created;
  if (backends.gpu()) metrics.gpuName = backends.gpu()->deviceName();
  StageRunner runner(backends);
  MX_ASSIGN_OR_RETURN(TreeWork work, buildTree(scene, options, metrics, runner, owned));
  MX_RETURN_IF_ERROR(checkCancel(options));
  MX_ASSIGN_OR_RETURN(io::TilesetModel model, buildModel(work, scene, options, metrics, runner));
  work = {};
  MX_RETURN_IF_ERROR(checkCancel(options));

  const std::filesystem::path tmp = temporarySibling(outDir, "tmp");
  std::error_code ec;
  std::filesystem::create_directories(tmp, ec);
  if (ec) return Status{ErrorCode::IoError, "cannot create " + tmp.string() + ": " + ec.message()};
  struct Cleanup {
    std::filesystem::path path;
    ~Cleanup() { std::error_code e; if (!path.empty()) std::filesystem::remove_all(path, e); }
  } cleanup{tmp};

  io::WriteOptions wopts;
  wopts.type = options.type;
  wopts.meshoptCompression = options.config.meshoptCompression;
  wopts.generator = "meshexport " MESHEXPORT_VERSION;
  {
    StageTimer timer(metrics, "write");
    progress(options, "write", 0);
    MX_ASSIGN_OR_RETURN(io::WriteReport report, io::writeTileset(model, tmp, wopts));
    timer.stage().itemsIn = model.nodes.size();
    timer.stage().itemsOut = report.files;
    timer.stage().bytes = report.bytes;
    metrics.outputBytes = report.bytes;
  }
  model = {};
  MX_RETURN_IF_ERROR(checkCancel(options));
  {
    StageTimer timer(metrics, "validate");
    progress(options, "validate", 0);
    MX_ASSIGN_OR_RETURN(result.validation, io::validateTileset(tmp));
    timer.stage().itemsIn = result.validation.tiles;
    timer.stage().itemsOut = result.validation.errors.size();
    timer.stage().bytes = result.validation.bytes;
  }
  if (!result.validation.ok()) {
    if (const char* keep = std::getenv("MESHEXPORT_KEEP_INVALID"); keep && *keep) {
      // Debugging aid: keep the rejected output beside the requested folder.
      const auto kept = outDir.parent_path() / (outDir.filename().string() + ".invalid");
      std::filesystem::remove_all(kept, ec);
      std::filesystem::rename(tmp, kept, ec);
    }
    std::string msg = "the written tileset failed validation (" + std::to_string(result.validation.errors.size()) + " errors): ";
    for (size_t i = 0; i < std::min<size_t>(5, result.validation.errors.size()); ++i) msg += (i ? "; " : "") + result.validation.errors[i];
    return Status{ErrorCode::ValidationFailed, msg};
  }
  MX_RETURN_IF_ERROR(publish(tmp, outDir));
  cleanup.path.clear();
  progress(options, "done", 1);
  if (backends.gpu()) {
    const core::DeviceMemoryStats d = backends.gpu()->memoryStats();
    metrics.peakDeviceBytes = d.peakBytes;
    metrics.hostToDeviceBytes = d.hostToDeviceBytes;
    metrics.deviceToHostBytes = d.deviceToHostBytes;
  }
  metrics.wallMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  recordProcessUsage(metrics);
  return result;
}

} // namespace

Result<ExportResult> exportFile(const std::filesystem::path& input, const std::filesystem::path& outDir, const ExportOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  MX_RETURN_IF_ERROR(checkOutputFolder(outDir, options.overwrite));
  // The backends first: device=cuda without a usable GPU says so before a read that may take minutes.
  MX_ASSIGN_OR_RETURN(BackendSet backends, BackendSet::create(options.config.device, options.cpuLevel, backendOptions(options)));
  core::ExportMetrics readMetrics;
  std::vector<std::string> warnings;
  core::Scene scene;
  {
    StageTimer timer(readMetrics, "read");
    progress(options, "read", 0);
    auto r = readScene(input, options.config);
    if (!r) return r.status();
    warnings = r.warnings();
    scene = std::move(r).value();
    timer.stage().itemsOut = scene.triangleCount();
  }
  MX_ASSIGN_OR_RETURN(ExportResult result, exportImpl(scene, &scene, outDir, options, &backends));
  result.metrics.stages.insert(result.metrics.stages.begin(), readMetrics.stages.begin(), readMetrics.stages.end());
  result.metrics.warnings.insert(result.metrics.warnings.begin(), warnings.begin(), warnings.end());
  result.metrics.wallMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return result;
}

} // namespace mx::engine
