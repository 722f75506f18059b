// bench/nccl_bench.h with CUDA and NCCL.
#include "bench/nccl_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "comm/communicator.h"
#include "comm/nccl_communicator.h"
#include "core/gpu.h"
#include "core/gpu/resources.h"

namespace moerec {
namespace {

// Seconds of the fastest of `repetitions` calls of `call`, after one untimed (warm-up) call.
StatusOr<double> BestSeconds(int repetitions, const std::function<Status()>& call) {
  RETURN_IF_ERROR(call());
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < repetitions; ++i) {
    const auto start = std::chrono::steady_clock::now();
    RETURN_IF_ERROR(call());
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    best = std::min(best, took.count());
  }
  return best;
}

// A device allocation of `gpu`, freed with it.
struct DeviceBuffer {
  DeviceBuffer(GpuResources* gpu, int64_t bytes) : gpu(gpu), data(gpu->Allocate(bytes)) {}
  ~DeviceBuffer() { gpu->Free(data); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  float* floats() { return static_cast<float*>(data); }
  GpuResources* gpu;
  void* data;
};

struct Figures {
  double alltoall = 0, allreduce = 0, copy = 0;  // bytes/s
};

}  // namespace

Status RunNcclBenchmark(const NcclBenchOptions& options) {
  if (options.min_bytes < 8 || options.min_bytes % 8 != 0 ||
      options.max_bytes < options.min_bytes || options.max_bytes % 8 != 0 ||
      options.repetitions < 1 || options.device < 0) {
    return InvalidArgument(
        "bench nccl: need min_bytes >= 8 and max_bytes >= min_bytes, both multiples of 8, "
        "repetitions >= 1, device >= 0");
  }
  GpuResourcesOptions gpu_options;
  gpu_options.device = options.device;
  auto made = GpuResources::Create(gpu_options);
  if (!made.ok()) return made.status().WithContext("bench nccl");
  std::unique_ptr<GpuResources> gpu = std::move(*made);
  SelfCommunicator self;
  ASSIGN_OR_RETURN(std::unique_ptr<NcclCommunicator> nccl,
                   NcclCommunicator::Create(&self, gpu.get()));

  std::vector<int64_t> sizes;
  for (int64_t b = options.min_bytes; b < options.max_bytes; b *= 2) sizes.push_back(b);
  sizes.push_back(options.max_bytes);
  DeviceBuffer send(gpu.get(), options.max_bytes), recv(gpu.get(), options.max_bytes);
  gpu->Fill(send.floats(), options.max_bytes / sizeof(float), 1.0f);
  gpu->Fill(recv.floats(), options.max_bytes / sizeof(float), 0.0f);
  gpu->Synchronize();

  const GpuInventory inventory = ListGpus();
  const std::string name = options.device < static_cast<int>(inventory.gpus.size())
                               ? inventory.gpus[options.device].name
                               : gpu->Describe();
  std::printf("device=%s\n", name.c_str());
  std::printf("ranks=%d\n", nccl->size());
  Figures last;
  for (const int64_t bytes : sizes) {
    const int64_t floats = bytes / static_cast<int64_t>(sizeof(float));  // bytes % 8 == 0
    ASSIGN_OR_RETURN(const double a2a, BestSeconds(options.repetitions, [&] {
                       return nccl->AllToAll(send.floats(), recv.floats(), floats);
                     }));
    ASSIGN_OR_RETURN(const double ar, BestSeconds(options.repetitions, [&] {
                       return nccl->AllReduceSum(recv.floats(), floats);
                     }));
    ASSIGN_OR_RETURN(const double copy, BestSeconds(options.repetitions, [&] {
                       gpu->Copy(recv.data, send.data, bytes, GpuResources::kOnDevice);
                       gpu->Synchronize();
                       return Status::OK();
                     }));
    last = Figures{bytes / a2a, bytes / ar, bytes / copy};
    std::printf("nccl_alltoall_bytes_per_sec_%lld=%.6g\n", static_cast<long long>(bytes),
                last.alltoall);
    std::printf("nccl_allreduce_bytes_per_sec_%lld=%.6g\n", static_cast<long long>(bytes),
                last.allreduce);
    std::printf("device_copy_bytes_per_sec_%lld=%.6g\n", static_cast<long long>(bytes), last.copy);
  }
  std::printf("message_bytes=%lld\n", static_cast<long long>(sizes.back()));
  std::printf("nccl_alltoall_bytes_per_sec=%.6g\n", last.alltoall);
  std::printf("nccl_allreduce_bytes_per_sec=%.6g\n", last.allreduce);
  std::printf("device_copy_bytes_per_sec=%.6g\n", last.copy);
  std::printf("alltoall_vs_copy=%.4g\n", last.alltoall / last.copy);
  std::fflush(stdout);
  return Status::OK();
}

}  // namespace moerec
