#include "ChildProcess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <thread>

namespace mx::service {

namespace {
int64_t residentBytes(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;
  return 0;
}
} // namespace

ChildOutcome runChild(const std::vector<std::string>& argv, const std::filesystem::path& logFile,
                      const ChildLimits& limits, const std::function<void(int)>& onStart,
                      const std::function<bool()>& stop) {
  ChildOutcome out;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The environment is built here too: after fork() only async-signal-safe calls.
  std::vector<std::string> envText = limits.environment;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    const std::string name = entry.substr(0, entry.find('='));
    bool overridden = false;
    for (const auto& mine : limits.environment) overridden |= mine.rfind(name + "=", 0) == 0;
    if (!overridden) envText.push_back(entry);
  }
  std::vector<char*> env;
  for (auto& e : envText) env.push_back(e.data());
  env.push_back(nullptr);
  // Everything the child needs is prepared here: after fork() only async-signal-safe calls.
  const int logFd = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (logFd < 0) {
    out.message = "cannot open the tiler log: " + std::string(std::strerror(errno));
    return out;
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Own process group (a kill reaches a wrapper's children too; the terminal's Ctrl-C does not).
    ::setpgid(0, 0);
    // Die with the service; a service killed between fork() and here is caught by the check.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    // Default dispositions and an empty mask, whatever the service thread blocked.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    sigset_t empty;
    sigemptyset(&empty);
    ::sigprocmask(SIG_SETMASK, &empty, nullptr);
    const int devNull = ::open("/dev/null", O_RDONLY);
    if (devNull < 0 || ::dup2(devNull, 0) < 0 || ::dup2(logFd, 1) < 0 || ::dup2(logFd, 2) < 0) ::_exit(127);
    if (limits.inheritFd >= 0 && ::dup2(limits.inheritFd, 3) < 0) ::_exit(127);
    ::execve(args[0], args.data(), env.data());
    const char msg[] = "meshexport: cannot start the tiler\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(logFd);
  // Both sides set the group: whichever runs first, a kill of the group reaches the child.
  if (pid > 0) ::setpgid(pid, pid);
  if (pid < 0) {
    out.message = "cannot start " + argv[0] + ": " + std::strerror(errno);
    return out;
  }
  if (onStart) onStart(pid);

  const auto start = std::chrono::steady_clock::now();
  ChildOutcome::Kind killedFor = ChildOutcome::Kind::Exited;
  int ticks = 0;
  while (true) {
    int status = 0;
    const pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      // Anything the tiler left in its group goes with it.
      kill(-pid, SIGKILL);
      if (killedFor != ChildOutcome::Kind::Exited)
        out.kind = killedFor;
      else if (WIFEXITED(status))
        out.kind = ChildOutcome::Kind::Exited, out.code = WEXITSTATUS(status);
      else
        out.kind = ChildOutcome::Kind::Signalled, out.code = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      return out;
    }
    if (w < 0 && errno != EINTR) {
      out.kind = ChildOutcome::Kind::Signalled;
      out.message = std::string("waitpid: ") + std::strerror(errno);
      return out;
    }
    if (killedFor == ChildOutcome::Kind::Exited) {
      if (++ticks % 5 == 1) {
        const int64_t rss = residentBytes(pid);
        out.peakRssBytes = std::max(out.peakRssBytes, rss);
        if (limits.memoryBytes > 0 && rss > limits.memoryBytes) killedFor = ChildOutcome::Kind::OutOfMemory;
      }
      if (std::chrono::steady_clock::now() - start > limits.timeout) killedFor = ChildOutcome::Kind::TimedOut;
      if (stop && stop()) killedFor = ChildOutcome::Kind::Stopped;
      if (killedFor != ChildOutcome::Kind::Exited) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

core::Result<PidLock> lockJob(const std::filesystem::path& file, std::chrono::milliseconds wait) {
  MX_ASSIGN_OR_RETURN(PidLock lock, PidLock::open(file));
  if (lock.tryLock()) return lock;
  // An earlier run's tiler still holds it (its service was killed): end that tiler first.
  const int holder = lock.holder();
  if (holder > 1) {
    ::kill(-holder, SIGKILL);
    ::kill(holder, SIGKILL);
  }
  const auto end = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < end) {
    if (lock.tryLock()) return lock;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return core::Status{core::ErrorCode::Unavailable,
                      "another tiler (pid " + std::to_string(holder) + ") still runs this export and did not stop"};
}

std::string lastLine(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line, last;
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  // Drop the logger's "[12:00:00.000 error] " prefix.
  if (!last.empty() && last[0] == '[') {
    const auto close = last.find("] ");
    if (close != std::string::npos) last = last.substr(close + 2);
  }
  if (last.size() > 500) last = last.substr(0, 500) + "…";
  return last;
}

} // namespace mx::service
