// MatchingModel: the generative model behind synthetic matching data (data/synthetic/matching.h
// states it in words). Every parameter is a pure function of the validated DataConfig, and
// DrawSample / AppendNegatives are pure functions of (config, sample index), so samples can be
// drawn in any order on any number of threads with identical results.
// Memory: the item matrix (N, L + 1) floats and the categories (N); user latents are computed
// on demand. Thread-safety: const after construction.
#ifndef MOEREC_DATA_SYNTHETIC_INTERNAL_MATCHING_MODEL_H_
#define MOEREC_DATA_SYNTHETIC_INTERNAL_MATCHING_MODEL_H_

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "data/synthetic/internal/generation.h"
#include "data/synthetic/internal/zipf.h"
#include "proto/config.pb.h"

namespace moerec {

class MatchingModel {
 public:
  // Share of a user latent's variance that comes from its group centroid.
  static constexpr double kGroupShare = 0.5;

  // `config` must have passed ValidateMatchingConfig.
  explicit MatchingModel(const DataConfig& config);

  int latent_dim() const { return latent_dim_; }
  int num_scenarios() const { return scenarios_.num_domains(); }
  int64_t num_items() const { return num_items_; }
  int64_t num_users() const { return num_users_; }
  const DomainSampler& scenarios() const { return scenarios_; }
  const ZipfSampler& popularity() const { return popularity_; }

  // (N, L + 1) row-major: item i's latent v_i, then log pop_i. With query rows from QueryRow,
  // queries · item_matrix^T are the scores whose row softmax is p(i | u, s).
  ConstMatView item_matrix() const {
    return ConstMatView(items_.data(), num_items_, latent_dim_ + 1, latent_dim_ + 1);
  }
  int item_category(int64_t i) const { return category_[i]; }
  int user_group(uint64_t u) const;
  // a_us: (L).
  void UserLatent(uint64_t u, int s, double* out) const;
  // (relevance_scale · a_us, popularity_weight): (L + 1), the query of (u, s) in the scores.
  void QueryRow(uint64_t u, int s, float* out) const;

  struct Draw {
    int scenario = 0;
    uint64_t user = 0;
    double item_uniform = 0;  // in [0, 1): the item is the inverse CDF of p(. | u, s) there
  };
  Draw DrawSample(uint64_t index) const;
  // Appends the items of sample `index`'s `count` negatives, drawn by popularity.
  void AppendNegatives(uint64_t index, int count, std::vector<int64_t>* items) const;

 private:
  // Unit-variance Gaussian vector (L) from a hash key, times `scale`, added to out.
  void AddNormal(uint64_t key, double scale, double* out) const;

  int latent_dim_;
  int64_t num_items_, num_users_;
  uint64_t seed_;
  int user_groups_;
  double relevance_scale_, popularity_weight_, specificity_;
  DomainSampler scenarios_;
  ZipfSampler popularity_;         // ranks 1..N: item = rank - 1
  std::vector<float> items_;       // (N, L + 1)
  std::vector<int32_t> category_;  // (N)
  std::vector<double> rotation_;   // (D, L, L): R_s, entries N(0, 1 / L)
};

}  // namespace moerec

#endif  // MOEREC_DATA_SYNTHETIC_INTERNAL_MATCHING_MODEL_H_
