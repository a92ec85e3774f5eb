#include <mx/service/ImodelStore.h>

#include <mx/io/ImodelReader.h>

#include <chrono>

namespace mx::service {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Status;

namespace {
int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

core::Result<ImodelEntry> describe(const fs::path& file) {
  auto f = io::ImodelFile::open(file);
  if (!f) return f.status();
  const auto& facts = f->facts();
  ImodelEntry e;
  e.iModelId = facts.iModelId;
  e.name = facts.name.empty() ? file.stem().string() : facts.name;
  e.changesetId = facts.changesetId;
  e.changesetIndex = facts.changesetIndex;
  e.path = file;
  std::error_code ec;
  e.size = fs::file_size(file, ec);
  return e;
}
} // namespace

ImodelStore::ImodelStore(fs::path dir) : _dir(std::move(dir)) {}

std::vector<std::string> ImodelStore::rescan() {
  std::lock_guard lock(_mutex);
  return rescanLocked();
}

std::vector<std::string> ImodelStore::rescanLocked() {
  std::vector<std::string> problems;
  _lastScanMs = nowMs();
  std::error_code ec;
  fs::create_directories(_dir, ec);
  std::map<fs::path, Cached> next;
  for (fs::directory_iterator it(_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    if (p.extension() != ".bim" || !it->is_regular_file(ec)) continue;
    const auto mtime = it->last_write_time(ec);
    const uint64_t size = it->file_size(ec);
    auto old = _files.find(p);
    if (old != _files.end() && old->second.mtime == mtime && old->second.size == size) {
      next.emplace(p, old->second);
      continue;
    }
    Cached c{mtime, size, std::nullopt};
    auto d = describe(p);
    if (d) c.entry = std::move(*d);
    else problems.push_back(p.filename().string() + ": " + d.status().message());
    next.emplace(p, std::move(c));
  }
  _files = std::move(next);
  return problems;
}

std::optional<ImodelEntry> ImodelStore::findLocked(const std::string& iModelId, const std::string& changesetId) const {
  std::optional<ImodelEntry> best;
  for (const auto& [path, c] : _files) {
    if (!c.entry || c.entry->iModelId != iModelId) continue;
    if (!changesetId.empty()) {
      if (c.entry->changesetId == changesetId) return c.entry;
      continue;
    }
    if (!best || c.entry->changesetIndex > best->changesetIndex) best = c.entry;
  }
  return best;
}

std::optional<ImodelEntry> ImodelStore::find(const std::string& iModelId, const std::string& changesetId) {
  std::lock_guard lock(_mutex);
  auto e = findLocked(iModelId, changesetId);
  if (e && changesetId.empty()) {
    // "Latest" must see a newer changeset dropped into the folder since the last scan.
    if (nowMs() - _lastScanMs > 1000) {
      rescanLocked();
      e = findLocked(iModelId, changesetId);
    }
    return e;
  }
  if (!e && nowMs() - _lastScanMs > 1000) {
    rescanLocked();
    e = findLocked(iModelId, changesetId);
  }
  return e;
}

bool ImodelStore::knows(const std::string& iModelId) { return find(iModelId, "").has_value(); }

std::vector<ImodelEntry> ImodelStore::list() {
  std::lock_guard lock(_mutex);
  rescanLocked();
  std::vector<ImodelEntry> out;
  for (const auto& [p, c] : _files)
    if (c.entry) out.push_back(*c.entry);
  return out;
}

core::Result<ImodelEntry> ImodelStore::add(const fs::path& file, bool move) {
  MX_ASSIGN_OR_RETURN(ImodelEntry e, describe(file));
  std::lock_guard lock(_mutex);
  std::error_code ec;
  fs::create_directories(_dir, ec);
  const fs::path target = _dir / (e.iModelId + "@" + std::to_string(e.changesetIndex) + ".bim");
  const fs::path temp = _dir / (".add-" + e.iModelId + ".tmp");
  if (move) fs::rename(file, temp, ec);
  if (!move || ec) {
    ec.clear();
    fs::copy_file(file, temp, fs::copy_options::overwrite_existing, ec);
  }
  if (ec) return Status{ErrorCode::IoError, "cannot store " + file.string() + ": " + ec.message()};
  fs::rename(temp, target, ec);
  if (ec) {
    fs::remove(temp, ec);
    return Status{ErrorCode::IoError, "cannot store " + target.string() + ": " + ec.message()};
  }
  if (move) fs::remove(file, ec);
  e.path = target;
  rescanLocked();
  return e;
}

} // namespace mx::service
