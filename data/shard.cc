#include "data/shard.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

#include "core/checksum.h"

namespace moerec {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the shard format is little-endian; add byte swapping for this platform");

constexpr char kMagic[8] = {'M', 'R', 'S', 'H', 'A', 'R', 'D', '1'};
constexpr size_t kPreambleBytes = 16;     // magic, header_len, header_crc
constexpr size_t kTrailerBytes = 16;      // footer_len, footer_crc, magic
constexpr size_t kBlockHeaderBytes = 16;  // raw, compressed, samples, crc
constexpr uint32_t kMaxHeaderBytes = 1u << 24;

void PutU32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
uint32_t GetU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Bytes of the fixed-width columns of n samples (everything but the slot ids).
uint64_t FixedBytes(uint64_t n, const ShardHeader& h) {
  const uint64_t t = h.num_tasks();
  return n * (4 + 8 + t * (4 + 1 + (h.has_truth() ? 4 : 0)) + 4ull * h.num_dense()) +
         4ull * (n + 1) * h.num_slots();
}

uint64_t RawBytes(const Batch& b, const ShardHeader& h) {
  uint64_t bytes = FixedBytes(b.size, h);
  for (const auto& ids : b.ids) bytes += 8ull * ids.size();
  return bytes;
}

template <typename T>
char* PutColumn(const std::vector<T>& v, char* p) {
  if (!v.empty()) std::memcpy(p, v.data(), v.size() * sizeof(T));
  return p + v.size() * sizeof(T);
}

// Bounded reader over a decompressed payload.
class Cursor {
 public:
  Cursor(const char* p, size_t n) : p_(p), left_(n) {}
  template <typename T>
  bool Take(size_t count, std::vector<T>* out) {
    if (count > left_ / sizeof(T)) return false;
    out->resize(count);
    if (count > 0) std::memcpy(out->data(), p_, count * sizeof(T));
    p_ += count * sizeof(T);
    left_ -= count * sizeof(T);
    return true;
  }
  size_t left() const { return left_; }

 private:
  const char* p_;
  size_t left_;
};

}  // namespace

Status ValidateShardHeader(const ShardHeader& h) {
  if (h.num_tasks() < 1 || h.num_tasks() > 1024) {
    return InvalidArgument("num_tasks " + std::to_string(h.num_tasks()) + " not in [1, 1024]");
  }
  if (h.num_slots() < 0 || h.num_slots() > 65536) {
    return InvalidArgument("num_slots " + std::to_string(h.num_slots()) + " not in [0, 65536]");
  }
  if (h.num_dense() < 0 || h.num_dense() > (1 << 20)) {
    return InvalidArgument("num_dense " + std::to_string(h.num_dense()) + " not in [0, 2^20]");
  }
  if (h.slot_names_size() != h.num_slots()) {
    return InvalidArgument(std::to_string(h.slot_names_size()) + " slot_names for num_slots " +
                           std::to_string(h.num_slots()));
  }
  if (!h.has_num_domains() || h.num_domains() < 1) {
    return InvalidArgument("num_domains must be >= 1");
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------------------
// ShardWriter

StatusOr<std::unique_ptr<ShardWriter>> ShardWriter::Open(const std::string& path,
                                                         const ShardHeader& header,
                                                         int block_samples, int zstd_level) {
  RETURN_IF_ERROR(ValidateShardHeader(header).WithContext(path));
  if (block_samples < 1 || static_cast<uint32_t>(block_samples) > kMaxBlockSamples) {
    return InvalidArgument(path + ": block_samples " + std::to_string(block_samples) +
                           " not in [1, " + std::to_string(kMaxBlockSamples) + "]");
  }
  if (zstd_level < 1 || zstd_level > ZSTD_maxCLevel()) {
    return InvalidArgument("zstd_level " + std::to_string(zstd_level) + " not in [1, " +
                           std::to_string(ZSTD_maxCLevel()) + "]");
  }
  ShardHeader h = header;
  h.set_version(kShardVersion);
  ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> file, AtomicFile::Create(path));
  std::unique_ptr<ShardWriter> w(
      new ShardWriter(std::move(file), std::move(h), block_samples, zstd_level));
  std::string bytes;
  CHECK(w->header_.SerializeToString(&bytes));
  char pre[kPreambleBytes];
  std::memcpy(pre, kMagic, 8);
  PutU32(pre + 8, static_cast<uint32_t>(bytes.size()));
  PutU32(pre + 12, Crc32(bytes.data(), bytes.size()));
  RETURN_IF_ERROR(w->WriteBytes(pre, sizeof(pre)));
  RETURN_IF_ERROR(w->WriteBytes(bytes.data(), bytes.size()));
  return w;
}

ShardWriter::ShardWriter(std::unique_ptr<AtomicFile> file, ShardHeader header, int block_samples,
                         int zstd_level)
    : file_(std::move(file)),
      path_(file_->path()),
      header_(std::move(header)),
      block_samples_(block_samples),
      zstd_level_(zstd_level),
      cctx_(ZSTD_createCCtx()) {
  CHECK(cctx_ != nullptr);
  pending_.Reset(header_.num_tasks(), header_.num_slots(), header_.num_dense());
}

ShardWriter::~ShardWriter() {
  // An uncommitted file_ removes its temporary.
  ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_));
}

Status ShardWriter::WriteBytes(const void* data, size_t size) {
  status_ = file_->Append(data, size);
  return status_;
}

Status ShardWriter::Append(const Batch& batch) {
  RETURN_IF_ERROR(status_);
  if (closed_) return FailedPrecondition(path_ + ": Append after Close");
  if (batch.num_tasks != header_.num_tasks() || batch.num_slots != header_.num_slots() ||
      batch.num_dense != header_.num_dense()) {
    return InvalidArgument(path_ + ": batch layout (tasks " + std::to_string(batch.num_tasks) +
                           ", slots " + std::to_string(batch.num_slots) + ", dense " +
                           std::to_string(batch.num_dense) + ") does not match the header");
  }
  if (batch.size > 0 && batch.has_truth() != header_.has_truth()) {
    return InvalidArgument(path_ + ": batch truth column does not match header has_truth");
  }
  RETURN_IF_ERROR(batch.Validate(header_.num_domains()).WithContext(path_));
  int64_t pos = 0;
  while (pos < batch.size) {
    const int64_t take = std::min<int64_t>(block_samples_ - pending_.size, batch.size - pos);
    pending_.AppendFrom(batch, pos, pos + take);
    pos += take;
    if (pending_.size == block_samples_) {
      RETURN_IF_ERROR(FlushBlock(pending_));
      pending_.Reset(header_.num_tasks(), header_.num_slots(), header_.num_dense());
    }
  }
  return Status::OK();
}

Status ShardWriter::FlushBlock(const Batch& block) {
  if (block.size == 0) return Status::OK();
  const uint64_t raw_size = RawBytes(block, header_);
  if (raw_size > kMaxBlockRawBytes) {
    if (block.size == 1) {
      status_ = InvalidArgument(path_ + ": one sample takes " + std::to_string(raw_size) +
                                " bytes, more than a block may hold");
      return status_;
    }
    // Too many ids for one block: write it as two.
    Batch half;
    half.AppendFrom(block, 0, block.size / 2);
    RETURN_IF_ERROR(FlushBlock(half));
    half.Reset(block.num_tasks, block.num_slots, block.num_dense);
    half.AppendFrom(block, block.size / 2, block.size);
    return FlushBlock(half);
  }
  raw_.resize(raw_size);
  char* p = raw_.data();
  p = PutColumn(block.domain, p);
  p = PutColumn(block.user, p);
  p = PutColumn(block.labels, p);
  p = PutColumn(block.label_mask, p);
  if (header_.has_truth()) p = PutColumn(block.truth, p);
  p = PutColumn(block.dense, p);
  for (int s = 0; s < block.num_slots; ++s) {
    p = PutColumn(block.offsets[s], p);
    p = PutColumn(block.ids[s], p);
  }
  CHECK_EQ(static_cast<uint64_t>(p - raw_.data()), raw_size);
  compressed_.resize(kBlockHeaderBytes + ZSTD_compressBound(raw_size));
  const size_t csize =
      ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(cctx_), compressed_.data() + kBlockHeaderBytes,
                        compressed_.size() - kBlockHeaderBytes, raw_.data(), raw_size, zstd_level_);
  if (ZSTD_isError(csize)) {
    status_ = Internal(path_ + ": zstd compression failed: " + ZSTD_getErrorName(csize));
    return status_;
  }
  char* hdr = compressed_.data();
  PutU32(hdr, static_cast<uint32_t>(raw_size));
  PutU32(hdr + 4, static_cast<uint32_t>(csize));
  PutU32(hdr + 8, static_cast<uint32_t>(block.size));
  PutU32(hdr + 12, Crc32(hdr + kBlockHeaderBytes, csize));
  footer_.add_block_offsets(file_->size());
  footer_.add_block_samples(static_cast<uint32_t>(block.size));
  num_samples_ += block.size;
  return WriteBytes(compressed_.data(), kBlockHeaderBytes + csize);
}

Status ShardWriter::Close() {
  RETURN_IF_ERROR(status_);
  if (closed_) return FailedPrecondition(path_ + ": Close called twice");
  RETURN_IF_ERROR(FlushBlock(pending_));
  pending_.Reset(header_.num_tasks(), header_.num_slots(), header_.num_dense());
  footer_.set_num_samples(num_samples_);
  std::string bytes;
  CHECK(footer_.SerializeToString(&bytes));
  char trailer[kTrailerBytes];
  PutU32(trailer, static_cast<uint32_t>(bytes.size()));
  PutU32(trailer + 4, Crc32(bytes.data(), bytes.size()));
  std::memcpy(trailer + 8, kMagic, 8);
  RETURN_IF_ERROR(WriteBytes(bytes.data(), bytes.size()));
  RETURN_IF_ERROR(WriteBytes(trailer, sizeof(trailer)));
  closed_ = true;
  return status_ = file_->Commit();
}

// ---------------------------------------------------------------------------------------------
// ShardReader

struct ShardReader::Scratch {
  Scratch() : dctx(ZSTD_createDCtx()) { CHECK(dctx != nullptr); }
  ~Scratch() { ZSTD_freeDCtx(dctx); }
  ZSTD_DCtx* dctx;
  std::vector<char> compressed;
  std::vector<char> raw;
};

StatusOr<std::unique_ptr<ShardReader>> ShardReader::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound(path + ": no such file");
    return ErrnoError("open " + path);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    Status s = ErrnoError("stat " + path);
    ::close(fd);
    return s;
  }
  std::unique_ptr<ShardReader> r(new ShardReader(path, fd, st.st_size));
  RETURN_IF_ERROR(r->ReadLayout());
  return r;
}

ShardReader::ShardReader(std::string path, int fd, uint64_t file_size)
    : path_(std::move(path)), fd_(fd), file_size_(file_size) {}

ShardReader::~ShardReader() { ::close(fd_); }

Status ShardReader::Error(const std::string& what) const { return Corruption(path_ + ": " + what); }

Status ShardReader::ReadAt(uint64_t offset, size_t size, void* dst) const {
  char* p = static_cast<char*>(dst);
  while (size > 0) {
    const ssize_t n = ::pread(fd_, p, size, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read " + path_);
    }
    if (n == 0) return Error("unexpected end of file at offset " + std::to_string(offset));
    p += n;
    size -= n;
    offset += n;
  }
  return Status::OK();
}

Status ShardReader::ReadLayout() {
  if (file_size_ < kPreambleBytes + kTrailerBytes) {
    return Error("file of " + std::to_string(file_size_) + " bytes is too short to be a shard");
  }
  char pre[kPreambleBytes];
  RETURN_IF_ERROR(ReadAt(0, sizeof(pre), pre));
  if (std::memcmp(pre, kMagic, 8) != 0) return Error("bad magic (not a moerec shard)");
  const uint32_t header_len = GetU32(pre + 8);
  if (header_len > kMaxHeaderBytes || header_len > file_size_ - kPreambleBytes - kTrailerBytes) {
    return Error("header length " + std::to_string(header_len) + " exceeds the file");
  }
  std::string bytes(header_len, '\0');
  RETURN_IF_ERROR(ReadAt(kPreambleBytes, header_len, bytes.data()));
  if (Crc32(bytes.data(), bytes.size()) != GetU32(pre + 12)) return Error("header crc mismatch");
  if (!header_.ParseFromString(bytes)) return Error("header does not parse");
  if (header_.version() != kShardVersion) {
    return Error("version " + std::to_string(header_.version()) + " not supported (expected " +
                 std::to_string(kShardVersion) + ")");
  }
  Status hs = ValidateShardHeader(header_);
  if (!hs.ok()) return Error("header: " + hs.message());

  char trailer[kTrailerBytes];
  RETURN_IF_ERROR(ReadAt(file_size_ - kTrailerBytes, sizeof(trailer), trailer));
  if (std::memcmp(trailer + 8, kMagic, 8) != 0) {
    return Error("bad trailing magic (truncated or unfinished shard)");
  }
  const uint64_t data_start = kPreambleBytes + header_len;
  const uint32_t footer_len = GetU32(trailer);
  if (footer_len > file_size_ - kTrailerBytes - data_start || footer_len > kMaxHeaderBytes * 8u) {
    return Error("footer length " + std::to_string(footer_len) + " exceeds the file");
  }
  footer_start_ = file_size_ - kTrailerBytes - footer_len;
  bytes.assign(footer_len, '\0');
  RETURN_IF_ERROR(ReadAt(footer_start_, footer_len, bytes.data()));
  if (Crc32(bytes.data(), bytes.size()) != GetU32(trailer + 4)) return Error("footer crc mismatch");
  if (!footer_.ParseFromString(bytes)) return Error("footer does not parse");
  if (footer_.block_offsets_size() != footer_.block_samples_size()) {
    return Error("footer lists " + std::to_string(footer_.block_offsets_size()) +
                 " block offsets but " + std::to_string(footer_.block_samples_size()) +
                 " sample counts");
  }
  uint64_t expected_offset = data_start;
  for (int i = 0; i < num_blocks(); ++i) {
    const uint64_t off = footer_.block_offsets(i);
    const uint64_t end = i + 1 < num_blocks() ? footer_.block_offsets(i + 1) : footer_start_;
    if ((i == 0 && off != data_start) || off < expected_offset || end < off + kBlockHeaderBytes ||
        end > footer_start_) {
      return Error("block " + std::to_string(i) + ": offset " + std::to_string(off) +
                   " out of order or outside the data region");
    }
    expected_offset = end;
    const uint32_t n = footer_.block_samples(i);
    if (n < 1 || n > kMaxBlockSamples) {
      return Error("block " + std::to_string(i) + ": sample count " + std::to_string(n) +
                   " not in [1, " + std::to_string(kMaxBlockSamples) + "]");
    }
    num_samples_ += n;
  }
  if (num_blocks() == 0 && footer_start_ != data_start) {
    return Error("no blocks listed but " + std::to_string(footer_start_ - data_start) +
                 " bytes of block data");
  }
  if (footer_.num_samples() != static_cast<uint64_t>(num_samples_)) {
    return Error("footer num_samples " + std::to_string(footer_.num_samples()) +
                 " != sum of block sample counts " + std::to_string(num_samples_));
  }
  return Status::OK();
}

Status ShardReader::ReadBlock(int i, Batch* out) const {
  if (i < 0 || i >= num_blocks()) {
    return InvalidArgument(path_ + ": block " + std::to_string(i) + " not in [0, " +
                           std::to_string(num_blocks()) + ")");
  }
  std::unique_ptr<Scratch> scratch;
  {
    std::lock_guard<std::mutex> lock(scratch_mu_);
    if (!free_scratch_.empty()) {
      scratch = std::move(free_scratch_.back());
      free_scratch_.pop_back();
    }
  }
  if (scratch == nullptr) scratch = std::make_unique<Scratch>();
  Status s = DecodeBlock(i, scratch.get(), out);
  {
    std::lock_guard<std::mutex> lock(scratch_mu_);
    free_scratch_.push_back(std::move(scratch));
  }
  return s;
}

Status ShardReader::DecodeBlock(int i, Scratch* scratch, Batch* out) const {
  const std::string where = "block " + std::to_string(i) + ": ";
  const uint64_t off = footer_.block_offsets(i);
  const uint64_t end = i + 1 < num_blocks() ? footer_.block_offsets(i + 1) : footer_start_;
  char hdr[kBlockHeaderBytes];
  RETURN_IF_ERROR(ReadAt(off, sizeof(hdr), hdr));
  const uint32_t raw_size = GetU32(hdr);
  const uint32_t csize = GetU32(hdr + 4);
  const uint32_t n = GetU32(hdr + 8);
  if (csize != end - off - kBlockHeaderBytes) {
    return Error(where + "compressed size " + std::to_string(csize) + " != block extent " +
                 std::to_string(end - off - kBlockHeaderBytes));
  }
  if (n != footer_.block_samples(i)) {
    return Error(where + "header says " + std::to_string(n) + " samples, footer says " +
                 std::to_string(footer_.block_samples(i)));
  }
  if (raw_size > kMaxBlockRawBytes || raw_size < FixedBytes(n, header_)) {
    return Error(where + "raw size " + std::to_string(raw_size) + " impossible for " +
                 std::to_string(n) + " samples");
  }
  scratch->compressed.resize(csize);
  RETURN_IF_ERROR(ReadAt(off + kBlockHeaderBytes, csize, scratch->compressed.data()));
  if (Crc32(scratch->compressed.data(), csize) != GetU32(hdr + 12)) {
    return Error(where + "crc mismatch");
  }
  const unsigned long long content = ZSTD_getFrameContentSize(scratch->compressed.data(), csize);
  if (content != raw_size) return Error(where + "zstd frame size does not match raw size");
  scratch->raw.resize(raw_size);
  const size_t got = ZSTD_decompressDCtx(scratch->dctx, scratch->raw.data(), raw_size,
                                         scratch->compressed.data(), csize);
  if (ZSTD_isError(got)) return Error(where + "zstd: " + ZSTD_getErrorName(got));
  if (got != raw_size) return Error(where + "decompressed to the wrong size");

  const int t = header_.num_tasks();
  const int f = header_.num_dense();
  const int slots = header_.num_slots();
  out->Reset(t, slots, f);
  out->size = n;
  Cursor c(scratch->raw.data(), raw_size);
  bool ok = c.Take(n, &out->domain) && c.Take(n, &out->user) &&
            c.Take(uint64_t{n} * t, &out->labels) && c.Take(uint64_t{n} * t, &out->label_mask);
  if (ok && header_.has_truth()) ok = c.Take(uint64_t{n} * t, &out->truth);
  ok = ok && c.Take(uint64_t{n} * f, &out->dense);
  for (int s = 0; ok && s < slots; ++s) {
    ok = c.Take(n + 1, &out->offsets[s]);
    if (!ok) break;
    const uint32_t nnz = out->offsets[s][n];
    if (uint64_t{nnz} * 8 > c.left()) {
      return Error(where + "slot " + header_.slot_names(s) + ": " + std::to_string(nnz) +
                   " ids do not fit the block");
    }
    ok = c.Take(nnz, &out->ids[s]);
  }
  if (!ok) return Error(where + "payload shorter than its columns");
  if (c.left() != 0) return Error(where + std::to_string(c.left()) + " trailing payload bytes");
  Status v = out->Validate(header_.num_domains());
  if (!v.ok()) return Error(where + v.message());
  return Status::OK();
}

}  // namespace moerec
