// Splitter assigns each row to train, validation or test (SplitConfig in proto/convert.proto).
//
// RANDOM needs one pass: a row's split is a pure function of (seed, row ordinal); so does
// BY_FILE, where a row of a validation or test file keeps its file's split and a row of a train
// file goes to validation when the same hash falls below `validation`. EXACT_RANDOM
// and BY_TIME need a counting pass first: Observe every good row in input order, Plan, then
// Assign the same rows in the same order. Strata are domains with per_domain, else one.
//   EXACT_RANDOM: selection sampling within each stratum (a row goes to a split with
//     probability remaining quota / remaining rows), so every split gets exactly its count and
//     every assignment with those counts is equally likely; O(strata) memory.
//   BY_TIME: (time, ordinal) keys are kept until Plan finds the two cut keys per stratum.
// Counts of a stratum of n rows: train round(f_train n), validation round((f_train + f_val) n)
// minus that, test the rest. Not thread-safe.
#ifndef MOEREC_DATA_CONVERT_INTERNAL_SPLIT_H_
#define MOEREC_DATA_CONVERT_INTERNAL_SPLIT_H_

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/random.h"
#include "core/status.h"
#include "data/convert/internal/row_source.h"
#include "proto/convert.pb.h"

namespace moerec::convert {

inline constexpr int kNumSplits = 3;
inline constexpr const char* kSplitNames[kNumSplits] = {"train", "validation", "test"};

class Splitter {
 public:
  Splitter(const SplitConfig& config, int num_domains);

  bool needs_counting_pass() const {
    return config_.method() != SplitConfig::RANDOM && config_.method() != SplitConfig::BY_FILE;
  }
  // Counting pass (needs_counting_pass only).
  void Observe(const Row& row);
  void Plan();
  // The split (0 train, 1 validation, 2 test) of the next row. FailedPrecondition when the rows
  // differ from the counting pass (the input changed underneath).
  StatusOr<int> Assign(const Row& row);
  // After the last Assign: checks that every planned row came.
  Status Finish() const;

  // Exact counts planned for a stratum (after Plan).
  std::array<int64_t, kNumSplits> planned(int stratum) const { return strata_[stratum].quota; }

 private:
  using Key = std::pair<int64_t, int64_t>;  // (time, ordinal)
  struct Stratum {
    int64_t rows = 0;
    std::array<int64_t, kNumSplits> quota = {0, 0, 0};  // planned counts
    std::array<int64_t, kNumSplits> left = {0, 0, 0};   // still to assign (EXACT_RANDOM)
    std::vector<Key> keys;                              // BY_TIME, until Plan
    Key cut1{0, 0};                                     // BY_TIME: keys < cut1 go to train,
    Key cut2{0, 0};  // keys < cut2 to validation, the rest to test
    Rng rng{0};
  };
  int StratumOf(const Row& row) const { return config_.per_domain() ? row.domain : 0; }

  const SplitConfig config_;
  std::vector<Stratum> strata_;
};

}  // namespace moerec::convert

#endif  // MOEREC_DATA_CONVERT_INTERNAL_SPLIT_H_
