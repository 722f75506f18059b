// MatchingTower: one tower of a two-tower model (moerec.TowerConfig), from the tower's input
// columns to its embedding. Three forms:
//   MLP       the hidden layers of mlp.dims as an Mlp (Linear -> [LayerNorm] -> activation ->
//             [dropout]), then a Linear to the last width, without activation;
//   SAP       every layer a SapLayer on the scenario embedding (experts/layers/sap.h), the
//             activation of mlp between layers (ReLU, PReLU with per-channel slopes, or none),
//             none after the last;
//   SAP-MMoE  a SapMmoe block (experts/layers/sap_mmoe.h) whose gate reads the scenario
//             embedding, output width sap_mmoe.output_dim.
//
// Dimension legend: B rows, I input width, De scenario embedding width, O output width, D
// scenarios. x, dx: (B, I)   e, de: (B, De)   y, dy: (B, O)
// Parameters under "<name>.": "hidden.*" and "out.*" (MLP), "<l>.*" and "<l>.prelu_alpha"
// (SAP), "mmoe.*" (SAP-MMoE).
// Rows are sorted by scenario; domain_begin (D + 1) gives their blocks (SAP-MMoE's DSBN).
// Gradient rule: parameter gradients accumulate (+=); dx is written (=), skipped when its data
// is null; de ACCUMULATES (+=), so both towers may add to one scenario-embedding gradient.
// Memory: activations live in the tower (one application per Forward/Backward pair).
// Thread-safety: none; the GEMMs use the compute thread pool.
#ifndef MOEREC_EXPERTS_LAYERS_MATCHING_TOWER_H_
#define MOEREC_EXPERTS_LAYERS_MATCHING_TOWER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/parameter.h"
#include "core/tensor.h"
#include "experts/layers/linear.h"
#include "experts/layers/mlp.h"
#include "experts/layers/sap.h"
#include "experts/layers/sap_mmoe.h"
#include "proto/config.pb.h"

namespace moerec {

class MatchingTower {
 public:
  MatchingTower() = default;
  // `config` must be valid (TwoTowerModel::Validate). scenario_dim >= 1 when the tower uses
  // the scenario (sap or sap_mmoe).
  // `workers`: a SAP-MMoE's batch norm is synchronised over them (SapMmoe).
  MatchingTower(const TowerConfig& config, int64_t input_dim, int64_t scenario_dim, int num_domains,
                const std::string& name, ParameterSet* params, uint64_t seed,
                Communicator* workers = nullptr);

  int64_t input_dim() const { return input_dim_; }
  int64_t output_dim() const { return output_dim_; }
  bool uses_scenario() const { return kind_ != Kind::kMlp; }
  // Training Forward and Backward are collective over the workers (a synchronised DSBN): every
  // worker calls them, with or without rows.
  bool synchronised() const { return kind_ == Kind::kSapMmoe && mmoe_.synchronised(); }

  // x: (B, I); e: (B, De), read only when uses_scenario(). Returns y (B, O), valid until the
  // next Forward.
  ConstMatView Forward(ConstMatView x, ConstMatView e, const std::vector<int64_t>& domain_begin,
                       bool training, uint64_t seed);
  // Forward's x, e and domain_begin; dy: (B, O).
  void Backward(ConstMatView x, ConstMatView e, const std::vector<int64_t>& domain_begin,
                ConstMatView dy, MatView dx, MatView de);

 private:
  enum class Kind { kMlp, kSap, kSapMmoe };
  struct SapStep {
    SapLayer sap;
    Parameter* alpha = nullptr;  // PReLU slopes (ACT_PRELU, all but the last layer)
    SapCache cache;
    Tensor act;   // (B, H_l) the activation's output (all but the last layer)
    Tensor dact;  // (B, H_l) gradient of the pre-activation
    Tensor dout;  // (B, H_l) gradient of the layer's output (all but the last layer)
  };

  Kind kind_ = Kind::kMlp;
  int64_t input_dim_ = 0;
  int64_t output_dim_ = 0;
  Activation activation_ = ACT_RELU;
  // MLP
  Mlp hidden_;
  Linear out_;
  MlpCache hidden_cache_;
  ConstMatView h_;
  Tensor y_, dh_;
  // SAP
  std::vector<SapStep> saps_;
  // SAP-MMoE
  SapMmoe mmoe_;
  SapMmoeCache mmoe_cache_;
  Tensor de_;  // (B, De) SAP-MMoE's scenario gradient before it is added to de
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_LAYERS_MATCHING_TOWER_H_
