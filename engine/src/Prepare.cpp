#include "Prepare.h"

#include "StageRunner.h"
#include "TileMeshOps.h"

#include <mx/engine/Metrics.h>

#include <tbb/parallel_for.h>
#include <tbb/parallel_invoke.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

namespace mx::engine {

using core::Aabb;
using core::ErrorCode;
using core::Result;
using core::Status;
using core::TileMesh;

namespace {

/// Checks one mesh's arrays; `shared` meshes take their feature and material from instances.
Status checkMesh(const core::Mesh& mesh, const core::Scene& scene, size_t index, bool shared) {
  const auto fail = [&](const char* what) {
    return Status{ErrorCode::MalformedInput,
                  std::string(shared ? "shared mesh " : "mesh ") + std::to_string(index) + ": " + what};
  };
  if (mesh.indices.size() % 3) return fail("index count is not a multiple of 3");
  if (mesh.lines.size() % 2) return fail("line index count is not a multiple of 2");
  if (!mesh.normals.empty() && mesh.normals.size() != 3 * mesh.positions.size())
    return fail("normals must be empty or 3 per position");
  if (!shared) {
    if (mesh.featureIds.size() != mesh.positions.size()) return fail("needs one feature id per position");
    if (mesh.material >= scene.materials.size()) return fail("material out of range");
    for (uint32_t f : mesh.featureIds)
      if (f >= scene.features.size()) return fail("feature id out of range");
  }
  for (const auto* list : {&mesh.indices, &mesh.lines, &mesh.points})
    for (uint32_t i : *list)
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

/// The scene's meshes and instances checked, as the flat runs prepare copies in order.
Result<std::vector<Source>> sourcesOf(const core::Scene& scene) {
  {
    // Every mesh checked in parallel; the first failure in mesh order is the one reported.
    const size_t nm = scene.meshes.size();
    std::vector<Status> checks(nm + scene.sharedMeshes.size());
    tbb::parallel_for(size_t(0), checks.size(), [&](size_t m) {
      checks[m] = m < nm ? checkMesh(scene.meshes[m], scene, m, false)
                         : checkMesh(scene.sharedMeshes[m - nm], scene, m - nm, true);
    });
    for (Status& c : checks) MX_RETURN_IF_ERROR(std::move(c));
  }
  std::vector<Source> sources;
  sources.reserve(scene.meshes.size() + scene.instances.size());
  for (const core::Mesh& mesh : scene.meshes) sources.push_back({&mesh, nullptr});
  for (size_t i = 0; i < scene.instances.size(); ++i) {
    const core::MeshInstance& inst = scene.instances[i];
    const std::string at = "instance " + std::to_string(i);
    if (inst.mesh >= scene.sharedMeshes.size())
      return Status{ErrorCode::MalformedInput, at + ": shared mesh out of range"};
    if (inst.feature >= scene.features.size())
      return Status{ErrorCode::MalformedInput, at + ": feature id out of range"};
    if (inst.material >= scene.materials.size())
      return Status{ErrorCode::MalformedInput, at + ": material out of range"};
    if (!std::all_of(inst.transform.begin(), inst.transform.end(), [](double x) { return std::isfinite(x); }))
      return Status{ErrorCode::MalformedInput, at + ": transform is NaN or infinite"};
    sources.push_back({&scene.sharedMeshes[inst.mesh], &inst});
  }
  return sources;
}

/// Where each source starts in the flat arrays (vertices, indices) and the world bounds.
struct Layout {
  std::vector<size_t> vbase, ibase, lbase, pbase; ///< Vertices, triangle, line and point indices.
  Aabb bounds;
};

Result<Layout> layoutOf(const std::vector<Source>& sources) {
  // Bounds (and the sizes) per source in parallel, in world coordinates.
  std::vector<Aabb> boxes(sources.size());
  tbb::parallel_for(size_t(0), sources.size(), [&](size_t s) {
    const Source& src = sources[s];
    for (const auto& p : src.mesh->positions) {
      const core::Vec3d w = src.instance ? core::transformPoint(src.instance->transform, p) : p;
      boxes[s].extend(w.x, w.y, w.z);
    }
  });
  const std::vector<size_t> zeros(sources.size() + 1, 0);
  Layout l{zeros, zeros, zeros, zeros, {}};
  Aabb& bounds = l.bounds;
  std::vector<size_t>& vbase = l.vbase;
  std::vector<size_t>& ibase = l.ibase;
  for (size_t s = 0; s < sources.size(); ++s) {
    bounds.extend(boxes[s]);
    vbase[s + 1] = vbase[s] + sources[s].mesh->positions.size();
    ibase[s + 1] = ibase[s] + sources[s].mesh->indices.size();
    l.lbase[s + 1] = l.lbase[s] + sources[s].mesh->lines.size();
    l.pbase[s + 1] = l.pbase[s] + sources[s].mesh->points.size();
  }
  const size_t vtotal = vbase.back(), itotal = ibase.back();
  if (vtotal >= 0xFFFFFFFFull || itotal / 3 + l.lbase.back() / 2 + l.pbase.back() >= 0xFFFFFFFFull)
    return Status{ErrorCode::UnsupportedInput, "more than 2^32-1 vertices or primitives in one export"};
  return l;
}

/// Source `s`'s positions (centred), indices (winding flipped where the transform mirrors) and
/// normals (transformed, or accumulated and normalized) into the flat mesh.
void fillSource(const std::vector<Source>& sources, size_t s, const Layout& layout, const core::Vec3d& center,
                TileMesh& w) {
  const core::Mesh& mesh = *sources[s].mesh;
  const core::MeshInstance* inst = sources[s].instance;
  const size_t vb = layout.vbase[s], ib = layout.ibase[s];
  for (size_t v = 0; v < mesh.positions.size(); ++v) {
    const auto p = inst ? core::transformPoint(inst->transform, mesh.positions[v]) : mesh.positions[v];
    float* dst = &w.positions[3 * (vb + v)];
    dst[0] = float(p.x - center.x);
    dst[1] = float(p.y - center.y);
    dst[2] = float(p.z - center.z);
  }
  // Winding and normals follow the instance transform (flipped winding when it mirrors).
  const core::Cofactor3 cof = core::cofactor3(inst ? inst->transform : core::identityMatrix());
  const bool flip = cof.det < 0;
  for (size_t i = 0; i < mesh.indices.size(); i += 3) {
    w.indices[ib + i] = uint32_t(vb + mesh.indices[i]);
    w.indices[ib + i + 1] = uint32_t(vb + mesh.indices[flip ? i + 2 : i + 1]);
    w.indices[ib + i + 2] = uint32_t(vb + mesh.indices[flip ? i + 1 : i + 2]);
  }
  for (size_t i = 0; i < mesh.lines.size(); ++i) w.lines[layout.lbase[s] + i] = uint32_t(vb + mesh.lines[i]);
  for (size_t i = 0; i < mesh.points.size(); ++i) w.points[layout.pbase[s] + i] = uint32_t(vb + mesh.points[i]);
  auto normals = std::span(w.normals).subspan(3 * vb, 3 * mesh.positions.size());
  if (!mesh.normals.empty()) {
    if (!inst) {
      std::copy(mesh.normals.begin(), mesh.normals.end(), normals.begin());
    } else {
      const std::array<double, 9> c = cof.normalMatrix();
      for (size_t v = 0; v < mesh.positions.size(); ++v) {
        const float* n = &mesh.normals[3 * v];
        for (int r = 0; r < 3; ++r)
          normals[3 * v + size_t(r)] =
              float(c[size_t(3 * r)] * n[0] + c[size_t(3 * r + 1)] * n[1] + c[size_t(3 * r + 2)] * n[2]);
      }
    }
  } else {
    // This source's triangles touch only its own vertices: no other task writes these normals.
    accumulateNormals(w.positions, std::span(w.indices).subspan(ib, mesh.indices.size()), w.normals);
  }
  normalize(normals);
}

} // namespace

Result<Prepared> prepare(const core::Scene& scene, std::optional<core::Vec3d> center) {
  MX_ASSIGN_OR_RETURN(std::vector<Source> sources, sourcesOf(scene));
  MX_ASSIGN_OR_RETURN(Layout layout, layoutOf(sources));
  const Aabb& bounds = layout.bounds;
  const std::vector<size_t>& vbase = layout.vbase;
  const size_t vtotal = vbase.back(), itotal = layout.ibase.back();
  Prepared out;
  out.center = center           ? *center
               : bounds.empty() ? core::Vec3d{}
                                : core::Vec3d{(bounds.min[0] + bounds.max[0]) / 2, (bounds.min[1] + bounds.max[1]) / 2,
                                              (bounds.min[2] + bounds.max[2]) / 2};
  TileMesh& w = out.mesh;
  // Four fresh arrays (≈ 28 bytes per vertex + 12 per triangle): their pages are faulted in and
  // zeroed by whoever touches them first, so the four are sized on different threads.
  tbb::parallel_invoke([&] { w.positions.resize(3 * vtotal); }, [&] { w.normals.assign(3 * vtotal, 0.0f); },
                       [&] { w.classes.resize(vtotal); }, [&] { w.indices.resize(itotal); });
  w.lines.resize(layout.lbase.back());
  w.points.resize(layout.pbase.back());
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
      if (n)
        std::fill_n(w.classes.begin() + std::ptrdiff_t(vbase[s]), n,
                    classOf(src.instance->feature, rgbaOf(src.instance->material)));
      continue;
    }
    const uint32_t rgba = rgbaOf(src.mesh->material);
    uint32_t lastFeature = ~0u, lastClass = 0;
    for (size_t v = 0; v < n; ++v) {
      const uint32_t f = src.mesh->featureIds[v];
      if (f != lastFeature) {
        lastClass = classOf(f, rgba);
        lastFeature = f;
      }
      w.classes[vbase[s] + v] = lastClass;
    }
  }
  tbb::parallel_for(size_t(0), sources.size(), [&](size_t s) { fillSource(sources, s, layout, out.center, w); });
  return out;
}

Result<Prepared> runPrepare(const core::Scene& scene, const ExportOptions& options, core::ExportMetrics& metrics,
                            core::Scene* owned) {
  StageTimer timer(metrics, "prepare");
  progress(options, "prepare", 0);
  MX_ASSIGN_OR_RETURN(Prepared prepared, prepare(scene));
  if (owned) {
    owned->meshes = {};
    owned->sharedMeshes = {};
    owned->instances = {};
  }
  timer.stage().itemsIn = prepared.mesh.primitiveCount();
  timer.stage().itemsOut = prepared.classes.size();
  return prepared;
}

} // namespace mx::engine
