#pragma once
// `meshexport serve`: the iTwin Mesh Export REST API (../shared/docs/mesh-export-api.md,
// docs/service.md) on cpp-httplib, with a SQLite job store, a pool of workers that run
// `meshexport tile` as child processes, and signed links that serve the tiles.
#include <mx/core/Result.h>
#include <mx/service/Config.h>

#include <memory>
#include <string>
#include <vector>

namespace mx::service {

class Service {
public:
  /// Prepares the data folder (imodels/, exports/, jobs.db, signing.key), re-queues exports a
  /// previous run left InProgress, and finds the iModels. Nothing listens yet.
  static core::Result<std::unique_ptr<Service>> create(ServiceConfig config);
  ~Service();

  /// Binds the port (port 0 = any free one) and starts the HTTP and worker threads.
  core::Status start();
  /// Graceful stop: no new requests; running exports get shutdownGraceSeconds to finish, then
  /// are killed and left NotStarted for the next start. Idempotent.
  void stop();

  [[nodiscard]] int port() const;
  [[nodiscard]] std::string baseUrl() const; ///< The public URL (links are built on it).
  /// http://HOST:PORT as bound (0.0.0.0 as 127.0.0.1): the public URL unless publicUrl is set.
  [[nodiscard]] std::string boundUrl() const;
  [[nodiscard]] const ServiceConfig& config() const;
  /// Process ids of the tiler children now running (operators, tests).
  [[nodiscard]] std::vector<int> runningTilers() const;

private:
  Service();
  struct Impl;
  std::unique_ptr<Impl> _impl;
};

} // namespace mx::service
