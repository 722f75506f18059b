// Files of checkpoints: a buffered writer that checksums what it writes and syncs on Close,
// whole-file checksums, atomic replacement (write a temporary, fsync, rename, fsync the
// folder), and a buffered reader. Checksums are zlib's crc32.
// Thread-safety: none (one owner per object).
#ifndef MOEREC_PS_INTERNAL_FILE_UTIL_H_
#define MOEREC_PS_INTERNAL_FILE_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace moerec {

class FileWriter {
 public:
  // Creates or truncates `path`.
  static StatusOr<std::unique_ptr<FileWriter>> Create(const std::string& path);
  ~FileWriter();

  Status Append(std::string_view data);
  // Writes the buffer, fsyncs and closes.
  Status Close();

  uint64_t size() const { return size_; }
  uint32_t crc() const { return crc_; }

 private:
  FileWriter(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  Status Drain();

  std::string path_;
  int fd_;
  std::string buffer_;
  uint64_t size_ = 0;
  uint32_t crc_ = 0;
};

// Reads a file front to back in large chunks.
class FileReader {
 public:
  static StatusOr<std::unique_ptr<FileReader>> Open(const std::string& path);
  ~FileReader();

  // Reads exactly n bytes into out (n <= 16 MiB); OK with *got < n only at the end of the file.
  Status Read(size_t n, std::string* out, size_t* got);
  const std::string& path() const { return path_; }

 private:
  FileReader(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::string path_;
  int fd_;
};

// Size and crc32 of a whole file.
Status ChecksumFile(const std::string& path, uint64_t* size, uint32_t* crc);

// Replaces `path` with `contents` atomically and durably.
Status WriteFileAtomically(const std::string& path, std::string_view contents);

Status ReadFileToString(const std::string& path, std::string* out);

// fsync of a folder (makes renames and new files in it durable).
Status SyncDir(const std::string& dir);

}  // namespace moerec

#endif  // MOEREC_PS_INTERNAL_FILE_UTIL_H_
