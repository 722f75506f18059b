// A GPU worker's training step (StepRunner with a GpuResources: the dense model, its
// activations and Adam's state on the device) against the CPU worker's, on the same batches:
// losses, dense parameters and predictions after several steps; and, with a row cache that
// serves stale rows (ASP, row_cache_staleness > 0), the GPU worker's GpuRowCache against a CPU
// worker behind CachingStore: the same hits, rows and training. Runs under host execution
// everywhere (every kernel of the step through its CUDA twin, on the host) and on GPU 0 where
// there is one.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "comm/communicator.h"
#include "core/gpu/resources.h"
#include "core/random.h"
#include "core/temp_dir.h"
#include "embedding/gpu_row_cache.h"
#include "embedding/row_cache.h"
#include "embedding/table_spec.h"
#include "proto/text_config.h"
#include "ps/local_store.h"
#include "worker/step_runner.h"

namespace moerec {
namespace {

using testing::TempDir;

// Three domains, two tasks, two slots (one multi-id, mean-pooled) and a domain embedding.
constexpr char kData[] = R"(
data {
  num_domains: 3
  num_tasks: 2
  slots { name: "user" }
  slots { name: "tags" pooling: POOLING_MEAN }
  train: "train"
}
embedding {
  dim: 8
  optimizer { type: ADAGRAD learning_rate: 0.05 }
  initializer { type: UNIFORM scale: 0.1 }
}
optimizer { type: ADAM learning_rate: 0.01 }
train { seed: 7 }
)";

// Every ranking model of the zoo: its whole step runs on a device (a model's phase, where it has
// phases, entered as the trainer does). The matching models (two-tower) run on CPU workers only:
// StepRunner::Create refuses them on a GPU worker (tested below).
struct NamedModel {
  const char* name;
  const char* text;
  int phase = 0;  // the model's training phase (Model::Phases()), entered as the trainer does
};
constexpr char kMoeMlora[] = R"(model { domain_embedding_dim: 4 mlora { reduce: 4
    gate_embedding_dim: 3 } ctr { backbone: DEEPFM dnn { dims: 16 dims: 8 } tower { }
    tower_index: BY_DOMAIN_TASK } })";
const NamedModel kModels[] = {
    {"Mmoe", R"(model { domain_embedding_dim: 4 mmoe { num_experts: 4 expert { dims: 24 dims: 12 }
       tower { dims: 8 } gate_index: BY_DOMAIN_TASK tower_index: BY_DOMAIN_TASK } })"},
    {"SharedBottom", R"(model { shared_bottom { bottom { dims: 16 } tower { dims: 8 } } })"},
    {"Ple", R"(model { domain_embedding_dim: 4 ple { num_levels: 2 experts_per_task: 2
       shared_experts: 2 expert { dims: 16 dims: 8 } tower { dims: 8 } gate_index: BY_DOMAIN_TASK
       tower_index: BY_DOMAIN_TASK } })"},
    {"DeepFm", R"(model { domain_embedding_dim: 4 ctr { backbone: DEEPFM dnn { dims: 16 dims: 8 }
       tower { } tower_index: BY_DOMAIN_TASK } })"},
    {"Dcn", R"(model { domain_embedding_dim: 4 ctr { backbone: DCN dnn { dims: 16 } tower { }
       tower_index: BY_DOMAIN_TASK cross_layers: 2 } })"},
    {"AutoInt", R"(model { domain_embedding_dim: 4 ctr { backbone: AUTOINT dnn { dims: 16 }
       tower { } tower_index: BY_DOMAIN_TASK attention_layers: 2 attention_heads: 2
       attention_head_dim: 4 attention_residual: true } })"},
    {"DcnV2", R"(model { domain_embedding_dim: 4 ctr { backbone: DCN dnn { dims: 16 dropout: 0.1 }
       tower { } tower_index: BY_DOMAIN_TASK cross_layers: 2 cross_matrix: true } })"},
    {"Pnn", R"(model { domain_embedding_dim: 4 ctr { backbone: PNN dnn { dims: 16 } tower { }
       tower_index: BY_DOMAIN_TASK product: INNER } })"},
    {"PnnOuter", R"(model { ctr { backbone: PNN dnn { dims: 16 } tower { } product: BOTH } })"},
    {"Nfm", R"(model { domain_embedding_dim: 4 ctr { backbone: NFM dnn { dims: 16 } tower { }
       tower_index: BY_DOMAIN_TASK } })"},
    {"FiBiNet", R"(model { domain_embedding_dim: 4 ctr { backbone: FIBINET dnn { dims: 16 }
       tower { } tower_index: BY_DOMAIN_TASK senet_reduction: 2 bilinear_type: FIELD_INTERACTION } })"},
    {"WideDeep", R"(model { domain_embedding_dim: 4 ctr { backbone: WIDE_DEEP dnn { dims: 16 }
       tower { } tower_index: BY_DOMAIN_TASK } })"},
    {"Star", R"(model { domain_embedding_dim: 4 star { star { dims: 16 dims: 8 } tower { dims: 8 }
       tower_index: BY_DOMAIN_TASK aux { dims: 8 } } })"},
    {"StarNoNorm", R"(model { star { star { dims: 16 activation: ACT_NONE } tower { }
       partitioned_norm: false } })"},
    {"M3oe", R"(model { domain_embedding_dim: 4 m3oe { star_dim: 16 representation { dims: 12 }
       num_shared_experts: 3 expert { dims: 8 } tower { dims: 8 } } })"},
    {"XDeepFm", R"(model { domain_embedding_dim: 4 ctr { backbone: XDEEPFM dnn { dims: 16 }
       tower { } tower_index: BY_DOMAIN_TASK cin_layers: 4 cin_layers: 3 } })"},
    // MoE-MLoRA's phases: backbone (0), expert 1 on domain 1 (2), the gate (4); MLoRA.
    {"MoeMloraBackbone", kMoeMlora, 0},
    {"MoeMloraExpert", kMoeMlora, 2},
    {"MoeMloraGate", kMoeMlora, 4},
    {"Mlora", R"(model { mlora { mode: MLORA reduce: 4 } shared_bottom { bottom { dims: 16 dims: 8 }
       tower { dims: 8 } } })"},
    {"TopkMoe", R"(model { topk_moe { num_experts: 4 top_k: 2 encoder { dims: 16 }
       expert { dims: 8 } tower { dims: 8 } capacity_factor: 1.0 } })"},
    {"TopkMoeDropless", R"(model { topk_moe { num_experts: 4 top_k: 1 expert { dims: 8 }
       tower { } capacity_factor: 0 drop_policy: BY_PROBABILITY } })"},
    {"TopkMoeNoisy", R"(model { domain_embedding_dim: 4 topk_moe { num_experts: 4 top_k: 2
       expert { dims: 8 } tower { } capacity_factor: 1.0 router_noise: 0.1 z_loss_weight: 0.01
       tower_index: BY_DOMAIN_TASK } })"},
    {"MmoePlaced", R"(model { mmoe { num_experts: 3 expert { dims: 8 } tower { dims: 8 }
       placement { kind: CONTIGUOUS } } })"},
    {"Smes", R"(model { smes { num_experts: 6 shared_k: 2 private_k: 1 encoder { dims: 16 }
       expert { dims: 8 } tower { dims: 8 } } })"},
};

JobConfig Load(const TempDir& dir, const std::string& model) {
  std::ofstream(dir / "job.pbtxt") << kData << model;
  auto config = LoadJobConfig(dir / "job.pbtxt");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : JobConfig();
}

// Samples sorted by domain (the trainer's guarantee); one user id, 1-3 tags.
Batch MakeBatch(int b, int size) {
  Rng rng(100 + b);
  Batch batch;
  batch.Reset(2, 2, 0);
  for (int i = 0; i < size; ++i) {
    batch.domain.push_back(i * 3 / size);
    batch.user.push_back(i);
    for (int t = 0; t < 2; ++t) {
      batch.labels.push_back(rng.UniformFloat() < 0.3f ? 1.0f : 0.0f);
      batch.label_mask.push_back(1);
    }
    batch.ids[0].push_back(rng.Below(40));
    batch.offsets[0].push_back(static_cast<uint32_t>(batch.ids[0].size()));
    const int tags = 1 + static_cast<int>(rng.Below(3));
    for (int k = 0; k < tags; ++k) batch.ids[1].push_back(rng.Below(25));
    batch.offsets[1].push_back(static_cast<uint32_t>(batch.ids[1].size()));
  }
  batch.size = size;
  return batch;
}

struct TrainedRun {
  std::vector<double> losses;
  std::vector<float> params;
  std::vector<float> probs;
  std::vector<std::pair<std::string, double>> stats;  // Model::Stats() after the last step
};

TrainedRun Train(const JobConfig& config, int phase, GpuResources* gpu) {
  TrainedRun run;
  auto store = LocalStore::Open(TableSpecsFromConfig(config));
  EXPECT_TRUE(store.ok());
  SelfCommunicator comm;
  auto runner = StepRunner::Create(config, store->get(), &comm, nullptr, gpu);
  EXPECT_TRUE(runner.ok()) << runner.status();
  if (!runner.ok()) return run;
  const std::vector<ModelPhase> phases = (*runner)->model()->Phases();
  if (!phases.empty()) {
    (*runner)->model()->EnterPhase(phase);
    for (const auto& p : (*runner)->model()->params()->params()) {
      p->frozen = phases[phase].trains != nullptr && !phases[phase].trains(*p);
    }
    (*runner)->set_train_rows(phases[phase].train_rows);
  }
  std::vector<Batch> batches;
  for (int b = 0; b < 5; ++b) batches.push_back(MakeBatch(b, 48 + 8 * b));
  for (size_t s = 0; s < batches.size(); ++s) {
    Batch* next = s + 1 < batches.size() ? &batches[s + 1] : nullptr;
    auto loss = (*runner)->Train(&batches[s], static_cast<int64_t>(s), next);
    EXPECT_TRUE(loss.ok()) << loss.status();
    run.losses.push_back(loss.ok() ? *loss : NAN);
    // M3oE's fusion weights (AUTOML, the default): their own step on a held-out batch; a model
    // without architecture parameters returns 0 at once.
    Batch held_out = MakeBatch(20 + static_cast<int>(s), 24);
    auto arch = (*runner)->TrainArchitecture(&held_out, static_cast<int64_t>(s));
    EXPECT_TRUE(arch.ok()) << arch.status();
    run.losses.push_back(arch.ok() ? *arch : NAN);
  }
  run.stats = (*runner)->model()->Stats();
  for (const auto& p : (*runner)->model()->params()->params()) {
    const Tensor host = p->value.To(nullptr);
    run.params.insert(run.params.end(), host.data(), host.data() + host.size());
  }
  Batch eval = MakeBatch(9, 30);
  Tensor probs;
  EXPECT_TRUE((*runner)->Predict(&eval, 5, &probs).ok());
  run.probs.assign(probs.data(), probs.data() + probs.size());
  return run;
}

class StepRunnerGpuTest : public ::testing::TestWithParam<std::tuple<bool, int>> {};

TEST_P(StepRunnerGpuTest, AGpuWorkerTrainsAsTheCpuWorkerDoes) {
  GpuResourcesOptions options;
  options.host_execution = !std::get<0>(GetParam());
  auto gpu = GpuResources::Create(options);
  if (!gpu.ok()) GTEST_SKIP() << "no GPU to run on: " << gpu.status().ToString();
  TempDir dir;
  const NamedModel& model = kModels[std::get<1>(GetParam())];
  const JobConfig config = Load(dir, model.text);
  const TrainedRun cpu = Train(config, model.phase, nullptr);
  const int64_t launches_before = (*gpu)->launches();
  const TrainedRun dev = Train(config, model.phase, gpu->get());
  EXPECT_GT((*gpu)->launches(), launches_before) << "the step ran no CUDA kernel";
  // Five Adam steps over sums in another order: the GEMMs and column sums differ in the last
  // bits, which Adam's normalisation (g / sqrt(v)) can amplify to ~1e-4 in a parameter.
  ASSERT_EQ(cpu.losses.size(), dev.losses.size());
  for (size_t s = 0; s < cpu.losses.size(); ++s) {
    EXPECT_NEAR(dev.losses[s], cpu.losses[s], 1e-5 * std::max(1.0, std::fabs(cpu.losses[s])))
        << "step " << s;
  }
  ASSERT_EQ(cpu.params.size(), dev.params.size());
  int bad = 0;
  for (size_t i = 0; i < cpu.params.size(); ++i) {
    if (std::fabs(dev.params[i] - cpu.params[i]) > 1e-4 && bad++ < 5) {
      ADD_FAILURE() << "parameter value " << i << ": " << dev.params[i] << " vs " << cpu.params[i];
    }
  }
  EXPECT_EQ(bad, 0);
  ASSERT_EQ(cpu.stats.size(), dev.stats.size());
  for (size_t i = 0; i < cpu.stats.size(); ++i) {
    EXPECT_EQ(dev.stats[i].first, cpu.stats[i].first);
    EXPECT_NEAR(dev.stats[i].second, cpu.stats[i].second,
                1e-4 * std::max(1.0, std::fabs(cpu.stats[i].second)))
        << cpu.stats[i].first;
  }
  ASSERT_EQ(cpu.probs.size(), dev.probs.size());
  for (size_t i = 0; i < cpu.probs.size(); ++i) {
    EXPECT_NEAR(dev.probs[i], cpu.probs[i], 1e-4) << "prediction " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, StepRunnerGpuTest,
                         ::testing::Combine(::testing::Values(false, true),
                                            ::testing::Range(0,
                                                             static_cast<int>(std::size(kModels)))),
                         [](const ::testing::TestParamInfo<std::tuple<bool, int>>& info) {
                           return std::string(kModels[std::get<1>(info.param)].name) +
                                  (std::get<0>(info.param) ? "Device" : "HostExecution");
                         });

// The row cache in the GPU worker's step. ASP with row_cache_staleness 2 and a capacity below
// the user vocabulary (40 ids): a row pulled at step s serves steps up to s + 2 and full caches
// replace slots. The CPU worker runs behind CachingStore of the same staleness and capacity, the
// GPU worker behind its own GpuRowCache; both see the same rows at every step, so losses, dense
// parameters, the servers' rows, predictions and the caches' hit and miss counts agree. With
// num_servers 0 the next pull goes out after the push (the BSP order); with 1, before the
// step's compute (the early prefetch of ASP). The batches carry dense features (their columns
// copied to the device after the pooled ones), and the servers' rows are restored from a
// snapshot midway (the cache invalidated, as the trainer does).
struct CachedRun {
  std::vector<double> losses;
  std::vector<float> params;
  std::vector<float> rows;
  std::vector<float> probs;
  RowCacheStats stats;
};

Batch MakeDenseBatch(int b, int size) {
  Batch batch = MakeBatch(b, size);
  Rng rng(500 + b);
  batch.num_dense = 3;
  for (int i = 0; i < size * 3; ++i) batch.dense.push_back(rng.UniformFloat() - 0.5f);
  return batch;
}

CachedRun TrainCached(const JobConfig& config, GpuResources* gpu) {
  CachedRun run;
  auto local = LocalStore::Open(TableSpecsFromConfig(config));
  EXPECT_TRUE(local.ok());
  if (!local.ok()) return run;
  CachingStore caching(local->get(), TableSpecsFromConfig(config),
                       config.cluster().row_cache_staleness(), config.cluster().row_cache_rows());
  EmbeddingStore* store = gpu == nullptr ? static_cast<EmbeddingStore*>(&caching) : local->get();
  SelfCommunicator comm;
  auto made = StepRunner::Create(config, store, &comm, nullptr, gpu);
  EXPECT_TRUE(made.ok()) << made.status();
  if (!made.ok()) return run;
  StepRunner* runner = made->get();
  EXPECT_EQ(runner->row_cache() != nullptr, gpu != nullptr);
  std::vector<Batch> batches;
  for (int b = 0; b < 8; ++b) batches.push_back(MakeDenseBatch(b, 24 + 4 * b));
  for (size_t s = 0; s < batches.size(); ++s) {
    // Step 3 prefetches nothing: the snapshot is restored after it, as after a phase's end.
    Batch* next = s + 1 < batches.size() && s != 3 ? &batches[s + 1] : nullptr;
    auto loss = runner->Train(&batches[s], static_cast<int64_t>(s), next);
    EXPECT_TRUE(loss.ok()) << loss.status();
    run.losses.push_back(loss.ok() ? *loss : NAN);
    if (s == 1) {
      EXPECT_TRUE(store->SaveSnapshot().ok());
    }
    if (s == 3) {
      EXPECT_TRUE(store->RestoreSnapshot().ok());  // CachingStore clears itself
      EXPECT_TRUE(runner->InvalidateRowCache().ok());
    }
  }
  for (const auto& p : runner->model()->params()->params()) {
    const Tensor host = p->value.To(nullptr);
    run.params.insert(run.params.end(), host.data(), host.data() + host.size());
  }
  Batch eval = MakeDenseBatch(9, 30);
  Tensor probs;
  EXPECT_TRUE(runner->Predict(&eval, 8, &probs).ok());
  run.probs.assign(probs.data(), probs.data() + probs.size());
  run.stats = gpu == nullptr ? caching.stats() : runner->row_cache()->stats();
  std::vector<TableRequest> all(TableSpecsFromConfig(config).size());
  for (size_t t = 0; t < all.size(); ++t) {
    all[t].table = static_cast<int>(t);
    for (uint64_t k = 0; k < 40; ++k) all[t].keys.push_back(k);
    all[t].values.resize(all[t].keys.size() * TableSpecsFromConfig(config)[t].dim);
  }
  EXPECT_TRUE((*local)->Wait((*local)->Pull(&all, 100, false)).ok());
  for (const TableRequest& r : all)
    run.rows.insert(run.rows.end(), r.values.begin(), r.values.end());
  return run;
}

class StepRunnerGpuRowCacheTest : public ::testing::TestWithParam<std::tuple<bool, int>> {};

TEST_P(StepRunnerGpuRowCacheTest, AGpuWorkerBehindItsRowCacheTrainsAsACpuWorkerBehindCachingStore) {
  GpuResourcesOptions options;
  options.host_execution = !std::get<0>(GetParam());
  auto gpu = GpuResources::Create(options);
  if (!gpu.ok()) GTEST_SKIP() << "no GPU to run on: " << gpu.status().ToString();
  TempDir dir;
  std::string data = kData;
  data.replace(data.find("num_tasks: 2"), 12, "num_tasks: 2 num_dense: 3");
  std::ofstream(dir / "job.pbtxt")
      << data << kModels[0].text << "cluster { sync: ASP row_cache_staleness: 2 row_cache_rows: 30"
      << " num_servers: " << std::get<1>(GetParam()) << " }";
  auto config = LoadJobConfig(dir / "job.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  const CachedRun cpu = TrainCached(*config, nullptr);
  const CachedRun dev = TrainCached(*config, gpu->get());
  ASSERT_FALSE(HasFailure());
  EXPECT_GT(cpu.stats.hits, 0) << "the staleness bound served no row from the cache";
  EXPECT_EQ(dev.stats.hits, cpu.stats.hits);
  EXPECT_EQ(dev.stats.misses, cpu.stats.misses);
  ASSERT_EQ(cpu.losses.size(), dev.losses.size());
  for (size_t s = 0; s < cpu.losses.size(); ++s) {
    EXPECT_NEAR(dev.losses[s], cpu.losses[s], 1e-5 * std::max(1.0, std::fabs(cpu.losses[s])))
        << "step " << s;
  }
  auto expect_near = [](const std::vector<float>& want, const std::vector<float>& got,
                        const char* what) {
    ASSERT_EQ(want.size(), got.size()) << what;
    int bad = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      if (std::fabs(got[i] - want[i]) > 1e-4 && bad++ < 5) {
        ADD_FAILURE() << what << " " << i << ": " << got[i] << " vs " << want[i];
      }
    }
  };
  expect_near(cpu.params, dev.params, "parameter value");
  expect_near(cpu.rows, dev.rows, "row value");
  expect_near(cpu.probs, dev.probs, "prediction");
}

INSTANTIATE_TEST_SUITE_P(Servers, StepRunnerGpuRowCacheTest,
                         ::testing::Combine(::testing::Values(false, true),
                                            ::testing::Values(0, 1)),
                         [](const ::testing::TestParamInfo<std::tuple<bool, int>>& info) {
                           return std::string(std::get<0>(info.param) ? "Device"
                                                                      : "HostExecution") +
                                  (std::get<1>(info.param) == 0 ? "LatePrefetch" : "EarlyPrefetch");
                         });

TEST(StepRunnerGpuConfigTest, AMatchingModelIsRefusedOnAGpuWorker) {
  GpuResourcesOptions options;
  options.host_execution = true;
  auto gpu = GpuResources::Create(options);
  if (!gpu.ok()) GTEST_SKIP() << gpu.status().ToString();
  TempDir dir;
  std::ofstream(dir / "job.pbtxt") << R"(
data { num_domains: 1 num_tasks: 1 slots { name: "u" side: SIDE_USER }
       slots { name: "i" side: SIDE_ITEM } train: "train" }
embedding { dim: 4 }
model { two_tower { user_tower { mlp { dims: 8 } } item_tower { mlp { dims: 8 } } } }
)";
  auto config = LoadJobConfig(dir / "job.pbtxt");
  ASSERT_TRUE(config.ok()) << config.status();
  auto store = LocalStore::Open(TableSpecsFromConfig(*config));
  ASSERT_TRUE(store.ok());
  SelfCommunicator comm;
  auto runner = StepRunner::Create(*config, store->get(), &comm, nullptr, gpu->get());
  ASSERT_FALSE(runner.ok());
  EXPECT_NE(runner.status().ToString().find("GPU worker"), std::string::npos) << runner.status();
}

}  // namespace
}  // namespace moerec
