// The CUDA backend's pinned staging (cuda/src/Staging.cpp, the real code) on a lazy stand-in for
// the CUDA runtime (tests/cuda/fake): copies run only when waited for, so a slot reused before its
// copy ran, a piece at the wrong offset or a download returning early shows up as wrong bytes.
// What it cannot show is anything of the device itself; the conformance suite checks that on a GPU.
#include "../../cuda/src/CudaCommon.cuh"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

using namespace mx::cuda::detail;

namespace {

std::vector<unsigned char> randomBytes(size_t n, std::mt19937& rng) {
  std::vector<unsigned char> v(n);
  for (auto& b : v) b = static_cast<unsigned char>(rng());
  return v;
}

struct DeviceBuffer {
  void* p = nullptr;
  explicit DeviceBuffer(size_t n) { cudaMalloc(&p, n); }
  ~DeviceBuffer() { cudaFree(p); }
};

} // namespace

TEST(Staging, RoundTripsEveryByteThroughSmallSlotsOnBothStreams) {
  std::mt19937 rng(31);
  for (size_t slot : {size_t(1000), size_t(4) << 20}) { // 4 MiB slots: pieces copied on oneTBB threads
    Lane lane;
    ASSERT_TRUE(lane.init(slot).isOk());
    ASSERT_TRUE(lane.quiesce().isOk());
    const std::vector<size_t> sizes = {0, 1, 999, 1000, 1001, 2000, 12345, (size_t(9) << 20) + 7};
    std::vector<std::vector<unsigned char>> host;
    std::vector<std::unique_ptr<DeviceBuffer>> device;
    size_t uploaded = 0;
    // Every buffer up first, alternating streams (copies stay queued: nothing waits for them) ...
    for (size_t i = 0; i < sizes.size(); ++i) {
      host.push_back(randomBytes(sizes[i], rng));
      device.push_back(std::make_unique<DeviceBuffer>(sizes[i]));
      ASSERT_TRUE(upload(lane, lane.stream[i % 2], device[i]->p, host[i].data(), sizes[i]).isOk());
      uploaded += sizes[i];
    }
    EXPECT_GT(fakecuda::pendingCopies(), 0u) << "upload waited for its copies";
    // ... then every buffer back, on the other stream than it went up on.
    for (size_t i = 0; i < sizes.size(); ++i) {
      SCOPED_TRACE("slot=" + std::to_string(slot) + " bytes=" + std::to_string(sizes[i]) + " seed=31");
      cudaStreamSynchronize(lane.stream[i % 2]); // what the device's stream order would guarantee
      std::vector<unsigned char> back(sizes[i], 0xAB);
      ASSERT_TRUE(download(lane, lane.stream[(i + 1) % 2], back.data(), device[i]->p, sizes[i]).isOk());
      EXPECT_TRUE(back == host[i]);
    }
    EXPECT_EQ(lane.stats.hostToDeviceBytes, uploaded);
    EXPECT_EQ(lane.stats.deviceToHostBytes, uploaded);
    EXPECT_EQ(lane.copyTimersUsed, 2 * sizes.size() - 2); // one timer pair per non-empty copy
  }
}

TEST(Staging, AHostBufferChangedAfterUploadReturnsDoesNotChangeTheDevice) {
  // upload() copies into pinned memory before it returns: the caller may reuse its buffer at once.
  std::mt19937 rng(32);
  Lane lane;
  ASSERT_TRUE(lane.init(4096).isOk());
  std::vector<unsigned char> host = randomBytes(3000, rng), kept = host;
  DeviceBuffer d(host.size());
  ASSERT_TRUE(upload(lane, lane.stream[0], d.p, host.data(), host.size()).isOk());
  std::fill(host.begin(), host.end(), 0);
  std::vector<unsigned char> back(host.size());
  ASSERT_TRUE(download(lane, lane.stream[0], back.data(), d.p, back.size()).isOk());
  EXPECT_TRUE(back == kept);
}

TEST(Staging, AFailedCopyIsAnErrorAndLeavesNothingBehind) {
  std::mt19937 rng(33);
  Lane lane;
  ASSERT_TRUE(lane.init(1000).isOk());
  std::vector<unsigned char> host = randomBytes(10000, rng);
  DeviceBuffer d(host.size());
  ASSERT_TRUE(upload(lane, lane.stream[0], d.p, host.data(), host.size()).isOk());
  cudaStreamSynchronize(lane.stream[0]);
  {
    // The download fails half-way; its destination goes away with this scope.
    std::vector<unsigned char> gone(host.size(), 0);
    fakecuda::failMemcpyAfter(4);
    const mx::core::Status s = download(lane, lane.stream[0], gone.data(), d.p, gone.size());
    ASSERT_FALSE(s.isOk());
    EXPECT_EQ(s.code(), mx::core::ErrorCode::DeviceError);
    EXPECT_NE(s.message().find("cudaMemcpyAsync"), std::string::npos) << s.message();
  }
  // The next call starts clean: no staged piece is delivered to the old destination (ASan would
  // see the write), and a new download gets every byte.
  ASSERT_TRUE(lane.quiesce().isOk());
  EXPECT_EQ(fakecuda::pendingCopies(), 0u);
  std::vector<unsigned char> back(host.size());
  ASSERT_TRUE(download(lane, lane.stream[1], back.data(), d.p, back.size()).isOk());
  EXPECT_TRUE(back == host);
}
