// Shared-Bottom (docs/models.md): y_t = tower_t(MLP(e)), logits pre-sigmoid.
//   e: the input (features + optional domain embedding, experts/layers/domain_input.h)
//   MLP: SharedBottomConfig.bottom;   towers: SharedBottomConfig.tower hidden layers + a final
//   Linear, indexed by SharedBottomConfig.tower_index (experts/layers/towers.h; the bottom's
//   output is one stream shared by all tasks).
// With model.mlora the bottom carries MoE-MLoRA's adapters (experts/zoo/mlora.h): the
// MoE-MLoRA study's MLP backbone.
// Parameters: "domain_embedding.table", "bottom.*", "towers.*", "mlora.*".
// Contract of Forward/Backward, memory and threads: experts/model.h.
#ifndef MOEREC_EXPERTS_ZOO_SHARED_BOTTOM_H_
#define MOEREC_EXPERTS_ZOO_SHARED_BOTTOM_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "core/status.h"
#include "experts/layers/domain_input.h"
#include "experts/layers/mlp.h"
#include "experts/layers/towers.h"
#include "experts/model.h"
#include "experts/zoo/mlora.h"

namespace moerec {

class SharedBottomModel : public Model {
 public:
  // InvalidArgument naming the field ("model.shared_bottom.bottom.dims ...").
  static Status Validate(const ModelConfig& config, const ModelShape& shape);
  // `config` must have passed Validate.
  SharedBottomModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed);

  void Forward(const ModelBatch& batch, MatView logits) override;
  void Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) override;
  std::vector<ModelPhase> Phases() const override;
  void EnterPhase(int phase) override;
  // MoE-MLoRA's gate load (Mlora::Stats), with model.mlora.
  std::vector<std::pair<std::string, double>> Stats() const override;

 private:
  DomainInput input_;
  Mlp bottom_;
  std::unique_ptr<Mlora> mlora_;  // with model.mlora: adapters on bottom_
  Towers towers_;
  MlpCache bottom_cache_;
  ConstMatView x_;  // input of the last Forward
  ConstMatView h_;  // bottom output of the last Forward
  Tensor dh_;       // (B, H)
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_ZOO_SHARED_BOTTOM_H_
