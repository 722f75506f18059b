#include "core/embedding_bag.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/internal/test_util.h"
#include "core/parallel.h"

namespace moerec {
namespace {

using testing::Dot;
using testing::ExpectGradient;
using testing::RandomMat;
using testing::TestMat;

// Random bags over `unique` rows: lengths 0..max_len (several empty), ids repeat across and
// within bags.
void RandomBags(int64_t batch, int64_t unique, int max_len, Rng* rng,
                std::vector<uint32_t>* offsets, std::vector<int32_t>* index) {
  offsets->assign(1, 0);
  index->clear();
  for (int64_t i = 0; i < batch; ++i) {
    const int len = i % 4 == 1 ? 0 : static_cast<int>(rng->Below(max_len + 1));
    for (int k = 0; k < len; ++k) index->push_back(static_cast<int32_t>(rng->Below(unique)));
    offsets->push_back(static_cast<uint32_t>(index->size()));
  }
}

TEST(EmbeddingBagTest, ForwardSumsOrAveragesEachBag) {
  Rng rng(1);
  const int64_t batch = 9, unique = 5, dim = 7;
  std::vector<uint32_t> offsets;
  std::vector<int32_t> index;
  RandomBags(batch, unique, 4, &rng, &offsets, &index);
  TestMat rows = RandomMat(unique, dim, 2, &rng);
  for (PoolingMode mode : {PoolingMode::kSum, PoolingMode::kMean}) {
    TestMat out = RandomMat(batch, dim, 3, &rng);  // written, garbage before
    EmbeddingBagForward(rows.cview(), offsets.data(), index.data(), mode, out.view());
    for (int64_t i = 0; i < batch; ++i) {
      const uint32_t n = offsets[i + 1] - offsets[i];
      for (int64_t c = 0; c < dim; ++c) {
        double s = 0.0;
        for (uint32_t k = offsets[i]; k < offsets[i + 1]; ++k) s += rows.at(index[k], c);
        if (mode == PoolingMode::kMean && n > 0) s /= n;
        EXPECT_NEAR(out.at(i, c), s, 1e-6);
        if (n == 0) {
          EXPECT_EQ(out.at(i, c), 0.0f);
        }
      }
    }
    EXPECT_TRUE(out.PaddingIntact());
  }
}

TEST(EmbeddingBagTest, BackwardMatchesFiniteDifferencesAndAccumulates) {
  Rng rng(2);
  for (int trial = 0; trial < 4; ++trial) {
    for (PoolingMode mode : {PoolingMode::kSum, PoolingMode::kMean}) {
      const int64_t batch = 2 + rng.Below(8), unique = 1 + rng.Below(6), dim = 1 + rng.Below(9);
      std::vector<uint32_t> offsets;
      std::vector<int32_t> index;
      RandomBags(batch, unique, 5, &rng, &offsets, &index);
      TestMat rows = RandomMat(unique, dim, rng.Below(3), &rng);
      TestMat dout = RandomMat(batch, dim, rng.Below(3), &rng), out(batch, dim, 1);
      auto loss = [&] {
        EmbeddingBagForward(rows.cview(), offsets.data(), index.data(), mode, out.view());
        return Dot(dout, out);
      };
      TestMat drows(unique, dim, 2);
      drows.Fill(0.5f);
      EmbeddingBagBackward(dout.cview(), offsets.data(), index.data(), mode, drows.view());
      for (int64_t u = 0; u < unique; ++u) {
        for (int64_t c = 0; c < dim; ++c) drows.at(u, c) -= 0.5f;
      }
      ExpectGradient("embedding rows", &rows, drows, loss);
      EXPECT_TRUE(drows.PaddingIntact());
    }
  }
}

TEST(EmbeddingBagTest, BackwardIsTheSameForAnyThreadCount) {
  Rng rng(3);
  const int64_t batch = 1024, unique = 300, dim = 64;
  std::vector<uint32_t> offsets;
  std::vector<int32_t> index;
  RandomBags(batch, unique, 6, &rng, &offsets, &index);
  TestMat dout = RandomMat(batch, dim, 0, &rng);
  TestMat d1(unique, dim, 0), d2(unique, dim, 0);
  SetComputeThreads(1);
  EmbeddingBagBackward(dout.cview(), offsets.data(), index.data(), PoolingMode::kMean, d1.view());
  SetComputeThreads(2);
  EmbeddingBagBackward(dout.cview(), offsets.data(), index.data(), PoolingMode::kMean, d2.view());
  EXPECT_TRUE(d1.SameBits(d2));
}

}  // namespace
}  // namespace moerec
