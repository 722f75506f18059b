#include "ps/internal/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/checksum.h"

namespace moerec {
namespace {

constexpr size_t kBufferBytes = 1 << 20;

Status WriteAll(int fd, const char* data, size_t n, const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write " + path);
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Status::OK();
}

}  // namespace

StatusOr<std::unique_ptr<FileWriter>> FileWriter::Create(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("create " + path);
  return std::unique_ptr<FileWriter>(new FileWriter(path, fd));
}

FileWriter::~FileWriter() {
  if (fd_ >= 0) ::close(fd_);
}

Status FileWriter::Append(std::string_view data) {
  crc_ = Crc32Extend(crc_, data.data(), data.size());
  size_ += data.size();
  if (buffer_.size() + data.size() > kBufferBytes) {
    RETURN_IF_ERROR(Drain());
    if (data.size() > kBufferBytes) return WriteAll(fd_, data.data(), data.size(), path_);
  }
  buffer_.append(data);
  return Status::OK();
}

Status FileWriter::Drain() {
  Status s = WriteAll(fd_, buffer_.data(), buffer_.size(), path_);
  buffer_.clear();
  return s;
}

Status FileWriter::Close() {
  RETURN_IF_ERROR(Drain());
  if (::fsync(fd_) != 0) return ErrnoError("fsync " + path_);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return ErrnoError("close " + path_);
  return Status::OK();
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

Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  const std::string tmp = path + ".tmp";
  ASSIGN_OR_RETURN(std::unique_ptr<FileWriter> w, FileWriter::Create(tmp));
  RETURN_IF_ERROR(w->Append(contents));
  RETURN_IF_ERROR(w->Close());
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("rename " + tmp + " to " + path);
  const size_t slash = path.find_last_of('/');
  return SyncDir(slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash)));
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
