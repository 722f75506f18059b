// The eight CTR backbones of the MoE-MLoRA study (docs/models.md#ctr-backbones), one model with
// the backbone chosen by CtrConfig.backbone. x is the model input e = [slot embeddings | dense
// features | domain embedding] (DomainInput: the domain embedding, ModelConfig.
// domain_embedding_dim, joins x wherever x is read: the DNN, the linear part, the cross
// network), v = the slot embeddings as S fields of width k (x's first S*k columns), r = x's
// remaining columns (dense features, domain embedding). "heads" are the towers (Towers,
// tower_index as in every zoo model) on the backbone's concatenation; logits are pre-sigmoid:
//   WIDE_DEEP  Linear(x) + heads(DNN(x))
//   DEEPFM     Linear(x) + FM(v) + heads(DNN(x)), FM(v) = row sum of BiInteraction(v), added to
//              every task's logit
//   DCN        heads([CrossNet(x) | DNN(x)])        (cross_matrix: DCN-v2's matrix layers)
//   NFM        Linear(x) + heads(DNN([BiInteraction(v) | r]))
//   PNN        heads(DNN([x | products(v)]))      (inner, kernel, or both)
//   XDEEPFM    Linear(x) + heads([SumPool(CIN(v)) | DNN(x)])
//   AUTOINT    heads([flatten(interacting layers(v)) | DNN(x)])
//   FIBINET    Linear(x) + heads(DNN([Bilinear(v) | Bilinear'(SENET(v)) | r]))
// Linear(x) is one bias-free Linear(I, T) ("wide.w" for WIDE_DEEP, "linear.w" otherwise; the
// heads' final Linear holds the bias): the first-order term of the papers, over the pooled
// embeddings and dense features, since the model sees no raw one-hot ids.
// Choices where the papers leave them open, or where this model departs from one:
// - FiBiNET keeps its paper's (and DeepCTR's) linear part, which the sketch left out;
//   its two bilinear layers (on v and on SENET(v)) have their own weights, as in DeepCTR.
// - xDeepFM's CIN is the paper's equations: every feature map feeds the next layer and the
//   sum pool (no split-half), no bias, no activation.
// - AutoInt is AutoInt+ (the interacting layers beside a DNN, as DeepCTR builds it), attention
//   unscaled as in the paper; dense features are not fields (they reach the DNN through x).
// - PNN's outer product is the kernel form (a (k, k) matrix per pair, as PNN's journal version
//   and DeepCTR's 'mat' kernel), not the superposition of the first paper; the DNN reads the
//   products beside x (DeepCTR's linear signal), without PNN's separate l_z projection.
// - DCN-v2 uses the parallel structure (cross network beside the DNN, as DCN), full rank.
// - The domain embedding is not a field (its width differs from k): it reaches the field-wise
//   backbones through x or r only.
// Field-wise backbones (all but WIDE_DEEP and DCN) need ModelShape's slot layout, at least two
// slots, every slot at the same dim.
// Parameters: "domain_embedding.table", "wide.w" / "linear.w" (I, T), "dnn.*" (the one Mlp of
// CtrConfig.dnn, experts/layers/mlp.h), "towers.*", and by backbone "cross.<l>.{w,b}"
// (experts/layers/cross_net.h), "product.kernel", "cin.<l>.w", "attention.<l>.{q,k,v,res}",
// "senet.{w1,w2}", "bilinear.w", "senet_bilinear.w" (experts/layers/field_layers.h).
// Contract of Forward/Backward, memory and threads: experts/model.h.
#ifndef MOEREC_EXPERTS_ZOO_CTR_H_
#define MOEREC_EXPERTS_ZOO_CTR_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "core/bilinear.h"
#include "core/status.h"
#include "experts/layers/cross_net.h"
#include "experts/layers/domain_input.h"
#include "experts/layers/field_layers.h"
#include "experts/layers/linear.h"
#include "experts/layers/mlp.h"
#include "experts/layers/towers.h"
#include "experts/model.h"
#include "experts/zoo/mlora.h"

namespace moerec {

class CtrModel : public Model {
 public:
  // How a backbone wires its parts, worked out from the config alone (the model and
  // EstimateModelSize share it).
  struct Layout {
    int num_fields = 0;     // S (0 for WIDE_DEEP and DCN)
    int64_t field_dim = 0;  // k
    int64_t input = 0;      // I = F + De, the width of x
    // Width of the backbone's own part: the whole DNN input when that is a concatenation
    // (NFM, PNN, FIBINET; interaction_in_dnn), else the block before the DNN's output in the
    // heads' input (DCN, XDEEPFM, AUTOINT); 0 for none (WIDE_DEEP, DEEPFM).
    int64_t interaction = 0;
    bool interaction_in_dnn = false;
    int64_t dnn_input = 0;
    int64_t head_input = 0;
    bool linear = false;  // a Linear(I, T) part
    // Of the interaction part (the linear part included): parameter values, and floats per
    // sample of its buffers and those of the concatenations.
    int64_t parameters = 0;
    int64_t activations_per_sample = 0;
  };
  // `config` must be valid; dnn_output: the width of the DNN's last layer.
  static Layout LayoutFor(const ModelConfig& config, const ModelShape& shape, int64_t dnn_output);

  // InvalidArgument naming the field.
  static Status Validate(const ModelConfig& config, const ModelShape& shape);
  // `config` must have passed Validate.
  CtrModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed);

  void Forward(const ModelBatch& batch, MatView logits) override;
  void Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) override;
  std::vector<ModelPhase> Phases() const override;
  void EnterPhase(int phase) override;
  // MoE-MLoRA's gate load (Mlora::Stats), with model.mlora.
  std::vector<std::pair<std::string, double>> Stats() const override;

 private:
  // XDEEPFM's feature maps per CIN layer (the default for an empty cin_layers).
  static std::vector<int> CinMaps(const CtrConfig& c);
  static BilinearType ToBilinearType(CtrConfig::BilinearType type);
  // FIBINET's SENET bottleneck width S_r = max(1, S / senet_reduction).
  static int SenetBottleneck(const CtrConfig& c, int num_fields);

  // The DNN's input from x_ (its own buffer, or x_ itself), and the way back: the input
  // gradient ddnn_in_ into dx.
  ConstMatView DnnInputForward(int64_t rows);
  void DnnInputBackward(MatView dx);
  // The heads' input from the DNN's output (its own buffer, or dnn_out_ itself), and the way
  // back from dhead_in_ into dx.
  ConstMatView HeadInputForward(int64_t rows);
  void HeadInputBackward(MatView dx);
  // A (k, T) matrix of ones (kept; remade when k or T changes).
  ConstMatView Ones(int64_t k);

  CtrConfig::Backbone backbone_ = CtrConfig::WIDE_DEEP;
  Layout layout_;
  DomainInput input_;
  Linear linear_;
  Mlp dnn_;
  std::unique_ptr<Mlora> mlora_;  // with model.mlora: MoE-MLoRA's adapters on dnn_
  Towers towers_;
  CrossNet cross_;
  FieldProducts products_;
  CinNet cin_;
  FieldAttentionStack attention_;
  Senet senet_;
  FieldBilinear bilinear_;
  FieldBilinear senet_bilinear_;

  MlpCache dnn_cache_;
  ConstMatView x_;        // (B, I) input of the last Forward
  ConstMatView dnn_in_;   // (B, dnn input): x_ or dnn_buf_
  ConstMatView dnn_out_;  // (B, H)
  ConstMatView head_in_;  // (B, head input): dnn_out_ or head_buf_
  ConstMatView senet_v_;  // (B, S*k) SENET's output (FIBINET)
  Tensor dnn_buf_;        // (B, dnn input) when it is a concatenation
  Tensor head_buf_;       // (B, head input) when it is a concatenation
  Tensor linear_out_;     // (B, T)
  Tensor fm_;             // (B, k) BiInteraction(v) of DEEPFM, then its gradient
  Tensor ones_;           // (k, T) ones: DEEPFM's row sums as GEMMs (Ones())
  Tensor dx_buf_;         // (B, I) the input gradient when the caller needs none
  Tensor ddnn_in_;        // (B, dnn input)
  Tensor dhead_in_;       // (B, head input)
  Tensor dsenet_v_;       // (B, S*k)
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_ZOO_CTR_H_
