// STAR (docs/models.md): the domain's input features go through partitioned normalisation
// (per-domain statistics, gamma_shared · gamma_d, beta_shared + beta_d), then star-topology
// layers y = act(x (W_shared ⊙ W_d) + b_shared + b_d), then the towers (Towers, indexed like
// every zoo model); the auxiliary network (an Mlp and a Linear(., T)) over the features and the
// domain embedding adds its logits: logit_t = main_t + aux_t, pre-sigmoid.
// The main path reads the features only; the domain embedding (ModelConfig.
// domain_embedding_dim) feeds the auxiliary network, as in the paper.
// Partitioned normalisation uses each worker's batch statistics, like batch norm without a
// cross-worker reduction: N workers in BSP match one process only with it switched off or in
// evaluation.
// Dimension legend: B rows, F features, De domain embedding width, H star output width.
// Parameters: "domain_embedding.table", "norm.*" (experts/layers/star.h), "star.*", "towers.*",
//   "aux.hidden.*", "aux.out.{w,b}".
// Contract of Forward/Backward, memory and threads: experts/model.h.
#ifndef MOEREC_EXPERTS_ZOO_STAR_H_
#define MOEREC_EXPERTS_ZOO_STAR_H_

#include <cstdint>

#include "core/status.h"
#include "experts/layers/domain_input.h"
#include "experts/layers/linear.h"
#include "experts/layers/mlp.h"
#include "experts/layers/star.h"
#include "experts/layers/towers.h"
#include "experts/model.h"

namespace moerec {

class StarModel : public Model {
 public:
  // InvalidArgument naming the field.
  static Status Validate(const ModelConfig& config, const ModelShape& shape);
  // `config` must have passed Validate.
  // With several workers the partitioned norm is synchronised over them (the global batch's
  // statistics), which makes training collective.
  StarModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed,
            const ModelContext& context = {});

  void Forward(const ModelBatch& batch, MatView logits) override;
  void Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) override;
  bool Collective(bool training) const override {
    return training && norm_ && partitioned_norm_.synchronised();
  }

 private:
  bool norm_ = true;
  bool aux_ = false;
  DomainInput input_;
  PartitionedNorm partitioned_norm_;
  StarMlp star_;
  Towers towers_;
  Mlp aux_hidden_;
  Linear aux_out_;

  PartitionedNormCache norm_cache_;
  StarCache star_cache_;
  MlpCache aux_cache_;
  ConstMatView x_;       // (B, F + De) input of the last Forward
  ConstMatView normed_;  // (B, F) input of the star layers
  ConstMatView h_;       // (B, H)
  ConstMatView aux_h_;   // (B, aux width)
  Tensor aux_logits_;    // (B, T)
  Tensor dh_;            // (B, H)
  Tensor dnormed_;       // (B, F)
  Tensor daux_h_;        // (B, aux width)
  Tensor dinput_;        // (B, F) the norm's input gradient, before it is added
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_ZOO_STAR_H_
