// SyntheticModel: the generative model behind `moerec gen` (see data/synthetic/synthetic.h for
// the model in words). It is fixed by a validated DataConfig and the number of training
// samples; AppendSample(i) is a pure function of (config, i), so samples can be generated in
// any order, on any number of threads, with identical results.
// Thread-safety: const after Create; AppendSample may run concurrently on different batches.
#ifndef MOEREC_DATA_SYNTHETIC_INTERNAL_SYNTHETIC_MODEL_H_
#define MOEREC_DATA_SYNTHETIC_INTERNAL_SYNTHETIC_MODEL_H_

#include <cstdint>
#include <vector>

#include "core/random.h"
#include "data/batch.h"
#include "data/synthetic/internal/generation.h"
#include "data/synthetic/internal/zipf.h"
#include "proto/config.pb.h"

namespace moerec {

class SyntheticModel {
 public:
  // `config` must have passed ValidateSyntheticConfig; `train_samples` sets the expected id
  // counts that shrink rare ids (an id seen n times in training keeps n / (n + kShrinkCount)
  // of its latent vector).
  SyntheticModel(const DataConfig& config, int64_t train_samples);

  // Appends sample `index` to *batch (layout: config's tasks, slots and dense, with truth).
  void AppendSample(uint64_t index, Batch* batch) const;

  // Expected share of samples in domain d.
  double domain_share(int d) const { return domains_.share(d); }
  // Intercept of task t, calibrated so that the task's mean true probability over the samples
  // where it is observed equals its base rate.
  double intercept(int t) const { return intercept_[t]; }
  const ZipfSampler& zipf() const { return zipf_; }

  static constexpr double kShrinkCount = 100.0;

 private:
  struct Draw;  // the random part of one sample
  Draw DrawSample(uint64_t index) const;
  // Latent logit of task t without the intercept (with the seesaw, mixed with task 0's).
  double LatentLogit(const Draw& draw, int t) const;
  // Task t's own part: slot projections, the interaction term, dense weights.
  double OwnLogit(const Draw& draw, int t) const;
  // The shrunk latent vector of id `id` of slot s, added (times `weight`) to out (L).
  void AddLatent(int slot, uint64_t id, double weight, double* out) const;
  bool Observed(int domain, int task, double u) const;
  void Calibrate();

  int num_domains_, num_tasks_, num_slots_, num_dense_, latent_dim_;
  uint64_t seed_;
  double signal_scale_, interaction_, presence_;
  double seesaw_ = 0;  // SyntheticConfig.seesaw_correlation
  int64_t num_users_;
  int max_multi_ids_;
  std::vector<double> base_rate_;  // (T)
  DomainSampler domains_;
  std::vector<uint64_t> table_key_;  // (S) latents are keyed by table, so shared tables agree
  std::vector<bool> multi_;          // (S) slot named "*_multi"
  std::vector<bool> mean_pool_;      // (S)
  int user_slot_ = -1;               // slot named "user_id": its id is the sample's user
  // Expected training count of id x of slot s: zipf_count_[s] * Pmf(x + 1), plus
  // user_count_[s] when x < num_users (summed over the slots that share s's table).
  std::vector<double> zipf_count_;          // (S)
  std::vector<double> user_count_;          // (S)
  int pair_a_ = -1, pair_b_ = -1;           // slots of the interaction term
  std::vector<double> projection_;          // (D, T, S, L)
  std::vector<double> interaction_matrix_;  // (T, L, L)
  std::vector<double> dense_weight_;        // (D, T, F)
  std::vector<double> domain_offset_;       // (D, T)
  std::vector<double> intercept_;           // (T)
  ZipfSampler zipf_;
};

}  // namespace moerec

#endif  // MOEREC_DATA_SYNTHETIC_INTERNAL_SYNTHETIC_MODEL_H_
