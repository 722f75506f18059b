#include "bench/retrieve_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/parallel.h"
#include "core/random.h"
#include "core/tensor.h"
#include "serving/embedding_file.h"
#include "serving/item_index.h"
#include "worker/metrics/retrieval.h"
#include "worker/trainer.h"

namespace moerec {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void Print(const std::string& name, double value) {
  std::printf("%s=%.4g\n", name.c_str(), value);
  std::fflush(stdout);
}

struct Data {
  EmbeddingMatrix items;
  std::vector<float> queries;  // (Q, d)
};

Data MakeData(const RetrieveBenchOptions& o) {
  const int64_t d = o.dim;
  Rng rng(o.seed);
  std::vector<double> centers(static_cast<size_t>(o.clusters) * d);
  for (int c = 0; c < o.clusters; ++c) {
    double norm = 0;
    for (int64_t j = 0; j < d; ++j) {
      centers[c * d + j] = rng.Normal();
      norm += centers[c * d + j] * centers[c * d + j];
    }
    for (int64_t j = 0; j < d; ++j) centers[c * d + j] /= std::sqrt(norm);
  }
  const double noise = 0.6 / std::sqrt(static_cast<double>(d));
  Data data;
  data.items.kind = EmbeddingMatrix::kItem;
  data.items.dim = d;
  data.items.ids.resize(o.items);
  data.items.scenario.assign(o.items, -1);
  data.items.values.resize(o.items * d);
  for (int64_t i = 0; i < o.items; ++i) {
    data.items.ids[i] = Mix64(static_cast<uint64_t>(i));
    const double* center = &centers[rng.Below(o.clusters) * d];
    for (int64_t j = 0; j < d; ++j) {
      data.items.values[i * d + j] = static_cast<float>(center[j] + noise * rng.Normal());
    }
  }
  data.queries.resize(o.queries * d);
  for (int64_t i = 0; i < o.queries; ++i) {
    const double* center = &centers[rng.Below(o.clusters) * d];
    for (int64_t j = 0; j < d; ++j) {
      data.queries[i * d + j] = static_cast<float>(center[j] + 1.5 * noise * rng.Normal());
    }
  }
  return data;
}

// Mean over the first `q` queries of |a's top-k ∩ b's top-k| / k (ids, padding excluded).
double Overlap(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b, int64_t q,
               int64_t k) {
  int64_t hits = 0;
  std::unordered_set<uint64_t> truth;
  for (int64_t u = 0; u < q; ++u) {
    truth.clear();
    for (int64_t r = 0; r < k; ++r) truth.insert(b[u * k + r]);
    for (int64_t r = 0; r < k; ++r) {
      if (a[u * k + r] != UINT64_MAX) hits += static_cast<int64_t>(truth.count(a[u * k + r]));
    }
  }
  return static_cast<double>(hits) / static_cast<double>(q * k);
}

}  // namespace

Status RunRetrieveBenchmark(const RetrieveBenchOptions& o) {
  if (o.items < 1) return InvalidArgument("bench retrieve: items must be >= 1");
  if (o.dim < 1) return InvalidArgument("bench retrieve: dim must be >= 1");
  if (o.queries < 1) return InvalidArgument("bench retrieve: queries must be >= 1");
  if (o.k < 1 || o.k > o.items) return InvalidArgument("bench retrieve: k must be in [1, items]");
  if (o.clusters < 1) return InvalidArgument("bench retrieve: clusters must be >= 1");
  if (o.exact_queries < 0 || o.exact_queries > o.queries) {
    return InvalidArgument("bench retrieve: exact_queries must be in [0, queries]");
  }
  SetComputeThreads(ResolveComputeThreads(o.threads));
  const int64_t q = o.queries;
  const int64_t k = o.k;
  const int64_t d = o.dim;
  std::printf("items=%lld\ndim=%d\nqueries=%lld\nk=%lld\nclusters=%d\nthreads=%d\n",
              static_cast<long long>(o.items), o.dim, static_cast<long long>(q),
              static_cast<long long>(k), o.clusters, ComputeThreads());
  const Data data = MakeData(o);

  Clock::time_point t0 = Clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<ItemIndex> flat, ItemIndex::Build(data.items, {}));
  Print("index_build_s_flat", Since(t0));
  ItemIndexOptions ivf_options;
  ivf_options.kind = ItemIndexOptions::kIvfPq;
  ivf_options.nlist = o.nlist;
  ivf_options.pq_m = o.pq_m;
  ivf_options.nprobe = o.nprobe;
  ivf_options.seed = o.seed;
  t0 = Clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<ItemIndex> ivfpq, ItemIndex::Build(data.items, ivf_options));
  Print("index_build_s_ivfpq", Since(t0));
  std::printf("ivfpq_index=%s\n", ivfpq->Describe().c_str());

  // One untimed call each, so that first-touch costs stay out of the rates.
  std::vector<uint64_t> flat_ids, ivf_ids;
  std::vector<float> scores;
  const int64_t warm = std::min<int64_t>(q, 64);
  RETURN_IF_ERROR(flat->Search(data.queries.data(), warm, k, &flat_ids, &scores));
  RETURN_IF_ERROR(ivfpq->Search(data.queries.data(), warm, k, &ivf_ids, &scores));

  t0 = Clock::now();
  RETURN_IF_ERROR(flat->Search(data.queries.data(), q, k, &flat_ids, &scores));
  Print("faiss_queries_per_s_flat", static_cast<double>(q) / Since(t0));
  t0 = Clock::now();
  RETURN_IF_ERROR(ivfpq->Search(data.queries.data(), q, k, &ivf_ids, &scores));
  Print("faiss_queries_per_s_ivfpq", static_cast<double>(q) / Since(t0));
  Print("ivfpq_recall@" + std::to_string(k), Overlap(ivf_ids, flat_ids, q, k));

  const int64_t exact_q = o.exact_queries == 0 ? q : o.exact_queries;
  const ConstMatView users(data.queries.data(), exact_q, d, d);
  const ConstMatView items(data.items.values.data(), o.items, d, d);
  t0 = Clock::now();
  ASSIGN_OR_RETURN(const TopK exact, ExactTopK(users, items, k, UserItemLists{}));
  Print("exact_queries_per_s", static_cast<double>(exact_q) / Since(t0));
  std::printf("exact_queries=%lld\n", static_cast<long long>(exact_q));
  std::vector<uint64_t> exact_ids(exact_q * k, UINT64_MAX);
  for (int64_t i = 0; i < exact_q * k; ++i) {
    if (exact.items[i] >= 0) exact_ids[i] = data.items.ids[exact.items[i]];
  }
  Print("flat_recall@" + std::to_string(k) + "_vs_exact", Overlap(flat_ids, exact_ids, exact_q, k));
  return Status::OK();
}

}  // namespace moerec
