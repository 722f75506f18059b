// TwoTowerModel's distillation from a ranking teacher (the contract is in two_tower.h).
#include <glog/logging.h>

#include <algorithm>
#include <cstring>

#include "core/linear.h"
#include "core/loss.h"
#include "experts/layers/heads.h"
#include "experts/zoo/two_tower.h"
#include "experts/zoo/validate.h"

namespace moerec {

ModelShape DistillTeacherShape(const ModelShape& shape) {
  ModelShape t;
  t.num_domains = shape.num_domains;
  t.num_tasks = 1;
  t.num_dense = shape.num_dense;
  const int first = shape.num_slots() - shape.num_teacher_slots;
  for (int s = first; s < shape.num_slots(); ++s) {
    t.slot_dims.push_back(shape.slot_dims[s]);
    t.slot_names.push_back(shape.slot_names[s]);
    t.slot_sides.push_back(shape.slot_sides[s]);
  }
  int64_t width = shape.num_dense;
  for (const int d : t.slot_dims) width += d;
  t.num_features = static_cast<int>(width);
  return t;
}

Status TwoTowerModel::ValidateDistill(const ModelConfig& config, const ModelShape& shape) {
  const DistillConfig& d = config.two_tower().distill();
  const std::string f = "model.two_tower.distill";
  if (shape.num_teacher_slots != shape.num_slots() / 2 || shape.num_teacher_slots == 0) {
    return InvalidArgument(f +
                           ": the model's input has no teacher view of the slots (build "
                           "the shape with ModelShapeFromConfig of a loaded job config)");
  }
  if (d.teacher().kind_case() == ModelConfig::kTwoTower) {
    return InvalidArgument(f +
                           ".teacher: the teacher is a ranking model of the zoo, which sees "
                           "user and item together; not a two_tower");
  }
  const bool placed =
      (d.teacher().has_mmoe() && d.teacher().mmoe().has_placement() &&
       d.teacher().mmoe().placement().kind() != ExpertPlacementConfig::REPLICATED) ||
      (d.teacher().has_smes() &&
       d.teacher().smes().placement().kind() != ExpertPlacementConfig::REPLICATED) ||
      (d.teacher().has_topk_moe() &&
       d.teacher().topk_moe().placement().kind() != ExpertPlacementConfig::REPLICATED);
  if (placed) {
    return InvalidArgument(f +
                           ".teacher: its experts must be replicated (no placement): the "
                           "teacher scores each worker's pairs on its own");
  }
  if (d.teacher().has_mlora() && d.teacher().mlora().mode() == MloraConfig::MOE_MLORA) {
    return InvalidArgument(f +
                           ".teacher: a model trained in phases (MoE-MLoRA) cannot be "
                           "co-trained as a teacher");
  }
  if (Status s = ValidateModelConfig(d.teacher(), DistillTeacherShape(shape)); !s.ok()) {
    return InvalidArgument(f + ".teacher: " + std::string(s.message()));
  }
  if (d.mode() == DistillConfig::OFFLINE && d.teacher_run_dir().empty()) {
    return InvalidArgument(f +
                           ".teacher_run_dir: OFFLINE loads the teacher from the run folder of "
                           "its own job (moerec train with the teacher's config); name it");
  }
  if (d.mode() == DistillConfig::ONLINE && !d.teacher_run_dir().empty()) {
    return InvalidArgument(f +
                           ".teacher_run_dir: an ONLINE teacher is trained with the student "
                           "from scratch; set mode: OFFLINE to load it from that run");
  }
  if (d.placement() == DistillConfig::TEACHER_RANKS && d.mode() != DistillConfig::OFFLINE) {
    return InvalidArgument(f +
                           ".placement: TEACHER_RANKS serve a frozen teacher (mode: OFFLINE); "
                           "a co-trained (ONLINE) teacher runs on the workers (ON_WORKERS)");
  }
  if (!(d.weight() >= 0.0f)) return InvalidArgument(f + ".weight must be >= 0");
  if (!(d.temperature() > 0.0f)) return InvalidArgument(f + ".temperature must be > 0");
  RETURN_IF_ERROR(ValidateRange(d.list_size(), 2, 4096, f + ".list_size"));
  if (d.table_prefix().empty()) {
    return InvalidArgument(f +
                           ".table_prefix must not be empty (the teacher's tables need "
                           "names of their own)");
  }
  return Status::OK();
}

Status TwoTowerModel::StartTeacher(const ModelBatch& batch, const std::vector<int64_t>& cand,
                                   int64_t per) {
  if (teacher_ == nullptr && remote_ == nullptr) {
    return FailedPrecondition(
        "model.two_tower.distill.placement TEACHER_RANKS: this model was built without teacher "
        "ranks to score its lists");
  }
  const int64_t q = static_cast<int64_t>(queries_.size());
  const int64_t pairs = q * per;
  const bool online = config_.distill().mode() == DistillConfig::ONLINE;
  const int64_t d = embedding_dim();
  const ModelShape& ts = teacher_shape_;
  // The pairs' teacher input: the query's user-side columns, the candidate's item-side ones.
  // A list entry without a candidate (-1) repeats the query's own item and is masked below.
  const MatView x = RowBuffer(&teacher_x_, pairs, ts.num_features);
  const ConstMatView pool =
      ConstMatView(pool_.view()).Rows(0, static_cast<int64_t>(pool_keys_.size()));
  teacher_domain_.resize(pairs);
  for (int64_t k = 0; k < pairs; ++k) {
    const int64_t row = queries_[k / per];
    const int64_t j = cand[k] >= 0 ? cand[k] : cand[(k / per) * per];
    teacher_domain_[k] = batch.domain[row];
    int64_t column = 0;
    for (const TeacherBlock& t : teacher_layout_) {
      const float* src =
          t.item ? pool.row(j) + d + t.packed : batch.features.row(row) + t.features.column;
      std::memcpy(x.row(k) + column, src, t.features.width * sizeof(float));
      column += t.features.width;
    }
  }
  teacher_batch_.size = pairs;
  teacher_batch_.features = x;
  teacher_batch_.domain = teacher_domain_.data();
  teacher_batch_.domain_begin.assign(shape_.num_domains + 1, 0);
  for (int64_t k = 0; k < pairs; ++k) ++teacher_batch_.domain_begin[teacher_domain_[k] + 1];
  for (int dom = 0; dom < shape_.num_domains; ++dom) {
    teacher_batch_.domain_begin[dom + 1] += teacher_batch_.domain_begin[dom];
  }
  teacher_batch_.training = online;
  teacher_batch_.seed = batch.seed ^ 0x7eac4e55ULL;
  teacher_pending_ = remote_ != nullptr && pairs > 0;
  if (teacher_pending_) return remote_->Start(x, teacher_domain_.data());
  return Status::OK();
}

StatusOr<double> TwoTowerModel::Distill(const ModelBatch& batch, const std::vector<int64_t>& cand,
                                        int64_t per, float inv_queries, MatView du, MatView dpool) {
  const int64_t q = static_cast<int64_t>(queries_.size());
  const int64_t pairs = q * per;
  last_kd_ = last_teacher_ = 0.0;
  const bool online = config_.distill().mode() == DistillConfig::ONLINE;
  const int64_t d = embedding_dim();
  const ModelShape& ts = teacher_shape_;
  const ConstMatView pool =
      ConstMatView(pool_.view()).Rows(0, static_cast<int64_t>(pool_keys_.size()));
  const MatView t = RowBuffer(&teacher_logits_, pairs, 1);
  if (pairs == 0) return 0.0;
  if (teacher_pending_) {
    teacher_pending_ = false;
    RETURN_IF_ERROR(remote_->Finish(t));
  } else {
    teacher_->Forward(teacher_batch_, t);
  }

  // The student's scores of the same lists, and the divergence.
  std::vector<float> s(pairs), ds(pairs, 0.0f);
  const ConstMatView uq = ConstMatView(uq_.view()).Rows(0, q);
  ListScores(uq, pool.Cols(0, d), cand, per, s.data());
  const float tau = config_.distill().temperature();
  const float weight = config_.distill().weight() * inv_queries;
  std::vector<float> tt(t.data, t.data + pairs);
  if (config_.loss() == TwoTowerConfig::IN_BATCH_SOFTMAX) {
    // A missing candidate takes no part in either distribution.
    for (int64_t k = 0; k < pairs; ++k) {
      if (cand[k] < 0) tt[k] = s[k] = -1e30f;
    }
    last_kd_ = SoftmaxKl(ConstMatView(tt.data(), q, per, per), ConstMatView(s.data(), q, per, per),
                         tau, weight, MatView{ds.data(), q, per, per});
    for (int64_t k = 0; k < pairs; ++k) {
      if (cand[k] < 0) ds[k] = 0.0f;
    }
  } else {
    for (int64_t k = 0; k < pairs; ++k) {
      if (cand[k] < 0) tt[k] = s[k];  // no divergence, no gradient
    }
    last_kd_ = SigmoidKl(tt.data(), s.data(), pairs, tau, weight, ds.data());
  }
  ListBackward(uq, pool.Cols(0, d), cand, per, ds.data(), du, dpool.Cols(0, d));
  if (!online) return last_kd_;

  // The teacher's own step: BCE on its pairs, own item 1, drawn ones 0.
  std::vector<float> labels(pairs, 0.0f);
  std::vector<uint8_t> mask(pairs, 0);
  std::vector<float> w(pairs, inv_queries);
  for (int64_t k = 0; k < pairs; ++k) {
    labels[k] = k % per == 0 ? 1.0f : 0.0f;
    mask[k] = cand[k] >= 0 ? 1 : 0;
  }
  const MatView dt = RowBuffer(&teacher_dlogits_, pairs, 1);
  last_teacher_ =
      MaskedSigmoidBce(t.data, labels.data(), mask.data(), w.data(), pairs, nullptr, dt.data) +
      teacher_->AuxLoss();
  const MatView dx = RowBuffer(&teacher_dx_, pairs, ts.num_features);
  teacher_->Backward(teacher_batch_, dt, dx);
  // Back to where the columns came from: the query rows' user side, the candidates' item side.
  const MatView dut = RowBuffer(&teacher_user_grad_, batch.size, teacher_user_width_);
  if (batch.size > 0) ScaleMat(0.0f, dut);
  for (int64_t k = 0; k < pairs; ++k) {
    if (cand[k] < 0) continue;
    const int64_t row = queries_[k / per];
    int64_t column = 0;
    for (const TeacherBlock& b : teacher_layout_) {
      float* dst = b.item ? dpool.row(cand[k]) + d + b.packed : dut.row(row) + b.packed;
      const float* src = dx.row(k) + column;
      for (int64_t c = 0; c < b.features.width; ++c) dst[c] += src[c];
      column += b.features.width;
    }
  }
  teacher_grads_ = true;
  return last_kd_ + last_teacher_;
}

}  // namespace moerec
