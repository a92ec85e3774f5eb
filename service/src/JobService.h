#pragma once
// The rules of export jobs, between the HTTP routes (Routes.h) and the store (JobStore.h):
//   create     one per request: the same subject, iModel changeset, type and tilerConfig return
//              the export already there (not Invalid); a new one gets its manifest, then its row,
//              then a place in the queue; older finished exports beyond keepPerImodel are evicted,
//              of those the service auto-generated only (evictExplicitExports: of every one)
//   list       a subject's exports; with autoGenerate, listing an iModel and type that has none
//              starts one (CesiumJS never POSTs), unless the client cannot read its iMdl major
//   delete     files into trash, then the row; a running export is cancelled, a queued one dropped
//   queue      one node (SQLite): NotStarted ids in order, in memory; a fleet (PostgreSQL,
//              JobLeases.h): claims from the shared store under a lease, renewed while the tiler
//              runs. Either way the workers (ExportWorker.h) take exports for their slot (a GPU
//              slot anything but device=cpu; a CPU slot device=cpu, and `auto` while no GPU slot
//              is free), report the tiler's pid, and learn here whether their export was
//              cancelled (a DELETE on any node), lost (its lease taken) or the service is stopping
// Thread-safe: routes and workers call it concurrently.
#include "Api.h"

#include <mx/core/Result.h>
#include <mx/service/Config.h>
#include <mx/service/DataDir.h>
#include <mx/service/ImodelStore.h>
#include <mx/service/JobLeases.h>
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

/// A tiler slot of this node: one per GPU it uses, and the CPU-only ones.
struct Slot {
  SlotKind kind = SlotKind::Cpu;
  int gpu = -1;   ///< The GPU index (CUDA_VISIBLE_DEVICES of its tilers); -1 for a CPU slot.
  int number = 0; ///< Among the slots of its kind.
  [[nodiscard]] std::string name() const {
    return kind == SlotKind::Gpu ? "gpu" + std::to_string(gpu) : "cpu" + std::to_string(number);
  }
};

/// An export a slot runs.
struct Job {
  std::string id;
  std::string owner;   ///< The lease holder, NODE/SLOT.
  int64_t attempt = 1; ///< Runs so far, this one included.
  Slot slot;
};

class JobService {
public:
  /// `leases` is the shared store's fleet side (nullptr: one node, an in-memory queue).
  JobService(const ServiceConfig& config, DataDir dir, JobStore& store, ImodelStore& imodels,
             JobLeases* leases = nullptr)
      : _config(config), _dir(std::move(dir)), _store(store), _imodels(imodels), _leases(leases) {}

  [[nodiscard]] bool fleet() const { return _leases != nullptr; }
  /// This node's GPU slots. One node without any runs device=cuda exports on a CPU slot as
  /// asked, so that the tiler's own error reaches the export; a fleet keeps them queued for a
  /// GPU worker.
  void setGpuSlots(int n) { _gpuSlots = n; }

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
  /// Queues every NotStarted export (at start; one node).
  void loadQueue();
  /// The next export `slot` may run, marked InProgress; nullopt once the service stops.
  std::optional<Job> next(const Slot& slot);
  void setPid(const std::string& id, int pid);
  /// DELETEd (on any node) while it runs here.
  [[nodiscard]] bool cancelled(const std::string& id);
  /// Its lease went to another worker (a fleet): this run's result is not wanted.
  [[nodiscard]] bool lost(const std::string& id);
  /// What a running tiler is asked every few ms: stop, cancel, or a lease that cannot be
  /// renewed (renewed here about once a second).
  [[nodiscard]] bool shouldStop(const Job& job);
  /// Records the end of a run: Complete or Invalid (false when the lease was lost meanwhile and
  /// nothing was written), then the manifest.
  bool finish(const Job& job, ExportStatus status, const std::string& error = "", const std::string& stats = "");
  /// The service stops under a run: the export goes back to the queue (not counted as a try).
  void requeue(const Job& job);
  /// The run of `id` ended; true when it was cancelled (its files are then removed).
  bool finishRun(const std::string& id);
  /// NotStarted exports: this node's queue, or the whole fleet's.
  [[nodiscard]] int64_t queued();
  [[nodiscard]] size_t active();
  /// Running exports per slot kind (heartbeats, /healthz).
  [[nodiscard]] size_t busy(SlotKind kind);
  [[nodiscard]] std::vector<int> runningPids();
  /// What each slot runs now ("" idle), by slot name.
  [[nodiscard]] std::map<std::string, std::string> slotsBusy();
  /// No new work; waits up to `grace` for running exports, then asks them to stop.
  void stop(std::chrono::seconds grace);
  /// Exports removed by retention since the start (/metrics).
  [[nodiscard]] uint64_t evictions() const { return _evictions.load(); }
  /// Exports this node put back in the queue, or made Invalid, after a lease expired.
  [[nodiscard]] uint64_t leasesExpired() const { return _leasesExpired.load(); }

private:
  struct Running {
    int pid = 0;
    Slot slot;
    std::chrono::steady_clock::time_point renewed;
  };
  void enqueue(const std::string& id, const std::string& device);
  /// A slot's pick from the in-memory queue (under _mutex); -1 when none fits.
  long pickLocal(const Slot& slot) const;
  std::optional<Job> claimShared(const Slot& slot);
  void expireLeases();
  void removeFiles(const std::string& id);
  void applyRetention(const ExportRecord& r);
  /// A new export, unless the store already holds the same request (`sameConfig`: its
  /// tilerConfig too; nullptr: any), which is returned instead.
  core::Result<Created> insert(const std::string& subject, const ImodelEntry& model, const std::string& type,
                               const std::string& typeClass, const std::string& cfg, bool autoGenerated,
                               const std::string* sameConfig);
  void autoGenerate(const ExportQuery& q);

  const ServiceConfig& _config;
  DataDir _dir;
  JobStore& _store;
  ImodelStore& _imodels;
  JobLeases* _leases;
  std::mutex _mutex;
  std::mutex _autoMutex; ///< Two pollers must not start two exports.
  std::condition_variable _cv;
  std::deque<std::pair<std::string, std::string>> _queue; ///< (id, requested device), one node
  std::map<std::string, Running> _running;                ///< export id → its run here
  std::set<std::string> _cancelled;                       ///< DELETEd while running
  std::set<std::string> _lost;                            ///< lease taken by another worker
  int _idleGpuSlots = 0;                                  ///< GPU slots waiting in next()
  int _gpuSlots = 0;
  int64_t _lastSweepMs = 0;
  bool _stopping = false;            ///< No new work.
  std::atomic<bool> _abandon{false}; ///< Kill running tilers (they are queued again at the next start).
  std::atomic<uint64_t> _evictions{0};
  std::atomic<uint64_t> _leasesExpired{0};
};

} // namespace mx::service
