#include "core/file_util.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "core/checksum.h"

namespace moerec {
namespace {

constexpr size_t kBufferBytes = 1 << 20;

std::string ParentDir(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

}  // namespace

int64_t FreeBytes(const std::string& path) {
  std::string p = path.empty() ? "." : path;
  for (int up = 0; up < 64; ++up) {
    struct statvfs fs;
    if (::statvfs(p.c_str(), &fs) == 0) {
      return static_cast<int64_t>(static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize);
    }
    if (errno != ENOENT || p == "/" || p == ".") return -1;
    p = ParentDir(p);
  }
  return -1;
}

namespace {

// ErrnoError for `what` on `path`; when the disk is full, with the bytes still to write and the
// bytes free where `path` lives.
Status FileError(const std::string& what, const std::string& path, uint64_t bytes_needed) {
  const int err = errno;
  Status s = ErrnoError(what + " " + path);
  if (err != ENOSPC && err != EDQUOT) return s;
  const int64_t free_bytes = FreeBytes(path);
  return ResourceExhausted(s.message() + " (" + std::to_string(bytes_needed) +
                           " more bytes to write, " +
                           (free_bytes < 0 ? std::string("unknown") : std::to_string(free_bytes)) +
                           " bytes free in " + ParentDir(path) + ")");
}

Status WriteAll(int fd, const char* data, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return FileError("write", path, n);
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Status::OK();
}

}  // namespace

StatusOr<std::unique_ptr<AtomicFile>> AtomicFile::Create(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("create " + tmp);
  return std::unique_ptr<AtomicFile>(new AtomicFile(path, std::move(tmp), fd));
}

AtomicFile::~AtomicFile() { Abandon(); }

void AtomicFile::Abandon() {
  if (fd_ < 0) return;
  ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_path_.c_str());
}

Status AtomicFile::Append(std::string_view data) {
  RETURN_IF_ERROR(status_);
  if (fd_ < 0) return FailedPrecondition(path_ + ": Append after Commit");
  crc_ = Crc32Extend(crc_, data.data(), data.size());
  size_ += data.size();
  if (buffer_.size() + data.size() > kBufferBytes) {
    RETURN_IF_ERROR(Drain());
    if (data.size() > kBufferBytes) {
      status_ = WriteAll(fd_, data.data(), data.size(), tmp_path_);
      return status_;
    }
  }
  buffer_.append(data);
  return Status::OK();
}

Status AtomicFile::Drain() {
  status_ = WriteAll(fd_, buffer_.data(), buffer_.size(), tmp_path_);
  buffer_.clear();
  return status_;
}

Status AtomicFile::Commit() {
  RETURN_IF_ERROR(status_);
  if (fd_ < 0) return FailedPrecondition(path_ + ": Commit called twice");
  Status s = Drain();
  if (s.ok() && ::fsync(fd_) != 0) s = FileError("fsync", tmp_path_, 0);
  if (!s.ok()) {
    Abandon();
    return status_ = s;
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) s = ErrnoError("close " + tmp_path_);
  if (s.ok() && ::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    s = ErrnoError("rename " + tmp_path_ + " to " + path_);
  }
  if (!s.ok()) {
    ::unlink(tmp_path_.c_str());
    return status_ = s;
  }
  return status_ = SyncDir(ParentDir(path_));
}

Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file, AtomicFile::Create(path));
  RETURN_IF_ERROR(file->Append(contents));
  return file->Commit();
}

Status RenameDurably(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoError("rename " + from + " to " + to);
  return SyncDir(ParentDir(to));
}

StatusOr<std::unique_ptr<FileReader>> FileReader::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open " + path);
  return std::unique_ptr<FileReader>(new FileReader(path, fd));
}

FileReader::~FileReader() {
  if (fd_ >= 0) ::close(fd_);
}

Status FileReader::Read(size_t n, std::string* out, size_t* got) {
  out->resize(n);
  size_t have = 0;
  while (have < n) {
    const ssize_t r = ::read(fd_, out->data() + have, n - have);
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read " + path_);
    }
    if (r == 0) break;
    have += static_cast<size_t>(r);
  }
  out->resize(have);
  *got = have;
  return Status::OK();
}

Status ChecksumFile(const std::string& path, uint64_t* size, uint32_t* crc) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileReader> in, FileReader::Open(path));
  std::string chunk;
  *size = 0;
  *crc = 0;
  for (;;) {
    size_t got = 0;
    RETURN_IF_ERROR(in->Read(4 * kBufferBytes, &chunk, &got));
    if (got == 0) break;
    *crc = Crc32Extend(*crc, chunk.data(), got);
    *size += got;
  }
  return Status::OK();
}

Status SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("open folder " + dir);
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return ErrnoError("fsync folder " + dir);
  return Status::OK();
}

Status CopyFileDurably(const std::string& from, const std::string& to, uint64_t* size,
                       uint32_t* crc) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileReader> in, FileReader::Open(from));
  ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> out, AtomicFile::Create(to));
  std::string chunk;
  for (;;) {
    size_t got = 0;
    RETURN_IF_ERROR(in->Read(4 * kBufferBytes, &chunk, &got));
    if (got == 0) break;
    RETURN_IF_ERROR(out->Append(std::string_view(chunk.data(), got)));
  }
  RETURN_IF_ERROR(out->Commit());
  if (size != nullptr) *size = out->size();
  if (crc != nullptr) *crc = out->crc();
  return Status::OK();
}

Status ReadFileToString(const std::string& path, std::string* out) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileReader> in, FileReader::Open(path));
  out->clear();
  std::string chunk;
  for (;;) {
    size_t got = 0;
    RETURN_IF_ERROR(in->Read(kBufferBytes, &chunk, &got));
    if (got == 0) break;
    out->append(chunk);
  }
  return Status::OK();
}

}  // namespace moerec
