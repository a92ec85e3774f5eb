#pragma once
// The service's HTTP server: cpp-httplib parses requests and routes them, but connections are
// ours. One epoll thread accepts and holds every connection that is not being answered: new
// ones until their whole header block has arrived, and idle keep-alive ones until their next
// request does. Only a request whose headers are complete takes a worker thread, so clients that
// send slowly, or hold connections open, cost a file descriptor and never a worker.
//
// Limits (docs/service.md): header block size and time, connections in all and per client
// address, requests and idle time per keep-alive connection, per-read timeouts and a minimum
// body rate once a request is in a worker. Responses go out in one write where they fit (headers
// and body together, TCP_NODELAY), so a reused connection answers as fast as a new one.
#include <mx/core/Result.h>

#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mx::service {

struct HttpLimits {
  int threads = 64;                     ///< Workers answering requests.
  size_t maxHeaderBytes = 16 * 1024;    ///< Request line and headers: 431 beyond.
  int headerTimeoutMs = 10000;          ///< From the connection's (or its last response's) first byte wait: 408 beyond.
  int keepAliveTimeoutMs = 15000;       ///< An idle keep-alive connection is closed after this.
  int keepAliveMaxRequests = 1000;      ///< Requests per connection, then it is closed.
  int maxConnections = 4096;            ///< Open connections in all: 503 beyond.
  int maxConnectionsPerIp = 256;        ///< Open connections per client address: 503 beyond.
  int readTimeoutMs = 10000;            ///< Each read of a request body.
  int writeTimeoutMs = 30000;           ///< Each write of a response.
  int64_t minBodyBytesPerSecond = 1024; ///< A body slower than this (after readTimeout) is dropped.
};

class HttpServer : public httplib::Server {
public:
  explicit HttpServer(HttpLimits limits);
  ~HttpServer() override;

  /// Binds and listens (backlog SOMAXCONN); port 0 picks a free port.
  core::Result<int> bindAndListen(const std::string& host, int port);
  /// Runs the event loop and the workers until stop(); call from one thread.
  void serve();
  /// Stops accepting, lets requests in workers finish, closes the rest. Any thread.
  void shutdown();

  /// Open connections now.
  [[nodiscard]] size_t connections() const { return _open.load(); }
  /// Connections answered by the server itself and closed, by reason (/metrics):
  /// too_many_connections (503), header_timeout (408), headers_too_large (431), bad_framing (400).
  struct Refusals {
    std::atomic<int64_t> tooMany{0}, headerTimeout{0}, headersTooLarge{0}, badFraming{0};
  };
  [[nodiscard]] const Refusals& refusals() const { return _refusals; }

  /// Installs the access logger (the hook also notes a response that closes its connection).
  HttpServer& set_logger(httplib::Logger logger);

private:
  enum class Action { None, Close, HandOff };
  struct Conn {
    int fd = -1;
    std::string ip;
    int port = 0;
    int served = 0; ///< Requests answered on this connection.
    std::chrono::steady_clock::time_point deadline;
    bool idle = true;             ///< No byte of the next request yet.
    bool lingering = false;       ///< Answered and closing: input is read and dropped.
    Action action = Action::None; ///< What the event loop does with it next.
  };
  void loop();
  void worker();
  void accept();
  void onReadable(Conn& c);
  void answer(Conn c, size_t headerBytes, int64_t bodyBytes);
  void closeConn(const Conn& c);
  void reject(int fd, int status, const char* code, const char* message);
  void mark(Conn& c, Action a);
  void linger(Conn& c);
  void drain(Conn& c);
  void settle(std::vector<Conn>& closing);

  HttpLimits _limits;
  int _listenFd = -1, _epollFd = -1, _wakeFd = -1;
  std::atomic<bool> _stopping{false};
  std::atomic<size_t> _open{0};
  Refusals _refusals;

  std::mutex _mutex;                 ///< Guards everything below.
  std::map<int, Conn> _waiting;      ///< fd → connection held by the event loop.
  std::map<std::string, int> _perIp; ///< Open connections per address.
  struct Ready {
    Conn conn;
    size_t headerBytes;
    int64_t bodyBytes; ///< Content-Length; -1 chunked.
  };
  std::deque<Ready> _ready;    ///< Complete headers waiting for a worker.
  std::vector<Conn> _returned; ///< Keep-alive connections back from workers.
  std::vector<int> _touched;   ///< Event loop: connections whose action was set.
  std::string _peek;           ///< Event loop: the peek buffer.
  std::condition_variable _cv;
  std::vector<std::thread> _workers;
};

} // namespace mx::service
