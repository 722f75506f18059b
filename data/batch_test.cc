#include "data/batch.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "data/test_util.h"

namespace moerec {
namespace {

using testing::MakeHeader;
using testing::MakeRandomBatch;

TEST(SortBatchByDomainTest, StableAndEveryColumnMoves) {
  const ShardHeader h = MakeHeader(2, 3, 2, true, 4);
  Batch b = MakeRandomBatch(h, 200, 9);  // user i = i identifies sample i
  b.domain[0] = 3;                       // unsorted for sure
  const Batch original = b;
  std::vector<int64_t> begin;
  SortBatchByDomain(&b, 5, &begin);  // domain 4 is empty
  ASSERT_TRUE(b.Validate(5).ok());
  ASSERT_EQ(begin.size(), 6u);
  EXPECT_EQ(begin[0], 0);
  EXPECT_EQ(begin[5], 200);
  EXPECT_EQ(begin[4], begin[5]);
  for (int d = 0; d < 5; ++d) {
    for (int64_t k = begin[d]; k < begin[d + 1]; ++k) {
      ASSERT_EQ(b.domain[k], d);
      if (k > begin[d]) {
        ASSERT_LT(b.user[k - 1], b.user[k]) << "not stable";
      }
    }
  }
  for (int64_t k = 0; k < 200; ++k) {
    const uint64_t i = b.user[k];
    ASSERT_EQ(b.domain[k], original.domain[i]);
    for (int t = 0; t < 2; ++t) {
      ASSERT_EQ(b.labels[k * 2 + t], original.labels[i * 2 + t]);
      ASSERT_EQ(b.label_mask[k * 2 + t], original.label_mask[i * 2 + t]);
      ASSERT_EQ(b.truth[k * 2 + t], original.truth[i * 2 + t]);
    }
    for (int f = 0; f < 2; ++f) ASSERT_EQ(b.dense[k * 2 + f], original.dense[i * 2 + f]);
    for (int s = 0; s < 3; ++s) {
      const std::vector<uint64_t> got(b.ids[s].begin() + b.offsets[s][k],
                                      b.ids[s].begin() + b.offsets[s][k + 1]);
      const std::vector<uint64_t> want(original.ids[s].begin() + original.offsets[s][i],
                                       original.ids[s].begin() + original.offsets[s][i + 1]);
      ASSERT_EQ(got, want) << "sample " << i << " slot " << s;
    }
  }
}

TEST(SortBatchByDomainTest, SortedAndEmptyBatches) {
  const ShardHeader h = MakeHeader(1, 1, 0, false, 3);
  Batch b = MakeRandomBatch(h, 50, 4);
  std::sort(b.domain.begin(), b.domain.end());
  const Batch original = b;
  std::vector<int64_t> begin;
  SortBatchByDomain(&b, 3, &begin);
  testing::ExpectBatchEq(b, original);
  int64_t zeros = std::count(original.domain.begin(), original.domain.end(), 0);
  EXPECT_EQ(begin[1], zeros);
  Batch empty;
  empty.Reset(1, 1, 0);
  SortBatchByDomain(&empty, 2, &begin);
  EXPECT_EQ(begin, (std::vector<int64_t>{0, 0, 0}));
}

}  // namespace
}  // namespace moerec
