// embedding/internal/gpu_row_cache_kernels.h. Both kernels are copies (no arithmetic), so the
// device and host execution give the same bits.
#include <cuda_runtime.h>

#include <algorithm>

#include "core/gpu/check.h"
#include "embedding/internal/gpu_row_cache_kernels.h"

namespace moerec {
namespace gpu_row_cache {
namespace {

cudaStream_t StreamOf(const GpuResources* gpu, GpuResources::Stream s) {
  return static_cast<cudaStream_t>(gpu->stream(s));
}

template <class F>
__global__ void ForEachKernel(int64_t n, F f) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    f(i);
  }
}

// f(i) for i in [0, n): a grid-stride kernel on the compute stream, or a loop on the calling
// thread under host execution. The shape of core's gpu::ForEach, whose header is core's
// internal; f is a [=] __host__ __device__ lambda over device pointers and scalars.
template <class F>
void ForEach(GpuResources* gpu, int64_t n, F f) {
  if (n <= 0) return;
  gpu->CountLaunch();
  if (gpu->host_execution()) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  constexpr int kThreads = 256;
  const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, 65536);
  ForEachKernel<<<static_cast<unsigned>(blocks), kThreads, 0,
                  StreamOf(gpu, GpuResources::kCompute)>>>(n, f);
  MOEREC_GPU_CHECK(cudaGetLastError());
}

}  // namespace

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
