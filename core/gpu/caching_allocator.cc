#include "core/gpu/caching_allocator.h"

#include <glog/logging.h>

#include <algorithm>
#include <utility>

namespace moerec {

CachingAllocator::CachingAllocator(RawAlloc raw_alloc, RawFree raw_free)
    : raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mu_);
  CHECK(in_use_.empty()) << in_use_.size() << " device blocks (" << stats_.in_use_bytes
                         << " bytes) still in use when their allocator is destroyed";
  ReleaseCachedLocked();
}

int64_t CachingAllocator::SizeClass(int64_t bytes) {
  bytes = std::max<int64_t>(bytes, 1);
  int64_t top = 1;
  while (top * 2 <= bytes) top *= 2;  // 2^floor(log2 bytes)
  const int64_t granularity = std::max<int64_t>(512, top / 8);
  return (bytes + granularity - 1) / granularity * granularity;
}

void* CachingAllocator::Allocate(int64_t bytes) {
  const int64_t size = SizeClass(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  void* p = nullptr;
  auto it = free_.find(size);
  if (it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    stats_.cached_bytes -= size;
    ++stats_.cache_hits;
  } else {
    p = raw_alloc_(size);
    if (p == nullptr && stats_.cached_bytes > 0) {
      ReleaseCachedLocked();
      p = raw_alloc_(size);
    }
    if (p == nullptr) return nullptr;
    ++stats_.device_allocations;
  }
  in_use_.emplace(p, size);
  stats_.in_use_bytes += size;
  stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
  return p;
}

void CachingAllocator::Free(void* p) {
  if (p == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = in_use_.find(p);
  CHECK(it != in_use_.end()) << "freeing " << p << ", which this allocator did not hand out";
  const int64_t size = it->second;
  in_use_.erase(it);
  free_[size].push_back(p);
  stats_.in_use_bytes -= size;
  stats_.cached_bytes += size;
}

void CachingAllocator::ReleaseCached() {
  std::lock_guard<std::mutex> lock(mu_);
  ReleaseCachedLocked();
}

void CachingAllocator::ReleaseCachedLocked() {
  for (auto& [size, blocks] : free_) {
    for (void* p : blocks) raw_free_(p);
  }
  free_.clear();
  stats_.cached_bytes = 0;
}

GpuAllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace moerec
