// MatchingEvaluator: evaluation of a matching (two-tower) model over the full item corpus
// (docs/models.md#two-tower-matching): Recall@K, HR@K and NDCG@K per scenario, by exact top-K
// over every item (worker/metrics/retrieval.h).
//
// What is ranked and for whom:
// - The corpus is data.items (one sample per item, its item-side slots), read once; worker w
//   embeds its share of it with the item tower at every evaluation, so the workers' shards
//   tile the corpus (item index = position in worker order). An item's key is the first id of
//   the model's key slot (two_tower.item_id_slot); a key listed twice is an error.
// - A query is a (user, scenario) pair of the split with at least one positive (label 1) whose
//   item is in the corpus: its held-out items are those positives, and its vector is the user
//   tower's embedding of the pair's first such sample in the split (the lowest worker's first,
//   when several workers read samples of the pair). Queries are spread over the workers by a
//   hash of the user.
// - With retrieval.exclude_train_positives the user's positives of the train split (read once,
//   every scenario) are never ranked, and held-out items among them are dropped (they are not
//   new to the user); queries left without held-out items are not counted.
// Collective over the workers: every worker calls Evaluate for the same split.
// Memory: the corpus samples of this worker's share, the train positives of the users it owns,
// and per evaluation its item shard (N_w, d) plus every query's vector (all-gathered).
// Thread-safety: one thread drives an evaluator (the trainer's).
#ifndef MOEREC_WORKER_MATCHING_EVAL_H_
#define MOEREC_WORKER_MATCHING_EVAL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "comm/communicator.h"
#include "core/status.h"
#include "data/batch.h"
#include "proto/config.pb.h"
#include "worker/metrics/retrieval.h"
#include "worker/step_runner.h"

namespace moerec {

class MatchingEvaluator {
 public:
  // The config must come from LoadJobConfig with a two-tower model; `runner` (whose model is
  // that matching model) and `workers` are borrowed. InvalidArgument when data.items is empty
  // or retrieval options are bad (naming the field). The data is read at the first Evaluate.
  static StatusOr<std::unique_ptr<MatchingEvaluator>> Create(const JobConfig& config,
                                                             StepRunner* runner,
                                                             Communicator* workers);

  // Evaluates split `paths` (validation or test shards) at `step`. Collective.
  StatusOr<RetrievalReport> Evaluate(const std::vector<std::string>& paths, int64_t step);

  // Everything a serving index and its evaluation need, from one process (FailedPrecondition
  // with several workers): the corpus embeddings with their item keys, and the queries of
  // split `paths` with their user ids, vectors and lists (item indices into the corpus).
  struct Export {
    std::vector<uint64_t> item_keys;  // (N_i)
    Tensor items;                     // (N_i, d)
    std::vector<uint64_t> user_ids;   // (N_u)
    Tensor users;                     // (N_u, d)
    RetrievalUsers queries;           // vectors view `users`; scenario, train, heldout
  };
  StatusOr<std::unique_ptr<Export>> ExportEmbeddings(const std::vector<std::string>& paths,
                                                     int64_t step);
  const RetrievalOptions& options() const { return options_; }

  // The overall figure that selects the best validation state (retrieval.select).
  const std::string& select() const { return select_; }
  int64_t corpus_size() const { return corpus_size_; }

 private:
  MatchingEvaluator(const JobConfig& config, StepRunner* runner, Communicator* workers)
      : config_(config), runner_(runner), workers_(workers) {}

  // The queries this worker owns of split `paths`: their user ids and vectors (into *vectors),
  // scenarios and lists.
  Status GatherQueries(const std::vector<std::string>& paths, int64_t step, Tensor* vectors,
                       std::vector<uint64_t>* user_ids, RetrievalUsers* users);
  // This worker's share of the corpus through the item tower: (rows, d) into *shard.
  Status EmbedCorpus(int64_t step, Tensor* shard, int64_t* rows);
  // Calls fn(batch, row, corpus index) for every positive of split `paths` (this worker's
  // share) whose item is in the corpus.
  Status ForEachPositive(const std::vector<std::string>& paths,
                         const std::function<void(const Batch&, int64_t, int64_t)>& fn) const;
  Status Load();
  Status LoadCorpus();
  Status LoadTrainPositives();
  // The key of row i of `batch` (first id of the key slot), or false when it has none.
  bool Key(const Batch& batch, int64_t i, uint64_t* key) const;
  int Owner(uint64_t user) const;

  const JobConfig config_;
  StepRunner* const runner_;
  Communicator* const workers_;
  RetrievalOptions options_;
  std::string select_;
  int key_slot_ = -1;
  bool loaded_ = false;

  std::vector<Batch> corpus_;                         // this worker's share, sorted by domain once
  std::vector<uint64_t> local_keys_;                  // their item keys, in order
  int64_t corpus_offset_ = 0;                         // global index of its first item
  int64_t corpus_size_ = 0;                           // N_i over all workers
  std::unordered_map<uint64_t, int64_t> item_index_;  // key -> global index
  // Train positives of the users this worker owns: user -> sorted global item indices.
  std::unordered_map<uint64_t, std::vector<int64_t>> train_;
};

}  // namespace moerec

#endif  // MOEREC_WORKER_MATCHING_EVAL_H_
