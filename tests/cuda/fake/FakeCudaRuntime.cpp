// See cuda_runtime.h beside it: a lazy, host-only stand-in for the CUDA runtime, for tests.
#include "cuda_runtime.h"

#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>

struct CUstream_st {
  std::deque<std::function<void()>> queue; ///< Enqueued, not yet run.
  size_t enqueued = 0, done = 0;
};
struct CUevent_st {
  CUstream_st* stream = nullptr;
  size_t upTo = 0; ///< The stream's work enqueued before the record.
};

namespace {
std::recursive_mutex gMutex;
long gFailAfter = -1;
std::map<void*, size_t> gDevice;
std::set<CUstream_st*> gStreams;

void runUntil(CUstream_st* s, size_t upTo) {
  while (s->done < upTo && !s->queue.empty()) {
    auto op = std::move(s->queue.front());
    s->queue.pop_front();
    op();
    ++s->done;
  }
}
} // namespace

const char* cudaGetErrorName(cudaError_t e) { return e == cudaSuccess ? "cudaSuccess" : "cudaErrorFake"; }
const char* cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "fake runtime error"; }

cudaError_t cudaMalloc(void** p, size_t bytes) {
  std::lock_guard lock(gMutex);
  *p = std::malloc(bytes ? bytes : 1);
  if (!*p) return cudaErrorMemoryAllocation;
  gDevice[*p] = bytes;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  std::lock_guard lock(gMutex);
  gDevice.erase(p);
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** p, size_t bytes, unsigned) {
  *p = std::malloc(bytes ? bytes : 1);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFreeHost(void* p) {
  std::free(p);
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  std::lock_guard lock(gMutex);
  *s = new CUstream_st;
  gStreams.insert(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  std::lock_guard lock(gMutex);
  runUntil(s, s->enqueued); // the runtime finishes a destroyed stream's work
  gStreams.erase(s);
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  std::lock_guard lock(gMutex);
  runUntil(s, s->enqueued);
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t e, unsigned) {
  std::lock_guard lock(gMutex);
  if (e->stream) runUntil(e->stream, e->upTo); // conservative: the dependency is met at once
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* e) {
  *e = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) { return cudaEventCreate(e); }
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  std::lock_guard lock(gMutex);
  e->stream = s;
  e->upTo = s->enqueued;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  std::lock_guard lock(gMutex);
  if (e->stream) runUntil(e->stream, e->upTo);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t s) {
  std::lock_guard lock(gMutex);
  if (gFailAfter == 0) {
    gFailAfter = -1;
    return cudaErrorLaunchFailure;
  }
  if (gFailAfter > 0) --gFailAfter;
  s->queue.push_back([dst, src, bytes] { std::memcpy(dst, src, bytes); }); // reads `src` when it runs
  ++s->enqueued;
  return cudaSuccess;
}

namespace fakecuda {
void failMemcpyAfter(long n) {
  std::lock_guard lock(gMutex);
  gFailAfter = n;
}
size_t pendingCopies() {
  std::lock_guard lock(gMutex);
  size_t n = 0;
  for (CUstream_st* s : gStreams) n += s->queue.size();
  return n;
}
size_t deviceBytesHeld() {
  std::lock_guard lock(gMutex);
  size_t n = 0;
  for (const auto& [p, b] : gDevice) n += b;
  return n;
}
} // namespace fakecuda
