#pragma once
// What a store shared by a fleet adds to the JobStore contract (PostgresJobStore implements it):
// workers on any host claim NotStarted exports under a lease, renew it while their tiler runs and
// finish only what they still hold; an expired lease puts the export back in the queue, or makes
// it Invalid once it was tried maxAttempts times. Nodes report their slots in a heartbeat, which
// is how a CPU slot knows that a GPU slot somewhere is free for an `auto` export.
#include <mx/core/Result.h>
#include <mx/service/JobStore.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mx::service {

/// What a tiler slot runs: a GPU slot any export (device=cuda ones only here); a CPU slot those
/// that ask device=cpu, and `auto` ones while no live GPU slot of the fleet is free.
enum class SlotKind { Gpu, Cpu };

/// The device an export's tilerConfig asks for: "cuda", "cpu" or "auto".
std::string requestedDevice(const std::string& tilerConfig);

struct Claim {
  ExportRecord record; ///< As claimed: InProgress.
  int64_t attempt = 1; ///< 1 for its first run.
};

/// One node's heartbeat row.
struct NodeState {
  std::string name, role;
  std::string gpus; ///< The GPU indices its slots use, "0,2"; "" none.
  int64_t gpuSlots = 0, cpuSlots = 0, gpuBusy = 0, cpuBusy = 0;
  int64_t heartbeatMs = 0;
};

/// An export whose lease ran out (expireLeases).
struct ExpiredLease {
  std::string id, owner;
  ExportStatus status = ExportStatus::NotStarted; ///< NotStarted again, or Invalid after maxAttempts.
  int64_t attempts = 0;
};

class JobLeases {
public:
  virtual ~JobLeases() = default;
  /// The oldest NotStarted export this slot may run, now InProgress under `owner`'s lease of
  /// `leaseMs`; nullopt when none. Concurrent claims never return the same export.
  virtual core::Result<std::optional<Claim>> claim(const std::string& owner, SlotKind kind, int64_t leaseMs) = 0;
  /// Extends the lease; false when `owner` no longer holds it (the export was deleted, or its
  /// lease expired and another worker took it).
  virtual core::Result<bool> renew(const std::string& id, const std::string& owner, int64_t leaseMs) = 0;
  /// Sets the final status of an export `owner` holds; false when it no longer does (nothing
  /// written). `stats` replaces the stats unless empty.
  virtual core::Result<bool> finish(const std::string& id, const std::string& owner, ExportStatus status,
                                    const std::string& error, const std::string& stats) = 0;
  /// Back to NotStarted without counting the attempt (a worker that stops).
  virtual core::Status release(const std::string& id, const std::string& owner) = 0;
  /// Exports InProgress whose lease ran out: NotStarted again, or Invalid (with a reason) once
  /// they were claimed `maxAttempts` times.
  virtual core::Result<std::vector<ExpiredLease>> expireLeases(int64_t maxAttempts) = 0;
  virtual core::Status heartbeat(const NodeState& node) = 0;
  virtual core::Status leave(const std::string& node) = 0;
  /// Nodes heard from within `aliveMs`.
  virtual std::vector<NodeState> nodes(int64_t aliveMs) = 0;
  /// NotStarted exports of the whole fleet.
  virtual int64_t queueLength() = 0;
};

} // namespace mx::service
