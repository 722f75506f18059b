#include "embedding/sparse_input.h"

#include <gtest/gtest.h>

namespace moerec {
namespace {

// Two slots share table 0 (dim 2); slot 2 uses table 1 (dim 3) with mean pooling; 1 dense.
SparseInput Make() {
  return SparseInput({{0, PoolingMode::kSum}, {0, PoolingMode::kSum}, {1, PoolingMode::kMean}},
                     {2, 3}, 1);
}

Batch MakeBatch() {
  Batch b;
  b.Reset(1, 3, 1);
  b.size = 2;
  b.domain = {0, 0};
  b.user = {0, 1};
  b.labels = {1, 0};
  b.label_mask = {1, 1};
  b.dense = {0.5f, -0.5f};
  b.ids[0] = {10, 11};  // sample 0: 10, sample 1: 11
  b.offsets[0] = {0, 1, 2};
  b.ids[1] = {11, 12, 10};  // sample 0: 11, 12; sample 1: 10
  b.offsets[1] = {0, 2, 3};
  b.ids[2] = {};  // empty bags
  b.offsets[2] = {0, 0, 0};
  return b;
}

TEST(SparseInputTest, DeduplicatesPerTableAcrossSlots) {
  SparseInput in = Make();
  EXPECT_EQ(in.num_features(), 2 + 2 + 3 + 1);
  Batch b = MakeBatch();
  SparseBatch sb;
  in.Prepare(b, &sb);
  ASSERT_EQ(sb.requests.size(), 2u);
  EXPECT_EQ(sb.requests[0].keys, (std::vector<uint64_t>{10, 11, 12}));  // first-seen order
  EXPECT_TRUE(sb.requests[1].keys.empty());
  EXPECT_EQ(sb.index[1], (std::vector<int32_t>{1, 2, 0}));
  EXPECT_EQ(sb.requests[0].values.size(), 6u);
  EXPECT_EQ(sb.total_keys(), 3);
}

TEST(SparseInputTest, PoolsAndScattersGradientsPerUniqueKey) {
  SparseInput in = Make();
  Batch b = MakeBatch();
  SparseBatch sb;
  in.Prepare(b, &sb);
  sb.requests[0].values = {1, 2, 10, 20, 100, 200};  // rows of keys 10, 11, 12
  Tensor f({2, 8});
  in.Pool(b, sb, f.view());
  const std::vector<float> row0 = {1, 2, 110, 220, 0, 0, 0, 0.5f};
  const std::vector<float> row1 = {10, 20, 1, 2, 0, 0, 0, -0.5f};
  for (int j = 0; j < 8; ++j) {
    EXPECT_EQ(f.at(0, j), row0[j]) << j;
    EXPECT_EQ(f.at(1, j), row1[j]) << j;
  }
  Tensor df({2, 8});
  for (int64_t i = 0; i < df.size(); ++i) df[i] = static_cast<float>(i);
  in.PoolBackward(b, df.view(), &sb);
  // key 10: sample 0 slot 0 (0, 1) + sample 1 slot 1 (10, 11); key 11: sample 0 slot 1 (2, 3)
  // + sample 1 slot 0 (8, 9); key 12: sample 0 slot 1 (2, 3).
  EXPECT_EQ(sb.requests[0].values, (std::vector<float>{10, 12, 10, 12, 2, 3}));
}

}  // namespace
}  // namespace moerec
