// The meshexport executable as users run it: exit codes, messages, no partial output, metrics.
#include <mx/datasets/Generators.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path tmpDir() {
  const char* env = std::getenv("MESHEXPORT_TEST_TMP");
  auto p = fs::path(env ? env : "/tmp") / "cli";
  fs::create_directories(p);
  return p;
}

struct CmdResult {
  int code;
  std::string output;
};

CmdResult run(const std::string& args) {
  const std::string cmd = std::string(MESHEXPORT_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

/// Written beside and renamed into place: ctest runs the cases in parallel processes, and one
/// must never see (or have mapped) a file another is rewriting.
void write(const fs::path& p, const std::vector<uint8_t>& b) {
  const fs::path temp = p.string() + ".tmp-" + std::to_string(::getpid());
  std::ofstream(temp, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  fs::rename(temp, p);
}

// Written once per test process (never reused from an earlier build's run: the generator changes).
fs::path sample() {
  static const fs::path p = [] {
    const auto path = tmpDir() / "city.glb";
    write(path, mx::datasets::sceneToGlb(mx::datasets::makeCity(80, 3, 4)));
    return path;
  }();
  return p;
}

/// A glb whose features name elements but no models, as glTF from other tools does.
fs::path sampleWithoutModels() {
  static const fs::path p = [] {
    const auto path = tmpDir() / "city-no-models.glb";
    auto scene = mx::datasets::makeCity(80, 3, 4);
    for (auto& f : scene.features) f.modelId = 0;
    write(path, mx::datasets::sceneToGlb(scene));
    return path;
  }();
  return p;
}

} // namespace

TEST(Cli, TilesAGlbAndWritesMetrics) {
  const auto out = tmpDir() / "ok";
  fs::remove_all(out);
  const auto metrics = tmpDir() / "ok-metrics.json";
  const CmdResult r = run(sample().string() + " -o " + out.string() + " --config maxTrianglesPerTile=2000 --metrics " +
                          metrics.string());
  // `tile` is the subcommand; without it the CLI must refuse.
  EXPECT_EQ(r.code, 2) << r.output;
  const CmdResult t = run("tile " + sample().string() + " -o " + out.string() +
                          " --config maxTrianglesPerTile=2000 --metrics " + metrics.string());
  ASSERT_EQ(t.code, 0) << t.output;
  EXPECT_NE(t.output.find((out / "tileset.json").string()), std::string::npos);
  EXPECT_NE(t.output.find("partition"), std::string::npos); // progress on stderr
  const json m = json::parse(std::ifstream(metrics));
  EXPECT_EQ(m["status"], "Complete");
  bool sawPartition = false;
  for (const auto& s : m["metrics"]["stages"]) {
    if (s["name"] == "partition") {
      sawPartition = true;
      EXPECT_FALSE(s["backend"].get<std::string>().empty());
      EXPECT_FALSE(s["reason"].get<std::string>().empty());
    }
  }
  EXPECT_TRUE(sawPartition);
  EXPECT_GT(m["metrics"]["totals"]["peakRssBytes"].get<uint64_t>(), 0u);
  EXPECT_GT(m["metrics"]["counts"]["tiles"].get<uint64_t>(), 1u);
  EXPECT_EQ(m["metrics"]["counts"]["trianglesPerLevel"].size(), m["metrics"]["counts"]["tilesPerLevel"].size());
  // A second run into the same folder refuses; --force replaces.
  EXPECT_EQ(run("tile " + sample().string() + " -o " + out.string()).code, 1);
  EXPECT_EQ(run("tile " + sample().string() + " -o " + out.string() + " --force -q").code, 0);
  // --device-share (the service's worker count): a whole number from 1 to 256.
  const CmdResult shared = run("tile " + sample().string() + " -o " + out.string() + " --force -q --device-share 3");
  EXPECT_EQ(shared.code, 0) << shared.output;
  EXPECT_NE(shared.output.find("deviceShare=3"), std::string::npos) << shared.output;
  for (const char* bad : {"0", "257", "-1", "two", ""}) {
    const CmdResult r2 =
        run("tile " + sample().string() + " -o " + out.string() + " --force --device-share '" + bad + "'");
    EXPECT_EQ(r2.code, 2) << bad;
    EXPECT_NE(r2.output.find("--device-share"), std::string::npos) << r2.output;
  }
  // --memory-budget-mb: whole MiB; a tilerConfig memoryBudgetMB wins over it.
  for (const char* bad : {"-1", "lots", "", "1048577"}) {
    const CmdResult r3 =
        run("tile " + sample().string() + " -o " + out.string() + " --force --memory-budget-mb '" + bad + "'");
    EXPECT_EQ(r3.code, 2) << bad;
    EXPECT_NE(r3.output.find("--memory-budget-mb"), std::string::npos) << r3.output;
  }
  // The sample needs more than 1 MiB in core: the flag reaches the engine, which cannot stream in it.
  const CmdResult tight = run("tile " + sample().string() + " -o " + out.string() + " --force -q --memory-budget-mb 1");
  EXPECT_EQ(tight.code, 4) << tight.output; // InvalidArgument, as any bad tilerConfig
  EXPECT_NE(tight.output.find("memoryBudgetMB 1 is too small"), std::string::npos) << tight.output;
  const CmdResult overridden = run("tile " + sample().string() + " -o " + out.string() +
                                   " --force -q --memory-budget-mb 1 --config memoryBudgetMB=0");
  EXPECT_EQ(overridden.code, 0) << overridden.output;
}

TEST(Cli, MalformedInputsFailCleanly) {
  const auto good = mx::datasets::sceneToGlb(mx::datasets::makeCity(5, 1, 1));
  std::vector<std::pair<std::string, std::vector<uint8_t>>> inputs;
  inputs.push_back({"truncated.glb", {good.begin(), good.begin() + std::ptrdiff_t(good.size() / 2)}});
  inputs.push_back({"empty.glb", {}});
  inputs.push_back({"text.glb", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd',
                                 '!', '!', '!', '!', '!', '!', '!', '!', '!', '!'}});
  std::string notJson = "{ \"asset\": ";
  inputs.push_back({"bad.gltf", {notJson.begin(), notJson.end()}});
  std::string noTriangles = R"({"asset":{"version":"2.0"},"scenes":[{"nodes":[]}]})";
  inputs.push_back({"empty.gltf", {noTriangles.begin(), noTriangles.end()}});
  for (const auto& [name, bytes] : inputs) {
    SCOPED_TRACE(name);
    const auto in = tmpDir() / name;
    write(in, bytes);
    const auto out = tmpDir() / ("out-" + name);
    fs::remove_all(out);
    const CmdResult r = run("tile " + in.string() + " -o " + out.string() + " -q");
    EXPECT_EQ(r.code, 3) << r.output;
    EXPECT_NE(r.output.find("malformed-input"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out));
  }
  const CmdResult missing = run("tile /nonexistent/in.glb -o " + (tmpDir() / "never").string());
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.output.find("/nonexistent/in.glb"), std::string::npos);
  const CmdResult unknownType = run("tile " + sample().string() + " -o x --type gltf");
  EXPECT_EQ(unknownType.code, 2);
  // IMODEL tiles need models: a glTF scene whose features carry none is refused before any work.
  fs::remove_all(tmpDir() / "never");
  const CmdResult imodelFromGltf =
      run("tile " + sampleWithoutModels().string() + " -o " + (tmpDir() / "never").string() + " --type imodel");
  EXPECT_EQ(imodelFromGltf.code, 4) << imodelFromGltf.output;
  EXPECT_NE(imodelFromGltf.output.find("needs an iModel input"), std::string::npos) << imodelFromGltf.output;
  EXPECT_FALSE(fs::exists(tmpDir() / "never"));
}

TEST(Cli, ImodelTilesFromAGlbThatCarriesModels) {
  // meshexport's own glb keeps each feature's element, model and sub-category (EXT_structural_metadata),
  // so it can be tiled again as IMODEL.
  const auto out = tmpDir() / "imodel-from-glb";
  fs::remove_all(out);
  const CmdResult r = run("tile " + sample().string() + " -o " + out.string() + " --type imodel -q");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out / "tileset.json"));
  bool imdl = false;
  for (const auto& e : fs::recursive_directory_iterator(out)) imdl = imdl || e.path().extension() == ".imdl";
  EXPECT_TRUE(imdl) << "no .imdl tile written";
}

TEST(Cli, BadConfigNamesTheKey) {
  const auto out = tmpDir() / "cfg";
  fs::remove_all(out);
  const auto metrics = tmpDir() / "cfg-metrics.json";
  CmdResult r = run("tile " + sample().string() + " -o " + out.string() + " --config maxTrianglesPerTiel=5 --metrics " +
                    metrics.string());
  EXPECT_EQ(r.code, 4);
  EXPECT_NE(r.output.find("maxTrianglesPerTiel"), std::string::npos) << r.output;
  const json m = json::parse(std::ifstream(metrics));
  EXPECT_EQ(m["status"], "Invalid");
  EXPECT_EQ(m["error"]["code"], "unknown-config-key");
  r = run("tile " + sample().string() + " -o " + out.string() + " --config simplifier=magic");
  EXPECT_EQ(r.code, 4);
  EXPECT_NE(r.output.find("simplifier"), std::string::npos);
  EXPECT_FALSE(fs::exists(out));
}

TEST(Cli, ListsKeysAndBackends) {
  CmdResult r = run("config-keys");
  EXPECT_EQ(r.code, 0);
  for (const char* key : {"maxTrianglesPerTile", "geometricErrorScale", "simplifier", "quantizePositions",
                          "meshoptCompression", "device"})
    EXPECT_NE(r.output.find(key), std::string::npos) << key;
  r = run("backends");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.output.find("cpu-scalar"), std::string::npos);
  EXPECT_NE(r.output.find("cpu-simd"), std::string::npos);
}
