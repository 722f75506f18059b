// GPUs visible to this process and the CUDA runtime/driver versions behind them.
// Built from gpu.cu when MOEREC_CUDA is on, from gpu_none.cc otherwise; callers never need
// #ifdefs: a build without CUDA simply sees no GPUs and says why.
// Thread-safety: ListGpus may be called from any thread.
#ifndef MOEREC_CORE_GPU_H_
#define MOEREC_CORE_GPU_H_

#include <cstdint>
#include <string>
#include <vector>

namespace moerec {

struct GpuInfo {
  int index = 0;             // CUDA device ordinal (after CUDA_VISIBLE_DEVICES)
  std::string name;          // e.g. "NVIDIA H100 80GB HBM3"
  int64_t memory_bytes = 0;  // total device memory
  int compute_major = 0;     // compute capability, e.g. 9.0
  int compute_minor = 0;
  int multiprocessors = 0;
};

struct GpuInventory {
  std::vector<GpuInfo> gpus;
  // Why `gpus` is empty: "built without CUDA (MOEREC_CUDA=OFF)", or the runtime's own words
  // ("no CUDA-capable device is detected", a driver too old for the runtime, ...).
  std::string why_none;
  int runtime_version = 0;  // CUDA runtime the binary was linked with, e.g. 13000; 0 without CUDA
  int driver_version = 0;   // what the installed driver supports; 0 without a driver
};

// Never fails: a machine without GPUs, driver or CUDA build gets an empty list and the reason.
GpuInventory ListGpus();

// "2 GPUs: 0 NVIDIA H100 80GB HBM3 (79.1 GiB, sm_90, 132 SMs); 1 ..." or "no GPU: <why>".
std::string DescribeGpus(const GpuInventory& inventory);

}  // namespace moerec

#endif  // MOEREC_CORE_GPU_H_
