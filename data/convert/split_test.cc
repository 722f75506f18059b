#include "data/convert/internal/split.h"

#include <gtest/gtest.h>

#include <cmath>

namespace moerec::convert {
namespace {

SplitConfig Config(SplitConfig::Method method, bool per_domain, double train, double validation,
                   double test, uint64_t seed = 1) {
  SplitConfig c;
  c.set_method(method);
  c.set_per_domain(per_domain);
  c.set_train(train);
  c.set_validation(validation);
  c.set_test(test);
  c.set_seed(seed);
  return c;
}

// Rows 0..n-1; domain i % 3 for i < 2n/3 and 0 after (unequal domains); time = (n - i) / 2, so
// time runs against input order with ties.
std::vector<Row> Rows(int n) {
  std::vector<Row> rows(n);
  for (int i = 0; i < n; ++i) {
    rows[i].ordinal = i;
    rows[i].domain = i < 2 * n / 3 ? i % 3 : 0;
    rows[i].time = (n - i) / 2;
  }
  return rows;
}

std::vector<int> Assign(const SplitConfig& config, const std::vector<Row>& rows) {
  Splitter splitter(config, 3);
  if (splitter.needs_counting_pass()) {
    for (const Row& r : rows) splitter.Observe(r);
    splitter.Plan();
  }
  std::vector<int> out;
  for (const Row& r : rows) {
    auto split = splitter.Assign(r);
    EXPECT_TRUE(split.ok()) << split.status().ToString();
    out.push_back(split.ok() ? *split : -1);
  }
  EXPECT_TRUE(splitter.Finish().ok());
  return out;
}

std::array<int64_t, 3> Count(const std::vector<int>& splits, const std::vector<Row>& rows,
                             int domain = -1) {
  std::array<int64_t, 3> c = {0, 0, 0};
  for (size_t i = 0; i < splits.size(); ++i) {
    if (domain < 0 || rows[i].domain == domain) ++c[splits[i]];
  }
  return c;
}

TEST(Splitter, RandomIsDeterministicAndNearTheFractions) {
  const std::vector<Row> rows = Rows(30000);
  const SplitConfig config = Config(SplitConfig::RANDOM, false, 0.8, 0.1, 0.1, 7);
  const std::vector<int> a = Assign(config, rows);
  EXPECT_EQ(a, Assign(config, rows));
  EXPECT_NE(a, Assign(Config(SplitConfig::RANDOM, false, 0.8, 0.1, 0.1, 8), rows));
  const auto c = Count(a, rows);
  // Binomial standard deviation for 0.1 of 30000 is about 52; allow 5 sigma.
  EXPECT_NEAR(c[0], 24000, 300);
  EXPECT_NEAR(c[1], 3000, 260);
  EXPECT_NEAR(c[2], 3000, 260);
}

TEST(Splitter, RandomWithAZeroFractionNeverUsesIt) {
  const std::vector<Row> rows = Rows(5000);
  const auto c = Count(Assign(Config(SplitConfig::RANDOM, false, 0.7, 0.3, 0.0), rows), rows);
  EXPECT_EQ(c[2], 0);
  EXPECT_GT(c[1], 1200);
}

TEST(Splitter, ExactRandomPerDomainGivesExactCounts) {
  const std::vector<Row> rows = Rows(1000);
  const SplitConfig config = Config(SplitConfig::EXACT_RANDOM, true, 0.6, 0.2, 0.2, 3);
  const std::vector<int> a = Assign(config, rows);
  for (int d = 0; d < 3; ++d) {
    int64_t n = 0;
    for (const Row& r : rows) n += r.domain == d;
    const auto c = Count(a, rows, d);
    EXPECT_EQ(c[0], std::llround(0.6 * n)) << "domain " << d;
    EXPECT_EQ(c[0] + c[1], std::llround(0.8 * n)) << "domain " << d;
    EXPECT_EQ(c[0] + c[1] + c[2], n);
  }
  EXPECT_EQ(a, Assign(config, rows));
  EXPECT_NE(a, Assign(Config(SplitConfig::EXACT_RANDOM, true, 0.6, 0.2, 0.2, 4), rows));
}

TEST(Splitter, ExactRandomDrawsEveryRowAlike) {
  // Over many seeds each row lands in train with probability 0.5.
  const std::vector<Row> rows = Rows(20);
  std::vector<int> train(rows.size(), 0);
  const int kSeeds = 2000;
  for (int seed = 0; seed < kSeeds; ++seed) {
    const std::vector<int> a =
        Assign(Config(SplitConfig::EXACT_RANDOM, false, 0.5, 0.25, 0.25, seed), rows);
    for (size_t i = 0; i < rows.size(); ++i) train[i] += a[i] == 0;
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_NEAR(train[i], kSeeds / 2, 150) << "row " << i;  // sigma about 22
  }
}

TEST(Splitter, ByTimePutsTheOldestInTrain) {
  const std::vector<Row> rows = Rows(101);
  const std::vector<int> a = Assign(Config(SplitConfig::BY_TIME, false, 0.8, 0.1, 0.1), rows);
  const auto c = Count(a, rows);
  EXPECT_EQ(c[0], 81);
  EXPECT_EQ(c[1], 91 - 81);
  EXPECT_EQ(c[2], 10);
  int64_t max_train = INT64_MIN, min_val = INT64_MAX, max_val = INT64_MIN, min_test = INT64_MAX;
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t t = rows[i].time;
    if (a[i] == 0) max_train = std::max(max_train, t);
    if (a[i] == 1) min_val = std::min(min_val, t), max_val = std::max(max_val, t);
    if (a[i] == 2) min_test = std::min(min_test, t);
  }
  EXPECT_LE(max_train, min_val);
  EXPECT_LE(max_val, min_test);
}

TEST(Splitter, ByTimePerDomainCutsEachDomain) {
  const std::vector<Row> rows = Rows(300);
  const std::vector<int> a = Assign(Config(SplitConfig::BY_TIME, true, 0.5, 0.5, 0.0), rows);
  for (int d = 0; d < 3; ++d) {
    int64_t n = 0, max_train = INT64_MIN, min_val = INT64_MAX;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].domain != d) continue;
      ++n;
      if (a[i] == 0) max_train = std::max(max_train, rows[i].time);
      if (a[i] == 1) min_val = std::min(min_val, rows[i].time);
    }
    EXPECT_EQ(Count(a, rows, d)[0], std::llround(0.5 * n));
    EXPECT_LE(max_train, min_val);
  }
}

TEST(Splitter, RowsBeyondTheCountingPassAreAnError) {
  const std::vector<Row> rows = Rows(10);
  Splitter splitter(Config(SplitConfig::EXACT_RANDOM, false, 0.8, 0.1, 0.1), 3);
  for (int i = 0; i < 5; ++i) splitter.Observe(rows[i]);
  splitter.Plan();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(splitter.Assign(rows[i]).ok());
  EXPECT_EQ(splitter.Assign(rows[5]).status().code(), StatusCode::kFailedPrecondition);

  Splitter short_pass(Config(SplitConfig::EXACT_RANDOM, false, 0.8, 0.1, 0.1), 3);
  for (const Row& r : rows) short_pass.Observe(r);
  short_pass.Plan();
  ASSERT_TRUE(short_pass.Assign(rows[0]).ok());
  EXPECT_EQ(short_pass.Finish().code(), StatusCode::kFailedPrecondition);
}

TEST(Splitter, ByFileKeepsTheFilesSplitAndCarvesValidationFromTrain) {
  std::vector<Row> rows = Rows(30000);
  for (Row& r : rows) r.file_split = r.ordinal % 10 == 0 ? 2 : r.ordinal % 10 == 1 ? 1 : 0;
  SplitConfig config;
  config.set_method(SplitConfig::BY_FILE);
  config.set_validation(0.25);
  Splitter splitter(config, 3);
  EXPECT_FALSE(splitter.needs_counting_pass());
  const std::vector<int> splits = Assign(config, rows);
  EXPECT_EQ(splits, Assign(config, rows)) << "a function of (seed, ordinal)";
  int64_t train_file_rows = 0, moved = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].file_split != 0) {
      EXPECT_EQ(splits[i], rows[i].file_split) << "row " << i;
      continue;
    }
    ++train_file_rows;
    moved += splits[i] == 1;
    EXPECT_NE(splits[i], 2);
  }
  // 24000 train-file rows, a quarter moved: binomial sigma 67; allow 5 sigma.
  EXPECT_NEAR(moved, 0.25 * train_file_rows, 340);
  config.set_validation(0);
  const std::vector<int> none = Assign(config, rows);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(none[i], rows[i].file_split) << "validation 0 moves no row of a train file";
  }
}

}  // namespace
}  // namespace moerec::convert
