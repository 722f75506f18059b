#include "core/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/parallel.h"

namespace moerec {
namespace {

using Type = DenseOptimizerType;

// The PyTorch update rules written out plainly, in double, one parameter at a time.
struct Reference {
  DenseOptimizerOptions o;
  struct State {
    int64_t step = 0;
    std::vector<double> m, v;
  };
  std::map<std::string, State> state;

  void Step(const std::string& name, std::vector<double>* p, const std::vector<double>& grad) {
    State& s = state[name];
    const size_t n = p->size();
    if (s.step == 0) {
      s.m.assign(n, o.type == Type::kAdagrad ? o.initial_accumulator : 0.0);
      s.v.assign(n, 0.0);
    }
    ++s.step;
    const double lr = o.learning_rate, wd = o.weight_decay;
    for (size_t i = 0; i < n; ++i) {
      double& x = (*p)[i];
      double g = grad[i];
      switch (o.type) {
        case Type::kAdam:
        case Type::kAdamW: {
          if (o.type == Type::kAdamW) {
            x *= 1.0 - lr * wd;
          } else {
            g += wd * x;
          }
          s.m[i] = o.beta1 * s.m[i] + (1.0 - o.beta1) * g;
          s.v[i] = o.beta2 * s.v[i] + (1.0 - o.beta2) * g * g;
          const double bc1 = 1.0 - std::pow(static_cast<double>(o.beta1), s.step);
          const double bc2 = 1.0 - std::pow(static_cast<double>(o.beta2), s.step);
          x -= lr / bc1 * s.m[i] / (std::sqrt(s.v[i]) / std::sqrt(bc2) + o.epsilon);
          break;
        }
        case Type::kSgd:
          g += wd * x;
          if (o.momentum != 0.0f) {
            s.m[i] = s.step == 1 ? g : o.momentum * s.m[i] + g;
            g = s.m[i];
          }
          x -= lr * g;
          break;
        case Type::kAdagrad:
          g += wd * x;
          s.m[i] += g * g;
          x -= lr * g / (std::sqrt(s.m[i]) + o.epsilon);
          break;
      }
    }
  }
};

std::vector<double> ToDouble(const Tensor& t) {
  return std::vector<double>(t.data(), t.data() + t.size());
}

void RandomGrads(ParameterSet* set, Rng* rng) {
  for (const auto& p : set->params()) {
    if (p->is_buffer) continue;
    for (int64_t i = 0; i < p->grad.size(); ++i) {
      p->grad[i] = static_cast<float>(rng->Normal() * (i % 5 == 0 ? 1e-3 : 1.0));
    }
  }
}

void Build(ParameterSet* set) {
  Rng rng(11);
  set->AddGlorot("w1", 40, 30, &rng);
  set->AddConstant("b1", {30}, 0.1f);
  set->AddGlorot("w2", 30, 1, &rng);
  set->AddBuffer("running", {30}, 1.0f);
}

std::vector<DenseOptimizerOptions> AllOptions() {
  std::vector<DenseOptimizerOptions> out;
  for (Type type : {Type::kAdam, Type::kAdamW, Type::kSgd, Type::kAdagrad}) {
    for (float wd : {0.0f, 0.01f}) {
      DenseOptimizerOptions o;
      o.type = type;
      o.weight_decay = wd;
      o.learning_rate = type == Type::kSgd ? 0.05f : 0.01f;
      if (type == Type::kSgd) o.momentum = wd == 0.0f ? 0.9f : 0.0f;
      if (type == Type::kAdagrad) o.initial_accumulator = wd == 0.0f ? 0.1f : 0.0f;
      if (type == Type::kAdagrad) o.epsilon = 1e-10f;
      out.push_back(o);
    }
  }
  // Non-default betas.
  DenseOptimizerOptions o;
  o.beta1 = 0.5f;
  o.beta2 = 0.9f;
  o.epsilon = 1e-6f;
  out.push_back(o);
  return out;
}

TEST(DenseOptimizerTest, MatchesTheReferenceOverSeveralSteps) {
  for (const DenseOptimizerOptions& o : AllOptions()) {
    SCOPED_TRACE(std::string(DenseOptimizerTypeName(o.type)) + " wd " +
                 std::to_string(o.weight_decay));
    ParameterSet set;
    Build(&set);
    auto opt = DenseOptimizer::Create(o, &set);
    ASSERT_TRUE(opt.ok()) << opt.status().ToString();
    Reference ref{o, {}};
    std::map<std::string, std::vector<double>> want;
    for (const auto& p : set.params()) want[p->name] = ToDouble(p->value);
    Rng rng(12);
    for (int step = 0; step < 6; ++step) {
      RandomGrads(&set, &rng);
      for (const auto& p : set.params()) {
        if (!p->is_buffer) ref.Step(p->name, &want[p->name], ToDouble(p->grad));
      }
      (*opt)->Step();
      for (const auto& p : set.params()) {
        const std::vector<double>& w = want[p->name];
        for (int64_t i = 0; i < p->value.size(); ++i) {
          ASSERT_NEAR(p->value[i], w[i], 2e-5 * std::max(1.0, std::fabs(w[i])))
              << p->name << "[" << i << "] after step " << step + 1;
        }
      }
    }
    EXPECT_EQ((*opt)->step_count(), 6);
    // Buffers were never touched.
    const Parameter* running = set.Find("running");
    for (int64_t i = 0; i < running->value.size(); ++i) ASSERT_EQ(running->value[i], 1.0f);
  }
}

TEST(DenseOptimizerTest, FrozenAndFilteredParametersStayAndStartFreshLater) {
  DenseOptimizerOptions o;  // Adam: bias correction shows a restarted step count
  ParameterSet set;
  Build(&set);
  set.Find("w1")->frozen = true;
  auto opt = DenseOptimizer::Create(o, &set, [](const Parameter& p) { return p.name != "w2"; });
  ASSERT_TRUE(opt.ok());
  const Tensor w1 = set.Find("w1")->value, w2 = set.Find("w2")->value;
  Reference ref{o, {}};
  std::vector<double> b1 = ToDouble(set.Find("b1")->value), w1d = ToDouble(w1);
  Rng rng(13);
  for (int step = 0; step < 3; ++step) {
    RandomGrads(&set, &rng);
    ref.Step("b1", &b1, ToDouble(set.Find("b1")->grad));
    (*opt)->Step();
  }
  for (int64_t i = 0; i < w1.size(); ++i) ASSERT_EQ(set.Find("w1")->value[i], w1[i]);
  for (int64_t i = 0; i < w2.size(); ++i) ASSERT_EQ(set.Find("w2")->value[i], w2[i]);
  // Unfrozen, w1 takes its first step (t = 1) while b1 takes its fourth.
  set.Find("w1")->frozen = false;
  RandomGrads(&set, &rng);
  ref.Step("w1", &w1d, ToDouble(set.Find("w1")->grad));
  ref.Step("b1", &b1, ToDouble(set.Find("b1")->grad));
  (*opt)->Step();
  for (int64_t i = 0; i < w1.size(); ++i) {
    ASSERT_NEAR(set.Find("w1")->value[i], w1d[i], 2e-5 * std::max(1.0, std::fabs(w1d[i])));
  }
  for (int64_t i = 0; i < 30; ++i) {
    ASSERT_NEAR(set.Find("b1")->value[i], b1[i], 2e-5 * std::max(1.0, std::fabs(b1[i])));
  }
}

// Runs `steps` steps from the state in `saved_state` (empty = fresh) and returns all values.
std::vector<float> RunSteps(const DenseOptimizerOptions& o, int steps, uint64_t grad_seed,
                            const std::string& saved_params, const std::string& saved_state,
                            std::string* params_out = nullptr, std::string* state_out = nullptr) {
  ParameterSet set;
  Build(&set);
  if (!saved_params.empty()) CHECK(set.LoadFrom(saved_params).ok());
  auto opt = DenseOptimizer::Create(o, &set);
  CHECK(opt.ok());
  if (!saved_state.empty()) {
    const Status s = (*opt)->LoadState(saved_state);
    CHECK(s.ok()) << s.ToString();
  }
  Rng rng(grad_seed);
  for (int i = 0; i < steps; ++i) {
    RandomGrads(&set, &rng);
    (*opt)->Step();
  }
  if (params_out != nullptr) CHECK(set.SaveTo(params_out).ok());
  if (state_out != nullptr) CHECK((*opt)->SaveState(state_out).ok());
  std::vector<float> out;
  for (const auto& p : set.params())
    out.insert(out.end(), p->value.data(), p->value.data() + p->value.size());
  return out;
}

TEST(DenseOptimizerTest, SaveAndLoadContinueIdentically) {
  for (const DenseOptimizerOptions& o : AllOptions()) {
    SCOPED_TRACE(DenseOptimizerTypeName(o.type));
    // 5 steps straight, against 3 steps, save, load into fresh objects, 2 more steps with the
    // same gradients.
    std::string params, state;
    RunSteps(o, 3, 1, "", "", &params, &state);
    const std::vector<float> resumed = RunSteps(o, 2, 2, params, state);
    ParameterSet set;
    Build(&set);
    auto opt = DenseOptimizer::Create(o, &set);
    Rng g1(1), g2(2);
    for (int i = 0; i < 5; ++i) {
      RandomGrads(&set, i < 3 ? &g1 : &g2);
      (*opt)->Step();
    }
    std::vector<float> straight;
    for (const auto& p : set.params()) {
      straight.insert(straight.end(), p->value.data(), p->value.data() + p->value.size());
    }
    EXPECT_EQ(resumed, straight);
    // Without the optimizer state the continuation differs (the state matters).
    if (o.type != Type::kSgd || o.momentum != 0.0f) {
      EXPECT_NE(RunSteps(o, 2, 2, params, ""), straight);
    }
  }
}

// A state saved in parts (the replicated parameters, then the expert-local ones by their owner)
// and loaded back part by part continues exactly like the whole state.
TEST(DenseOptimizerTest, StateInPartsMergesBackToTheWhole) {
  DenseOptimizerOptions o;
  ParameterSet set;
  Build(&set);
  auto opt = DenseOptimizer::Create(o, &set);
  Rng rng(4);
  for (int i = 0; i < 3; ++i) {
    RandomGrads(&set, &rng);
    (*opt)->Step();
  }
  std::string whole, first, second;
  ASSERT_TRUE((*opt)->SaveState(&whole).ok());
  ASSERT_TRUE((*opt)->SaveState(&first, [](const Parameter& p) { return p.name == "w1"; }).ok());
  ASSERT_TRUE((*opt)->SaveState(&second, [](const Parameter& p) { return p.name != "w1"; }).ok());
  EXPECT_LT(first.size(), whole.size());
  ParameterSet other;
  Build(&other);
  auto merged = DenseOptimizer::Create(o, &other);
  ASSERT_TRUE((*merged)->LoadState(first).ok());
  ASSERT_TRUE((*merged)->LoadState(second, /*merge=*/true).ok());
  std::string again;
  ASSERT_TRUE((*merged)->SaveState(&again).ok());
  EXPECT_EQ(again, whole);
  // Without merge the second part alone replaces everything: w1 starts fresh.
  ASSERT_TRUE((*merged)->LoadState(second).ok());
  ASSERT_TRUE((*merged)->SaveState(&again).ok());
  EXPECT_NE(again, whole);
  // Merging skips entries for parameters this optimizer does not have.
  ParameterSet small;
  small.AddConstant("b1", {30}, 0.0f);
  auto part = DenseOptimizer::Create(o, &small);
  EXPECT_TRUE((*part)->LoadState(whole, /*merge=*/true).ok());
  EXPECT_FALSE((*part)->LoadState(whole).ok());
}

TEST(DenseOptimizerTest, LoadStateRefusesMismatches) {
  DenseOptimizerOptions adam;
  std::string params, state;
  RunSteps(adam, 2, 1, "", "", &params, &state);
  ParameterSet set;
  Build(&set);
  auto opt = DenseOptimizer::Create(adam, &set);
  ASSERT_TRUE((*opt)->LoadState(state).ok());
  EXPECT_EQ((*opt)->step_count(), 2);

  DenseOptimizerOptions sgd;
  sgd.type = Type::kSgd;
  auto other = DenseOptimizer::Create(sgd, &set);
  Status s = (*other)->LoadState(state);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("ADAM"), std::string::npos) << s.ToString();

  ParameterSet renamed;
  Rng rng(11);
  renamed.AddGlorot("w1", 40, 30, &rng);
  renamed.AddConstant("b1", {30}, 0.1f);
  renamed.AddGlorot("w2_new", 30, 1, &rng);
  auto opt2 = DenseOptimizer::Create(adam, &renamed);
  s = (*opt2)->LoadState(state);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'w2'"), std::string::npos) << s.ToString();

  ParameterSet resized;
  resized.AddGlorot("w1", 40, 30, &rng);
  resized.AddConstant("b1", {31}, 0.1f);
  resized.AddGlorot("w2", 30, 1, &rng);
  auto opt3 = DenseOptimizer::Create(adam, &resized);
  s = (*opt3)->LoadState(state);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("'b1'"), std::string::npos) << s.ToString();

  for (size_t n = 0; n < state.size(); n += 7) {
    EXPECT_EQ((*opt)->LoadState(std::string_view(state).substr(0, n)).code(),
              StatusCode::kCorruption);
  }
  std::string flipped = state;
  flipped[flipped.size() / 2] ^= 1;
  EXPECT_EQ((*opt)->LoadState(flipped).code(), StatusCode::kCorruption);
}

TEST(DenseOptimizerTest, ValidatesOptions) {
  ParameterSet set;
  auto expect_bad = [&](DenseOptimizerOptions o, const std::string& field) {
    auto opt = DenseOptimizer::Create(o, &set);
    ASSERT_FALSE(opt.ok());
    EXPECT_EQ(opt.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(opt.status().message().find(field), std::string::npos) << opt.status().ToString();
  };
  DenseOptimizerOptions o;
  o.learning_rate = 0.0f;
  expect_bad(o, "learning_rate");
  o = {};
  o.learning_rate = NAN;
  expect_bad(o, "learning_rate");
  o = {};
  o.beta1 = 1.0f;
  expect_bad(o, "beta1");
  o = {};
  o.beta2 = -0.1f;
  expect_bad(o, "beta2");
  o = {};
  o.epsilon = -1.0f;
  expect_bad(o, "epsilon");
  o = {};
  o.weight_decay = -1.0f;
  expect_bad(o, "weight_decay");
  o = {};
  o.momentum = -1.0f;
  expect_bad(o, "momentum");
  o = {};
  o.initial_accumulator = -1.0f;
  expect_bad(o, "initial_accumulator");
  o = {};
  o.type = static_cast<Type>(9);
  expect_bad(o, "type");
  EXPECT_TRUE(DenseOptimizer::Create(DenseOptimizerOptions{}, &set).ok());
}

TEST(DenseOptimizerTest, LearningRateCanChangeAndStepsAreThreadCountIndependent) {
  ParameterSet a, b;
  a.Add("big", {300000});
  a.Add("small", {7});
  b.Add("big", {300000});
  b.Add("small", {7});
  for (ParameterSet* s : {&a, &b}) {
    Rng rng(5);
    for (const auto& p : s->params()) {
      for (int64_t i = 0; i < p->value.size(); ++i) p->value[i] = static_cast<float>(rng.Normal());
    }
  }
  DenseOptimizerOptions o;
  auto oa = DenseOptimizer::Create(o, &a);
  auto ob = DenseOptimizer::Create(o, &b);
  Rng ga(6), gb(6);
  for (int step = 0; step < 3; ++step) {
    RandomGrads(&a, &ga);
    RandomGrads(&b, &gb);
    SetComputeThreads(1);
    (*oa)->Step();
    SetComputeThreads(2);
    (*ob)->Step();
  }
  for (int k = 0; k < 2; ++k) {
    const Tensor& x = a.params()[k]->value;
    const Tensor& y = b.params()[k]->value;
    ASSERT_EQ(std::memcmp(x.data(), y.data(), 4 * x.size()), 0);
  }
  (*oa)->set_learning_rate(0.5f);
  EXPECT_EQ((*oa)->learning_rate(), 0.5f);
  EXPECT_EQ((*oa)->options().learning_rate, 0.5f);
}

}  // namespace
}  // namespace moerec
