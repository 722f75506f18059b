// ItemIndex: the item side of a two-tower model, indexed for maximum-inner-product search with
// faiss (DESIGN.md §1: "two towers whose item side is indexed for nearest-neighbour search").
//
// Sizes: N items, d dim, Q queries, K results per query.
//
// Two kinds. kFlat (faiss IndexFlatIP) scores every item: its top-K is exact up to float
// rounding (ties in any order). kIvfPq (faiss IndexIVFPQ, inner-product metric, an IndexFlatIP
// coarse quantizer, residuals encoded by a product quantizer) scans the `nprobe` of `nlist`
// k-means cells whose centroids score highest against the query, and ranks their items by
// PQ-approximated inner products. faiss knows items by their position 0..N-1; the index keeps
// the N item ids beside it and returns those.
//
// The saved file (Save / Load) is the faiss index between a moerec header with the item ids and
// a CRC-32 (byte layout in docs/formats.md, "Item index files"); it is written atomically, and
// Load checks the checksum before faiss parses a byte.
//
// Errors: bad arguments and options are InvalidArgument naming the field; damaged files are
// Corruption naming the file; what faiss throws (faiss::FaissException, std::bad_alloc) becomes
// a Status, never an exception out of this class.
// Thread-safety: after Build or Load the index is immutable; Search may be called from many
// threads at once. faiss runs each call on the OpenMP pool (core/parallel.h sizes it).
#ifndef MOEREC_SERVING_ITEM_INDEX_H_
#define MOEREC_SERVING_ITEM_INDEX_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "serving/embedding_file.h"

namespace faiss {
struct Index;
}  // namespace faiss

namespace moerec {

struct ItemIndexOptions {
  enum Kind { kFlat = 0, kIvfPq = 1 };  // the on-disk codes

  Kind kind = kFlat;
  // The fields below are for kIvfPq; kFlat ignores them.
  // Inverted lists (k-means cells); 0 = round(4 sqrt(N)) capped at the training rows; else in
  // [1, training rows].
  int nlist = 0;
  // Sub-quantizers of the product quantizer; 0 = the divisor of d nearest d / 4 (the smaller on
  // a tie); else must divide d.
  int pq_m = 0;
  // Bits per sub-quantizer code, in [1, 16]; the training rows must be >= 2^pq_bits.
  int pq_bits = 8;
  // Lists scanned per query when Search is not told otherwise; >= 1 (more than nlist scans all).
  int nprobe = 16;
  // Rows (drawn without replacement with `seed`) that train the quantizers; 0 or >= N = all.
  int train_sample = 0;
  uint64_t seed = 1;  // the training sample and faiss's k-means
};

class ItemIndex {
 public:
  // Indexes `items` (its kind is not looked at; ids must not be UINT64_MAX, the padding of
  // Search). IVF-PQ trains its quantizers first. InvalidArgument for an empty or ill-formed
  // matrix or bad options.
  static StatusOr<std::unique_ptr<ItemIndex>> Build(const EmbeddingMatrix& items,
                                                    const ItemIndexOptions& options);
  // Reads a file written by Save: NotFound, an I/O Status, or Corruption naming the file.
  static StatusOr<std::unique_ptr<ItemIndex>> Load(const std::string& path);
  ~ItemIndex();
  ItemIndex(const ItemIndex&) = delete;
  ItemIndex& operator=(const ItemIndex&) = delete;

  // Writes the index and its item ids to `path` (whose folder must exist), atomically.
  Status Save(const std::string& path) const;

  // queries: (Q, d) row-major, finite (the caller's memory, read during the call only).
  // Resizes *ids and *scores to (Q, K) row-major: per query the K best items, scores
  // descending (inner products; PQ approximations for kIvfPq), then UINT64_MAX with score
  // -infinity where fewer than K items were found. nprobe: lists scanned for kIvfPq, >= 1, or
  // -1 for options().nprobe; kFlat ignores it. InvalidArgument for Q < 0, K < 1, nprobe 0 or
  // below -1, a non-finite query value.
  Status Search(const float* queries, int64_t q, int64_t k, std::vector<uint64_t>* ids,
                std::vector<float>* scores, int nprobe = -1) const;

  int64_t size() const { return static_cast<int64_t>(ids_.size()); }  // N
  int64_t dim() const { return dim_; }                                // d
  // The options as built: nlist and pq_m resolved (for a loaded index: kind, nlist, pq_m,
  // pq_bits and nprobe; train_sample and seed are 0).
  const ItemIndexOptions& options() const { return options_; }
  // One line: the kind, N, d and, for IVF-PQ, nlist, pq_m, pq_bits, nprobe.
  std::string Describe() const;

 private:
  ItemIndex(const ItemIndexOptions& options, int64_t dim, std::vector<uint64_t> ids,
            std::unique_ptr<faiss::Index> index);

  ItemIndexOptions options_;
  int64_t dim_;
  std::vector<uint64_t> ids_;            // (N): faiss position -> item id
  std::unique_ptr<faiss::Index> index_;  // never null
};

}  // namespace moerec

#endif  // MOEREC_SERVING_ITEM_INDEX_H_
