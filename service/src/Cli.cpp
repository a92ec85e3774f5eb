#include <algorithm>
#include <mx/service/Cli.h>

#include <mx/cpu/CpuLevel.h>
#include <mx/engine/BackendRegistry.h>
#include <mx/engine/Inspect.h>
#include <mx/engine/Metrics.h>
#include <mx/engine/Pipeline.h>
#include <mx/engine/TilerConfig.h>
#include <mx/service/Config.h>
#include <mx/service/DataDir.h>
#include <mx/service/ImodelStore.h>
#include <mx/service/PostgresJobStore.h>
#include <mx/service/Service.h>
#include <mx/service/SqliteJobStore.h>

#include <signal.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace mx::service {

namespace {

constexpr const char* kUsage = R"(meshexport — tile meshes into streaming 3D Tiles

usage:
  meshexport tile INPUT -o OUTDIR [--type 3dtiles|cesium|imodel] [--device auto|cpu|cuda]
                  [--config KEY=VALUE]... [--metrics FILE.json] [--cpu-level scalar|simd]
                  [--location LON,LAT[,HEIGHT]] [--device-share N] [--memory-budget-mb N]
                  [--force] [--quiet]
  meshexport inspect FILE.bim [--json]
                                  what the reader sees in an iModel: file facts and one record
                                  per spatial element (id, class, model, category, world range,
                                  GeometryStream operations)
  meshexport serve [--config FILE.json] [--KEY VALUE]...
                                  the Mesh Export REST API (docs/service.md); keys also come
                                  from the config file and MESHEXPORT_* variables
                                  (`meshexport serve --help` lists them)
  meshexport imodels add FILE.bim [--itwin-id ID] [--data-dir DIR]
                                  register an iModel with a service's data folder
  meshexport imodels list [--data-dir DIR]
  meshexport store check [--data-dir DIR]
                                  check the job store (SQLite quick_check, schema) and that its
                                  rows, the export folders and their manifests agree; exit 0 when
                                  they do, 8 otherwise
  meshexport store recover [--data-dir DIR]
                                  rebuild the job store from the exports' manifests: a damaged
                                  store is moved aside (jobs.db.damaged-TIME), never deleted; rows
                                  already there stay (the service must be stopped)
  meshexport store migrate --from sqlite:FILE --to postgresql://…
                                  copy every export row of a SQLite store (the service stopped) into
                                  a PostgreSQL store (any libpq connection string; its schema is
                                  made or migrated); rows already there with other content are named
                                  and left alone; exit 0 when every row is in the target, 8 otherwise
  meshexport config-keys          list the tilerConfig keys
  meshexport backends             list compiled backends and whether they can run here
  meshexport --version

INPUT is a glTF 2.0 file (.glb or .gltf). OUTDIR must not exist or be empty (--force replaces it);
it appears only when the whole tileset was written and validated. --location places the
scene's origin at a WGS84 longitude/latitude (degrees) and height (metres), x east, y north, z up
(the input's own geolocation otherwise; none for glTF). --device-share N: N exports use the GPU at
once (the service passes its worker count); without tilerConfig deviceMemoryMB each gets 1/N of
80 % of the free device memory. --memory-budget-mb N: the host memory the export should stay within
(tilerConfig memoryBudgetMB, which wins when given): a larger input is tiled out of core.
)";

int exitCode(core::ErrorCode code) {
  switch (code) {
  case core::ErrorCode::Ok:
    return 0;
  case core::ErrorCode::MalformedInput:
  case core::ErrorCode::UnsupportedInput:
    return 3;
  case core::ErrorCode::UnknownConfigKey:
  case core::ErrorCode::InvalidArgument:
    return 4;
  case core::ErrorCode::ValidationFailed:
    return 5;
  case core::ErrorCode::DeviceUnavailable:
    return 6;
  case core::ErrorCode::Cancelled:
    return 7;
  case core::ErrorCode::DataLoss:
    return 8;
  case core::ErrorCode::Unavailable:
    return 9;
  case core::ErrorCode::StorageFull:
    return 10;
  case core::ErrorCode::AlreadyExists:
    return 11;
  default:
    return 1;
  }
}

int usage(const std::string& why) {
  std::fprintf(stderr, "meshexport: %s\n\n%s", why.c_str(), kUsage);
  return 2;
}

bool writeJson(const std::string& path, const nlohmann::json& j) {
  std::ofstream out(path, std::ios::trunc);
  out << j.dump(2) << "\n";
  return bool(out);
}

struct TileArgs {
  std::string input, output, metricsPath;
  std::vector<std::pair<std::string, std::string>> config;
  std::string memoryBudgetMB; ///< --memory-budget-mb: memoryBudgetMB unless tilerConfig sets it.
  engine::ExportOptions options;
  bool quiet = false;
};

/// What `tile` says when an option that takes a value comes last.
const std::map<std::string, std::string> kTileOptionValue = {
    {"-o", "-o needs a folder"},
    {"--output", "--output needs a folder"},
    {"--metrics", "--metrics needs a file"},
    {"--type", "--type needs a value"},
    {"--device", "--device needs a value"},
    {"--config", "--config needs KEY=VALUE"},
    {"--cpu-level", "--cpu-level needs a value"},
    {"--location", "--location needs LON,LAT[,HEIGHT]"},
    {"--device-share", "--device-share needs a number"},
    {"--memory-budget-mb", "--memory-budget-mb needs a number"}};

/// One option of `tile` with its value `v`: "" when taken, else why not (for usage()).
std::string tileOption(const std::string& a, const std::string& v, TileArgs& t) {
  if (a == "-o" || a == "--output") {
    t.output = v;
  } else if (a == "--metrics") {
    t.metricsPath = v;
  } else if (a == "--type") {
    std::string type;
    for (char c : v) type += char(std::tolower(static_cast<unsigned char>(c)));
    if (type == "3dtiles")
      t.options.type = io::ExportType::ThreeDTiles;
    else if (type == "cesium")
      t.options.type = io::ExportType::Cesium;
    else if (type == "imodel")
      t.options.type = io::ExportType::Imodel;
    else
      return "--type must be 3dtiles, cesium or imodel";
  } else if (a == "--device") {
    t.config.emplace_back("device", v);
  } else if (a == "--config") {
    const auto eq = v.find('=');
    if (eq == std::string::npos || eq == 0) return "--config needs KEY=VALUE, got \"" + v + "\"";
    t.config.emplace_back(v.substr(0, eq), v.substr(eq + 1));
  } else if (a == "--cpu-level") {
    auto level = cpu::parseCpuLevel(v);
    if (!level) return "--cpu-level must be scalar or simd";
    t.options.cpuLevel = *level;
  } else if (a == "--location") {
    double lon = 0, lat = 0, h = 0;
    char extra = 0;
    const int n = std::sscanf(v.c_str(), "%lf,%lf,%lf%c", &lon, &lat, &h, &extra);
    if ((n != 2 && n != 3) || !std::isfinite(lon) || !std::isfinite(lat) || !std::isfinite(h) || lon < -180 ||
        lon > 180 || lat < -90 || lat > 90)
      return "--location must be LON,LAT[,HEIGHT] in degrees and metres, got \"" + v + "\"";
    t.options.location = engine::ecefAt(lon, lat, h);
  } else if (a == "--device-share") {
    char* end = nullptr;
    const unsigned long n = std::strtoul(v.c_str(), &end, 10);
    if (v.empty() || *end != 0 || n < 1 || n > 256)
      return "--device-share must be a whole number from 1 to 256, got \"" + v + "\"";
    t.options.deviceShare = unsigned(n);
  } else if (a == "--memory-budget-mb") {
    engine::TilerConfig probe;
    if (!engine::applyTilerConfig(probe, "memoryBudgetMB", v))
      return "--memory-budget-mb must be a whole number of MiB from 0 to 1048576, got \"" + v + "\"";
    t.memoryBudgetMB = v;
  }
  return "";
}

/// The arguments of `tile`: "" when they are whole, else why not (for usage()).
std::string parseTileArgs(const std::vector<std::string>& args, TileArgs& t) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (auto it = kTileOptionValue.find(a); it != kTileOptionValue.end()) {
      if (i + 1 >= args.size()) return it->second;
      if (std::string why = tileOption(a, args[++i], t); !why.empty()) return why;
    } else if (a == "--force") {
      t.options.overwrite = true;
    } else if (a == "--quiet" || a == "-q") {
      t.quiet = true;
    } else if (!a.empty() && a[0] == '-') {
      return "unknown option " + a;
    } else if (t.input.empty()) {
      t.input = a;
    } else {
      return "more than one input: " + t.input + ", " + a;
    }
  }
  if (t.input.empty()) return "tile needs an INPUT file";
  if (t.output.empty()) return "tile needs -o OUTDIR";
  return "";
}

int tile(const std::vector<std::string>& args) {
  TileArgs t;
  if (std::string why = parseTileArgs(args, t); !why.empty()) return usage(why);
  const std::string &input = t.input, &output = t.output, &metricsPath = t.metricsPath;
  engine::ExportOptions& options = t.options;
  const bool quiet = t.quiet;
  auto config = t.config;
  const bool budgetGiven = std::any_of(config.begin(), config.end(), [](const auto& kv) {
    return engine::canonicalConfigKey(kv.first) == "memoryBudgetMB";
  });
  if (!t.memoryBudgetMB.empty() && !budgetGiven) config.insert(config.begin(), {"memoryBudgetMB", t.memoryBudgetMB});

  auto fail = [&](const core::Status& s) {
    spdlog::error("{}", s.toString());
    if (!metricsPath.empty())
      writeJson(metricsPath, {{"status", "Invalid"},
                              {"error", {{"code", std::string(core::toString(s.code()))}, {"message", s.message()}}}});
    return exitCode(s.code());
  };
  auto cfg = engine::parseTilerConfig(config);
  if (!cfg) return fail(cfg.status());
  options.config = *cfg;
  if (!quiet) {
    options.progress = [](std::string_view stage, double fraction) {
      spdlog::info("{:<9} {:3.0f}%", stage, fraction * 100);
    };
  }
  spdlog::info("tiling {} → {} (device={}, deviceShare={}, cpu={}, maxTrianglesPerTile={}, simplifier={})", input,
               output, engine::toString(options.config.device), options.deviceShare, cpu::toString(options.cpuLevel),
               options.config.maxTrianglesPerTile, engine::toString(options.config.simplifier));
  auto result = engine::exportFile(input, output, options);
  if (!result) return fail(result.status());
  const core::ExportMetrics& m = result->metrics;
  for (const auto& w : m.warnings) spdlog::warn("{}", w);
  for (const auto& s : m.stages) spdlog::info("  {:<9} {:9.1f} ms  {:<11} {}", s.name, s.wallMs, s.backend, s.reason);
  const std::string linework =
      m.lineSegmentsIn || m.pointsIn
          ? ", " + std::to_string(m.lineSegmentsIn) + " line segments, " + std::to_string(m.pointsIn) + " points"
          : std::string();
  spdlog::info("{} triangles{} → {} tiles, {} levels, {:.1f} MB, peak RSS {:.0f} MB, {:.0f} ms", m.trianglesIn,
               linework, m.tiles, m.tilesPerLevel.size(), m.outputBytes / 1e6, m.peakRssBytes / 1e6, m.wallMs);
  if (!metricsPath.empty()) {
    nlohmann::json j = {{"status", "Complete"},
                        {"metrics", engine::toJson(m)},
                        {"validation",
                         {{"errors", result->validation.errors.size()},
                          {"tiles", result->validation.tiles},
                          {"contents", result->validation.contents},
                          {"bytes", result->validation.bytes}}}};
    if (!writeJson(metricsPath, j)) {
      spdlog::error("cannot write {}", metricsPath);
      return 1;
    }
  }
  std::printf("%s\n", (std::filesystem::absolute(output) / "tileset.json").string().c_str());
  return 0;
}

int inspect(const std::vector<std::string>& args) {
  std::string file;
  bool asJson = false;
  for (const auto& a : args) {
    if (a == "--json")
      asJson = true;
    else if (!a.empty() && a[0] == '-')
      return usage("unknown option " + a);
    else if (file.empty())
      file = a;
    else
      return usage("inspect takes one file");
  }
  if (file.empty()) return usage("inspect needs FILE.bim");
  auto r = engine::inspectImodel(file);
  if (!r) {
    spdlog::error("{}", r.status().toString());
    return exitCode(r.status().code());
  }
  const nlohmann::json& j = *r;
  if (asJson) {
    std::printf("%s\n", j.dump(1).c_str());
    return 0;
  }
  std::printf("iModel %s \"%s\" (profile %s, changeset \"%s\")\n", j["iModelId"].get<std::string>().c_str(),
              j["name"].get<std::string>().c_str(), j["profile"].get<std::string>().c_str(),
              j["changeset"]["id"].get<std::string>().c_str());
  if (!j["projectExtents"].is_null()) std::printf("extents %s\n", j["projectExtents"].dump().c_str());
  std::printf("ecef    %s\n", j["ecefLocation"].dump().c_str());
  for (const auto& e : j["elements"])
    std::printf("%-10s %-32s model %-6s category %-6s %s %s\n", e["id"].get<std::string>().c_str(),
                e["classFullName"].get<std::string>().c_str(), e["model"].get<std::string>().c_str(),
                e["category"].get<std::string>().c_str(), e["range"].dump().c_str(),
                e.contains("ops") ? e["ops"].dump().c_str() : e.value("geometryError", "").c_str());
  std::printf("%s\n", j["summary"].dump().c_str());
  return 0;
}

int serveHelp() {
  std::printf("meshexport serve: the Mesh Export REST API. Each key can be set in the JSON config file\n"
              "(--config FILE), in the environment or as a flag; flags win, then the environment.\n\n");
  for (const auto& k : service::configKeys())
    std::printf("  %-24s %-38s %s\n      %s\n", k.name.c_str(), k.env.c_str(), k.flag.c_str(), k.description.c_str());
  return 0;
}

int serve(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") return serveHelp();
  service::ServiceConfig config;
  core::Status s = service::loadConfigEnvironment(config);
  if (s) s = service::loadConfigFlags(config, args);
  if (!s) return usage(s.message());
  // SIGINT/SIGTERM are taken by this thread with sigwait; every thread started later inherits
  // the mask (tiler children get an empty one).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  auto svc = service::Service::create(config);
  if (!svc) {
    spdlog::error("{}", svc.status().toString());
    return exitCode(svc.status().code());
  }
  if (auto st = (*svc)->start(); !st) {
    spdlog::error("{}", st.toString());
    return 1;
  }
  if ((*svc)->config().devTokens.empty() && (*svc)->config().jwksFile.empty())
    spdlog::warn("no devToken and no jwksFile configured: every API call will get 401");
  // The public URL, and the address bound where they differ (a proxy or a path prefix in front).
  const std::string bound = (*svc)->boundUrl();
  if (bound == (*svc)->baseUrl())
    std::printf("listening on %s\n", bound.c_str());
  else
    std::printf("listening on %s (bound to %s)\n", (*svc)->baseUrl().c_str(), bound.c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("{} received: stopping (running exports get {} s)", sig == SIGINT ? "SIGINT" : "SIGTERM",
               (*svc)->config().shutdownGraceSeconds);
  (*svc)->stop();
  return 0;
}

int imodels(const std::vector<std::string>& args) {
  if (args.empty()) return usage("imodels needs add or list");
  std::filesystem::path dataDir = "meshexport-data";
  if (const char* env = std::getenv("MESHEXPORT_DATA_DIR"); env && *env) dataDir = env;
  std::vector<std::string> files;
  std::string iTwinId;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--data-dir") {
      if (i + 1 >= args.size()) return usage("--data-dir needs a folder");
      dataDir = args[++i];
    } else if (args[i] == "--itwin-id") {
      if (i + 1 >= args.size() || !service::normalizeITwinId(args[i + 1]))
        return usage("--itwin-id needs an id (letters, digits and '-', at most 64)");
      iTwinId = args[++i];
    } else if (!args[i].empty() && args[i][0] == '-')
      return usage("unknown option " + args[i]);
    else
      files.push_back(args[i]);
  }
  service::ImodelStore store(dataDir / "imodels");
  if (args[0] == "list") {
    for (const auto& p : store.rescan()) spdlog::warn("skipped {}", p);
    for (const auto& e : store.listAll())
      std::printf("%s  changeset %-4lld %-42s %s  (%s)\n", e.iModelId.c_str(), static_cast<long long>(e.changesetIndex),
                  e.changesetId.empty() ? "-" : e.changesetId.c_str(), e.name.c_str(), e.path.filename().c_str());
    return 0;
  }
  if (args[0] != "add") return usage("imodels needs add or list");
  if (files.empty()) return usage("imodels add needs FILE.bim");
  int rc = 0;
  for (const auto& f : files) {
    auto e = store.add(f, false, "", iTwinId);
    if (!e) {
      spdlog::error("{}: {}", f, e.status().message());
      rc = exitCode(e.status().code());
      continue;
    }
    std::printf("added %s changeset %lld \"%s\"%s%s → %s\n", e->iModelId.c_str(),
                static_cast<long long>(e->changesetIndex), e->name.c_str(), e->iTwinId.empty() ? "" : " iTwin ",
                e->iTwinId.c_str(), e->path.c_str());
  }
  return rc;
}

std::filesystem::path dataDirArgument(const std::vector<std::string>& args, size_t from, std::vector<std::string>& rest,
                                      std::string& error) {
  std::filesystem::path dataDir = "meshexport-data";
  if (const char* env = std::getenv("MESHEXPORT_DATA_DIR"); env && *env) dataDir = env;
  for (size_t i = from; i < args.size(); ++i) {
    if (args[i] == "--data-dir") {
      if (i + 1 >= args.size())
        error = "--data-dir needs a folder";
      else
        dataDir = args[++i];
    } else if (!args[i].empty() && args[i][0] == '-')
      error = "unknown option " + args[i];
    else
      rest.push_back(args[i]);
  }
  return dataDir;
}

/// Logs why a store command failed; its exit code.
int failed(const core::Status& s) {
  spdlog::error("{}", s.message());
  return exitCode(s.code());
}

/// `store migrate --from sqlite:FILE --to CONNINFO`.
int migrateStore(const std::vector<std::string>& args) {
  std::string from, to;
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--from" && i + 1 < args.size())
      from = args[++i];
    else if (args[i] == "--to" && i + 1 < args.size())
      to = args[++i];
    else
      return usage("unexpected argument " + args[i]);
  }
  if (from.rfind("sqlite:", 0) != 0 || to.empty())
    return usage("store migrate needs --from sqlite:FILE and --to a PostgreSQL connection string");
  const std::filesystem::path file = from.substr(7);
  // The source's data folder is locked: never beside a running service.
  auto lock = service::lockDataDir(file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path());
  if (!lock) return failed(lock.status());
  auto source = service::SqliteJobStore::open(file, service::SqliteJobStore::Create::Never);
  if (!source) return failed(source.status());
  auto target = service::PostgresJobStore::open(to);
  if (!target) return failed(target.status());
  auto report = service::copyStore(**source, **target);
  if (!report) return failed(report.status());
  for (const auto& id : report->conflicts)
    std::printf("conflict %s: the target holds another export with this id (left as it is)\n", id.c_str());
  std::printf("copied %lld, already there %lld, conflicts %zu\n", static_cast<long long>(report->copied),
              static_cast<long long>(report->present), report->conflicts.size());
  return report->conflicts.empty() ? 0 : 8;
}

int store(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "migrate") return migrateStore(args);
  if (args.empty() || (args[0] != "check" && args[0] != "recover"))
    return usage("store needs check, recover or migrate");
  std::vector<std::string> rest;
  std::string error;
  const service::DataDir dir{dataDirArgument(args, 1, rest, error)};
  if (!error.empty()) return usage(error);
  if (!rest.empty()) return usage("unexpected argument " + rest[0]);
  if (!std::filesystem::is_directory(dir.root)) {
    spdlog::error("{} is not a data folder", dir.root.string());
    return 2;
  }
  // The data folder's lock: never beside a running service.
  auto lock = service::lockDataDir(dir.root);
  if (!lock) return failed(lock.status());
  if (args[0] == "check") {
    const auto report = service::checkStore(dir);
    std::printf("store   %s\n", report.store ? "ok" : report.store.message().c_str());
    std::printf("rows    %lld\n", static_cast<long long>(report.rows));
    for (const auto& p : report.problems) std::printf("problem %s\n", p.c_str());
    std::printf("%s\n", report.ok()
                            ? "consistent"
                            : "NOT consistent: `meshexport store recover` rebuilds the store from the manifests");
    return report.ok() ? 0 : 8;
  }
  auto report = service::recoverStore(dir);
  if (!report) return failed(report.status());
  for (const auto& n : report->notes) std::printf("%s\n", n.c_str());
  std::printf("rows kept %lld, restored from manifests %lld\n", static_cast<long long>(report->rowsKept),
              static_cast<long long>(report->rowsRestored));
  return 0;
}

int tilerKeys() {
  for (const auto& k : engine::tilerConfigKeys())
    std::printf("%-20s %-8s default %-8s %s\n    %s\n", std::string(k.name).c_str(), std::string(k.type).c_str(),
                std::string(k.defaultValue).c_str(), std::string(k.allowed).c_str(),
                std::string(k.description).c_str());
  return 0;
}

int backends() {
  for (const auto& name : engine::compiledBackends()) {
    auto b = engine::createBackend(name);
    if (b->isAvailable())
      std::printf("%-11s available    %s\n", name.c_str(), b->deviceName().c_str());
    else
      std::printf("%-11s unavailable  %s\n", name.c_str(), b->unavailableReason().c_str());
  }
  std::printf("SIMD targets here: %s\n", cpu::simdTargetList().c_str());
  return 0;
}

} // namespace

int runCli(int argc, const char* const* argv) {
  static auto logger = [] {
    auto l = spdlog::stderr_color_mt("meshexport");
    l->set_pattern("%^[%H:%M:%S.%e %l]%$ %v");
    spdlog::set_default_logger(l);
    return l;
  }();
  (void)logger;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage("no command");
  const std::string cmd = args[0];
  args.erase(args.begin());
  try {
    if (cmd == "tile") return tile(args);
    if (cmd == "inspect") return inspect(args);
    if (cmd == "serve") return serve(args);
    if (cmd == "imodels") return imodels(args);
    if (cmd == "store") return store(args);
    if (cmd == "config-keys") return tilerKeys();
    if (cmd == "backends") return backends();
    if (cmd == "--version" || cmd == "version") {
      std::printf("meshexport %s\n", MESHEXPORT_VERSION);
      return 0;
    }
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::printf("%s", kUsage);
      return 0;
    }
  } catch (const std::exception& e) {
    // Library code returns Status; this is the last line of defence (e.g. std::bad_alloc).
    spdlog::error("internal error: {}", e.what());
    return 1;
  }
  return usage("unknown command " + cmd);
}

} // namespace mx::service
