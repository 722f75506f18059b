#include "data/synthetic/matching.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>

#include "core/parallel.h"
#include "core/temp_dir.h"
#include "data/synthetic/internal/matching_model.h"
#include "data/synthetic/internal/test_util.h"

namespace moerec {
namespace {

using testing::FileBytes;
using testing::ReadSplit;
using testing::TempDir;

// A small data-only example of a matching config: 3 scenarios (the last a 3% tail), the four
// slots the generator knows, two popularity-drawn negatives per interaction.
constexpr char kConfig[] = R"pb(
  num_domains: 3
  num_tasks: 1
  domain_names: "home"
  domain_names: "search"
  domain_names: "tail"
  slots { name: "user_id" side: SIDE_USER }
  slots { name: "user_group" side: SIDE_USER }
  slots { name: "item_id" side: SIDE_ITEM }
  slots { name: "item_category" side: SIDE_ITEM }
  synthetic {
    num_samples: 40000
    num_users: 300
    latent_dim: 8
    samples_per_shard: 10000
    domain_skew: 1.0
    tail_share: 0.03
    seed: 3
    matching {
      num_items: 500
      item_categories: 16
      user_groups: 8
      negatives_per_positive: 2
      oracle_ks: 5
      oracle_ks: 20
      oracle_ks: 100
    }
  }
)pb";

DataConfig Config(const std::string& extra = "") {
  DataConfig c;
  CHECK(google::protobuf::TextFormat::ParseFromString(kConfig, &c));
  if (!extra.empty()) CHECK(google::protobuf::TextFormat::MergeFromString(extra, &c)) << extra;
  return c;
}

MatchingOutputs Dirs(const TempDir& dir) {
  return {{dir.file("train"), dir.file("validation"), dir.file("test")}, dir.file("items")};
}

// Slot columns of the config above.
constexpr int kUserId = 0, kUserGroup = 1, kItemId = 2, kItemCategory = 3;

// p(. | u, s) recomputed in double from the model's parameters, without the generator's GEMM,
// softmax and CDF.
std::vector<double> BruteForceP(const DataConfig& config, const MatchingModel& model, uint64_t u,
                                int s) {
  const SyntheticMatchingConfig& mc = config.synthetic().matching();
  const ConstMatView items = model.item_matrix();
  const int L = model.latent_dim();
  std::vector<double> a(L);
  model.UserLatent(u, s, a.data());
  std::vector<double> p(items.rows);
  for (int64_t i = 0; i < items.rows; ++i) {
    double dot = 0;
    for (int l = 0; l < L; ++l) dot += a[l] * items.row(i)[l];
    p[i] = mc.popularity_weight() * items.row(i)[L] + mc.relevance_scale() * dot;
  }
  const double mx = *std::max_element(p.begin(), p.end());
  double z = 0;
  for (double& v : p) z += (v = std::exp(v - mx));
  for (double& v : p) v /= z;
  return p;
}

// Pearson's statistic of counts `seen` against `expected`, adjacent cells merged until each
// expects at least 10; *df gets the merged cells less one.
double ChiSquare(const std::vector<double>& expected, const std::vector<int64_t>& seen,
                 double* df) {
  double chi2 = 0, e = 0, o = 0;
  int cells = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    e += expected[i];
    o += seen[i];
    if (e >= 10 || i + 1 == expected.size()) {
      chi2 += (o - e) * (o - e) / e;
      ++cells;
      e = o = 0;
    }
  }
  *df = cells - 1;
  return chi2;
}

// The values of a flat JSON object of numbers (null as NaN).
std::map<std::string, double> ReadJson(const std::string& path) {
  std::ifstream in(path);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  std::map<std::string, double> out;
  const std::regex entry("\"([^\"]+)\": (null|[-0-9.eE+]+)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), entry);
       it != std::sregex_iterator(); ++it) {
    out[(*it)[1]] = (*it)[2] == "null" ? std::nan("") : std::stod((*it)[2]);
  }
  return out;
}

class MatchingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    config_ = new DataConfig(Config());
    model_ = new MatchingModel(*config_);
    auto s = GenerateMatching(*config_, Dirs(*dir_));
    CHECK(s.ok()) << s.status().ToString();
    summary_ = new MatchingSummary(*s);
    for (const char* split : {"train", "validation", "test"}) {
      splits_.push_back(ReadSplit(dir_->file(split)));
    }
  }
  static void TearDownTestSuite() {
    splits_.clear();
    delete summary_;
    delete model_;
    delete config_;
    delete dir_;
  }
  static TempDir* dir_;
  static DataConfig* config_;
  static MatchingModel* model_;
  static MatchingSummary* summary_;
  static std::vector<Batch> splits_;
};
TempDir* MatchingTest::dir_;
DataConfig* MatchingTest::config_;
MatchingModel* MatchingTest::model_;
MatchingSummary* MatchingTest::summary_;
std::vector<Batch> MatchingTest::splits_;

TEST_F(MatchingTest, RowsAreInteractionsEachFollowedByItsNegatives) {
  const int64_t interactions[3] = {32000, 4000, 4000};
  for (int k = 0; k < 3; ++k) {
    const Batch& b = splits_[k];
    ASSERT_EQ(b.size, 3 * interactions[k]);
    EXPECT_EQ(summary_->splits[k].samples, b.size);
    EXPECT_EQ(b.num_tasks, 1);
    EXPECT_FALSE(b.has_truth());
    EXPECT_EQ(b.num_dense, 0);
    for (int64_t r = 0; r < b.size; ++r) {
      const int64_t head = r - r % 3;  // the interaction of this row
      ASSERT_EQ(b.labels[r], r % 3 == 0 ? 1.0f : 0.0f) << r;
      ASSERT_EQ(b.label_mask[r], 1);
      ASSERT_EQ(b.domain[r], b.domain[head]);
      ASSERT_EQ(b.user[r], b.user[head]);
      for (int s = 0; s < 4; ++s) ASSERT_EQ(b.offsets[s][r + 1] - b.offsets[s][r], 1u);
      ASSERT_EQ(b.ids[kUserId][r], b.user[r]);
      ASSERT_LT(b.user[r], 300u);
      ASSERT_EQ(b.ids[kUserGroup][r], static_cast<uint64_t>(model_->user_group(b.user[r])));
      ASSERT_LT(b.ids[kItemId][r], 500u);
      ASSERT_EQ(b.ids[kItemCategory][r],
                static_cast<uint64_t>(model_->item_category(b.ids[kItemId][r])));
    }
  }
}

TEST_F(MatchingTest, TailScenarioGetsItsConfiguredShare) {
  EXPECT_NEAR(summary_->scenario_share[2], 0.03, 1e-12);
  EXPECT_NEAR(summary_->scenario_share[0] / summary_->scenario_share[1], 2.0, 1e-9);  // skew 1
  int64_t tail = 0, total = 0;
  for (const SyntheticSplitSummary& ss : summary_->splits) {
    tail += ss.domain_samples[2];
    total += ss.samples;
  }
  // 40000 interactions: the share's standard deviation is 0.00085.
  EXPECT_NEAR(static_cast<double>(tail) / total, 0.03, 0.004);
  EXPECT_LE(static_cast<double>(tail) / total, 0.034);
}

TEST_F(MatchingTest, PopularityIsZipfSkewed) {
  std::vector<int64_t> positives(500), negatives(500);
  int64_t num_negatives = 0;
  for (const Batch& b : splits_) {
    for (int64_t r = 0; r < b.size; ++r) {
      (b.labels[r] > 0 ? positives : negatives)[b.ids[kItemId][r]]++;
      num_negatives += b.labels[r] == 0;
    }
  }
  // Positives mix popularity with relevance, so compare the head with the middle in bulk too.
  int64_t head_50 = 0, middle_50 = 0;
  for (int i = 0; i < 50; ++i) {
    head_50 += positives[i];
    middle_50 += positives[250 + i];
  }
  EXPECT_GT(positives[0], 10 * (positives[250] + 1));
  EXPECT_GT(head_50, 3 * middle_50) << head_50 << " vs " << middle_50;
  // Negatives follow pop_i alone.
  const double head = summary_->head_item_share;
  EXPECT_NEAR(head, 1.0 / 6.7928, 0.001);  // 1 / H(500)
  EXPECT_NEAR(static_cast<double>(negatives[0]) / num_negatives, head,
              5 * std::sqrt(head * (1 - head) / num_negatives));
}

TEST_F(MatchingTest, CorpusHoldsEveryItemOnceWithItsCategory) {
  const Batch items = ReadSplit(dir_->file("items"));
  ASSERT_EQ(items.size, 500);
  EXPECT_EQ(summary_->items.samples, 500);
  std::set<uint64_t> categories;
  for (int64_t i = 0; i < items.size; ++i) {
    EXPECT_EQ(items.label_mask[i], 0);
    EXPECT_EQ(items.offsets[kUserId][i + 1], 0u);  // user slots empty
    EXPECT_EQ(items.offsets[kUserGroup][i + 1], 0u);
    ASSERT_EQ(items.offsets[kItemId][i + 1], i + 1);
    EXPECT_EQ(items.ids[kItemId][i], static_cast<uint64_t>(i));
    EXPECT_EQ(items.ids[kItemCategory][i], static_cast<uint64_t>(model_->item_category(i)));
    EXPECT_LT(items.ids[kItemCategory][i], 16u);
    categories.insert(items.ids[kItemCategory][i]);
  }
  EXPECT_GE(categories.size(), 8u);
}

TEST_F(MatchingTest, CategoriesGroupNearbyItemLatents) {
  // The category is the nearest centroid: items of one category lie closer to their mean than
  // items to the mean of all (for random categories the two would be about equal).
  const ConstMatView v = model_->item_matrix();
  const int L = model_->latent_dim();
  std::vector<double> mean(L, 0.0), category_mean(16 * L, 0.0);
  std::vector<int> size(16, 0);
  for (int64_t i = 0; i < v.rows; ++i) {
    const int c = model_->item_category(i);
    ++size[c];
    for (int l = 0; l < L; ++l) {
      mean[l] += v.row(i)[l] / v.rows;
      category_mean[c * L + l] += v.row(i)[l];
    }
  }
  double within = 0, overall = 0;
  for (int64_t i = 0; i < v.rows; ++i) {
    const int c = model_->item_category(i);
    for (int l = 0; l < L; ++l) {
      const double x = v.row(i)[l];
      within += std::pow(x - category_mean[c * L + l] / size[c], 2);
      overall += std::pow(x - mean[l], 2);
    }
  }
  EXPECT_LT(within, 0.8 * overall) << within << " vs " << overall;
}

TEST_F(MatchingTest, SamplesFollowTheModelsDistribution) {
  // Over all users of a scenario, the mean of p(. | u, s) is the expected item distribution;
  // the tail scenario's 1200 interactions still test it.
  for (int s = 0; s < 3; ++s) {
    std::vector<double> expected(500, 0.0);
    std::vector<int64_t> seen(500, 0);
    int64_t n = 0;
    std::map<uint64_t, std::vector<double>> p;  // by user
    for (const Batch& b : splits_) {
      for (int64_t r = 0; r < b.size; r += 3) {
        if (b.domain[r] != s) continue;
        auto [it, fresh] = p.try_emplace(b.user[r]);
        if (fresh) it->second = BruteForceP(*config_, *model_, b.user[r], s);
        for (int i = 0; i < 500; ++i) expected[i] += it->second[i];
        ++seen[b.ids[kItemId][r]];
        ++n;
      }
    }
    double df = 0;
    const double chi2 = ChiSquare(expected, seen, &df);
    EXPECT_LT(chi2, df + 6 * std::sqrt(2 * df)) << "scenario " << s << ", " << n << " draws";
  }
}

TEST(MatchingDistributionTest, OnePairMatchesItsSoftmax) {
  // One user: all of a scenario's draws come from one p(. | u, s).
  const DataConfig config = Config(
      "synthetic { num_samples: 60000 num_users: 1 tail_share: 0.2 matching { num_items: 60 "
      "negatives_per_positive: 0 relevance_scale: 2 } }");
  TempDir dir;
  ASSERT_TRUE(GenerateMatching(config, Dirs(dir)).ok());
  const MatchingModel model(config);
  for (int s = 0; s < 3; ++s) {
    const std::vector<double> p = BruteForceP(config, model, 0, s);
    std::vector<int64_t> seen(60, 0);
    int64_t n = 0;
    for (const char* split : {"train", "validation", "test"}) {
      const Batch b = ReadSplit(dir.file(split));
      for (int64_t r = 0; r < b.size; ++r) {
        if (b.domain[r] != s) continue;
        ++seen[b.ids[kItemId][r]];
        ++n;
      }
    }
    std::vector<double> expected(60);
    double tv = 0;
    for (int i = 0; i < 60; ++i) {
      expected[i] = n * p[i];
      tv += std::abs(static_cast<double>(seen[i]) / n - p[i]) / 2;
    }
    double df = 0;
    const double chi2 = ChiSquare(expected, seen, &df);
    EXPECT_GE(df, 20);
    EXPECT_LT(chi2, df + 6 * std::sqrt(2 * df)) << "scenario " << s << ", " << n << " draws";
    EXPECT_LT(tv, 0.03) << "scenario " << s;
    EXPECT_GT(n, 10000);
  }
}

TEST_F(MatchingTest, OracleJsonMatchesABruteForceRecomputation) {
  EXPECT_EQ(summary_->oracle_path, dir_->file("test") + "/oracle.json");
  const std::map<std::string, double> json = ReadJson(summary_->oracle_path);
  const std::vector<std::string> names = {"home", "search", "tail"};
  const int ks[] = {5, 20, 100};
  ASSERT_EQ(json.size(), 3u * 4 + 4) << "recall@K and recall@K/<scenario>, queries";

  // Queries: the (user, scenario) pairs of the test interactions.
  std::set<std::pair<uint64_t, int>> queries;
  const Batch& test = splits_[2];
  for (int64_t r = 0; r < test.size; r += 3) queries.insert({test.user[r], test.domain[r]});
  std::vector<std::vector<double>> sum(3, std::vector<double>(4, 0.0));  // (K, scenario + all)
  std::vector<int64_t> count(4, 0);
  for (const auto& [u, s] : queries) {
    std::vector<double> p = BruteForceP(*config_, *model_, u, s);
    std::sort(p.begin(), p.end(), std::greater<>());
    for (int k = 0; k < 3; ++k) {
      double top = 0;
      for (int i = 0; i < ks[k]; ++i) top += p[i];
      sum[k][s] += top;
      sum[k][3] += top;
    }
    ++count[s];
    ++count[3];
  }
  EXPECT_EQ(json.at("queries"), count[3]);
  for (int s = 0; s < 3; ++s) EXPECT_EQ(json.at("queries/" + names[s]), count[s]);
  for (int s = 0; s <= 3; ++s) {
    double previous = 0;
    for (int k = 0; k < 3; ++k) {
      const std::string name =
          "recall@" + std::to_string(ks[k]) + (s < 3 ? "/" + names[s] : std::string());
      const double v = json.at(name);
      EXPECT_GT(v, 0) << name;
      EXPECT_LE(v, 1) << name;
      EXPECT_GT(v, previous) << name;
      previous = v;
      EXPECT_NEAR(v, sum[k][s] / count[s], 1e-5) << name;
    }
  }
  // The summary carries the same values, and its text shows them.
  for (const auto& [name, value] : summary_->oracle) EXPECT_EQ(json.at(name), value) << name;
  const std::string text = FormatMatchingSummary(*config_, *summary_);
  for (const char* part : {"recall@20", "tail scenario tail", "items", "queries", "search"}) {
    EXPECT_NE(text.find(part), std::string::npos) << part << " in\n" << text;
  }
}

TEST(MatchingDeterminismTest, SameBytesForOneAndTwoThreads) {
  TempDir a, b;
  const DataConfig config = Config("synthetic { samples_per_shard: 7000 }");
  SetComputeThreads(1);
  ASSERT_TRUE(GenerateMatching(config, Dirs(a)).ok());
  SetComputeThreads(2);
  ASSERT_TRUE(GenerateMatching(config, Dirs(b)).ok());
  const auto fa = FileBytes(a.path());
  const auto fb = FileBytes(b.path());
  ASSERT_EQ(fa.size(), 5u + 1 + 1 + 1 + 1) << "shards of each split, the corpus, oracle.json";
  auto ib = fb.begin();
  for (const auto& [name, bytes] : fa) {
    ASSERT_NE(ib, fb.end());
    EXPECT_EQ(name, ib->first);
    EXPECT_TRUE(bytes == ib->second) << name;
    ++ib;
  }
}

TEST(MatchingOutputsTest, CorpusFolderDefaultsToItemsBesideTrain) {
  DataConfig c = Config();
  c.add_train("/data/run/train/");
  c.add_validation("/data/run/validation");
  c.add_test("/data/run/test");
  auto o = MatchingOutputsFromConfig(c);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->items_dir, "/data/run/items");
  c.add_items("/elsewhere/corpus");
  EXPECT_EQ(MatchingOutputsFromConfig(c)->items_dir, "/elsewhere/corpus");
  c.add_items("/second");
  EXPECT_NE(MatchingOutputsFromConfig(c).status().message().find("items"), std::string::npos);
}

TEST(MatchingConfigTest, RejectsBadConfigsWithClearErrors) {
  const auto error = [](const DataConfig& c) { return ValidateMatchingConfig(c).ToString(); };
  DataConfig no_user = Config();
  no_user.mutable_slots()->DeleteSubrange(kUserId, 1);
  EXPECT_NE(error(no_user).find("\"user_id\" (SIDE_USER)"), std::string::npos) << error(no_user);
  DataConfig no_item = Config();
  no_item.mutable_slots()->DeleteSubrange(kItemId, 1);
  EXPECT_NE(error(no_item).find("\"item_id\" (SIDE_ITEM)"), std::string::npos) << error(no_item);

  DataConfig wrong_side = Config();
  wrong_side.mutable_slots(kItemCategory)->set_side(SIDE_USER);
  EXPECT_NE(error(wrong_side).find("slots[3] \"item_category\" has side SIDE_USER"),
            std::string::npos)
      << error(wrong_side);
  EXPECT_NE(error(wrong_side).find("SIDE_ITEM"), std::string::npos);

  DataConfig unknown = Config("slots { name: \"user_age\" side: SIDE_USER }");
  EXPECT_NE(error(unknown).find("slots[4] \"user_age\" is not a slot"), std::string::npos)
      << error(unknown);

  const std::pair<std::string, std::string> cases[] = {
      {"num_dense: 2", "num_dense = 2"},
      {"num_tasks: 2", "num_tasks = 2"},
      {"synthetic { matching { num_items: 1 } }", "synthetic.matching.num_items"},
      {"synthetic { matching { oracle_ks: 5 } }", "synthetic.matching.oracle_ks"},
      {"synthetic { matching { item_categories: 0 } }", "synthetic.matching.item_categories"},
      {"synthetic { matching { negatives_per_positive: -1 } }", "negatives_per_positive"},
      {"synthetic { matching { relevance_scale: -1 } }", "relevance_scale"},
      {"synthetic { latent_dim: 0 }", "synthetic.latent_dim"},
      {"synthetic { tail_share: 0.7 }", "synthetic.tail_share"},
  };
  for (const auto& [text, field] : cases) {
    const DataConfig c = Config(text);
    const Status s = ValidateMatchingConfig(c);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(s.message().find(field), std::string::npos) << text << ": " << s.ToString();
    // Every entry point refuses it the same way.
    EXPECT_EQ(ValidateSyntheticConfig(c).ToString(), s.ToString());
    TempDir dir;
    EXPECT_EQ(GenerateMatching(c, Dirs(dir)).status().ToString(), s.ToString());
  }
  EXPECT_TRUE(ValidateMatchingConfig(Config()).ok());
  EXPECT_TRUE(ValidateSyntheticConfig(Config()).ok());
  // The ranking generator does not write matching data.
  TempDir dir;
  EXPECT_NE(GenerateSynthetic(Config(), Dirs(dir).splits).status().message().find("matching"),
            std::string::npos);
}

}  // namespace
}  // namespace moerec
