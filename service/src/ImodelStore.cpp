#include <mx/service/ImodelStore.h>

#include <mx/io/ImodelReader.h>
#include <mx/io/Sqlite.h>
#include <mx/service/DataDir.h>

#include <openssl/sha.h>

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>

namespace mx::service {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Status;

namespace {
int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// SQLite's quick_check over every page: a truncated or damaged file fails here, where opening
/// it (which reads a few pages) would not.
Status soundSqlite(const fs::path& file) {
  auto db = io::sqlite::Db::openReadOnlyImmutable(file.string());
  if (!db) return Status{ErrorCode::MalformedInput, "not a readable SQLite file"};
  auto check = db->prepare("PRAGMA quick_check(5)");
  if (!check) return Status{ErrorCode::MalformedInput, "not a readable SQLite file (" + check.status().message() + ")"};
  std::string problems;
  while (true) {
    const auto r = check->step();
    if (r == io::sqlite::StepResult::Done) break;
    if (r == io::sqlite::StepResult::Error)
      return Status{ErrorCode::MalformedInput, "damaged (" + check->error().message() + ")"};
    const std::string line = check->getText(0);
    if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
  }
  if (!problems.empty()) return Status{ErrorCode::MalformedInput, "damaged (SQLite quick_check: " + problems + ")"};
  return Status::ok();
}

bool sameBytes(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::file_size(a, ec) != fs::file_size(b, ec) || ec) return false;
  std::ifstream x(a, std::ios::binary), y(b, std::ios::binary);
  std::vector<char> bx(1 << 16), by(1 << 16);
  while (x && y) {
    x.read(bx.data(), std::streamsize(bx.size()));
    y.read(by.data(), std::streamsize(by.size()));
    if (x.gcount() != y.gcount() || std::memcmp(bx.data(), by.data(), size_t(x.gcount())) != 0) return false;
  }
  return x.eof() && y.eof();
}

fs::path iTwinFile(const fs::path& scope, const std::string& iModelId) { return scope / (iModelId + ".itwin"); }

std::string readITwinId(const fs::path& scope, const std::string& iModelId) {
  std::ifstream in(iTwinFile(scope, iModelId));
  std::string id;
  std::getline(in, id);
  return normalizeITwinId(id).value_or("");
}

/// The iTwin of an iModel in a scope: written once (temp file, then rename), never changed.
Status recordITwin(const fs::path& scope, const std::string& iModelId, const std::string& iTwinId) {
  const std::string known = readITwinId(scope, iModelId);
  if (known == iTwinId) return Status::ok();
  if (!known.empty())
    return Status{ErrorCode::AlreadyExists,
                  "iModel " + iModelId + " is registered with iTwin " + known + ", not " + iTwinId};
  const fs::path temp = scope / (".itwin-" + iModelId + "-" + std::to_string(::getpid()) + ".tmp");
  {
    std::ofstream out(temp, std::ios::trunc);
    out << iTwinId << "\n";
    if (!out.flush()) return Status{ErrorCode::IoError, "cannot write " + temp.string()};
  }
  std::error_code ec;
  fs::rename(temp, iTwinFile(scope, iModelId), ec);
  if (ec) {
    fs::remove(temp, ec);
    return Status{ErrorCode::IoError, "cannot record the iTwin of iModel " + iModelId};
  }
  return Status::ok();
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

std::vector<std::string> ImodelStore::setCatalog(ImodelCatalog* catalog) {
  std::lock_guard lock(_mutex);
  _catalog = catalog;
  _files.clear(); // the scan records every file
  return rescanLocked();
}

std::vector<ImodelEntry> ImodelStore::catalogued(const std::string& iModelId, const std::string& owner) {
  std::vector<ImodelEntry> out;
  if (!_catalog) return out;
  std::error_code ec;
  for (auto& [e, relative] : _catalog->recordedImodels(iModelId)) {
    if (!e.owner.empty() && e.owner != owner) continue;
    e.path = _dir / relative;
    if (fs::is_regular_file(e.path, ec)) out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> ImodelStore::rescan() {
  std::lock_guard lock(_mutex);
  return rescanLocked();
}

std::string ImodelStore::ownerKey(const std::string& subject) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(subject.data()), subject.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

void ImodelStore::scanFolder(const fs::path& folder, const std::string& owner, std::map<fs::path, Cached>& next,
                             std::vector<std::string>& problems) {
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    if (p.extension() != ".bim" || !it->is_regular_file(ec)) continue;
    const auto mtime = it->last_write_time(ec);
    const uint64_t size = it->file_size(ec);
    auto old = _files.find(p);
    if (old != _files.end() && old->second.mtime == mtime && old->second.size == size) {
      Cached c = old->second;
      if (c.entry) c.entry->iTwinId = readITwinId(folder, c.entry->iModelId); // may be recorded later
      next.emplace(p, std::move(c));
      continue;
    }
    Cached c{mtime, size, std::nullopt};
    auto d = describe(p);
    if (d) {
      c.entry = std::move(*d);
      c.entry->owner = owner;
      c.entry->iTwinId = readITwinId(folder, c.entry->iModelId);
      if (_catalog)
        if (Status r = _catalog->recordImodel(*c.entry, p.lexically_relative(_dir).string()); !r)
          problems.push_back(p.filename().string() + ": not recorded in the store (" + r.message() + ")");
    } else {
      problems.push_back(p.filename().string() + ": " + d.status().message());
    }
    next.emplace(p, std::move(c));
  }
}

std::vector<std::string> ImodelStore::rescanLocked() {
  std::vector<std::string> problems;
  _lastScanMs = nowMs();
  std::error_code ec;
  fs::create_directories(_dir, ec);
  std::map<fs::path, Cached> next;
  scanFolder(_dir, "", next, problems);
  for (fs::directory_iterator it(_dir / "owners", ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) scanFolder(it->path(), it->path().filename().string(), next, problems);
  _files = std::move(next);
  return problems;
}

std::optional<ImodelEntry> ImodelStore::findLocked(const std::string& iModelId, const std::string& changesetId,
                                                   const std::string& owner) const {
  std::optional<ImodelEntry> best;
  auto better = [&](const ImodelEntry& e) {
    if (!best) return true;
    if (changesetId.empty() && e.changesetIndex != best->changesetIndex) return e.changesetIndex > best->changesetIndex;
    return !e.owner.empty() && best->owner.empty(); // the subject's own before the shared file
  };
  for (const auto& [path, c] : _files) {
    if (!c.entry || c.entry->iModelId != iModelId) continue;
    if (!c.entry->owner.empty() && c.entry->owner != owner) continue;
    if (!changesetId.empty() && c.entry->changesetId != changesetId) continue;
    if (better(*c.entry)) best = c.entry;
  }
  return best;
}

std::optional<ImodelEntry> ImodelStore::find(const std::string& iModelId, const std::string& changesetId,
                                             const std::string& owner) {
  std::lock_guard lock(_mutex);
  auto e = findLocked(iModelId, changesetId, owner);
  // "Latest" must see a newer changeset dropped into the folder since the last scan; a miss may
  // be a file added since.
  if ((!e || changesetId.empty()) && nowMs() - _lastScanMs > 1000) {
    rescanLocked();
    e = findLocked(iModelId, changesetId, owner);
  }
  // A fleet: another node may have added it a moment ago (or, for "latest", a newer changeset).
  if (_catalog && (!e || changesetId.empty()))
    for (const ImodelEntry& c : catalogued(iModelId, owner)) {
      if (!changesetId.empty() && c.changesetId != changesetId) continue;
      const bool better = !e || (changesetId.empty() && c.changesetIndex > e->changesetIndex) ||
                          (c.changesetIndex == e->changesetIndex && !c.owner.empty() && e->owner.empty());
      if (better) e = c;
    }
  return e;
}

bool ImodelStore::knows(const std::string& iModelId, const std::string& owner) {
  return find(iModelId, "", owner).has_value();
}

std::vector<ImodelEntry> ImodelStore::list(const std::string& owner) {
  std::lock_guard lock(_mutex);
  rescanLocked();
  std::vector<ImodelEntry> out;
  std::set<fs::path> seen;
  for (const auto& [p, c] : _files)
    if (c.entry && (c.entry->owner.empty() || c.entry->owner == owner)) {
      out.push_back(*c.entry);
      seen.insert(p);
    }
  for (ImodelEntry& e : catalogued("", owner))
    if (!seen.count(e.path)) out.push_back(std::move(e));
  return out;
}

std::vector<ImodelEntry> ImodelStore::listAll() {
  std::lock_guard lock(_mutex);
  rescanLocked();
  std::vector<ImodelEntry> out;
  for (const auto& [p, c] : _files)
    if (c.entry) out.push_back(*c.entry);
  return out;
}

std::optional<std::string> normalizeITwinId(std::string_view id) {
  if (id.empty() || id.size() > 64) return std::nullopt;
  std::string out;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return std::nullopt;
    out += char(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

core::Result<ImodelEntry> ImodelStore::add(const fs::path& file, bool move, const std::string& owner,
                                           const std::string& iTwinId) {
  MX_RETURN_IF_ERROR(soundSqlite(file));
  MX_ASSIGN_OR_RETURN(ImodelEntry e, describe(file));
  std::lock_guard lock(_mutex);
  std::error_code ec;
  const fs::path scope = owner.empty() ? _dir : _dir / "owners" / owner;
  fs::create_directories(scope, ec);
  if (ec) return Status{ErrorCode::IoError, "cannot create " + scope.string() + ": " + ec.message()};
  if (!iTwinId.empty()) {
    auto normalized = normalizeITwinId(iTwinId);
    if (!normalized) return Status{ErrorCode::InvalidArgument, "iTwin id \"" + iTwinId + "\" is not an id"};
    // Recorded before the file: an iModel is never listed with an iTwin it was not given.
    MX_RETURN_IF_ERROR(recordITwin(scope, e.iModelId, *normalized));
  }
  e.iTwinId = readITwinId(scope, e.iModelId);
  const fs::path target = scope / (e.iModelId + "@" + std::to_string(e.changesetIndex) + ".bim");
  if (fs::exists(target, ec)) {
    if (!sameBytes(file, target))
      return Status{ErrorCode::AlreadyExists,
                    "changeset " + std::to_string(e.changesetIndex) + " of iModel " + e.iModelId +
                        " is already stored with other content; a changeset's bytes never change"};
    if (move) fs::remove(file, ec);
    e.path = target;
    e.owner = owner;
    e.size = fs::file_size(target, ec);
    return e;
  }
  // A random name: writers on several hosts of one shared folder may have the same pid.
  const fs::path temp = scope / (".add-" + e.iModelId + "-" + uniqueSuffix() + ".tmp");
  if (move) fs::rename(file, temp, ec);
  if (!move || ec) {
    ec.clear();
    fs::copy_file(file, temp, fs::copy_options::overwrite_existing, ec);
  }
  if (ec) {
    const Status failed = statusFromErrno(ec.value(), "cannot store " + file.string());
    fs::remove(temp, ec);
    return failed;
  }
  // link() never replaces: two writers of one name cannot both win.
  if (::link(temp.c_str(), target.c_str()) != 0) {
    const int err = errno;
    fs::remove(temp, ec);
    if (err == EEXIST) return Status{ErrorCode::AlreadyExists, target.filename().string() + " was stored meanwhile"};
    return statusFromErrno(err, "cannot store " + target.string());
  }
  fs::remove(temp, ec);
  if (move) fs::remove(file, ec);
  e.path = target;
  e.owner = owner;
  rescanLocked();
  return e;
}

} // namespace mx::service
