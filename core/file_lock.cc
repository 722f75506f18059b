#include "core/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <filesystem>
#include <string>
#include <system_error>

namespace moerec {
namespace {

StatusOr<int> OpenLockFile(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return IoError("create " + parent.string() + ": " + ec.message());
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("open " + path);
  return fd;
}

// The holder's record, as written by TryAcquire (empty when there is none).
std::string ReadRecord(int fd) {
  char buf[512];
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "";
  std::string s(buf, static_cast<size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

std::string DescribeThisProcess() {
  char host[256] = "unknown";
  if (::gethostname(host, sizeof(host)) != 0) host[0] = '\0';
  host[sizeof(host) - 1] = '\0';
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  char when[32] = "?";
  if (gmtime_r(&now, &tm) != nullptr) std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return "host " + std::string(host) + ", pid " + std::to_string(::getpid()) + ", since " + when;
}

StatusOr<std::unique_ptr<FileLock>> FileLock::Acquire(const std::string& path) {
  ASSIGN_OR_RETURN(const int fd, OpenLockFile(path));
  while (::flock(fd, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    Status s = ErrnoError("lock " + path);
    ::close(fd);
    return s;
  }
  return std::unique_ptr<FileLock>(new FileLock(path, fd));
}

StatusOr<std::unique_ptr<FileLock>> FileLock::TryAcquire(const std::string& path,
                                                         const std::string& what) {
  ASSIGN_OR_RETURN(const int fd, OpenLockFile(path));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder = ReadRecord(fd);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      if (holder.empty()) holder = "another process (it has not recorded itself yet)";
      return FailedPrecondition(what + " is in use by " + holder + " (lock file " + path + ")");
    }
    errno = err;
    return ErrnoError("lock " + path);
  }
  const std::string record = DescribeThisProcess() + "\n";
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, record.data(), record.size(), 0) != static_cast<ssize_t>(record.size())) {
    Status s = ErrnoError("write " + path);
    ::close(fd);
    return s;
  }
  return std::unique_ptr<FileLock>(new FileLock(path, fd));
}

FileLock::~FileLock() { ::close(fd_); }  // closing the last descriptor releases the flock

}  // namespace moerec
