// embedding/internal/gpu_row_cache_kernels.h. Both kernels are copies (no arithmetic), so the
// device and host execution give the same bits.
#include <cuda_runtime.h>

#include <algorithm>

#include "core/gpu/check.h"
#include "core/gpu/launch.cuh"
#include "embedding/internal/gpu_row_cache_kernels.h"

namespace moerec {
namespace gpu_row_cache {

using gpu::ForEach;
using gpu::StreamOf;

void GatherRows(GpuResources* gpu, const float* cache, const int32_t* src, const float* staged,
                int64_t u, int d, float* out) {
  ForEach(gpu, u * d, [=] __host__ __device__(int64_t i) {
    const int64_t row = i / d, c = i % d;
    const int32_t s = src[row];
    out[i] = s >= 0 ? cache[static_cast<int64_t>(s) * d + c]
                    : staged[static_cast<int64_t>(-1 - s) * d + c];
  });
}

void ScatterRows(GpuResources* gpu, const int32_t* pairs, int64_t k, const float* staged, int d,
                 float* cache) {
  ForEach(gpu, k * d, [=] __host__ __device__(int64_t i) {
    const int64_t p = i / d, c = i % d;
    cache[static_cast<int64_t>(pairs[2 * p]) * d + c] =
        staged[static_cast<int64_t>(pairs[2 * p + 1]) * d + c];
  });
}

void* CreateEvent(GpuResources* gpu) {
  if (gpu->host_execution()) return nullptr;
  cudaEvent_t event;
  MOEREC_GPU_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return event;
}

void DestroyEvent(void* event) {
  if (event != nullptr) MOEREC_GPU_CHECK(cudaEventDestroy(static_cast<cudaEvent_t>(event)));
}

void RecordEvent(GpuResources* gpu, void* event, GpuResources::Stream s) {
  if (event == nullptr) return;
  MOEREC_GPU_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event), StreamOf(gpu, s)));
}

void StreamWaitEvent(GpuResources* gpu, GpuResources::Stream s, void* event) {
  if (event == nullptr) return;
  MOEREC_GPU_CHECK(cudaStreamWaitEvent(StreamOf(gpu, s), static_cast<cudaEvent_t>(event), 0));
}

void SynchronizeEvent(void* event) {
  if (event != nullptr) MOEREC_GPU_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event)));
}

}  // namespace gpu_row_cache
}  // namespace moerec
