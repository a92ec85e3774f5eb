// Slow and greedy HTTP clients (loopback only): slow headers and bodies, oversized headers,
// connection caps, keep-alive limits and latency. Each test failed before its fix.
#include "HardeningSupport.h"

#include <mx/service/DataDir.h>
#include <mx/service/ImodelStore.h>
#include <mx/service/JobStore.h>
#include <mx/service/SqliteJobStore.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <random>
#include <set>

namespace mx::test {
namespace {

// ---- 5. Slow and greedy clients cost a socket, never a worker ----------------------------------------

namespace {

void expectHealthzAnswersAtOnce(const TestService& s) {
  for (int i = 0; i < 10; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto c = s.client();
    c.set_read_timeout(3);
    auto r = c.Get("/healthz");
    ASSERT_TRUE(r) << "healthz unanswerable while slow clients hold connections";
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(msSince(t0), 1000);
  }
}

} // namespace

TEST(ServiceHardening, SlowHeadersNeverStarveTheWorkers) {
  const fs::path dir = freshDir("slowloris");
  TestService s(dir, [](service::ServiceConfig& c) {
    c.httpThreads = 8;
    c.headerTimeoutSeconds = 2;
  });
  // 24 connections (3× the workers) that send their headers a byte at a time.
  std::vector<int> slow;
  for (int i = 0; i < 24; ++i) {
    const int fd = connectTo(s.svc->port());
    ASSERT_GE(fd, 0);
    sendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    slow.push_back(fd);
  }
  std::atomic<bool> trickle{true};
  std::thread t([&] {
    while (trickle) {
      for (int fd : slow) sendAll(fd, "X");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  // /healthz answers at once, again and again, while they trickle.
  expectHealthzAnswersAtOnce(s);
  // The slow ones are answered 408 and closed once their headers are past due.
  const auto t0 = std::chrono::steady_clock::now();
  std::string first = readUntilClosed(slow[0], 5000);
  trickle = false;
  t.join();
  EXPECT_LT(msSince(t0), 6000); // 2 s of header time, then at most 2 s of lingering close
  EXPECT_EQ(first.rfind("HTTP/1.1 408", 0), 0u) << first;
  for (int fd : slow) ::close(fd);
}

TEST(ServiceHardening, SlowBodiesNeverStarveTheWorkers) {
  const fs::path dir = freshDir("slowbody");
  TestService s(dir, [](service::ServiceConfig& c) {
    c.httpThreads = 8;
    c.headerTimeoutSeconds = 3;
  });
  // 12 small JSON bodies of an authenticated caller sent a byte at a time (awaited whole by the
  // event loop, like headers),
  // and 12 bodies to routes that take none (refused before a byte is read).
  std::vector<int> slow;
  for (int i = 0; i < 24; ++i) {
    const int fd = connectTo(s.svc->port());
    ASSERT_GE(fd, 0);
    sendAll(fd, i % 2 ? "POST /mesh-export/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(kDevToken) +
                            "\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n{"
                      : "DELETE /mesh-export/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{");
    slow.push_back(fd);
  }
  std::atomic<bool> trickle{true};
  std::thread t([&] {
    while (trickle) {
      for (int fd : slow) sendAll(fd, " ");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  expectHealthzAnswersAtOnce(s);
  const std::string noBody = readUntilClosed(slow[0], 5000);
  const std::string small = readUntilClosed(slow[1], 8000);
  trickle = false;
  t.join();
  for (int fd : slow) ::close(fd);
  EXPECT_EQ(noBody.rfind("HTTP/1.1 413", 0), 0u) << noBody;
  EXPECT_EQ(small.rfind("HTTP/1.1 408", 0), 0u) << small;
}

TEST(ServiceHardening, OversizedHeadersAreRefusedWith431) {
  const fs::path dir = freshDir("bigheaders");
  TestService s(dir);
  const int fd = connectTo(s.svc->port());
  std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 2000; ++i) req += "X-Pad-" + std::to_string(i) + ": " + std::string(100, 'a') + "\r\n";
  req += "\r\n";
  std::thread sender([&] { sendAll(fd, req); });
  const std::string got = readUntilClosed(fd, 5000);
  sender.join();
  ::close(fd);
  EXPECT_EQ(got.rfind("HTTP/1.1 431", 0), 0u) << got.substr(0, 200);
  // 16 KiB of headers is the default limit: just under it is fine.
  auto c = s.client();
  httplib::Headers h;
  for (int i = 0; i < 100; ++i) h.emplace("X-Pad-" + std::to_string(i), std::string(100, 'a'));
  auto r = c.Get("/healthz", h);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(ServiceHardening, ConnectionsPerAddressAreCapped) {
  const fs::path dir = freshDir("percap");
  TestService s(dir, [](service::ServiceConfig& c) { c.maxConnectionsPerIp = 4; });
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) held.push_back(connectTo(s.svc->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const int extra = connectTo(s.svc->port());
  const std::string got = readUntilClosed(extra, 3000);
  ::close(extra);
  EXPECT_EQ(got.rfind("HTTP/1.1 503", 0), 0u) << got;
  EXPECT_NE(got.find("TooManyConnections"), std::string::npos);
  for (int fd : held) ::close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto r = s.client().Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("meshexport_http_connections_refused_total{reason=\"too_many_connections\"} 1"),
            std::string::npos)
      << r->body;
}

TEST(ServiceHardening, KeepAliveHasLimits) {
  const fs::path dir = freshDir("keepalive");
  TestService s(dir, [](service::ServiceConfig& c) {
    c.keepAliveMaxRequests = 3;
    c.keepAliveTimeoutSeconds = 1;
  });
  const int fd = connectTo(s.svc->port());
  const std::string get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  sendAll(fd, get + get + get + get); // pipelined: the third answer closes the connection
  const std::string got = readUntilClosed(fd, 3000);
  ::close(fd);
  size_t responses = 0;
  for (size_t p = got.find("HTTP/1.1 200"); p != std::string::npos; p = got.find("HTTP/1.1 200", p + 1)) ++responses;
  EXPECT_EQ(responses, 3u) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
  // An idle keep-alive connection is closed after keepAliveTimeoutSeconds.
  const int idle = connectTo(s.svc->port());
  sendAll(idle, get);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string one = readUntilClosed(idle, 5000);
  ::close(idle);
  EXPECT_EQ(one.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_LT(msSince(t0), 3000);
}

TEST(ServiceHardening, ManyClientsWithAndWithoutKeepAliveLoseNoRequest) {
  // Found by the soak benchmark: a connection handed to a worker while the event loop accepted
  // others could come back before it had left epoll, and its next request was never read.
  const fs::path dir = freshDir("manyclients");
  TestService s(dir);
  std::atomic<int> lost{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 16; ++t)
    clients.emplace_back([&, t] {
      auto keep = s.client();
      keep.set_keep_alive(true);
      keep.set_read_timeout(3);
      for (int i = 0; i < 400; ++i) {
        auto fresh = s.client();
        fresh.set_read_timeout(3);
        auto r = (t % 2 ? keep : fresh).Get("/healthz");
        if (!r || r->status != 200) ++lost;
      }
    });
  for (auto& c : clients) c.join();
  EXPECT_EQ(lost.load(), 0);
}

// ---- 7. A reused connection answers as fast as a new one ----------------------------------------------

TEST(ServiceHardening, KeepAliveRequestsAreNotDelayed) {
  const fs::path dir = freshDir("nodelay");
  const std::string imodel = addImodel(dir);
  TestService s(dir);
  const std::string id = startExport(s, imodel);
  ASSERT_EQ(s.waitDone(id)["status"], "Complete");
  // Before: headers and body left in two writes without TCP_NODELAY, and a reused connection
  // waited for the delayed ACK (≈ 40 ms) on every response. Medians are far apart.
  auto c = s.client();
  c.set_keep_alive(true);
  std::vector<double> ms;
  for (int i = 0; i < 21; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c.Get("/mesh-export/" + id, TestService::auth());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    ms.push_back(msSince(t0));
  }
  std::sort(ms.begin(), ms.end());
  EXPECT_LT(ms[ms.size() / 2], 25.0) << "median of a keep-alive request";
}

} // namespace
} // namespace mx::test
