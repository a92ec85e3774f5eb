#pragma once
// The service's configuration: defaults < config file (JSON) < environment (MESHEXPORT_*) < flags.
// Every key has one name used in all three places: JSON "linkLifetimeSeconds", environment
// MESHEXPORT_LINK_LIFETIME_SECONDS, flag --link-lifetime-seconds.
#include <mx/core/Result.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mx::service {

struct DevToken {
  std::string token;
  std::string subject;
};

struct ServiceConfig {
  std::string host = "127.0.0.1";
  int port = 8080; ///< 0 = any free port (tests).
  std::filesystem::path dataDir = "meshexport-data";
  std::string publicUrl;     ///< Base of links; default http://HOST:PORT.
  std::string cdnUrl;        ///< Base used for mesh links when a client asks cdn=1.
  std::string signingSecret; ///< HMAC key of mesh links; default: DATA/signing.key.
  int64_t linkLifetimeSeconds = 3600;

  // Authentication: JWTs checked against a JWKS file, and/or static development tokens.
  std::filesystem::path jwksFile;
  std::string issuer;   ///< Required "iss" when set.
  std::string audience; ///< Required in "aud" when set.
  int64_t leewaySeconds = 60;
  std::vector<DevToken> devTokens;

  double rateLimitPerSecond = 50; ///< Token refill per subject; 0 = no limit.
  double rateLimitBurst = 200;

  /// The job store: "sqlite:PATH" (default: sqlite:DATA/jobs.db, one node) or a PostgreSQL
  /// connection string ("postgresql://…", "postgres://…" or libpq key=value): a fleet.
  std::string store;
  std::string role = "all";  ///< api (HTTP only), worker (tilers; /healthz and /metrics), all.
  std::string gpus = "all";  ///< GPU slots: "all" found, "none", or indices "0,2".
  int cpuSlots = -1;         ///< CPU-only tiler slots; -1 = `workers`.
  int64_t leaseSeconds = 30; ///< A claimed export's lease (renewed every second while it runs).
  int maxAttempts = 3;       ///< Claims of one export before a lost lease makes it Invalid.
  std::string nodeName;      ///< This node in the fleet (default HOSTNAME:PID).

  int workers = 2;                      ///< CPU tiler slots when cpuSlots is not set (one node: exports at once).
  int httpThreads = 64;                 ///< Workers answering requests (idle connections hold none).
  int64_t maxHeaderBytes = 16384;       ///< Request line + headers; 431 beyond.
  double headerTimeoutSeconds = 10;     ///< A request's headers must arrive whole within this; 408.
  double keepAliveTimeoutSeconds = 15;  ///< Idle keep-alive connections are closed after this.
  int keepAliveMaxRequests = 1000;      ///< Requests per connection.
  int maxConnections = 4096;            ///< Open connections in all; 503 beyond.
  int maxConnectionsPerIp = 256;        ///< Open connections per client address; 503 beyond.
  double readTimeoutSeconds = 10;       ///< Each read of a request body.
  int64_t minBodyBytesPerSecond = 1024; ///< Slower bodies are dropped once readTimeout has passed.
  std::filesystem::path tilerPath;      ///< Default: this executable.
  int64_t exportTimeoutSeconds = 3600;
  int64_t exportMemoryBytes = 0; ///< Peak RSS of a tiler child; 0 = 3/4 of physical memory.
  /// Default tilerConfig memoryBudgetMB of exports (a request's own value wins); -1 = what
  /// exportMemoryBytes leaves after the out-of-core overhead (64 MiB), 0 = none (always in core).
  int64_t memoryBudgetMB = -1;
  bool autoGenerate = true;          ///< A list with iModelId + exportType starts a missing export.
  int keepPerImodel = 5;             ///< Newest auto-generated exports kept per subject, iModel and type.
  bool evictExplicitExports = false; ///< keepPerImodel also evicts exports started by a request.
  int64_t maxRequestBytes = 1 << 20; ///< JSON bodies.
  int64_t maxUploadBytes = int64_t(1) << 30;
  std::string imodelUploadScope = "subject"; ///< "subject": uploads belong to their uploader; "shared": to everyone.
  int64_t shutdownGraceSeconds = 10;         ///< Running exports get this long to finish, then re-queue.
  /// The web viewer's built files, served at /viewer/ (scripts/build-viewer.sh writes them);
  /// default: viewer/dist of the source tree this binary was built from.
  std::filesystem::path viewerDir;
};

/// What `keys()` documents (README, --help).
struct ConfigKeyDoc {
  std::string name, env, flag, description;
};
std::vector<ConfigKeyDoc> configKeys();

/// Sets one key from its text form ("port", "8080"); errors name the key.
core::Status setConfigValue(ServiceConfig& config, std::string_view key, std::string_view value);
/// Applies a JSON config file (an object of keys; devTokens is [{token, subject}]).
core::Status loadConfigFile(ServiceConfig& config, const std::filesystem::path& file);
/// Applies MESHEXPORT_* variables from the environment (MESHEXPORT_DEV_TOKEN adds subject "dev").
core::Status loadConfigEnvironment(ServiceConfig& config);
/// Applies `--kebab-key value` flags; `--config FILE` is read first wherever it appears.
core::Status loadConfigFlags(ServiceConfig& config, const std::vector<std::string>& args);
/// Whether `store` names a PostgreSQL store (the fleet) rather than SQLite.
bool isPostgresStore(const std::string& store);

/// Fills what depends on other keys (publicUrl, tilerPath, memory limit, store, node name,
/// slots) and checks ranges and combinations (roles api and worker need a PostgreSQL store).
core::Status finalizeConfig(ServiceConfig& config);

} // namespace mx::service
