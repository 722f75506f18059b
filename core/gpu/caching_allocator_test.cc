#include "core/gpu/caching_allocator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

namespace moerec {
namespace {

TEST(CachingAllocatorTest, SizeClassesWasteAtMostAnEighth) {
  EXPECT_EQ(CachingAllocator::SizeClass(0), 512);
  EXPECT_EQ(CachingAllocator::SizeClass(1), 512);
  EXPECT_EQ(CachingAllocator::SizeClass(512), 512);
  EXPECT_EQ(CachingAllocator::SizeClass(513), 1024);
  for (int64_t bytes : {4097, 100000, 1 << 20, (1 << 20) + 1, 123456789}) {
    const int64_t c = CachingAllocator::SizeClass(bytes);
    EXPECT_GE(c, bytes);
    EXPECT_LE(c - bytes, std::max<int64_t>(512, bytes / 8)) << bytes;
  }
}

TEST(CachingAllocatorTest, ReusesFreedBlocksOfTheSameClass) {
  int64_t raw = 0;
  CachingAllocator alloc(
      [&](int64_t b) {
        ++raw;
        return std::malloc(b);
      },
      [](void* p) { std::free(p); });
  void* a = alloc.Allocate(1000);
  void* b = alloc.Allocate(1000);
  EXPECT_NE(a, b);
  alloc.Free(a);
  EXPECT_EQ(alloc.Allocate(900), a);  // same class (1024): the freed block comes back
  EXPECT_EQ(raw, 2);
  void* c = alloc.Allocate(5000);  // another class: a new block
  EXPECT_EQ(raw, 3);
  const GpuAllocatorStats s = alloc.stats();
  EXPECT_EQ(s.in_use_bytes, 1024 + 1024 + CachingAllocator::SizeClass(5000));
  EXPECT_EQ(s.cache_hits, 1);
  EXPECT_EQ(s.device_allocations, 3);
  alloc.Free(a);
  alloc.Free(b);
  alloc.Free(c);
  EXPECT_EQ(alloc.stats().in_use_bytes, 0);
  EXPECT_EQ(alloc.stats().peak_in_use_bytes, s.in_use_bytes);
}

TEST(CachingAllocatorTest, ReleasesTheCacheAndRetriesWhenTheDeviceIsFull) {
  // A raw allocator with room for two 1 KiB blocks.
  std::set<void*> live;
  CachingAllocator alloc(
      [&](int64_t b) -> void* {
        if (live.size() >= 2) return nullptr;
        void* p = std::malloc(b);
        live.insert(p);
        return p;
      },
      [&](void* p) {
        live.erase(p);
        std::free(p);
      });
  void* a = alloc.Allocate(1024);
  void* b = alloc.Allocate(1024);
  alloc.Free(a);
  alloc.Free(b);                     // both cached
  void* big = alloc.Allocate(8192);  // fails, the cache goes back, the retry succeeds
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(alloc.stats().cached_bytes, 0);
  void* x = alloc.Allocate(1024);
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(alloc.Allocate(1024), nullptr);  // truly full: null, the caller reports it
  alloc.Free(big);
  alloc.Free(x);
}

TEST(CachingAllocatorDeathTest, RefusesAPointerItDidNotHandOut) {
  CachingAllocator alloc([](int64_t b) { return std::malloc(b); }, [](void* p) { std::free(p); });
  int local = 0;
  EXPECT_DEATH(alloc.Free(&local), "did not hand out");
}

}  // namespace
}  // namespace moerec
