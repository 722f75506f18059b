// The moerec shard format (*.mrs): binary, columnar, zstd-compressed blocks of samples. The
// byte layout is in docs/formats.md:
//   "MRSHARD1" | u32 header_len | u32 crc32(header) | ShardHeader
//   block*     (u32 raw_size | u32 compressed_size | u32 samples | u32 crc32(payload) | zstd)
//   ShardFooter | u32 footer_len | u32 crc32(footer) | "MRSHARD1"
// All integers little-endian. A block payload decompresses to the columns of a Batch:
// domain i32[n], user u64[n], labels f32[n*T], mask u8[n*T], truth f32[n*T] (has_truth only),
// dense f32[n*F], then per slot offsets u32[n+1] and ids u64[nnz].
//
// ShardWriter writes a temporary file of its own next to `path` and renames it to `path` in
// Close(), so a shard under its final name is always complete, even when writers race. Not
// thread-safe; one writer per file. ShardReader validates everything it reads; a damaged file gives
// a Corruption status naming the file, the block and the problem. ReadBlock is thread-safe (pread,
// pooled scratch).
#ifndef MOEREC_DATA_SHARD_H_
#define MOEREC_DATA_SHARD_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "core/status.h"
#include "data/batch.h"
#include "proto/data.pb.h"

namespace moerec {

inline constexpr uint32_t kShardVersion = 1;
inline constexpr char kShardExtension[] = ".mrs";
// A block never decompresses to more than this; the writer cuts blocks to stay below it and
// the reader rejects anything larger (bounds the allocation a damaged file can cause).
inline constexpr uint32_t kMaxBlockRawBytes = 64u << 20;
inline constexpr uint32_t kMaxBlockSamples = 1u << 20;

// Checks a header's dimensions (tasks >= 1, slot names match num_slots, num_domains >= 1, ...).
Status ValidateShardHeader(const ShardHeader& header);

class ShardWriter {
 public:
  // `header.version` is set by the writer. block_samples in [1, kMaxBlockSamples].
  // zstd_level: 1 (fast) .. 19 (small); 3 is zstd's default.
  static StatusOr<std::unique_ptr<ShardWriter>> Open(const std::string& path,
                                                     const ShardHeader& header,
                                                     int block_samples = 4096, int zstd_level = 3);
  // Abandons an unclosed shard: its temporary file is removed and `path` is not touched.
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Buffers `batch` (any size; must match the header's layout and pass Batch::Validate) and
  // writes every full block. After an error the writer stays failed.
  Status Append(const Batch& batch);
  // Writes the last partial block and the footer and commits the file (core/file_util.h).
  Status Close();

  int64_t num_samples() const { return num_samples_; }
  const std::string& path() const { return path_; }

 private:
  ShardWriter(std::unique_ptr<AtomicFile> file, ShardHeader header, int block_samples,
              int zstd_level);
  Status WriteBytes(const void* data, size_t size);
  Status FlushBlock(const Batch& block);

  const std::unique_ptr<AtomicFile> file_;
  const std::string path_;
  const ShardHeader header_;
  const int block_samples_;
  const int zstd_level_;
  bool closed_ = false;
  Status status_;
  int64_t num_samples_ = 0;
  Batch pending_;
  ShardFooter footer_;
  std::vector<char> raw_;
  std::vector<char> compressed_;
  void* cctx_ = nullptr;  // ZSTD_CCtx
};

class ShardReader {
 public:
  static StatusOr<std::unique_ptr<ShardReader>> Open(const std::string& path);
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  const std::string& path() const { return path_; }
  const ShardHeader& header() const { return header_; }
  int num_blocks() const { return footer_.block_offsets_size(); }
  int64_t num_samples() const { return num_samples_; }
  int64_t block_samples(int i) const { return footer_.block_samples(i); }

  // Decodes block i into *out (its buffers are reused). Thread-safe.
  Status ReadBlock(int i, Batch* out) const;

 private:
  struct Scratch;
  ShardReader(std::string path, int fd, uint64_t file_size);
  Status ReadLayout();
  Status ReadAt(uint64_t offset, size_t size, void* dst) const;
  Status DecodeBlock(int i, Scratch* scratch, Batch* out) const;
  Status Error(const std::string& what) const;

  const std::string path_;
  const int fd_;
  const uint64_t file_size_;
  uint64_t footer_start_ = 0;
  int64_t num_samples_ = 0;
  ShardHeader header_;
  ShardFooter footer_;

  mutable std::mutex scratch_mu_;
  mutable std::vector<std::unique_ptr<Scratch>> free_scratch_;  // GUARDED_BY(scratch_mu_)
};

}  // namespace moerec

#endif  // MOEREC_DATA_SHARD_H_
