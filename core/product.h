// Elementwise product of two parameter arrays as a forward/backward pair: STAR's
// W_shared ⊙ W_domain, partitioned normalisation's gamma_shared · gamma_domain.
//
// Dimension legend: n values; a, b, out, dout: (n).
// Gradient rule: parameter gradients accumulate (da +=, db +=); either may be null when that
// input needs no gradient. out must not alias a or b.
// Threading: ParallelFor over value ranges; elementwise, so the same bits for any thread count.
// Devices: `device` is where all the arrays live, null = the host (the CPU kernel); on a
// GpuResources the CUDA twin (core/gpu/product.cu) runs on its compute stream.
#ifndef MOEREC_CORE_PRODUCT_H_
#define MOEREC_CORE_PRODUCT_H_

#include <cstdint>

#include "core/tensor.h"

namespace moerec {

// out = a ⊙ b.
void ProductForward(const float* a, const float* b, int64_t n, float* out,
                    GpuResources* device = nullptr);
// da += dout ⊙ b; db += dout ⊙ a.
void ProductBackward(const float* a, const float* b, const float* dout, int64_t n, float* da,
                     float* db, GpuResources* device = nullptr);

}  // namespace moerec

#endif  // MOEREC_CORE_PRODUCT_H_
