// The CUDA build of core/gpu.h.
#include <cuda_runtime.h>

#include "core/gpu.h"

namespace moerec {

GpuInventory ListGpus() {
  GpuInventory inventory;
  // Each call's failure leaves its field at 0 ("unknown"); the device query below says why.
  if (cudaRuntimeGetVersion(&inventory.runtime_version) != cudaSuccess) {
    inventory.runtime_version = 0;
  }
  if (cudaDriverGetVersion(&inventory.driver_version) != cudaSuccess) {
    inventory.driver_version = 0;
  }
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    inventory.why_none = std::string(cudaGetErrorString(err)) +
                         " (cudaGetDeviceCount: " + cudaGetErrorName(err) + ")";
    cudaGetLastError();  // the error is reported here; do not leave it sticky for later calls
    return inventory;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop;
    const cudaError_t prop_err = cudaGetDeviceProperties(&prop, d);
    if (prop_err != cudaSuccess) {
      inventory.why_none = "device " + std::to_string(d) + ": " + cudaGetErrorString(prop_err) +
                           " (cudaGetDeviceProperties)";
      cudaGetLastError();
      continue;
    }
    GpuInfo info;
    info.index = d;
    info.name = prop.name;
    info.memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
    info.compute_major = prop.major;
    info.compute_minor = prop.minor;
    info.multiprocessors = prop.multiProcessorCount;
    inventory.gpus.push_back(info);
  }
  if (inventory.gpus.empty() && inventory.why_none.empty()) {
    inventory.why_none = "the CUDA runtime sees no device";
  }
  return inventory;
}

}  // namespace moerec
