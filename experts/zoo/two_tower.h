// Two-tower matching (docs/models.md#two-tower-matching), moerec.TwoTowerConfig; with SAP
// towers and a SAP-MMoE user tower it is DSMOE's student.
//
// Input split by the data schema's slot sides: the user tower reads the user and context slots,
// the dense features and (MLP towers) the scenario embedding; the item tower reads the item
// slots. SAP and SAP-MMoE towers read the scenario embedding through their generators instead.
// The scenario embedding is model.domain_embedding_dim wide ("scenario_embedding.table").
//   u = tower_u(x_u), v = tower_v(x_v), both L2-normalised when l2_normalize; score <u, v> / tau.
//
// Training (TrainingLoss). Queries are the rows with label 1 (task 0). Candidates are the
// step's items: this worker's rows, or with gather_candidates every worker's rows in worker
// order (all-gathered; their gradients summed back over the workers).
//   IN_BATCH_SOFTMAX: z_qj = <u_q, v_j> / tau - log q_j (log_q_correction), softmax over the
//     candidates without the other copies of the query's own item (accidental hits), cross-
//     entropy on the query's own row.
//   SAMPLED_BCE: BCE(z_qq, 1) + sum of BCE(z_qj, 0) over num_negatives candidates j drawn
//     uniformly from the pool (so by item popularity), none with the query's item.
// The loss is the sum over queries divided by the number of queries of the global batch, so W
// workers with gathered candidates compute one process's loss on the global batch.
// q_j is the item's share of every candidate seen so far on all workers, counted in
// frequency_buckets hashed buckets ("freq.counts", with the total in "freq.total": buffers,
// so checkpoints carry them; float counts, exact up to 2^24 per bucket). A step counts its
// candidates before it uses q, so q_j > 0.
//
// Forward (evaluation, and pointwise scoring of labelled pairs): logit_i = <u_i, v_i> / tau.
// Parameters: "user_tower.*", "item_tower.*", "scenario_embedding.table". Contract of
// Forward/Backward, memory and threads: experts/model.h; TrainingLoss: MatchingModel.
#ifndef MOEREC_EXPERTS_ZOO_TWO_TOWER_H_
#define MOEREC_EXPERTS_ZOO_TWO_TOWER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "experts/layers/matching_tower.h"
#include "experts/model.h"

namespace moerec {

class TwoTowerModel : public Model, public MatchingModel {
 public:
  // InvalidArgument naming the field ("model.two_tower.user_tower.mlp.dims ...").
  static Status Validate(const ModelConfig& config, const ModelShape& shape);
  // `config` must have passed Validate.
  TwoTowerModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed,
                const ModelContext& context);

  void Forward(const ModelBatch& batch, MatView logits) override;
  void Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) override;
  bool Collective(bool training) const override;
  std::vector<std::pair<std::string, double>> Stats() const override;
  MatchingModel* matching() override { return this; }

  int64_t embedding_dim() const override { return user_.output_dim(); }
  int key_slot() const override { return key_slot_; }
  StatusOr<double> TrainingLoss(const ModelBatch& batch) override;
  void EncodeUsers(const ModelBatch& batch, MatView out) override;
  void EncodeItems(const ModelBatch& batch, MatView out) override;

 private:
  struct Block {
    int64_t column = 0;  // in the features
    int64_t width = 0;
  };

  // Gathers the tower inputs of the batch's rows and the scenario embedding.
  void GatherInputs(const ModelBatch& batch);
  // Runs a tower and its normalisation; returns the (B, d) embeddings (a view into out).
  ConstMatView RunUser(const ModelBatch& batch, bool training);
  ConstMatView RunItem(const ModelBatch& batch, bool training);
  // The candidate pool of a training step: the item embeddings and keys of every worker
  // (gathered) or of this one; sets offset_.
  Status GatherCandidates(ConstMatView v, const uint64_t* keys, int64_t rows);
  // Counts the pool's items (all workers' when several) and writes -log q_j into neg_log_q_.
  Status CountAndCorrect(const uint64_t* keys, int64_t rows);

  const TwoTowerConfig config_;
  Communicator* const workers_;
  int key_slot_ = -1;
  float inv_tau_ = 1.0f;
  std::vector<Block> user_blocks_, item_blocks_;  // dense columns are in user_blocks_
  int64_t user_width_ = 0, item_width_ = 0;       // tower inputs, before the scenario

  int scenario_dim_ = 0;                  // De
  Parameter* scenario_table_ = nullptr;   // (D, De), or null when De = 0
  MatchingTower user_, item_;
  Parameter* counts_ = nullptr;  // (frequency_buckets) buffer
  Parameter* total_ = nullptr;   // (1) buffer

  // The last forward.
  Tensor user_x_, item_x_;         // (B, Fu [+ De]), (B, Fi)
  Tensor e_, de_;                  // (B, De) the rows' scenario embeddings, their gradient
  Tensor u_raw_, v_raw_, u_, v_;   // (B, d) tower outputs and their normalisations
  std::vector<float> u_rnorm_, v_rnorm_;
  // The training step's loss state.
  bool loss_pending_ = false;
  Tensor pool_;                    // (C, d) candidate embeddings
  std::vector<uint64_t> pool_keys_;
  int64_t offset_ = 0;             // this worker's first row in the pool
  std::vector<float> neg_log_q_;   // (C)
  std::vector<int64_t> queries_;   // local rows with label 1
  Tensor du_, dv_, dpool_;         // (B, d), (B, d), (C, d)
  Tensor dz_, z_, uq_;             // (Q, C') logits and their gradients, (Q, d) query embeddings
  Tensor du_raw_, dv_raw_, dux_, dvx_;
  double last_candidates_ = 0, last_queries_ = 0, last_mean_log_q_ = 0;
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_ZOO_TWO_TOWER_H_
