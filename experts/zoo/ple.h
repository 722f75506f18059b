// PLE and CGC (docs/models.md): L extraction levels. Level l has, per group g, K specific
// experts, and K_s shared experts (Mlp banks, PleConfig.expert). Stream s's gate is a softmax
// over its group's K experts followed by the K_s shared ones, from stream s's output of the
// previous level (the input at level 0); its mixture is stream s's output. Non-final levels
// also have a shared gate over every expert computed on the row, from the shared output of the
// previous level; its mixture is the input of the next level's shared experts. Towers read the
// last level's streams. CGC is one level. Logits are pre-sigmoid.
//
// Groups and streams by gate_index:
//   BY_TASK         G = T groups (task t's experts), S = T streams, gate of task t.
//   BY_DOMAIN_TASK  G = T groups, S = T streams, gate of (d(i), t) on the rows of domain d.
//   BY_DOMAIN       G = D groups, S = 1 stream: domain d's experts and gate run on domain d's
//                   rows only (they are the domain's), every task reads the one stream.
// The shared gate of a level is one head (BY_TASK) or one per domain (otherwise).
// Dimension legend: B rows, I input width, H expert output width, K / K_s specific / shared
// experts per group, S streams, E_all experts of a row (G*K + K_s; K + K_s with BY_DOMAIN).
//   level input: S streams (B, W) and the shared input (B, W); W = I at level 0, else H.
//   cat_s (B, (K + K_s)*H): the experts stream s mixes, [own group | shared].
// Parameters: "domain_embedding.table", "levels.<l>.experts.<g>.*", "levels.<l>.shared.*",
//   "levels.<l>.gates.<s>.w", "levels.<l>.shared_gate.w", "towers.*".
// Stats(): expert load of the last level's stream gates, like MMoE's ("expert_load.<n>": own
// experts first, then the shared ones), its CV and max / mean, and per (domain, task)
// ("expert_load/<d>/<t>.<n>", experts numbered the same way).
// Contract of Forward/Backward, memory and threads: experts/model.h.
#ifndef MOEREC_EXPERTS_ZOO_PLE_H_
#define MOEREC_EXPERTS_ZOO_PLE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "experts/layers/domain_input.h"
#include "experts/layers/gate.h"
#include "experts/layers/heads.h"
#include "experts/layers/mlp.h"
#include "experts/layers/towers.h"
#include "experts/model.h"

namespace moerec {

class PleModel : public Model {
 public:
  // InvalidArgument naming the field ("model.ple.num_levels must be ...").
  static Status Validate(const ModelConfig& config, const ModelShape& shape);
  // `config` must have passed Validate.
  PleModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed);

  void Forward(const ModelBatch& batch, MatView logits) override;
  void Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) override;
  std::vector<std::pair<std::string, double>> Stats() const override;

 private:
  struct Level {
    std::vector<Mlp> specific;  // (G) banks of K experts
    Mlp shared;                 // K_s experts; no copies when K_s = 0
    std::vector<SoftmaxGates> gates;
    SoftmaxGates shared_gate;  // non-final levels only
    bool has_shared_gate = false;

    std::vector<MlpCache> specific_cache;
    MlpCache shared_cache;
    std::vector<ConstMatView> specific_out;  // (G) (rows of g, K*H)
    ConstMatView shared_out;                 // (B, K_s*H)
    std::vector<Tensor> cat;                 // (S) (B, (K + K_s)*H)
    Tensor cat_all;                          // (B, E_all*H), non-final levels with G > 1
    std::vector<GateCache> gate_cache;
    GateCache shared_gate_cache;
    std::vector<ConstMatView> probs;  // (S) (B, K + K_s)
    ConstMatView shared_probs;        // (B, E_all)
    Tensor out;                       // (B, S*H) the streams
    Tensor shared_mix;                // (B, H) non-final levels

    Tensor dout;                    // (B, S*H)
    Tensor dshared_mix;             // (B, H)
    Tensor dcat;                    // (B, (K + K_s)*H), one stream at a time
    Tensor dcat_all;                // (B, E_all*H)
    Tensor dprobs;                  // (B, max(K + K_s, E_all))
    std::vector<Tensor> dspecific;  // (G) (rows of g, K*H)
    Tensor dshared;                 // (B, K_s*H)
  };

  // The rows of group g (its domain's with per-domain groups, else all) and its stream.
  RowRange GroupRows(const std::vector<int64_t>& domain_begin, int g) const;
  int GroupStream(int g) const { return per_domain_groups_ ? 0 : g; }
  // The expert outputs the shared gate of `level` mixes: cat[0] when every row has one group.
  ConstMatView AllExperts(const Level& level) const;

  int num_levels_ = 0;
  int per_group_ = 0;                  // K
  int shared_ = 0;                     // K_s
  int groups_ = 0;                     // G
  int streams_ = 0;                    // S
  std::vector<int64_t> domain_begin_;  // (D + 1) of the last Forward, for Stats
  bool per_domain_groups_ = false;
  int64_t width_ = 0;  // H
  DomainInput input_;
  std::vector<Level> levels_;
  Towers towers_;
  ConstMatView x_;  // (B, I) input of the last Forward
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_ZOO_PLE_H_
