// core/gpu/resources.h, CUDA build.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "core/gpu/caching_allocator.h"
#include "core/gpu/check.h"
#include "core/gpu/launch.cuh"
#include "core/gpu/resources.h"

namespace moerec {

GpuResources::GpuResources(const GpuResourcesOptions& options) : options_(options) {}

StatusOr<std::unique_ptr<GpuResources>> GpuResources::Create(const GpuResourcesOptions& options) {
  if (options.device < 0) {
    return InvalidArgument("GpuResources: device must be >= 0, got " +
                           std::to_string(options.device));
  }
  std::unique_ptr<GpuResources> gpu(new GpuResources(options));
  RETURN_IF_ERROR(gpu->Open());
  return StatusOr<std::unique_ptr<GpuResources>>(std::move(gpu));
}

Status GpuResources::Open() {
  if (options_.host_execution) {
    name_ = "host execution";
    // Pages of their own, inaccessible outside kernels and copies (OpenHostAccess).
    allocator_ = std::make_unique<CachingAllocator>(
        [this](int64_t bytes) -> void* {
          const int64_t page = sysconf(_SC_PAGESIZE);
          const int64_t length = (bytes + page - 1) / page * page;
          std::lock_guard<std::mutex> lock(host_mu_);
          void* p =
              mmap(nullptr, length, host_access_depth_ > 0 ? PROT_READ | PROT_WRITE : PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
          if (p == MAP_FAILED) return nullptr;
          host_blocks_.emplace(p, length);
          return p;
        },
        [this](void* p) {
          std::lock_guard<std::mutex> lock(host_mu_);
          auto it = host_blocks_.find(p);
          CHECK(it != host_blocks_.end());
          munmap(p, it->second);
          host_blocks_.erase(it);
        });
    return Status::OK();
  }
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return Unavailable(std::string("no GPU: ") + cudaGetErrorString(err));
  }
  if (options_.device >= count) {
    return Unavailable("GPU " + std::to_string(options_.device) + " asked for, " +
                       std::to_string(count) + " visible");
  }
  MOEREC_GPU_RETURN_IF_ERROR(cudaSetDevice(options_.device));
  cudaDeviceProp prop;
  MOEREC_GPU_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, options_.device));
  name_ = "cuda:" + std::to_string(options_.device) + " (" + prop.name + ")";
  for (int s = 0; s < kNumStreams; ++s) {
    cudaStream_t stream;
    MOEREC_GPU_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    streams_[s] = stream;
  }
  cublasHandle_t handle;
  MOEREC_GPU_RETURN_IF_ERROR(cublasCreate(&handle));
  blas_ = handle;
  MOEREC_GPU_RETURN_IF_ERROR(cublasSetStream(handle, static_cast<cudaStream_t>(streams_[0])));
  // fp32 GEMMs stay fp32 (no TF32), so the device matches the CPU kernels; bf16 is asked for.
  MOEREC_GPU_RETURN_IF_ERROR(cublasSetMathMode(
      handle, options_.gemm_math == GemmMath::kBf16 ? CUBLAS_DEFAULT_MATH : CUBLAS_PEDANTIC_MATH));
  const int device = options_.device;
  allocator_ = std::make_unique<CachingAllocator>(
      [device](int64_t bytes) -> void* {
        void* p = nullptr;
        cudaSetDevice(device);
        if (cudaMalloc(&p, bytes) != cudaSuccess) {
          cudaGetLastError();  // out of memory is reported by Allocate, not left sticky
          return nullptr;
        }
        return p;
      },
      [device](void* p) {
        cudaSetDevice(device);
        MOEREC_GPU_CHECK(cudaFree(p));
      });
  return Status::OK();
}

GpuResources::~GpuResources() {
  if (!options_.host_execution && streams_[0] != nullptr) SynchronizeAll();
  allocator_.reset();
  if (blas_ != nullptr) cublasDestroy(static_cast<cublasHandle_t>(blas_));
  for (void* s : streams_) {
    if (s != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(s));
  }
}

std::string GpuResources::Describe() const { return name_; }

void GpuResources::OpenHostAccess() {
  if (!options_.host_execution) return;
  std::lock_guard<std::mutex> lock(host_mu_);
  if (host_access_depth_++ > 0) return;
  for (const auto& [p, length] : host_blocks_) {
    PCHECK(mprotect(p, length, PROT_READ | PROT_WRITE) == 0) << "mprotect";
  }
}

void GpuResources::CloseHostAccess() {
  if (!options_.host_execution) return;
  std::lock_guard<std::mutex> lock(host_mu_);
  CHECK_GT(host_access_depth_, 0);
  if (--host_access_depth_ > 0) return;
  for (const auto& [p, length] : host_blocks_) {
    PCHECK(mprotect(p, length, PROT_NONE) == 0) << "mprotect";
  }
}

void* GpuResources::Allocate(int64_t bytes) {
  void* p = allocator_->Allocate(bytes);
  if (p == nullptr) {
    const GpuAllocatorStats s = allocator_->stats();
    LOG(FATAL) << Describe() << ": out of device memory allocating " << bytes << " bytes ("
               << s.in_use_bytes << " bytes in use, peak " << s.peak_in_use_bytes << ")";
  }
  return p;
}

void GpuResources::Free(void* p) { allocator_->Free(p); }

GpuAllocatorStats GpuResources::allocator_stats() const { return allocator_->stats(); }

void* GpuResources::AllocatePinned(int64_t bytes) {
  if (options_.host_execution) {
    void* p = std::aligned_alloc(256, (std::max<int64_t>(bytes, 1) + 255) / 256 * 256);
    CHECK(p != nullptr) << "out of host memory allocating " << bytes << " bytes";
    return p;
  }
  void* p = nullptr;
  MOEREC_GPU_CHECK(cudaHostAlloc(&p, std::max<int64_t>(bytes, 1), cudaHostAllocDefault));
  return p;
}

void GpuResources::FreePinned(void* p) {
  if (p == nullptr) return;
  if (options_.host_execution) {
    std::free(p);
    return;
  }
  MOEREC_GPU_CHECK(cudaFreeHost(p));
}

void GpuResources::Copy(void* dst, const void* src, int64_t bytes, CopyKind kind, Stream s) {
  if (bytes <= 0) return;
  if (options_.host_execution) {
    HostAccess access(this);
    std::memmove(dst, src, bytes);
    return;
  }
  const cudaMemcpyKind k = kind == kHostToDevice   ? cudaMemcpyHostToDevice
                           : kind == kDeviceToHost ? cudaMemcpyDeviceToHost
                                                   : cudaMemcpyDeviceToDevice;
  MOEREC_GPU_CHECK(cudaMemcpyAsync(dst, src, bytes, k, static_cast<cudaStream_t>(streams_[s])));
}

void GpuResources::Copy2D(void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch,
                          int64_t width_bytes, int64_t rows, CopyKind kind, Stream s) {
  if (rows <= 0 || width_bytes <= 0) return;
  if (options_.host_execution) {
    HostAccess access(this);
    for (int64_t r = 0; r < rows; ++r) {
      std::memmove(static_cast<char*>(dst) + r * dst_pitch,
                   static_cast<const char*>(src) + r * src_pitch, width_bytes);
    }
    return;
  }
  const cudaMemcpyKind k = kind == kHostToDevice   ? cudaMemcpyHostToDevice
                           : kind == kDeviceToHost ? cudaMemcpyDeviceToHost
                                                   : cudaMemcpyDeviceToDevice;
  MOEREC_GPU_CHECK(cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, width_bytes, rows, k,
                                     static_cast<cudaStream_t>(streams_[s])));
}

void GpuResources::CopySync(void* dst, const void* src, int64_t bytes, CopyKind kind) {
  Copy(dst, src, bytes, kind, kCompute);
  Synchronize(kCompute);
}

void GpuResources::Fill(float* p, int64_t n, float value) {
  gpu::ForEach(this, n, [=] __host__ __device__(int64_t i) { p[i] = value; });
}

void GpuResources::Synchronize(Stream s) {
  if (options_.host_execution) return;
  MOEREC_GPU_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(streams_[s])));
}

void GpuResources::SynchronizeAll() {
  for (int s = 0; s < kNumStreams; ++s) Synchronize(static_cast<Stream>(s));
}

void GpuResources::StreamWait(Stream waiter, Stream signaller) {
  if (options_.host_execution || waiter == signaller) return;
  cudaEvent_t event;
  MOEREC_GPU_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  MOEREC_GPU_CHECK(cudaEventRecord(event, static_cast<cudaStream_t>(streams_[signaller])));
  MOEREC_GPU_CHECK(cudaStreamWaitEvent(static_cast<cudaStream_t>(streams_[waiter]), event, 0));
  MOEREC_GPU_CHECK(cudaEventDestroy(event));  // released once the wait has passed it
}

}  // namespace moerec
