#include "HttpServer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace mx::service {

using core::ErrorCode;
using core::Status;
using Clock = std::chrono::steady_clock;

namespace {

/// Set by the logger hook once a response is written: the response asked to close.
thread_local bool tResponseCloses = false;

constexpr size_t kCoalesceBytes = 256 * 1024;
constexpr int kLingerMs = 2000;
/// A body up to this size is awaited whole by the event loop (as the headers are), so small
/// requests never reach a worker half-sent; larger ones (uploads) go to a worker after the
/// headers, where the handler checks the caller before reading.
constexpr size_t kSmallBodyBytes = 16 * 1024;

std::string_view reason(int status) {
  switch (status) {
  case 400:
    return "Bad Request";
  case 408:
    return "Request Timeout";
  case 431:
    return "Request Header Fields Too Large";
  case 503:
    return "Service Unavailable";
  default:
    return "Error";
  }
}

/// "127.0.0.1" / "::1" and the port of a socket address.
std::string addressOf(const sockaddr_storage& a, int& port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET6) {
    const auto* in = reinterpret_cast<const sockaddr_in6*>(&a);
    ::inet_ntop(AF_INET6, &in->sin6_addr, buf, sizeof buf);
    port = ntohs(in->sin6_port);
  } else {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&a);
    ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    port = ntohs(in->sin_port);
  }
  return buf;
}

bool waitFor(int fd, short events, int timeoutMs) {
  pollfd p{fd, events, 0};
  while (true) {
    const int r = ::poll(&p, 1, timeoutMs);
    if (r < 0 && errno == EINTR) continue;
    return r > 0 && (p.revents & (events | POLLHUP | POLLERR));
  }
}

/// The number after a header name in a header block ("content-length: 12"), case-insensitive.
/// Returns false when the header is present but not a plain number.
bool headerValue(std::string_view block, std::string_view name, std::string& value, bool& present) {
  present = false;
  size_t pos = block.find('\n');
  while (pos != std::string_view::npos && pos + 1 < block.size()) {
    const size_t start = pos + 1;
    const size_t end = block.find('\n', start);
    std::string_view line = block.substr(start, (end == std::string_view::npos ? block.size() : end) - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > name.size() && line[name.size()] == ':') {
      bool same = true;
      for (size_t i = 0; i < name.size() && same; ++i)
        same = std::tolower(static_cast<unsigned char>(line[i])) == name[i];
      if (same) {
        if (present) return false; // repeated: request smuggling territory
        present = true;
        std::string_view v = line.substr(name.size() + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
        value = std::string(v);
        for (auto& ch : value) ch = char(std::tolower(static_cast<unsigned char>(ch)));
      }
    }
    pos = end;
  }
  return true;
}

/// One request's view of a connection: reads never cross into the next request (the event loop
/// waits for that one), writes are gathered so a response leaves in as few writes as possible.
class ConnStream final : public httplib::Stream {
public:
  ConnStream(int fd, std::string ip, int port, const HttpLimits& limits, size_t headerBytes, int64_t bodyBytes)
      : _fd(fd), _ip(std::move(ip)), _port(port), _limits(limits), _headerBytes(headerBytes), _bodyBytes(bodyBytes) {}

  bool is_readable() const override { return _pos < _buf.size() || waitFor(_fd, POLLIN, _limits.readTimeoutMs); }
  bool is_writable() const override { return !_failed; }

  ssize_t read(char* ptr, size_t size) override {
    if (_pos == _buf.size()) {
      if (!flush()) return -1;
      size_t want = 64 * 1024;
      if (_bodyBytes >= 0) {
        const int64_t left = int64_t(_headerBytes) + _bodyBytes - _consumed;
        if (left <= 0) return 0; // the request ends here; the next one is the event loop's
        want = size_t(std::min<int64_t>(left, int64_t(want)));
      } else if (_consumed < int64_t(_headerBytes)) {
        want = _headerBytes - size_t(_consumed);
      }
      if (_consumed >= int64_t(_headerBytes)) {
        // A body must keep a minimum rate once readTimeout has passed.
        const auto now = Clock::now();
        if (!_bodyStarted) _bodyStarted = true, _bodyStart = now;
        const double seconds = std::chrono::duration<double>(now - _bodyStart).count();
        if (seconds * 1000 > _limits.readTimeoutMs &&
            double(_consumed - int64_t(_headerBytes)) < seconds * double(_limits.minBodyBytesPerSecond))
          return fail();
      }
      _buf.resize(want);
      ssize_t n;
      while (true) {
        n = ::recv(_fd, _buf.data(), want, 0);
        if (n >= 0) break;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return fail();
        if (!waitFor(_fd, POLLIN, _limits.readTimeoutMs)) return fail();
      }
      _buf.resize(size_t(n));
      _pos = 0;
      if (n == 0) return 0;
    }
    const size_t n = std::min(size, _buf.size() - _pos);
    std::memcpy(ptr, _buf.data() + _pos, n);
    _pos += n;
    _consumed += int64_t(n);
    return ssize_t(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (_failed) return -1;
    if (_out.size() + size <= kCoalesceBytes) {
      _out.append(ptr, size);
      return ssize_t(size);
    }
    if (!sendAll(ptr, size)) return -1;
    return ssize_t(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = _ip;
    port = _port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    ip.clear();
    if (::getsockname(_fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) ip = addressOf(a, port);
  }
  // httplib refuses descriptors past FD_SETSIZE (it would select() on them); nothing here does.
  socket_t socket() const override { return _fd < FD_SETSIZE ? _fd : 0; }

  /// Sends what is gathered; false when the peer is gone or too slow.
  bool flush() { return _out.empty() || sendAll(nullptr, 0); }
  [[nodiscard]] bool failed() const { return _failed; }
  /// Whether exactly this request's bytes were read (never fewer: a body left unread would be
  /// taken for the next request).
  [[nodiscard]] bool consumedExactly() const {
    return _bodyBytes >= 0 && _consumed == int64_t(_headerBytes) + _bodyBytes && _pos == _buf.size();
  }

private:
  ssize_t fail() {
    _failed = true;
    return -1;
  }
  /// Writes the gathered bytes and then `data`, in one system call where the socket takes them.
  bool sendAll(const char* data, size_t size) {
    size_t outDone = 0, dataDone = 0;
    while (outDone < _out.size() || dataDone < size) {
      iovec iov[2];
      int n = 0;
      if (outDone < _out.size()) iov[n++] = {const_cast<char*>(_out.data()) + outDone, _out.size() - outDone};
      if (dataDone < size) iov[n++] = {const_cast<char*>(data) + dataDone, size - dataDone};
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = size_t(n);
      const ssize_t w = ::sendmsg(_fd, &msg, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if ((errno == EAGAIN || errno == EWOULDBLOCK) && waitFor(_fd, POLLOUT, _limits.writeTimeoutMs)) continue;
        _out.clear();
        return fail(), false;
      }
      size_t left = size_t(w);
      const size_t fromOut = std::min(left, _out.size() - outDone);
      outDone += fromOut;
      left -= fromOut;
      dataDone += left;
    }
    _out.clear();
    return true;
  }

  int _fd;
  std::string _ip;
  int _port;
  const HttpLimits& _limits;
  size_t _headerBytes;
  int64_t _bodyBytes;
  int64_t _consumed = 0;
  std::string _buf;
  size_t _pos = 0;
  std::string _out;
  bool _failed = false;
  bool _bodyStarted = false;
  Clock::time_point _bodyStart;
};

} // namespace

HttpServer::HttpServer(HttpLimits limits) : _limits(limits) {
  _limits.threads = std::max(1, _limits.threads);
  set_logger(nullptr);
  set_keep_alive_max_count(size_t(std::max(1, _limits.keepAliveMaxRequests)));
  set_keep_alive_timeout(std::max<time_t>(1, _limits.keepAliveTimeoutMs / 1000));
}

HttpServer::~HttpServer() {
  shutdown();
  if (_listenFd >= 0) ::close(_listenFd);
  if (_epollFd >= 0) ::close(_epollFd);
  if (_wakeFd >= 0) ::close(_wakeFd);
}

HttpServer& HttpServer::set_logger(httplib::Logger logger) {
  httplib::Server::set_logger([logger = std::move(logger)](const httplib::Request& req, const httplib::Response& res) {
    tResponseCloses = res.get_header_value("Connection") == "close";
    if (logger) logger(req, res);
  });
  return *this;
}

core::Result<int> HttpServer::bindAndListen(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return Status{ErrorCode::IoError, "cannot resolve " + host + ": " + ::gai_strerror(rc)};
  int fd = -1;
  std::string why = "no address";
  for (addrinfo* a = found; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) break;
    why = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  if (fd < 0) return Status{ErrorCode::IoError, "cannot listen on " + host + ":" + service + ": " + why};
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int bound = a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&a)->sin6_port)
                                            : ntohs(reinterpret_cast<sockaddr_in*>(&a)->sin_port);
  _listenFd = fd;
  _epollFd = ::epoll_create1(EPOLL_CLOEXEC);
  _wakeFd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (_epollFd < 0 || _wakeFd < 0) return Status{ErrorCode::IoError, std::string("epoll: ") + std::strerror(errno)};
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = _listenFd;
  ::epoll_ctl(_epollFd, EPOLL_CTL_ADD, _listenFd, &ev);
  ev.data.fd = _wakeFd;
  ::epoll_ctl(_epollFd, EPOLL_CTL_ADD, _wakeFd, &ev);
  return bound;
}

void HttpServer::serve() {
  for (int i = 0; i < _limits.threads; ++i) _workers.emplace_back([this] { worker(); });
  loop();
  {
    std::lock_guard lock(_mutex);
    _cv.notify_all();
  }
  for (auto& w : _workers) w.join();
  _workers.clear();
  std::lock_guard lock(_mutex);
  for (auto& r : _ready) {
    ::close(r.conn.fd);
    --_open;
  }
  _ready.clear();
  for (auto& c : _returned) {
    ::close(c.fd);
    --_open;
  }
  _returned.clear();
  _perIp.clear();
}

void HttpServer::shutdown() {
  if (_stopping.exchange(true)) return;
  if (_wakeFd >= 0) {
    const uint64_t one = 1;
    (void)!::write(_wakeFd, &one, sizeof one);
  }
  std::lock_guard lock(_mutex);
  _cv.notify_all();
}

void HttpServer::reject(int fd, int status, const char* code, const char* message) {
  const std::string body = std::string(R"({"error":{"code":")") + code + R"(","message":")" + message + "\"}}";
  const std::string head = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason(status)) +
                           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                           (status == 503 ? "\r\nRetry-After: 1" : "") + "\r\nConnection: close\r\n\r\n";
  const std::string all = head + body;
  (void)!::send(fd, all.data(), all.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

void HttpServer::accept() {
  // Called with _mutex held: the loop never lets go of it between handing a connection to a
  // worker and removing it from epoll and _waiting (a fast worker could hand it back meanwhile).
  while (true) {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    const int fd = ::accept4(_listenFd, reinterpret_cast<sockaddr*>(&a), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return; // EAGAIN, or EMFILE: the backlog waits for the next round
    }
    int port = 0;
    const std::string buf = addressOf(a, port);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int& perIp = _perIp[buf];
    if (int(_open.load()) >= _limits.maxConnections || perIp >= _limits.maxConnectionsPerIp) {
      if (perIp == 0) _perIp.erase(buf);
      ++_refusals.tooMany;
      reject(fd, 503, "TooManyConnections", "Too many open connections; try again.");
      // Drop what the client sent already, so the close is a FIN after the answer, not a reset.
      char sink[16384];
      while (::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
      }
      ::close(fd);
      continue;
    }
    ++perIp;
    ++_open;
    Conn c;
    c.fd = fd;
    c.ip = buf;
    c.port = port;
    c.deadline = Clock::now() + std::chrono::milliseconds(_limits.headerTimeoutMs);
    _waiting[fd] = c;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLET | EPOLLRDHUP;
    ev.data.fd = fd;
    ::epoll_ctl(_epollFd, EPOLL_CTL_ADD, fd, &ev);
  }
}

void HttpServer::closeConn(const Conn& c) {
  ::close(c.fd);
  std::lock_guard lock(_mutex);
  if (auto it = _perIp.find(c.ip); it != _perIp.end() && --it->second <= 0) _perIp.erase(it);
  --_open;
}

void HttpServer::onReadable(Conn& c) {
  // Called with _mutex held; the connection stays in _waiting until it is handed off or closed.
  if (c.lingering) return drain(c);
  std::string& buf = _peek;
  buf.resize(_limits.maxHeaderBytes + kSmallBodyBytes + 1);
  ssize_t n;
  do n = ::recv(c.fd, buf.data(), buf.size(), MSG_PEEK);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) return mark(c, Action::Close);
  if (c.idle) {
    // The first byte of a request: from now on it has headerTimeout to arrive whole.
    c.idle = false;
    c.deadline = Clock::now() + std::chrono::milliseconds(_limits.headerTimeoutMs);
  }
  const std::string_view seen(buf.data(), size_t(n));
  size_t end = seen.find("\r\n\r\n");
  size_t headerBytes = end == std::string_view::npos ? 0 : end + 4;
  if (end == std::string_view::npos) {
    end = seen.find("\n\n");
    headerBytes = end == std::string_view::npos ? 0 : end + 2;
  }
  if (headerBytes == 0 || headerBytes > _limits.maxHeaderBytes + 4) {
    if (size_t(n) > _limits.maxHeaderBytes) {
      ++_refusals.headersTooLarge;
      reject(c.fd, 431, "RequestHeaderFieldsTooLarge", "The request line and headers are too large.");
      linger(c);
    }
    return;
  }
  const std::string_view block = seen.substr(0, headerBytes);
  std::string length, encoding;
  bool hasLength = false, hasEncoding = false;
  int64_t bodyBytes = 0;
  bool okHeaders = headerValue(block, "content-length", length, hasLength) &&
                   headerValue(block, "transfer-encoding", encoding, hasEncoding);
  if (okHeaders && hasEncoding)
    bodyBytes = -1;
  else if (okHeaders && hasLength) {
    okHeaders = !length.empty() && length.size() <= 18 &&
                std::all_of(length.begin(), length.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    if (okHeaders) bodyBytes = std::stoll(length);
  }
  if (!okHeaders || (hasEncoding && hasLength)) {
    ++_refusals.badFraming;
    reject(c.fd, 400, "BadRequest", "The request's Content-Length or Transfer-Encoding is malformed.");
    return linger(c);
  }
  if (bodyBytes > 0 && size_t(bodyBytes) <= kSmallBodyBytes && size_t(n) < headerBytes + size_t(bodyBytes))
    return; // the rest of a small body: awaited here, within the same deadline
  _ready.push_back(Ready{c, headerBytes, bodyBytes});
  mark(c, Action::HandOff);
  _cv.notify_one();
}

void HttpServer::linger(Conn& c) {
  // Answered and closing while the client may still be sending: stop writing, read and drop what
  // comes for a moment, so the client reads the answer instead of a reset.
  ::shutdown(c.fd, SHUT_WR);
  c.lingering = true;
  c.deadline = Clock::now() + std::chrono::milliseconds(kLingerMs);
  drain(c);
}

void HttpServer::drain(Conn& c) {
  char sink[16384];
  while (true) {
    const ssize_t n = ::recv(c.fd, sink, sizeof sink, 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    break;
  }
  mark(c, Action::Close);
}

void HttpServer::mark(Conn& c, Action a) {
  if (c.action != Action::None) return;
  c.action = a;
  _touched.push_back(c.fd);
}

void HttpServer::settle(std::vector<Conn>& closing) {
  // With _mutex held: connections handed to a worker or to be closed leave epoll and _waiting.
  for (int fd : _touched) {
    auto it = _waiting.find(fd);
    if (it == _waiting.end() || it->second.action == Action::None) continue;
    ::epoll_ctl(_epollFd, EPOLL_CTL_DEL, fd, nullptr);
    if (it->second.action == Action::Close) closing.push_back(it->second);
    _waiting.erase(it);
  }
  _touched.clear();
}

void HttpServer::loop() {
  std::vector<epoll_event> events(256);
  auto lastSweep = Clock::now();
  while (!_stopping.load()) {
    const int n = ::epoll_wait(_epollFd, events.data(), int(events.size()), 100);
    if (n < 0 && errno != EINTR) break;
    std::unique_lock lock(_mutex);
    for (int i = 0; i < n; ++i) {
      const int fd = events[size_t(i)].data.fd;
      if (fd == _listenFd) {
        accept();
      } else if (fd == _wakeFd) {
        uint64_t v;
        while (::read(_wakeFd, &v, sizeof v) > 0) {
        }
      } else if (auto it = _waiting.find(fd); it != _waiting.end()) {
        onReadable(it->second);
      }
    }
    std::vector<Conn> closing;
    settle(closing);
    // Connections back from workers wait here for their next request (or drain a lingering close).
    for (Conn& c : _returned) {
      c.action = Action::None;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLET | EPOLLRDHUP;
      ev.data.fd = c.fd;
      _waiting[c.fd] = c;
      ::epoll_ctl(_epollFd, EPOLL_CTL_ADD, c.fd, &ev); // reports data that is already there
    }
    _returned.clear();
    const auto now = Clock::now();
    if (now - lastSweep > std::chrono::milliseconds(100)) {
      lastSweep = now;
      for (auto& [fd, c] : _waiting) {
        if (now < c.deadline || c.action != Action::None) continue;
        if (!c.idle && !c.lingering) {
          ++_refusals.headerTimeout;
          reject(fd, 408, "RequestTimeout", "The request's headers did not arrive in time.");
          linger(c);
          if (c.action == Action::None) continue; // draining: closed at EOF or at the linger deadline
        }
        mark(c, Action::Close);
      }
    }
    settle(closing);
    lock.unlock();
    for (const Conn& c : closing) closeConn(c);
  }
  // Stopping: no new connections; idle and half-received ones are closed.
  ::epoll_ctl(_epollFd, EPOLL_CTL_DEL, _listenFd, nullptr);
  std::vector<Conn> rest;
  {
    std::lock_guard lock(_mutex);
    for (auto& [fd, c] : _waiting) rest.push_back(c);
    _waiting.clear();
  }
  for (const Conn& c : rest) closeConn(c);
}

void HttpServer::worker() {
  while (true) {
    Ready r;
    {
      std::unique_lock lock(_mutex);
      _cv.wait(lock, [&] { return _stopping.load() || !_ready.empty(); });
      if (_ready.empty()) return;
      r = std::move(_ready.front());
      _ready.pop_front();
    }
    answer(std::move(r.conn), r.headerBytes, r.bodyBytes);
  }
}

void HttpServer::answer(Conn c, size_t headerBytes, int64_t bodyBytes) {
  ConnStream stream(c.fd, c.ip, c.port, _limits, headerBytes, bodyBytes);
  const bool last = c.served + 1 >= _limits.keepAliveMaxRequests || _stopping.load();
  bool clientCloses = false;
  tResponseCloses = false;
  bool ok = process_request(stream, last, clientCloses, nullptr);
  ok = stream.flush() && ok && !stream.failed();
  ++c.served;
  const bool keep = ok && !last && !clientCloses && !tResponseCloses && stream.consumedExactly();
  c.idle = true;
  if (keep) {
    c.deadline = Clock::now() + std::chrono::milliseconds(_limits.keepAliveTimeoutMs);
  } else {
    if (!ok || stream.consumedExactly()) {
      // Nothing of this request is left unread: close now.
      closeConn(c);
      return;
    }
    // A response that ends the connection while the client may still be sending (a refused
    // upload): stop writing, and read what comes for a moment, so the client sees the response
    // instead of a reset.
    ::shutdown(c.fd, SHUT_WR);
    c.lingering = true;
    c.deadline = Clock::now() + std::chrono::milliseconds(kLingerMs);
  }
  std::lock_guard lock(_mutex);
  _returned.push_back(std::move(c));
  const uint64_t one = 1;
  (void)!::write(_wakeFd, &one, sizeof one);
}

} // namespace mx::service
