#pragma once
// A read-only memory map of a whole file: readers take their bytes straight from the page cache,
// with no copy of the file (a glb's BIN chunk, external glTF buffers). Move-only; unmapped when
// destroyed. An empty file maps to an empty span.
#include <mx/core/Result.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

namespace mx::core {

class MappedFile {
public:
  /// Maps `path` read-only. IoError (naming the file) when it cannot be opened or mapped.
  static Result<MappedFile> open(const std::filesystem::path& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  [[nodiscard]] std::span<const uint8_t> bytes() const { return {_data, _size}; }
  [[nodiscard]] size_t size() const { return _size; }

  /// Tells the kernel the mapping will be read front to back (read-ahead; no effect on results).
  void adviseSequential() const;

  /// Lets go of the pages of `bytes` (a part of a MappedFile's bytes) this process holds: they stay
  /// in the page cache and come back on the next read, but no longer count in its resident set.
  /// Out-of-core reads call it between batches. Never call it on memory that is not a file map.
  static void releaseResident(std::span<const uint8_t> bytes);

private:
  const uint8_t* _data = nullptr;
  size_t _size = 0;
};

} // namespace mx::core
