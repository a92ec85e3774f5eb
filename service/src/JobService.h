#pragma once
// The rules of export jobs, between the HTTP routes (Routes.h) and the store (JobStore.h):
//   create     one per request: the same subject, iModel changeset, type and tilerConfig return
//              the export already there (not Invalid); a new one gets its manifest, then its row,
//              then a place in the queue; older finished exports beyond keepPerImodel are evicted
//   list       a subject's exports; with autoGenerate, listing an iModel and type that has none
//              starts one (CesiumJS never POSTs), unless the client cannot read its iMdl major
//   delete     files into trash, then the row; a running export is cancelled, a queued one dropped
//   queue      NotStarted ids in order; the workers (ExportWorker.h) take them, report the tiler's
//              pid, and learn here whether their export was cancelled or the service is stopping
// Thread-safe: routes and workers call it concurrently.
#include "Api.h"

#include <mx/core/Result.h>
#include <mx/service/Config.h>
#include <mx/service/DataDir.h>
#include <mx/service/ImodelStore.h>
#include <mx/service/JobStore.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace mx::service {

class JobService {
public:
  JobService(const ServiceConfig& config, DataDir dir, JobStore& store, ImodelStore& imodels)
      : _config(config), _dir(std::move(dir)), _store(store), _imodels(imodels) {}

  struct Created {
    ExportRecord record;
    bool existing = false; ///< The same request's export, returned instead of a new one.
  };
  /// `subject` asks for `model` as `request` says.
  core::Result<Created> create(const std::string& subject, const ImodelEntry& model, const StartRequest& request);

  /// One page of `query.subject`'s exports (after auto-generation, when configured).
  std::vector<ExportRecord> list(const ExportQuery& query, int64_t& total);

  /// The export when `subject` may see it.
  std::optional<ExportRecord> visible(const std::string& id, const std::string& subject);
  std::optional<ExportRecord> get(const std::string& id) { return _store.get(id); }

  /// Deletes so that a row never outlives its files; on failure nothing changed.
  core::Status remove(const std::string& id);

  /// Changes an export's status in the store, then in its manifest.
  core::Status updateStatus(const std::string& id, ExportStatus status, const std::string& error = "",
                            const std::string& stats = "");

  // ---- the queue ---------------------------------------------------------------------------------
  /// Queues every NotStarted export (at start).
  void loadQueue();
  /// The next export to run, marked running; nullopt once the service stops.
  std::optional<std::string> next();
  void setPid(const std::string& id, int pid);
  [[nodiscard]] bool cancelled(const std::string& id);
  /// Stop or cancel: what a running tiler is asked.
  [[nodiscard]] bool shouldStop(const std::string& id) { return _abandon.load() || cancelled(id); }
  /// The run of `id` ended; true when it was cancelled (its files are then removed).
  bool finishRun(const std::string& id);
  [[nodiscard]] size_t queued();
  [[nodiscard]] size_t active();
  [[nodiscard]] std::vector<int> runningPids();
  /// No new work; waits up to `grace` for running exports, then asks them to stop.
  void stop(std::chrono::seconds grace);

private:
  void enqueue(const std::string& id);
  void removeFiles(const std::string& id);
  void applyRetention(const ExportRecord& r);
  core::Result<ExportRecord> insert(const std::string& subject, const ImodelEntry& model, const std::string& type,
                                    const std::string& typeClass, const std::string& cfg);
  void autoGenerate(const ExportQuery& q);

  const ServiceConfig& _config;
  DataDir _dir;
  JobStore& _store;
  ImodelStore& _imodels;
  std::mutex _mutex;
  std::mutex _autoMutex; ///< Two pollers must not start two exports.
  std::condition_variable _cv;
  std::deque<std::string> _queue;
  std::map<std::string, int> _running; ///< export id → tiler pid (0 while starting)
  std::set<std::string> _cancelled;    ///< DELETEd while running
  bool _stopping = false;              ///< No new work.
  std::atomic<bool> _abandon{false};   ///< Kill running tilers (they are queued again at the next start).
};

} // namespace mx::service
