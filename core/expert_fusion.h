// M3oE's two-level fusion of expert modules (docs/models.md, M3oE steps 4 and 5) as a
// forward/backward pair. For row i of domain d = d(i) and task t:
//   Dom    = beta_d Dm_d + (1 - beta_d) / (D - 1) * sum_{k != d} Dm_k      (Dm_d alone if D = 1)
//   Tsk_t  = beta_t Tk_t + (1 - beta_t) / (T - 1) * sum_{k != t} Tk_k      (Tk_t alone if T = 1)
//   z_t    = S_t + alpha_d Dom + alpha_t Tsk_t
// with the four scalars w = {alpha_d, alpha_t, beta_d, beta_t} (the model's sigmoids of its
// architecture parameters).
//
// Dimension legend: B rows, H expert output width, D domains, T tasks.
//   shared, z, dz: (B, T*H), block t = task t   domain, ddomain: (B, D*H), block k = Dm_k
//   task, dtask: (B, T*H), block k = Tk_k       domain_of: (B) in [0, D)
// Gradient rule: activation gradients are written (the gradient of `shared` is dz itself);
// dweights accumulates (+=) in double.
// Devices: on device views (core/gpu/expert_fusion.cu) domain_of is a device array; dweights
// stays a host array, and the backward call waits for the device to deliver it.
// Threading: ParallelFor over rows; the scalar gradients are summed per row, then over rows in
// row order, so every result has the same bits for any thread count.
#ifndef MOEREC_CORE_EXPERT_FUSION_H_
#define MOEREC_CORE_EXPERT_FUSION_H_

#include <cstdint>

#include "core/tensor.h"

namespace moerec {

struct FusionWeights {
  float alpha_domain = 1.0f;
  float alpha_task = 1.0f;
  float beta_domain = 1.0f;
  float beta_task = 1.0f;
};

void M3oeFusionForward(ConstMatView shared, ConstMatView domain, ConstMatView task,
                       const int32_t* domain_of, int num_domains, int num_tasks,
                       const FusionWeights& w, MatView z);

// dweights: {alpha_domain, alpha_task, beta_domain, beta_task}, accumulated.
void M3oeFusionBackward(ConstMatView domain, ConstMatView task, const int32_t* domain_of,
                        int num_domains, int num_tasks, const FusionWeights& w, ConstMatView dz,
                        MatView ddomain, MatView dtask, double dweights[4]);

}  // namespace moerec

#endif  // MOEREC_CORE_EXPERT_FUSION_H_
