// core/gpu/resources.h for builds without CUDA (MOEREC_CUDA=OFF): no GpuResources can be made,
// so no tensor is ever on a device and none of the other members is reachable.
#include <glog/logging.h>

#include "core/gpu/caching_allocator.h"
#include "core/gpu/resources.h"

namespace moerec {

GpuResources::GpuResources(const GpuResourcesOptions& options) : options_(options) {}
GpuResources::~GpuResources() = default;

StatusOr<std::unique_ptr<GpuResources>> GpuResources::Create(const GpuResourcesOptions& options) {
  return Unavailable("built without CUDA (MOEREC_CUDA=OFF)");
}

#define MOEREC_NO_CUDA LOG(FATAL) << "GpuResources in a build without CUDA"
std::string GpuResources::Describe() const { return "no GPU"; }
void* GpuResources::Allocate(int64_t bytes) { MOEREC_NO_CUDA; }
void GpuResources::Free(void* p) { MOEREC_NO_CUDA; }
GpuAllocatorStats GpuResources::allocator_stats() const { MOEREC_NO_CUDA; }
void* GpuResources::AllocatePinned(int64_t bytes) { MOEREC_NO_CUDA; }
void GpuResources::FreePinned(void* p) { MOEREC_NO_CUDA; }
void GpuResources::Copy(void*, const void*, int64_t, CopyKind, Stream) { MOEREC_NO_CUDA; }
void GpuResources::Copy2D(void*, int64_t, const void*, int64_t, int64_t, int64_t, CopyKind,
                          Stream) {
  MOEREC_NO_CUDA;
}
void GpuResources::CopySync(void*, const void*, int64_t, CopyKind) { MOEREC_NO_CUDA; }
void GpuResources::Fill(float*, int64_t, float) { MOEREC_NO_CUDA; }
void GpuResources::Synchronize(Stream) { MOEREC_NO_CUDA; }
void GpuResources::SynchronizeAll() { MOEREC_NO_CUDA; }
void GpuResources::StreamWait(Stream, Stream) { MOEREC_NO_CUDA; }
void GpuResources::OpenHostAccess() { MOEREC_NO_CUDA; }
void GpuResources::CloseHostAccess() { MOEREC_NO_CUDA; }
#undef MOEREC_NO_CUDA

}  // namespace moerec
