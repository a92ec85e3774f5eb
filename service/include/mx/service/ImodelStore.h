#pragma once
// The iModels a service can export: .bim files under DATA/imodels, identified by what each file
// says (DbGuid = iModel id, parent changeset id and index), found at start and again on demand.
// Two scopes: DATA/imodels/*.bim is shared (placed by the operator: `meshexport imodels add`),
// DATA/imodels/owners/KEY/*.bim belongs to one subject (its uploads; KEY = ownerKey(subject)). A
// subject sees the shared files and its own. A changeset's bytes never change once stored. In a
// fleet the files are on the shared storage root and each is also recorded in the store's catalog.
#include <mx/core/Result.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mx::service {

struct ImodelEntry {
  std::string iModelId;
  std::string name;        ///< Root subject's name, the exports' displayName.
  std::string changesetId; ///< "" for a snapshot without changesets.
  int64_t changesetIndex = 0;
  std::filesystem::path path;
  uint64_t size = 0;
  std::string owner;   ///< "" shared; else ownerKey() of the subject that uploaded it.
  std::string iTwinId; ///< The iTwin it was registered with (lower case); "" unknown.
};

/// An iTwin id as given to `imodels add --itwin-id` or an upload's ?iTwinId=: 1 to 64 letters,
/// digits and '-' (a GUID in practice). Returns it lower-cased, or nullopt.
std::optional<std::string> normalizeITwinId(std::string_view id);

/// Where a fleet keeps the iModels and changesets it knows (PostgresJobStore: the `imodels`
/// table), beside their files on the shared storage root. Paths are relative to the iModels
/// folder, so nodes may mount the root at different places.
class ImodelCatalog {
public:
  virtual ~ImodelCatalog() = default;
  /// Records (or refreshes) one changeset file.
  virtual core::Status recordImodel(const ImodelEntry& entry, const std::string& relativePath) = 0;
  /// The changesets recorded for an iModel ("" = every iModel), with their relative paths.
  virtual std::vector<std::pair<ImodelEntry, std::string>> recordedImodels(const std::string& iModelId) = 0;
};

class ImodelStore {
public:
  explicit ImodelStore(std::filesystem::path dir);

  /// A fleet's catalog: every file this node finds or adds is recorded there, and a lookup this
  /// node's folder scan misses (a file another node added a moment ago) is answered from it.
  /// Rescans, recording every file; returns what rescan() returns.
  std::vector<std::string> setCatalog(ImodelCatalog* catalog);

  /// Re-reads the folder: new or changed files are opened, vanished ones forgotten. Files that
  /// are not iModels are skipped and reported in the returned list of "file: why".
  std::vector<std::string> rescan();

  /// The owner key of a subject: the first 32 hex digits of SHA-256(subject).
  static std::string ownerKey(const std::string& subject);

  /// The given changeset ("" = the latest: highest index) of an iModel, as `owner` sees it (the
  /// shared files and its own; its own first). On a miss the folder is rescanned (at most once a
  /// second) and the lookup retried.
  std::optional<ImodelEntry> find(const std::string& iModelId, const std::string& changesetId,
                                  const std::string& owner = "");
  [[nodiscard]] bool knows(const std::string& iModelId, const std::string& owner = "");
  /// What `owner` sees.
  std::vector<ImodelEntry> list(const std::string& owner = "");
  /// Every file, every scope (the command line).
  std::vector<ImodelEntry> listAll();

  /// Checks that `file` is a sound iModel (SQLite quick_check, then ImodelFile::open) and moves
  /// (or copies) it into `owner`'s scope as "<iModelId>@<changesetIndex>.bim". The same bytes
  /// already there return that entry; other bytes under the same name are AlreadyExists (a
  /// changeset's bytes never change). A full disk is StorageFull. `iTwinId` (normalized) is kept
  /// beside the iModel's files as "<iModelId>.itwin" and echoed by its exports; an iModel already
  /// registered with another iTwin is AlreadyExists.
  core::Result<ImodelEntry> add(const std::filesystem::path& file, bool move, const std::string& owner = "",
                                const std::string& iTwinId = "");

  [[nodiscard]] const std::filesystem::path& dir() const { return _dir; }

private:
  struct Cached {
    std::filesystem::file_time_type mtime;
    uint64_t size = 0;
    std::optional<ImodelEntry> entry; ///< nullopt: not an iModel.
  };
  std::vector<std::string> rescanLocked();
  std::optional<ImodelEntry> findLocked(const std::string& iModelId, const std::string& changesetId,
                                        const std::string& owner) const;
  void scanFolder(const std::filesystem::path& folder, const std::string& owner,
                  std::map<std::filesystem::path, Cached>& next, std::vector<std::string>& problems);

  std::filesystem::path _dir;
  std::mutex _mutex;
  std::map<std::filesystem::path, Cached> _files;
  int64_t _lastScanMs = 0;
  ImodelCatalog* _catalog = nullptr;
  /// Recorded entries whose files exist here, with the owner filter of findLocked.
  std::vector<ImodelEntry> catalogued(const std::string& iModelId, const std::string& owner);
};

} // namespace mx::service
