// What the two synthetic generators share (synthetic.h: ranking data, matching.h: matching
// data): config checks and their messages, the domain (scenario) shares, the split sizes, the
// output folders with their shards, and the split table of the summaries.
// Samples of all splits are numbered end to end: train [0, n_train), validation next, then test
// (and, for matching data, the item corpus after them); a ShardJob is a range of those numbers.
// Thread-safety: everything is reentrant; WriteShards uses the compute threads
// (core/parallel.h) and calls `fill` concurrently on different jobs.
#ifndef MOEREC_DATA_SYNTHETIC_INTERNAL_GENERATION_H_
#define MOEREC_DATA_SYNTHETIC_INTERNAL_GENERATION_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "data/batch.h"
#include "data/synthetic/synthetic.h"
#include "proto/config.pb.h"
#include "proto/data.pb.h"

namespace moerec {

// InvalidArgument "data config: <field> = <value> must be <allowed>".
Status ConfigError(const std::string& field, const std::string& value, const std::string& allowed);
std::string FormatNumber(double v);            // "%g"
bool InRange(double v, double lo, double hi);  // finite and in [lo, hi]

// The checks both generators need: num_domains in [1, 65536], domain_names (empty or one per
// domain, non-empty, no '/'), slot names non-empty and unique, and the `synthetic` fields both
// read: num_samples, the split fractions, domain_skew, latent_dim, num_users, tail_share,
// samples_per_shard (ranges in config.proto and docs/configs.md).
Status ValidateCommonSyntheticConfig(const DataConfig& config);

// Domain d ~ Categorical(share): share ∝ (d + 1)^-domain_skew, except that with tail_share > 0
// (and more than one domain) the last domain gets exactly tail_share and the others split the
// rest in domain_skew's proportions. `config` must have passed ValidateCommonSyntheticConfig.
class DomainSampler {
 public:
  explicit DomainSampler(const DataConfig& config);
  int Draw(double uniform) const;  // uniform in [0, 1)
  double share(int d) const { return share_[d]; }
  int num_domains() const { return static_cast<int>(share_.size()); }

 private:
  std::vector<double> share_;  // (D)
  std::vector<double> cdf_;    // (D), the last entry exactly 1
};

// Sample counts of train, validation and test for num_samples (validation and test rounded to
// the nearest integer). InvalidArgument when no training samples remain.
StatusOr<std::array<int64_t, 3>> SplitSizes(const SyntheticConfig& config);

struct ShardJob {
  int split = 0;      // index into the splits given to PlanShards
  int shard = 0;      // file part-<shard>.mrs of the split's folder
  int64_t begin = 0;  // first sample number (end to end over the splits)
  int64_t count = 0;  // may be 0: the one shard of an empty split
  std::string path;
};

// Checks that the folders are non-empty and pairwise distinct, creates them and removes stale
// part-*.mrs files (and their temporaries), and cuts split k's counts[k] samples into shards of
// samples_per_shard; an empty split gets one empty shard, so its folder reads as empty data.
// *splits gets one summary per split with name, dir, samples and shards filled in.
StatusOr<std::vector<ShardJob>> PlanShards(const std::vector<std::string>& names,
                                           const std::vector<std::string>& dirs,
                                           const std::vector<int64_t>& counts,
                                           int64_t samples_per_shard,
                                           std::vector<SyntheticSplitSummary>* splits);

// Writes every job's shard: fill(job, &batch) appends the job's samples to a batch Reset to the
// header's layout (fill must be a pure function of the job for output independent of the
// thread count). Each split's summary gets the samples written (replacing the planned count),
// its samples per domain (header.num_domains), labels observed and positive rate per task. Returns
// the first failure in job order. `progress`, when given, is called after each job's fill with
// the jobs' sample numbers made so far (their counts summed) and the total of all jobs, one call
// at a time.
Status WriteShards(const std::vector<ShardJob>& jobs, const ShardHeader& header,
                   const std::function<void(const ShardJob&, Batch*)>& fill,
                   std::vector<SyntheticSplitSummary>* splits,
                   const RowProgress& progress = nullptr);

// The configured domain names, else <prefix>0, <prefix>1, ... (as the metrics name them).
std::vector<std::string> DomainNames(const DataConfig& config, const std::string& prefix);

// One line per split: name, samples, shards, samples per domain, folder; a heading first.
std::string FormatSplitTable(const std::vector<std::string>& domain_names,
                             const std::vector<SyntheticSplitSummary>& splits);

}  // namespace moerec

#endif  // MOEREC_DATA_SYNTHETIC_INTERNAL_GENERATION_H_
