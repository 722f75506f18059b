#include "experts/zoo/sparse_moe.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/embedding_bag.h"
#include "core/gated_mix.h"
#include "core/linear.h"
#include "core/parallel.h"
#include "core/random.h"
#include "core/softmax.h"
#include "experts/layers/gate.h"
#include "experts/layers/init.h"
#include "experts/zoo/validate.h"

namespace moerec {
namespace {

constexpr int kMaxExperts = 4096;

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// The k largest of v[0..n) not excluded, largest first; ties go to the lower index.
void TopK(const float* v, int n, int k, const uint8_t* exclude, std::vector<int>* out) {
  out->clear();
  for (int e = 0; e < n; ++e) {
    if (exclude == nullptr || !exclude[e]) out->push_back(e);
  }
  const int take = std::min<int>(k, static_cast<int>(out->size()));
  std::partial_sort(out->begin(), out->begin() + take, out->end(),
                    [&](int a, int b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
  out->resize(take);
}

// t itself when on the host, else its host copy in *staging.
const Tensor& OnHost(const Tensor& t, Tensor* staging) {
  if (!t.on_gpu()) return t;
  *staging = t.To(nullptr);
  return *staging;
}

// A failed exchange means a worker is gone or the workers disagree on the routing plan: the
// step cannot go on (the trainer's restart policy takes over).
void CheckDispatch(const Status& s) { CHECK(s.ok()) << "expert dispatch: " << s.ToString(); }

Status ValidateExpertMlp(const MlpConfig& c, const std::string& field) {
  RETURN_IF_ERROR(ValidateMlpConfig(c, field, false));
  if (c.activation() == ACT_PRELU || c.layer_norm() || c.dropout() > 0.0f) {
    return InvalidArgument(field +
                           ": sparse experts are ReLU or linear MLPs without layer_norm, PReLU "
                           "or dropout");
  }
  return Status::OK();
}

const ExpertPlacementConfig& PlacementOf(const ModelConfig& config) {
  switch (config.kind_case()) {
    case ModelConfig::kTopkMoe:
      return config.topk_moe().placement();
    case ModelConfig::kSmes:
      return config.smes().placement();
    default:
      return config.mmoe().placement();
  }
}

}  // namespace

Status SparseMoeModel::Validate(const ModelConfig& config, const ModelShape& shape) {
  switch (config.kind_case()) {
    case ModelConfig::kMmoe: {
      const MmoeConfig& c = config.mmoe();
      RETURN_IF_ERROR(ValidateRange(c.num_experts(), 1, kMaxExperts, "model.mmoe.num_experts"));
      RETURN_IF_ERROR(ValidateExpertMlp(c.expert(), "model.mmoe.expert"));
      RETURN_IF_ERROR(ValidateMlpConfig(c.tower(), "model.mmoe.tower", true));
      RETURN_IF_ERROR(ValidateHeadIndex(c.tower_index(), "model.mmoe.tower_index"));
      if (c.gate_index() != BY_TASK) {
        return InvalidArgument("model.mmoe.gate_index must be BY_TASK with a placement");
      }
      return Status::OK();
    }
    case ModelConfig::kTopkMoe: {
      const TopkMoeConfig& c = config.topk_moe();
      RETURN_IF_ERROR(ValidateRange(c.num_experts(), 1, kMaxExperts, "model.topk_moe.num_experts"));
      RETURN_IF_ERROR(ValidateRange(c.top_k(), 1, c.num_experts(), "model.topk_moe.top_k"));
      if (c.has_encoder()) {
        RETURN_IF_ERROR(ValidateMlpConfig(c.encoder(), "model.topk_moe.encoder", false));
      }
      RETURN_IF_ERROR(ValidateExpertMlp(c.expert(), "model.topk_moe.expert"));
      RETURN_IF_ERROR(ValidateMlpConfig(c.tower(), "model.topk_moe.tower", true));
      RETURN_IF_ERROR(ValidateHeadIndex(c.tower_index(), "model.topk_moe.tower_index"));
      if (!(c.balance_weight() >= 0.0f) || !(c.z_loss_weight() >= 0.0f) ||
          !(c.router_noise() >= 0.0f) || !std::isfinite(c.capacity_factor())) {
        return InvalidArgument(
            "model.topk_moe: balance_weight, z_loss_weight and router_noise must be >= 0 and "
            "capacity_factor finite");
      }
      return Status::OK();
    }
    case ModelConfig::kSmes: {
      const SmesConfig& c = config.smes();
      RETURN_IF_ERROR(ValidateRange(c.num_experts(), 1, kMaxExperts, "model.smes.num_experts"));
      RETURN_IF_ERROR(ValidateRange(c.shared_k(), 1, c.num_experts(), "model.smes.shared_k"));
      RETURN_IF_ERROR(ValidateRange(c.private_k(), 0, c.num_experts() - c.shared_k(),
                                    "model.smes.private_k (shared_k + private_k <= num_experts)"));
      RETURN_IF_ERROR(ValidateMlpConfig(c.encoder(), "model.smes.encoder", false));
      RETURN_IF_ERROR(ValidateExpertMlp(c.expert(), "model.smes.expert"));
      RETURN_IF_ERROR(ValidateMlpConfig(c.tower(), "model.smes.tower", true));
      RETURN_IF_ERROR(ValidateHeadIndex(c.tower_index(), "model.smes.tower_index"));
      if (!(c.balance_weight() >= 0.0f)) {
        return InvalidArgument("model.smes.balance_weight must be >= 0");
      }
      if (c.task_weights_size() != 0) {
        if (c.task_weights_size() != shape.num_tasks) {
          return InvalidArgument("model.smes.task_weights has " +
                                 std::to_string(c.task_weights_size()) + " entries, want " +
                                 std::to_string(shape.num_tasks) + " (one per task)");
        }
        for (float w : c.task_weights()) {
          if (!(w >= 0.0f) || !std::isfinite(w)) {
            return InvalidArgument("model.smes.task_weights must be finite and >= 0");
          }
        }
      }
      return Status::OK();
    }
    default:
      return InvalidArgument("not a sparse-expert model");
  }
}

SparseMoeModel::SparseMoeModel(const ModelConfig& config, const ModelShape& shape, uint64_t seed,
                               const ModelContext& context)
    : Model(shape) {
  const MlpConfig* encoder = nullptr;
  const MlpConfig* expert = nullptr;
  const MlpConfig* tower = nullptr;
  HeadIndex tower_index = BY_TASK;
  switch (config.kind_case()) {
    case ModelConfig::kTopkMoe: {
      const TopkMoeConfig& c = config.topk_moe();
      routing_ = Routing::TOPK;
      num_experts_ = c.num_experts();
      k_ = c.top_k();
      normalize_ = c.normalize_top_k();
      capacity_factor_ = c.capacity_factor();
      drop_by_probability_ = c.drop_policy() == TopkMoeConfig::BY_PROBABILITY;
      balance_weight_ = c.balance_weight();
      z_loss_weight_ = c.z_loss_weight();
      router_noise_ = c.router_noise();
      if (c.has_encoder()) encoder = &c.encoder();
      expert = &c.expert();
      tower = &c.tower();
      tower_index = c.tower_index();
      break;
    }
    case ModelConfig::kSmes: {
      const SmesConfig& c = config.smes();
      routing_ = Routing::SMES;
      num_experts_ = c.num_experts();
      streams_ = shape.num_tasks;
      shared_k_ = c.shared_k();
      private_k_ = c.private_k();
      k_ = shared_k_ + private_k_;
      balance_weight_ = c.balance_weight();
      task_weights_.assign(c.task_weights().begin(), c.task_weights().end());
      if (task_weights_.empty()) task_weights_.assign(streams_, 1.0f / streams_);
      encoder = &c.encoder();
      expert = &c.expert();
      tower = &c.tower();
      tower_index = c.tower_index();
      break;
    }
    default: {
      const MmoeConfig& c = config.mmoe();
      routing_ = Routing::DENSE;
      num_experts_ = c.num_experts();
      streams_ = shape.num_tasks;
      k_ = num_experts_;
      normalize_ = false;
      expert = &c.expert();
      tower = &c.tower();
      tower_index = c.tower_index();
      break;
    }
  }
  if (context.workers != nullptr) {
    workers_ = context.workers;
  } else {
    own_comm_ = std::make_unique<SelfCommunicator>();
    workers_ = own_comm_.get();
  }
  const ExpertPlacement placement(num_experts_, workers_->size(), PlacementOf(config).kind());
  input_ = DomainInput(shape.num_features, shape.num_domains, config.domain_embedding_dim(),
                       "domain_embedding", &params_, seed);
  int64_t hidden = input_.output_dim();
  if (encoder != nullptr) {
    has_encoder_ = true;
    encoder_ = Mlp(*encoder, hidden, 1, "encoder", &params_, seed);
    hidden = encoder_.output_dim();
  }
  router_ = params_.Add("router.w", {hidden, static_cast<int64_t>(streams_) * num_experts_});
  FillUniform(ParamSeed(seed, router_->name), LinearInitBound(hidden), &router_->value);
  const int me = placement.replicated() ? 0 : workers_->rank();
  bank_ = ExpertBank(*expert, hidden, placement.experts_of(me), "experts", !placement.replicated(),
                     &params_, seed);
  dispatch_ = std::make_unique<ExpertDispatch>(placement.replicated() ? nullptr : workers_,
                                               placement, context.device_workers);
  towers_ = Towers(*tower, tower_index, shape.num_domains, shape.num_tasks, bank_.output_dim(),
                   streams_, "towers", &params_, seed);
}

bool SparseMoeModel::Collective(bool training) const {
  if (workers_->size() <= 1) return false;
  return !dispatch_->placement().replicated() || (training && routing_ != Routing::DENSE);
}

void SparseMoeModel::Route(int64_t rows) {
  const int E = num_experts_, S = streams_;
  Tensor& weights = weights_.on_gpu() ? weights_staging_ : weights_;
  weights.Resize({rows, static_cast<int64_t>(S) * E});
  std::fill(weights.data(), weights.data() + weights.size(), 0.0f);
  chosen_.assign(rows * S * E, 0);
  active_.assign(rows * E, 0);
  norm_.assign(rows * S, 1.0f);
  if (routing_ == Routing::TOPK) choices_.resize(rows * k_);
  const float* p = probs_host_;
  float* w = weights.data();
  ParallelFor(rows, 64, [&](int64_t r0, int64_t r1) {
    std::vector<int> pick, shared;
    std::vector<float> pooled(E);
    std::vector<uint8_t> in_shared(E);
    for (int64_t i = r0; i < r1; ++i) {
      uint8_t* act = active_.data() + i * E;
      if (routing_ == Routing::DENSE) {
        std::copy(p + i * S * E, p + (i + 1) * S * E, w + i * S * E);
        std::fill(chosen_.begin() + i * S * E, chosen_.begin() + (i + 1) * S * E, 1);
        std::fill(act, act + E, 1);
        continue;
      }
      if (routing_ == Routing::SMES) {
        std::fill(pooled.begin(), pooled.end(), 0.0f);
        for (int s = 0; s < S; ++s) {
          for (int e = 0; e < E; ++e) pooled[e] += task_weights_[s] * p[(i * S + s) * E + e];
        }
        TopK(pooled.data(), E, shared_k_, nullptr, &shared);
        std::fill(in_shared.begin(), in_shared.end(), 0);
        for (int e : shared) in_shared[e] = 1;
      }
      for (int s = 0; s < S; ++s) {
        const float* ps = p + (i * S + s) * E;
        uint8_t* ch = chosen_.data() + (i * S + s) * E;
        if (routing_ == Routing::TOPK) {
          TopK(ps, E, k_, nullptr, &pick);
          std::copy(pick.begin(), pick.end(), choices_.begin() + i * k_);
        } else {
          TopK(ps, E, private_k_, in_shared.data(), &pick);
          pick.insert(pick.end(), shared.begin(), shared.end());
        }
        float z = 0.0f;
        for (int e : pick) {
          ch[e] = 1;
          act[e] = 1;
          z += ps[e];
        }
        const bool renorm = normalize_ || routing_ == Routing::SMES;
        norm_[i * S + s] = renorm ? z : 1.0f;
        for (int e : pick) w[(i * S + s) * E + e] = renorm ? ps[e] / z : ps[e];
      }
    }
  });
  if (&weights != &weights_) weights_ = weights;  // copy assignment: to the device
}

void SparseMoeModel::CapacityDrop(int64_t rows) {
  dropped_ = 0;
  if (routing_ != Routing::TOPK || capacity_factor_ <= 0.0f || rows == 0) return;
  const int E = num_experts_;
  const int64_t capacity =
      static_cast<int64_t>(std::ceil(static_cast<double>(capacity_factor_) * rows * k_ / E));
  const float* p = probs_host_;
  std::vector<int64_t> count(E, 0);
  if (!drop_by_probability_) {
    // First choices of every row before second choices (GShard), rows in order.
    for (int j = 0; j < k_; ++j) {
      for (int64_t i = 0; i < rows; ++i) {
        const int e = choices_[i * k_ + j];
        if (count[e] < capacity) {
          ++count[e];
        } else {
          active_[i * E + e] = 0;
          ++dropped_;
        }
      }
    }
    return;
  }
  std::vector<std::vector<int64_t>> by_expert(E);
  for (int64_t i = 0; i < rows; ++i) {
    for (int e = 0; e < E; ++e) {
      if (chosen_[i * E + e]) by_expert[e].push_back(i);
    }
  }
  for (int e = 0; e < E; ++e) {
    std::vector<int64_t>& v = by_expert[e];
    std::stable_sort(v.begin(), v.end(),
                     [&](int64_t a, int64_t b) { return p[a * E + e] > p[b * E + e]; });
    for (size_t j = static_cast<size_t>(capacity); j < v.size(); ++j) {
      active_[v[j] * E + e] = 0;
      ++dropped_;
    }
  }
}

void SparseMoeModel::GlobalStatistics(int64_t rows, bool training) {
  const int E = num_experts_, S = streams_;
  stats_.assign(2 * E + 2, 0.0);
  task_share_.assign(static_cast<size_t>(S) * E, 0.0);
  lse_.resize(z_loss_weight_ > 0.0f ? rows * S : 0);
  const float* p = probs_host_;
  for (int64_t i = 0; i < rows; ++i) {
    for (int s = 0; s < S; ++s) {
      for (int e = 0; e < E; ++e) {
        const int64_t k = (i * S + s) * E + e;
        stats_[e] += chosen_[k];
        task_share_[s * E + e] += chosen_[k];
        stats_[E + e] += p[k];
      }
      if (z_loss_weight_ > 0.0f) {
        // log-sum-exp of the router logits.
        const float* z = logits_host_ + (i * S + s) * E;
        const float m = *std::max_element(z, z + E);
        double sum = 0.0;
        for (int e = 0; e < E; ++e) sum += std::exp(static_cast<double>(z[e] - m));
        const double lse = m + std::log(sum);
        lse_[i * S + s] = lse;
        stats_[2 * E + 1] += lse * lse;
      }
    }
  }
  stats_[2 * E] = static_cast<double>(rows) * S;
  const double local_rows = stats_[2 * E], local_z = stats_[2 * E + 1];
  aux_loss_ = 0.0;
  if (training && routing_ != Routing::DENSE) {
    // Every worker adds its share; the all-reduce makes f, p and N the cluster's.
    CheckDispatch(workers_->AllReduceSum(stats_.data(), static_cast<int64_t>(stats_.size())));
  }
  const double n = stats_[2 * E];
  if (!training || routing_ == Routing::DENSE || n <= 0.0) return;
  double lb = 0.0;
  for (int e = 0; e < E; ++e) lb += (stats_[e] / n) * (stats_[E + e] / n);
  lb *= static_cast<double>(balance_weight_) * E / k_;
  // This worker's share of the global terms, so that the workers' losses sum to them.
  aux_loss_ = lb * local_rows / n + z_loss_weight_ * local_z / n;
}

void SparseMoeModel::SpreadForward(int64_t rows) {
  const int E = num_experts_;
  const int64_t O = bank_.output_dim();
  // Bag (i, e) holds assignment slot_[i, e], or nothing (a zero row) where e does not run.
  const int64_t bags = rows * E;
  std::vector<uint32_t> offsets(bags + 1, 0);
  std::vector<int32_t> index;
  for (int64_t k = 0; k < bags; ++k) {
    if (slot_[k] >= 0) index.push_back(slot_[k]);
    offsets[k + 1] = static_cast<uint32_t>(index.size());
  }
  Tensor host({bags + 1 + static_cast<int64_t>(index.size())}, nullptr);
  std::memcpy(host.data(), offsets.data(), offsets.size() * sizeof(uint32_t));
  std::memcpy(host.data() + bags + 1, index.data(), index.size() * sizeof(int32_t));
  slot_index_ = host;  // copy assignment: to the device, bit for bit
  spread_.Resize({rows, E * O});
  const MatView spread{spread_.data(), bags, O, O, spread_.gpu()};
  if (index.empty()) {
    spread_.Zero();
    return;
  }
  EmbeddingBagForward(y_.view(), reinterpret_cast<const uint32_t*>(slot_index_.data()),
                      reinterpret_cast<const int32_t*>(slot_index_.data() + bags + 1),
                      PoolingMode::kSum, spread);
}

void SparseMoeModel::SpreadBackward(int64_t rows) {
  const int E = num_experts_;
  const int64_t O = bank_.output_dim();
  const int64_t bags = rows * E;
  dspread_.Resize({rows, E * O});
  GatedMixBackward(spread_.view(), weights_.view(), dmix_.view(), E, dspread_.view(),
                   dweights_.view());
  dy_.Zero();
  if (dy_.rows() == 0 || dy_.size() == 0) return;
  EmbeddingBagBackward(ConstMatView(dspread_.data(), bags, O, O, dspread_.gpu()),
                       reinterpret_cast<const uint32_t*>(slot_index_.data()),
                       reinterpret_cast<const int32_t*>(slot_index_.data() + bags + 1),
                       PoolingMode::kSum, dy_.view());
}

void SparseMoeModel::Forward(const ModelBatch& batch, MatView logits) {
  CheckModelBatch(batch, shape_, logits.rows, logits.cols);
  domain_begin_ = batch.domain_begin;
  const int64_t B = batch.size;
  const int E = num_experts_, S = streams_;
  const int64_t H = router_->value.dim(0);
  const int64_t width = static_cast<int64_t>(S) * E;
  if (B > 0) {
    x_ = input_.Forward(batch.features, batch.domain_begin);
    h_ = has_encoder_
             ? encoder_.Forward(x_, batch.training, HashCombine(batch.seed, 1), &encoder_cache_)
             : x_;
    logits_r_.Resize({B, width});
    Gemm(false, false, 1.0f, h_, router_->value.view(), 0.0f, logits_r_.view());
    if (batch.training && router_noise_ > 0.0f) {
      // The noise is drawn on the host: device logits come over and go back.
      Tensor& noisy = logits_r_.on_gpu() ? logits_staging_ : logits_r_;
      if (&noisy != &logits_r_) noisy = logits_r_.To(nullptr);
      float* z = noisy.data();
      const uint64_t seed = HashCombine(batch.seed, 3);
      for (int64_t k = 0; k < B * width; ++k) {
        z[k] += router_noise_ * static_cast<float>(HashToNormal(HashCombine(seed, k)));
      }
      if (&noisy != &logits_r_) logits_r_ = noisy;  // copy assignment: to the device
    }
    probs_.Resize({B, width});
    SoftmaxForward(ConstMatView(logits_r_.data(), B * S, E, E, logits_r_.gpu()),
                   MatView{probs_.data(), B * S, E, E, probs_.gpu()});
  } else {
    h_ = ConstMatView(nullptr, 0, H, H, logits.gpu);
    probs_.Resize({0, width});
    logits_r_.Resize({0, width});
  }
  probs_host_ = OnHost(probs_, &probs_staging_).data();
  logits_host_ =
      z_loss_weight_ > 0.0f ? OnHost(logits_r_, &logits_staging_).data() : logits_r_.data();
  Clock::time_point t0 = Clock::now();
  Route(B);
  CapacityDrop(B);
  GlobalStatistics(B, batch.training);
  route_seconds_ += Seconds(t0);
  // Assignments by expert.
  expert_begin_.assign(E + 1, 0);
  slot_.assign(B * E, -1);
  for (int64_t i = 0; i < B; ++i) {
    for (int e = 0; e < E; ++e) expert_begin_[e + 1] += active_[i * E + e];
  }
  for (int e = 0; e < E; ++e) expert_begin_[e + 1] += expert_begin_[e];
  rows_.resize(expert_begin_[E]);
  {
    std::vector<int64_t> at(expert_begin_.begin(), expert_begin_.end() - 1);
    for (int64_t i = 0; i < B; ++i) {
      for (int e = 0; e < E; ++e) {
        if (!active_[i * E + e]) continue;
        slot_[i * E + e] = static_cast<int32_t>(at[e]);
        rows_[at[e]++] = static_cast<int32_t>(i);
      }
    }
  }
  CheckDispatch(dispatch_->Plan(expert_begin_, rows_));
  CheckDispatch(dispatch_->Dispatch(h_, &local_in_));
  t0 = Clock::now();
  local_out_ = bank_.Forward(local_in_.view(), dispatch_->local_begin());
  expert_seconds_ += Seconds(t0);
  CheckDispatch(dispatch_->Combine(local_out_, &y_));
  if (B == 0) return;
  const int64_t O = bank_.output_dim();
  mix_.Resize({B, S * O});
  if (mix_.on_gpu()) {
    SpreadForward(B);
    GatedMixForward(spread_.view(), weights_.view(), E, mix_.view());
  } else {
    const float* w = weights_.data();
    ParallelFor(B, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t i = r0; i < r1; ++i) {
        float* m = mix_.view().row(i);
        std::fill(m, m + S * O, 0.0f);
        for (int e = 0; e < E; ++e) {
          const int32_t a = slot_[i * E + e];
          if (a < 0) continue;
          const float* y = y_.view().row(a);
          for (int s = 0; s < S; ++s) {
            const float g = w[(i * S + s) * E + e];
            if (g == 0.0f) continue;
            float* ms = m + s * O;
            for (int64_t j = 0; j < O; ++j) ms[j] += g * y[j];
          }
        }
      }
    });
  }
  towers_.Forward(mix_.view(), batch.domain_begin, batch.training, HashCombine(batch.seed, 2),
                  logits);
}

void SparseMoeModel::Backward(const ModelBatch& batch, ConstMatView dlogits, MatView dfeatures) {
  CheckModelBatch(batch, shape_, dlogits.rows, dlogits.cols);
  const int64_t B = batch.size;
  const int E = num_experts_, S = streams_;
  const int64_t O = bank_.output_dim();
  const int64_t H = router_->value.dim(0);
  dy_.Resize({dispatch_->num_assignments(), O});
  if (B > 0) {
    dmix_.ResizeLike(mix_);
    towers_.Backward(mix_.view(), batch.domain_begin, dlogits, dmix_.view());
    dweights_.Resize({B, static_cast<int64_t>(S) * E});
    if (dmix_.on_gpu()) {
      SpreadBackward(B);
    } else {
      const float* w = weights_.data();
      ParallelFor(B, 16, [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i) {
          const float* dm = dmix_.view().row(i);
          float* dw = dweights_.data() + i * S * E;
          std::fill(dw, dw + S * E, 0.0f);
          for (int e = 0; e < E; ++e) {
            const int32_t a = slot_[i * E + e];
            if (a < 0) continue;
            const float* y = y_.view().row(a);
            float* dy = dy_.view().row(a);
            std::fill(dy, dy + O, 0.0f);
            for (int s = 0; s < S; ++s) {
              const float g = w[(i * S + s) * E + e];
              const float* dms = dm + s * O;
              double dot = 0.0;
              for (int64_t j = 0; j < O; ++j) {
                dy[j] += g * dms[j];
                dot += static_cast<double>(dms[j]) * y[j];
              }
              dw[s * E + e] = static_cast<float>(dot);
            }
          }
        }
      });
    }
  }
  CheckDispatch(dispatch_->DispatchGrad(dy_.view(), &dlocal_out_));
  Clock::time_point t0 = Clock::now();
  bank_.Backward(dlocal_out_.view(), &dlocal_in_);
  expert_seconds_ += Seconds(t0);
  dh_.Resize({B, H});
  t0 = Clock::now();
  if (B > 0) {
    // Gate weights -> probabilities (through the renormalisation), plus the balance term, on
    // the host.
    Tensor& dprobs = dprobs_.on_gpu() ? dprobs_staging_ : dprobs_;
    dprobs.Resize({B, static_cast<int64_t>(S) * E});
    const bool renorm = normalize_ || routing_ == Routing::SMES;
    const double n = stats_[2 * E];
    const bool balance = batch.training && routing_ != Routing::DENSE && n > 0.0;
    std::vector<float> lb(E, 0.0f);
    if (balance) {
      for (int e = 0; e < E; ++e) {
        lb[e] =
            static_cast<float>(balance_weight_ * static_cast<double>(E) / k_ * (stats_[e] / n) / n);
      }
    }
    const float* w = weights_.on_gpu() ? weights_staging_.data() : weights_.data();
    const float* dw = OnHost(dweights_, &dweights_staging_).data();
    float* dp = dprobs.data();
    for (int64_t i = 0; i < B; ++i) {
      for (int s = 0; s < S; ++s) {
        const int64_t base = (i * S + s) * E;
        double g = 0.0;
        if (renorm) {
          for (int e = 0; e < E; ++e) {
            if (chosen_[base + e]) g += static_cast<double>(dw[base + e]) * w[base + e];
          }
        }
        const float z = norm_[i * S + s];
        for (int e = 0; e < E; ++e) {
          float v = 0.0f;
          if (chosen_[base + e]) {
            v = renorm ? static_cast<float>((dw[base + e] - g) / z) : dw[base + e];
          }
          dp[base + e] = v + lb[e];
        }
      }
    }
    // Probabilities -> router logits (the z-loss adds 2 lse p / N per logit).
    SoftmaxBackward(ConstMatView(probs_host_, B * S, E, E), ConstMatView(dp, B * S, E, E),
                    MatView{dp, B * S, E, E});
    if (batch.training && z_loss_weight_ > 0.0f && n > 0.0) {
      for (int64_t r = 0; r < B * S; ++r) {
        const double lse = lse_[r];
        for (int e = 0; e < E; ++e) {
          dp[r * E + e] +=
              static_cast<float>(z_loss_weight_ * 2.0 * lse * probs_host_[r * E + e] / n);
        }
      }
    }
    if (&dprobs != &dprobs_) dprobs_ = dprobs;  // copy assignment: to the device
    const ConstMatView dz(dprobs_.data(), B, static_cast<int64_t>(S) * E,
                          static_cast<int64_t>(S) * E, dprobs_.gpu());
    Gemm(true, false, 1.0f, h_, dz, 1.0f, router_->grad.view());
    Gemm(false, true, 1.0f, dz, router_->value.view(), 0.0f, dh_.view());
  }
  route_seconds_ += Seconds(t0);
  CheckDispatch(dispatch_->CombineGrad(dlocal_in_.view(), dh_.view()));
  if (B == 0) return;
  const MatView dx = input_.GradBuffer(B, dfeatures);
  if (has_encoder_) {
    encoder_.Backward(x_, dh_.view(), dx, 0.0f, &encoder_cache_);
  } else if (dx.data != nullptr) {
    CopyMat(dh_.view(), dx);
  }
  input_.Backward(batch.domain_begin, dfeatures);
}

std::vector<std::pair<std::string, double>> SparseMoeModel::Stats() const {
  std::vector<std::pair<std::string, double>> out;
  const int E = num_experts_, S = streams_;
  if (stats_.empty()) return out;
  double total = 0.0;
  for (int e = 0; e < E; ++e) total += stats_[e];
  if (total <= 0.0) return out;
  double mean = 0.0, max = 0.0, var = 0.0;
  for (int e = 0; e < E; ++e) {
    const double l = stats_[e] / total;
    out.emplace_back("expert_load." + std::to_string(e), l);
    mean += l / E;
    max = std::max(max, l);
  }
  for (int e = 0; e < E; ++e) var += (stats_[e] / total - mean) * (stats_[e] / total - mean) / E;
  out.emplace_back("expert_load_cv", std::sqrt(var) / mean);
  out.emplace_back("expert_load_max_mean", max / mean);
  const int64_t rows = static_cast<int64_t>(active_.size()) / E;
  if (rows > 0) {
    int64_t sum = 0, most = 0;
    for (int64_t i = 0; i < rows; ++i) {
      int64_t n = 0;
      for (int e = 0; e < E; ++e) n += active_[i * E + e];
      sum += n;
      most = std::max(most, n);
    }
    out.emplace_back("active_experts_mean", static_cast<double>(sum) / rows);
    out.emplace_back("active_experts_max", static_cast<double>(most));
  }
  if (routing_ == Routing::TOPK) out.emplace_back("tokens_dropped", static_cast<double>(dropped_));
  if (routing_ == Routing::SMES) {
    for (int s = 0; s < S; ++s) {
      double t = 0.0;
      for (int e = 0; e < E; ++e) t += task_share_[s * E + e];
      for (int e = 0; e < E; ++e) {
        out.emplace_back("expert_share." + std::to_string(s) + "." + std::to_string(e),
                         t > 0.0 ? task_share_[s * E + e] / t : 0.0);
      }
    }
  }
  if (probs_.ndim() == 2 && probs_.dim(0) > 0) {
    std::vector<ConstMatView> routers;
    for (int s = 0; s < S; ++s)
      routers.push_back(probs_.view().Cols(static_cast<int64_t>(s) * E, E));
    for (auto& load : DomainTaskLoadStats(routers, domain_begin_, shape_.num_tasks)) {
      out.push_back(std::move(load));
    }
  }
  return out;
}

}  // namespace moerec
