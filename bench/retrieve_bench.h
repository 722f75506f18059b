// The retrieval benchmark (`moerec bench retrieve`, DESIGN.md §8): the faiss item indexes of
// serving/item_index.h on random clustered embeddings, against the machine's exact top-K
// (ExactTopK of worker/metrics/retrieval.h) in the same run on the same vectors.
//
// Data: `clusters` random unit directions in d dimensions; each item is a direction plus
// Gaussian noise of norm about 0.6, each query a direction plus noise of norm about 0.9 (the
// shape two-tower embeddings take: items in topical groups, users near some of them).
//   index_build_s_flat / _ivfpq   ItemIndex::Build (IVF-PQ: k-means, PQ training, adding)
//   faiss_queries_per_s_flat      ItemIndex::Search of all queries, top-k, flat (exact) index
//   faiss_queries_per_s_ivfpq     the same on the IVF-PQ index at its nprobe
//   ivfpq_recall@k                |IVF-PQ top-k ∩ flat top-k| / k, mean over queries
//   flat_recall@k_vs_exact        the same of the flat index against ExactTopK (1 up to ties)
//   exact_queries_per_s           ExactTopK (float GEMM screening, double rescoring) of
//                                 exact_queries queries
// Prints name=value lines.
#ifndef MOEREC_BENCH_RETRIEVE_BENCH_H_
#define MOEREC_BENCH_RETRIEVE_BENCH_H_

#include <cstdint>

#include "core/status.h"

namespace moerec {

struct RetrieveBenchOptions {
  int64_t items = 100000;     // N >= 1
  int dim = 64;               // d >= 1
  int64_t queries = 10000;    // Q >= 1
  int64_t k = 50;             // in [1, N]
  int clusters = 1000;        // item directions; >= 1
  int nlist = 0;              // IVF-PQ (ItemIndexOptions): 0 = about 4 sqrt(N)
  int pq_m = 0;               // 0 = about d / 4
  int nprobe = 16;            // >= 1
  int64_t exact_queries = 0;  // queries ranked by ExactTopK; 0 = all Q; else in [1, Q]
  int threads = 0;            // compute threads; 0 = OMP_NUM_THREADS, else the cores
  uint64_t seed = 1;
};

Status RunRetrieveBenchmark(const RetrieveBenchOptions& options);

}  // namespace moerec

#endif  // MOEREC_BENCH_RETRIEVE_BENCH_H_
