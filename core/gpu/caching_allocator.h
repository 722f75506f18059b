// CachingAllocator: device memory handed out in size classes and kept for reuse when freed, so
// a training step that allocates the same activations every step calls cudaMalloc only while
// the batch grows (cudaMalloc and cudaFree synchronise the device; a step must not). Blocks are
// never split: a request is rounded up to its size class (at most 1/8 wasted, 512-byte
// granularity at least) and served from that class's free list or by a new raw allocation.
// When a raw allocation fails, the cache is returned to the raw allocator and it is retried
// once. The raw allocator is a parameter (cudaMalloc for GpuResources, malloc in tests and
// under host execution).
// Thread-safety: every method may be called from any thread (one mutex).
#ifndef MOEREC_CORE_GPU_CACHING_ALLOCATOR_H_
#define MOEREC_CORE_GPU_CACHING_ALLOCATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/gpu/resources.h"

namespace moerec {

class CachingAllocator {
 public:
  // raw_alloc returns null on failure; raw_free takes what raw_alloc returned.
  using RawAlloc = std::function<void*(int64_t bytes)>;
  using RawFree = std::function<void(void* p)>;

  CachingAllocator(RawAlloc raw_alloc, RawFree raw_free);
  // Returns every block to the raw allocator; blocks still in use are a caller bug (CHECK).
  ~CachingAllocator();
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least `bytes` (0 is treated as 1), or null when the raw allocator fails even
  // after the cache was released.
  void* Allocate(int64_t bytes);
  // p must come from Allocate and not have been freed (CHECK).
  void Free(void* p);
  // Returns the cached (free) blocks to the raw allocator.
  void ReleaseCached();
  GpuAllocatorStats stats() const;

  // The size class of a request: bytes rounded up to a multiple of max(512, 2^(floor(log2
  // bytes) - 3)).
  static int64_t SizeClass(int64_t bytes);

 private:
  void ReleaseCachedLocked();

  const RawAlloc raw_alloc_;
  const RawFree raw_free_;
  mutable std::mutex mu_;
  std::map<int64_t, std::vector<void*>> free_;  // GUARDED_BY(mu_): size class -> blocks
  std::unordered_map<void*, int64_t> in_use_;   // GUARDED_BY(mu_): block -> size class
  GpuAllocatorStats stats_;                     // GUARDED_BY(mu_)
};

}  // namespace moerec

#endif  // MOEREC_CORE_GPU_CACHING_ALLOCATOR_H_
