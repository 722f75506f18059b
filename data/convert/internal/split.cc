#include "data/convert/internal/split.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace moerec::convert {

Splitter::Splitter(const SplitConfig& config, int num_domains) : config_(config) {
  strata_.resize(config_.per_domain() ? num_domains : 1);
  for (size_t s = 0; s < strata_.size(); ++s) {
    strata_[s].rng = Rng(HashCombine(config_.seed(), s));
  }
}

void Splitter::Observe(const Row& row) {
  CHECK(needs_counting_pass());
  Stratum& s = strata_[StratumOf(row)];
  ++s.rows;
  if (config_.method() == SplitConfig::BY_TIME) s.keys.emplace_back(row.time, row.ordinal);
}

void Splitter::Plan() {
  for (Stratum& s : strata_) {
    const double n = static_cast<double>(s.rows);
    const int64_t c1 = std::clamp<int64_t>(std::llround(config_.train() * n), 0, s.rows);
    const int64_t c2 =
        std::clamp<int64_t>(std::llround((config_.train() + config_.validation()) * n), c1, s.rows);
    s.quota = {c1, c2 - c1, s.rows - c2};
    s.left = s.quota;
    if (config_.method() != SplitConfig::BY_TIME) continue;
    constexpr Key kEnd{std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::max()};
    std::sort(s.keys.begin(), s.keys.end());
    s.cut1 = c1 < s.rows ? s.keys[c1] : kEnd;
    s.cut2 = c2 < s.rows ? s.keys[c2] : kEnd;
    std::vector<Key>().swap(s.keys);
  }
}

StatusOr<int> Splitter::Assign(const Row& row) {
  int split = 0;
  switch (config_.method()) {
    case SplitConfig::RANDOM: {
      const double u =
          ToUnitDouble(HashCombine(config_.seed(), static_cast<uint64_t>(row.ordinal)));
      // With test == 0, train + validation may round to just below 1: nothing goes to test.
      const double cut2 = config_.test() == 0 ? 2.0 : config_.train() + config_.validation();
      split = u < config_.train() ? 0 : u < cut2 ? 1 : 2;
      return split;
    }
    case SplitConfig::BY_FILE: {
      if (row.file_split != 0) return row.file_split;
      const double u =
          ToUnitDouble(HashCombine(config_.seed(), static_cast<uint64_t>(row.ordinal)));
      return u < config_.validation() ? 1 : 0;
    }
    case SplitConfig::EXACT_RANDOM: {
      Stratum& s = strata_[StratumOf(row)];
      const int64_t remaining = s.left[0] + s.left[1] + s.left[2];
      if (remaining == 0) break;
      const int64_t u = static_cast<int64_t>(s.rng.Below(remaining));
      split = u < s.left[0] ? 0 : u < s.left[0] + s.left[1] ? 1 : 2;
      --s.left[split];
      return split;
    }
    case SplitConfig::BY_TIME: {
      Stratum& s = strata_[StratumOf(row)];
      const Key key(row.time, row.ordinal);
      split = key < s.cut1 ? 0 : key < s.cut2 ? 1 : 2;
      if (s.left[split] == 0) break;
      --s.left[split];
      return split;
    }
  }
  return FailedPrecondition("input row " + std::to_string(row.ordinal) +
                            " was not seen by the counting pass; did the input change?");
}

Status Splitter::Finish() const {
  if (!needs_counting_pass()) return Status::OK();
  for (const Stratum& s : strata_) {
    if (s.left[0] + s.left[1] + s.left[2] != 0) {
      return FailedPrecondition(
          "fewer rows in the writing pass than in the counting pass; did the input change?");
    }
  }
  return Status::OK();
}

}  // namespace moerec::convert
