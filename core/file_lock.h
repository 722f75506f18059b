// FileLock: an exclusive advisory lock (flock(2)) on a file, held for the object's life. The
// kernel releases it when the holder exits in any way, kill -9 included, so a lock never
// outlives a dead holder (a leftover lock file is stale and is simply taken).
//
// Acquire waits for the lock (jobs that want the same generated dataset take turns). TryAcquire
// takes it or fails at once: it records its holder in the file ("host H, pid P, since T"), and
// a refused caller gets FailedPrecondition with the holder's record, so the message names who
// holds it. The descriptor is close-on-exec: programs the holder starts do not hold the lock.
// Thread-safety: an object is owned by one thread; different objects may lock different files.
#ifndef MOEREC_CORE_FILE_LOCK_H_
#define MOEREC_CORE_FILE_LOCK_H_

#include <memory>
#include <string>

#include "core/status.h"

namespace moerec {

class FileLock {
 public:
  // Creates `path` (and its folder) when missing, then waits for the lock.
  static StatusOr<std::unique_ptr<FileLock>> Acquire(const std::string& path);
  // Takes the lock at once or fails: FailedPrecondition "<what> is in use by <holder>".
  static StatusOr<std::unique_ptr<FileLock>> TryAcquire(const std::string& path,
                                                        const std::string& what);
  ~FileLock();  // releases the lock (the file stays)
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  FileLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  const std::string path_;
  const int fd_;
};

// "host <hostname>, pid <pid>, since <UTC time>" for this process.
std::string DescribeThisProcess();

}  // namespace moerec

#endif  // MOEREC_CORE_FILE_LOCK_H_
