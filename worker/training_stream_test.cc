#include "worker/training_stream.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "data/shard.h"
#include "data/test_util.h"

namespace moerec {
namespace {

using testing::MakeHeader;
using testing::MakeRandomBatch;
using testing::TempDir;

class TrainingStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ShardHeader h = MakeHeader(2, 2, 1, false, 3);
    all_ = MakeRandomBatch(h, 900, 4);  // user i = sample i
    auto w = ShardWriter::Open(dir_.file("a.mrs"), h, 64);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(all_).ok());
    ASSERT_TRUE((*w)->Close().ok());
    config_.set_batch_size(20);
    config_.set_shuffle_buffer(200);
    config_.set_worker_split(ReaderConfig::GLOBAL_BATCH_SLICES);
  }

  // Every batch of `worker` (of `workers`) in epoch 0, with the domain regrouping set.
  std::vector<Batch> Epoch(int worker, int workers, bool single, int only, int skip = 0) {
    auto s = TrainingStream::Open({dir_.file("a.mrs")}, config_, 7, worker, workers);
    EXPECT_TRUE(s.ok());
    EXPECT_TRUE((*s)->SetDomainBatches(single, only).ok());
    EXPECT_TRUE((*s)->StartEpoch(0).ok());
    EXPECT_TRUE((*s)->Skip(skip).ok());
    std::vector<Batch> out;
    Batch b;
    while (true) {
      auto more = (*s)->Next(&b);
      EXPECT_TRUE(more.ok());
      if (!more.ok() || !*more) break;
      out.push_back(b);
    }
    return out;
  }

  TempDir dir_;
  Batch all_;
  ReaderConfig config_;
};

TEST_F(TrainingStreamTest, SlicesOfSingleDomainGlobalBatchesMatchOneProcess) {
  const std::vector<Batch> one = Epoch(0, 1, true, -1);
  const std::vector<Batch> w0 = Epoch(0, 2, true, -1);
  const std::vector<Batch> w1 = Epoch(1, 2, true, -1);
  ASSERT_EQ(w0.size(), w1.size());
  // One process with batch 40 sees the global batches the two workers slice.
  const std::vector<Batch> global = [&] {
    config_.set_batch_size(40);
    auto v = Epoch(0, 1, true, -1);
    config_.set_batch_size(20);
    return v;
  }();
  ASSERT_EQ(global.size(), w0.size());
  std::set<uint64_t> seen;
  for (size_t k = 0; k < global.size(); ++k) {
    ASSERT_GT(global[k].size, 0);
    const int d = global[k].domain[0];
    for (int64_t i = 0; i < global[k].size; ++i) ASSERT_EQ(global[k].domain[i], d);
    std::vector<uint64_t> both(w0[k].user);
    both.insert(both.end(), w1[k].user.begin(), w1[k].user.end());
    EXPECT_EQ(both, global[k].user) << "step " << k;
    seen.insert(global[k].user.begin(), global[k].user.end());
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(all_.size));
  EXPECT_GT(one.size(), w0.size());
}

TEST_F(TrainingStreamTest, SkipResumesTheRegroupedSequence) {
  const std::vector<Batch> whole = Epoch(0, 1, true, -1);
  const std::vector<Batch> rest = Epoch(0, 1, true, -1, /*skip=*/5);
  ASSERT_EQ(rest.size() + 5, whole.size());
  for (size_t k = 0; k < rest.size(); ++k) EXPECT_EQ(rest[k].user, whole[k + 5].user);
}

TEST_F(TrainingStreamTest, OneDomainFullBatches) {
  config_.set_worker_split(ReaderConfig::FILE_SHARES);
  const std::vector<Batch> only = Epoch(0, 1, false, 1);
  int64_t want = 0;
  for (int64_t i = 0; i < all_.size; ++i) want += all_.domain[i] == 1;
  int64_t total = 0;
  for (size_t k = 0; k < only.size(); ++k) {
    if (k + 1 < only.size()) {
      EXPECT_EQ(only[k].size, 20);
    }
    for (int32_t d : only[k].domain) ASSERT_EQ(d, 1);
    total += only[k].size;
  }
  EXPECT_EQ(total, want);
  // Back to mixed batches.
  const std::vector<Batch> mixed = Epoch(0, 1, false, -1);
  std::set<int32_t> domains(mixed[0].domain.begin(), mixed[0].domain.end());
  EXPECT_GT(domains.size(), 1u);
  auto s = TrainingStream::Open({dir_.file("a.mrs")}, config_, 7, 0, 1);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)->SetDomainBatches(false, 3).ok());  // 3 domains: 0..2
}

}  // namespace
}  // namespace moerec
