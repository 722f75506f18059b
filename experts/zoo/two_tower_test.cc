#include "experts/zoo/two_tower.h"

#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "experts/test_util.h"

namespace moerec {
namespace {

using testing::ExpectGradientMatches;
using testing::ExpectParameterGradients;
using testing::GradCheckOptions;
using testing::RandomBatch;

// user_id (4) | user_group (3) | item_id (4) | item_category (3) | 1 dense; 2 scenarios.
ModelShape MatchingShape() {
  ModelShape s;
  s.num_domains = 2;
  s.num_tasks = 1;
  s.slot_dims = {4, 3, 4, 3};
  s.slot_names = {"user_id", "user_group", "item_id", "item_category"};
  s.slot_sides = {SIDE_USER, SIDE_CONTEXT, SIDE_ITEM, SIDE_ITEM};
  s.num_dense = 1;
  s.num_features = 15;
  return s;
}

ModelConfig Config(const std::string& text) {
  ModelConfig c;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &c)) << text;
  return c;
}

const char kMlp[] =
    "two_tower { user_tower { mlp { dims: 8 dims: 5 } } item_tower { mlp { dims: 6 dims: 5 } } "
    "temperature: 0.5 } domain_embedding_dim: 3";

// A batch of 9 rows (5 and 4 per scenario) whose item keys repeat (rows 0 and 6 share item 0,
// an accidental hit) and whose every fourth row is a negative.
struct MatchingBatch {
  RandomBatch rows;
  std::vector<float> labels;
  std::vector<uint8_t> mask;
  std::vector<uint64_t> keys;
  explicit MatchingBatch(uint64_t seed) : rows(MatchingShape(), {5, 4}, seed) {
    for (int64_t i = 0; i < rows.batch.size; ++i) {
      labels.push_back(i % 4 == 3 ? 0.0f : 1.0f);
      mask.push_back(1);
      keys.push_back(static_cast<uint64_t>(i % 6) * 1000 + 7);
    }
    rows.batch.labels = labels.data();
    rows.batch.label_mask = mask.data();
    rows.batch.keys = keys.data();
    rows.batch.seed = 99;
  }
};

std::unique_ptr<Model> Build(const ModelConfig& config, uint64_t seed = 5) {
  auto model = CreateModel(config, MatchingShape(), seed);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  testing::PerturbParameters((*model)->params(), seed + 1, 0.2f);
  return std::move(*model);
}

// The item counters back at zero, so every evaluation of the loss starts from the same q.
void ResetCounts(Model* model) {
  for (const auto& p : model->params()->params()) {
    if (p->name.rfind("freq.", 0) == 0) p->value.Fill(0.0f);
  }
}

double StepLoss(Model* model, MatchingBatch* b) {
  ResetCounts(model);
  auto loss = model->matching()->TrainingLoss(b->rows.batch);
  EXPECT_TRUE(loss.ok()) << loss.status().ToString();
  return *loss;
}

// Checks every parameter gradient and dfeatures of the training loss by finite differences.
void ExpectLossGradients(Model* model, MatchingBatch* b) {
  const ModelShape& shape = model->shape();
  Tensor dfeatures({b->rows.batch.size, shape.num_features});
  dfeatures.Fill(7.0f);
  model->params()->ZeroGrad();
  StepLoss(model, b);
  model->Backward(b->rows.batch, ConstMatView(), dfeatures.view());
  auto loss = [&] { return StepLoss(model, b); };
  ExpectParameterGradients(model->params(), loss, 21);
  ExpectGradientMatches(b->rows.features.data(), dfeatures.data(), b->rows.features.size(), loss,
                        "dfeatures", 22, GradCheckOptions{60});
}

TEST(TwoTowerTest, InBatchSoftmaxWithLogQMatchesADoublePrecisionReference) {
  auto model = Build(Config(kMlp));
  MatchingBatch b(3);
  const int64_t n = b.rows.batch.size, d = model->matching()->embedding_dim();
  Tensor u({n, d}), v({n, d});
  b.rows.batch.training = false;
  model->matching()->EncodeUsers(b.rows.batch, u.view());
  model->matching()->EncodeItems(b.rows.batch, v.view());
  b.rows.batch.training = true;
  // q_j: the item's share of this step's candidates (the counters start at zero).
  std::map<uint64_t, double> count;
  for (uint64_t k : b.keys) count[k] += 1.0;
  double want = 0.0, queries = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (b.labels[i] != 1.0f) continue;
    queries += 1.0;
    std::vector<double> z(n);
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0.0;
      for (int64_t c = 0; c < d; ++c) dot += static_cast<double>(u.at(i, c)) * v.at(j, c);
      z[j] = dot / 0.5 - std::log(count[b.keys[j]] / n);
    }
    double sum = 0.0;
    for (int64_t j = 0; j < n; ++j) {
      if (j == i || b.keys[j] != b.keys[i]) sum += std::exp(z[j]);  // accidental hits left out
    }
    want += std::log(sum) - z[i];
  }
  want /= queries;
  EXPECT_NEAR(StepLoss(model.get(), &b), want, 1e-5 * std::fabs(want));
  // Without the correction the loss is a different number.
  ModelConfig plain = Config(kMlp);
  plain.mutable_two_tower()->set_log_q_correction(false);
  auto uncorrected = Build(plain);
  EXPECT_GT(std::fabs(StepLoss(uncorrected.get(), &b) - want), 1e-3);
}

TEST(TwoTowerTest, ItemCountsAccumulateOverSteps) {
  auto model = Build(Config(kMlp));
  MatchingBatch b(3);
  ResetCounts(model.get());
  ASSERT_TRUE(model->matching()->TrainingLoss(b.rows.batch).ok());
  ASSERT_TRUE(model->matching()->TrainingLoss(b.rows.batch).ok());
  const Parameter* total = nullptr;
  double counted = 0.0;
  for (const auto& p : model->params()->params()) {
    if (p->name == "freq.total") total = p.get();
    if (p->name == "freq.counts") {
      for (int64_t i = 0; i < p->value.size(); ++i) counted += p->value[i];
    }
  }
  ASSERT_NE(total, nullptr);
  EXPECT_EQ(total->value[0], 2.0f * b.rows.batch.size);
  EXPECT_EQ(counted, 2.0 * b.rows.batch.size);
}

TEST(TwoTowerTest, InBatchSoftmaxGradientsMatchFiniteDifferences) {
  auto model = Build(Config(kMlp));
  MatchingBatch b(4);
  ExpectLossGradients(model.get(), &b);
}

TEST(TwoTowerTest, SampledBceGradientsMatchFiniteDifferences) {
  ModelConfig c = Config(kMlp);
  c.mutable_two_tower()->set_loss(TwoTowerConfig::SAMPLED_BCE);
  c.mutable_two_tower()->set_num_negatives(3);
  c.mutable_two_tower()->set_l2_normalize(false);
  auto model = Build(c);
  MatchingBatch b(5);
  ExpectLossGradients(model.get(), &b);
}

TEST(TwoTowerTest, SapTowerGradientsMatchFiniteDifferences) {
  auto model = Build(
      Config("two_tower { user_tower { mlp { dims: 6 dims: 5 activation: ACT_PRELU } sap { rank: "
             "2 } } item_tower { mlp { dims: 5 } } temperature: 0.5 } domain_embedding_dim: 3"));
  MatchingBatch b(6);
  ExpectLossGradients(model.get(), &b);
}

TEST(TwoTowerTest, SapMmoeTowerGradientsMatchFiniteDifferences) {
  auto model =
      Build(Config("two_tower { user_tower { sap_mmoe { num_experts: 2 dims: 6 output_dim: 5 sap { "
                   "rank: 2 } } } item_tower { mlp { dims: 7 dims: 5 } } temperature: 0.5 } "
                   "domain_embedding_dim: 3"));
  MatchingBatch b(7);
  ExpectLossGradients(model.get(), &b);
}

TEST(TwoTowerTest, PointwiseForwardIsTheOwnPairScoreAndItsGradientsMatch) {
  auto model = Build(Config(kMlp));
  MatchingBatch b(8);
  const int64_t n = b.rows.batch.size, d = model->matching()->embedding_dim();
  Tensor u({n, d}), v({n, d}), logits({n, 1});
  model->matching()->EncodeUsers(b.rows.batch, u.view());
  model->matching()->EncodeItems(b.rows.batch, v.view());
  model->Forward(b.rows.batch, logits.view());
  for (int64_t i = 0; i < n; ++i) {
    double dot = 0.0;
    for (int64_t c = 0; c < d; ++c) dot += static_cast<double>(u.at(i, c)) * v.at(i, c);
    EXPECT_NEAR(logits.at(i, 0), dot / 0.5, 1e-5);
  }
  testing::ExpectModelGradients(model.get(), &b.rows);
}

// The student's slots, then the teacher's views of them (through its own tables, here of other
// widths), then the dense feature.
ModelShape DistillShape() {
  ModelShape s = MatchingShape();
  s.slot_dims = {4, 3, 4, 3, 2, 2, 3, 2};
  s.slot_names = {"user_id",         "user_group",           "item_id",
                  "item_category",   "teacher.user_id",      "teacher.user_group",
                  "teacher.item_id", "teacher.item_category"};
  s.slot_sides = {SIDE_USER, SIDE_CONTEXT, SIDE_ITEM, SIDE_ITEM,
                  SIDE_USER, SIDE_CONTEXT, SIDE_ITEM, SIDE_ITEM};
  s.num_teacher_slots = 4;
  s.num_features = 14 + 9 + 1;
  return s;
}

const char kDistill[] =
    "two_tower { user_tower { mlp { dims: 8 dims: 5 } } item_tower { mlp { dims: 6 dims: 5 } } "
    "temperature: 0.5 distill { teacher { domain_embedding_dim: 2 mmoe { num_experts: 2 expert { "
    "dims: 6 } tower { dims: 4 } } } weight: 0.7 temperature: 1.5 list_size: 4 } } "
    "domain_embedding_dim: 3";

double StatValue(Model* model, const std::string& name) {
  for (const auto& [n, v] : model->Stats()) {
    if (n == name) return v;
  }
  ADD_FAILURE() << "no statistic " << name;
  return 0.0;
}

// Student parameters and the features against the whole loss; the teacher's against its own
// loss (the distillation term reaches no teacher parameter).
void ExpectDistillGradients(const ModelConfig& config) {
  auto made = CreateModel(config, DistillShape(), 5);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  Model* model = made->get();
  testing::PerturbParameters(model->params(), 6, 0.2f);
  RandomBatch rows(DistillShape(), {5, 4}, 9);
  MatchingBatch labels(9);
  rows.batch.labels = labels.labels.data();
  rows.batch.label_mask = labels.mask.data();
  rows.batch.keys = labels.keys.data();
  rows.batch.seed = 99;
  auto step = [&] {
    ResetCounts(model);
    auto loss = model->matching()->TrainingLoss(rows.batch);
    EXPECT_TRUE(loss.ok());
    return *loss;
  };
  Tensor dfeatures({rows.batch.size, DistillShape().num_features});
  model->params()->ZeroGrad();
  const double total = step();
  EXPECT_GT(StatValue(model, "kd_loss"), 1e-4);
  EXPECT_GT(StatValue(model, "teacher_loss"), 1e-3);
  EXPECT_NEAR(total,
              StatValue(model, "task_loss") + StatValue(model, "kd_loss") +
                  StatValue(model, "teacher_loss"),
              1e-6 * std::fabs(total));
  model->Backward(rows.batch, ConstMatView(), dfeatures.view());
  auto teacher_loss = [&] {
    step();
    return StatValue(model, "teacher_loss");
  };
  // Every evaluation of the loss runs the online teacher's backward again: keep the analytic
  // gradients aside first.
  std::vector<Tensor> analytic;
  for (const auto& p : model->params()->params()) analytic.push_back(p->grad);
  int teacher_params = 0;
  for (size_t i = 0; i < model->params()->params().size(); ++i) {
    const auto& p = model->params()->params()[i];
    if (p->is_buffer) continue;
    const bool teacher = p->name.rfind("teacher.", 0) == 0;
    teacher_params += teacher;
    EXPECT_FALSE(testing::AllZero(analytic[i])) << p->name;
    ExpectGradientMatches(p->value.data(), analytic[i].data(), p->value.size(),
                          teacher ? std::function<double()>(teacher_loss) : step, p->name, 31);
  }
  EXPECT_GT(teacher_params, 4);
  // The features: the student's columns against the whole loss, the teacher's against its own.
  auto features_loss = [&] { return step(); };
  // Student columns: perturbing them leaves the teacher untouched.
  for (int64_t i = 0; i < rows.batch.size; ++i) {
    for (int64_t c = 0; c < 14; ++c) {
      float* v = &rows.features.at(i, c);
      ExpectGradientMatches(v, &dfeatures.at(i, c), 1, features_loss, "dfeatures", 32);
    }
    for (int64_t c = 14; c < 23; ++c) {
      float* v = &rows.features.at(i, c);
      ExpectGradientMatches(v, &dfeatures.at(i, c), 1, teacher_loss, "dteacher_features", 33);
    }
  }
}

TEST(TwoTowerDistillTest, ListwiseGradientsMatchFiniteDifferences) {
  ExpectDistillGradients(Config(kDistill));
}

TEST(TwoTowerDistillTest, PointwiseGradientsMatchFiniteDifferences) {
  ModelConfig c = Config(kDistill);
  c.mutable_two_tower()->set_loss(TwoTowerConfig::SAMPLED_BCE);
  c.mutable_two_tower()->set_num_negatives(3);
  ExpectDistillGradients(c);
}

TEST(TwoTowerDistillTest, TheKdTermIsTheKlOfTheTeachersAndStudentsListDistributions) {
  // With weight 0 the distillation term vanishes and the task loss is the plain model's.
  ModelConfig off = Config(kDistill);
  off.mutable_two_tower()->mutable_distill()->set_weight(0.0f);
  auto model = CreateModel(off, DistillShape(), 5);
  ASSERT_TRUE(model.ok());
  RandomBatch rows(DistillShape(), {5, 4}, 9);
  MatchingBatch labels(9);
  rows.batch.labels = labels.labels.data();
  rows.batch.label_mask = labels.mask.data();
  rows.batch.keys = labels.keys.data();
  ASSERT_TRUE((*model)->matching()->TrainingLoss(rows.batch).ok());
  EXPECT_EQ(StatValue(model->get(), "kd_loss"), 0.0);
}

// A teacher scorer in this process: the teacher model, scoring on Finish (as a teacher rank
// does between the student's Start and Finish); counts the pairs it scored.
class InProcessTeacher : public TeacherScorer {
 public:
  explicit InProcessTeacher(Model* teacher) : teacher_(teacher) {}
  Status Start(ConstMatView features, const int32_t* domains) override {
    x_.assign(features.data, features.data + features.rows * features.ld);
    rows_ = features.rows;
    cols_ = features.cols;
    ld_ = features.ld;
    domains_.assign(domains, domains + rows_);
    return Status::OK();
  }
  Status Finish(MatView logits) override {
    ModelBatch b;
    b.size = rows_;
    b.features = ConstMatView(x_.data(), rows_, cols_, ld_);
    b.domain = domains_.data();
    b.domain_begin.assign(teacher_->shape().num_domains + 1, 0);
    for (const int32_t d : domains_) ++b.domain_begin[d + 1];
    for (int d = 0; d < teacher_->shape().num_domains; ++d) {
      b.domain_begin[d + 1] += b.domain_begin[d];
    }
    b.training = false;
    teacher_->Forward(b, logits);
    scored += rows_;
    return Status::OK();
  }
  int64_t scored = 0;

 private:
  Model* teacher_;
  std::vector<float> x_;
  std::vector<int32_t> domains_;
  int64_t rows_ = 0, cols_ = 0, ld_ = 0;
};

TEST(TwoTowerDistillTest, ARemoteTeacherGivesTheStudentOfTheTeacherOnTheWorker) {
  for (const bool listwise : {true, false}) {
    SCOPED_TRACE(listwise ? "listwise" : "pointwise");
    ModelConfig here = Config(kDistill);
    DistillConfig* d = here.mutable_two_tower()->mutable_distill();
    d->set_mode(DistillConfig::OFFLINE);
    d->set_teacher_run_dir("unused");
    if (!listwise) {
      here.mutable_two_tower()->set_loss(TwoTowerConfig::SAMPLED_BCE);
      here.mutable_two_tower()->set_num_negatives(3);
    }
    ModelConfig remote = here;
    remote.mutable_two_tower()->mutable_distill()->set_placement(DistillConfig::TEACHER_RANKS);
    // The same teacher on both sides: the on-worker student's "teacher.*" are the remote
    // teacher's parameters.
    auto teacher =
        CreateModel(here.two_tower().distill().teacher(), DistillTeacherShape(DistillShape()), 3);
    ASSERT_TRUE(teacher.ok());
    testing::PerturbParameters((*teacher)->params(), 8, 0.3f);
    InProcessTeacher scorer(teacher->get());
    ModelContext context;
    context.teacher = &scorer;
    auto a = CreateModel(here, DistillShape(), 5);
    auto b = CreateModel(remote, DistillShape(), 5, context);
    ASSERT_TRUE(a.ok() && b.ok());
    std::string bytes;
    ASSERT_TRUE((*teacher)->params()->SaveTo(&bytes).ok());
    ASSERT_TRUE((*a)->params()
                    ->LoadFrom(
                        bytes,
                        [](const Parameter& p) { return p.name.rfind(kTeacherPrefix, 0) == 0; },
                        nullptr, kTeacherPrefix)
                    .ok());
    int fixed = 0;
    for (const auto& p : (*a)->params()->params()) {
      fixed += p->fixed;
      EXPECT_EQ(p->fixed, p->name.rfind(kTeacherPrefix, 0) == 0) << p->name;
      EXPECT_TRUE((*b)->params()->Find(p->name) != nullptr || p->fixed) << p->name;
    }
    EXPECT_GT(fixed, 4);
    RandomBatch rows(DistillShape(), {5, 4}, 9);
    MatchingBatch labels(9);
    rows.batch.labels = labels.labels.data();
    rows.batch.label_mask = labels.mask.data();
    rows.batch.keys = labels.keys.data();
    rows.batch.seed = 77;
    Tensor da({rows.batch.size, DistillShape().num_features});
    Tensor db({rows.batch.size, DistillShape().num_features});
    for (Model* m : {a->get(), b->get()}) m->params()->ZeroGrad();
    const auto la = (*a)->matching()->TrainingLoss(rows.batch);
    const auto lb = (*b)->matching()->TrainingLoss(rows.batch);
    ASSERT_TRUE(la.ok() && lb.ok());
    EXPECT_GT(scorer.scored, 0);
    EXPECT_GT(StatValue(b->get(), "kd_loss"), 1e-4);
    EXPECT_EQ(*la, *lb);
    EXPECT_EQ(StatValue(a->get(), "kd_loss"), StatValue(b->get(), "kd_loss"));
    (*a)->Backward(rows.batch, ConstMatView(), da.view());
    (*b)->Backward(rows.batch, ConstMatView(), db.view());
    for (int64_t i = 0; i < da.size(); ++i) ASSERT_EQ(da[i], db[i]) << "dfeatures " << i;
    for (const auto& p : (*b)->params()->params()) {
      const Parameter* q = (*a)->params()->Find(p->name);
      if (p->is_buffer) continue;
      for (int64_t i = 0; i < p->grad.size(); ++i) ASSERT_EQ(p->grad[i], q->grad[i]) << p->name;
    }
    // The offline teacher gets no gradient.
    for (const auto& p : (*a)->params()->params()) {
      if (p->fixed && !p->is_buffer) {
        EXPECT_TRUE(testing::AllZero(p->grad)) << p->name;
      }
    }
  }
}

TEST(TwoTowerTest, ConfigsThatDoNotFitAreRefusedNamingTheField) {
  auto expect = [](const std::string& text, const std::string& message) {
    auto m = CreateModel(Config(text), MatchingShape(), 1);
    ASSERT_FALSE(m.ok()) << text;
    EXPECT_NE(m.status().message().find(message), std::string::npos) << m.status().ToString();
  };
  expect(
      "two_tower { user_tower { mlp { dims: 4 } } item_tower { mlp { dims: 4 } sap { } } } "
      "domain_embedding_dim: 2",
      "model.two_tower.item_tower.sap: the item tower must not depend on the scenario");
  expect("two_tower { user_tower { mlp { dims: 4 } } item_tower { mlp { dims: 5 } } }",
         "the towers' output widths differ (user 4, item 5)");
  expect("two_tower { user_tower { mlp { dims: 4 } sap { } } item_tower { mlp { dims: 4 } } }",
         "set model.domain_embedding_dim >= 1");
  expect(
      "two_tower { user_tower { mlp { dims: 4 } } item_tower { mlp { dims: 4 } } "
      "item_id_slot: \"movie\" }",
      "model.two_tower.item_id_slot: no data slot is named 'movie'");
  expect(
      "two_tower { user_tower { mlp { dims: 4 } } item_tower { mlp { dims: 4 } } "
      "temperature: 0 }",
      "model.two_tower.temperature must be > 0");
  expect(
      "two_tower { user_tower { mlp { dims: 4 } } item_tower { mlp { dims: 4 } } distill { "
      "teacher { mmoe { expert { dims: 4 } tower { dims: 2 } } } } }",
      "model.two_tower.distill: the model's input has no teacher view of the slots");
}

}  // namespace
}  // namespace moerec
