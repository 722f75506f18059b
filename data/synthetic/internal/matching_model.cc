#include "data/synthetic/internal/matching_model.h"

#include <cmath>
#include <limits>

#include "core/parallel.h"
#include "core/random.h"

namespace moerec {
namespace {

// Streams of the hash: item latents, category centroids, group centroids, user noise, the
// group of a user, the scenario matrices, samples, negatives.
constexpr uint64_t kItemTag = 0x6974656dULL;
constexpr uint64_t kCentroidTag = 0x63656e74ULL;
constexpr uint64_t kGroupTag = 0x67727570ULL;
constexpr uint64_t kUserTag = 0x75736572ULL;
constexpr uint64_t kGroupOfUserTag = 0x676f6675ULL;
constexpr uint64_t kScenarioTag = 0x7363656eULL;
constexpr uint64_t kSampleTag = 0x6d736d70ULL;
constexpr uint64_t kNegativeTag = 0x6e656761ULL;

}  // namespace

MatchingModel::MatchingModel(const DataConfig& config)
    : scenarios_(config),
      popularity_(config.synthetic().matching().num_items(),
                  config.synthetic().matching().item_zipf()) {
  const SyntheticConfig& sc = config.synthetic();
  const SyntheticMatchingConfig& mc = sc.matching();
  latent_dim_ = sc.latent_dim();
  num_items_ = mc.num_items();
  num_users_ = sc.num_users();
  seed_ = sc.seed();
  user_groups_ = mc.user_groups();
  relevance_scale_ = mc.relevance_scale();
  popularity_weight_ = mc.popularity_weight();
  specificity_ = mc.scenario_specificity();
  const int L = latent_dim_;
  const double item_scale = 1.0 / std::sqrt(static_cast<double>(L));

  std::vector<double> centroids(static_cast<size_t>(mc.item_categories()) * L, 0.0);
  for (int k = 0; k < mc.item_categories(); ++k) {
    AddNormal(HashCombine(HashCombine(seed_, kCentroidTag), k), item_scale, &centroids[k * L]);
  }
  items_.resize(static_cast<size_t>(num_items_) * (L + 1));
  category_.resize(num_items_);
  ParallelFor(num_items_, 1024, [&](int64_t begin, int64_t end) {
    std::vector<double> v(L);
    for (int64_t i = begin; i < end; ++i) {
      std::fill(v.begin(), v.end(), 0.0);
      AddNormal(HashCombine(HashCombine(seed_, kItemTag), i), item_scale, v.data());
      float* row = &items_[i * (L + 1)];
      for (int l = 0; l < L; ++l) row[l] = static_cast<float>(v[l]);
      row[L] = static_cast<float>(std::log(popularity_.Pmf(i + 1)));
      // The nearest centroid (the lower index on a tie).
      double best = std::numeric_limits<double>::infinity();
      for (int k = 0; k < mc.item_categories(); ++k) {
        double d2 = 0;
        for (int l = 0; l < L; ++l)
          d2 += (v[l] - centroids[k * L + l]) * (v[l] - centroids[k * L + l]);
        if (d2 < best) {
          best = d2;
          category_[i] = k;
        }
      }
    }
  });

  Rng rng(HashCombine(seed_, kScenarioTag));
  rotation_.resize(static_cast<size_t>(num_scenarios()) * L * L);
  for (double& r : rotation_) r = rng.Normal() * item_scale;
}

void MatchingModel::AddNormal(uint64_t key, double scale, double* out) const {
  for (int l = 0; l < latent_dim_; ++l) out[l] += scale * HashToNormal(HashCombine(key, l));
}

int MatchingModel::user_group(uint64_t u) const {
  return static_cast<int>(HashCombine(HashCombine(seed_, kGroupOfUserTag), u) % user_groups_);
}

void MatchingModel::UserLatent(uint64_t u, int s, double* out) const {
  const int L = latent_dim_;
  std::vector<double> a(L, 0.0);
  AddNormal(HashCombine(HashCombine(seed_, kGroupTag), user_group(u)), std::sqrt(kGroupShare),
            a.data());
  AddNormal(HashCombine(HashCombine(seed_, kUserTag), u), std::sqrt(1 - kGroupShare), a.data());
  const double* r = &rotation_[static_cast<size_t>(s) * L * L];
  const double norm = 1.0 / std::sqrt(1.0 + specificity_ * specificity_);
  for (int j = 0; j < L; ++j) {
    double ra = 0;
    for (int k = 0; k < L; ++k) ra += r[j * L + k] * a[k];
    out[j] = norm * (a[j] + specificity_ * ra);
  }
}

void MatchingModel::QueryRow(uint64_t u, int s, float* out) const {
  std::vector<double> a(latent_dim_);
  UserLatent(u, s, a.data());
  for (int l = 0; l < latent_dim_; ++l) out[l] = static_cast<float>(relevance_scale_ * a[l]);
  out[latent_dim_] = static_cast<float>(popularity_weight_);
}

MatchingModel::Draw MatchingModel::DrawSample(uint64_t index) const {
  Rng rng(HashCombine(HashCombine(seed_, kSampleTag), index));
  Draw draw;
  draw.scenario = scenarios_.Draw(rng.Uniform());
  draw.user = rng.Below(num_users_);
  draw.item_uniform = rng.Uniform();
  return draw;
}

void MatchingModel::AppendNegatives(uint64_t index, int count, std::vector<int64_t>* items) const {
  Rng rng(HashCombine(HashCombine(seed_, kNegativeTag), index));
  for (int k = 0; k < count; ++k) {
    items->push_back(static_cast<int64_t>(popularity_.Sample(&rng)) - 1);
  }
}

}  // namespace moerec
