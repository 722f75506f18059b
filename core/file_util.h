// Durable files. Every file moerec must not lose (shards, converter output, checkpoint files
// and manifests, dense parameter files) is written through AtomicFile: the bytes go to a
// temporary file of the writer's own beside the target ("<path>.tmp.<pid>.<n>"), and Commit()
// flushes them, fsyncs the file, renames it over the target and fsyncs the folder. So a target
// is either absent, its previous contents, or complete new contents, after any crash; writers
// racing on one path never share a temporary. An AtomicFile destroyed without Commit() removes
// its temporary and leaves the target untouched.
// Checksums are CRC-32 (core/checksum.h) of the bytes appended, in order.
// Thread-safety: none (one owner per object); the free functions are safe to call concurrently.
#ifndef MOEREC_CORE_FILE_UTIL_H_
#define MOEREC_CORE_FILE_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace moerec {

class AtomicFile {
 public:
  // Creates the temporary file for `path` (whose folder must exist).
  static StatusOr<std::unique_ptr<AtomicFile>> Create(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Buffers `data` (1 MiB), writing when the buffer is full. After an error the file stays
  // failed and Commit() returns that error.
  Status Append(std::string_view data);
  Status Append(const void* data, size_t n) {
    return Append(std::string_view(static_cast<const char*>(data), n));
  }
  // The one durable write: the rest of the buffer, fsync, close, rename over the target,
  // fsync of the target's folder. On any failure the temporary is removed and the target is
  // unchanged (or, after a failed folder fsync, possibly already replaced).
  Status Commit();

  const std::string& path() const { return path_; }  // the target
  uint64_t size() const { return size_; }            // bytes appended so far
  uint32_t crc() const { return crc_; }              // CRC-32 of those bytes

 private:
  AtomicFile(std::string path, std::string tmp_path, int fd)
      : path_(std::move(path)), tmp_path_(std::move(tmp_path)), fd_(fd) {}
  Status Drain();
  void Abandon();

  const std::string path_;
  const std::string tmp_path_;
  int fd_;  // -1 once committed or abandoned
  Status status_;
  std::string buffer_;
  uint64_t size_ = 0;
  uint32_t crc_ = 0;
};

// Replaces `path` with `contents` through an AtomicFile.
Status WriteFileAtomically(const std::string& path, std::string_view contents);

// rename(from, to), then fsync of the folder holding `to` (for a folder put in place whole,
// such as a converter's staged output; the files in it must already be durable).
Status RenameDurably(const std::string& from, const std::string& to);

// Copies `from` to `to` through an AtomicFile (durable, in place only whole); *size and *crc
// (either may be null) get the size and CRC-32 of the bytes copied.
Status CopyFileDurably(const std::string& from, const std::string& to, uint64_t* size,
                       uint32_t* crc);

// Bytes free to an unprivileged writer on the file system holding `path` (a file or folder;
// the nearest existing folder above it is asked); -1 when unknown.
int64_t FreeBytes(const std::string& path);

// fsync of a folder (makes renames and new files in it durable).
Status SyncDir(const std::string& dir);

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

// Size and CRC-32 of a whole file.
Status ChecksumFile(const std::string& path, uint64_t* size, uint32_t* crc);

Status ReadFileToString(const std::string& path, std::string* out);

}  // namespace moerec

#endif  // MOEREC_CORE_FILE_UTIL_H_
