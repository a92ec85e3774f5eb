#pragma once
// Per-subject token buckets: `rateLimitPerSecond` refill, `rateLimitBurst` size (0 rate = off).
#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace mx::service {

class RateLimiter {
public:
  RateLimiter(double perSecond, double burst) : _rate(perSecond), _burst(burst) {}
  /// 0 when allowed, else whole seconds until a token is available.
  int64_t take(const std::string& subject) {
    if (_rate <= 0) return 0;
    const auto now = std::chrono::steady_clock::now();
    std::lock_guard lock(_mutex);
    if (_buckets.size() > 100000) _buckets.clear();
    auto [it, fresh] = _buckets.try_emplace(subject, Bucket{_burst, now});
    Bucket& b = it->second;
    if (!fresh) {
      b.tokens = std::min(_burst, b.tokens + std::chrono::duration<double>(now - b.last).count() * _rate);
      b.last = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return std::max<int64_t>(1, int64_t(std::ceil((1 - b.tokens) / _rate)));
  }

private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  double _rate, _burst;
  std::mutex _mutex;
  std::map<std::string, Bucket> _buckets;
};

} // namespace mx::service
