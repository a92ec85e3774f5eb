#pragma once
// The iModels a service can export: .bim files under DATA/imodels, identified by what each file
// says (DbGuid = iModel id, parent changeset id and index), found at start and again on demand.
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
  std::string name;            ///< Root subject's name, the exports' displayName.
  std::string changesetId;     ///< "" for a snapshot without changesets.
  int64_t changesetIndex = 0;
  std::filesystem::path path;
  uint64_t size = 0;
};

class ImodelStore {
public:
  explicit ImodelStore(std::filesystem::path dir);

  /// Re-reads the folder: new or changed files are opened, vanished ones forgotten. Files that
  /// are not iModels are skipped and reported in the returned list of "file: why".
  std::vector<std::string> rescan();

  /// The given changeset ("" = the latest: highest index) of an iModel. On a miss the folder is
  /// rescanned (at most once a second) and the lookup retried.
  std::optional<ImodelEntry> find(const std::string& iModelId, const std::string& changesetId);
  [[nodiscard]] bool knows(const std::string& iModelId);
  std::vector<ImodelEntry> list();

  /// Checks that `file` is an iModel (ImodelFile::open) and moves (or copies) it into the folder
  /// as "<iModelId>@<changesetIndex>.bim". An iModel + changeset already present is replaced.
  core::Result<ImodelEntry> add(const std::filesystem::path& file, bool move);

  [[nodiscard]] const std::filesystem::path& dir() const { return _dir; }

private:
  struct Cached {
    std::filesystem::file_time_type mtime;
    uint64_t size = 0;
    std::optional<ImodelEntry> entry;  ///< nullopt: not an iModel.
  };
  std::vector<std::string> rescanLocked();
  std::optional<ImodelEntry> findLocked(const std::string& iModelId, const std::string& changesetId) const;

  std::filesystem::path _dir;
  std::mutex _mutex;
  std::map<std::filesystem::path, Cached> _files;
  int64_t _lastScanMs = 0;
};

} // namespace mx::service
