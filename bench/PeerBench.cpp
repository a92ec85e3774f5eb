// meshexport against its peer, side by side in the same run: gltfpack 1.3 (npm `gltfpack`, the
// WebAssembly build; `-si 0.1` simplifies, as a tiler's coarse level would) and `meshexport tile`
// on the same benchmark glb (datasets::makeBenchmarkScene), each as a child process from read to
// written output. Counters: triangles/s, the child's peak RSS (getrusage of the child), and for
// meshexport `x_rate` and `x_rss`, its rate and peak RSS over gltfpack's from this run.
// Sizes: MESHEXPORT_BENCH_SIZES=8 (millions of triangles; default 8).
// BM_Scale: meshexport alone in core and out of core (memoryBudgetMB) on quantized benchmark glbs
// (8 bytes a vertex, so 100 M triangles fit a glb's 4 GiB): MESHEXPORT_SCALE_RUNS=8:0,32:0,32:2048
// (millions:budget MiB, 0 = in core; default; add 100:2048 for the 100 M city). An out-of-core run
// after the in-core run of its size reports `x_incore_rate`, its rate over the in-core one.
#include <benchmark/benchmark.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace {

namespace fs = std::filesystem;

struct Run {
  double seconds = 0;
  double peakRssMB = 0;
  int exitCode = -1;
};

/// Runs argv[0] (found on PATH) to completion, stdout and stderr to `out`. posix_spawn
/// vforks, and Linux gives the child the parent's RSS high-water mark at exec: the parent stays
/// small (the input is made by a child too) so ru_maxrss is the child's own.
Run runChild(const std::vector<std::string>& args, const std::string& out = "/dev/null") {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  Run run;
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = 0;
  if (posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return run;
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  struct rusage usage {};
  ::wait4(pid, &status, 0, &usage);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  run.peakRssMB = double(usage.ru_maxrss) / 1024.0; // KiB on Linux
  run.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

fs::path scratch() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("mx-peer-bench-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

struct Input {
  fs::path glb;
  size_t triangles = 0;
};

const Input& input(int millions, bool quantized = false) {
  static std::map<std::pair<int, bool>, Input> cache;
  Input& in = cache[{millions, quantized}];
  if (in.glb.empty()) {
    // meshexport-gen writes datasets::makeBenchmarkScene and prints "PATH: N triangles, …" on stderr.
    in.glb = scratch() / ("bench-" + std::to_string(millions) + (quantized ? "M-q.glb" : "M.glb"));
    const fs::path said = scratch() / "gen.txt";
    std::vector<std::string> args = {MESHEXPORT_GEN, "bench", in.glb.string(), "--triangles",
                                     std::to_string(uint64_t(millions) * 1000000)};
    if (quantized) args.push_back("--quantized");
    runChild(args, said.string());
    std::ifstream text(said);
    std::string line;
    std::getline(text, line);
    const size_t colon = line.rfind(": ");
    if (colon != std::string::npos) in.triangles = std::strtoull(line.c_str() + colon + 2, nullptr, 10);
  }
  return in;
}

std::map<int, Run> gltfpackRuns; // by size, for meshexport's ratios

void BM_Peer(benchmark::State& state, const char* tool) {
  const int millions = int(state.range(0));
  const Input& in = input(millions);
  if (in.triangles == 0) {
    state.SkipWithError("meshexport-gen did not make the input");
    return;
  }
  const bool ours = std::string_view(tool) == "meshexport";
  Run last;
  for (auto _ : state) {
    const fs::path out = scratch() / (std::string(tool) + "-out");
    fs::remove_all(out);
    if (ours)
      last = runChild({MESHEXPORT_BINARY, "tile", in.glb.string(), "-o", out.string(), "--force", "--quiet"});
    else
      last = runChild({"node", MESHEXPORT_SOURCE_DIR "/tests/node/node_modules/gltfpack/cli.js", "-i", in.glb.string(),
                       "-o", (out.string() + ".glb"), "-si", "0.1"});
    fs::remove_all(out);
    fs::remove(out.string() + ".glb");
    if (last.exitCode != 0) {
      state.SkipWithError((std::string(tool) + " exited with " + std::to_string(last.exitCode)).c_str());
      return;
    }
    state.SetIterationTime(last.seconds);
  }
  state.counters["tri/s"] = double(in.triangles) / last.seconds;
  state.counters["peakRSS_MB"] = last.peakRssMB;
  state.counters["B/tri"] = last.peakRssMB * 1048576.0 / double(in.triangles);
  if (!ours) {
    gltfpackRuns[millions] = last;
  } else if (auto peer = gltfpackRuns.find(millions); peer != gltfpackRuns.end()) {
    state.counters["x_rate"] = peer->second.seconds / last.seconds;
    state.counters["x_rss"] = last.peakRssMB / peer->second.peakRssMB;
  }
}

void sizes(benchmark::internal::Benchmark* b) {
  const char* env = std::getenv("MESHEXPORT_BENCH_SIZES");
  std::string list = env ? env : "8";
  for (size_t pos = 0; pos < list.size();) {
    const size_t comma = list.find(',', pos);
    b->Arg(std::stoi(list.substr(pos, comma - pos)));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  b->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(1);
}

std::map<int, Run> inCoreRuns; // by size, for the out-of-core ratio

void BM_Scale(benchmark::State& state) {
  const int millions = int(state.range(0)), budget = int(state.range(1));
  const Input& in = input(millions, true);
  if (in.triangles == 0) {
    state.SkipWithError("meshexport-gen did not make the input");
    return;
  }
  Run last;
  for (auto _ : state) {
    const fs::path out = scratch() / "scale-out";
    fs::remove_all(out);
    last = runChild({MESHEXPORT_BINARY, "tile", in.glb.string(), "-o", out.string(), "--force", "--quiet",
                     "--memory-budget-mb", std::to_string(budget)});
    fs::remove_all(out);
    if (last.exitCode != 0) {
      state.SkipWithError(("meshexport exited with " + std::to_string(last.exitCode)).c_str());
      return;
    }
    state.SetIterationTime(last.seconds);
  }
  state.counters["tri/s"] = double(in.triangles) / last.seconds;
  state.counters["peakRSS_MB"] = last.peakRssMB;
  state.counters["B/tri"] = last.peakRssMB * 1048576.0 / double(in.triangles);
  if (budget == 0)
    inCoreRuns[millions] = last;
  else if (auto core = inCoreRuns.find(millions); core != inCoreRuns.end())
    state.counters["x_incore_rate"] = core->second.seconds / last.seconds;
}

void scaleRuns(benchmark::internal::Benchmark* b) {
  const char* env = std::getenv("MESHEXPORT_SCALE_RUNS");
  std::string list = env ? env : "8:0,32:0,32:2048";
  for (size_t pos = 0; pos < list.size();) {
    const size_t comma = list.find(',', pos);
    const std::string run = list.substr(pos, comma - pos);
    const size_t colon = run.find(':');
    b->Args({std::stoi(run.substr(0, colon)), colon == std::string::npos ? 0 : std::stoi(run.substr(colon + 1))});
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  b->ArgNames({"Mtri", "budgetMB"})->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(1);
}

} // namespace

BENCHMARK_CAPTURE(BM_Peer, gltfpack, "gltfpack")->Apply(sizes);
BENCHMARK_CAPTURE(BM_Peer, meshexport, "meshexport")->Apply(sizes);
BENCHMARK(BM_Scale)->Apply(scaleRuns);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  fs::remove_all(scratch());
  return 0;
}
