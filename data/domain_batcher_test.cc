#include "data/domain_batcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "data/test_util.h"

namespace moerec {
namespace {

using testing::MakeHeader;
using testing::MakeRandomBatch;

// Sample i of `all` carries user i; checks that `got` row k is that sample, every column.
void ExpectSameSample(const Batch& all, const Batch& got, int64_t k) {
  const uint64_t i = got.user[k];
  ASSERT_LT(i, static_cast<uint64_t>(all.size));
  EXPECT_EQ(got.domain[k], all.domain[i]);
  for (int t = 0; t < all.num_tasks; ++t) {
    EXPECT_EQ(got.labels[k * all.num_tasks + t], all.labels[i * all.num_tasks + t]);
    EXPECT_EQ(got.label_mask[k * all.num_tasks + t], all.label_mask[i * all.num_tasks + t]);
    if (all.has_truth()) {
      EXPECT_EQ(got.truth[k * all.num_tasks + t], all.truth[i * all.num_tasks + t]);
    }
  }
  for (int f = 0; f < all.num_dense; ++f) {
    EXPECT_EQ(got.dense[k * all.num_dense + f], all.dense[i * all.num_dense + f]);
  }
  for (int s = 0; s < all.num_slots; ++s) {
    const std::vector<uint64_t> want(all.ids[s].begin() + all.offsets[s][i],
                                     all.ids[s].begin() + all.offsets[s][i + 1]);
    const std::vector<uint64_t> have(got.ids[s].begin() + got.offsets[s][k],
                                     got.ids[s].begin() + got.offsets[s][k + 1]);
    EXPECT_EQ(have, want) << "slot " << s << " of sample " << i;
  }
}

// Feeds `all` in uneven pieces, pops as it goes, flushes at the end.
std::vector<Batch> Regroup(const Batch& all, DomainBatcher* batcher) {
  std::vector<Batch> out;
  const int64_t pieces[] = {1, 37, 5, 90, 13};
  int64_t pos = 0;
  for (int p = 0; pos < all.size; ++p) {
    const int64_t end = std::min(all.size, pos + pieces[p % 5]);
    Batch piece;
    piece.AppendFrom(all, pos, end);
    batcher->Add(piece);
    pos = end;
    Batch b;
    while (batcher->Pop(&b)) out.push_back(std::move(b));
  }
  batcher->Flush();
  Batch b;
  while (batcher->Pop(&b)) out.push_back(std::move(b));
  return out;
}

TEST(DomainBatcherTest, SingleDomainBatchesKeepEverySampleInOrder) {
  const ShardHeader h = MakeHeader(2, 3, 2, true, 4);
  const Batch all = MakeRandomBatch(h, 700, 21);  // user i = i identifies sample i
  DomainBatcher batcher(16, 4);
  const std::vector<Batch> out = Regroup(all, &batcher);
  std::vector<int64_t> seen(4, -1);  // the last sample index per domain
  std::vector<int> short_batches(4, 0);
  int64_t total = 0;
  for (const Batch& b : out) {
    ASSERT_TRUE(b.Validate(4).ok());
    ASSERT_GT(b.size, 0);
    const int d = b.domain[0];
    if (b.size < 16) ++short_batches[d];
    for (int64_t k = 0; k < b.size; ++k) {
      ASSERT_EQ(b.domain[k], d) << "a batch mixes domains";
      EXPECT_GT(static_cast<int64_t>(b.user[k]), seen[d]) << "order within a domain";
      seen[d] = static_cast<int64_t>(b.user[k]);
      ExpectSameSample(all, b, k);
    }
    total += b.size;
  }
  EXPECT_EQ(total, all.size);
  for (int d = 0; d < 4; ++d) EXPECT_LE(short_batches[d], 1) << "only the flushed one is short";
  // The domains interleave as the data bring them: not all of domain 0 first.
  int changes = 0;
  for (size_t i = 1; i < out.size(); ++i) changes += out[i].domain[0] != out[i - 1].domain[0];
  EXPECT_GT(changes, 4);
}

TEST(DomainBatcherTest, OnlyDomainGivesFullBatchesOfThatDomain) {
  const ShardHeader h = MakeHeader(1, 2, 0, false, 3);
  const Batch all = MakeRandomBatch(h, 500, 5);
  int64_t want = 0;
  for (int64_t i = 0; i < all.size; ++i) want += all.domain[i] == 2;
  DomainBatcher batcher(10, 3, /*only_domain=*/2);
  const std::vector<Batch> out = Regroup(all, &batcher);
  int64_t total = 0;
  for (size_t j = 0; j < out.size(); ++j) {
    if (j + 1 < out.size()) {
      EXPECT_EQ(out[j].size, 10);
    }
    for (int64_t k = 0; k < out[j].size; ++k) {
      ASSERT_EQ(out[j].domain[k], 2);
      ExpectSameSample(all, out[j], k);
    }
    total += out[j].size;
  }
  EXPECT_EQ(total, want);
  ASSERT_GT(want, 20);
}

TEST(DomainBatcherTest, ClearDropsPendingAndQueued) {
  const ShardHeader h = MakeHeader(1, 1, 0, false, 2);
  const Batch all = MakeRandomBatch(h, 50, 3);
  DomainBatcher batcher(8, 2);
  batcher.Add(all);
  batcher.Clear();
  batcher.Flush();
  Batch b;
  EXPECT_FALSE(batcher.Pop(&b));
}

}  // namespace
}  // namespace moerec
