// EvaluateRetrievalDistributed over real MPI ranks (mpirun -np 2 and -np 3): every rank
// generates the whole data set from one seed, evaluates it alone with EvaluateRetrieval, then
// takes its share of the users and its shard of the items; the distributed report must have
// the same bits on every rank. Bad input on one rank fails on all of them.
#include <gtest/gtest.h>
#include <mpi.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "comm/mpi_communicator.h"
#include "core/random.h"
#include "tests/mpi_test_main.h"
#include "worker/metrics/retrieval.h"

namespace moerec {
namespace {

constexpr int64_t kUsers = 103, kItems = 517, kDim = 12;
constexpr int kScenarios = 3;

// Everything, on every rank: user vectors (kUsers, kDim), items (kItems, kDim), and lists.
struct WholeData {
  WholeData() {
    Rng rng(2024);
    user_vectors.resize(kUsers * kDim);
    item_vectors.resize(kItems * kDim);
    for (float& x : user_vectors) x = 2.0f * rng.UniformFloat() - 1.0f;
    for (float& x : item_vectors) x = 2.0f * rng.UniformFloat() - 1.0f;
    users.vectors = ConstMatView(user_vectors.data(), kUsers, kDim, kDim);
    for (int64_t u = 0; u < kUsers; ++u) {
      users.scenario.push_back(static_cast<int32_t>(rng.Below(kScenarios)));
      std::vector<int64_t> train, heldout;
      for (int64_t i = 0; i < kItems; ++i) {
        const double p = rng.Uniform();
        if (p < 0.05) train.push_back(i);
        if (p > 0.96) heldout.push_back(i);
      }
      users.train.Add(train);
      users.heldout.Add(heldout);
    }
  }
  ConstMatView items() const { return ConstMatView(item_vectors.data(), kItems, kDim, kDim); }

  std::vector<float> user_vectors, item_vectors;
  RetrievalUsers users;
};

// One rank's share: the users u with owner(u) == rank, in increasing order.
struct Share {
  Share(const WholeData& all, int rank, int (*owner)(int64_t u, int workers), int workers) {
    for (int64_t u = 0; u < kUsers; ++u) {
      if (owner(u, workers) != rank) continue;
      vectors.insert(vectors.end(), all.user_vectors.begin() + u * kDim,
                     all.user_vectors.begin() + (u + 1) * kDim);
      users.scenario.push_back(all.users.scenario[u]);
      for (auto [from, to] : {std::pair{&all.users.train, &users.train},
                              std::pair{&all.users.heldout, &users.heldout}}) {
        to->Add(std::vector<int64_t>(from->items.begin() + from->offsets[u],
                                     from->items.begin() + from->offsets[u + 1]));
      }
    }
    users.vectors =
        ConstMatView(vectors.data(), static_cast<int64_t>(users.scenario.size()), kDim, kDim);
  }
  std::vector<float> vectors;
  RetrievalUsers users;
};

int Strided(int64_t u, int workers) { return static_cast<int>(u % workers); }
// The last rank owns no user.
int AllButLast(int64_t u, int workers) { return static_cast<int>(u % (workers - 1)); }

// Item shard boundaries: a first shard of 5 items (fewer than K), the rest split evenly; with
// `empty_first`, rank 0 holds no items and the others split the corpus.
std::vector<int64_t> ShardBounds(int workers, bool empty_first) {
  std::vector<int64_t> bounds = {0, empty_first ? 0 : 5};
  const int64_t start = bounds.back();
  const int rest = workers - static_cast<int>(bounds.size()) + 1;
  for (int r = 1; r <= rest; ++r) bounds.push_back(start + (kItems - start) * r / rest);
  return bounds;
}

void ExpectSameReport(const RetrievalReport& a, const RetrievalReport& b) {
  EXPECT_EQ(a.users, b.users);
  ASSERT_EQ(a.values.size(), b.values.size());
  for (size_t i = 0; i < a.values.size(); ++i) {
    EXPECT_EQ(a.values[i].first, b.values[i].first);
    EXPECT_EQ(std::bit_cast<uint64_t>(a.values[i].second),
              std::bit_cast<uint64_t>(b.values[i].second))
        << a.values[i].first << ": " << a.values[i].second << " vs " << b.values[i].second;
  }
}

class RetrievalMpiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto comm = MpiCommunicator::Create(MPI_COMM_WORLD, /*owned=*/false);
    ASSERT_TRUE(comm.ok()) << comm.status();
    comm_ = std::move(*comm);
    ASSERT_GE(comm_->size(), 2) << "run under mpirun with at least 2 ranks";
    options_.ks = {1, 5, 20};
    options_.num_scenarios = kScenarios;
    options_.scenario_names = {"home", "feed", "mall"};
    options_.topk = {16, 64};
  }

  StatusOr<RetrievalReport> Distributed(const Share& share, const std::vector<int64_t>& bounds,
                                        const RetrievalOptions& options) {
    const int r = comm_->rank();
    const ConstMatView shard = data_.items().Rows(bounds[r], bounds[r + 1] - bounds[r]);
    return EvaluateRetrievalDistributed(comm_.get(), share.users, shard, bounds[r], options);
  }

  std::unique_ptr<MpiCommunicator> comm_;
  WholeData data_;
  RetrievalOptions options_;
};

TEST_F(RetrievalMpiTest, DistributedEqualsOneProcess) {
  auto whole = EvaluateRetrieval(data_.users, data_.items(), options_);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_GT(whole->total_users, 50);
  const int r = comm_->rank(), n = comm_->size();
  for (int64_t gather : {int64_t{8}, int64_t{4096}}) {  // many uneven rounds; one round
    RetrievalOptions options = options_;
    options.gather_users = gather;
    SCOPED_TRACE("gather_users " + std::to_string(gather));
    auto strided = Distributed(Share(data_, r, Strided, n), ShardBounds(n, false), options);
    ASSERT_TRUE(strided.ok()) << strided.status();
    ExpectSameReport(*whole, *strided);
    // A rank without users, and a rank without items.
    auto lopsided = Distributed(Share(data_, r, AllButLast, n), ShardBounds(n, true), options);
    ASSERT_TRUE(lopsided.ok()) << lopsided.status();
    ExpectSameReport(*whole, *lopsided);
  }
}

TEST_F(RetrievalMpiTest, BadInputOnOneRankFailsOnEveryRank) {
  const int r = comm_->rank(), n = comm_->size();
  const std::vector<int64_t> bounds = ShardBounds(n, false);
  Share unsorted(data_, r, Strided, n);
  ASSERT_GE(unsorted.users.train.offsets[1], 2);
  if (r == 1) std::swap(unsorted.users.train.items[0], unsorted.users.train.items[1]);
  auto bad_list = Distributed(unsorted, bounds, options_);
  EXPECT_EQ(bad_list.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_list.status().message().find("worker 1: train list of user 0"), std::string::npos)
      << bad_list.status();

  RetrievalOptions other_ks = options_;
  if (r == n - 1) other_ks.ks = {1, 5, 10};
  auto bad_ks = Distributed(Share(data_, r, Strided, n), bounds, other_ks);
  EXPECT_EQ(bad_ks.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_ks.status().message().find("disagrees"), std::string::npos) << bad_ks.status();

  // Rank 1's shard starts one item early: the shards overlap.
  const Share share(data_, r, Strided, n);
  const int64_t begin = bounds[r] - (r == 1 ? 1 : 0);
  auto overlap = EvaluateRetrievalDistributed(
      comm_.get(), share.users, data_.items().Rows(begin, bounds[r + 1] - begin), begin, options_);
  EXPECT_EQ(overlap.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(overlap.status().message().find("do not tile"), std::string::npos) << overlap.status();

  // Still in step: a good call after the failures.
  auto good = Distributed(share, bounds, options_);
  EXPECT_TRUE(good.ok()) << good.status();
}

}  // namespace
}  // namespace moerec

MOEREC_MPI_TEST_MAIN()
