// Synthetic matching data with a known relevance model (`moerec gen` with
// `data.synthetic.matching`; docs/formats.md "Synthetic matching data"). Each sample is an
// interaction of a user with one item of a corpus, drawn from a known softmax over the whole
// corpus, so the best achievable Recall@K of a retrieval model is known (oracle.json).
//
// The generative model (L = synthetic.latent_dim, D = num_domains scenarios, N =
// matching.num_items, U = synthetic.num_users, C = item_categories, G = user_groups; every
// parameter is drawn from a hash of `synthetic.seed`):
// - Item i in [0, N) has popularity rank i + 1 (item 0 the most popular):
//   pop_i = (i + 1)^-item_zipf / Σ_j (j + 1)^-item_zipf. Its latent v_i ~ N(0, I / L); its
//   category c_i is the nearest (Euclidean; lower index on a tie) of C centroids ~ N(0, I / L),
//   so the item_category slot carries part of the latent.
// - User u in [0, U) belongs to group g_u = hash(u) mod G. Its latent a_u =
//   sqrt(kGroupShare) γ_g + sqrt(1 - kGroupShare) ε_u with γ_g, ε_u ~ N(0, I) and kGroupShare =
//   0.5 (internal/matching_model.h), so the user_group slot carries half of its variance. In
//   scenario s: a_us = (a_u + ρ R_s a_u) / sqrt(1 + ρ²), ρ = scenario_specificity, R_s an L x L
//   matrix of N(0, 1 / L) entries: each component of a_us has variance about 1 and the taste of
//   a user correlates about 1 / (1 + ρ²) across scenarios. <a_us, v_i> has variance about 1, so
//   relevance_scale is the standard deviation of the affinity term.
// - A sample: scenario s ~ the ranking generator's domain shares (domain_skew, and exactly
//   tail_share for the last scenario when tail_share > 0; synthetic.h); user u ~ Uniform[0, U);
//   item i ~ p(i | u, s) = softmax_i(popularity_weight · log pop_i + relevance_scale ·
//   <a_us, v_i>) over all N items. The scores of a (user, scenario) pair are computed once, by
//   float GEMMs over blocks of pairs, and all of its samples are drawn from their CDF: p is
//   exact up to float rounding (relative error ~1e-6 per item).
// - Rows: the interaction (label 1, mask 1), then negatives_per_positive impressions of the same
//   user and scenario with items drawn by popularity (pop_i, without excluding the positive;
//   label 0, mask 1). One task; no truth column; no dense features. Batch::user = u,
//   Batch::domain = s.
// - Slots, recognised by name in the config's order: "user_id" = u and "user_group" = g_u
//   (SIDE_USER), "item_id" = i and "item_category" = c_i (SIDE_ITEM). user_id and item_id are
//   required.
//
// Output. Interactions are i.i.d.: numbers [0, n_train) go to train, the next n_validation to
// validation, the rest to test (fractions as in synthetic.h). A split's shards hold
// samples_per_shard interactions each, every one followed by its negatives. The item corpus,
// one sample per item in item order (item_id = i, item_category = c_i, user slots empty, label
// 0 with mask 0, domain 0, user 0), goes to the items folder (data.items, else "items" beside
// the train folder). Folders are created if needed and their stale part-*.mrs files removed.
// <test folder>/oracle.json holds the oracle: for every (user, scenario) pair with at least one
// test interaction (a query of the retrieval evaluation), the expected Recall@K of its held-out
// positives under the best ranking is Σ of p(i | u, s) over its K most probable items, nothing
// excluded. oracle.json has, for each K of matching.oracle_ks (default 50), "recall@K" (the
// mean over all queries) and "recall@K/<scenario>" (over the scenario's queries; null when it
// has none), then "queries" and "queries/<scenario>"; scenario names are data.domain_names,
// else s0, s1, ... (as worker/metrics/retrieval.h names them). The mean is exact for the
// expected recall of a query's held-out draws when they are distinct items; repeated draws of
// one item (likely for popular items) count once in the evaluation's lists, so the measured
// recall of even the ideal ranking can differ slightly from the oracle.
//
// Samples are a pure function of (config, sample number); the output is identical for any
// thread count. Cost: O(pairs · N · L) time for the scores (pairs: the distinct (user, scenario)
// pairs), O(num_samples) memory for the draws plus 32 MiB of scores per thread. Measured on an
// AMD EPYC with OpenBLAS, N = 100000, U = 10000, 1,000,000 interactions, D = 3, L = 16 (29490
// pairs): 26-29 s of CPU, 19-27 s wall on 2 cores that another job shared; two thirds of it is
// the exp of SoftmaxForward (core/softmax.h), which GCC 12 leaves scalar.
// Thread-safety: GenerateMatching uses the compute thread pool (core/parallel.h).
#ifndef MOEREC_DATA_SYNTHETIC_MATCHING_H_
#define MOEREC_DATA_SYNTHETIC_MATCHING_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "data/synthetic/synthetic.h"
#include "proto/config.pb.h"

namespace moerec {

inline constexpr char kOracleFile[] = "oracle.json";

struct MatchingOutputs {
  SyntheticOutputs splits;  // train, validation, test
  std::string items_dir;    // the item corpus
};

struct MatchingSummary {
  // train, validation, test: samples = rows written (interactions and their negatives),
  // domain_samples = rows per scenario.
  std::vector<SyntheticSplitSummary> splits;
  SyntheticSplitSummary items;         // the corpus: one sample per item
  std::vector<double> scenario_share;  // (D) expected share of the interactions
  double head_item_share = 0;          // pop_0
  int64_t pairs = 0;                   // (user, scenario) pairs with at least one interaction
  // As in oracle.json: for each K, "recall@K" then "recall@K/<scenario>" per scenario (NaN
  // where a scenario has no query).
  std::vector<std::pair<std::string, double>> oracle;
  std::vector<int64_t> oracle_queries;  // (D) pairs with test interactions, per scenario
  std::string oracle_path;              // <test_dir>/oracle.json
};

// Checks what the matching generator needs of `config` (synthetic.matching set): num_domains,
// num_tasks = 1, num_dense = 0, the slots (known names, their sides, user_id and item_id
// present) and every `synthetic` and `synthetic.matching` field it reads. InvalidArgument
// naming the field or slot.
Status ValidateMatchingConfig(const DataConfig& config);

// The output folders: train, validation and test as SyntheticOutputsFromConfig, and data.items
// (at most one folder; empty = "items" beside the train folder). Paths already resolved by the
// caller. InvalidArgument otherwise.
StatusOr<MatchingOutputs> MatchingOutputsFromConfig(const DataConfig& config);

// Generates config.synthetic().num_samples interactions, writes the three splits, the item
// corpus and oracle.json. `progress`, when given, is called with the interactions and corpus
// items written so far and their total (num_samples + num_items), after each shard's rows are
// made (from the compute threads, one call at a time).
StatusOr<MatchingSummary> GenerateMatching(const DataConfig& config, const MatchingOutputs& outputs,
                                           const RowProgress& progress = nullptr);

// A few lines for the log: rows per split and scenario, the tail scenario's share, the oracle
// recall. Ends with a newline.
std::string FormatMatchingSummary(const DataConfig& config, const MatchingSummary& summary);

}  // namespace moerec

#endif  // MOEREC_DATA_SYNTHETIC_MATCHING_H_
