#include "data/synthetic/internal/synthetic_model.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace moerec {
namespace {

constexpr double kDenseWeight = 0.5;   // dense part of the logit, relative to the slots
constexpr double kTaskSharing = 0.5;   // variance share of a slot's projection common to tasks
constexpr double kDomainOffset = 0.3;  // sd of the per-(domain, task) logit offset, times ρ
constexpr int kCalibrationSamples = 16384;
constexpr uint64_t kParamTag = 0x70617261ULL;  // streams: parameters, calibration, samples
constexpr uint64_t kCalibrationTag = 0x63616c69ULL;
constexpr uint64_t kSampleTag = 0x73616d70ULL;

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace

struct SyntheticModel::Draw {
  int domain = 0;
  uint64_t user = 0;
  std::vector<std::vector<uint64_t>> ids;  // (S) ids of each slot
  std::vector<double> pooled;              // (S, L) pooled shrunk latents
  std::vector<double> dense;               // (F)
  std::vector<double> uniforms;            // (2 T) observation and label draws
};

SyntheticModel::SyntheticModel(const DataConfig& config, int64_t train_samples)
    : domains_(config), zipf_(config.synthetic().vocab_size(), config.synthetic().zipf_exponent()) {
  const SyntheticConfig& sc = config.synthetic();
  num_domains_ = config.num_domains();
  num_tasks_ = config.num_tasks();
  num_slots_ = config.slots_size();
  num_dense_ = config.num_dense();
  latent_dim_ = sc.latent_dim();
  seed_ = sc.seed();
  signal_scale_ = sc.signal_scale();
  interaction_ = sc.interaction();
  presence_ = sc.task_presence();
  seesaw_ = sc.seesaw_correlation();
  num_users_ = sc.num_users();
  max_multi_ids_ = sc.ids_per_multi_slot();
  for (int t = 0; t < num_tasks_; ++t) {
    base_rate_.push_back(sc.task_base_rate_size() > 0 ? sc.task_base_rate(t) : 0.2);
  }
  // Slots, and the expected training counts behind the shrinkage of rare ids.
  std::vector<double> mean_ids(num_slots_);
  for (int s = 0; s < num_slots_; ++s) {
    const SlotSpec& slot = config.slots(s);
    const std::string table = slot.has_table() ? slot.table() : slot.name();
    table_key_.push_back(HashCombine(seed_, Fnv1a(table)));
    multi_.push_back(EndsWith(slot.name(), "_multi"));
    mean_pool_.push_back(slot.pooling() == POOLING_MEAN);
    if (slot.name() == "user_id" && user_slot_ < 0) user_slot_ = s;
    mean_ids[s] = multi_[s] ? (1.0 + max_multi_ids_) / 2 : 1.0;
  }
  zipf_count_.assign(num_slots_, 0.0);
  user_count_.assign(num_slots_, 0.0);
  for (int s = 0; s < num_slots_; ++s) {
    for (int o = 0; o < num_slots_; ++o) {
      if (table_key_[o] != table_key_[s]) continue;
      if (o == user_slot_) {
        user_count_[s] += static_cast<double>(train_samples) / num_users_;
      } else {
        zipf_count_[s] += static_cast<double>(train_samples) * mean_ids[o];
      }
    }
  }
  // The interaction pairs a user-side slot with an item-side one (else the first two slots),
  // never the user id itself: too few samples per user to learn a product of latents.
  std::vector<int> candidates;
  for (int s = 0; s < num_slots_; ++s) {
    if (s != user_slot_) candidates.push_back(s);
  }
  if (candidates.size() >= 2) {
    const auto first_on = [&](Side side, int skip) {
      for (int s : candidates) {
        if (config.slots(s).side() == side && s != skip) return s;
      }
      return -1;
    };
    pair_a_ = first_on(SIDE_USER, -1);
    if (pair_a_ < 0) pair_a_ = candidates[0];
    pair_b_ = first_on(SIDE_ITEM, pair_a_);
    if (pair_b_ < 0) pair_b_ = candidates[0] != pair_a_ ? candidates[0] : candidates[1];
  }

  // Parameters: slot projections (shared by tasks in part, then shared + domain-specific),
  // interaction matrices, dense weights, domain offsets.
  Rng rng(HashCombine(seed_, kParamTag));
  const int L = latent_dim_;
  const double rho = sc.domain_specificity();
  std::vector<double> common(num_slots_ * L);
  for (double& v : common) v = rng.Normal();
  std::vector<double> task_part(num_tasks_ * num_slots_ * L);
  for (int t = 0; t < num_tasks_; ++t) {
    for (int k = 0; k < num_slots_ * L; ++k) {
      task_part[t * num_slots_ * L + k] =
          std::sqrt(kTaskSharing) * common[k] + std::sqrt(1 - kTaskSharing) * rng.Normal();
    }
  }
  // The domain-specific part belongs to the domain and is shared by its tasks, so a small
  // domain's sparse tasks can learn it from its denser ones.
  const double norm = 1.0 / std::sqrt(1.0 + rho * rho);
  projection_.resize(static_cast<size_t>(num_domains_) * num_tasks_ * num_slots_ * L);
  std::vector<double> domain_part(num_slots_ * L);
  for (int d = 0; d < num_domains_; ++d) {
    for (double& v : domain_part) v = rng.Normal();
    for (int t = 0; t < num_tasks_; ++t) {
      for (int k = 0; k < num_slots_ * L; ++k) {
        projection_[(d * num_tasks_ + t) * num_slots_ * L + k] =
            norm * (task_part[t * num_slots_ * L + k] + rho * domain_part[k]);
      }
    }
  }
  interaction_matrix_.resize(num_tasks_ * L * L);
  for (double& v : interaction_matrix_) v = rng.Normal();
  std::vector<double> dense_common(num_dense_);
  for (double& v : dense_common) v = rng.Normal();
  dense_weight_.resize(num_domains_ * num_tasks_ * num_dense_);
  for (int dt = 0; dt < num_domains_ * num_tasks_; ++dt) {
    for (int f = 0; f < num_dense_; ++f) {
      dense_weight_[dt * num_dense_ + f] = norm * (dense_common[f] + rho * rng.Normal());
    }
  }
  domain_offset_.resize(num_domains_ * num_tasks_);
  for (double& v : domain_offset_) v = kDomainOffset * rho * rng.Normal();
  Calibrate();
}

void SyntheticModel::AddLatent(int slot, uint64_t id, double weight, double* out) const {
  double count = zipf_count_[slot] * zipf_.Pmf(id + 1);
  if (static_cast<int64_t>(id) < num_users_) count += user_count_[slot];
  const double shrink = count / (count + kShrinkCount);
  const double scale = weight * shrink / std::sqrt(static_cast<double>(latent_dim_));
  const uint64_t key = HashCombine(table_key_[slot], id);
  for (int l = 0; l < latent_dim_; ++l) out[l] += scale * HashToNormal(HashCombine(key, l));
}

SyntheticModel::Draw SyntheticModel::DrawSample(uint64_t index) const {
  Rng rng(index);
  Draw draw;
  draw.domain = domains_.Draw(rng.Uniform());
  draw.user = rng.Below(num_users_);
  draw.ids.resize(num_slots_);
  draw.pooled.assign(num_slots_ * latent_dim_, 0.0);
  for (int s = 0; s < num_slots_; ++s) {
    std::vector<uint64_t>& ids = draw.ids[s];
    if (s == user_slot_) {
      ids.push_back(draw.user);
    } else {
      const int k = multi_[s] ? 1 + static_cast<int>(rng.Below(max_multi_ids_)) : 1;
      for (int j = 0; j < k; ++j) ids.push_back(zipf_.Sample(&rng) - 1);
    }
    const double weight = mean_pool_[s] ? 1.0 / ids.size() : 1.0;
    for (uint64_t id : ids) AddLatent(s, id, weight, &draw.pooled[s * latent_dim_]);
  }
  draw.dense.resize(num_dense_);
  for (double& x : draw.dense) x = rng.Normal();
  draw.uniforms.resize(2 * num_tasks_);
  for (double& x : draw.uniforms) x = rng.Uniform();
  return draw;
}

double SyntheticModel::OwnLogit(const Draw& draw, int t) const {
  const int L = latent_dim_;
  const int dt = draw.domain * num_tasks_ + t;
  double z = 0;
  if (num_slots_ > 0) {
    const double* w = &projection_[static_cast<size_t>(dt) * num_slots_ * L];
    double sum = 0;
    for (int k = 0; k < num_slots_ * L; ++k) sum += w[k] * draw.pooled[k];
    z += sum / std::sqrt(static_cast<double>(num_slots_));
  }
  if (pair_a_ >= 0 && interaction_ > 0) {
    const double* a = &draw.pooled[pair_a_ * L];
    const double* b = &draw.pooled[pair_b_ * L];
    const double* m = &interaction_matrix_[t * L * L];
    double sum = 0;
    for (int j = 0; j < L; ++j) {
      for (int k = 0; k < L; ++k) sum += a[j] * m[j * L + k] * b[k];
    }
    z += interaction_ * sum;
  }
  if (num_dense_ > 0) {
    double sum = 0;
    for (int f = 0; f < num_dense_; ++f) sum += dense_weight_[dt * num_dense_ + f] * draw.dense[f];
    z += kDenseWeight * sum / std::sqrt(static_cast<double>(num_dense_));
  }
  return signal_scale_ * z;
}

double SyntheticModel::LatentLogit(const Draw& draw, int t) const {
  const double offset = domain_offset_[draw.domain * num_tasks_ + t];
  if (seesaw_ == 0 || t == 0) return OwnLogit(draw, t) + offset;
  const double sign = draw.domain % 2 == 0 ? 1.0 : -1.0;
  return sign * seesaw_ * OwnLogit(draw, 0) + std::sqrt(1 - seesaw_ * seesaw_) * OwnLogit(draw, t) +
         offset;
}

bool SyntheticModel::Observed(int domain, int task, double u) const {
  if (task == 0) return true;
  if (presence_ < 1.0 && num_domains_ > 1 && domain == num_domains_ - 1) return false;
  return u < presence_;
}

void SyntheticModel::Calibrate() {
  std::vector<int> domain(kCalibrationSamples);
  std::vector<double> logit(static_cast<size_t>(kCalibrationSamples) * num_tasks_);
  for (int i = 0; i < kCalibrationSamples; ++i) {
    const Draw draw = DrawSample(HashCombine(HashCombine(seed_, kCalibrationTag), i));
    domain[i] = draw.domain;
    for (int t = 0; t < num_tasks_; ++t) logit[i * num_tasks_ + t] = LatentLogit(draw, t);
  }
  intercept_.resize(num_tasks_);
  for (int t = 0; t < num_tasks_; ++t) {
    // Weight = probability that the task is observed in the sample's domain.
    std::vector<double> weight(kCalibrationSamples);
    double total = 0;
    for (int i = 0; i < kCalibrationSamples; ++i) {
      weight[i] = t == 0 ? 1.0 : (Observed(domain[i], t, 0.0) ? 1.0 : 0.0);
      total += weight[i];
    }
    if (total == 0) {
      std::fill(weight.begin(), weight.end(), 1.0);
      total = kCalibrationSamples;
    }
    // The mean probability rises with the intercept: bisect.
    double lo = -40, hi = 40;
    for (int it = 0; it < 80; ++it) {
      const double mid = (lo + hi) / 2;
      double mean = 0;
      for (int i = 0; i < kCalibrationSamples; ++i) {
        mean += weight[i] * Sigmoid(mid + logit[i * num_tasks_ + t]);
      }
      (mean / total < base_rate_[t] ? lo : hi) = mid;
    }
    intercept_[t] = (lo + hi) / 2;
  }
}

void SyntheticModel::AppendSample(uint64_t index, Batch* batch) const {
  const Draw draw = DrawSample(HashCombine(HashCombine(seed_, kSampleTag), index));
  batch->domain.push_back(draw.domain);
  batch->user.push_back(draw.user);
  for (int t = 0; t < num_tasks_; ++t) {
    const double p = Sigmoid(intercept_[t] + LatentLogit(draw, t));
    const bool observed = Observed(draw.domain, t, draw.uniforms[2 * t]);
    batch->labels.push_back(observed && draw.uniforms[2 * t + 1] < p ? 1.0f : 0.0f);
    batch->label_mask.push_back(observed ? 1 : 0);
    batch->truth.push_back(static_cast<float>(p));
  }
  for (double x : draw.dense) batch->dense.push_back(static_cast<float>(x));
  for (int s = 0; s < num_slots_; ++s) {
    batch->ids[s].insert(batch->ids[s].end(), draw.ids[s].begin(), draw.ids[s].end());
    batch->offsets[s].push_back(static_cast<uint32_t>(batch->ids[s].size()));
  }
  ++batch->size;
}

}  // namespace moerec
