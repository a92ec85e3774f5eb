#include "Spill.h"

#include <tbb/parallel_sort.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace mx::engine {

using core::ErrorCode;
using core::Result;
using core::Status;

namespace {

/// x's 21 low bits spread to every third bit.
uint64_t spread21(uint64_t x) {
  x &= 0x1fffff;
  x = (x | x << 32) & 0x1f00000000ffffULL;
  x = (x | x << 16) & 0x1f0000ff0000ffULL;
  x = (x | x << 8) & 0x100f00f00f00f00fULL;
  x = (x | x << 4) & 0x10c30c30c30c30c3ULL;
  x = (x | x << 2) & 0x1249249249249249ULL;
  return x;
}

/// A full disk or quota (or the file size limit) is StorageFull, as everywhere in the service.
Status ioError(const std::string& what, const std::filesystem::path& file, int err) {
  const bool full = err == ENOSPC || err == EDQUOT || err == EFBIG;
  return {full ? ErrorCode::StorageFull : ErrorCode::IoError,
          "cannot " + what + " spill run " + file.string() + ": " + std::strerror(err)};
}

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};

} // namespace

uint64_t mortonKey(const core::Aabbf& box, float x, float y, float z) {
  const float v[3] = {x, y, z};
  uint64_t cell[3];
  for (int a = 0; a < 3; ++a) {
    const float extent = box.max[a] - box.min[a];
    const float t = extent > 0 ? (v[a] - box.min[a]) / extent : 0.0f;
    cell[a] = uint64_t(std::clamp(t, 0.0f, 1.0f) * float((1 << 21) - 1));
  }
  return spread21(cell[0]) << 2 | spread21(cell[1]) << 1 | spread21(cell[2]);
}

RunWriter::RunWriter(std::filesystem::path folder, size_t recordsPerRun)
    : _folder(std::move(folder)), _perRun(std::max<size_t>(1, recordsPerRun)) {}

Status RunWriter::add(std::span<const SpillRecord> records) {
  while (!records.empty()) {
    if (_buffer.capacity() == 0) _buffer.reserve(_perRun);
    const size_t n = std::min(records.size(), _perRun - _buffer.size());
    _buffer.insert(_buffer.end(), records.begin(), records.begin() + std::ptrdiff_t(n));
    _total += n;
    records = records.subspan(n);
    if (_buffer.size() == _perRun) MX_RETURN_IF_ERROR(flush());
  }
  return Status::ok();
}

Status RunWriter::finish() {
  Status s = _buffer.empty() ? Status::ok() : flush();
  std::vector<SpillRecord>().swap(_buffer); // the merge needs this memory
  return s;
}

Status RunWriter::flush() {
  // Sorted by (key, arrival): the order of a run depends only on the records added.
  std::vector<std::pair<uint64_t, uint32_t>> order(_buffer.size());
  for (size_t i = 0; i < _buffer.size(); ++i) order[i] = {_buffer[i].key, uint32_t(i)};
  tbb::parallel_sort(order.begin(), order.end());
  const std::filesystem::path file = _folder / ("run-" + std::to_string(_runs.size()) + ".bin");
  std::unique_ptr<std::FILE, FileCloser> out(std::fopen(file.c_str(), "wb"));
  if (!out) return ioError("create", file, errno);
  constexpr size_t kBlock = 4096;
  std::vector<SpillRecord> block;
  block.reserve(kBlock);
  for (size_t i = 0; i < order.size(); ++i) {
    block.push_back(_buffer[order[i].second]);
    if (block.size() == kBlock || i + 1 == order.size()) {
      if (std::fwrite(block.data(), sizeof(SpillRecord), block.size(), out.get()) != block.size())
        return ioError("write", file, errno ? errno : ENOSPC);
      block.clear();
    }
  }
  if (std::fflush(out.get()) != 0) return ioError("write", file, errno);
  if (std::fclose(out.release()) != 0) return ioError("close", file, errno);
  _runs.push_back(file);
  _buffer.clear();
  return Status::ok();
}

struct RunMerger::Run {
  std::unique_ptr<std::FILE, FileCloser> file;
  std::filesystem::path path;
  std::vector<SpillRecord> buffer;
  size_t head = 0, size = 0;
};

RunMerger::RunMerger(RunMerger&&) noexcept = default;
RunMerger& RunMerger::operator=(RunMerger&&) noexcept = default;
RunMerger::~RunMerger() = default;

Result<RunMerger> RunMerger::open(const std::vector<std::filesystem::path>& runs, size_t bufferRecords) {
  RunMerger m;
  for (const auto& path : runs) {
    auto run = std::make_unique<Run>();
    run->path = path;
    run->file.reset(std::fopen(path.c_str(), "rb"));
    if (!run->file) return ioError("open", path, errno);
    run->buffer.resize(std::max<size_t>(1, bufferRecords));
    MX_RETURN_IF_ERROR(m.refill(*run));
    m._runs.push_back(std::move(run));
  }
  for (uint32_t r = 0; r < m._runs.size(); ++r)
    if (m._runs[r]->size > 0) m._heap.push_back(r);
  auto later = [&m](uint32_t a, uint32_t b) {
    const uint64_t ka = m._runs[a]->buffer[m._runs[a]->head].key, kb = m._runs[b]->buffer[m._runs[b]->head].key;
    return ka != kb ? ka > kb : a > b;
  };
  std::make_heap(m._heap.begin(), m._heap.end(), later);
  return m;
}

Status RunMerger::refill(Run& run) {
  run.head = 0;
  run.size = std::fread(run.buffer.data(), sizeof(SpillRecord), run.buffer.size(), run.file.get());
  if (run.size < run.buffer.size() && std::ferror(run.file.get())) return ioError("read", run.path, errno);
  return Status::ok();
}

Result<bool> RunMerger::next(SpillRecord& out) {
  if (_heap.empty()) return false;
  auto later = [this](uint32_t a, uint32_t b) {
    const uint64_t ka = _runs[a]->buffer[_runs[a]->head].key, kb = _runs[b]->buffer[_runs[b]->head].key;
    return ka != kb ? ka > kb : a > b;
  };
  std::pop_heap(_heap.begin(), _heap.end(), later);
  const uint32_t r = _heap.back();
  Run& run = *_runs[r];
  out = run.buffer[run.head++];
  if (run.head == run.size) MX_RETURN_IF_ERROR(refill(run));
  if (run.size == 0) {
    _heap.pop_back();
    run.file.reset();
  } else {
    std::push_heap(_heap.begin(), _heap.end(), later);
  }
  return true;
}

} // namespace mx::engine
