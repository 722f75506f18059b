// Kernel caches and working memory as Tensors on the device of a call's inputs (not a public
// API). A cache struct outlives one call and may be filled on the host one step and on a device
// the next (tests, a model moved to a GPU), so each call places it first: a Tensor on another
// device is replaced by a fresh one on the right device, one already there is resized (keeping
// its allocation).
#ifndef MOEREC_CORE_INTERNAL_CACHE_TENSOR_H_
#define MOEREC_CORE_INTERNAL_CACHE_TENSOR_H_

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "core/tensor.h"

namespace moerec::internal {

// t = a Tensor of `shape` on gpu (null = host); contents unspecified.
inline void PlaceTensor(Tensor* t, const std::vector<int64_t>& shape, GpuResources* gpu) {
  if (t->gpu() != gpu) {
    *t = Tensor(shape, gpu);
  } else {
    t->Resize(shape);
  }
}

// n doubles of working memory in t's storage (two floats each; Tensor storage is at least
// 64-byte aligned), placed on gpu; contents unspecified.
inline double* PlaceDoubles(Tensor* t, int64_t n, GpuResources* gpu) {
  PlaceTensor(t, {2 * n}, gpu);
  return reinterpret_cast<double*>(t->data());
}

// The CPU kernels' side of the same rule: cache tensors last used on a device (or made inside a
// DeviceScope) are replaced by empty host tensors, which the kernel then resizes.
inline void MoveToHost(std::initializer_list<Tensor*> tensors) {
  for (Tensor* t : tensors) {
    if (t->on_gpu()) *t = Tensor(std::vector<int64_t>{0}, nullptr);
  }
}

}  // namespace moerec::internal

#endif  // MOEREC_CORE_INTERNAL_CACHE_TENSOR_H_
