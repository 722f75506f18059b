#include "worker/metrics/retrieval.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "core/parallel.h"
#include "core/random.h"

namespace moerec {
namespace {

// A (rows, cols) matrix stored with leading dimension cols + pad (padding holds NaN, which a
// kernel reading past cols would turn into a failure).
struct Mat {
  Mat(int64_t r, int64_t c, int64_t pad) : rows(r), cols(c), ld(c + pad) {
    data.assign(std::max<int64_t>(rows * ld, 1), std::nanf(""));
  }
  float& at(int64_t r, int64_t c) { return data[r * ld + c]; }
  ConstMatView view() const { return ConstMatView(data.data(), rows, cols, ld); }

  int64_t rows, cols, ld;
  std::vector<float> data;
};

// Uniform in [-1, 1), or, with `levels` > 0, integers in [-levels, levels] (exact scores, many
// ties).
Mat RandomMat(int64_t rows, int64_t cols, int64_t pad, Rng* rng, int levels = 0) {
  Mat m(rows, cols, pad);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      m.at(r, c) =
          levels > 0 ? static_cast<float>(static_cast<int64_t>(rng->Below(2 * levels + 1)) - levels)
                     : 2.0f * rng->UniformFloat() - 1.0f;
    }
  }
  return m;
}

// Each user's items with probability p, in increasing order.
UserItemLists RandomLists(int64_t users, int64_t items, double p, Rng* rng) {
  UserItemLists lists;
  for (int64_t u = 0; u < users; ++u) {
    std::vector<int64_t> mine;
    for (int64_t i = 0; i < items; ++i) {
      if (rng->Bernoulli(p)) mine.push_back(i);
    }
    lists.Add(mine);
  }
  return lists;
}

// Every score in double (products summed in dimension order), sorted by (score desc, index
// asc), exclusions dropped.
TopK BruteForceTopK(const Mat& users, const Mat& items, int64_t k, const UserItemLists& exclude) {
  TopK out;
  out.k = k;
  out.items.assign(users.rows * k, -1);
  out.scores.assign(users.rows * k, -INFINITY);
  for (int64_t u = 0; u < users.rows; ++u) {
    std::vector<std::pair<double, int64_t>> all;
    for (int64_t i = 0; i < items.rows; ++i) {
      if (!exclude.offsets.empty() &&
          std::binary_search(exclude.items.begin() + exclude.offsets[u],
                             exclude.items.begin() + exclude.offsets[u + 1], i)) {
        continue;
      }
      double s = 0;
      for (int64_t c = 0; c < users.cols; ++c) {
        s += static_cast<double>(users.data[u * users.ld + c]) *
             static_cast<double>(items.data[i * items.ld + c]);
      }
      all.emplace_back(-s, i);  // ascending pairs: score desc, then index asc
    }
    std::sort(all.begin(), all.end());
    for (int64_t r = 0; r < std::min<int64_t>(k, all.size()); ++r) {
      out.items[u * k + r] = all[r].second;
      out.scores[u * k + r] = -all[r].first;
    }
  }
  return out;
}

void ExpectSameTopK(const TopK& a, const TopK& b, const std::string& what) {
  EXPECT_EQ(a.k, b.k) << what;
  EXPECT_EQ(a.items, b.items) << what;
  ASSERT_EQ(a.scores.size(), b.scores.size()) << what;
  for (size_t i = 0; i < a.scores.size(); ++i) {
    ASSERT_EQ(std::bit_cast<uint64_t>(a.scores[i]), std::bit_cast<uint64_t>(b.scores[i]))
        << what << " entry " << i;
  }
}

// Same names and the same bits (NaN included).
void ExpectSameReport(const RetrievalReport& a, const RetrievalReport& b) {
  EXPECT_EQ(a.users, b.users);
  EXPECT_EQ(a.total_users, b.total_users);
  ASSERT_EQ(a.values.size(), b.values.size());
  for (size_t i = 0; i < a.values.size(); ++i) {
    EXPECT_EQ(a.values[i].first, b.values[i].first);
    EXPECT_EQ(std::bit_cast<uint64_t>(a.values[i].second),
              std::bit_cast<uint64_t>(b.values[i].second))
        << a.values[i].first << ": " << a.values[i].second << " vs " << b.values[i].second;
  }
}

// Random users with scenarios, train and held-out lists over `items` items.
struct RandomEval {
  RandomEval(int64_t n_users, int64_t n_items, int64_t d, int scenarios, Rng* rng)
      : vectors(RandomMat(n_users, d, 1, rng)), items(RandomMat(n_items, d, 0, rng)) {
    users.vectors = vectors.view();
    for (int64_t u = 0; u < n_users; ++u) {
      users.scenario.push_back(static_cast<int32_t>(rng->Below(scenarios)));
    }
    users.train = RandomLists(n_users, n_items, 0.05, rng);
    users.heldout = RandomLists(n_users, n_items, 0.03, rng);
  }
  Mat vectors, items;
  RetrievalUsers users;
};

TEST(ExactTopKTest, MatchesBruteForceOnRandomData) {
  struct Case {
    int64_t users, items, d, k, user_block, item_block, pad;
    double excluded;
  };
  const Case cases[] = {
      {1, 1, 1, 1, 256, 2048, 0, 0.0},
      {37, 1000, 16, 10, 8, 64, 3, 0.05},  // 1000 items: not a multiple of the block
      {50, 301, 8, 7, 7, 33, 0, 0.2},
      {9, 20, 4, 25, 4, 6, 1, 0.3},        // K > N_i minus the exclusions: short rows
      {64, 130, 5, 130, 16, 128, 2, 0.1},  // K = N_i
      {5, 0, 3, 4, 2, 2, 0, 0.0},          // no items: every row is padding
      {0, 10, 3, 2, 2, 2, 0, 0.0},         // no users
  };
  Rng rng(17);
  for (const Case& c : cases) {
    const std::string what = std::to_string(c.users) + " users, " + std::to_string(c.items) +
                             " items, k " + std::to_string(c.k);
    const Mat users = RandomMat(c.users, c.d, c.pad, &rng);
    const Mat items = RandomMat(c.items, c.d, c.pad, &rng);
    const UserItemLists exclude = RandomLists(c.users, c.items, c.excluded, &rng);
    auto topk = ExactTopK(users.view(), items.view(), c.k, exclude, {c.user_block, c.item_block});
    ASSERT_TRUE(topk.ok()) << topk.status();
    ExpectSameTopK(*topk, BruteForceTopK(users, items, c.k, exclude), what);
  }
}

TEST(ExactTopKTest, TiesGoToTheLowerItemIndex) {
  Rng rng(5);
  // Integer vectors: exact scores in a few values, so most of the ranking is ties.
  const Mat users = RandomMat(40, 3, 0, &rng, /*levels=*/1);
  const Mat items = RandomMat(200, 3, 2, &rng, /*levels=*/1);
  const UserItemLists exclude = RandomLists(40, 200, 0.1, &rng);
  auto topk = ExactTopK(users.view(), items.view(), 30, exclude, {16, 64});
  ASSERT_TRUE(topk.ok()) << topk.status();
  ExpectSameTopK(*topk, BruteForceTopK(users, items, 30, exclude), "ties");

  // Identical items: the lowest indices that are not excluded.
  Mat same(10, 3, 0);
  for (int64_t i = 0; i < 10; ++i) same.at(i, 0) = same.at(i, 1) = same.at(i, 2) = 0.5f;
  UserItemLists one;
  one.Add({0, 2});
  auto first = ExactTopK(users.view().Rows(0, 1), same.view(), 3, one, {1, 4});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->items, (std::vector<int64_t>{1, 3, 4}));
}

TEST(ExactTopKTest, RanksByTheDoubleScoreWhereFloatScoresTie) {
  // Item i scores 1 + i 2^-30: all 1.0f in float, increasing with i in double.
  Mat user(1, 2, 0);
  user.at(0, 0) = user.at(0, 1) = 1.0f;
  Mat items(64, 2, 0);
  for (int64_t i = 0; i < 64; ++i) {
    items.at(i, 0) = 1.0f;
    items.at(i, 1) = std::ldexp(static_cast<float>(i), -30);
  }
  auto topk = ExactTopK(user.view(), items.view(), 5, {}, {1, 16});
  ASSERT_TRUE(topk.ok()) << topk.status();
  EXPECT_EQ(topk->items, (std::vector<int64_t>{63, 62, 61, 60, 59}));
  EXPECT_EQ(topk->scores[0], 1.0 + std::ldexp(63.0, -30));
}

TEST(ExactTopKTest, ExcludesTrainingPositives) {
  Mat user(1, 1, 0);
  user.at(0, 0) = 1.0f;
  Mat items(5, 1, 0);
  for (int64_t i = 0; i < 5; ++i) items.at(i, 0) = static_cast<float>(5 - i);  // item 0 best
  UserItemLists exclude;
  exclude.Add({0, 2});
  auto topk = ExactTopK(user.view(), items.view(), 4, exclude, {1, 2});
  ASSERT_TRUE(topk.ok()) << topk.status();
  EXPECT_EQ(topk->items, (std::vector<int64_t>{1, 3, 4, -1}));
  EXPECT_EQ(topk->scores, (std::vector<double>{4.0, 2.0, 1.0, -INFINITY}));
}

TEST(ExactTopKTest, ThreadCountAndBlocksDoNotChangeTheResult) {
  Rng rng(23);
  RandomEval data(300, 2000, 24, 3, &rng);
  RetrievalOptions options;
  options.ks = {5, 20};
  options.num_scenarios = 3;
  options.topk = {32, 256};
  const int saved = ComputeThreads();
  SetComputeThreads(1);
  auto one = ExactTopK(data.users.vectors, data.items.view(), 20, data.users.train, options.topk);
  auto report_one = EvaluateRetrieval(data.users, data.items.view(), options);
  SetComputeThreads(2);
  auto two = ExactTopK(data.users.vectors, data.items.view(), 20, data.users.train, options.topk);
  auto report_two = EvaluateRetrieval(data.users, data.items.view(), options);
  auto other_blocks =
      ExactTopK(data.users.vectors, data.items.view(), 20, data.users.train, {7, 100});
  SetComputeThreads(saved);
  ASSERT_TRUE(one.ok() && two.ok() && other_blocks.ok());
  ASSERT_TRUE(report_one.ok() && report_two.ok());
  ExpectSameTopK(*one, *two, "1 vs 2 threads");
  ExpectSameTopK(*one, *other_blocks, "other blocks");
  ExpectSameReport(*report_one, *report_two);
}

// One user, items ranked by index; 3 held-out positives at ranks 1, 4 and 7.
TEST(RetrievalMetricsTest, HitsAtRanksOneAndFourByHand) {
  Mat user(1, 1, 0);
  user.at(0, 0) = 1.0f;
  Mat items(8, 1, 0);
  for (int64_t i = 0; i < 8; ++i) items.at(i, 0) = static_cast<float>(8 - i);
  RetrievalUsers users;
  users.vectors = user.view();
  users.heldout.Add({0, 3, 6});
  RetrievalOptions options;
  options.ks = {1, 3, 5};
  auto report = EvaluateRetrieval(users, items.view(), options);
  ASSERT_TRUE(report.ok()) << report.status();
  const double idcg3 = 1.0 + 1.0 / std::log2(3.0) + 1.0 / std::log2(4.0);
  EXPECT_NEAR(report->value("recall@1"), 1.0 / 3, 1e-15);
  EXPECT_EQ(report->value("hr@1"), 1.0);
  EXPECT_NEAR(report->value("ndcg@1"), 1.0, 1e-15);  // IDCG@1 = 1
  EXPECT_NEAR(report->value("recall@3"), 1.0 / 3, 1e-15);
  EXPECT_EQ(report->value("hr@3"), 1.0);
  EXPECT_NEAR(report->value("ndcg@3"), 1.0 / idcg3, 1e-15);
  EXPECT_NEAR(report->value("recall@5"), 2.0 / 3, 1e-15);
  EXPECT_EQ(report->value("hr@5"), 1.0);
  EXPECT_NEAR(report->value("ndcg@5"), (1.0 + 1.0 / std::log2(5.0)) / idcg3, 1e-15);
  EXPECT_NEAR(report->value("recall@5/s0"), 2.0 / 3, 1e-15);
  EXPECT_EQ(report->users, (std::vector<int64_t>{1}));
}

TEST(RetrievalMetricsTest, MeansPerScenarioAndOverall) {
  TopK topk;
  topk.k = 2;
  topk.items = {1, 2, /**/ 7, 5, /**/ 0, 1, /**/ -1, -1};
  topk.scores = {2, 1, /**/ 2, 1, /**/ 2, 1, /**/ -INFINITY, -INFINITY};
  UserItemLists heldout;
  heldout.Add({1});     // scenario home: hit at rank 1
  heldout.Add({5, 6});  // scenario home: hit at rank 2 of 2 positives
  heldout.Add({});      // scenario feed: no positives, skipped
  heldout.Add({3});     // scenario feed: nothing ranked
  RetrievalOptions options;
  options.ks = {2, 1};
  options.num_scenarios = 3;
  options.scenario_names = {"home", "feed", "mall"};
  auto report = EvaluateTopK(topk, heldout, {0, 0, 1, 1}, options);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->users, (std::vector<int64_t>{2, 1, 0}));
  EXPECT_EQ(report->total_users, 3);
  EXPECT_EQ(report->values.size(), 2u * 3 * 4);
  EXPECT_EQ(report->values[0].first, "recall@2");
  EXPECT_EQ(report->values[3].first, "recall@2/home");
  EXPECT_EQ(report->values[12].first, "recall@1");

  const double ndcg2 = (1.0 / std::log2(3.0)) / (1.0 + 1.0 / std::log2(3.0));
  EXPECT_NEAR(report->value("recall@2/home"), (1.0 + 0.5) / 2, 1e-15);
  EXPECT_EQ(report->value("hr@2/home"), 1.0);
  EXPECT_NEAR(report->value("ndcg@2/home"), (1.0 + ndcg2) / 2, 1e-15);
  EXPECT_EQ(report->value("recall@1/home"), 0.5);
  EXPECT_EQ(report->value("hr@2/feed"), 0.0);
  EXPECT_EQ(report->value("ndcg@2/feed"), 0.0);
  EXPECT_TRUE(std::isnan(report->value("recall@2/mall")));
  EXPECT_NEAR(report->value("recall@2"), 1.5 / 3, 1e-15);
  EXPECT_NEAR(report->value("hr@2"), 2.0 / 3, 1e-15);
  EXPECT_NEAR(report->value("ndcg@2"), (1.0 + ndcg2) / 3, 1e-15);
  EXPECT_NEAR(report->value("hr@1"), 1.0 / 3, 1e-15);
  EXPECT_TRUE(std::isnan(report->value("no such metric")));
}

TEST(RetrievalDistributedTest, OneWorkerMatchesEvaluateRetrieval) {
  Rng rng(31);
  RandomEval data(70, 333, 6, 2, &rng);
  RetrievalOptions options;
  options.ks = {10, 3};
  options.num_scenarios = 2;
  options.gather_users = 16;  // several rounds, the last one short
  options.topk = {8, 50};
  auto whole = EvaluateRetrieval(data.users, data.items.view(), options);
  ASSERT_TRUE(whole.ok()) << whole.status();
  SelfCommunicator comm;
  auto distributed = EvaluateRetrievalDistributed(&comm, data.users, data.items.view(), 0, options);
  ASSERT_TRUE(distributed.ok()) << distributed.status();
  ExpectSameReport(*whole, *distributed);

  // One worker must hold the corpus from item 0.
  auto shifted = EvaluateRetrievalDistributed(&comm, data.users, data.items.view(), 5, options);
  EXPECT_EQ(shifted.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(shifted.status().message().find("tile"), std::string::npos) << shifted.status();
}

void ExpectInvalid(const Status& s, const std::string& mention) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find(mention), std::string::npos) << s << " should mention " << mention;
}

TEST(RetrievalTest, BadInputIsInvalidArgument) {
  Rng rng(3);
  RandomEval data(6, 12, 4, 2, &rng);
  data.users.scenario = {0, 1, 0, 1, 0, 1};
  const Mat narrow = RandomMat(12, 3, 0, &rng);
  const ConstMatView items = data.items.view();
  const ConstMatView users = data.users.vectors;
  const UserItemLists none;
  ExpectInvalid(ExactTopK(users, narrow.view(), 3, none).status(), "width");
  ExpectInvalid(ExactTopK(users, items, 0, none).status(), "k >= 1");
  ExpectInvalid(ExactTopK(users, items, 3, none, {0, 8}).status(), "user_block 0");

  UserItemLists out_of_range = RandomLists(6, 12, 0.0, &rng);
  out_of_range.items.push_back(12);
  out_of_range.offsets.back() = 1;
  ExpectInvalid(ExactTopK(users, items, 3, out_of_range).status(), "item 12");
  UserItemLists unsorted;
  for (int u = 0; u < 6; ++u)
    unsorted.Add(u == 4 ? std::vector<int64_t>{5, 2} : std::vector<int64_t>{});
  ExpectInvalid(ExactTopK(users, items, 3, unsorted).status(), "user 4 is not strictly increasing");
  UserItemLists negative;
  negative.Add({-1});
  ExpectInvalid(ExactTopK(users.Rows(0, 1), items, 3, negative).status(), "< 0");
  UserItemLists short_lists;
  short_lists.Add({1});
  ExpectInvalid(ExactTopK(users, items, 3, short_lists).status(), "offsets");

  Mat with_nan = RandomMat(2, 4, 0, &rng);
  with_nan.at(1, 2) = std::nanf("");
  ExpectInvalid(ExactTopK(with_nan.view(), items, 3, none).status(), "row 1");

  RetrievalOptions options;
  options.num_scenarios = 2;
  ASSERT_TRUE(EvaluateRetrieval(data.users, items, options).ok());
  RetrievalOptions bad = options;
  bad.ks = {5, 0};
  ExpectInvalid(EvaluateRetrieval(data.users, items, bad).status(), "ks[1] = 0");
  bad.ks = {5, 5};
  ExpectInvalid(EvaluateRetrieval(data.users, items, bad).status(), "repeats 5");
  bad.ks = {};
  ExpectInvalid(EvaluateRetrieval(data.users, items, bad).status(), "ks is empty");
  bad = options;
  bad.scenario_names = {"a/b", "c"};
  ExpectInvalid(EvaluateRetrieval(data.users, items, bad).status(), "scenario_names[0]");
  bad.scenario_names = {"a"};
  ExpectInvalid(EvaluateRetrieval(data.users, items, bad).status(), "1 names for 2");
  bad = options;
  bad.num_scenarios = 1;  // the data has scenario 1
  ExpectInvalid(EvaluateRetrieval(data.users, items, bad).status(), "scenario of user");
  bad = options;
  bad.gather_users = 0;
  ExpectInvalid(EvaluateRetrieval(data.users, items, bad).status(), "gather_users");

  RetrievalUsers bad_users = data.users;
  bad_users.heldout = UserItemLists();
  for (int u = 0; u < 6; ++u) bad_users.heldout.Add({3, u == 2 ? 100 : 4});  // 12 items
  ExpectInvalid(EvaluateRetrieval(bad_users, items, options).status(), "item 100");
  bad_users = data.users;
  bad_users.scenario.pop_back();
  ExpectInvalid(EvaluateRetrieval(bad_users, items, options).status(), "scenario has 5 entries");

  TopK small;
  small.k = 2;
  small.items.assign(12, -1);
  small.scores.assign(12, -INFINITY);
  ExpectInvalid(EvaluateTopK(small, none, {}, options).status(), "max(ks) = 50");

  SelfCommunicator comm;
  ExpectInvalid(EvaluateRetrievalDistributed(&comm, data.users, narrow.view(), 0, options).status(),
                "worker 0: user vectors have width 4");
}

}  // namespace
}  // namespace moerec
