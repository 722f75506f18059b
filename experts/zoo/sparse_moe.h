// Sparse-expert models (docs/models.md): one model class for the three routings over an
// expert layer that may be spread over the workers.
//   DENSE (MMoE with a placement): every sample to every expert, task t's gate softmax(W_t x).
//   TOPK  (TopkMoeConfig): one router p = softmax(W h [+ noise]), each sample to its top-k
//         experts, capacity ceil(cf * B * k / E) per expert (B the worker's batch), gate weights
//         renormalised over the top-k (optional), the balance loss coef * E * sum_e f_e p_e
//         (f_e = share of the B*k selections, p_e = mean probability) and the z-loss
//         coef_z * mean(logsumexp(W h)^2).
//   SMES  (SmesConfig): per-task routers p_t = softmax(W_t h); S = TopK_s(sum_t w_t p_t);
//         A_t = TopK_a of p_t over the rest; K_t = S + A_t; each expert of the union runs once
//         per sample; o_t = sum_{e in K_t} p_t,e / (sum_{K_t} p_t) f_e(h); the global load
//         balance beta * (E / K) * sum_e f_e p_e.
// The balance statistics (selection counts, probability mass, rows) are summed over all
// workers every training step (one all-reduce of 2E + 2 doubles) before the loss is formed;
// the gradient goes through p only (docs/models.md#smes derives it).
//
// Layout: x = [features | domain embedding]; h = encoder(x) (or x); the routers are one GEMM
// (H, S*E); the experts an ExpertBank of this worker's experts behind an ExpertDispatch; the
// mixtures (B, S*O) feed Towers (one stream for TOPK, T otherwise).
// Parameters: "domain_embedding.table", "encoder.*", "router.w", "experts.<e>.<l>.{w,b}"
// (expert_local when the placement is not REPLICATED), "towers.*".
// Stats(): expert_load.<e> (share of the selections, all workers), expert_load_cv,
// expert_load_max_mean, active_experts_mean / _max (|union| per sample), tokens_dropped
// (TOPK), expert_share.<t>.<e> (SMES: task t's selections per expert), and per (domain, task)
// of this worker's last batch the mean router probability, "expert_load/<d>/<t>.<e>" (task t
// reads router t, or the one router of TOPK).
#ifndef MOEREC_EXPERTS_ZOO_SPARSE_MOE_H_
#define MOEREC_EXPERTS_ZOO_SPARSE_MOE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "experts/layers/domain_input.h"
#include "experts/layers/expert_bank.h"
#include "experts/layers/mlp.h"
#include "experts/layers/towers.h"
#include "experts/model.h"
#include "experts/parallel/expert_dispatch.h"

namespace moerec {

class SparseMoeModel : public Model {
 public:
  enum class Routing { DENSE, TOPK, SMES };

  // InvalidArgument naming the field; config.kind is mmoe (with a placement), topk_moe or smes.
  static Status Validate(const ModelConfig& config, const ModelShape& shape);
  SparseMoeModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed,
                 const ModelContext& context);

  void Forward(const ModelBatch& batch, MatView logits) override;
  void Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) override;
  double AuxLoss() const override { return aux_loss_; }
  std::vector<std::pair<std::string, double>> Stats() const override;
  bool Collective(bool training) const override;

  const ExpertDispatch& dispatch() const { return *dispatch_; }
  // Wall seconds since ClearCounters() in the router and selection (forward and backward,
  // the balance statistics' all-reduce included) and in the local experts' grouped GEMMs;
  // dispatch() has the seconds of the moves.
  double route_seconds() const { return route_seconds_; }
  double expert_seconds() const { return expert_seconds_; }
  void ClearCounters() {
    route_seconds_ = expert_seconds_ = 0.0;
    dispatch_->ClearCounters();
  }

 private:
  // Fills weights_ (B, S*E), chosen_ and active_ from probs_; counts the statistics.
  void Route(int64_t rows);
  void CapacityDrop(int64_t rows);
  void GlobalStatistics(int64_t rows, bool training);
  // The device combine (mix_ = sum_e weights_ * y_ through spread_) and its backward (dy_,
  // dweights_ from dmix_).
  void SpreadForward(int64_t rows);
  void SpreadBackward(int64_t rows);

  Routing routing_;
  int num_experts_ = 0;
  int streams_ = 1;
  int k_ = 1;          // experts chosen per (row, stream): top_k or K_s + K_a
  int shared_k_ = 0;   // SMES K_s
  int private_k_ = 0;  // SMES K_a
  bool normalize_ = true;
  float capacity_factor_ = 0.0f;
  bool drop_by_probability_ = false;
  float balance_weight_ = 0.0f;
  float z_loss_weight_ = 0.0f;
  float router_noise_ = 0.0f;
  std::vector<float> task_weights_;

  std::unique_ptr<Communicator> own_comm_;  // SelfCommunicator without workers
  Communicator* workers_ = nullptr;
  DomainInput input_;
  bool has_encoder_ = false;
  Mlp encoder_;
  MlpCache encoder_cache_;
  Parameter* router_ = nullptr;  // (H, S*E)
  ExpertBank bank_;
  std::unique_ptr<ExpertDispatch> dispatch_;
  Towers towers_;

  // Activations of the last Forward.
  std::vector<int64_t> domain_begin_;  // (D + 1), for Stats
  ConstMatView x_, h_;
  Tensor logits_r_, probs_;  // (B, S*E) router logits (with noise) and probabilities
  Tensor weights_;           // (B, S*E) gate weight of expert e for stream s, 0 if unused
  // The routing (selection, capacity, statistics, the gate weights' backward) runs on the host;
  // on a GPU worker these host copies carry the router's (B, S*E) arrays there and back.
  const float* probs_host_ = nullptr;   // probs_, or probs_staging_ on a device
  const float* logits_host_ = nullptr;  // logits_r_, or logits_staging_ (z-loss only)
  Tensor probs_staging_ = Tensor({0}, nullptr);
  Tensor logits_staging_ = Tensor({0}, nullptr);
  Tensor weights_staging_ = Tensor({0}, nullptr);
  Tensor dweights_staging_ = Tensor({0}, nullptr);
  Tensor dprobs_staging_ = Tensor({0}, nullptr);
  // Device combine: y's rows spread to (B, E*O), block e = expert e's output for the row (zero
  // where it does not run), by an embedding-bag gather over slot_index_ (device: the (B*E + 1)
  // uint32 offsets, then the int32 assignment indices); then the gated mix of the soft MoEs.
  Tensor slot_index_, spread_, dspread_;
  std::vector<uint8_t> chosen_;  // (B, S*E) e in K_s (before capacity)
  std::vector<uint8_t> active_;  // (B, E) e runs for the row (union, after capacity)
  std::vector<float> norm_;      // (B, S) sum of p over K_s (renormalisation)
  std::vector<int> choices_;     // (B, k) TOPK: each row's experts, most probable first
  std::vector<double> lse_;      // (B, S) log-sum-exp of the router logits (z-loss only)
  std::vector<int32_t> slot_;    // (B, E) assignment index or -1
  std::vector<int64_t> expert_begin_;
  std::vector<int32_t> rows_;
  Tensor local_in_, local_out_copy_, y_, mix_;
  ConstMatView local_out_;
  // Backward buffers.
  Tensor dmix_, dy_, dlocal_out_, dlocal_in_, dweights_, dprobs_, dh_;
  // Global statistics of the last training Forward: counts c_e, mass P_e, rows N, z-sum.
  std::vector<double> stats_;
  double aux_loss_ = 0.0;
  double route_seconds_ = 0.0;
  double expert_seconds_ = 0.0;
  int64_t dropped_ = 0;
  std::vector<double> task_share_;  // (S*E) selections per (stream, expert), local
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_ZOO_SPARSE_MOE_H_
