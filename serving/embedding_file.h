// Exported embeddings: one file of user or item vectors (a tower's outputs over a corpus), the
// input of the item index (serving/item_index.h) and of `moerec retrieve`. The byte layout is in
// docs/formats.md ("Embedding files"); in short, a 32-byte header ("MOEREC-EMB", version, kind,
// rows N, dim d), the N ids, the N scenarios, the (N, d) float32 values, and a CRC-32
// (core/checksum.h) of everything before it. Little-endian throughout.
//
// WriteEmbeddingFile goes through an AtomicFile (core/file_util.h): the target is absent, its
// old contents or the whole new file after any crash. ReadEmbeddingFile checks everything before
// returning (magic, version, kind, sizes against the file's length, the checksum, finite values,
// scenarios >= -1) and names the file and the problem in its Status.
// Thread-safety: pure functions; concurrent calls on distinct paths are safe.
#ifndef MOEREC_SERVING_EMBEDDING_FILE_H_
#define MOEREC_SERVING_EMBEDDING_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace moerec {

// Sizes: N rows, d dim.
struct EmbeddingMatrix {
  enum Kind { kUser = 0, kItem = 1 };  // the on-disk codes

  Kind kind = kUser;
  int64_t dim = 0;                // d >= 1
  std::vector<uint64_t> ids;      // (N) user or item ids; repeats allowed (a user per scenario)
  std::vector<int32_t> scenario;  // (N) the row's scenario, or -1 for none
  std::vector<float> values;      // (N, d) row-major, finite

  int64_t rows() const { return static_cast<int64_t>(ids.size()); }
};

// "user" or "item".
const char* EmbeddingKindName(EmbeddingMatrix::Kind kind);

// Writes `m` to `path` (whose folder must exist) atomically. InvalidArgument when `m` is not
// well formed (dim < 1 or > kMaxEmbeddingDim, sizes that disagree, a non-finite value, a
// scenario below -1); an I/O Status when the write fails.
Status WriteEmbeddingFile(const std::string& path, const EmbeddingMatrix& m);

// Reads and checks a file written by WriteEmbeddingFile: Corruption for a damaged file (bad
// magic, truncated or oversized, checksum mismatch, non-finite values, bad header fields), an
// I/O Status when it cannot be read; every message starts with the path.
StatusOr<EmbeddingMatrix> ReadEmbeddingFile(const std::string& path);

inline constexpr int64_t kMaxEmbeddingDim = 1 << 16;

}  // namespace moerec

#endif  // MOEREC_SERVING_EMBEDDING_FILE_H_
