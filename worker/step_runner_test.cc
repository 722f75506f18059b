#include "worker/step_runner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <vector>

#include "comm/communicator.h"
#include "core/random.h"
#include "core/temp_dir.h"
#include "embedding/table_spec.h"
#include "proto/text_config.h"
#include "ps/local_store.h"

namespace moerec {
namespace {

using testing::TempDir;

// One slot of dim 2, a linear bottom of width 3 and a head: logit = (e W1 + b1) W2 + b2, SGD on
// both sides, so one step can be worked out by hand below.
constexpr char kConfig[] = R"(
data {
  num_domains: 1
  num_tasks: 1
  slots { name: "item" }
  train: "train"
}
embedding {
  dim: 2
  optimizer { type: SGD learning_rate: 0.5 }
  initializer { type: UNIFORM scale: 0.5 }
}
model {
  shared_bottom {
    bottom { dims: 3 activation: ACT_NONE }
    tower { }
  }
}
optimizer { type: SGD learning_rate: 0.25 }
)";

JobConfig LoadConfig(const TempDir& dir) {
  std::ofstream(dir / "job.pbtxt") << kConfig;
  auto config = LoadJobConfig(dir / "job.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

// A batch of samples with one id each.
Batch MakeBatch(const std::vector<uint64_t>& ids, const std::vector<float>& labels) {
  Batch b;
  b.Reset(1, 1, 0);
  for (size_t i = 0; i < ids.size(); ++i) {
    b.domain.push_back(0);
    b.user.push_back(i);
    b.labels.push_back(labels[i]);
    b.label_mask.push_back(1);
    b.ids[0].push_back(ids[i]);
    b.offsets[0].push_back(static_cast<uint32_t>(b.ids[0].size()));
  }
  b.size = static_cast<int64_t>(ids.size());
  return b;
}

// The model's parameters by shape (bottom W1 (2, 3), b1 (3); head W2 (3, 1), b2 (1)).
struct Weights {
  Parameter *w1 = nullptr, *b1 = nullptr, *w2 = nullptr, *b2 = nullptr;
};
Weights Find(Model* model) {
  Weights w;
  for (const auto& p : model->params()->params()) {
    const std::vector<int64_t>& s = p->value.shape();
    if (s == std::vector<int64_t>{2, 3}) w.w1 = p.get();
    if (s == std::vector<int64_t>{3}) w.b1 = p.get();
    if (s == std::vector<int64_t>{3, 1}) w.w2 = p.get();
    if (s == std::vector<int64_t>{1}) w.b2 = p.get();
  }
  EXPECT_TRUE(w.w1 && w.b1 && w.w2 && w.b2) << "unexpected parameter shapes";
  return w;
}

std::vector<float> Rows(EmbeddingStore* store, const std::vector<uint64_t>& keys) {
  std::vector<TableRequest> reqs(1);
  reqs[0].keys = keys;
  reqs[0].values.assign(keys.size() * 2, 0.0f);
  EXPECT_TRUE(store->Wait(store->Pull(&reqs, 0, /*training=*/false)).ok());
  return reqs[0].values;
}

TEST(StepRunnerTest, OneStepMatchesAHandComputedReference) {
  TempDir dir;
  const JobConfig config = LoadConfig(dir);
  auto store = LocalStore::Open(TableSpecsFromConfig(config));
  ASSERT_TRUE(store.ok()) << store.status();
  SelfCommunicator comm;
  auto runner = StepRunner::Create(config, store->get(), &comm);
  ASSERT_TRUE(runner.ok()) << runner.status();
  const Weights w = Find((*runner)->model());

  // Three samples; id 7 appears twice, so its gradient is the sum of two.
  const std::vector<uint64_t> ids = {7, 3, 7};
  const std::vector<float> labels = {1, 0, 0};
  const std::vector<uint64_t> keys = {3, 7};
  const std::vector<float> rows0 = Rows(store->get(), keys);
  std::map<uint64_t, std::vector<double>> e;
  for (size_t k = 0; k < keys.size(); ++k) e[keys[k]] = {rows0[2 * k], rows0[2 * k + 1]};
  auto at = [](const Parameter* p, int i) { return static_cast<double>(p->value[i]); };

  // Forward and backward in double, by hand.
  const int n = 3;
  double loss = 0, db2 = 0;
  std::vector<double> dw2(3, 0), db1(3, 0), dw1(6, 0);
  std::map<uint64_t, std::vector<double>> de;
  for (int i = 0; i < n; ++i) {
    const std::vector<double>& x = e[ids[i]];
    double h[3], logit = at(w.b2, 0);
    for (int c = 0; c < 3; ++c) {
      h[c] = at(w.b1, c) + x[0] * at(w.w1, c) + x[1] * at(w.w1, 3 + c);
      logit += h[c] * at(w.w2, c);
    }
    const double p = 1.0 / (1.0 + std::exp(-logit));
    loss -= (labels[i] * std::log(p) + (1 - labels[i]) * std::log(1 - p)) / n;
    const double g = (p - labels[i]) / n;  // dL/dlogit
    db2 += g;
    std::vector<double>& dx = de[ids[i]];
    dx.resize(2, 0.0);
    for (int c = 0; c < 3; ++c) {
      dw2[c] += g * h[c];
      const double dh = g * at(w.w2, c);
      db1[c] += dh;
      dw1[c] += dh * x[0];
      dw1[3 + c] += dh * x[1];
      dx[0] += dh * at(w.w1, c);
      dx[1] += dh * at(w.w1, 3 + c);
    }
  }
  // SGD: dense lr 0.25, rows lr 0.5.
  std::vector<double> w1 = {at(w.w1, 0), at(w.w1, 1), at(w.w1, 2),
                            at(w.w1, 3), at(w.w1, 4), at(w.w1, 5)};
  for (int j = 0; j < 6; ++j) w1[j] -= 0.25 * dw1[j];
  const double b2 = at(w.b2, 0) - 0.25 * db2;
  std::vector<double> w2(3), b1(3);
  for (int c = 0; c < 3; ++c) {
    w2[c] = at(w.w2, c) - 0.25 * dw2[c];
    b1[c] = at(w.b1, c) - 0.25 * db1[c];
  }

  Batch batch = MakeBatch(ids, labels);
  auto got = (*runner)->Train(&batch, 0);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_NEAR(*got, loss, 1e-6);
  for (int j = 0; j < 6; ++j) EXPECT_NEAR(w.w1->value[j], w1[j], 1e-6) << "W1 " << j;
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(w.b1->value[c], b1[c], 1e-6) << "b1 " << c;
    EXPECT_NEAR(w.w2->value[c], w2[c], 1e-6) << "W2 " << c;
  }
  EXPECT_NEAR(w.b2->value[0], b2, 1e-6);
  const std::vector<float> rows1 = Rows(store->get(), keys);
  for (size_t k = 0; k < keys.size(); ++k) {
    for (int j = 0; j < 2; ++j) {
      EXPECT_NEAR(rows1[2 * k + j], e[keys[k]][j] - 0.5 * de[keys[k]][j], 1e-6)
          << "row " << keys[k] << "[" << j << "]";
    }
  }
}

// Training with the next batch's pull overlapped gives the same bits as without.
TEST(StepRunnerTest, OverlapOnAndOffAreIdentical) {
  TempDir dir;
  const JobConfig config = LoadConfig(dir);
  std::vector<Batch> batches;
  for (int b = 0; b < 4; ++b) {
    std::vector<uint64_t> ids;
    std::vector<float> labels;
    for (int i = 0; i < 16; ++i) {
      ids.push_back(static_cast<uint64_t>((i * 7 + b * 3) % 11));
      labels.push_back(static_cast<float>((i + b) % 3 == 0));
    }
    batches.push_back(MakeBatch(ids, labels));
  }
  std::vector<std::vector<float>> params(2), rows(2);
  std::vector<std::vector<double>> losses(2);
  for (int overlap = 0; overlap < 2; ++overlap) {
    auto store = LocalStore::Open(TableSpecsFromConfig(config));
    ASSERT_TRUE(store.ok());
    SelfCommunicator comm;
    auto runner = StepRunner::Create(config, store->get(), &comm);
    ASSERT_TRUE(runner.ok());
    std::vector<Batch> copy = batches;
    for (size_t s = 0; s < copy.size(); ++s) {
      Batch* next = overlap && s + 1 < copy.size() ? &copy[s + 1] : nullptr;
      auto loss = (*runner)->Train(&copy[s], static_cast<int64_t>(s), next);
      ASSERT_TRUE(loss.ok()) << loss.status();
      losses[overlap].push_back(*loss);
    }
    for (const auto& p : (*runner)->model()->params()->params()) {
      params[overlap].insert(params[overlap].end(), p->value.data(),
                             p->value.data() + p->value.size());
    }
    std::vector<uint64_t> keys;
    for (uint64_t k = 0; k < 11; ++k) keys.push_back(k);
    rows[overlap] = Rows(store->get(), keys);
  }
  EXPECT_EQ(losses[0], losses[1]);
  EXPECT_EQ(params[0], params[1]);
  EXPECT_EQ(rows[0], rows[1]);
}

}  // namespace
}  // namespace moerec

namespace moerec {
namespace {

// M3oE on two domains and two tasks; `architecture` is the train.architecture block.
JobConfig M3oeJob(const TempDir& dir, const std::string& architecture) {
  std::ofstream(dir / "m3oe.pbtxt") << R"(
data {
  num_domains: 2
  num_tasks: 2
  slots { name: "item" }
  train: "train"
  validation: "validation"
}
embedding { dim: 2 optimizer { type: SGD learning_rate: 0.5 } }
model {
  m3oe {
    star_dim: 4
    representation { dims: 6 }
    num_shared_experts: 2
    expert { dims: 5 }
    tower { dims: 3 }
  }
}
optimizer { type: SGD learning_rate: 0.25 }
train { )" << architecture << R"( }
)";
  auto config = LoadJobConfig(dir / "m3oe.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

Batch TwoTaskBatch(uint64_t seed) {
  Batch b;
  b.Reset(2, 1, 0);
  Rng rng(seed);
  for (int i = 0; i < 16; ++i) {
    b.domain.push_back(i % 2);
    b.user.push_back(i);
    for (int t = 0; t < 2; ++t) {
      b.labels.push_back(rng.Below(2));
      b.label_mask.push_back(1);
    }
    b.ids[0].push_back(rng.Below(10));
    b.offsets[0].push_back(static_cast<uint32_t>(b.ids[0].size()));
  }
  b.size = 16;
  return b;
}

struct ArchRun {
  std::vector<float> theta0, theta_after_train, theta_after_arch;
  bool others_moved_in_train = false;
  bool others_moved_in_arch = false;
  bool rows_moved_in_arch = false;
  bool has_arch_optimizer = false;
};

ArchRun RunArchitecture(const std::string& architecture) {
  TempDir dir;
  const JobConfig config = M3oeJob(dir, architecture);
  auto store = LocalStore::Open(TableSpecsFromConfig(config));
  EXPECT_TRUE(store.ok()) << store.status();
  SelfCommunicator comm;
  auto runner = StepRunner::Create(config, store->get(), &comm);
  EXPECT_TRUE(runner.ok()) << runner.status();
  ArchRun out;
  out.has_arch_optimizer = (*runner)->architecture_optimizer() != nullptr;
  ParameterSet* params = (*runner)->model()->params();
  const Tensor& theta = params->Find("arch.theta")->value;
  auto copy = [](const Tensor& t) { return std::vector<float>(t.data(), t.data() + t.size()); };
  const Tensor& other = params->Find("towers.0.out.w")->value;
  out.theta0 = copy(theta);
  std::vector<float> other0 = copy(other);
  Batch train = TwoTaskBatch(1);
  EXPECT_TRUE((*runner)->Train(&train, 0).ok());
  out.theta_after_train = copy(theta);
  out.others_moved_in_train = copy(other) != other0;
  other0 = copy(other);
  const std::vector<uint64_t> keys = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::vector<float> rows0 = Rows(store->get(), keys);
  Batch held_out = TwoTaskBatch(2);
  auto loss = (*runner)->TrainArchitecture(&held_out, 1);
  EXPECT_TRUE(loss.ok()) << loss.status();
  out.theta_after_arch = copy(theta);
  out.others_moved_in_arch = copy(other) != other0;
  out.rows_moved_in_arch = Rows(store->get(), keys) != rows0;
  return out;
}

// AUTOML: the training step leaves theta alone, the architecture step moves theta and
// nothing else (no dense parameter, no embedding row).
TEST(StepRunnerArchitectureTest, AutomlStepsThetaOnlyOnHeldOutBatches) {
  const ArchRun r = RunArchitecture("architecture { optimizer { type: SGD learning_rate: 0.1 } }");
  EXPECT_TRUE(r.has_arch_optimizer);
  EXPECT_EQ(r.theta_after_train, r.theta0);
  EXPECT_TRUE(r.others_moved_in_train);
  EXPECT_NE(r.theta_after_arch, r.theta_after_train);
  EXPECT_FALSE(r.others_moved_in_arch);
  EXPECT_FALSE(r.rows_moved_in_arch);
}

TEST(StepRunnerArchitectureTest, JointTrainsThetaWithTheMainOptimizer) {
  const ArchRun r = RunArchitecture("architecture { mode: JOINT }");
  EXPECT_FALSE(r.has_arch_optimizer);
  EXPECT_NE(r.theta_after_train, r.theta0);
  // Without an architecture optimizer the architecture step does nothing.
  EXPECT_EQ(r.theta_after_arch, r.theta_after_train);
  EXPECT_FALSE(r.others_moved_in_arch);
}

TEST(StepRunnerArchitectureTest, FrozenNeverMovesTheta) {
  const ArchRun r = RunArchitecture("architecture { mode: FROZEN }");
  EXPECT_FALSE(r.has_arch_optimizer);
  EXPECT_EQ(r.theta_after_train, r.theta0);
  EXPECT_EQ(r.theta_after_arch, r.theta0);
  EXPECT_TRUE(r.others_moved_in_train);
}

}  // namespace
}  // namespace moerec
