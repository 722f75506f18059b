// DenseOptimizer::Step over device parameters (core/gpu/optimizer.cu) against the same
// optimizer over host parameters: every optimizer type with weight decay and momentum options,
// per-parameter step counts (a parameter frozen at first), and SaveState / LoadState of device
// state through the host.
#include "core/optimizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/gpu/internal/test_util.h"

namespace moerec::testing {
namespace {

using DenseOptimizerGpuTest = GpuKernelTest;
using Type = DenseOptimizerType;

// The same float formulas; the device contracts multiply-adds into FMAs and evaluates sqrt and
// the division in another rounding: 1e-6 relative per step, a few steps.
constexpr double kTol = 2e-6;

struct Config {
  const char* name;
  DenseOptimizerOptions options;
};

std::vector<Config> Configs() {
  std::vector<Config> configs;
  auto add = [&](const char* name, Type type, float wd, float momentum, float init_acc) {
    DenseOptimizerOptions o;
    o.type = type;
    o.learning_rate = type == Type::kSgd ? 0.05f : 0.01f;
    o.weight_decay = wd;
    o.momentum = momentum;
    o.initial_accumulator = init_acc;
    if (type == Type::kAdagrad) o.epsilon = 1e-10f;
    configs.push_back({name, o});
  };
  add("adam", Type::kAdam, 0.0f, 0.0f, 0.0f);
  add("adam wd", Type::kAdam, 0.01f, 0.0f, 0.0f);
  add("adamw wd", Type::kAdamW, 0.05f, 0.0f, 0.0f);
  add("sgd", Type::kSgd, 0.0f, 0.0f, 0.0f);
  add("sgd wd", Type::kSgd, 0.02f, 0.0f, 0.0f);
  add("sgd momentum wd", Type::kSgd, 0.02f, 0.9f, 0.0f);
  add("adagrad", Type::kAdagrad, 0.0f, 0.0f, 0.1f);
  add("adagrad wd", Type::kAdagrad, 0.01f, 0.0f, 0.0f);
  return configs;
}

// Two parameters, a buffer and a fixed parameter (neither ever updated), random values.
void Build(ParameterSet* set, uint64_t seed) {
  Rng rng(seed);
  set->AddGlorot("w", 37, 23, &rng);
  set->AddBuffer("running_mean", {23}, 0.5f);
  Parameter* b = set->AddConstant("b", {23}, 0.1f);
  for (int64_t i = 0; i < b->value.size(); ++i) b->value[i] = rng.UniformFloat() - 0.5f;
  Parameter* fixed = set->AddConstant("teacher", {5}, 0.3f);
  fixed->fixed = true;
}

// Every entry's value (and gradient) as a copy on `gpu`.
void MoveTo(ParameterSet* set, GpuResources* gpu) {
  for (const auto& p : set->params()) {
    p->value = p->value.To(gpu);
    if (!p->is_buffer) p->grad = p->grad.To(gpu);
  }
}

// Fresh random gradients, the same on both sets.
void SetGradients(ParameterSet* host, ParameterSet* device, Rng* rng) {
  for (size_t i = 0; i < host->params().size(); ++i) {
    Parameter* h = host->params()[i].get();
    if (h->is_buffer) continue;
    for (int64_t j = 0; j < h->grad.size(); ++j) h->grad[j] = 2.0f * rng->UniformFloat() - 1.0f;
    device->params()[i]->grad = h->grad.To(device->params()[i]->grad.gpu());
  }
}

void ExpectSameValues(const std::string& what, const ParameterSet& device, const ParameterSet& host,
                      double tol) {
  for (size_t i = 0; i < host.params().size(); ++i) {
    const Parameter& h = *host.params()[i];
    const Tensor got = device.params()[i]->value.To(nullptr);
    const Tensor expected = h.value.To(nullptr);  // `host` may be a device set too
    ASSERT_EQ(got.size(), expected.size()) << what << " " << h.name;
    int failures = 0;
    for (int64_t j = 0; j < got.size(); ++j) {
      const double want = expected[j];
      if (std::fabs(got[j] - want) > tol * std::max(1.0, std::fabs(want)) && failures++ < 3) {
        ADD_FAILURE() << what << " " << h.name << "[" << j << "]: " << got[j] << " vs " << want;
      }
    }
    EXPECT_EQ(failures, 0) << what << " " << h.name;
  }
}

std::unique_ptr<DenseOptimizer> Make(const DenseOptimizerOptions& o, ParameterSet* set) {
  auto made = DenseOptimizer::Create(o, set);
  CHECK(made.ok()) << made.status().ToString();
  return std::move(made.value());
}

TEST_P(DenseOptimizerGpuTest, StepsMatchTheCpuUpdateForEveryOptimizer) {
  for (const Config& c : Configs()) {
    ParameterSet host, device;
    Build(&host, 71);
    Build(&device, 71);
    MoveTo(&device, gpu());
    auto h_opt = Make(c.options, &host);
    auto d_opt = Make(c.options, &device);
    // "b" is frozen for the first step, so it runs one step behind "w" (its own step count).
    host.Find("b")->frozen = device.Find("b")->frozen = true;
    Rng rng(72);
    for (int step = 0; step < 4; ++step) {
      if (step == 1) host.Find("b")->frozen = device.Find("b")->frozen = false;
      SetGradients(&host, &device, &rng);
      h_opt->Step();
      d_opt->Step();
      ExpectSameValues(std::string(c.name) + " step " + std::to_string(step), device, host, kTol);
    }
    EXPECT_EQ(device.Find("b")->value.gpu(), gpu()) << c.name << ": the update stays on the device";
    // Buffers and fixed parameters are untouched.
    EXPECT_EQ(device.Find("running_mean")->value.To(nullptr)[0], 0.5f) << c.name;
    EXPECT_EQ(device.Find("teacher")->value.To(nullptr)[0], 0.3f) << c.name;
  }
}

TEST_P(DenseOptimizerGpuTest, DeviceStateSavesAndLoadsThroughTheHost) {
  for (const Config& c : Configs()) {
    ParameterSet host, device;
    Build(&host, 73);
    Build(&device, 73);
    MoveTo(&device, gpu());
    auto h_opt = Make(c.options, &host);
    auto d_opt = Make(c.options, &device);
    host.Find("b")->frozen = device.Find("b")->frozen = true;
    Rng rng(74);
    for (int step = 0; step < 3; ++step) {
      if (step == 1) host.Find("b")->frozen = device.Find("b")->frozen = false;
      SetGradients(&host, &device, &rng);
      h_opt->Step();
      d_opt->Step();
    }
    std::string d_bytes, h_bytes;
    ASSERT_TRUE(d_opt->SaveState(&d_bytes).ok()) << c.name;
    ASSERT_TRUE(h_opt->SaveState(&h_bytes).ok()) << c.name;
    // Same layout (names, step counts, sizes), so the two differ only in rounding of the state.
    ASSERT_EQ(d_bytes.size(), h_bytes.size()) << c.name;

    // A fresh device optimizer over copies of the device values, loaded from the device bytes,
    // and a fresh host one loaded from the same bytes, continue as the originals.
    ParameterSet device2, host2;
    Build(&device2, 73);
    Build(&host2, 73);
    for (size_t i = 0; i < device.params().size(); ++i) {
      device2.params()[i]->value = device.params()[i]->value.To(gpu());
      host2.params()[i]->value = device.params()[i]->value.To(nullptr);
    }
    MoveTo(&device2, gpu());
    auto d_opt2 = Make(c.options, &device2);
    auto h_opt2 = Make(c.options, &host2);
    ASSERT_TRUE(d_opt2->LoadState(d_bytes).ok()) << c.name;
    ASSERT_TRUE(h_opt2->LoadState(d_bytes).ok()) << c.name;
    EXPECT_EQ(d_opt2->step_count(), 3) << c.name;
    std::string reloaded;
    ASSERT_TRUE(d_opt2->SaveState(&reloaded).ok()) << c.name;
    EXPECT_EQ(reloaded, d_bytes) << c.name << ": the round trip is exact";

    ParameterSet unused;  // gradients for the next step, shared by all four sets
    Build(&unused, 73);
    SetGradients(&unused, &device, &rng);
    for (size_t i = 0; i < device.params().size(); ++i) {
      if (device.params()[i]->is_buffer) continue;
      const Tensor& g = unused.params()[i]->grad;
      host.params()[i]->grad = g;
      device2.params()[i]->grad = g.To(gpu());
      host2.params()[i]->grad = g;
    }
    d_opt->Step();
    d_opt2->Step();
    h_opt2->Step();
    h_opt->Step();
    // The restored device optimizer is bit for bit the original (same state, same kernel).
    ExpectSameValues(std::string(c.name) + " restored device", device2, device, 0.0);
    // The host optimizer restored from device state continues like the device.
    ExpectSameValues(std::string(c.name) + " host from device state", device, host2, kTol);
    ExpectSameValues(std::string(c.name) + " device vs host", device, host, kTol);
  }
}

MOEREC_GPU_KERNEL_TEST_SUITE(DenseOptimizerGpuTest);

}  // namespace
}  // namespace moerec::testing
