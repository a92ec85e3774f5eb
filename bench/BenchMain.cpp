// Benchmarks on generated scenes of 2 M and 8 M triangles (datasets::makeBenchmarkScene):
// each stage per backend (BENCHMARK_CAPTURE), the end-to-end export, and meshoptimizer's
// simplifySloppy / simplify on the same input as baselines. Counters report triangles/s.
// Size selection: MESHEXPORT_BENCH_SIZES=2,8 (millions of triangles; default both).
#include <mx/core/MappedFile.h>
#include <mx/cpu/Algorithms.h>
#include <mx/datasets/Generators.h>
#include <mx/engine/BackendRegistry.h>
#include <mx/engine/Pipeline.h>
#include <mx/io/GltfReader.h>

#include <benchmark/benchmark.h>
#include <meshoptimizer.h>
#include <tiny_gltf.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <unistd.h>

using namespace mx;

namespace {

struct Input : datasets::FlatMesh {
  core::Scene scene;
  size_t triangles() const { return triangleCount(); }
  size_t vertices() const { return vertexCount(); }
};

const Input& input(int millions) {
  static std::map<int, std::unique_ptr<Input>> cache;
  static std::mutex m;
  std::lock_guard lock(m);
  auto& slot = cache[millions];
  if (!slot) {
    slot = std::make_unique<Input>();
    slot->scene = datasets::makeBenchmarkScene(uint64_t(millions) * 1000000, 1);
    static_cast<datasets::FlatMesh&>(*slot) = datasets::flatten(slot->scene);
  }
  return *slot;
}

std::unique_ptr<core::IComputeBackend> backendOrSkip(benchmark::State& state, const char* name) {
  auto b = engine::createBackend(name);
  if (!b) {
    state.SkipWithError("backend not compiled in");
    return nullptr;
  }
  if (!b->isAvailable()) {
    state.SkipWithError(b->unavailableReason().c_str());
    return nullptr;
  }
  return b;
}

void setRate(benchmark::State& state, size_t triangles) {
  state.counters["tri/s"] =
      benchmark::Counter(double(triangles) * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["triangles"] = double(triangles);
}

/// The device's copy bandwidths, measured once per process (zeros without a GPU).
const engine::DeviceBandwidth& bandwidth() {
  static const engine::DeviceBandwidth bw = [] {
    auto r = engine::measureDeviceBandwidth();
    return r ? *r : engine::DeviceBandwidth{};
  }();
  return bw;
}

/// Device-side figures of a GPU backend per iteration: device time of the calls (copies
/// included) and, apart, the copy spans and the bytes copied each way; then the floors the issue
/// measures against: `dev_floor_ms` = the bytes the stage must read and write in device memory
/// (`floorBytes`: its input once, its output once) ÷ the measured device copy bandwidth, and
/// `pcie_floor_ms` = the bytes copied ÷ the measured pinned host↔device bandwidth; `x_dev_floor`
/// and `x_pcie_floor` are the device time and the wall time over them.
void setDevice(benchmark::State& state, const core::IComputeBackend& b, const core::DeviceMemoryStats& before,
               double floorBytes, double wallSeconds) {
  if (b.name() != "cuda" || state.iterations() == 0) return;
  const core::DeviceMemoryStats after = b.memoryStats();
  const double it = double(state.iterations());
  const double deviceMs = (after.kernelMs - before.kernelMs) / it;
  const double h2d = double(after.hostToDeviceBytes - before.hostToDeviceBytes) / it;
  const double d2h = double(after.deviceToHostBytes - before.deviceToHostBytes) / it;
  state.counters["device_ms"] = deviceMs;
  state.counters["copy_ms"] = (after.copyMs - before.copyMs) / it;
  state.counters["h2d_MB"] = h2d / 1e6;
  state.counters["d2h_MB"] = d2h / 1e6;
  state.counters["peak_dev_MB"] = double(after.peakBytes) / 1e6;
  const engine::DeviceBandwidth& bw = bandwidth();
  if (bw.deviceGBps > 0 && bw.hostToDeviceGBps > 0 && bw.deviceToHostGBps > 0) {
    const double devFloorMs = floorBytes / (bw.deviceGBps * 1e9) * 1e3;
    const double pcieFloorMs = (h2d / (bw.hostToDeviceGBps * 1e9) + d2h / (bw.deviceToHostGBps * 1e9)) * 1e3;
    state.counters["dev_floor_ms"] = devFloorMs;
    state.counters["x_dev_floor"] = deviceMs / devFloorMs;
    state.counters["pcie_floor_ms"] = pcieFloorMs;
    state.counters["x_pcie_floor"] = wallSeconds * 1e3 / it / pcieFloorMs;
  }
}

/// Wall seconds of a benchmark loop body, summed (for the floors above).
struct WallClock {
  double seconds = 0;
  template <typename Fn> auto operator()(Fn&& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = fn();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  }
};

/// The baseline of every floor: device-to-device and host↔device copy bandwidth of this machine.
void BM_DeviceBandwidth(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(bandwidth());
  const engine::DeviceBandwidth& bw = bandwidth();
  if (bw.deviceGBps <= 0) {
    auto r = engine::measureDeviceBandwidth(1 << 20, 1);
    state.SkipWithError(r ? "bandwidth not measured" : r.status().toString().c_str());
    return;
  }
  state.counters["device_GBps"] = bw.deviceGBps;
  state.counters["h2d_pinned_GBps"] = bw.hostToDeviceGBps;
  state.counters["d2h_pinned_GBps"] = bw.deviceToHostGBps;
  state.counters["h2d_pageable_GBps"] = bw.pageableHostToDeviceGBps;
}

/// Grid cell giving roughly an 8:1 triangle reduction (the LOD ratio of one tile level).
float reductionCell(const Input& in) { return std::max(in.bounds.maxExtent() / 1000.0f, 4.0f); }

void BM_Partition(benchmark::State& state, const char* backendName) {
  auto b = backendOrSkip(state, backendName);
  if (!b) return;
  const Input& in = input(int(state.range(0)));
  core::PartitionOutput out;
  const auto device0 = b->memoryStats();
  WallClock wall;
  for (auto _ : state) {
    auto s = wall([&] { return b->partition({in.positions, in.indices, 32768}, out); });
    if (!s) {
      state.SkipWithError(s.toString().c_str());
      return;
    }
    benchmark::DoNotOptimize(out.nodes.data());
  }
  setRate(state, in.triangles());
  setDevice(state, *b, device0, 12.0 * double(in.vertices()) + 20.0 * double(in.triangles()), wall.seconds);
}

void BM_MortonCodes(benchmark::State& state, cpu::CpuLevel level) {
  const Input& in = input(int(state.range(0)));
  const size_t t = in.triangles();
  std::vector<float> cx(t), cy(t), cz(t);
  cpu::triangleCentroids(in.positions, in.indices, cx, cy, cz);
  std::vector<uint32_t> codes(t);
  for (auto _ : state) {
    const auto b = cpu::boundsOf(level, cx, cy, cz);
    cpu::mortonCodes(level, cx, cy, cz, b, codes);
    benchmark::DoNotOptimize(codes.data());
  }
  setRate(state, t);
}

void BM_SortPairs(benchmark::State& state, cpu::CpuLevel level) {
  const Input& in = input(int(state.range(0)));
  const size_t t = in.triangles();
  std::vector<float> cx(t), cy(t), cz(t);
  cpu::triangleCentroids(in.positions, in.indices, cx, cy, cz);
  std::vector<uint32_t> codes(t), keys(t), values(t);
  cpu::mortonCodes(level, cx, cy, cz, cpu::boundsOf(level, cx, cy, cz), codes);
  for (auto _ : state) {
    state.PauseTiming();
    keys = codes;
    for (size_t i = 0; i < t; ++i) values[i] = uint32_t(i);
    state.ResumeTiming();
    cpu::sortPairs(level, keys, values);
    benchmark::DoNotOptimize(keys.data());
  }
  setRate(state, t);
}

void BM_Cluster(benchmark::State& state, const char* backendName) {
  auto b = backendOrSkip(state, backendName);
  if (!b) return;
  const Input& in = input(int(state.range(0)));
  core::ClusterOutput out;
  const auto device0 = b->memoryStats();
  WallClock wall;
  for (auto _ : state) {
    auto s = wall([&] {
      return b->clusterVertices({in.positions, in.classes, in.indices, in.bounds, reductionCell(in)}, out);
    });
    if (!s) {
      state.SkipWithError(s.toString().c_str());
      return;
    }
    benchmark::DoNotOptimize(out.indices.data());
  }
  setRate(state, in.triangles());
  setDevice(state, *b, device0,
            20.0 * double(in.vertices()) + 12.0 * double(in.triangles()) + 16.0 * double(out.classes.size()) +
                4.0 * double(out.indices.size()),
            wall.seconds);
  state.counters["out_tris"] = double(out.indices.size() / 3);
}

void BM_Quantize(benchmark::State& state, const char* backendName) {
  auto b = backendOrSkip(state, backendName);
  if (!b) return;
  const Input& in = input(int(state.range(0)));
  core::QuantizeOutput out;
  const auto device0 = b->memoryStats();
  WallClock wall;
  for (auto _ : state) {
    auto s = wall([&] { return b->quantize({in.positions, {}, in.bounds}, out); });
    if (!s) {
      state.SkipWithError(s.toString().c_str());
      return;
    }
    benchmark::DoNotOptimize(out.positions.data());
  }
  state.counters["vert/s"] =
      benchmark::Counter(double(in.vertices()) * double(state.iterations()), benchmark::Counter::kIsRate);
  setDevice(state, *b, device0, 20.0 * double(in.vertices()), wall.seconds);
}

/// Baseline: meshoptimizer's grid clustering, asked for the triangle count our clustering gives.
void BM_MeshoptSimplifySloppy(benchmark::State& state) {
  const Input& in = input(int(state.range(0)));
  core::ClusterOutput ours;
  cpu::clusterVertices(cpu::CpuLevel::Simd, {in.positions, in.classes, in.indices, in.bounds, reductionCell(in)}, ours);
  std::vector<uint32_t> dst(in.indices.size());
  size_t n = 0;
  for (auto _ : state) {
    n = meshopt_simplifySloppy(dst.data(), in.indices.data(), in.indices.size(), in.positions.data(), in.vertices(), 12,
                               ours.indices.size(), 1.0f, nullptr);
    benchmark::DoNotOptimize(dst.data());
  }
  setRate(state, in.triangles());
  state.counters["out_tris"] = double(n / 3);
}

/// Baseline: meshoptimizer's quadric simplifier to 1/8 of the triangles (one LOD level).
void BM_MeshoptSimplify(benchmark::State& state) {
  const Input& in = input(int(state.range(0)));
  std::vector<uint32_t> dst(in.indices.size());
  size_t n = 0;
  for (auto _ : state) {
    n = meshopt_simplify(dst.data(), in.indices.data(), in.indices.size(), in.positions.data(), in.vertices(), 12,
                         in.indices.size() / 8, 1.0f, 0, nullptr);
    benchmark::DoNotOptimize(dst.data());
  }
  setRate(state, in.triangles());
  state.counters["out_tris"] = double(n / 3);
}

/// The whole export (prepare, partition, full LOD pyramid, quantize, write, validate) into a
/// temporary folder; peak RSS reported against the input mesh size.
void BM_EndToEnd(benchmark::State& state, const char* device) {
  const Input& in = input(int(state.range(0)));
  engine::ExportOptions o;
  auto cfg = engine::parseTilerConfig({{"device", device}});
  if (!cfg) {
    state.SkipWithError(cfg.status().toString().c_str());
    return;
  }
  o.config = *cfg;
  o.overwrite = true;
  const auto dir = std::filesystem::temp_directory_path() / ("mx-bench-" + std::to_string(getpid()));
  core::ExportMetrics last;
  for (auto _ : state) {
    auto r = engine::exportScene(in.scene, dir, o);
    if (!r) {
      state.SkipWithError(r.status().toString().c_str());
      return;
    }
    last = r->metrics;
  }
  std::filesystem::remove_all(dir);
  setRate(state, in.triangles());
  state.counters["tiles"] = double(last.tiles);
  state.counters["peakRSS_MB"] = double(last.peakRssBytes) / 1e6;
  state.counters["input_MB"] = double(in.scene.byteSize()) / 1e6;
  state.counters["rss/input"] = double(last.peakRssBytes) / double(in.scene.byteSize());
  for (const auto& s : last.stages) state.counters["ms_" + s.name] = s.wallMs;
  // The end-to-end floor: the PCIe time of the input mesh and the written tiles.
  const engine::DeviceBandwidth& bw = std::string_view(device) == "cuda" ? bandwidth() : engine::DeviceBandwidth{};
  if (bw.hostToDeviceGBps > 0 && bw.deviceToHostGBps > 0) {
    const double floorMs = (double(in.scene.byteSize()) / (bw.hostToDeviceGBps * 1e9) +
                            double(last.outputBytes) / (bw.deviceToHostGBps * 1e9)) *
                           1e3;
    state.counters["pcie_floor_ms"] = floorMs;
    state.counters["x_pcie_floor"] = last.wallMs / floorMs;
    state.counters["h2d_MB"] = double(last.hostToDeviceBytes) / 1e6;
    state.counters["d2h_MB"] = double(last.deviceToHostBytes) / 1e6;
  }
}

/// The benchmark scene of `millions` triangles as a glb file in the temp folder (written once).
const std::filesystem::path& glbFile(int millions) {
  struct TempFiles { // removed when the process exits
    std::map<int, std::filesystem::path> paths;
    ~TempFiles() {
      for (const auto& [n, p] : paths) std::filesystem::remove(p);
    }
  };
  static TempFiles files;
  static std::mutex m;
  std::lock_guard lock(m);
  auto& path = files.paths[millions];
  if (path.empty()) {
    path = std::filesystem::temp_directory_path() /
           ("mx-bench-" + std::to_string(getpid()) + "-" + std::to_string(millions) + "M.glb");
    const std::vector<uint8_t> glb = datasets::sceneToGlb(input(millions).scene);
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(glb.data()), std::streamsize(glb.size()));
  }
  return path;
}

/// Reading a glb into a scene (the export's read stage) against two baselines in the same run:
/// `pagecache` touches every byte of the file through a memory map (the memory-speed floor) and
/// `tinygltf` is tinygltf's own load, which copies the file and then each buffer (what the reader
/// did before it took accessors from the mapping), with no scene built. Counters: GB/s of glb.
void BM_ReadGlb(benchmark::State& state, const char* how) {
  const std::filesystem::path& path = glbFile(int(state.range(0)));
  const double bytes = double(std::filesystem::file_size(path));
  size_t triangles = 0;
  for (auto _ : state) {
    if (std::string_view(how) == "meshexport") {
      auto r = io::readGltf(path);
      if (!r) {
        state.SkipWithError(r.status().toString().c_str());
        return;
      }
      triangles = r->triangleCount();
    } else if (std::string_view(how) == "pagecache") {
      auto f = core::MappedFile::open(path);
      uint64_t sum = 0;
      for (size_t i = 0; i < f->size(); i += 64) sum += f->bytes()[i];
      benchmark::DoNotOptimize(sum);
    } else {
      tinygltf::TinyGLTF loader;
      loader.SetImageLoader([](tinygltf::Image*, const int, std::string*, std::string*, int, int, const unsigned char*,
                               int, void*) { return true; },
                            nullptr);
      tinygltf::Model model;
      std::string err, warn;
      if (!loader.LoadBinaryFromFile(&model, &err, &warn, path.string())) {
        state.SkipWithError(err.c_str());
        return;
      }
      benchmark::DoNotOptimize(model.buffers.data());
    }
  }
  state.counters["GB/s"] = benchmark::Counter(bytes * double(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
  state.counters["glb_MB"] = bytes / 1e6;
  if (triangles) setRate(state, triangles);
}

void sizes(benchmark::internal::Benchmark* b) {
  const char* env = std::getenv("MESHEXPORT_BENCH_SIZES");
  std::string list = env ? env : "2,8";
  size_t pos = 0;
  while (pos < list.size()) {
    const size_t comma = list.find(',', pos);
    b->Arg(std::stoi(list.substr(pos, comma - pos)));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  b->Unit(benchmark::kMillisecond)->UseRealTime();
}

} // namespace

BENCHMARK_CAPTURE(BM_ReadGlb, pagecache, "pagecache")->Apply(sizes);
BENCHMARK_CAPTURE(BM_ReadGlb, tinygltf, "tinygltf")->Apply(sizes);
BENCHMARK_CAPTURE(BM_ReadGlb, meshexport, "meshexport")->Apply(sizes);
BENCHMARK(BM_DeviceBandwidth)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_MortonCodes, scalar, cpu::CpuLevel::Scalar)->Apply(sizes);
BENCHMARK_CAPTURE(BM_MortonCodes, simd, cpu::CpuLevel::Simd)->Apply(sizes);
BENCHMARK_CAPTURE(BM_SortPairs, scalar_radix, cpu::CpuLevel::Scalar)->Apply(sizes);
BENCHMARK_CAPTURE(BM_SortPairs, simd_vqsort, cpu::CpuLevel::Simd)->Apply(sizes);
BENCHMARK_CAPTURE(BM_Partition, cpu_scalar, "cpu-scalar")->Apply(sizes);
BENCHMARK_CAPTURE(BM_Partition, cpu_simd, "cpu-simd")->Apply(sizes);
BENCHMARK_CAPTURE(BM_Partition, cuda, "cuda")->Apply(sizes);
BENCHMARK_CAPTURE(BM_Cluster, cpu_scalar, "cpu-scalar")->Apply(sizes);
BENCHMARK_CAPTURE(BM_Cluster, cpu_simd, "cpu-simd")->Apply(sizes);
BENCHMARK_CAPTURE(BM_Cluster, cuda, "cuda")->Apply(sizes);
BENCHMARK(BM_MeshoptSimplifySloppy)->Apply(sizes);
BENCHMARK(BM_MeshoptSimplify)->Apply(sizes);
BENCHMARK_CAPTURE(BM_Quantize, cpu_scalar, "cpu-scalar")->Apply(sizes);
BENCHMARK_CAPTURE(BM_Quantize, cpu_simd, "cpu-simd")->Apply(sizes);
BENCHMARK_CAPTURE(BM_Quantize, cuda, "cuda")->Apply(sizes);
BENCHMARK_CAPTURE(BM_EndToEnd, cpu, "cpu")->Apply(sizes)->Iterations(1);
BENCHMARK_CAPTURE(BM_EndToEnd, cuda, "cuda")->Apply(sizes)->Iterations(1);

BENCHMARK_MAIN();
