// What the CUDA kernels of core/gpu/ are written with (CUDA sources only).
//
// A kernel is a loop body: ForEach(gpu, n, f) runs f(i) for i in [0, n) as a grid-stride
// kernel on gpu's compute stream, or on the calling thread under host execution
// (core/gpu/resources.h). f is a `[=] __host__ __device__ (int64_t i)` lambda (nvcc
// --extended-lambda) that captures views and scalars by value; it must not touch host memory.
// Kernels that reduce (column sums, row statistics) are written as one body per output
// element that loops over its inputs in a fixed order, so device and host execution add in
// the same order and results do not depend on the launch shape.
#ifndef MOEREC_CORE_GPU_LAUNCH_CUH_
#define MOEREC_CORE_GPU_LAUNCH_CUH_

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/gpu/check.h"
#include "core/gpu/resources.h"
#include "core/tensor.h"

namespace moerec {
namespace gpu {

inline cudaStream_t StreamOf(const GpuResources* gpu,
                             GpuResources::Stream s = GpuResources::kCompute) {
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

constexpr int kThreadsPerBlock = 256;
constexpr int64_t kMaxBlocks = 65536;

template <class F>
void ForEach(GpuResources* gpu, int64_t n, F f) {
  if (n <= 0) return;
  gpu->CountLaunch();
  if (gpu->host_execution()) {
    HostAccess access(gpu);
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  const int64_t blocks =
      std::min<int64_t>((n + kThreadsPerBlock - 1) / kThreadsPerBlock, kMaxBlocks);
  ForEachKernel<<<static_cast<unsigned>(blocks), kThreadsPerBlock, 0, StreamOf(gpu)>>>(n, f);
  MOEREC_GPU_CHECK(cudaGetLastError());
}

// The device every view of one kernel call is on (CHECK: all the same, and not the host).
// Views with null data (an output the caller does not want) are skipped.
inline GpuResources* DeviceOf(ConstMatView v) { return v.gpu; }
template <class... Views>
GpuResources* CommonDevice(ConstMatView first, Views... rest) {
  GpuResources* gpu = first.gpu;
  auto check = [&](ConstMatView v) {
    if (v.data == nullptr) return;
    if (gpu == nullptr) gpu = v.gpu;
    CHECK(v.gpu == gpu) << "a kernel's views are on different devices (host and device, or "
                           "two devices); copy them to one first";
  };
  (check(rest), ...);
  CHECK(gpu != nullptr) << "a GPU kernel called on host views";
  return gpu;
}

// Elementwise helpers usable in kernel bodies.
__host__ __device__ inline float Sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

}  // namespace gpu
}  // namespace moerec

#endif  // MOEREC_CORE_GPU_LAUNCH_CUH_
