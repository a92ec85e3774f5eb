#include <mx/core/MappedFile.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mx::core {

Result<MappedFile> MappedFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status{ErrorCode::IoError, "cannot open " + path.string() + ": " + std::strerror(errno)};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const std::string why = S_ISDIR(st.st_mode) ? "is a directory" : std::strerror(errno);
    ::close(fd);
    return Status{ErrorCode::IoError, "cannot read " + path.string() + ": " + why};
  }
  MappedFile f;
  if (st.st_size > 0) {
    void* p = ::mmap(nullptr, size_t(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return Status{ErrorCode::IoError, "cannot map " + path.string() + ": " + why};
    }
    f._data = static_cast<const uint8_t*>(p);
    f._size = size_t(st.st_size);
  }
  ::close(fd); // the mapping keeps the file open
  return f;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : _data(std::exchange(other._data, nullptr)), _size(std::exchange(other._size, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (_data) ::munmap(const_cast<uint8_t*>(_data), _size);
    _data = std::exchange(other._data, nullptr);
    _size = std::exchange(other._size, 0);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (_data) ::munmap(const_cast<uint8_t*>(_data), _size);
}

void MappedFile::adviseSequential() const {
  if (_data) (void)::madvise(const_cast<uint8_t*>(_data), _size, MADV_SEQUENTIAL);
}

void MappedFile::releaseResident(std::span<const uint8_t> bytes) {
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(bytes.data()) + page - 1) / page * page;
  const uintptr_t end = (uintptr_t(bytes.data()) + bytes.size()) / page * page;
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

} // namespace mx::core
