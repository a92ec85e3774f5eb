#pragma once
// The service's Prometheus counters (/metrics): requests by route, method and status, request
// time per route, finished exports by outcome and their duration histogram.
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <tuple>

namespace mx::service {

class ServiceMetrics {
public:
  void request(const std::string& route, const std::string& method, int status, double seconds) {
    std::lock_guard lock(_mutex);
    ++_requests[{route, method, status}];
    _latencySum[route] += seconds;
    ++_latencyCount[route];
  }
  void exportFinished(const std::string& status, double seconds) {
    std::lock_guard lock(_mutex);
    ++_finished[status];
    for (size_t i = 0; i < kBuckets.size(); ++i)
      if (seconds <= kBuckets[i]) ++_durationBuckets[i];
    ++_durationCount;
    _durationSum += seconds;
  }
  std::string render(const std::map<std::string, int64_t>& exportsByStatus, int64_t queued, size_t running) {
    std::lock_guard lock(_mutex);
    std::ostringstream o;
    o << "# HELP meshexport_http_requests_total HTTP requests by route, method and status.\n"
         "# TYPE meshexport_http_requests_total counter\n";
    for (const auto& [k, n] : _requests)
      o << "meshexport_http_requests_total{route=\"" << std::get<0>(k) << "\",method=\"" << std::get<1>(k)
        << "\",status=\"" << std::get<2>(k) << "\"} " << n << "\n";
    o << "# HELP meshexport_http_request_seconds Time spent answering requests, by route.\n"
         "# TYPE meshexport_http_request_seconds summary\n";
    for (const auto& [r, s] : _latencySum)
      o << "meshexport_http_request_seconds_sum{route=\"" << r << "\"} " << s << "\n"
        << "meshexport_http_request_seconds_count{route=\"" << r << "\"} " << _latencyCount[r] << "\n";
    o << "# HELP meshexport_exports Exports in the store by status.\n# TYPE meshexport_exports gauge\n";
    for (const auto& [s, n] : exportsByStatus) o << "meshexport_exports{status=\"" << s << "\"} " << n << "\n";
    o << "# HELP meshexport_queue_length Exports waiting for a worker (a fleet's: the whole fleet's).\n# TYPE "
         "meshexport_queue_length gauge\n"
      << "meshexport_queue_length " << queued << "\n"
      << "# HELP meshexport_exports_running Exports running now.\n# TYPE meshexport_exports_running gauge\n"
      << "meshexport_exports_running " << running << "\n";
    o << "# HELP meshexport_exports_finished_total Exports finished by this process, by outcome.\n"
         "# TYPE meshexport_exports_finished_total counter\n";
    for (const auto& [s, n] : _finished) o << "meshexport_exports_finished_total{status=\"" << s << "\"} " << n << "\n";
    o << "# HELP meshexport_export_duration_seconds Wall time of finished exports.\n"
         "# TYPE meshexport_export_duration_seconds histogram\n";
    for (size_t i = 0; i < kBuckets.size(); ++i)
      o << "meshexport_export_duration_seconds_bucket{le=\"" << kBuckets[i] << "\"} " << _durationBuckets[i] << "\n";
    o << "meshexport_export_duration_seconds_bucket{le=\"+Inf\"} " << _durationCount << "\n"
      << "meshexport_export_duration_seconds_sum " << _durationSum << "\n"
      << "meshexport_export_duration_seconds_count " << _durationCount << "\n";
    return o.str();
  }

private:
  static constexpr std::array<double, 8> kBuckets{1, 5, 15, 60, 300, 900, 1800, 3600};
  std::mutex _mutex;
  std::map<std::tuple<std::string, std::string, int>, int64_t> _requests;
  std::map<std::string, double> _latencySum;
  std::map<std::string, int64_t> _latencyCount;
  std::map<std::string, int64_t> _finished;
  std::array<int64_t, kBuckets.size()> _durationBuckets{};
  int64_t _durationCount = 0;
  double _durationSum = 0;
};

} // namespace mx::service
