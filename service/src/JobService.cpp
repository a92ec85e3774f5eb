#include "JobService.h"

#include <mx/io/ImdlWriter.h>
#include <mx/service/Auth.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

namespace mx::service {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Status;

namespace {

std::string newUuid() {
  std::string h = randomHex(16);
  h[12] = '4';                                                 // version 4
  h[16] = "89ab"[std::stoi(h.substr(16, 1), nullptr, 16) & 3]; // variant 10xx
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

} // namespace

core::Result<JobService::Created> JobService::create(const std::string& subject, const ImodelEntry& model,
                                                     const StartRequest& request) {
  const std::string cfg = request.tilerConfig ? request.tilerConfig->dump() : std::string();
  if (auto same = _store.findSame(subject, model.iModelId, model.changesetId, request.typeClass, &cfg))
    return Created{*same, true};
  MX_ASSIGN_OR_RETURN(ExportRecord r, insert(subject, model, request.exportType, request.typeClass, cfg));
  return Created{std::move(r), false};
}

core::Result<ExportRecord> JobService::insert(const std::string& subject, const ImodelEntry& model,
                                              const std::string& type, const std::string& typeClass,
                                              const std::string& cfg) {
  ExportRecord r;
  r.id = newUuid();
  r.subject = subject;
  r.iModelId = model.iModelId;
  r.changesetId = model.changesetId;
  r.changesetIndex = model.changesetIndex;
  r.exportType = type;
  r.typeClass = typeClass;
  r.tilerConfig = cfg;
  r.displayName = model.name;
  r.imodelPath = model.path.string();
  r.tileMajor = typeClass == "IMODEL" ? int64_t(io::kImdlMajor) : 0;
  r.createdMs = r.modifiedMs = JobStore::nowMs();
  // The manifest first, then the row: a row never exists that a recovery could not rebuild.
  std::error_code ec;
  fs::create_directories(_dir.jobs() / r.id, ec);
  if (ec) return Status{ErrorCode::IoError, "cannot make the job folder of " + r.id + ": " + ec.message()};
  Status s = writeManifest(_dir, r);
  if (s) s = _store.insert(r);
  if (!s) {
    fs::remove_all(_dir.jobs() / r.id, ec);
    return s;
  }
  spdlog::info("export {} NotStarted: {} changeset {} → {} for {}", r.id, r.iModelId, r.changesetIndex, type, subject);
  enqueue(r.id);
  applyRetention(r);
  return r;
}

void JobService::autoGenerate(const ExportQuery& q) {
  // frontend-tiles sends its newest readable iMdl major: never start an IMODEL export it cannot read.
  const bool readable = q.typeClass != "IMODEL" || q.maxTileMajor < 0 || int64_t(io::kImdlMajor) <= q.maxTileMajor;
  if (!_config.autoGenerate || !readable || q.iModelId.empty() || q.typeClass.empty()) return;
  auto model = _imodels.find(q.iModelId, q.changesetId, ImodelStore::ownerKey(q.subject));
  if (!model || _store.findSame(q.subject, model->iModelId, model->changesetId, q.typeClass, nullptr)) return;
  std::lock_guard lock(_autoMutex);
  if (_store.findSame(q.subject, model->iModelId, model->changesetId, q.typeClass, nullptr)) return;
  auto created = insert(q.subject, *model, q.typeClass, q.typeClass, "");
  if (!created) spdlog::error("auto-generation failed: {}", created.status().message());
}

std::vector<ExportRecord> JobService::list(const ExportQuery& query, int64_t& total) {
  // CesiumJS never starts an export: listing an iModel and type is how one appears.
  autoGenerate(query);
  return _store.list(query, total);
}

std::optional<ExportRecord> JobService::visible(const std::string& id, const std::string& subject) {
  auto r = _store.get(id);
  if (!r || r->subject != subject) return std::nullopt;
  return r;
}

Status JobService::updateStatus(const std::string& id, ExportStatus status, const std::string& error,
                                const std::string& stats) {
  Status s = _store.setStatus(id, status, error, stats);
  if (!s) {
    spdlog::error("export {}: cannot record status {}: {}", id, toString(status), s.message());
    return s;
  }
  if (auto r = _store.get(id)) {
    std::error_code ec;
    // A manifest that cannot be written is logged: the store stays the truth while it is sound.
    if (fs::is_directory(_dir.jobs() / id, ec))
      if (Status m = writeManifest(_dir, *r); !m) spdlog::warn("export {}: manifest not updated: {}", id, m.message());
  }
  return s;
}

/// The files are first moved into DATA/trash (a rename needs no space), then the row is removed.
/// When that fails the files are put back and the error returned: nothing changed. Once the row is
/// gone, a running export is cancelled, a queued one dropped, and the trash emptied (a restart
/// finishes what is left).
Status JobService::remove(const std::string& id) {
  MX_ASSIGN_OR_RETURN(TrashedExport trashed, moveToTrash(_dir, id));
  if (Status s = _store.remove(id); !s) {
    trashed.restore();
    return s;
  }
  {
    std::lock_guard lock(_mutex);
    if (_running.count(id)) _cancelled.insert(id);
    _queue.erase(std::remove(_queue.begin(), _queue.end(), id), _queue.end());
  }
  if (Status s = trashed.empty(); !s)
    spdlog::warn("export {} deleted; {} (finished at the next start)", id, s.message());
  return Status::ok();
}

void JobService::applyRetention(const ExportRecord& r) {
  auto history = _store.history(r.subject, r.iModelId, r.typeClass);
  for (size_t i = size_t(_config.keepPerImodel); i < history.size(); ++i) {
    const auto& old = history[i];
    if (old.status != ExportStatus::Complete && old.status != ExportStatus::Invalid) continue;
    if (Status s = remove(old.id); !s)
      spdlog::warn("export {} not evicted: {}", old.id, s.message());
    else
      spdlog::info("export {} evicted (keepPerImodel={})", old.id, _config.keepPerImodel);
  }
}

void JobService::removeFiles(const std::string& id) {
  std::error_code ec;
  fs::remove_all(_dir.exports() / id, ec);
  fs::remove_all(_dir.jobs() / id, ec);
}

// ---- the queue -------------------------------------------------------------------------------------

void JobService::enqueue(const std::string& id) {
  {
    std::lock_guard lock(_mutex);
    _queue.push_back(id);
  }
  _cv.notify_one();
}

void JobService::loadQueue() {
  for (const auto& id : _store.idsWithStatus(ExportStatus::NotStarted)) enqueue(id);
}

std::optional<std::string> JobService::next() {
  std::unique_lock lock(_mutex);
  _cv.wait(lock, [&] { return _stopping || !_queue.empty(); });
  if (_stopping) return std::nullopt;
  std::string id = _queue.front();
  _queue.pop_front();
  _running[id] = 0;
  return id;
}

void JobService::setPid(const std::string& id, int pid) {
  std::lock_guard lock(_mutex);
  _running[id] = pid;
}

bool JobService::cancelled(const std::string& id) {
  std::lock_guard lock(_mutex);
  return _cancelled.count(id) > 0;
}

bool JobService::finishRun(const std::string& id) {
  std::lock_guard lock(_mutex);
  _running.erase(id);
  if (!_cancelled.erase(id)) return false;
  removeFiles(id);
  return true;
}

size_t JobService::queued() {
  std::lock_guard lock(_mutex);
  return _queue.size();
}

size_t JobService::active() {
  std::lock_guard lock(_mutex);
  return _running.size();
}

std::vector<int> JobService::runningPids() {
  std::lock_guard lock(_mutex);
  std::vector<int> out;
  for (const auto& [id, pid] : _running)
    if (pid > 0) out.push_back(pid);
  return out;
}

void JobService::stop(std::chrono::seconds grace) {
  {
    std::lock_guard lock(_mutex);
    _stopping = true;
    _queue.clear();
  }
  _cv.notify_all();
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline && active() > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  _abandon = true;
}

} // namespace mx::service
