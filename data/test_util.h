// Helpers shared by the data tests: random batches, batch equality, temporary directories.
#ifndef MOEREC_DATA_TEST_UTIL_H_
#define MOEREC_DATA_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "core/temp_dir.h"
#include "data/batch.h"
#include "proto/data.pb.h"

namespace moerec::testing {

inline ShardHeader MakeHeader(int tasks, int slots, int dense, bool truth, int domains) {
  ShardHeader h;
  h.set_version(1);
  h.set_num_tasks(tasks);
  h.set_num_slots(slots);
  h.set_num_dense(dense);
  h.set_has_truth(truth);
  h.set_num_domains(domains);
  for (int s = 0; s < slots; ++s) h.add_slot_names("slot" + std::to_string(s));
  return h;
}

// A valid batch of n samples; sample i's user is first_user + i, so samples are identifiable.
inline Batch MakeRandomBatch(const ShardHeader& h, int64_t n, uint64_t seed,
                             uint64_t first_user = 0, int max_ids = 4) {
  std::mt19937_64 rng(seed);
  Batch b;
  b.Reset(h.num_tasks(), h.num_slots(), h.num_dense());
  for (int64_t i = 0; i < n; ++i) {
    b.domain.push_back(static_cast<int32_t>(rng() % h.num_domains()));
    b.user.push_back(first_user + i);
    for (int t = 0; t < h.num_tasks(); ++t) {
      b.labels.push_back(static_cast<float>(rng() % 2));
      b.label_mask.push_back(static_cast<uint8_t>(rng() % 2));
      if (h.has_truth()) b.truth.push_back(static_cast<float>(rng() % 1000) / 999.0f);
    }
    for (int f = 0; f < h.num_dense(); ++f) b.dense.push_back(static_cast<float>(rng() % 100));
    for (int s = 0; s < h.num_slots(); ++s) {
      const int k = static_cast<int>(rng() % (max_ids + 1));
      for (int j = 0; j < k; ++j) b.ids[s].push_back(rng() % 100000);
      b.offsets[s].push_back(static_cast<uint32_t>(b.ids[s].size()));
    }
  }
  b.size = n;
  return b;
}

inline void ExpectBatchEq(const Batch& a, const Batch& b) {
  ASSERT_EQ(a.size, b.size);
  EXPECT_EQ(a.domain, b.domain);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.label_mask, b.label_mask);
  EXPECT_EQ(a.truth, b.truth);
  EXPECT_EQ(a.dense, b.dense);
  EXPECT_EQ(a.offsets, b.offsets);
  EXPECT_EQ(a.ids, b.ids);
}

}  // namespace moerec::testing

#endif  // MOEREC_DATA_TEST_UTIL_H_
