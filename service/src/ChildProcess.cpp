#include "ChildProcess.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <thread>

extern char** environ;

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

ChildOutcome runChild(const std::vector<std::string>& argv, const std::filesystem::path& logFile, const ChildLimits& limits,
                      const std::function<void(int)>& onStart, const std::function<bool()>& stop) {
  ChildOutcome out;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // Own process group (a kill reaches a wrapper's children too; the terminal's Ctrl-C does not),
  // default signal dispositions and an empty mask whatever the service thread blocked.
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    out.message = "cannot start " + argv[0] + ": " + std::strerror(rc);
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
      if (killedFor != ChildOutcome::Kind::Exited) out.kind = killedFor;
      else if (WIFEXITED(status)) out.kind = ChildOutcome::Kind::Exited, out.code = WEXITSTATUS(status);
      else out.kind = ChildOutcome::Kind::Signalled, out.code = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
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
      if (killedFor != ChildOutcome::Kind::Exited) kill(-pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
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
