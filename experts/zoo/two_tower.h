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
//     from the pool (DrawLists: by item popularity, none with the query's item).
// The loss is the sum over queries divided by the number of queries of the global batch, so W
// workers with gathered candidates compute one process's loss on the global batch.
// q_j is the item's share of every candidate seen so far on all workers, counted in
// frequency_buckets hashed buckets ("freq.counts", with the total in "freq.total": buffers,
// so checkpoints carry them; float counts, exact up to 2^24 per bucket). A step counts its
// candidates before it uses q, so q_j > 0.
//
// Distillation (two_tower.distill, docs/models.md#dsmoe; the code in two_tower_distill.cc). The
// teacher is a ranking model of the zoo over the teacher's views of every data slot (its own
// tables, ModelShape::num_teacher_slots) and the dense features, one task. Each query q gets a
// list of candidates: its own item, then, in-batch softmax, list_size - 1 drawn uniformly from
// the pool (none with the query's item) or, sampled BCE, the loss's own negatives. The teacher
// scores every (q, candidate) pair: the query's user-side columns beside the candidate's
// item-side columns (gathered with the candidates). With s_qm = <u_q, v_m> / tau:
//   listwise   L_kd = (1/Q) sum_q KL(softmax(t_q / tau_kd) || softmax(s_q / tau_kd))
//   pointwise  L_kd = (1/Q) sum_{q,m} KL(Bernoulli(sigma(t_qm / tau_kd)) || Bernoulli(sigma(s_qm /
//   tau_kd)))
// and the loss is L_task + weight * L_kd; the teacher gets no gradient from it. ONLINE: the
// teacher trains at the same step on its pairs, label 1 for the own item and 0 for the others,
// (1/Q) sum of BCE, which is added to the loss. The teacher's parameters are "teacher.*".
// OFFLINE: the teacher was trained by its own job; its "teacher.*" parameters are fixed (the
// worker loads them, worker/teacher.h) and it runs in evaluation mode. TEACHER_RANKS (OFFLINE
// only): the model holds no teacher; ModelContext::teacher scores the pairs' input rows
// elsewhere, started before the task loss is computed and finished after it.
// Forward (evaluation, and pointwise scoring of labelled pairs): logit_i = <u_i, v_i> / tau.
// Parameters: "user_tower.*", "item_tower.*", "scenario_embedding.table". Contract of
// Forward/Backward, memory and threads: experts/model.h; TrainingLoss: MatchingModel.
#ifndef MOEREC_EXPERTS_ZOO_TWO_TOWER_H_
#define MOEREC_EXPERTS_ZOO_TWO_TOWER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "experts/layers/matching_tower.h"
#include "experts/model.h"

namespace moerec {

// The distillation teacher's parameters are the student's "teacher.*".
inline constexpr char kTeacherPrefix[] = "teacher.";

// The shape of a distillation teacher of a two-tower model of `shape`: the teacher's views of
// the slots (ModelShape::num_teacher_slots), the dense features, one task. A teacher trained by
// its own job on the same data has this shape.
ModelShape DistillTeacherShape(const ModelShape& shape);

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
  // Per query, its own pool row and per - 1 other rows of the pool without the query's item
  // (-1 where the pool has too few): (Q, per). The others are consecutive in an order of the
  // pool by a hash of (step seed, item), from a start the query's item picks: a uniform draw
  // over the pool's rows (so by item popularity) that does not depend on how the step's batch
  // is split over the workers.
  std::vector<int64_t> DrawLists(uint64_t seed, int64_t per) const;
  // out (Q, per): <uq_q, pool_j> / tau for the lists' rows j (0 at -1 entries).
  void ListScores(ConstMatView uq, ConstMatView pool, const std::vector<int64_t>& cand, int64_t per,
                  float* out) const;
  // The gradients of those scores given dscores (Q, per): du (rows of the queries) and dpool
  // accumulate.
  void ListBackward(ConstMatView uq, ConstMatView pool, const std::vector<int64_t>& cand,
                    int64_t per, const float* dscores, MatView du, MatView dpool) const;
  // The student's (B, d) embeddings after normalisation (l2_normalize), from a tower output.
  ConstMatView Normalize(ConstMatView y, Tensor* raw, Tensor* out, Tensor* rnorm);
  // Distillation of one training step (two_tower_distill.cc), in two parts. StartTeacher: the
  // teacher's input rows of the lists (cand, lists of `per` pool indices per query, -1 =
  // none), handed to the remote teacher when there is one (it scores them meanwhile).
  // Distill: the teacher's pair scores (the remote's, or the teacher's forward here), the KD
  // loss and its gradients into du and the pool's gradient, the online teacher's own loss and
  // backward. Returns weight * L_kd + the teacher's loss.
  Status StartTeacher(const ModelBatch& batch, const std::vector<int64_t>& cand, int64_t per);
  StatusOr<double> Distill(const ModelBatch& batch, const std::vector<int64_t>& cand, int64_t per,
                           float inv_queries, MatView du, MatView dpool);
  static Status ValidateDistill(const ModelConfig& config, const ModelShape& shape);

  const TwoTowerConfig config_;
  Communicator* const workers_;
  int key_slot_ = -1;
  float inv_tau_ = 1.0f;
  std::vector<Block> user_blocks_, item_blocks_;  // dense columns are in user_blocks_
  int64_t user_width_ = 0, item_width_ = 0;       // tower inputs, before the scenario
  // Distillation: the teacher (here, or remote_ on teacher ranks), and its input's blocks by
  // side (dense in the user side). The teacher's input row is its slots in data order, then
  // dense; `teacher_layout_` says for each teacher block whether it is item-side and where it
  // sits in its side's packing.
  bool distill_ = false;
  ModelShape teacher_shape_;
  std::unique_ptr<Model> teacher_;
  TeacherScorer* remote_ = nullptr;
  bool teacher_pending_ = false;  // a remote request of this step is out
  struct TeacherBlock {
    Block features;  // in the model's features
    bool item = false;
    int64_t packed = 0;  // column in the side's packing
  };
  std::vector<TeacherBlock> teacher_layout_;
  int64_t teacher_user_width_ = 0, teacher_item_width_ = 0;
  Tensor teacher_x_, teacher_dx_, teacher_logits_, teacher_dlogits_;
  Tensor teacher_user_grad_;    // (B, teacher_user_width_)
  bool teacher_grads_ = false;  // the last TrainingLoss back-propagated an online teacher
  ModelBatch teacher_batch_;
  std::vector<int32_t> teacher_domain_;
  double last_kd_ = 0, last_teacher_ = 0, last_task_ = 0;

  int scenario_dim_ = 0;                 // De
  Parameter* scenario_table_ = nullptr;  // (D, De), or null when De = 0
  MatchingTower user_, item_;
  Parameter* counts_ = nullptr;  // (frequency_buckets) buffer
  Parameter* total_ = nullptr;   // (1) buffer

  // The last forward.
  Tensor user_x_, item_x_;        // (B, Fu [+ De]), (B, Fi)
  Tensor e_, de_;                 // (B, De) the rows' scenario embeddings, their gradient
  Tensor u_raw_, v_raw_, u_, v_;  // (B, d) tower outputs and their normalisations
  Tensor u_rnorm_, v_rnorm_;      // (B) 1 / max(norm, eps) of u_raw_, v_raw_ rows
  // The training step's loss state.
  bool loss_pending_ = false;
  Tensor pool_;  // (C, d + teacher item width) candidates: v, teacher columns
  std::vector<uint64_t> pool_keys_;
  int64_t offset_ = 0;            // this worker's first row in the pool
  std::vector<float> neg_log_q_;  // (C)
  std::vector<int64_t> queries_;  // local rows with label 1
  Tensor du_, dv_, dpool_;        // (B, d), (B, d), (C, d + teacher item width)
  Tensor payload_;                // (B, d + teacher item width) this worker's candidates
  Tensor dz_, z_, uq_;            // (Q, C') logits and their gradients, (Q, d) query embeddings
  Tensor du_raw_, dv_raw_, dux_, dvx_;
  double last_candidates_ = 0, last_queries_ = 0, last_mean_log_q_ = 0;
};

}  // namespace moerec

#endif  // MOEREC_EXPERTS_ZOO_TWO_TOWER_H_
