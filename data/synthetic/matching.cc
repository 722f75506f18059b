#include "data/synthetic/matching.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "core/file_util.h"
#include "core/linear.h"
#include "core/parallel.h"
#include "core/softmax.h"
#include "data/synthetic/internal/generation.h"
#include "data/synthetic/internal/matching_model.h"

namespace moerec {
namespace {

// Score buffer of one GEMM: up to kMaxPairBlock pairs of N floats, at most about kScoreFloats
// floats (32 MiB) per thread. The block depends on N only, so the output does not depend on
// the thread count.
constexpr int64_t kMaxPairBlock = 64;
constexpr int64_t kScoreFloats = int64_t{1} << 23;
constexpr int64_t kItemBlock = 64;  // items per CDF block
constexpr int kDefaultOracleK = 50;
constexpr int64_t kMaxUsers = int64_t{1} << 40;

enum class SlotKind { kUserId, kUserGroup, kItemId, kItemCategory };

struct KnownSlot {
  const char* name;
  SlotKind kind;
  Side side;
};

constexpr KnownSlot kKnownSlots[] = {
    {"user_id", SlotKind::kUserId, SIDE_USER},
    {"user_group", SlotKind::kUserGroup, SIDE_USER},
    {"item_id", SlotKind::kItemId, SIDE_ITEM},
    {"item_category", SlotKind::kItemCategory, SIDE_ITEM},
};

const KnownSlot* FindKnownSlot(const std::string& name) {
  for (const KnownSlot& k : kKnownSlots) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

std::vector<int64_t> OracleKs(const SyntheticMatchingConfig& mc) {
  if (mc.oracle_ks_size() == 0) return {kDefaultOracleK};
  return std::vector<int64_t>(mc.oracle_ks().begin(), mc.oracle_ks().end());
}

// The CDF of one pair's p(. | u, s) in blocks of kItemBlock items: the mass before each block
// in double, and within a block the items in order, so Sample is exact up to the float
// rounding of p (a draw within rounding of a block's end takes the block's last item).
class PairCdf {
 public:
  void Build(const float* p, int64_t n) {
    p_ = p;
    n_ = n;
    const int64_t blocks = (n + kItemBlock - 1) / kItemBlock;
    cum_.resize(blocks + 1);
    block_max_.resize(blocks);
    cum_[0] = 0;
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t end = std::min(n, (b + 1) * kItemBlock);
      double sum = 0;
      float max = 0;
      for (int64_t i = b * kItemBlock; i < end; ++i) {
        sum += p[i];
        max = p[i] > max ? p[i] : max;
      }
      cum_[b + 1] = cum_[b] + sum;
      block_max_[b] = max;
    }
  }

  // The item at `uniform` in [0, 1) of the CDF.
  int64_t Sample(double uniform) const {
    const int64_t blocks = static_cast<int64_t>(block_max_.size());
    const double t = uniform * cum_[blocks];
    int64_t b = std::upper_bound(cum_.begin() + 1, cum_.end(), t) - (cum_.begin() + 1);
    b = std::min(b, blocks - 1);
    const int64_t begin = b * kItemBlock, end = std::min(n_, begin + kItemBlock);
    double acc = cum_[b];
    int64_t last = begin;
    for (int64_t i = begin; i < end; ++i) {
      acc += p_[i];
      if (p_[i] > 0) last = i;
      if (acc > t) return i;
    }
    return last;  // t within rounding of the block's end
  }

  // out[k] = Σ of the ks[k] largest probabilities (all of them when ks[k] >= N).
  void TopSums(const std::vector<int64_t>& ks, double* out) {
    const int64_t blocks = static_cast<int64_t>(block_max_.size());
    const int64_t k_max = std::min(n_, *std::max_element(ks.begin(), ks.end()));
    top_.clear();
    if (blocks >= k_max) {
      // The k_max-th largest block maximum bounds the k_max-th largest item from below, and
      // only blocks reaching it can hold top items.
      top_.assign(block_max_.begin(), block_max_.end());
      std::nth_element(top_.begin(), top_.begin() + (k_max - 1), top_.end(), std::greater<>());
      const float threshold = top_[k_max - 1];
      top_.clear();
      for (int64_t b = 0; b < blocks; ++b) {
        if (block_max_[b] < threshold) continue;
        const int64_t end = std::min(n_, (b + 1) * kItemBlock);
        for (int64_t i = b * kItemBlock; i < end; ++i) {
          if (p_[i] >= threshold) top_.push_back(p_[i]);
        }
      }
    } else {
      top_.assign(p_, p_ + n_);
    }
    std::nth_element(top_.begin(), top_.begin() + (k_max - 1), top_.end(), std::greater<>());
    std::sort(top_.begin(), top_.begin() + k_max, std::greater<>());
    prefix_.assign(k_max + 1, 0.0);
    for (int64_t k = 0; k < k_max; ++k) prefix_[k + 1] = prefix_[k] + top_[k];
    const double total = cum_[blocks];
    for (size_t k = 0; k < ks.size(); ++k) {
      out[k] = total > 0 ? std::min(1.0, prefix_[std::min(ks[k], k_max)] / total) : 0.0;
    }
  }

 private:
  const float* p_ = nullptr;
  int64_t n_ = 0;
  std::vector<double> cum_;       // (blocks + 1): mass before each block
  std::vector<float> block_max_;  // (blocks)
  std::vector<float> top_;
  std::vector<double> prefix_;
};

// The interactions grouped by (user, scenario) pair.
struct Pairs {
  std::vector<std::pair<uint64_t, int64_t>> order;  // (key = user · D + scenario, sample), sorted
  std::vector<int64_t> begin;                       // (pairs + 1) runs of `order`
};

Pairs GroupByPair(const std::vector<int32_t>& scenario, const std::vector<uint64_t>& user,
                  int num_scenarios) {
  Pairs pairs;
  const int64_t n = static_cast<int64_t>(scenario.size());
  pairs.order.resize(n);
  for (int64_t j = 0; j < n; ++j) pairs.order[j] = {user[j] * num_scenarios + scenario[j], j};
  std::sort(pairs.order.begin(), pairs.order.end());
  for (int64_t k = 0; k < n; ++k) {
    if (k == 0 || pairs.order[k].first != pairs.order[k - 1].first) pairs.begin.push_back(k);
  }
  pairs.begin.push_back(n);
  return pairs;
}

// Draws every interaction's item; out_oracle gets, for each pair with a sample at or after
// test_begin, its top-K sums (pairs x ks, row-major; NaN for the other pairs).
void DrawItems(const MatchingModel& model, const Pairs& pairs, const std::vector<double>& uniform,
               int64_t test_begin, const std::vector<int64_t>& ks, std::vector<int64_t>* item,
               std::vector<double>* out_oracle) {
  const int D = model.num_scenarios();
  const int64_t L1 = model.latent_dim() + 1;
  const int64_t N = model.num_items();
  const int64_t num_pairs = static_cast<int64_t>(pairs.begin.size()) - 1;
  const int64_t pair_block = std::clamp<int64_t>(kScoreFloats / N, 1, kMaxPairBlock);
  const int64_t num_blocks = (num_pairs + pair_block - 1) / pair_block;
  const int64_t nk = static_cast<int64_t>(ks.size());
  out_oracle->assign(num_pairs * nk, std::nan(""));
  ParallelFor(num_blocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> queries(pair_block * L1);
    std::vector<float> scores(pair_block * N);  // (pair_block, N)
    PairCdf cdf;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t first = b * pair_block;
      const int64_t rows = std::min(pair_block, num_pairs - first);
      for (int64_t r = 0; r < rows; ++r) {
        const uint64_t key = pairs.order[pairs.begin[first + r]].first;
        model.QueryRow(key / D, static_cast<int>(key % D), &queries[r * L1]);
      }
      const MatView q{queries.data(), rows, L1, L1};
      const MatView p{scores.data(), rows, N, N};
      Gemm(false, true, 1.0f, q, model.item_matrix(), 0.0f, p);
      SoftmaxForward(p, p);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t pair = first + r;
        cdf.Build(p.row(r), N);
        for (int64_t k = pairs.begin[pair]; k < pairs.begin[pair + 1]; ++k) {
          const int64_t j = pairs.order[k].second;
          (*item)[j] = cdf.Sample(uniform[j]);
        }
        // The pair's samples are in number order: its last one tells whether it has a test one.
        if (pairs.order[pairs.begin[pair + 1] - 1].second >= test_begin) {
          cdf.TopSums(ks, &(*out_oracle)[pair * nk]);
        }
      }
    }
  });
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// Appends rows in the config's slot order.
class RowAppender {
 public:
  RowAppender(const DataConfig& config, const MatchingModel& model) : model_(model) {
    for (const SlotSpec& slot : config.slots()) kinds_.push_back(FindKnownSlot(slot.name())->kind);
  }

  // An interaction (label 1) or an impression (label 0) of user u with item i in scenario s.
  void Interaction(int32_t s, uint64_t u, int64_t i, float label, Batch* batch) const {
    Append(s, u, true, i, true, label, batch);
  }
  // Item i of the corpus: no user, label 0 unobserved.
  void CorpusItem(int64_t i, Batch* batch) const { Append(0, 0, false, i, false, 0.0f, batch); }

 private:
  void Append(int32_t s, uint64_t u, bool has_user, int64_t i, bool observed, float label,
              Batch* batch) const {
    batch->domain.push_back(s);
    batch->user.push_back(u);
    batch->labels.push_back(label);
    batch->label_mask.push_back(observed ? 1 : 0);
    for (size_t k = 0; k < kinds_.size(); ++k) {
      std::vector<uint64_t>& ids = batch->ids[k];
      switch (kinds_[k]) {
        case SlotKind::kUserId:
          if (has_user) ids.push_back(u);
          break;
        case SlotKind::kUserGroup:
          if (has_user) ids.push_back(model_.user_group(u));
          break;
        case SlotKind::kItemId:
          ids.push_back(i);
          break;
        case SlotKind::kItemCategory:
          ids.push_back(model_.item_category(i));
          break;
      }
      batch->offsets[k].push_back(static_cast<uint32_t>(ids.size()));
    }
    ++batch->size;
  }

  const MatchingModel& model_;
  std::vector<SlotKind> kinds_;  // (S)
};

// summary->oracle and oracle_queries from the per-pair top-K sums (pairs x ks; NaN: no query):
// means over the queries, summed in pair order.
void SummariseOracle(const Pairs& pairs, const std::vector<double>& pair_oracle,
                     const std::vector<int64_t>& ks, const std::vector<std::string>& names,
                     MatchingSummary* summary) {
  const int D = static_cast<int>(names.size());
  const int64_t nk = static_cast<int64_t>(ks.size());
  const int64_t num_pairs = static_cast<int64_t>(pairs.begin.size()) - 1;
  std::vector<double> sum((D + 1) * nk, 0.0);  // (D + 1, ks): scenarios, then all
  summary->oracle_queries.assign(D, 0);
  int64_t queries = 0;
  for (int64_t pr = 0; pr < num_pairs; ++pr) {
    if (std::isnan(pair_oracle[pr * nk])) continue;
    const int s = static_cast<int>(pairs.order[pairs.begin[pr]].first % D);
    ++summary->oracle_queries[s];
    ++queries;
    for (int64_t k = 0; k < nk; ++k) {
      sum[s * nk + k] += pair_oracle[pr * nk + k];
      sum[D * nk + k] += pair_oracle[pr * nk + k];
    }
  }
  summary->oracle.clear();
  for (int64_t k = 0; k < nk; ++k) {
    const std::string metric = "recall@" + std::to_string(ks[k]);
    summary->oracle.emplace_back(metric, queries > 0 ? sum[D * nk + k] / queries : std::nan(""));
    for (int s = 0; s < D; ++s) {
      const int64_t qs = summary->oracle_queries[s];
      summary->oracle.emplace_back(metric + "/" + names[s],
                                   qs > 0 ? sum[s * nk + k] / qs : std::nan(""));
    }
  }
}

std::string OracleJson(const MatchingSummary& summary, const std::vector<std::string>& names) {
  std::string json = "{\n";
  for (const auto& [name, value] : summary.oracle) {
    json += "  " + JsonString(name) + ": " + JsonNumber(value) + ",\n";
  }
  int64_t queries = 0;
  for (int64_t q : summary.oracle_queries) queries += q;
  json += "  \"queries\": " + std::to_string(queries);
  for (size_t s = 0; s < names.size(); ++s) {
    json += ",\n  " + JsonString("queries/" + names[s]) + ": " +
            std::to_string(summary.oracle_queries[s]);
  }
  return json + "\n}\n";
}

}  // namespace

Status ValidateMatchingConfig(const DataConfig& c) {
  RETURN_IF_ERROR(ValidateCommonSyntheticConfig(c));
  if (c.num_tasks() != 1) {
    return ConfigError("num_tasks", std::to_string(c.num_tasks()),
                       "1 for matching data (one task: the interaction)");
  }
  if (c.task_names_size() > 1 ||
      (c.task_names_size() == 1 &&
       (c.task_names(0).empty() || c.task_names(0).find('/') != std::string::npos))) {
    return ConfigError("task_names", std::to_string(c.task_names_size()) + " names",
                       "empty or one non-empty name without '/'");
  }
  if (c.num_dense() != 0) {
    return ConfigError("num_dense", std::to_string(c.num_dense()),
                       "0 for matching data (it has no dense features)");
  }
  bool user_id = false, item_id = false;
  for (int i = 0; i < c.slots_size(); ++i) {
    const SlotSpec& slot = c.slots(i);
    const std::string at = "data config: slots[" + std::to_string(i) + "] \"" + slot.name() + "\"";
    const KnownSlot* known = FindKnownSlot(slot.name());
    if (known == nullptr) {
      return InvalidArgument(at +
                             " is not a slot of synthetic matching data; its slots are user_id, "
                             "user_group (SIDE_USER), item_id, item_category (SIDE_ITEM)");
    }
    if (slot.side() != known->side) {
      return InvalidArgument(at + " has side " + Side_Name(slot.side()) +
                             "; in matching data it is " + Side_Name(known->side));
    }
    user_id |= known->kind == SlotKind::kUserId;
    item_id |= known->kind == SlotKind::kItemId;
  }
  if (!user_id || !item_id) {
    return InvalidArgument(std::string("data config: slots must include \"") +
                           (user_id ? "item_id\" (SIDE_ITEM)" : "user_id\" (SIDE_USER)") +
                           " for synthetic matching data");
  }
  const SyntheticConfig& s = c.synthetic();
  if (s.num_users() > kMaxUsers) {
    return ConfigError("synthetic.num_users", std::to_string(s.num_users()), "at most 2^40");
  }
  const SyntheticMatchingConfig& m = s.matching();
  const std::string p = "synthetic.matching.";
  if (m.num_items() < 2 || m.num_items() > 100000000) {
    return ConfigError(p + "num_items", std::to_string(m.num_items()), "in [2, 10^8]");
  }
  if (!InRange(m.item_zipf(), 0, 10)) {
    return ConfigError(p + "item_zipf", FormatNumber(m.item_zipf()), "in [0, 10]");
  }
  if (!InRange(m.popularity_weight(), 0, 100)) {
    return ConfigError(p + "popularity_weight", FormatNumber(m.popularity_weight()), "in [0, 100]");
  }
  if (!InRange(m.relevance_scale(), 0, 100)) {
    return ConfigError(p + "relevance_scale", FormatNumber(m.relevance_scale()), "in [0, 100]");
  }
  if (!InRange(m.scenario_specificity(), 0, 100)) {
    return ConfigError(p + "scenario_specificity", FormatNumber(m.scenario_specificity()),
                       "in [0, 100]");
  }
  if (m.negatives_per_positive() < 0 || m.negatives_per_positive() > 1000) {
    return ConfigError(p + "negatives_per_positive", std::to_string(m.negatives_per_positive()),
                       "in [0, 1000]");
  }
  if (m.item_categories() < 1 || m.item_categories() > 65536) {
    return ConfigError(p + "item_categories", std::to_string(m.item_categories()), "in [1, 65536]");
  }
  if (m.user_groups() < 1 || m.user_groups() > 1000000) {
    return ConfigError(p + "user_groups", std::to_string(m.user_groups()), "in [1, 10^6]");
  }
  for (int k = 0; k < m.oracle_ks_size(); ++k) {
    const int K = m.oracle_ks(k);
    if (K < 1 || K > 1000000) {
      return ConfigError(p + "oracle_ks", std::to_string(K), "in [1, 10^6]");
    }
    for (int j = 0; j < k; ++j) {
      if (m.oracle_ks(j) == K) {
        return ConfigError(p + "oracle_ks", std::to_string(K), "listed once (it repeats)");
      }
    }
  }
  return Status::OK();
}

StatusOr<MatchingOutputs> MatchingOutputsFromConfig(const DataConfig& config) {
  MatchingOutputs o;
  ASSIGN_OR_RETURN(o.splits, SyntheticOutputsFromConfig(config));
  if (config.items_size() > 1) {
    return ConfigError("items", std::to_string(config.items_size()) + " entries",
                       "at most one directory for generated data");
  }
  if (config.items_size() == 1) {
    o.items_dir = config.items(0);
  } else {
    std::filesystem::path train = std::filesystem::path(o.splits.train_dir).lexically_normal();
    if (!train.has_filename()) train = train.parent_path();
    o.items_dir = (train.parent_path() / "items").string();
  }
  return o;
}

StatusOr<MatchingSummary> GenerateMatching(const DataConfig& config, const MatchingOutputs& outputs,
                                           const RowProgress& progress) {
  RETURN_IF_ERROR(ValidateMatchingConfig(config));
  const SyntheticConfig& sc = config.synthetic();
  const SyntheticMatchingConfig& mc = sc.matching();
  ASSIGN_OR_RETURN(const auto counts, SplitSizes(sc));
  const int64_t n = sc.num_samples();
  const int D = config.num_domains();
  const MatchingModel model(config);

  // Interaction j: its scenario, user and the uniform that picks its item.
  std::vector<int32_t> scenario(n);
  std::vector<uint64_t> user(n);
  std::vector<double> uniform(n);
  ParallelFor(n, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const MatchingModel::Draw draw = model.DrawSample(j);
      scenario[j] = draw.scenario;
      user[j] = draw.user;
      uniform[j] = draw.item_uniform;
    }
  });
  const Pairs pairs = GroupByPair(scenario, user, D);
  const std::vector<int64_t> ks = OracleKs(mc);
  std::vector<int64_t> item(n);
  std::vector<double> pair_oracle;  // (pairs, ks)
  DrawItems(model, pairs, uniform, counts[0] + counts[1], ks, &item, &pair_oracle);

  MatchingSummary summary;
  summary.pairs = static_cast<int64_t>(pairs.begin.size()) - 1;
  const std::vector<std::string> names = DomainNames(config, "s");
  SummariseOracle(pairs, pair_oracle, ks, names, &summary);

  // The splits, then the corpus (sample numbers n, n + 1, ... are its items).
  ShardHeader header;
  header.set_num_tasks(1);
  header.set_num_slots(config.slots_size());
  header.set_num_dense(0);
  header.set_has_truth(false);
  header.set_num_domains(D);
  for (const SlotSpec& slot : config.slots()) header.add_slot_names(slot.name());
  std::vector<SyntheticSplitSummary> written;
  ASSIGN_OR_RETURN(const std::vector<ShardJob> jobs,
                   PlanShards({"train", "validation", "test", "items"},
                              {outputs.splits.train_dir, outputs.splits.validation_dir,
                               outputs.splits.test_dir, outputs.items_dir},
                              {counts[0], counts[1], counts[2], mc.num_items()},
                              sc.samples_per_shard(), &written));
  const RowAppender rows(config, model);
  RETURN_IF_ERROR(WriteShards(
      jobs, header,
      [&](const ShardJob& job, Batch* batch) {
        if (job.split == 3) {
          for (int64_t i = job.begin - n; i < job.begin - n + job.count; ++i) {
            rows.CorpusItem(i, batch);
          }
          return;
        }
        std::vector<int64_t> negatives;
        for (int64_t j = job.begin; j < job.begin + job.count; ++j) {
          rows.Interaction(scenario[j], user[j], item[j], 1.0f, batch);
          negatives.clear();
          model.AppendNegatives(j, mc.negatives_per_positive(), &negatives);
          for (int64_t i : negatives) rows.Interaction(scenario[j], user[j], i, 0.0f, batch);
        }
      },
      &written, progress));
  summary.items = written[3];
  written.pop_back();
  summary.splits = std::move(written);
  for (int s = 0; s < D; ++s) summary.scenario_share.push_back(model.scenarios().share(s));
  summary.head_item_share = model.popularity().Pmf(1);
  summary.oracle_path = outputs.splits.test_dir + "/" + kOracleFile;
  RETURN_IF_ERROR(WriteFileAtomically(summary.oracle_path, OracleJson(summary, names)));
  return summary;
}

std::string FormatMatchingSummary(const DataConfig& config, const MatchingSummary& summary) {
  const SyntheticConfig& sc = config.synthetic();
  const SyntheticMatchingConfig& mc = sc.matching();
  const int D = config.num_domains();
  const std::vector<std::string> names = DomainNames(config, "s");
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "synthetic matching data: %lld interactions (%d negatives each), %lld users, "
                "%lld items (item_zipf %.2f: item 0 holds %.1f%% of the popularity), "
                "%d scenarios, latent_dim %d, %lld (user, scenario) pairs, seed %llu\n",
                static_cast<long long>(sc.num_samples()), mc.negatives_per_positive(),
                static_cast<long long>(sc.num_users()), static_cast<long long>(mc.num_items()),
                mc.item_zipf(), 100 * summary.head_item_share, D, sc.latent_dim(),
                static_cast<long long>(summary.pairs), static_cast<unsigned long long>(sc.seed()));
  out += buf;
  std::vector<SyntheticSplitSummary> rows = summary.splits;
  rows.push_back(summary.items);
  rows.back().domain_samples.clear();  // the corpus belongs to no scenario
  out += FormatSplitTable(names, rows);
  if (D > 1) {
    int64_t tail = 0, total = 0;
    for (const SyntheticSplitSummary& ss : summary.splits) {
      tail += ss.domain_samples[D - 1];
      total += ss.samples;
    }
    std::snprintf(buf, sizeof(buf), "tail scenario %s: %.2f%% of the samples (expected %.2f%%)\n",
                  names[D - 1].c_str(), total > 0 ? 100.0 * tail / total : 0.0,
                  100 * summary.scenario_share[D - 1]);
    out += buf;
  }
  int64_t queries = 0;
  for (int64_t q : summary.oracle_queries) queries += q;
  std::snprintf(buf, sizeof(buf),
                "oracle: best achievable recall of a test interaction, %lld queries (%s)\n",
                static_cast<long long>(queries), summary.oracle_path.c_str());
  out += buf;
  std::snprintf(buf, sizeof(buf), "%-12s %10s", "", "all");
  out += buf;
  for (const std::string& name : names) {
    std::snprintf(buf, sizeof(buf), " %10s", name.c_str());
    out += buf;
  }
  out += "\n";
  for (size_t k = 0; k < summary.oracle.size(); k += D + 1) {
    std::snprintf(buf, sizeof(buf), "%-12s", summary.oracle[k].first.c_str());
    out += buf;
    for (int s = 0; s <= D; ++s) {
      std::snprintf(buf, sizeof(buf), " %10.4f", summary.oracle[k + s].second);
      out += buf;
    }
    out += "\n";
  }
  std::snprintf(buf, sizeof(buf), "%-12s %10lld", "queries", static_cast<long long>(queries));
  out += buf;
  for (int64_t q : summary.oracle_queries) {
    std::snprintf(buf, sizeof(buf), " %10lld", static_cast<long long>(q));
    out += buf;
  }
  out += "\n";
  return out;
}

}  // namespace moerec
