// The device side of embedding/gpu_row_cache.h (CUDA build only): the gather and scatter kernels
// between the cache, the staged rows and a step's compact block, and CUDA events as opaque
// pointers, so that gpu_row_cache.cc is plain C++. Under host execution the kernels run on the
// calling thread (core/gpu/launch.cuh) and the events are null no-ops.
//
// Dimension legend: D a table's dim, C the cache's capacity, U a request's keys, M its staged
// (pulled) rows, K the cache slots written.
//   cache: (C, D)   staged: (M, D)   out: (U, D)   all row-major, on gpu's device
//   src: (U) int32: s >= 0 reads cache row s, s < 0 reads staged row -1 - s
//   pairs: (K, 2) int32 (slot, staged row); slots distinct
#ifndef MOEREC_EMBEDDING_INTERNAL_GPU_ROW_CACHE_KERNELS_H_
#define MOEREC_EMBEDDING_INTERNAL_GPU_ROW_CACHE_KERNELS_H_

#include <cstdint>

#include "core/gpu/resources.h"

namespace moerec {
namespace gpu_row_cache {

// On the compute stream.
void GatherRows(GpuResources* gpu, const float* cache, const int32_t* src, const float* staged,
                int64_t u, int d, float* out);
void ScatterRows(GpuResources* gpu, const int32_t* pairs, int64_t k, const float* staged, int d,
                 float* cache);

// A cudaEvent_t without timing; null under host execution.
void* CreateEvent(GpuResources* gpu);
void DestroyEvent(void* event);
// Marks the work queued on s so far.
void RecordEvent(GpuResources* gpu, void* event, GpuResources::Stream s);
// Work queued on s after this call starts once the event's work is done (host does not block).
void StreamWaitEvent(GpuResources* gpu, GpuResources::Stream s, void* event);
// Blocks the host until the event's work is done (at once for an event never recorded).
void SynchronizeEvent(void* event);

}  // namespace gpu_row_cache
}  // namespace moerec

#endif  // MOEREC_EMBEDDING_INTERNAL_GPU_ROW_CACHE_KERNELS_H_
