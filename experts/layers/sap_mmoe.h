// SapMmoe: DSMOE's SAP-MMoE block (MODELS.md "DSMOE"), moerec.SapMmoeConfig. For row i of
// scenario s with scenario embedding e_i and gate features g_i:
//   h_k^0 = x_i,  h_k^{l+1} = DSBN_s(PReLU(SAP_k^l(h_k^l | e_i)))    expert k, layers l < L
//   alpha_i = softmax(g_i W_g)                                         (K)
//   z_i = sum_k alpha_ik h_k^L,   y_i = SAP_out(z_i | e_i)
// SAP is SapLayer (experts/layers/sap.h); DSBN is PartitionedNorm (experts/layers/star.h)
// without its shared part: per-scenario gamma, beta and running statistics, batch statistics
// of the scenario's rows in training, the running ones in evaluation. The gate is
// SoftmaxGates (experts/layers/gate.h) with one stream and no bias.
//
// Dimension legend: B rows, I input width, De scenario embedding width, G gate feature width,
// K experts, H_l expert layer widths (H = H_{L-1} the last), O output width, D scenarios.
//   x, dx: (B, I)   e, de: (B, De)   g, dg: (B, G)   y, dy: (B, O)
// Parameters, with "<name>.<k>.<l>" the layer l of expert k:
//   "<name>.<k>.<l>.{w,b,bproj,a,gen.w,gen.b}"       its SAP
//   "<name>.<k>.<l>.prelu_alpha" (H_l)               PReLU slopes, 0.25
//   "<name>.<k>.<l>.bn.{domain_gamma,domain_beta}"   (D, H_l) DSBN scale 1 and shift 0
//   "<name>.<k>.<l>.bn.{running_mean,running_var}"   (D, H_l) buffers, 0 and 1
//   "<name>.gate.w" (G, K)                           as a Linear
//   "<name>.out.{w,b,bproj,a,gen.w,gen.b}"           the final SAP, H -> O
// Rows are sorted by scenario (experts/model.h); domain_begin (D + 1) gives their blocks.
//
// Gradient rule: parameter gradients accumulate (+=); dx, de and dg are written (=), each
// skipped when its data is null. dg may be de's own view (g = e): it then gets the sum.
// Memory: activations live in a SapMmoeCache owned by the caller.
// Thread-safety: none; the GEMMs use the compute thread pool.
#ifndef MOEREC_EXPERTS_LAYERS_SAP_MMOE_H_
#define MOEREC_EXPERTS_LAYERS_SAP_MMOE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/parameter.h"
#include "core/tensor.h"
#include "experts/layers/gate.h"
#include "experts/layers/sap.h"
#include "experts/layers/star.h"
#include "proto/config.pb.h"

namespace moerec {

struct SapMmoeCache {
  struct Layer {
    SapCache sap;             // sap.y: the pre-activation (B, H_l)
    Tensor act;               // (B, H_l) PReLU output, the DSBN input
    PartitionedNormCache bn;  // bn.y: the layer's output (B, H_l)
    Tensor dout;              // (B, H_l) gradient of the output (all but the last layer)
    Tensor dact;              // (B, H_l)
    Tensor dpre;              // (B, H_l)
  };
  std::vector<std::vector<Layer>> experts;  // (K, L)
  std::vector<int32_t> domain;              // (B) rows' scenarios, from domain_begin
  Tensor f;                                 // (B, K*H) the experts' outputs side by side
  GateCache gate;                           // gate.probs: alpha (B, K)
  Tensor z;                                 // (B, H)
  SapCache out;                             // out.y: the block's output (B, O)
  Tensor df;                                // (B, K*H)
  Tensor dprobs;                            // (B, K)
  Tensor dz;                                // (B, H)
};

class SapMmoe {
 public:
  SapMmoe() = default;
  // `config` must be valid (CHECKed): num_experts >= 1, dims non-empty and >= 1 each,
  // output_dim >= 1, sap.rank >= 1, bn_momentum in (0, 1], bn_eps > 0. Widths >= 1.
  // `workers` (several): DSBN's training statistics are the workers' global batch's
  // (PartitionedNormOptions::workers); training passes are then collective.
  SapMmoe(const SapMmoeConfig& config, int64_t input_dim, int64_t scenario_dim, int64_t gate_dim,
          int num_domains, const std::string& name, ParameterSet* params, uint64_t seed,
          Communicator* workers = nullptr);
  bool synchronised() const { return experts_[0][0].bn.synchronised(); }

  int num_experts() const { return static_cast<int>(experts_.size()); }
  int64_t expert_dim() const { return experts_[0].back().sap.output_dim(); }
  int64_t output_dim() const { return out_.output_dim(); }

  // x: (B, I), e: (B, De), g: (B, G); training: DSBN on batch statistics (which move the
  // running ones). Returns y (B, O), a view into `cache`.
  ConstMatView Forward(ConstMatView x, ConstMatView e, ConstMatView g,
                       const std::vector<int64_t>& domain_begin, bool training,
                       SapMmoeCache* cache) const;
  // x, e, g, domain_begin: Forward's. dy: (B, O).
  void Backward(ConstMatView x, ConstMatView e, ConstMatView g,
                const std::vector<int64_t>& domain_begin, ConstMatView dy, MatView dx, MatView de,
                MatView dg, SapMmoeCache* cache) const;

 private:
  struct Layer {
    SapLayer sap;
    Parameter* alpha = nullptr;  // PReLU slopes
    PartitionedNorm bn;
  };

  int num_domains_ = 1;
  std::vector<std::vector<Layer>> experts_;  // (K, L)
  SoftmaxGates gate_;
  SapLayer out_;
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_SAP_MMOE_H_
