#include "worker/metrics/auc.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "worker/metrics/internal/ranking.h"

namespace moerec {
namespace {

// O(n^2) definition: P(score_pos > score_neg) + 0.5 P(equal) over all pairs.
double BruteForceAuc(const std::vector<float>& scores, const std::vector<float>& labels) {
  double wins = 0;
  int64_t pairs = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (labels[i] < 0.5f) continue;
    for (size_t j = 0; j < scores.size(); ++j) {
      if (labels[j] >= 0.5f) continue;
      ++pairs;
      wins += scores[i] > scores[j] ? 1.0 : scores[i] == scores[j] ? 0.5 : 0.0;
    }
  }
  return pairs == 0 ? std::numeric_limits<double>::quiet_NaN() : wins / pairs;
}

double AucOf(const std::vector<float>& scores, const std::vector<float>& labels) {
  return Auc(scores.data(), labels.data(), static_cast<int64_t>(scores.size()));
}

TEST(AucTest, KnownCases) {
  EXPECT_DOUBLE_EQ(AucOf({0.1f, 0.2f, 0.8f, 0.9f}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(AucOf({0.9f, 0.8f, 0.2f, 0.1f}, {0, 0, 1, 1}), 0.0);
  EXPECT_DOUBLE_EQ(AucOf({0.5f, 0.5f, 0.5f, 0.5f}, {0, 1, 0, 1}), 0.5);
  // One positive above one negative, tied with another: (1 + 0.5) / 2.
  EXPECT_DOUBLE_EQ(AucOf({0.3f, 0.1f, 0.3f}, {1, 0, 0}), 0.75);
  // Negative scores, -0 == +0, infinities.
  EXPECT_DOUBLE_EQ(AucOf({-0.0f, 0.0f, -1.0f, -INFINITY, INFINITY}, {1, 0, 0, 0, 1}), 5.5 / 6);
}

TEST(AucTest, UndefinedWithOneClass) {
  EXPECT_TRUE(std::isnan(AucOf({0.1f, 0.2f}, {1, 1})));
  EXPECT_TRUE(std::isnan(AucOf({0.1f, 0.2f}, {0, 0})));
  EXPECT_TRUE(std::isnan(AucOf({}, {})));
}

TEST(AucTest, MatchesBruteForceWithManyTies) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 600);
    const int levels = 1 + static_cast<int>(rng() % 20);  // few distinct scores: many ties
    std::uniform_int_distribution<int> level(0, levels - 1);
    std::bernoulli_distribution positive(0.05 + 0.9 * (trial % 10) / 10.0);
    std::vector<float> scores(n);
    std::vector<float> labels(n);
    for (int i = 0; i < n; ++i) {
      scores[i] = (level(rng) - levels / 2) * 0.37f;
      labels[i] = positive(rng) ? 1.0f : 0.0f;
    }
    const double expected = BruteForceAuc(scores, labels);
    const double got = AucOf(scores, labels);
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(got)) << "trial " << trial;
    } else {
      EXPECT_NEAR(got, expected, 1e-12) << "trial " << trial;
    }
  }
}

TEST(AucTest, MatchesBruteForceOnContinuousScores) {
  std::mt19937 rng(11);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  std::vector<float> scores(2000);
  std::vector<float> labels(2000);
  for (size_t i = 0; i < scores.size(); ++i) {
    labels[i] = (rng() % 3 == 0) ? 1.0f : 0.0f;
    scores[i] = noise(rng) + labels[i];
  }
  EXPECT_NEAR(AucOf(scores, labels), BruteForceAuc(scores, labels), 1e-12);
}

TEST(GaucTest, ByHand) {
  // User 1: perfect (AUC 1, 3 samples). User 2: reversed (AUC 0, 2 samples).
  // User 3: only positives (skipped). User 4: one tie pair (AUC 0.5, 2 samples).
  const std::vector<float> scores = {0.9f, 0.1f, 0.2f, 0.3f, 0.7f, 0.5f, 0.6f, 0.4f, 0.4f};
  const std::vector<float> labels = {1, 0, 0, 1, 0, 1, 1, 1, 0};
  const std::vector<uint64_t> users = {1, 1, 1, 2, 2, 3, 3, 4, 4};
  const double expected = (3 * 1.0 + 2 * 0.0 + 2 * 0.5) / 7;
  EXPECT_DOUBLE_EQ(Gauc(scores.data(), labels.data(), users.data(), 9), expected);
}

TEST(GaucTest, MatchesPerUserBruteForce) {
  std::mt19937_64 rng(3);
  const int n = 5000;
  std::vector<float> scores(n);
  std::vector<float> labels(n);
  std::vector<uint64_t> users(n);
  for (int i = 0; i < n; ++i) {
    users[i] = (rng() % 97) * 0x9E3779B97F4A7C15ull;  // spread over all 64 bits
    labels[i] = rng() % 2;
    scores[i] = static_cast<float>(rng() % 10) / 10;
  }
  std::map<uint64_t, std::pair<std::vector<float>, std::vector<float>>> by_user;
  for (int i = 0; i < n; ++i) {
    by_user[users[i]].first.push_back(scores[i]);
    by_user[users[i]].second.push_back(labels[i]);
  }
  double weighted = 0;
  double weight = 0;
  for (const auto& [user, data] : by_user) {
    const double auc = BruteForceAuc(data.first, data.second);
    if (std::isnan(auc)) continue;
    weighted += data.first.size() * auc;
    weight += data.first.size();
  }
  EXPECT_NEAR(Gauc(scores.data(), labels.data(), users.data(), n), weighted / weight, 1e-12);
}

TEST(GaucTest, UndefinedWhenNoUserHasBothClasses) {
  const std::vector<float> scores = {0.1f, 0.2f};
  const std::vector<float> labels = {1, 0};
  const std::vector<uint64_t> users = {1, 2};
  EXPECT_TRUE(std::isnan(Gauc(scores.data(), labels.data(), users.data(), 2)));
}

TEST(RankingTest, ScoreKeyPreservesOrder) {
  std::vector<float> values = {-INFINITY, -3e38f, -1.5f, -1e-30f, 0.0f,
                               1e-45f,    0.5f,   2.0f,  3e38f,   INFINITY};
  for (size_t i = 1; i < values.size(); ++i) {
    EXPECT_LT(metrics_internal::ScoreKey(values[i - 1]), metrics_internal::ScoreKey(values[i]))
        << values[i - 1] << " vs " << values[i];
  }
  EXPECT_EQ(metrics_internal::ScoreKey(-0.0f), metrics_internal::ScoreKey(0.0f));
}

TEST(RankingTest, RadixSortIsStableAndSorted) {
  std::mt19937_64 rng(5);
  std::vector<metrics_internal::RankItem> items(10000);
  for (size_t i = 0; i < items.size(); ++i) {
    items[i] = {rng() % 50, static_cast<uint32_t>(rng()), static_cast<uint32_t>(i)};
  }
  std::vector<metrics_internal::RankItem> expected = items;
  std::stable_sort(expected.begin(), expected.end(), [](const auto& a, const auto& b) {
    return a.group != b.group ? a.group < b.group : a.key < b.key;
  });
  std::vector<metrics_internal::RankItem> scratch;
  metrics_internal::SortByGroupThenScore(&items, &scratch);
  for (size_t i = 0; i < items.size(); ++i) {
    ASSERT_EQ(items[i].group, expected[i].group) << i;
    ASSERT_EQ(items[i].key, expected[i].key) << i;
    ASSERT_EQ(items[i].positive, expected[i].positive) << i;  // here: the original index
  }
}

}  // namespace
}  // namespace moerec
