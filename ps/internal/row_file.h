// Row files: the rows of a memory-only server's full checkpoint, and the changed and deleted
// rows of an incremental checkpoint.
//
// Layout (little-endian): the magic "MOEROWS1", then records
//   u64 table name_hash | u64 feature id | u32 n | n bytes: the row's stored value
//   (ps/row_codec.h); n = kDeletedRow marks a deleted row and has no value bytes.
// The file carries no checksum of its own: the checkpoint manifest holds its size and crc32.
// Thread-safety: none.
#ifndef MOEREC_PS_INTERNAL_ROW_FILE_H_
#define MOEREC_PS_INTERNAL_ROW_FILE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/file_util.h"
#include "core/status.h"

namespace moerec {

inline constexpr char kRowFileMagic[] = "MOEROWS1";
inline constexpr uint32_t kDeletedRow = 0xffffffffu;

class RowFileWriter {
 public:
  static StatusOr<std::unique_ptr<RowFileWriter>> Create(const std::string& path);

  Status Put(uint64_t table_hash, uint64_t key, std::string_view value);
  Status Delete(uint64_t table_hash, uint64_t key);
  // Commits the file (core/file_util.h: it appears under its name only whole and durable);
  // its size and CRC-32 stay available.
  Status Close();
  uint64_t size() const { return file_->size(); }
  uint32_t crc() const { return file_->crc(); }

 private:
  explicit RowFileWriter(std::unique_ptr<AtomicFile> file) : file_(std::move(file)) {}
  Status Record(uint64_t table_hash, uint64_t key, uint32_t n, std::string_view value);

  std::unique_ptr<AtomicFile> file_;
  std::string record_;
};

struct RowFileRecord {
  uint64_t table_hash = 0;
  uint64_t key = 0;
  bool deleted = false;
  std::string_view value;  // valid until the next call of Next
};

class RowFileReader {
 public:
  // Corruption when the magic is wrong.
  static StatusOr<std::unique_ptr<RowFileReader>> Open(const std::string& path);

  // The next record; false at the end of the file. Corruption (naming the file and offset)
  // for a record cut short or longer than max_value_bytes.
  StatusOr<bool> Next(RowFileRecord* record, size_t max_value_bytes);

 private:
  explicit RowFileReader(std::unique_ptr<FileReader> file) : file_(std::move(file)) {}
  // Makes at least n bytes available at pos_; false when the file ends first.
  StatusOr<bool> Fill(size_t n);

  std::unique_ptr<FileReader> file_;
  std::string buffer_;
  std::string chunk_;
  size_t pos_ = 0;
  uint64_t offset_ = 0;  // file offset of buffer_[0]
};

}  // namespace moerec

#endif  // MOEREC_PS_INTERNAL_ROW_FILE_H_
