// GpuResources: everything one worker needs to compute on one GPU, in one object (the role of
// faiss's GpuResources): the device, three streams (compute; copy-in for the pulls of the next
// step; copy-out for the pushes of the last), the cuBLAS handle (bound to the compute stream),
// a caching allocator for device memory (core/gpu/caching_allocator.h) and pinned host buffers
// for staging copies. Tensors on this device (core/tensor.h) allocate through it, and every
// kernel of the kernel layer launches on its compute stream, so the work of one worker is
// ordered without host synchronisation.
//
// Host execution (Options::host_execution): the same object over host memory, running every
// launcher's kernel body and every GEMM (a reference of cuBLAS's column-major contract) on the
// calling thread. It needs no GPU, so the CUDA kernels' indexing, the GEMM argument mapping and
// the dispatch of the kernel layer are tested against the CPU kernels on every machine; it is
// a test harness, never a training device. Its "device" memory is mapped inaccessible except
// while one of its kernels, GEMMs or copies runs, so host code that touches device memory
// directly (which a real GPU does not allow) stops with SIGSEGV there as well.
//
// Errors: Create returns Unavailable when the build has no CUDA or the device cannot be opened
// (the runtime's words). After that, a failing CUDA or cuBLAS call is an invariant violation:
// it stops the process with the call, file and line (core/gpu/check.h), as does running out of
// device memory (the message gives the size asked for and what the allocator holds).
// Thread-safety: Allocate/Free and the pinned buffers may be called from any thread; launches
// and copies on one stream belong to one thread at a time.
#ifndef MOEREC_CORE_GPU_RESOURCES_H_
#define MOEREC_CORE_GPU_RESOURCES_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/status.h"

namespace moerec {

// The GEMM math of a device: fp32 everywhere, or bf16 inputs on the tensor cores with fp32
// accumulation and fp32 storage (master weights and activations stay fp32; only the GEMM
// operands are rounded to bf16 inside cuBLAS).
enum class GemmMath { kFp32, kBf16 };

struct GpuResourcesOptions {
  int device = 0;               // CUDA ordinal after CUDA_VISIBLE_DEVICES; >= 0
  bool host_execution = false;  // see the header comment; no GPU needed
  GemmMath gemm_math = GemmMath::kFp32;
};

struct GpuAllocatorStats {
  int64_t in_use_bytes = 0;  // handed out and not yet freed
  int64_t cached_bytes = 0;  // freed, kept for reuse
  int64_t peak_in_use_bytes = 0;
  int64_t device_allocations = 0;  // cudaMalloc calls (misses of the cache)
  int64_t cache_hits = 0;
};

class CachingAllocator;

class GpuResources {
 public:
  enum Stream { kCompute = 0, kCopyIn = 1, kCopyOut = 2 };
  enum CopyKind { kHostToDevice, kDeviceToHost, kOnDevice };
  static constexpr int kNumStreams = 3;

  static StatusOr<std::unique_ptr<GpuResources>> Create(const GpuResourcesOptions& options);
  ~GpuResources();
  GpuResources(const GpuResources&) = delete;
  GpuResources& operator=(const GpuResources&) = delete;

  int device() const { return options_.device; }
  bool host_execution() const { return options_.host_execution; }
  GemmMath gemm_math() const { return options_.gemm_math; }
  // "cuda:0 (NVIDIA H200)" or "host execution".
  std::string Describe() const;

  // The CUDA objects, as opaque pointers so that C++ callers need no CUDA headers:
  // cudaStream_t and cublasHandle_t (both null under host execution). CUDA sources cast them
  // back (core/gpu/launch.cuh).
  void* stream(Stream s = kCompute) const { return streams_[s]; }
  void* blas() const { return blas_; }

  // Device memory, 256-byte aligned; Free takes only pointers from Allocate. Stops the process
  // when the device is full even after the cache is returned to the driver. A freed block is
  // handed out again at once, without waiting for the device: that is safe for the compute
  // stream, whose work runs in launch order, so a Tensor may be freed while kernels using it
  // are still queued there. Memory that work on the copy streams uses must stay allocated until
  // that stream has been synchronised or waited on (StreamWait).
  void* Allocate(int64_t bytes);
  void Free(void* p);
  GpuAllocatorStats allocator_stats() const;

  // Pinned (page-locked) host memory for asynchronous copies; FreePinned takes only its
  // pointers. Under host execution, plain host memory.
  void* AllocatePinned(int64_t bytes);
  void FreePinned(void* p);

  // Asynchronous copy / fill, ordered on stream s. A host side of an asynchronous copy must be
  // pinned for the copy to overlap and must stay alive until the stream has passed it.
  void Copy(void* dst, const void* src, int64_t bytes, CopyKind kind, Stream s = kCompute);
  // rows rows of width_bytes each, rows pitch bytes apart on each side (cudaMemcpy2DAsync).
  void Copy2D(void* dst, int64_t dst_pitch, const void* src, int64_t src_pitch, int64_t width_bytes,
              int64_t rows, CopyKind kind, Stream s = kCompute);
  // Copy on the compute stream, then wait for it.
  void CopySync(void* dst, const void* src, int64_t bytes, CopyKind kind);
  // p[0, n) = value, on the compute stream.
  void Fill(float* p, int64_t n, float value);
  // Blocks until everything queued on s (or every stream) is done.
  void Synchronize(Stream s = kCompute);
  void SynchronizeAll();
  // Work queued on `waiter` after this call starts only once everything queued on `signaller`
  // so far is done; the host does not block.
  void StreamWait(Stream waiter, Stream signaller);

  // Under host execution, opens (and closes) the host's access to the device memory for the
  // duration of a kernel, GEMM or copy; nests. No-ops on a device.
  void OpenHostAccess();
  void CloseHostAccess();

  // Kernels and GEMMs launched so far (tests check that a call really ran on the device).
  int64_t launches() const { return launches_.load(std::memory_order_relaxed); }
  void CountLaunch() { launches_.fetch_add(1, std::memory_order_relaxed); }

 private:
  explicit GpuResources(const GpuResourcesOptions& options);
  Status Open();

  const GpuResourcesOptions options_;
  std::string name_;
  void* streams_[kNumStreams] = {nullptr, nullptr, nullptr};
  void* blas_ = nullptr;
  std::unique_ptr<CachingAllocator> allocator_;
  std::atomic<int64_t> launches_{0};
  // Host execution's device memory: mapped blocks and their lengths, and how many accesses
  // are open (the blocks are readable and writable while > 0).
  std::mutex host_mu_;
  std::unordered_map<void*, int64_t> host_blocks_;  // GUARDED_BY(host_mu_)
  int host_access_depth_ = 0;                       // GUARDED_BY(host_mu_)
};

// Host access for one scope (host execution; nothing on a device).
class HostAccess {
 public:
  explicit HostAccess(GpuResources* gpu) : gpu_(gpu) { gpu_->OpenHostAccess(); }
  ~HostAccess() { gpu_->CloseHostAccess(); }
  HostAccess(const HostAccess&) = delete;
  HostAccess& operator=(const HostAccess&) = delete;

 private:
  GpuResources* gpu_;
};

}  // namespace moerec

#endif  // MOEREC_CORE_GPU_RESOURCES_H_
