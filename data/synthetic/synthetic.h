// Synthetic multi-domain, multi-task data with known ground truth (`moerec gen`, DESIGN.md §4).
// Every sample stores the true probability of each of its labels (has_truth shards), so the
// oracle AUC is known and a model's gap to it can be measured. (With `synthetic.matching` set
// the config asks for matching data instead: data/synthetic/matching.h.)
//
// The generative model (L = latent_dim, S slots, F dense features; every parameter is drawn
// from `synthetic.seed`):
// - Domain d ~ Categorical(p_d ∝ (d + 1)^-domain_skew): the last domain is the smallest (the
//   tail). User ~ Uniform[0, num_users): Batch::user, the GAUC group.
// - Slot ids: one id per slot, 1..ids_per_multi_slot (uniform) for slots named "*_multi"; id =
//   rank - 1 with rank ~ Zipf(zipf_exponent) over [1, vocab_size], so id 0 is the most frequent.
//   A slot named "user_id" holds the sample's user instead (one id).
// - Each (table, id) has a latent vector v = c · g, g ~ N(0, I / L) drawn from a hash of
//   (seed, table, id); slots sharing a table share latents. c = n / (n + 100) shrinks rare ids:
//   n is the id's expected number of occurrences in the training split, so the signal sits on
//   ids that a model sees often enough to learn (a user with 30 training samples keeps about a
//   quarter of its latent). A slot's ids pool (sum or mean, as the slot's pooling) into p_s.
// - True logit of task t for a sample of domain d:
//     z = b_t + o_dt + signal_scale · ( Σ_s <w_dts, p_s> / √S
//                                       + interaction · p_A^T M_t p_B
//                                       + 0.5 · <u_dt, x> / √F )
//   w_dts = (w_ts + ρ h_ds) / √(1 + ρ²), ρ = domain_specificity: a part shared by all domains
//   and a domain-specific part that the domain's tasks share; w_ts = (w_s + e_ts) / √2 shares
//   half its variance across tasks. M_t (L x L) couples a user-side slot A with an item-side
//   slot B (else the first two slots; never user_id). x ~ N(0, I_F) are the dense features;
//   u_dt is built like w_dts. w, e, h, M, u are standard normal. o_dt ~ N(0, (0.3 ρ)²) shifts
//   each (domain, task). b_t is calibrated so that task t's mean true probability, over the
//   samples where it is observed, is task_base_rate[t].
// - Labels: y_t ~ Bernoulli(σ(z)); truth = σ(z). Task 0 is always observed; task t >= 1 is
//   observed with probability task_presence, and never in the tail domain when
//   task_presence < 1 (and num_domains > 1). Unobserved labels are 0 with mask 0.
// - Seesaw (seesaw_correlation c > 0): the latent logit of task t >= 1 becomes
//   s_d c z_0 + sqrt(1 - c^2) z_t, with s_d = +1 in even domains and -1 in odd ones, so the
//   tasks agree in some domains and conflict in others. tail_share fixes the tail domain's
//   share of the samples (the others keep domain_skew's proportions).
// A model with per-id embeddings (dim >= L), heads that see the domain (towers or gates per
// (domain, task), or a domain embedding) and some capacity for one product of two slots can
// represent the truth exactly. How close it gets is a matter of data per id: per-id
// estimation noise grows with vocab_size / training samples, and an id-per-user slot is mostly
// noise to a learner (it memorises users). Measured with a small MMoE (embedding dim 16, a
// domain embedding of 8, 4 experts [64, 32], towers [32] per (domain, task), Adagrad 0.05 on
// rows, Adam 1e-3 on dense, batch 512) trained 2-3 epochs on 160k samples of 3 domains,
// 2 tasks at rates 0.2 / 0.1, 6 slots (no user_id) and 4 dense: with vocab_size 500,
// domain_specificity 0.5 and interaction 0.3 (the config.proto defaults) its mean test AUC is
// 0.014-0.017 below the oracle (0.88); with vocab 2000, specificity 0.7 and interaction 0.5 it
// is 0.03-0.04 below.
//
// Samples are a pure function of (config, sample index): output is identical for any thread
// count. Samples [0, n_train) go to train, the next n_validation to validation, the rest to
// test (samples are i.i.d., so this is a random split). Each split is written as
// part-00000.mrs, part-00001.mrs, ... (samples_per_shard each) in its directory, which is
// created if needed; stale part-*.mrs files there are removed first.
// Thread-safety: GenerateSynthetic uses the compute thread pool (core/parallel.h).
#ifndef MOEREC_DATA_SYNTHETIC_SYNTHETIC_H_
#define MOEREC_DATA_SYNTHETIC_SYNTHETIC_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/status.h"
#include "proto/config.pb.h"

namespace moerec {

struct SyntheticOutputs {
  std::string train_dir;
  std::string validation_dir;
  std::string test_dir;
};

struct SyntheticSplitSummary {
  std::string name;  // "train", "validation", "test"
  std::string dir;
  int64_t samples = 0;
  int shards = 0;
  std::vector<int64_t> domain_samples;  // (D)
  std::vector<int64_t> task_observed;   // (T) observed labels
  std::vector<double> task_pos_rate;    // (T) positives / observed; NaN when none observed
};

struct SyntheticSummary {
  std::vector<SyntheticSplitSummary> splits;  // train, validation, test
  std::vector<double> domain_share;           // (D) expected share of each domain
  std::vector<double> task_intercept;         // (T) calibrated b_t
  double zipf_head_share = 0;                 // P(id 0) of a Zipf slot
};

// Checks what the generator needs of `config`: num_domains, num_tasks >= 1, names, slots, and
// every `synthetic` field (ranges in config.proto). InvalidArgument naming the field. With
// `synthetic.matching` set: ValidateMatchingConfig (matching.h).
Status ValidateSyntheticConfig(const DataConfig& config);

// The output directories of a config whose train, validation and test lists each hold one
// directory (paths already resolved by the caller). InvalidArgument otherwise.
StatusOr<SyntheticOutputs> SyntheticOutputsFromConfig(const DataConfig& config);

// Generates config.synthetic().num_samples samples and writes the three splits.
// InvalidArgument for a config with `synthetic.matching` (GenerateMatching writes that).
// `progress`, when given, is called with the samples written so far and the total, after each
// shard's samples are made (from the compute threads, one call at a time).
using RowProgress = std::function<void(int64_t done, int64_t total)>;
StatusOr<SyntheticSummary> GenerateSynthetic(const DataConfig& config,
                                             const SyntheticOutputs& outputs,
                                             const RowProgress& progress = nullptr);

// A few lines for the log: counts per split and domain, positive rate per task. Ends with a
// newline. (The oracle AUC of the written splits: worker/metrics/oracle.h.)
std::string FormatSyntheticSummary(const DataConfig& config, const SyntheticSummary& summary);

}  // namespace moerec

#endif  // MOEREC_DATA_SYNTHETIC_SYNTHETIC_H_
