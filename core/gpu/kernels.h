// The CUDA implementations of the kernel layer: for each op of core/<op>.h, a function of the
// same name and arguments in namespace gpu, running on the device of its views (every view of a
// call on one GpuResources; raw pointers beside them on that device too). The CPU functions
// dispatch here when their views are on a GPU (core/internal/gpu_dispatch.h), so callers use
// the CPU names only; tests call these directly too. Each op's contract (shapes, gradient rule)
// is its CPU header's; results match the CPU kernel within the tolerance its test states
// (core/gpu/<op>_test.cc). Built only with MOEREC_CUDA.
#ifndef MOEREC_CORE_GPU_KERNELS_H_
#define MOEREC_CORE_GPU_KERNELS_H_

#include <cstdint>
#include <vector>

#include "core/activation.h"
#include "core/bilinear.h"
#include "core/cin.h"
#include "core/concat.h"
#include "core/cross.h"
#include "core/embedding_bag.h"
#include "core/expert_fusion.h"
#include "core/field_attention.h"
#include "core/gated_mix.h"
#include "core/grouped_linear.h"
#include "core/interaction.h"
#include "core/linear.h"
#include "core/loss.h"
#include "core/low_rank.h"
#include "core/norm.h"
#include "core/optimizer.h"
#include "core/product.h"
#include "core/senet.h"
#include "core/softmax.h"

namespace moerec {
namespace gpu {

// --- core/linear.h
void Gemm(bool trans_a, bool trans_b, float alpha, ConstMatView a, ConstMatView b, float beta,
          MatView c);
void BiasForward(const float* b, MatView y);
void BiasBackward(ConstMatView dy, float* db);
void BroadcastRows(const float* b, MatView y);
void CopyMat(ConstMatView src, MatView dst);
void AddMat(ConstMatView src, MatView dst);
void ScaleMat(float beta, MatView y);

// --- core/activation.h
void ReluForward(ConstMatView x, MatView y);
void ReluBackward(ConstMatView y, ConstMatView dy, MatView dx);
void BiasReluForward(const float* b, MatView y);
void BiasReluBackward(ConstMatView y, ConstMatView dy, MatView dx, float* db);
void PreluForward(ConstMatView x, const float* alpha, MatView y);
void PreluBackward(ConstMatView x, const float* alpha, ConstMatView dy, MatView dx, float* dalpha);
void SigmoidForward(ConstMatView x, MatView y);
void SigmoidBackward(ConstMatView y, ConstMatView dy, MatView dx);
void DropoutForward(ConstMatView x, float p, uint64_t seed, MatView mask, MatView y);
void DropoutBackward(ConstMatView mask, ConstMatView dy, MatView dx);

// --- core/softmax.h
void SoftmaxForward(ConstMatView x, MatView y);
void SoftmaxBackward(ConstMatView y, ConstMatView dy, MatView dx);

// --- core/loss.h
double MaskedSigmoidBce(const float* logits, const float* labels, const uint8_t* mask,
                        const float* weight, int64_t n, float* probs, float* dlogits,
                        GpuResources* device);
double CandidateSoftmaxXent(ConstMatView z, const int64_t* target, const uint8_t* valid,
                            float weight, MatView dz);
double SoftmaxKl(ConstMatView teacher, ConstMatView student, float tau, float weight,
                 MatView dstudent);
double SigmoidKl(const float* teacher, const float* student, int64_t n, float tau, float weight,
                 float* dstudent, GpuResources* device);

// --- core/norm.h (the GroupBatchNormState overload forwards to the pointer one: no twin)
void LayerNormForward(ConstMatView x, const float* gamma, const float* beta, float eps, MatView y,
                      LayerNormCache* cache);
void LayerNormBackward(ConstMatView x, const float* gamma, const LayerNormCache& cache,
                       ConstMatView dy, MatView dx, float* dgamma, float* dbeta);
void GroupBatchNormForward(ConstMatView x, const int32_t* group, int num_groups, const float* gamma,
                           const float* beta, float eps, float momentum, bool training,
                           float* running_mean, float* running_var, MatView y,
                           GroupBatchNormCache* cache, const GroupSum* sum);
void GroupBatchNormBackward(ConstMatView x, const int32_t* group, const float* gamma,
                            const GroupBatchNormCache& cache, ConstMatView dy, MatView dx,
                            float* dgamma, float* dbeta, const GroupSum* sum);
void L2NormalizeForward(ConstMatView x, float eps, MatView y, Tensor* rnorm);
void L2NormalizeBackward(ConstMatView y, const Tensor& rnorm, float eps, ConstMatView dy,
                         MatView dx);

// --- core/concat.h
void ConcatColumnsForward(const std::vector<ConstMatView>& parts, MatView out);
void ConcatColumnsBackward(ConstMatView dout, const std::vector<MatView>& dparts);

// --- core/gated_mix.h
void GatedMixForward(ConstMatView f, ConstMatView g, int num_experts, MatView z);
void GatedMixBackward(ConstMatView f, ConstMatView g, ConstMatView dz, int num_experts, MatView df,
                      MatView dg);

// --- core/expert_fusion.h
void M3oeFusionForward(ConstMatView shared, ConstMatView domain, ConstMatView task,
                       const int32_t* domain_of, int num_domains, int num_tasks,
                       const FusionWeights& w, MatView z);
void M3oeFusionBackward(ConstMatView domain, ConstMatView task, const int32_t* domain_of,
                        int num_domains, int num_tasks, const FusionWeights& w, ConstMatView dz,
                        MatView ddomain, MatView dtask, double dweights[4]);

// --- core/grouped_linear.h
void GroupedLinearForward(ConstMatView x, const std::vector<int64_t>& begin,
                          const std::vector<ConstMatView>& w, const std::vector<const float*>& b,
                          MatView y);
void GroupedLinearBackward(ConstMatView x, const std::vector<int64_t>& begin,
                           const std::vector<ConstMatView>& w, ConstMatView dy,
                           const std::vector<MatView>& dw, const std::vector<float*>& db,
                           MatView dx, float dx_beta);

// --- core/embedding_bag.h
void EmbeddingBagForward(ConstMatView rows, const uint32_t* offsets, const int32_t* index,
                         PoolingMode mode, MatView out);
void EmbeddingBagBackward(ConstMatView dout, const uint32_t* offsets, const int32_t* index,
                          PoolingMode mode, MatView drows);

// --- core/low_rank.h
void LowRankAdapterForward(ConstMatView x, ConstMatView a, ConstMatView b, const float* c,
                           const float* w, int64_t w_stride, MatView t, MatView u, MatView pre);
void LowRankAdapterBackward(ConstMatView x, ConstMatView a, ConstMatView b, const float* w,
                            int64_t w_stride, ConstMatView t, ConstMatView u, ConstMatView dpre,
                            MatView du_scratch, MatView dt_scratch, MatView da, MatView db,
                            float* dc, float* dw, MatView dx);

// --- core/product.h
void ProductForward(const float* a, const float* b, int64_t n, float* out, GpuResources* device);
void ProductBackward(const float* a, const float* b, const float* dout, int64_t n, float* da,
                     float* db, GpuResources* device);

// --- core/bilinear.h
void BilinearForward(BilinearType type, ConstMatView v, int num_fields, const float* w, MatView out,
                     BilinearCache* cache);
void BilinearBackward(BilinearType type, ConstMatView v, int num_fields, const float* w,
                      const BilinearCache& cache, ConstMatView dout, MatView dv, float dv_beta,
                      float* dw);

// --- core/cin.h
void CinLayerForward(ConstMatView x0, ConstMatView xprev, int num_fields, ConstMatView w,
                     MatView xnext);
void CinLayerBackward(ConstMatView x0, ConstMatView xprev, int num_fields, ConstMatView w,
                      ConstMatView dxnext, MatView dx0, float dx0_beta, MatView dxprev, MatView dw);
void FieldSumPoolForward(ConstMatView x, MatView y);
void FieldSumPoolBackward(ConstMatView dy, MatView dx);

// --- core/cross.h
void CrossLayerForward(CrossMode mode, ConstMatView x0, ConstMatView xl, ConstMatView w,
                       const float* b, MatView y, CrossLayerCache* cache);
void CrossLayerBackward(CrossMode mode, ConstMatView x0, ConstMatView xl, ConstMatView w,
                        const CrossLayerCache& cache, ConstMatView dy, MatView dx0, float dx0_beta,
                        MatView dxl, MatView dw, float* db);

// --- core/field_attention.h
void FieldAttentionForward(ConstMatView x, int num_fields, int num_heads, ConstMatView w_q,
                           ConstMatView w_k, ConstMatView w_v, ConstMatView w_res, MatView y,
                           FieldAttentionCache* cache, float scale);
void FieldAttentionBackward(ConstMatView w_q, ConstMatView w_k, ConstMatView w_v,
                            ConstMatView w_res, const FieldAttentionCache& cache, ConstMatView dy,
                            MatView dx, float dx_beta, MatView dw_q, MatView dw_k, MatView dw_v,
                            MatView dw_res);

// --- core/interaction.h
void BiInteractionForward(ConstMatView v, int num_fields, MatView out);
void BiInteractionBackward(ConstMatView v, int num_fields, ConstMatView dout, MatView dv,
                           float dv_beta);
void InnerProductForward(ConstMatView v, int num_fields, MatView out);
void InnerProductBackward(ConstMatView v, int num_fields, ConstMatView dout, MatView dv,
                          float dv_beta);
void OuterProductForward(ConstMatView v, int num_fields, const float* kernel, MatView out);
void OuterProductBackward(ConstMatView v, int num_fields, const float* kernel, ConstMatView dout,
                          MatView dv, float* dkernel, float dv_beta);

// --- core/senet.h
void SenetForward(ConstMatView v, int num_fields, ConstMatView w1, ConstMatView w2, MatView out,
                  SenetCache* cache);
void SenetBackward(ConstMatView v, ConstMatView w1, ConstMatView w2, const SenetCache& cache,
                   ConstMatView dout, MatView dv, float dv_beta, MatView dw1, MatView dw2);

// --- core/optimizer.h
// One parameter's share of DenseOptimizer::Step on `device`, which holds value, grad, m and v
// (n floats each; m, v unused, and may be null, where the rule keeps no such state).
// step_size, inv_bc2_sqrt: Adam's per-step scalars (lr / (1 - b1^t), 1 / sqrt(1 - b2^t));
// first: the parameter's first update (SGD momentum).
void DenseOptimizerUpdate(const DenseOptimizerOptions& options, float step_size, float inv_bc2_sqrt,
                          bool first, int64_t n, float* value, const float* grad, float* m,
                          float* v, GpuResources* device);

}  // namespace gpu
}  // namespace moerec

#endif  // MOEREC_CORE_GPU_KERNELS_H_
