#include "serving/embedding_file.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>

#include "core/checksum.h"
#include "core/file_util.h"

namespace moerec {
namespace {

static_assert(std::endian::native == std::endian::little,
              "embedding files are little-endian and written by memcpy");

// Header: magic[10] u16 version, u32 kind, u64 rows, u64 dim.
constexpr char kMagic[10] = {'M', 'O', 'E', 'R', 'E', 'C', '-', 'E', 'M', 'B'};
constexpr uint16_t kVersion = 1;
constexpr size_t kHeaderBytes = 32;
constexpr size_t kCrcBytes = 4;
// Bounds the header's row count so that the file size below cannot overflow.
constexpr uint64_t kMaxRows = uint64_t{1} << 40;
constexpr size_t kChunkBytes = size_t{16} << 20;  // FileReader::Read's limit

uint64_t ExpectedFileBytes(uint64_t rows, uint64_t dim) {
  return kHeaderBytes + rows * (sizeof(uint64_t) + sizeof(int32_t) + dim * sizeof(float)) +
         kCrcBytes;
}

// The first (row, column) holding a non-finite value, as a message; empty when all are finite.
std::string FindNonFinite(const std::vector<float>& values, int64_t dim) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return "row " + std::to_string(i / dim) + " column " + std::to_string(i % dim) +
             " is not finite (" + std::to_string(values[i]) + ")";
    }
  }
  return "";
}

std::string FindBadScenario(const std::vector<int32_t>& scenario) {
  for (size_t i = 0; i < scenario.size(); ++i) {
    if (scenario[i] < -1) {
      return "row " + std::to_string(i) + " has scenario " + std::to_string(scenario[i]) +
             " (want >= 0, or -1 for none)";
    }
  }
  return "";
}

// Reads exactly n bytes into dst, extending *crc; Corruption when the file ends first.
Status ReadExactly(FileReader* in, void* dst, size_t n, const char* what, uint32_t* crc) {
  std::string chunk;
  char* out = static_cast<char*>(dst);
  for (size_t done = 0; done < n;) {
    const size_t want = std::min(kChunkBytes, n - done);
    size_t got = 0;
    RETURN_IF_ERROR(in->Read(want, &chunk, &got));
    if (got < want) {
      return Corruption(in->path() + ": truncated in the " + what +
                        " (the file changed while read)");
    }
    std::memcpy(out + done, chunk.data(), got);
    if (crc != nullptr) *crc = Crc32Extend(*crc, chunk.data(), got);
    done += got;
  }
  return Status::OK();
}

// AtomicFile::Append, skipping empty ranges: zlib's crc32 restarts at 0 when handed a null
// pointer, which an empty vector's data() may be.
Status AppendBytes(AtomicFile* out, const void* data, size_t n) {
  return n == 0 ? Status::OK() : out->Append(data, n);
}

}  // namespace

const char* EmbeddingKindName(EmbeddingMatrix::Kind kind) {
  return kind == EmbeddingMatrix::kUser ? "user" : "item";
}

Status WriteEmbeddingFile(const std::string& path, const EmbeddingMatrix& m) {
  const std::string where = "embedding file " + path;
  if (m.kind != EmbeddingMatrix::kUser && m.kind != EmbeddingMatrix::kItem) {
    return InvalidArgument(where + ": kind " + std::to_string(m.kind) + " is not kUser or kItem");
  }
  if (m.dim < 1 || m.dim > kMaxEmbeddingDim) {
    return InvalidArgument(where + ": dim " + std::to_string(m.dim) + " is not in [1, " +
                           std::to_string(kMaxEmbeddingDim) + "]");
  }
  const uint64_t rows = m.ids.size();
  if (m.scenario.size() != rows) {
    return InvalidArgument(where + ": " + std::to_string(m.scenario.size()) + " scenarios for " +
                           std::to_string(rows) + " ids");
  }
  if (m.values.size() != rows * static_cast<uint64_t>(m.dim)) {
    return InvalidArgument(where + ": " + std::to_string(m.values.size()) + " values for " +
                           std::to_string(rows) + " rows of dim " + std::to_string(m.dim));
  }
  if (rows > kMaxRows) return InvalidArgument(where + ": more than 2^40 rows");
  if (std::string bad = FindNonFinite(m.values, m.dim); !bad.empty()) {
    return InvalidArgument(where + ": " + bad);
  }
  if (std::string bad = FindBadScenario(m.scenario); !bad.empty()) {
    return InvalidArgument(where + ": " + bad);
  }

  char header[kHeaderBytes] = {};
  const uint32_t kind = m.kind;
  const uint64_t dim = m.dim;
  std::memcpy(header, kMagic, sizeof(kMagic));
  std::memcpy(header + 10, &kVersion, 2);
  std::memcpy(header + 12, &kind, 4);
  std::memcpy(header + 16, &rows, 8);
  std::memcpy(header + 24, &dim, 8);

  ASSIGN_OR_RETURN(std::unique_ptr<AtomicFile> out, AtomicFile::Create(path));
  RETURN_IF_ERROR(out->Append(header, kHeaderBytes));
  RETURN_IF_ERROR(AppendBytes(out.get(), m.ids.data(), m.ids.size() * sizeof(uint64_t)));
  RETURN_IF_ERROR(AppendBytes(out.get(), m.scenario.data(), m.scenario.size() * sizeof(int32_t)));
  RETURN_IF_ERROR(AppendBytes(out.get(), m.values.data(), m.values.size() * sizeof(float)));
  const uint32_t crc = out->crc();
  RETURN_IF_ERROR(out->Append(&crc, kCrcBytes));
  return out->Commit();
}

StatusOr<EmbeddingMatrix> ReadEmbeddingFile(const std::string& path) {
  std::error_code ec;
  const uintmax_t file_bytes = std::filesystem::file_size(path, ec);
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) {
      return NotFound(path + ": no such embedding file");
    }
    return IoError(path + ": " + ec.message());
  }
  auto corrupt = [&path](const std::string& what) { return Corruption(path + ": " + what); };
  if (file_bytes < kHeaderBytes) {
    return corrupt("truncated: " + std::to_string(file_bytes) +
                   " bytes, shorter than the 32-byte header of an embedding file");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<FileReader> in, FileReader::Open(path));
  char header[kHeaderBytes];
  uint32_t crc = 0;
  RETURN_IF_ERROR(ReadExactly(in.get(), header, kHeaderBytes, "header", &crc));
  if (std::memcmp(header, kMagic, sizeof(kMagic)) != 0) {
    return corrupt("not an embedding file (bad magic: want \"MOEREC-EMB\")");
  }
  uint16_t version = 0;
  uint32_t kind = 0;
  uint64_t rows = 0;
  uint64_t dim = 0;
  std::memcpy(&version, header + 10, 2);
  std::memcpy(&kind, header + 12, 4);
  std::memcpy(&rows, header + 16, 8);
  std::memcpy(&dim, header + 24, 8);
  if (version != kVersion) {
    return corrupt("format version " + std::to_string(version) + ", this build reads version " +
                   std::to_string(kVersion));
  }
  if (kind != EmbeddingMatrix::kUser && kind != EmbeddingMatrix::kItem) {
    return corrupt("kind " + std::to_string(kind) + " is not 0 (user) or 1 (item)");
  }
  if (dim < 1 || dim > static_cast<uint64_t>(kMaxEmbeddingDim)) {
    return corrupt("dim " + std::to_string(dim) + " is not in [1, " +
                   std::to_string(kMaxEmbeddingDim) + "]");
  }
  if (rows > kMaxRows) return corrupt("rows " + std::to_string(rows) + " is over 2^40");
  const uint64_t want = ExpectedFileBytes(rows, dim);
  if (file_bytes != want) {
    return corrupt(std::string(file_bytes < want ? "truncated" : "trailing bytes") + ": " +
                   std::to_string(file_bytes) + " bytes, and the header's " + std::to_string(rows) +
                   " rows of dim " + std::to_string(dim) + " take " + std::to_string(want));
  }

  EmbeddingMatrix m;
  m.kind = static_cast<EmbeddingMatrix::Kind>(kind);
  m.dim = static_cast<int64_t>(dim);
  m.ids.resize(rows);
  m.scenario.resize(rows);
  m.values.resize(rows * dim);
  RETURN_IF_ERROR(ReadExactly(in.get(), m.ids.data(), rows * sizeof(uint64_t), "ids", &crc));
  RETURN_IF_ERROR(
      ReadExactly(in.get(), m.scenario.data(), rows * sizeof(int32_t), "scenarios", &crc));
  RETURN_IF_ERROR(
      ReadExactly(in.get(), m.values.data(), m.values.size() * sizeof(float), "values", &crc));
  uint32_t stored = 0;
  RETURN_IF_ERROR(ReadExactly(in.get(), &stored, kCrcBytes, "checksum", nullptr));
  if (stored != crc) {
    char message[96];
    std::snprintf(message, sizeof(message), "checksum mismatch: stored crc32 %08x, contents %08x",
                  stored, crc);
    return corrupt(message);
  }
  if (std::string bad = FindNonFinite(m.values, m.dim); !bad.empty()) return corrupt(bad);
  if (std::string bad = FindBadScenario(m.scenario); !bad.empty()) return corrupt(bad);
  return m;
}

}  // namespace moerec
