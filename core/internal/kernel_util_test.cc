#include "core/internal/kernel_util.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "core/parallel.h"

namespace moerec::internal {
namespace {

TEST(ExpTest, MatchesStdExpAcrossTheNormalRange) {
  double worst = 0.0;
  float worst_x = 0.0f;
  for (double xd = -87.3; xd <= 88.7; xd += 1.37e-4) {
    const float x = static_cast<float>(xd);
    const double want = std::exp(static_cast<double>(x));
    const double rel = std::fabs(Exp(x) - want) / want;
    if (rel > worst) worst = rel, worst_x = x;
  }
  EXPECT_LT(worst, 3e-7) << "at x = " << worst_x;
  EXPECT_EQ(Exp(0.0f), 1.0f);
  EXPECT_NEAR(Exp(1.0f), 2.718281828f, 3e-7);
}

TEST(ExpTest, TailsAndSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Exp(-88.0f), 0.0f);
  EXPECT_EQ(Exp(-1000.0f), 0.0f);
  EXPECT_EQ(Exp(-inf), 0.0f);
  EXPECT_EQ(Exp(89.0f), inf);
  EXPECT_EQ(Exp(inf), inf);
  EXPECT_TRUE(std::isnan(Exp(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_GT(Exp(-87.3f), 0.0f);
  EXPECT_TRUE(std::isfinite(Exp(88.72f)));
}

TEST(LaneSumTest, SumsInAFixedOrder) {
  for (int64_t n : {0, 1, 15, 16, 17, 100, 1000}) {
    std::vector<float> v(n);
    double want = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      v[i] = 1.0f / static_cast<float>(i + 1);
      want += v[i];
    }
    EXPECT_NEAR(LaneSum(n, [&](int64_t i) { return v[i]; }), want, 1e-5 * std::max(1.0, want));
  }
}

TEST(ForColumnRangesTest, CoversEveryColumnOnceInBlockAlignedRanges) {
  for (int threads : {1, 2, 3}) {
    SetComputeThreads(threads);
    for (int64_t rows : {1, 100, 5000}) {
      for (int64_t cols : {0, 1, 16, 17, 333, 2048}) {
        std::vector<std::atomic<int>> hits(cols);
        ForColumnRanges(rows, cols, [&](int64_t c0, int64_t c1) {
          EXPECT_EQ(c0 % kColumnBlock, 0);
          EXPECT_LT(c0, c1);
          for (int64_t c = c0; c < c1; ++c) ++hits[c];
        });
        for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(hits[c].load(), 1);
      }
    }
  }
  SetComputeThreads(2);
}

TEST(ReduceRowsTest, SumsEveryRowOnceIdenticallyForAnyThreadCount) {
  for (int64_t rows : {0, 1, 5, 1000, 4099}) {
    const int64_t width = 37;
    std::vector<float> x(rows * width);
    for (int64_t i = 0; i < rows * width; ++i) x[i] = std::sin(static_cast<float>(i)) * 3.0f;
    std::vector<float> results[3];
    for (int threads : {1, 2, 3}) {
      SetComputeThreads(threads);
      std::vector<float> a(width, 1.0f), b(width, -1.0f);
      std::vector<std::atomic<int>> visits(rows);
      float* const out[2] = {a.data(), b.data()};
      ReduceRows(rows, width, width, out, [&](int64_t r, float* const* acc) {
        ++visits[r];
        for (int64_t c = 0; c < width; ++c) {
          acc[0][c] += x[r * width + c];
          acc[1][c] += x[r * width + c] * x[r * width + c];
        }
      });
      for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(visits[r].load(), 1);
      for (int64_t c = 0; c < width; ++c) {
        double sa = 1.0, sb = -1.0;
        for (int64_t r = 0; r < rows; ++r) {
          sa += x[r * width + c];
          sb += static_cast<double>(x[r * width + c]) * x[r * width + c];
        }
        EXPECT_NEAR(a[c], sa, 1e-5 * (1.0 + std::fabs(sb)));
        EXPECT_NEAR(b[c], sb, 1e-5 * (1.0 + std::fabs(sb)));
      }
      a.insert(a.end(), b.begin(), b.end());
      results[threads - 1] = a;
    }
    EXPECT_EQ(results[0], results[1]);
    EXPECT_EQ(results[0], results[2]);
  }
  SetComputeThreads(2);
}

TEST(ForEachRowTest, VisitsEveryRowOnce) {
  std::vector<std::atomic<int>> hits(3000);
  ForEachRow(3000, 64, [&](int64_t r) { ++hits[r]; });
  for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  EXPECT_EQ(RowGrain(0), kMinParallelElements);
  EXPECT_EQ(RowGrain(1 << 20), 1);
}

}  // namespace
}  // namespace moerec::internal
