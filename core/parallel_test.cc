#include "core/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <vector>

namespace moerec {
namespace {

// Every index in [0, n) is visited exactly once, by contiguous ranges.
void ExpectCoverage(int64_t n, int64_t grain) {
  std::vector<std::atomic<int>> hits(n);
  std::atomic<int> calls{0};
  ParallelFor(n, grain, [&](int64_t begin, int64_t end) {
    ASSERT_LE(0, begin);
    ASSERT_LT(begin, end);
    ASSERT_LE(end, n);
    ++calls;
    for (int64_t i = begin; i < end; ++i) ++hits[i];
  });
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << i;
  EXPECT_LE(calls.load(), ComputeThreads());
  if (n > 0) {
    EXPECT_GE(calls.load(), 1);
  }
}

TEST(ParallelForTest, CoversTheRangeOnceForAnyThreadCount) {
  for (int threads : {1, 2, 3}) {
    SetComputeThreads(threads);
    EXPECT_EQ(ComputeThreads(), threads);
    for (int64_t n : {0, 1, 7, 100, 1001}) {
      for (int64_t grain : {0, 1, 10, 5000}) ExpectCoverage(n, grain);
    }
  }
  SetComputeThreads(2);
}

TEST(ParallelForTest, SmallRangesRunInlineAndLargeOnesSplit) {
  SetComputeThreads(2);
  int calls = 0;  // not atomic: must run on this thread only
  ParallelFor(100, 64, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 1);
  std::atomic<int> chunks{0};
  ParallelFor(1000, 10, [&](int64_t, int64_t) { ++chunks; });
  EXPECT_EQ(chunks.load(), 2);
}

TEST(ParallelForTest, NestedCallsRunInline) {
  SetComputeThreads(2);
  std::atomic<int> inner_calls{0};
  ParallelFor(1000, 10, [&](int64_t, int64_t) {
    ParallelFor(1000, 10, [&](int64_t begin, int64_t end) {
      EXPECT_EQ(begin, 0);
      EXPECT_EQ(end, 1000);
      ++inner_calls;
    });
  });
  EXPECT_EQ(inner_calls.load(), 2);
}

TEST(ParallelForTest, StdFunctionOverload) {
  SetComputeThreads(2);
  std::atomic<int64_t> sum{0};
  const std::function<void(int64_t, int64_t)> fn = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) sum += i;
  };
  ParallelFor(1000, 1, fn);
  EXPECT_EQ(sum.load(), 999 * 1000 / 2);
}

}  // namespace
}  // namespace moerec
