// Exact retrieval evaluation over the full item corpus (docs/models.md "Two-tower matching",
// DESIGN.md §7): the top-K items of every user by inner product, and Recall@K, HR@K, NDCG@K per
// scenario and overall.
//
// Sizes: N_u users, N_i items, d vector width, K = max(ks), S scenarios, W workers.
//   users: (N_u, d)  items: (N_i, d)  row-major float views (ld >= d), owned by the caller
//
// Scores. Candidates are screened with float GEMMs over (user_block, item_block) tiles (never
// the whole N_u x N_i matrix); every item that a float score, widened by its error bound, cannot
// rule out is rescored as a double-precision dot product summed in dimension order. The ranking
// is by that double score, ties going to the lower item index, so it is the same for any
// thread count, block size or item sharding. Items on a user's exclusion list are never
// ranked. Memory: O(threads * user_block * (item_block + K) + N_u * K + N_i).
//
// Metrics. Per user with held-out positives P (users without are skipped): Recall@K =
// hits / |P|, HR@K = [hits > 0], NDCG@K = DCG / IDCG with DCG = sum over hit ranks r (1-based)
// of 1 / log2(r + 1) and IDCG over ranks 1..min(K, |P|). Means are over users, per scenario and
// overall. Per-user values are summed in 2^-52 fixed point (exact below 2^27 users in all), so
// any split of the users gives the same bits.
//
// Distributed (EvaluateRetrievalDistributed): each worker holds a contiguous shard of the items
// and its own users. In rounds of gather_users users per worker, the round's user vectors and
// exclusion lists are all-gathered; every worker ranks all W * gather_users users against its
// shard; the shard top-K lists go to the users' owners (all-to-all), which merge them into the
// exact global top-K and score their users; the sums are all-reduced at the end. Per worker
// and round: received W * gather_users * (4 d + 8 (1 + exclusions)) bytes of users, sent and
// received W * gather_users * K * 16 bytes of candidates; held: those buffers and the local
// ranking of W * gather_users users. The result is the bits of EvaluateRetrieval on all data.
//
// Every function returns InvalidArgument naming the offending argument for bad input (shapes,
// non-finite values, unsorted or out-of-range lists, bad options), never CHECK-fails on it.
// Thread-safety: functions are reentrant; they use the compute threads (core/parallel.h).
#ifndef MOEREC_WORKER_METRICS_RETRIEVAL_H_
#define MOEREC_WORKER_METRICS_RETRIEVAL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "comm/communicator.h"
#include "core/status.h"
#include "core/tensor.h"

namespace moerec {

// Item indices per user in CSR form: user u's items are items[offsets[u], offsets[u + 1]),
// strictly increasing. Empty offsets means no user has any item.
struct UserItemLists {
  std::vector<int64_t> offsets;  // (N_u + 1): offsets[0] = 0, non-decreasing, last = items.size()
  std::vector<int64_t> items;    // global item indices in [0, N_i)

  // Appends the next user's list (which the checks later require to be sorted).
  void Add(const std::vector<int64_t>& user_items);
};

struct TopKOptions {
  int64_t user_block = 256;   // users per GEMM tile; >= 1
  int64_t item_block = 2048;  // items per GEMM tile; >= 1
};

// The ranking of every user: (N_u, K) row-major, best first.
struct TopK {
  int64_t k = 0;
  std::vector<int64_t> items;  // (N_u, K); -1 after the last rankable item of a short row
  std::vector<double> scores;  // (N_u, K); the double score, -inf where items is -1
};

// The exact top-k (k >= 1) of every user over all items, skipping each user's `exclude` list
// (empty, or one list per user).
StatusOr<TopK> ExactTopK(ConstMatView users, ConstMatView items, int64_t k,
                         const UserItemLists& exclude, const TopKOptions& options = {});

// The users of an evaluation, or one worker's share of them.
struct RetrievalUsers {
  ConstMatView vectors;           // (N_u, d); the caller's memory
  std::vector<int32_t> scenario;  // (N_u) in [0, S); empty: every user is in scenario 0
  UserItemLists train;            // excluded from the ranking (empty or N_u lists)
  UserItemLists heldout;          // the relevant items (empty or N_u lists)
};

struct RetrievalOptions {
  std::vector<int64_t> ks = {50};  // cutoffs; each >= 1, no repeats; K = max(ks)
  int num_scenarios = 1;           // S >= 1
  std::vector<std::string>
      scenario_names;  // empty (names s0, s1, ...) or S names, non-empty, no '/'
  TopKOptions topk;
  int64_t gather_users = 4096;  // distributed: users per worker and round; >= 1
};

struct RetrievalReport {
  std::vector<int64_t> ks;                  // as given
  std::vector<std::string> scenario_names;  // (S)
  std::vector<int64_t> users;               // (S) users with held-out positives, per scenario
  int64_t total_users = 0;                  // their sum
  // For each K in ks order: recall@K, hr@K, ndcg@K (overall), then recall@K/<scenario>,
  // hr@K/<scenario>, ndcg@K/<scenario> for each scenario. NaN where there are no users.
  std::vector<std::pair<std::string, double>> values;

  // The value named `name`; NaN when there is none.
  double value(std::string_view name) const;
};

// Metrics of a ranking (topk.k >= max(options.ks)) against held-out positives; `scenario` and
// `heldout` as in RetrievalUsers, for topk's N_u users.
StatusOr<RetrievalReport> EvaluateTopK(const TopK& topk, const UserItemLists& heldout,
                                       const std::vector<int32_t>& scenario,
                                       const RetrievalOptions& options);

// One process holding all users and all items: ExactTopK, then EvaluateTopK.
StatusOr<RetrievalReport> EvaluateRetrieval(const RetrievalUsers& users, ConstMatView items,
                                            const RetrievalOptions& options);

// Collective over `comm`: this worker's users, and items [item_offset, item_offset +
// item_shard.rows) of the corpus; the workers' shards must tile [0, N_i) (empty shards are
// ignored) and list items are global indices. Options must agree on every worker (ks,
// num_scenarios and gather_users are checked). Bad input on any worker is InvalidArgument on
// every worker, naming the worker; a failed collective is its Status.
StatusOr<RetrievalReport> EvaluateRetrievalDistributed(Communicator* comm,
                                                       const RetrievalUsers& users,
                                                       ConstMatView item_shard, int64_t item_offset,
                                                       const RetrievalOptions& options);

}  // namespace moerec

#endif  // MOEREC_WORKER_METRICS_RETRIEVAL_H_
