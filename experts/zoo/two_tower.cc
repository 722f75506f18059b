#include "experts/zoo/two_tower.h"

#include <glog/logging.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/linear.h"
#include "core/loss.h"
#include "core/norm.h"
#include "core/random.h"
#include "experts/layers/heads.h"
#include "experts/layers/init.h"
#include "experts/zoo/validate.h"

namespace moerec {
namespace {

constexpr float kNormEps = 1e-6f;

Status ValidateTower(const TowerConfig& tower, const std::string& field, bool item_side,
                     int scenario_dim) {
  if (tower.has_sap_mmoe()) {
    if (item_side) {
      return InvalidArgument(field +
                             ".sap_mmoe: the item tower must not depend on the scenario (the "
                             "corpus is embedded once for every scenario); use an mlp");
    }
    const SapMmoeConfig& m = tower.sap_mmoe();
    RETURN_IF_ERROR(ValidateRange(m.num_experts(), 1, 64, field + ".sap_mmoe.num_experts"));
    if (m.dims_size() == 0) {
      return InvalidArgument(field + ".sap_mmoe.dims must list at least one layer width");
    }
    for (int i = 0; i < m.dims_size(); ++i) {
      RETURN_IF_ERROR(ValidateRange(m.dims(i), 1, kMaxLayerWidth,
                                    field + ".sap_mmoe.dims[" + std::to_string(i) + "]"));
    }
    RETURN_IF_ERROR(
        ValidateRange(m.output_dim(), 1, kMaxLayerWidth, field + ".sap_mmoe.output_dim"));
    RETURN_IF_ERROR(ValidateRange(m.sap().rank(), 1, 4096, field + ".sap_mmoe.sap.rank"));
    if (!(m.bn_momentum() > 0.0f && m.bn_momentum() <= 1.0f)) {
      return InvalidArgument(field + ".sap_mmoe.bn_momentum must be in (0, 1]");
    }
    if (!(m.bn_eps() > 0.0f)) return InvalidArgument(field + ".sap_mmoe.bn_eps must be > 0");
    if (tower.has_mlp() || tower.has_sap()) {
      return InvalidArgument(field + ": set sap_mmoe alone, without mlp or sap");
    }
  } else {
    if (!tower.has_mlp()) return InvalidArgument(field + ": set mlp (or sap_mmoe)");
    RETURN_IF_ERROR(ValidateMlpConfig(tower.mlp(), field + ".mlp", /*allow_empty=*/false));
    if (tower.has_sap()) {
      if (item_side) {
        return InvalidArgument(field +
                               ".sap: the item tower must not depend on the scenario (the "
                               "corpus is embedded once for every scenario)");
      }
      RETURN_IF_ERROR(ValidateRange(tower.sap().rank(), 1, 4096, field + ".sap.rank"));
      if (tower.mlp().layer_norm() || tower.mlp().dropout() > 0.0f) {
        return InvalidArgument(field + ".mlp: SAP layers take no layer_norm or dropout");
      }
    }
  }
  if ((tower.has_sap() || tower.has_sap_mmoe()) && scenario_dim < 1) {
    return InvalidArgument(field +
                           ": SAP layers read the scenario embedding; set "
                           "model.domain_embedding_dim >= 1");
  }
  return Status::OK();
}

int64_t TowerOutput(const TowerConfig& t) {
  return t.has_sap_mmoe() ? t.sap_mmoe().output_dim() : t.mlp().dims(t.mlp().dims_size() - 1);
}

// Copies the column blocks of `features` side by side into `out` (from column 0).
void GatherColumns(ConstMatView features, const std::vector<std::pair<int64_t, int64_t>>& blocks,
                   MatView out) {
  int64_t at = 0;
  for (const auto& [column, width] : blocks) {
    if (features.rows > 0) CopyMat(features.Cols(column, width), out.Cols(at, width));
    at += width;
  }
}

uint64_t Bucket(uint64_t key, int64_t buckets) {
  return Mix64(key ^ 0x5bd1e9955bd1e995ULL) % static_cast<uint64_t>(buckets);
}

}  // namespace

Status TwoTowerModel::Validate(const ModelConfig& config, const ModelShape& shape) {
  const TwoTowerConfig& c = config.two_tower();
  const std::string f = "model.two_tower";
  if (shape.num_tasks != 1) {
    return InvalidArgument(f +
                           ": matching data has one task (the interaction); data.num_tasks is " +
                           std::to_string(shape.num_tasks));
  }
  if (shape.slot_dims.empty() || shape.slot_sides.size() != shape.slot_dims.size()) {
    return InvalidArgument(f + ": the towers need the slots' sides (data.slots side)");
  }
  bool user = false, item = false;
  int key = -1;
  for (int s = 0; s < shape.num_slots(); ++s) {
    (shape.slot_sides[s] == SIDE_ITEM ? item : user) = true;
    if (s < static_cast<int>(shape.slot_names.size()) && shape.slot_names[s] == c.item_id_slot())
      key = s;
  }
  if (!item) return InvalidArgument(f + ": no data slot has side SIDE_ITEM (the item tower's)");
  if (!user && shape.num_dense == 0) {
    return InvalidArgument(f + ": no user or context slot and no dense feature (the user tower's)");
  }
  if (key < 0) {
    return InvalidArgument(f + ".item_id_slot: no data slot is named '" + c.item_id_slot() + "'");
  }
  if (shape.slot_sides[key] != SIDE_ITEM) {
    return InvalidArgument(f + ".item_id_slot: slot '" + c.item_id_slot() +
                           "' is not an item-side slot");
  }
  RETURN_IF_ERROR(
      ValidateTower(c.user_tower(), f + ".user_tower", false, config.domain_embedding_dim()));
  RETURN_IF_ERROR(
      ValidateTower(c.item_tower(), f + ".item_tower", true, config.domain_embedding_dim()));
  if (TowerOutput(c.user_tower()) != TowerOutput(c.item_tower())) {
    return InvalidArgument(f + ": the towers' output widths differ (user " +
                           std::to_string(TowerOutput(c.user_tower())) + ", item " +
                           std::to_string(TowerOutput(c.item_tower())) + ")");
  }
  if (!(c.temperature() > 0.0f) || !std::isfinite(c.temperature())) {
    return InvalidArgument(f + ".temperature must be > 0");
  }
  RETURN_IF_ERROR(ValidateRange(c.num_negatives(), 1, 1 << 16, f + ".num_negatives"));
  RETURN_IF_ERROR(ValidateRange(c.frequency_buckets(), 1, 1 << 28, f + ".frequency_buckets"));
  if (c.has_distill()) RETURN_IF_ERROR(ValidateDistill(config, shape));
  return Status::OK();
}

TwoTowerModel::TwoTowerModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed,
                             const ModelContext& context)
    : Model(shape),
      config_(config.two_tower()),
      workers_(context.workers),
      inv_tau_(1.0f / config.two_tower().temperature()),
      scenario_dim_(config.domain_embedding_dim()) {
  int64_t column = 0;
  const int student_slots = shape.num_slots() - shape.num_teacher_slots;
  for (int s = 0; s < student_slots; ++s) {
    const Block b{column, shape.slot_dims[s]};
    if (shape.slot_sides[s] == SIDE_ITEM) {
      item_blocks_.push_back(b);
      item_width_ += b.width;
    } else {
      user_blocks_.push_back(b);
      user_width_ += b.width;
    }
    if (shape.slot_names[s] == config_.item_id_slot()) key_slot_ = s;
    column += b.width;
  }
  const int64_t dense_column = shape.num_features - shape.num_dense;
  if (shape.num_dense > 0) {
    user_blocks_.push_back(Block{dense_column, shape.num_dense});
    user_width_ += shape.num_dense;
  }
  if (config_.has_distill()) {
    for (int s = student_slots; s < shape.num_slots(); ++s) {
      TeacherBlock t;
      t.features = Block{column, shape.slot_dims[s]};
      t.item = shape.slot_sides[s] == SIDE_ITEM;
      int64_t& width = t.item ? teacher_item_width_ : teacher_user_width_;
      t.packed = width;
      width += t.features.width;
      teacher_layout_.push_back(t);
      column += t.features.width;
    }
    if (shape.num_dense > 0) {
      teacher_layout_.push_back(
          TeacherBlock{Block{dense_column, shape.num_dense}, false, teacher_user_width_});
      teacher_user_width_ += shape.num_dense;
    }
    distill_ = true;
    teacher_shape_ = DistillTeacherShape(shape);
    if (config_.distill().placement() == DistillConfig::TEACHER_RANKS) {
      remote_ = context.teacher;  // null: TrainingLoss refuses to train
    } else {
      // The teacher scores each worker's pairs on its own: no collectives.
      auto teacher = CreateModel(config_.distill().teacher(), teacher_shape_, seed + 17);
      CHECK(teacher.ok()) << teacher.status().ToString();  // validated with the config
      teacher_ = std::move(*teacher);
      params_.Adopt(teacher_->params(), kTeacherPrefix);
      if (config_.distill().mode() == DistillConfig::OFFLINE) {
        for (const auto& p : params_.params()) {
          if (p->name.rfind(kTeacherPrefix, 0) == 0) p->fixed = true;
        }
      }
    }
  }
  if (scenario_dim_ > 0) {
    scenario_table_ = params_.Add("scenario_embedding.table", {shape.num_domains, scenario_dim_});
    FillNormal(ParamSeed(seed, scenario_table_->name), 0.05f, &scenario_table_->value);
  }
  const bool user_mlp = !config_.user_tower().has_sap() && !config_.user_tower().has_sap_mmoe();
  user_ =
      MatchingTower(config_.user_tower(), user_width_ + (user_mlp ? scenario_dim_ : 0),
                    scenario_dim_, shape.num_domains, "user_tower", &params_, seed + 11, workers_);
  item_ = MatchingTower(config_.item_tower(), item_width_, scenario_dim_, shape.num_domains,
                        "item_tower", &params_, seed + 13);
  counts_ = params_.AddBuffer("freq.counts", {config_.frequency_buckets()}, 0.0f);
  total_ = params_.AddBuffer("freq.total", {1}, 0.0f);
}

bool TwoTowerModel::Collective(bool training) const {
  return training && workers_ != nullptr && workers_->size() > 1;
}

std::vector<std::pair<std::string, double>> TwoTowerModel::Stats() const {
  std::vector<std::pair<std::string, double>> stats = {{"candidates", last_candidates_},
                                                       {"queries", last_queries_},
                                                       {"mean_log_q", last_mean_log_q_}};
  if (distill_) {
    stats.insert(stats.end(), {{"task_loss", last_task_}, {"kd_loss", last_kd_}});
    if (config_.distill().mode() == DistillConfig::ONLINE)
      stats.push_back({"teacher_loss", last_teacher_});
  }
  return stats;
}

void TwoTowerModel::GatherInputs(const ModelBatch& batch) {
  const int64_t rows = batch.size;
  const bool user_mlp = !user_.uses_scenario();
  std::vector<std::pair<int64_t, int64_t>> ub, ib;
  for (const Block& b : user_blocks_) ub.emplace_back(b.column, b.width);
  for (const Block& b : item_blocks_) ib.emplace_back(b.column, b.width);
  const MatView ux = RowBuffer(&user_x_, rows, user_width_ + (user_mlp ? scenario_dim_ : 0));
  const MatView ix = RowBuffer(&item_x_, rows, item_width_);
  GatherColumns(batch.features, ub, ux);
  GatherColumns(batch.features, ib, ix);
  if (scenario_dim_ > 0) {
    const MatView e = RowBuffer(&e_, rows, scenario_dim_);
    for (int d = 0; d < shape_.num_domains; ++d) {
      BroadcastRows(scenario_table_->value.data() + static_cast<int64_t>(d) * scenario_dim_,
                    e.Rows(batch.domain_begin[d], batch.domain_rows(d)));
    }
    if (user_mlp && rows > 0) CopyMat(e, ux.Cols(user_width_, scenario_dim_));
  }
}

ConstMatView TwoTowerModel::RunUser(const ModelBatch& batch, bool training) {
  const int64_t rows = batch.size;
  const ConstMatView e =
      scenario_dim_ > 0 ? ConstMatView(e_.view().Rows(0, rows)) : ConstMatView(nullptr, rows, 0, 0);
  const ConstMatView y =
      user_.Forward(user_x_.view().Rows(0, rows), e, batch.domain_begin, training, batch.seed);
  return Normalize(y, &u_raw_, &u_, &u_rnorm_);
}

ConstMatView TwoTowerModel::RunItem(const ModelBatch& batch, bool training) {
  const ConstMatView none(nullptr, batch.size, 0, 0);
  const ConstMatView y = item_.Forward(item_x_.view().Rows(0, batch.size), none, batch.domain_begin,
                                       training, batch.seed ^ 0x9e3779b97f4a7c15ULL);
  return Normalize(y, &v_raw_, &v_, &v_rnorm_);
}

ConstMatView TwoTowerModel::Normalize(ConstMatView y, Tensor* raw_t, Tensor* out_t, Tensor* rnorm) {
  const MatView raw = RowBuffer(raw_t, y.rows, y.cols);
  if (y.rows > 0) CopyMat(y, raw);
  const MatView out = RowBuffer(out_t, y.rows, y.cols);
  if (config_.l2_normalize()) {
    L2NormalizeForward(raw, kNormEps, out, rnorm);
  } else if (y.rows > 0) {
    CopyMat(raw, out);
  }
  return out;
}

void TwoTowerModel::Forward(const ModelBatch& batch, MatView logits) {
  CheckModelBatch(batch, shape_, logits.rows, logits.cols);
  loss_pending_ = false;
  GatherInputs(batch);
  const ConstMatView u = RunUser(batch, batch.training);
  const ConstMatView v = RunItem(batch, batch.training);
  for (int64_t i = 0; i < batch.size; ++i) {
    double dot = 0.0;
    for (int64_t c = 0; c < u.cols; ++c) dot += static_cast<double>(u.row(i)[c]) * v.row(i)[c];
    logits.row(i)[0] = static_cast<float>(dot * inv_tau_);
  }
}

void TwoTowerModel::EncodeUsers(const ModelBatch& batch, MatView out) {
  CHECK_EQ(out.rows, batch.size);
  CHECK_EQ(out.cols, embedding_dim());
  GatherInputs(batch);
  const ConstMatView u = RunUser(batch, /*training=*/false);
  if (batch.size > 0) CopyMat(u, out);
}

void TwoTowerModel::EncodeItems(const ModelBatch& batch, MatView out) {
  CHECK_EQ(out.rows, batch.size);
  CHECK_EQ(out.cols, embedding_dim());
  GatherInputs(batch);
  const ConstMatView v = RunItem(batch, /*training=*/false);
  if (batch.size > 0) CopyMat(v, out);
}

Status TwoTowerModel::GatherCandidates(ConstMatView payload, const uint64_t* keys, int64_t rows) {
  const int64_t p = payload.cols;
  if (!config_.gather_candidates() || workers_ == nullptr || workers_->size() == 1) {
    const MatView pool = RowBuffer(&pool_, rows, p);
    if (rows > 0) CopyMat(payload, pool);
    pool_keys_.assign(keys, keys + rows);
    offset_ = 0;
    return Status::OK();
  }
  // One message per worker: its keys, then its rows.
  const size_t row_bytes = sizeof(uint64_t) + p * sizeof(float);
  std::string mine(rows * row_bytes, '\0');
  std::memcpy(mine.data(), keys, rows * sizeof(uint64_t));
  for (int64_t i = 0; i < rows; ++i) {
    std::memcpy(mine.data() + rows * sizeof(uint64_t) + i * p * sizeof(float), payload.row(i),
                p * sizeof(float));
  }
  std::vector<std::string> all;
  RETURN_IF_ERROR(workers_->AllGather(mine, &all));
  int64_t total = 0;
  for (int w = 0; w < static_cast<int>(all.size()); ++w) {
    if (w == workers_->rank()) offset_ = total;
    total += static_cast<int64_t>(all[w].size() / row_bytes);
  }
  RowBuffer(&pool_, total, p);
  pool_keys_.resize(total);
  int64_t at = 0;
  for (const std::string& part : all) {
    const int64_t n = static_cast<int64_t>(part.size() / row_bytes);
    std::memcpy(pool_keys_.data() + at, part.data(), n * sizeof(uint64_t));
    std::memcpy(pool_.data() + at * p, part.data() + n * sizeof(uint64_t), n * p * sizeof(float));
    at += n;
  }
  return Status::OK();
}

Status TwoTowerModel::CountAndCorrect(const uint64_t* keys, int64_t rows) {
  // Every worker counts every worker's items, so all keep the same counters.
  std::vector<uint64_t> counted;
  const bool several = workers_ != nullptr && workers_->size() > 1;
  if (several && !config_.gather_candidates()) {
    std::string mine(reinterpret_cast<const char*>(keys), rows * sizeof(uint64_t));
    std::vector<std::string> all;
    RETURN_IF_ERROR(workers_->AllGather(mine, &all));
    for (const std::string& part : all) {
      const size_t n = part.size() / sizeof(uint64_t);
      const size_t at = counted.size();
      counted.resize(at + n);
      std::memcpy(counted.data() + at, part.data(), n * sizeof(uint64_t));
    }
  } else {
    counted = pool_keys_;
  }
  float* counts = counts_->value.data();
  const int64_t buckets = counts_->value.size();
  for (uint64_t k : counted) counts[Bucket(k, buckets)] += 1.0f;
  total_->value.data()[0] += static_cast<float>(counted.size());
  const double total = std::max(1.0f, total_->value.data()[0]);
  neg_log_q_.resize(pool_keys_.size());
  double sum = 0.0;
  for (size_t j = 0; j < pool_keys_.size(); ++j) {
    const double q = std::max(1.0f, counts[Bucket(pool_keys_[j], buckets)]) / total;
    neg_log_q_[j] = config_.log_q_correction() ? static_cast<float>(-std::log(q)) : 0.0f;
    sum += std::log(q);
  }
  last_mean_log_q_ = pool_keys_.empty() ? 0.0 : sum / pool_keys_.size();
  return Status::OK();
}

std::vector<int64_t> TwoTowerModel::DrawLists(uint64_t seed, int64_t per) const {
  const int64_t c = static_cast<int64_t>(pool_keys_.size());
  // The pool in an order that depends on the items only (a hash of each key), so that the
  // lists are the same however the global batch is split over workers and sorted: rows of one
  // item are interchangeable (their features, and so their embeddings, are the item's).
  std::vector<std::pair<uint64_t, int64_t>> order(c);
  for (int64_t j = 0; j < c; ++j) order[j] = {HashCombine(seed, pool_keys_[j]), j};
  std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : pool_keys_[a.second] < pool_keys_[b.second];
  });
  std::vector<int64_t> cand(queries_.size() * per, -1);
  for (size_t k = 0; k < queries_.size(); ++k) {
    const int64_t own = offset_ + queries_[k];
    const uint64_t key = pool_keys_[own];
    cand[k * per] = own;
    // A run through the ordered pool from a point the query's item picks.
    int64_t at = c > 0 ? static_cast<int64_t>(HashCombine(key, seed ^ 0xa5a5a5a5ULL) %
                                              static_cast<uint64_t>(c))
                       : 0;
    int64_t m = 1;
    for (int64_t step = 0; step < c && m < per; ++step, at = (at + 1) % c) {
      const int64_t j = order[at].second;
      if (pool_keys_[j] != key) cand[k * per + m++] = j;
    }
  }
  return cand;
}

void TwoTowerModel::ListScores(ConstMatView uq, ConstMatView pool, const std::vector<int64_t>& cand,
                               int64_t per, float* out) const {
  for (size_t k = 0; k < cand.size(); ++k) {
    const int64_t j = cand[k];
    if (j < 0) {
      out[k] = 0.0f;
      continue;
    }
    const float* a = uq.row(static_cast<int64_t>(k) / per);
    const float* b = pool.row(j);
    double dot = 0.0;
    for (int64_t x = 0; x < uq.cols; ++x) dot += static_cast<double>(a[x]) * b[x];
    out[k] = static_cast<float>(dot * inv_tau_);
  }
}

void TwoTowerModel::ListBackward(ConstMatView uq, ConstMatView pool,
                                 const std::vector<int64_t>& cand, int64_t per,
                                 const float* dscores, MatView du, MatView dpool) const {
  for (size_t k = 0; k < cand.size(); ++k) {
    const int64_t j = cand[k];
    if (j < 0) continue;
    const int64_t query = static_cast<int64_t>(k) / per;
    float* duq = du.row(queries_[query]);
    const float* a = uq.row(query);
    const float* b = pool.row(j);
    float* db = dpool.row(j);
    const float g = dscores[k] * inv_tau_;
    for (int64_t x = 0; x < uq.cols; ++x) {
      duq[x] += g * b[x];
      db[x] += g * a[x];
    }
  }
}

StatusOr<double> TwoTowerModel::TrainingLoss(const ModelBatch& batch) {
  CheckModelBatch(batch, shape_, batch.size, 1);
  CHECK(batch.size == 0 ||
        (batch.labels != nullptr && batch.label_mask != nullptr && batch.keys != nullptr));
  const int64_t rows = batch.size;
  teacher_grads_ = false;
  GatherInputs(batch);
  const ConstMatView u = RunUser(batch, /*training=*/true);
  const ConstMatView v = RunItem(batch, /*training=*/true);
  const int64_t d = u.cols;
  // Each candidate travels with the teacher's view of its item (distillation).
  const int64_t width = d + teacher_item_width_;
  const MatView payload = RowBuffer(&payload_, rows, width);
  if (rows > 0) {
    CopyMat(v, payload.Cols(0, d));
    for (const TeacherBlock& t : teacher_layout_) {
      if (!t.item) continue;
      CopyMat(batch.features.Cols(t.features.column, t.features.width),
              payload.Cols(d + t.packed, t.features.width));
    }
  }
  RETURN_IF_ERROR(GatherCandidates(payload, batch.keys, rows));
  RETURN_IF_ERROR(CountAndCorrect(batch.keys, rows));
  const int64_t c = static_cast<int64_t>(pool_keys_.size());

  queries_.clear();
  for (int64_t i = 0; i < rows; ++i) {
    if (batch.label_mask[i] != 0 && batch.labels[i] > 0.5f) queries_.push_back(i);
  }
  double global_queries = static_cast<double>(queries_.size());
  if (workers_ != nullptr && workers_->size() > 1) {
    RETURN_IF_ERROR(workers_->AllReduceSum(&global_queries, 1));
  }
  last_candidates_ = static_cast<double>(c);
  last_queries_ = global_queries;
  const int64_t q = static_cast<int64_t>(queries_.size());
  const float weight = global_queries > 0 ? static_cast<float>(1.0 / global_queries) : 0.0f;

  const MatView du = RowBuffer(&du_, rows, d);
  const MatView dv = RowBuffer(&dv_, rows, d);
  if (rows > 0) {
    ScaleMat(0.0f, du);
    ScaleMat(0.0f, dv);
  }
  const MatView dpool_all = RowBuffer(&dpool_, c, width);
  if (c > 0) ScaleMat(0.0f, dpool_all);
  const MatView dpool = dpool_all.Cols(0, d);
  const MatView uq = RowBuffer(&uq_, q, d);
  for (int64_t k = 0; k < q; ++k) std::memcpy(uq.row(k), u.row(queries_[k]), d * sizeof(float));
  const ConstMatView pool = ConstMatView(pool_.view()).Rows(0, c).Cols(0, d);

  double loss = 0.0;
  std::vector<int64_t> cand;  // per query: its own pool row, then `per` - 1 drawn ones
  int64_t per = 0;
  if (q > 0) {
    if (config_.loss() == TwoTowerConfig::IN_BATCH_SOFTMAX) {
      // The teacher (remote: on its own ranks) scores the lists while the softmax runs.
      if (distill_) {
        per = config_.distill().list_size();
        cand = DrawLists(batch.seed, per);
        RETURN_IF_ERROR(StartTeacher(batch, cand, per));
      }
      const MatView z = RowBuffer(&z_, q, c);
      Gemm(false, true, inv_tau_, uq, pool, 0.0f, z);
      std::vector<int64_t> target(q);
      std::vector<uint8_t> valid(q * c, 1);
      for (int64_t k = 0; k < q; ++k) {
        target[k] = offset_ + queries_[k];
        const uint64_t key = pool_keys_[target[k]];
        float* zk = z.row(k);
        for (int64_t j = 0; j < c; ++j) {
          zk[j] += neg_log_q_[j];
          if (j != target[k] && pool_keys_[j] == key) valid[k * c + j] = 0;
        }
      }
      const MatView dz = RowBuffer(&dz_, q, c);
      loss = CandidateSoftmaxXent(z, target.data(), valid.data(), weight, dz);
      // z = uq pool^T / tau: duq = dz pool / tau, dpool = dz^T uq / tau.
      const MatView duq = RowBuffer(&du_raw_, q, d);
      Gemm(false, false, inv_tau_, dz, pool, 0.0f, duq);
      Gemm(true, false, inv_tau_, dz, uq, 0.0f, dpool);
      for (int64_t k = 0; k < q; ++k)
        std::memcpy(du.row(queries_[k]), duq.row(k), d * sizeof(float));
    } else {
      per = config_.num_negatives() + 1;
      cand = DrawLists(batch.seed, per);
      if (distill_) RETURN_IF_ERROR(StartTeacher(batch, cand, per));
      std::vector<float> logits(q * per, 0.0f), labels(q * per, 0.0f), dl(q * per, 0.0f);
      std::vector<uint8_t> mask(q * per, 0);
      ListScores(uq, pool, cand, per, logits.data());
      for (int64_t k = 0; k < q * per; ++k) {
        if (cand[k] < 0) continue;
        mask[k] = 1;
        labels[k] = k % per == 0 ? 1.0f : 0.0f;
        logits[k] += neg_log_q_[cand[k]];
      }
      std::vector<float> w(q * per, weight);
      loss = MaskedSigmoidBce(logits.data(), labels.data(), mask.data(), w.data(), q * per, nullptr,
                              dl.data());
      ListBackward(uq, pool, cand, per, dl.data(), du, dpool);
    }
  }
  last_task_ = loss;
  if (distill_) {
    ASSIGN_OR_RETURN(const double extra, Distill(batch, cand, per, weight, du, dpool_all));
    loss += extra;
  }
  // Every worker's queries scored this worker's items: sum the pool gradients over the workers.
  if (config_.gather_candidates() && workers_ != nullptr && workers_->size() > 1) {
    RETURN_IF_ERROR(workers_->AllReduceSum(dpool_.data(), c * width));
  }
  if (rows > 0) CopyMat(ConstMatView(dpool).Rows(offset_, rows), dv);
  loss_pending_ = true;
  return loss;
}

void TwoTowerModel::Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) {
  const int64_t rows = batch.size;
  const int64_t d = embedding_dim();
  if (!loss_pending_) {
    // Pointwise: logit_i = <u_i, v_i> / tau.
    CheckModelBatch(batch, shape_, dlogits.rows, dlogits.cols);
    const MatView du = RowBuffer(&du_, rows, d);
    const MatView dv = RowBuffer(&dv_, rows, d);
    for (int64_t i = 0; i < rows; ++i) {
      const float g = dlogits.row(i)[0] * inv_tau_;
      for (int64_t x = 0; x < d; ++x) {
        du.row(i)[x] = g * v_.view().row(i)[x];
        dv.row(i)[x] = g * u_.view().row(i)[x];
      }
    }
  }
  if (!loss_pending_) teacher_grads_ = false;
  const bool loss_pending_was = loss_pending_;
  loss_pending_ = false;
  // A synchronised DSBN needs every worker in its backward, rows or not.
  if (rows == 0 && !(loss_pending_was && user_.synchronised())) return;
  const MatView du_raw = RowBuffer(&du_raw_, rows, d);
  const MatView dv_raw = RowBuffer(&dv_raw_, rows, d);
  if (config_.l2_normalize()) {
    L2NormalizeBackward(u_.view().Rows(0, rows), u_rnorm_, kNormEps, du_.view().Rows(0, rows),
                        du_raw);
    L2NormalizeBackward(v_.view().Rows(0, rows), v_rnorm_, kNormEps, dv_.view().Rows(0, rows),
                        dv_raw);
  } else {
    CopyMat(du_.view().Rows(0, rows), du_raw);
    CopyMat(dv_.view().Rows(0, rows), dv_raw);
  }
  const bool want_dx = dfeatures.data != nullptr;
  const bool user_mlp = !user_.uses_scenario();
  MatView de{nullptr, rows, scenario_dim_, scenario_dim_};
  if (scenario_dim_ > 0) {
    de = RowBuffer(&de_, rows, scenario_dim_);
    ScaleMat(0.0f, de);
  }
  const ConstMatView e =
      scenario_dim_ > 0 ? ConstMatView(e_.view().Rows(0, rows)) : ConstMatView(nullptr, rows, 0, 0);
  // The user tower's input gradient is needed for the features and, with the scenario
  // embedding among its inputs, for the table.
  const bool want_dux = want_dx || (user_mlp && scenario_dim_ > 0);
  const MatView dux = want_dux ? RowBuffer(&dux_, rows, user_.input_dim())
                               : MatView{nullptr, rows, user_.input_dim(), user_.input_dim()};
  user_.Backward(user_x_.view().Rows(0, rows), e, batch.domain_begin, du_raw, dux,
                 user_.uses_scenario() ? de : MatView{nullptr, 0, 0, 0});
  const MatView dvx = want_dx ? RowBuffer(&dvx_, rows, item_width_)
                              : MatView{nullptr, rows, item_width_, item_width_};
  item_.Backward(item_x_.view().Rows(0, rows), ConstMatView(nullptr, rows, 0, 0),
                 batch.domain_begin, dv_raw, dvx, MatView{nullptr, 0, 0, 0});
  if (user_mlp && scenario_dim_ > 0) AddMat(dux.Cols(user_width_, scenario_dim_), de);
  if (scenario_dim_ > 0) {
    for (int dom = 0; dom < shape_.num_domains; ++dom) {
      BiasBackward(ConstMatView(de).Rows(batch.domain_begin[dom], batch.domain_rows(dom)),
                   scenario_table_->grad.data() + static_cast<int64_t>(dom) * scenario_dim_);
    }
  }
  if (!want_dx) return;
  int64_t at = 0;
  for (const Block& b : user_blocks_) {
    CopyMat(dux.Cols(at, b.width), dfeatures.Cols(b.column, b.width));
    at += b.width;
  }
  at = 0;
  for (const Block& b : item_blocks_) {
    CopyMat(dvx.Cols(at, b.width), dfeatures.Cols(b.column, b.width));
    at += b.width;
  }
  // The teacher's columns: its gradients from its own step (online), else none.
  const int64_t dense_column = shape_.num_features - shape_.num_dense;
  for (const TeacherBlock& t : teacher_layout_) {
    const MatView dst = dfeatures.Cols(t.features.column, t.features.width);
    const bool dense = t.features.column == dense_column && !t.item;
    if (!teacher_grads_) {
      if (!dense) ScaleMat(0.0f, dst);
      continue;
    }
    const ConstMatView src =
        t.item
            ? ConstMatView(dpool_.view()).Rows(offset_, rows).Cols(d + t.packed, t.features.width)
            : ConstMatView(teacher_user_grad_.view())
                  .Rows(0, rows)
                  .Cols(t.packed, t.features.width);
    if (dense) {
      AddMat(src, dst);  // the student's gradient of the dense features is there already
    } else {
      CopyMat(src, dst);
    }
  }
  teacher_grads_ = false;
}

}  // namespace moerec
