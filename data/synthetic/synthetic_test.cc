#include "data/synthetic/synthetic.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "core/parallel.h"
#include "core/random.h"
#include "data/reader.h"
#include "data/synthetic/internal/test_util.h"
#include "data/synthetic/internal/zipf.h"
#include "data/test_util.h"
#include "worker/metrics/domain_task_metrics.h"
#include "worker/metrics/oracle.h"

namespace moerec {
namespace {

using testing::FileBytes;
using testing::ReadSplit;
using testing::TempDir;

constexpr char kConfig[] = R"pb(
  num_domains: 3
  num_tasks: 2
  num_dense: 2
  task_names: "click"
  task_names: "like"
  slots { name: "user_id" side: SIDE_USER }
  slots { name: "user_age" side: SIDE_USER }
  slots { name: "user_tags_multi" side: SIDE_USER pooling: POOLING_MEAN }
  slots { name: "item_id" side: SIDE_ITEM }
  slots { name: "item_category" side: SIDE_ITEM }
  slots { name: "context" side: SIDE_CONTEXT }
  synthetic {
    num_samples: 60000
    vocab_size: 300
    samples_per_shard: 10000
    task_base_rate: 0.25
    task_base_rate: 0.1
    domain_specificity: 0.5
    interaction: 0.3
    num_users: 2000
    seed: 5
  }
)pb";

DataConfig Config(const std::string& extra_synthetic = "") {
  DataConfig c;
  CHECK(google::protobuf::TextFormat::ParseFromString(kConfig, &c));
  if (!extra_synthetic.empty()) {
    CHECK(
        google::protobuf::TextFormat::MergeFromString("synthetic { " + extra_synthetic + " }", &c));
  }
  return c;
}

SyntheticOutputs Dirs(const TempDir& dir) {
  return {dir.file("train"), dir.file("validation"), dir.file("test")};
}

class SyntheticTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    config_ = new DataConfig(Config());
    auto s = GenerateSynthetic(*config_, Dirs(*dir_));
    CHECK(s.ok()) << s.status().ToString();
    summary_ = new SyntheticSummary(*s);
    train_ = new Batch(ReadSplit(dir_->file("train")));
    test_ = new Batch(ReadSplit(dir_->file("test")));
  }
  static void TearDownTestSuite() {
    delete test_;
    delete train_;
    delete summary_;
    delete config_;
    delete dir_;
  }
  static TempDir* dir_;
  static DataConfig* config_;
  static SyntheticSummary* summary_;
  static Batch* train_;
  static Batch* test_;
};
TempDir* SyntheticTest::dir_;
DataConfig* SyntheticTest::config_;
SyntheticSummary* SyntheticTest::summary_;
Batch* SyntheticTest::train_;
Batch* SyntheticTest::test_;

TEST_F(SyntheticTest, SplitsAndShards) {
  ASSERT_EQ(summary_->splits.size(), 3u);
  EXPECT_EQ(summary_->splits[0].samples, 48000);
  EXPECT_EQ(summary_->splits[1].samples, 6000);
  EXPECT_EQ(summary_->splits[2].samples, 6000);
  EXPECT_EQ(summary_->splits[0].shards, 5);
  EXPECT_EQ(summary_->splits[2].shards, 1);
  EXPECT_EQ(train_->size, 48000);
  EXPECT_EQ(test_->size, 6000);
  EXPECT_TRUE(std::filesystem::exists(dir_->file("train/part-00004.mrs")));
  ASSERT_TRUE(train_->Validate(3).ok());
  EXPECT_TRUE(train_->has_truth());
  for (const SyntheticSplitSummary& s : summary_->splits) {
    int64_t total = 0;
    for (int64_t c : s.domain_samples) total += c;
    EXPECT_EQ(total, s.samples) << s.name;
  }
}

TEST_F(SyntheticTest, DomainsAreSkewedWithASmallTail) {
  // Shares ∝ (d + 1)^-1.5: 0.64, 0.23, 0.12.
  const std::vector<int64_t>& counts = summary_->splits[0].domain_samples;
  const double n = 48000;
  for (int d = 0; d < 3; ++d) {
    const double p = summary_->domain_share[d];
    EXPECT_NEAR(p, std::pow(d + 1.0, -1.5) / (1 + std::pow(2, -1.5) + std::pow(3, -1.5)), 1e-9);
    EXPECT_NEAR(counts[d], n * p, 5 * std::sqrt(n * p * (1 - p))) << "domain " << d;
  }
  EXPECT_GT(counts[0], counts[1]);
  EXPECT_GT(counts[1], counts[2]);
}

TEST_F(SyntheticTest, BaseRatesTruthAndPresence) {
  const int T = 2;
  const double base[2] = {0.25, 0.1};
  for (const SyntheticSplitSummary& s : summary_->splits) {
    for (int t = 0; t < T; ++t) {
      const double sd = std::sqrt(base[t] * (1 - base[t]) / s.task_observed[t]);
      EXPECT_NEAR(s.task_pos_rate[t], base[t], 0.05 * base[t] + 4 * sd) << s.name << " task " << t;
    }
  }
  // Truth is a probability in (0, 1) and agrees with the labels on average (per domain).
  std::vector<double> truth_sum(6, 0), label_sum(6, 0), observed(6, 0), count(6, 0);
  for (int64_t i = 0; i < train_->size; ++i) {
    const int d = train_->domain[i];
    for (int t = 0; t < T; ++t) {
      const float p = train_->truth[i * T + t];
      ASSERT_TRUE(p > 0 && p < 1) << p;
      count[d * T + t] += 1;
      if (!train_->label_mask[i * T + t]) {
        ASSERT_EQ(train_->labels[i * T + t], 0.0f);
        continue;
      }
      observed[d * T + t] += 1;
      truth_sum[d * T + t] += p;
      label_sum[d * T + t] += train_->labels[i * T + t];
    }
  }
  for (int d = 0; d < 3; ++d) {
    EXPECT_EQ(observed[d * T], count[d * T]) << "task 0 is always observed";
    if (d == 2) {
      EXPECT_EQ(observed[d * T + 1], 0) << "task 1 is never observed in the tail domain";
    } else {
      EXPECT_NEAR(observed[d * T + 1] / count[d * T + 1], 0.8, 0.02) << "domain " << d;
    }
    for (int t = 0; t < T; ++t) {
      if (observed[d * T + t] == 0) continue;
      const double mean = truth_sum[d * T + t] / observed[d * T + t];
      EXPECT_NEAR(label_sum[d * T + t] / observed[d * T + t], mean,
                  4 * std::sqrt(mean / observed[d * T + t]))
          << "domain " << d << " task " << t;
    }
  }
}

TEST_F(SyntheticTest, SlotsFollowZipfAndTheirShapes) {
  // Slot 0 is user_id: the sample's user. Slot 2 (*_multi) holds 1..3 ids, the others one.
  std::vector<int64_t> freq(300, 0);
  std::vector<int64_t> multi_sizes(4, 0);
  for (int64_t i = 0; i < train_->size; ++i) {
    for (int s = 0; s < 6; ++s) {
      const uint32_t n = train_->offsets[s][i + 1] - train_->offsets[s][i];
      if (s == 2) {
        ASSERT_TRUE(n >= 1 && n <= 3) << n;
        ++multi_sizes[n];
      } else {
        ASSERT_EQ(n, 1u) << "slot " << s;
      }
    }
    ASSERT_EQ(train_->ids[0][i], train_->user[i]);
    ASSERT_LT(train_->user[i], 2000u);
    const uint64_t id = train_->ids[3][train_->offsets[3][i]];
    ASSERT_LT(id, 300u);
    ++freq[id];
  }
  for (int k = 1; k <= 3; ++k) EXPECT_NEAR(multi_sizes[k], 48000 / 3.0, 600);
  // Zipf(1.05) over 300 ids: P(id 0) = 1 / Σ_{k <= 300} k^-1.05 = 0.18035.
  const double head = summary_->zipf_head_share;
  EXPECT_NEAR(head, 0.18035, 1e-4);
  EXPECT_NEAR(freq[0] / 48000.0, head, 0.01);
  EXPECT_NEAR(static_cast<double>(freq[0]) / freq[9], std::pow(10, 1.05), 1.5);
  EXPECT_GT(freq[9], freq[99]);
}

TEST_F(SyntheticTest, OracleAucIsInformativeButNotPerfect) {
  for (const SyntheticSplitSummary& s : summary_->splits) {
    auto oracle = OracleReport({s.dir}, *config_);
    ASSERT_TRUE(oracle.ok()) << oracle.status();
    EXPECT_GT(oracle->mean_auc, 0.7) << s.name;
    EXPECT_LT(oracle->mean_auc, 0.92) << s.name;
    EXPECT_TRUE(std::isnan(oracle->cell(2, 1).auc)) << "the tail has no task-1 labels";
    // The mean over cells matches the truth-based oracle the trainer's metrics report.
    EXPECT_DOUBLE_EQ(oracle->mean_auc, oracle->oracle_mean_auc);
  }
  // A head of the split is an oracle of its own, close to the whole one (i.i.d. samples).
  auto whole = OracleReport({summary_->splits[0].dir}, *config_);
  auto head = OracleReport({summary_->splits[0].dir}, *config_, summary_->splits[0].samples / 2);
  ASSERT_TRUE(whole.ok() && head.ok());
  EXPECT_NE(whole->mean_auc, head->mean_auc);
  EXPECT_NEAR(whole->mean_auc, head->mean_auc, 0.02);
}

// A cheap learner: per task, logistic regression on one-hot (slot, id) and (domain, slot, id)
// plus per-domain dense weights, one Adagrad pass over the training split. Most of the signal
// must be learnable from the data: the learner lands close to the oracle on the test split.
TEST_F(SyntheticTest, ASimpleLearnerGetsCloseToTheOracle) {
  const Batch& tr = *train_;
  const int T = 2, S = 6, F = 2;
  std::unordered_map<uint64_t, std::pair<float, float>> w;  // weight, Adagrad accumulator
  std::vector<uint64_t> keys;
  std::vector<float> xs;
  const auto features = [&](const Batch& b, int64_t i, int t) {
    keys.clear();
    xs.clear();
    const uint64_t dt = HashCombine(b.domain[i], t);
    keys.push_back(dt);
    xs.push_back(1);
    for (int s = 1; s < S; ++s) {  // user_id carries little signal: leave it out
      for (uint32_t k = b.offsets[s][i]; k < b.offsets[s][i + 1]; ++k) {
        keys.push_back(HashCombine(HashCombine(t, s), b.ids[s][k]));
        keys.push_back(HashCombine(HashCombine(dt, s), b.ids[s][k]));
        xs.push_back(1);
        xs.push_back(1);
      }
    }
    for (int f = 0; f < F; ++f) {
      keys.push_back(HashCombine(dt, 1000 + f));
      xs.push_back(b.dense[i * F + f]);
    }
  };
  const auto logit = [&]() {
    double z = 0;
    for (size_t k = 0; k < keys.size(); ++k) {
      auto it = w.find(keys[k]);
      if (it != w.end()) z += it->second.first * xs[k];
    }
    return z;
  };
  for (int64_t i = 0; i < tr.size; ++i) {
    for (int t = 0; t < T; ++t) {
      if (!tr.label_mask[i * T + t]) continue;
      features(tr, i, t);
      const float g = 1 / (1 + std::exp(-logit())) - tr.labels[i * T + t];
      for (size_t k = 0; k < keys.size(); ++k) {
        auto& [v, a] = w[keys[k]];
        a += g * xs[k] * g * xs[k];
        v -= 0.05f * g * xs[k] / std::sqrt(a + 1e-6f);
      }
    }
  }
  std::vector<float> pred(test_->size * T);
  for (int64_t i = 0; i < test_->size; ++i) {
    for (int t = 0; t < T; ++t) {
      features(*test_, i, t);
      pred[i * T + t] = 1 / (1 + std::exp(-logit()));
    }
  }
  DomainTaskMetrics m(3, T);
  ASSERT_TRUE(m.Add(*test_, pred.data()).ok());
  const Report r = m.Compute();
  LOG(INFO) << "simple learner test mean AUC " << r.mean_auc << ", oracle " << r.oracle_mean_auc;
  EXPECT_GT(r.mean_auc, r.oracle_mean_auc - 0.04);
  EXPECT_LT(r.mean_auc, r.oracle_mean_auc + 0.01);
}

// Correlation of the two tasks' true logits over the samples of each domain.
std::vector<double> TaskLogitCorrelation(const Batch& b, int num_domains) {
  std::vector<double> n(num_domains), sx(num_domains), sy(num_domains), sxx(num_domains),
      syy(num_domains), sxy(num_domains), corr(num_domains);
  auto logit = [](double p) { return std::log(p / (1 - p)); };
  for (int64_t i = 0; i < b.size; ++i) {
    const int d = b.domain[i];
    const double x = logit(b.truth[2 * i]), y = logit(b.truth[2 * i + 1]);
    n[d] += 1;
    sx[d] += x;
    sy[d] += y;
    sxx[d] += x * x;
    syy[d] += y * y;
    sxy[d] += x * y;
  }
  for (int d = 0; d < num_domains; ++d) {
    const double cov = sxy[d] / n[d] - sx[d] / n[d] * sy[d] / n[d];
    const double vx = sxx[d] / n[d] - sx[d] * sx[d] / (n[d] * n[d]);
    const double vy = syy[d] / n[d] - sy[d] * sy[d] / (n[d] * n[d]);
    corr[d] = cov / std::sqrt(vx * vy);
  }
  return corr;
}

// The seesaw benchmark: the two tasks agree in even domains and conflict in odd ones, and the
// tail domain gets the share asked for.
TEST(SyntheticSeesawTest, TaskRelationsFlipByDomainAndTheTailIsSmall) {
  TempDir dir, plain_dir;
  const std::string common = "num_samples: 60000 task_presence: 1 tail_share: 0.03 ";
  auto s = GenerateSynthetic(Config(common + "seesaw_correlation: 0.9"), Dirs(dir));
  ASSERT_TRUE(s.ok()) << s.status();
  const Batch train = ReadSplit(dir.file("train"));
  const std::vector<double> corr = TaskLogitCorrelation(train, 3);
  LOG(INFO) << "seesaw task-logit correlation by domain: " << corr[0] << " " << corr[1] << " "
            << corr[2];
  EXPECT_GT(corr[0], 0.6);
  EXPECT_LT(corr[1], -0.6);
  EXPECT_GT(corr[2], 0.6);
  const std::vector<int64_t>& per_domain = s->splits[0].domain_samples;
  const double tail = static_cast<double>(per_domain[2]) / s->splits[0].samples;
  EXPECT_NEAR(tail, 0.03, 0.005);
  EXPECT_GT(per_domain[0], per_domain[1]);  // the others keep domain_skew's order
  // Without the seesaw, the tasks agree in every domain (they share part of their factors).
  auto plain = GenerateSynthetic(Config(common), Dirs(plain_dir));
  ASSERT_TRUE(plain.ok());
  const std::vector<double> plain_corr =
      TaskLogitCorrelation(ReadSplit(plain_dir.file("train")), 3);
  for (int d = 0; d < 3; ++d) EXPECT_GT(plain_corr[d], 0.0) << d;
  // Out-of-range settings are refused, naming the field.
  EXPECT_NE(ValidateSyntheticConfig(Config("seesaw_correlation: 1"))
                .ToString()
                .find("synthetic.seesaw_correlation"),
            std::string::npos);
  EXPECT_NE(
      ValidateSyntheticConfig(Config("tail_share: 0.7")).ToString().find("synthetic.tail_share"),
      std::string::npos);
}

TEST(SyntheticDeterminismTest, SameSeedSameBytesAnyThreadCount) {
  TempDir a, b, c;
  const DataConfig config = Config("num_samples: 12000 samples_per_shard: 3000");
  SetComputeThreads(1);
  ASSERT_TRUE(GenerateSynthetic(config, Dirs(a)).ok());
  SetComputeThreads(3);
  auto sb = GenerateSynthetic(config, Dirs(b));
  ASSERT_TRUE(sb.ok());
  const auto fa = FileBytes(a.path());
  const auto fb = FileBytes(b.path());
  ASSERT_EQ(fa.size(), 4u + 1 + 1);
  auto ib = fb.begin();
  for (const auto& [name, bytes] : fa) {
    ASSERT_NE(ib, fb.end());
    EXPECT_EQ(name, ib->first);
    EXPECT_TRUE(bytes == ib->second) << name;
    ++ib;
  }
  ASSERT_TRUE(
      GenerateSynthetic(Config("num_samples: 12000 samples_per_shard: 3000 seed: 6"), Dirs(c))
          .ok());
  const auto fc = FileBytes(c.path());
  EXPECT_FALSE(fa.begin()->second == fc.begin()->second);
  SetComputeThreads(2);
}

TEST(SyntheticDeterminismTest, RegeneratingReplacesStaleShards) {
  TempDir dir;
  ASSERT_TRUE(
      GenerateSynthetic(Config("num_samples: 12000 samples_per_shard: 2000"), Dirs(dir)).ok());
  EXPECT_TRUE(std::filesystem::exists(dir.file("train/part-00004.mrs")));
  std::ofstream(dir.file("train/keep.txt")) << "not ours";
  auto s = GenerateSynthetic(Config("num_samples: 12000 samples_per_shard: 5000"), Dirs(dir));
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(std::filesystem::exists(dir.file("train/part-00004.mrs")));
  EXPECT_TRUE(std::filesystem::exists(dir.file("train/keep.txt")));
  EXPECT_EQ(ReadSplit(dir.file("train")).size, 9600);
  // Without validation and test fractions those directories hold one empty shard.
  TempDir none;
  ASSERT_TRUE(GenerateSynthetic(Config("num_samples: 500 validation_fraction: 0 test_fraction: 0"),
                                Dirs(none))
                  .ok());
  EXPECT_EQ(ReadSplit(none.file("test")).size, 0);
  EXPECT_EQ(ReadSplit(none.file("train")).size, 500);
}

TEST(SyntheticConfigTest, RejectsBadFieldsByName) {
  const std::pair<std::string, std::string> cases[] = {
      {"task_base_rate: 0.3", "task_base_rate"},  // three rates for two tasks
      {"validation_fraction: 0.6 test_fraction: 0.5", "test_fraction"},
      {"vocab_size: 0", "vocab_size"},
      {"zipf_exponent: -1", "zipf_exponent"},
      {"latent_dim: 0", "latent_dim"},
      {"task_presence: 1.5", "task_presence"},
      {"samples_per_shard: 0", "samples_per_shard"},
      {"num_users: 0", "num_users"},
      {"ids_per_multi_slot: 0", "ids_per_multi_slot"},
  };
  for (const auto& [text, field] : cases) {
    const Status s = ValidateSyntheticConfig(Config(text));
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(s.message().find(field), std::string::npos) << text << ": " << s.ToString();
  }
  DataConfig c = Config();
  c.add_slots()->set_name("item_id");
  EXPECT_NE(ValidateSyntheticConfig(c).message().find("unique"), std::string::npos);
  c = Config();
  c.add_domain_names("home");
  EXPECT_NE(ValidateSyntheticConfig(c).message().find("domain_names"), std::string::npos);
  TempDir dir;
  EXPECT_FALSE(GenerateSynthetic(Config("vocab_size: 0"), Dirs(dir)).ok());
  const Status same =
      GenerateSynthetic(Config(), {dir.file("a"), dir.file("b"), dir.file("a/")}).status();
  EXPECT_NE(same.message().find("must differ"), std::string::npos) << same.ToString();
  EXPECT_TRUE(ValidateSyntheticConfig(Config()).ok());
}

TEST(SyntheticConfigTest, OutputsFromConfigAndSummaryText) {
  DataConfig c = Config();
  EXPECT_FALSE(SyntheticOutputsFromConfig(c).ok());
  c.add_train("/data/train");
  c.add_validation("/data/val");
  c.add_test("/data/test");
  auto o = SyntheticOutputsFromConfig(c);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->validation_dir, "/data/val");
  c.add_test("/data/test2");
  EXPECT_NE(SyntheticOutputsFromConfig(c).status().message().find("test"), std::string::npos);

  TempDir dir;
  const DataConfig small = Config("num_samples: 3000");
  auto s = GenerateSynthetic(small, Dirs(dir));
  ASSERT_TRUE(s.ok());
  const std::string text = FormatSyntheticSummary(small, *s);
  EXPECT_NE(text.find("3000 samples"), std::string::npos) << text;
  EXPECT_NE(text.find("click"), std::string::npos) << text;
  EXPECT_NE(text.find("validation"), std::string::npos) << text;
  EXPECT_NE(text.find("d2"), std::string::npos) << text;
  EXPECT_EQ(text.back(), '\n');
}

TEST(ZipfSamplerTest, MatchesItsPmf) {
  for (double s : {0.0, 1.0, 1.05, 2.0}) {
    const ZipfSampler z(10, s);
    double total = 0;
    for (uint64_t k = 1; k <= 10; ++k) total += z.Pmf(k);
    EXPECT_NEAR(total, 1.0, 1e-12);
    EXPECT_NEAR(z.Pmf(1) / z.Pmf(2), std::pow(2.0, s), 1e-9);
    Rng rng(11);
    std::vector<int> counts(11, 0);
    const int n = 200000;
    for (int i = 0; i < n; ++i) {
      const uint64_t k = z.Sample(&rng);
      ASSERT_TRUE(k >= 1 && k <= 10);
      ++counts[k];
    }
    for (uint64_t k = 1; k <= 10; ++k) {
      const double p = z.Pmf(k);
      EXPECT_NEAR(counts[k], n * p, 5 * std::sqrt(n * p)) << "s " << s << " k " << k;
    }
  }
  // Huge vocabularies cost nothing to set up and stay in range.
  const ZipfSampler big(uint64_t{1} << 40, 1.1);
  Rng rng(3);
  for (int i = 0; i < 1000; ++i) {
    const uint64_t k = big.Sample(&rng);
    ASSERT_TRUE(k >= 1 && k <= (uint64_t{1} << 40));
  }
  EXPECT_GT(big.Pmf(1), 0.05);
}

}  // namespace
}  // namespace moerec
