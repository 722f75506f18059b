#include "ps/internal/row_file.h"

#include <algorithm>
#include <cstring>

namespace moerec {
namespace {

constexpr size_t kMagicBytes = 8;
constexpr size_t kRecordHeadBytes = 20;
constexpr size_t kChunkBytes = 4 << 20;

}  // namespace

StatusOr<std::unique_ptr<RowFileWriter>> RowFileWriter::Create(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file, AtomicFile::Create(path));
  RETURN_IF_ERROR(file->Append(std::string_view(kRowFileMagic, kMagicBytes)));
  return std::unique_ptr<RowFileWriter>(new RowFileWriter(std::move(file)));
}

Status RowFileWriter::Record(uint64_t table_hash, uint64_t key, uint32_t n,
                             std::string_view value) {
  record_.resize(kRecordHeadBytes);
  std::memcpy(record_.data(), &table_hash, 8);
  std::memcpy(record_.data() + 8, &key, 8);
  std::memcpy(record_.data() + 16, &n, 4);
  record_.append(value);
  return file_->Append(record_);
}

Status RowFileWriter::Put(uint64_t table_hash, uint64_t key, std::string_view value) {
  CHECK_LT(value.size(), kDeletedRow);
  return Record(table_hash, key, static_cast<uint32_t>(value.size()), value);
}

Status RowFileWriter::Delete(uint64_t table_hash, uint64_t key) {
  return Record(table_hash, key, kDeletedRow, std::string_view());
}

Status RowFileWriter::Close() { return file_->Commit(); }

StatusOr<std::unique_ptr<RowFileReader>> RowFileReader::Open(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<FileReader> file, FileReader::Open(path));
  std::unique_ptr<RowFileReader> reader(new RowFileReader(std::move(file)));
  ASSIGN_OR_RETURN(const bool whole, reader->Fill(kMagicBytes));
  if (!whole || std::memcmp(reader->buffer_.data(), kRowFileMagic, kMagicBytes) != 0) {
    return Corruption(path + ": not a row file (bad magic)");
  }
  reader->pos_ = kMagicBytes;
  return reader;
}

StatusOr<bool> RowFileReader::Fill(size_t n) {
  if (buffer_.size() - pos_ >= n) return true;
  buffer_.erase(0, pos_);
  offset_ += pos_;
  pos_ = 0;
  while (buffer_.size() < n) {
    size_t got = 0;
    RETURN_IF_ERROR(file_->Read(std::max(kChunkBytes, n - buffer_.size()), &chunk_, &got));
    if (got == 0) return false;
    buffer_.append(chunk_, 0, got);
  }
  return true;
}

StatusOr<bool> RowFileReader::Next(RowFileRecord* record, size_t max_value_bytes) {
  ASSIGN_OR_RETURN(bool more, Fill(1));
  if (!more) return false;
  const uint64_t at = offset_ + pos_;
  ASSIGN_OR_RETURN(more, Fill(kRecordHeadBytes));
  if (!more) {
    return Corruption(file_->path() + ": record at offset " + std::to_string(at) +
                      " is cut short (truncated file?)");
  }
  uint32_t n = 0;
  std::memcpy(&record->table_hash, buffer_.data() + pos_, 8);
  std::memcpy(&record->key, buffer_.data() + pos_ + 8, 8);
  std::memcpy(&n, buffer_.data() + pos_ + 16, 4);
  pos_ += kRecordHeadBytes;
  record->deleted = n == kDeletedRow;
  if (record->deleted) {
    record->value = std::string_view();
    return true;
  }
  if (n > max_value_bytes) {
    return Corruption(file_->path() + ": record at offset " + std::to_string(at) + " has " +
                      std::to_string(n) + " value bytes, at most " +
                      std::to_string(max_value_bytes) + " expected");
  }
  ASSIGN_OR_RETURN(more, Fill(n));
  if (!more) {
    return Corruption(file_->path() + ": record at offset " + std::to_string(at) +
                      " is cut short (truncated file?)");
  }
  record->value = std::string_view(buffer_.data() + pos_, n);
  pos_ += n;
  return true;
}

}  // namespace moerec
