#include "embedding/gpu_row_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/embedding_bag.h"
#include "core/gpu/resources.h"
#include "embedding/row_cache.h"
#include "embedding/sparse_input.h"
#include "ps/local_store.h"

namespace moerec {
namespace {

// Pooling a device block on a real GPU needs the CUDA twin of core/embedding_bag.h; without it
// the Device tests pool on the host from copies of the blocks (host execution always pools
// through the device views).
#if MOEREC_HAVE_GPU_EMBEDDING_BAG
constexpr bool kDevicePooling = true;
#else
constexpr bool kDevicePooling = false;
#endif

using Ticket = GpuRowCache::Ticket;

// Every test runs under host execution (always) and on GPU 0 (skipped, with the reason, when
// there is none); the shape of core's GpuKernelTest, whose header is core's internal.
class GpuRowCacheTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    GpuResourcesOptions options;
    options.host_execution = !GetParam();
    auto made = GpuResources::Create(options);
    if (!made.ok()) GTEST_SKIP() << "no GPU to run on: " << made.status().ToString();
    gpu_ = std::move(made.value());
  }
  // The cache's kernels ran (launches count them under host execution too).
  void TearDown() override {
    if (gpu_ != nullptr && !HasFatalFailure()) {
      EXPECT_GT(gpu_->launches(), 0) << "no kernel of the cache ran";
    }
  }
  GpuResources* gpu() { return gpu_.get(); }

 private:
  std::unique_ptr<GpuResources> gpu_;
};

// A host array copied to the device (offsets, index), freed with the object.
template <class T>
class DeviceArray {
 public:
  DeviceArray(const std::vector<T>& host, GpuResources* gpu)
      : gpu_(gpu),
        data_(static_cast<T*>(gpu->Allocate(std::max<size_t>(host.size(), 1) * sizeof(T)))) {
    gpu->CopySync(data_, host.data(), host.size() * sizeof(T), GpuResources::kHostToDevice);
  }
  ~DeviceArray() { gpu_->Free(data_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  const T* data() const { return data_; }

 private:
  GpuResources* gpu_;
  T* data_;
};

// Table 0 (dim 3, SGD) and table 1 (dim 2, Adagrad): the pushed updates differ per table.
std::vector<TableSpec> Specs() {
  std::vector<TableSpec> specs(2);
  specs[0].name = "a";
  specs[0].dim = 3;
  specs[0].optimizer.set_type(RowOptimizerConfig::SGD);
  specs[0].optimizer.set_learning_rate(0.5f);
  specs[1].name = "b";
  specs[1].dim = 2;
  specs[1].optimizer.set_type(RowOptimizerConfig::ADAGRAD);
  specs[1].optimizer.set_learning_rate(0.1f);
  for (TableSpec& s : specs) {
    s.seed = 7;
    s.name_hash = StableHash(s.name);
  }
  return specs;
}

// Slots 0 and 1 share table 0 (sum, mean); slot 2 reads table 1 (mean).
const std::vector<SparseInput::Slot>& Slots() {
  static const std::vector<SparseInput::Slot> slots = {
      {0, PoolingMode::kSum}, {0, PoolingMode::kMean}, {1, PoolingMode::kMean}};
  return slots;
}
SparseInput Input() { return SparseInput(Slots(), {3, 2}, 0); }

constexpr int kVocab[2] = {10, 7};  // keys per table; the working sets

std::vector<Batch> Batches(int steps, int size) {
  std::mt19937 rng(12345);
  std::vector<Batch> batches(steps);
  for (Batch& b : batches) {
    b.Reset(1, 3, 0);
    b.size = size;
    for (int s = 0; s < 3; ++s) {
      const int table = Slots()[s].table;
      b.offsets[s].push_back(0);
      for (int i = 0; i < size; ++i) {
        const int n = static_cast<int>(rng() % 4);  // 0 to 3 ids; empty bags too
        for (int k = 0; k < n; ++k) b.ids[s].push_back(1000 * (table + 1) + rng() % kVocab[table]);
        b.offsets[s].push_back(static_cast<uint32_t>(b.ids[s].size()));
      }
    }
  }
  return batches;
}

// dfeatures of step t: fixed values with both signs.
Tensor FeatureGradients(int64_t t, int64_t rows, int64_t cols) {
  Tensor d({rows, cols}, nullptr);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      d.at(i, j) = 0.125f * static_cast<float>((t * 31 + i * 7 + j * 3) % 11 - 5);
    }
  }
  return d;
}

std::vector<float> ToHost(const Tensor& t) {
  std::vector<float> host(t.size());
  if (t.gpu() == nullptr) {
    std::copy(t.data(), t.data() + t.size(), host.begin());
  } else {
    t.gpu()->CopySync(host.data(), t.data(), t.size() * sizeof(float), GpuResources::kDeviceToHost);
  }
  return host;
}

// Every key of the vocabularies, read without side effects (an evaluation pull).
std::vector<float> AllRows(LocalStore* store) {
  std::vector<TableRequest> r(2);
  std::vector<float> out;
  for (int t = 0; t < 2; ++t) {
    r[t].table = t;
    for (int k = 0; k < kVocab[t]; ++k) r[t].keys.push_back(1000 * (t + 1) + k);
    r[t].values.resize(r[t].keys.size() * Specs()[t].dim);
  }
  EXPECT_TRUE(store->Wait(store->Pull(&r, 1000, false)).ok());
  for (const TableRequest& q : r) out.insert(out.end(), q.values.begin(), q.values.end());
  return out;
}

struct RunResult {
  std::vector<std::vector<float>> features;  // per step, (B, F)
  std::vector<float> final_rows;             // the servers' rows after the last push
  RowCacheStats stats;
  int64_t pulled_keys = 0;  // keys the servers were asked for
  int64_t total_keys = 0;   // unique keys per step, summed
};

struct Case {
  int64_t staleness;
  int64_t capacity;
  bool early;  // pull of t+1 before the push of t (SSP order), else after (BSP)
  std::string Name() const {
    return "staleness " + std::to_string(staleness) + ", capacity " + std::to_string(capacity) +
           (early ? ", early prefetch" : ", late prefetch");
  }
};

// The host path of worker/step_runner.cc: CachingStore in front of the servers.
RunResult RunCachingStore(const std::vector<Batch>& batches, const Case& c) {
  auto servers = LocalStore::Open(Specs()).value();
  CachingStore cache(servers.get(), Specs(), c.staleness, c.capacity);
  const SparseInput in = Input();
  const int steps = static_cast<int>(batches.size());
  std::vector<SparseBatch> sparse(steps);
  RunResult result;
  auto pull = [&](int t) {
    in.Prepare(batches[t], &sparse[t]);
    result.total_keys += sparse[t].total_keys();
    EXPECT_TRUE(cache.Wait(cache.Pull(&sparse[t].requests, t, true)).ok());
  };
  pull(0);
  for (int t = 0; t < steps; ++t) {
    if (c.early && t + 1 < steps) pull(t + 1);
    const Batch& b = batches[t];
    Tensor features({b.size, in.num_features()}, nullptr);
    in.Pool(b, sparse[t], features.view());
    result.features.push_back(ToHost(features));
    const Tensor d = FeatureGradients(t, b.size, in.num_features());
    in.PoolBackward(b, d.view(), &sparse[t]);
    EXPECT_TRUE(cache.Wait(cache.Push(&sparse[t].requests, t)).ok());
    if (!c.early && t + 1 < steps) pull(t + 1);
  }
  result.stats = cache.stats();
  for (int t = 0; t < 2; ++t) result.pulled_keys += servers->rows()->stats(t).pulled_keys;
  result.final_rows = AllRows(servers.get());
  return result;
}

// The same steps through GpuRowCache, pooling and scattering gradients on the device views.
class DevicePooling {
 public:
  explicit DevicePooling(GpuResources* gpu) : gpu_(gpu) {}
  bool on_device() const { return gpu_->host_execution() || kDevicePooling; }

  Tensor Forward(const Batch& b, const SparseBatch& sb, GpuRowCache* cache, Ticket ticket) {
    const SparseInput in = Input();
    Tensor features({b.size, in.num_features()}, gpu_);
    Tensor host_features({b.size, in.num_features()}, nullptr);
    for (int s = 0; s < in.num_slots(); ++s) {
      const int r = sb.request_of_slot[s];
      const ConstMatView rows = cache->rows(ticket, r);
      if (on_device()) {
        DeviceArray<uint32_t> offsets(b.offsets[s], gpu_);
        DeviceArray<int32_t> index(sb.index[s], gpu_);
        EmbeddingBagForward(rows, offsets.data(), index.data(), Slots()[s].pooling,
                            features.view().Cols(in.slot_column(s), in.slot_dim(s)));
      } else {
        std::vector<float> host(std::max<int64_t>(rows.rows * rows.cols, 1));
        gpu_->CopySync(host.data(), rows.data, rows.rows * rows.cols * sizeof(float),
                       GpuResources::kDeviceToHost);
        EmbeddingBagForward(ConstMatView(host.data(), rows.rows, rows.cols, rows.cols),
                            b.offsets[s].data(), sb.index[s].data(), Slots()[s].pooling,
                            host_features.view().Cols(in.slot_column(s), in.slot_dim(s)));
      }
    }
    return on_device() ? features : host_features;
  }

  void Backward(const Batch& b, const SparseBatch& sb, const Tensor& dfeatures, GpuRowCache* cache,
                Ticket ticket) {
    const SparseInput in = Input();
    const Tensor d = dfeatures.To(gpu_);
    for (int s = 0; s < in.num_slots(); ++s) {
      const int r = sb.request_of_slot[s];
      const MatView drows = cache->gradients(ticket, r);
      if (on_device()) {
        DeviceArray<uint32_t> offsets(b.offsets[s], gpu_);
        DeviceArray<int32_t> index(sb.index[s], gpu_);
        EmbeddingBagBackward(d.view().Cols(in.slot_column(s), in.slot_dim(s)), offsets.data(),
                             index.data(), Slots()[s].pooling, drows);
      } else {
        const int64_t bytes = drows.rows * drows.cols * sizeof(float);
        std::vector<float> host(std::max<int64_t>(drows.rows * drows.cols, 1));
        gpu_->CopySync(host.data(), drows.data, bytes, GpuResources::kDeviceToHost);
        EmbeddingBagBackward(dfeatures.view().Cols(in.slot_column(s), in.slot_dim(s)),
                             b.offsets[s].data(), sb.index[s].data(), Slots()[s].pooling,
                             MatView{host.data(), drows.rows, drows.cols, drows.cols});
        gpu_->CopySync(drows.data, host.data(), bytes, GpuResources::kHostToDevice);
      }
    }
  }

 private:
  GpuResources* gpu_;
};

RunResult RunGpuRowCache(GpuResources* gpu, const std::vector<Batch>& batches, const Case& c) {
  auto servers = LocalStore::Open(Specs()).value();
  GpuRowCacheOptions options;
  options.capacity_rows = c.capacity;
  options.staleness = c.staleness;
  auto made = GpuRowCache::Create(gpu, servers.get(), Specs(), options);
  EXPECT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<GpuRowCache> cache = std::move(made.value());
  const SparseInput in = Input();
  DevicePooling pooling(gpu);
  const int steps = static_cast<int>(batches.size());
  std::vector<SparseBatch> sparse(steps);
  std::vector<Ticket> tickets(steps);
  RunResult result;
  auto prefetch = [&](int t) {
    in.Prepare(batches[t], &sparse[t]);
    result.total_keys += sparse[t].total_keys();
    auto ticket = cache->Prefetch(sparse[t].requests, t, true);
    ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
    tickets[t] = ticket.value();
    // The caller's requests may change once Prefetch returns.
    for (TableRequest& r : sparse[t].requests) r.values.assign(r.values.size(), -1.0f);
    ASSERT_TRUE(cache->FinishPrefetch(tickets[t]).ok());
  };
  prefetch(0);
  for (int t = 0; t < steps; ++t) {
    // Early: step t+1's rows land (and its misses replace cache slots) before step t pools.
    if (c.early && t + 1 < steps) prefetch(t + 1);
    const Batch& b = batches[t];
    result.features.push_back(ToHost(pooling.Forward(b, sparse[t], cache.get(), tickets[t])));
    pooling.Backward(b, sparse[t], FeatureGradients(t, b.size, in.num_features()), cache.get(),
                     tickets[t]);
    cache->PushGradients(tickets[t]);
    EXPECT_TRUE(cache->FinishPush(tickets[t]).ok());
    if (!c.early && t + 1 < steps) prefetch(t + 1);
  }
  result.stats = cache->stats();
  for (int t = 0; t < 2; ++t) result.pulled_keys += servers->rows()->stats(t).pulled_keys;
  result.final_rows = AllRows(servers.get());
  return result;
}

// Bit for bit where both sides pool with the CPU kernel's order; the CUDA twin of the pooling
// (a real GPU) is held to its own test's tolerance.
void ExpectSame(const std::vector<float>& want, const std::vector<float>& got, bool exact,
                const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    if (exact) {
      ASSERT_EQ(want[i], got[i]) << what << " element " << i;
    } else {
      ASSERT_NEAR(want[i], got[i], 1e-5f * (1.0f + std::abs(want[i]))) << what << " element " << i;
    }
  }
}

TEST_P(GpuRowCacheTest, PoolsWhatCachingStoreGivesBitForBit) {
  const std::vector<Batch> batches = Batches(/*steps=*/10, /*size=*/6);
  const bool exact = gpu()->host_execution() || !kDevicePooling;
  int64_t misses_large = 0;
  for (const Case& c : {Case{0, 100, false}, Case{0, 4, true}, Case{2, 100, false},
                        Case{2, 100, true}, Case{2, 4, false}, Case{2, 4, true}}) {
    SCOPED_TRACE(c.Name());
    const RunResult want = RunCachingStore(batches, c);
    const RunResult got = RunGpuRowCache(gpu(), batches, c);
    ASSERT_FALSE(HasFatalFailure());
    ASSERT_EQ(got.features.size(), want.features.size());
    for (size_t t = 0; t < want.features.size(); ++t) {
      ExpectSame(want.features[t], got.features[t], exact, "features of step " + std::to_string(t));
    }
    ExpectSame(want.final_rows, got.final_rows, exact, "the servers' rows");
    EXPECT_EQ(got.pulled_keys, want.pulled_keys);
    if (c.staleness == 0) {
      // Every key pulled every step (CachingStore forwards these pulls and counts nothing).
      EXPECT_EQ(got.stats.hits, 0);
      EXPECT_EQ(got.stats.misses, got.total_keys);
      EXPECT_EQ(got.pulled_keys, got.total_keys);
    } else {
      EXPECT_EQ(got.stats.hits, want.stats.hits);
      EXPECT_EQ(got.stats.misses, want.stats.misses);
      EXPECT_EQ(got.stats.hits + got.stats.misses, got.total_keys);
      EXPECT_GT(got.stats.hits, 0);
      if (c.capacity == 100 && !c.early) misses_large = got.stats.misses;
      // Capacity 4 is below both working sets (10 and 7 keys): evicted rows come back as misses.
      if (c.capacity == 4 && !c.early) {
        EXPECT_GT(got.stats.misses, misses_large);
      }
    }
  }
}

std::vector<TableRequest> Request(int table, std::vector<uint64_t> keys) {
  std::vector<TableRequest> r(1);
  r[0].table = table;
  r[0].keys = std::move(keys);
  return r;
}

std::vector<float> Rows(GpuRowCache* cache, Ticket ticket, int r) {
  const ConstMatView v = cache->rows(ticket, r);
  std::vector<float> host(v.rows * v.cols);
  v.gpu->CopySync(host.data(), v.data, host.size() * sizeof(float), GpuResources::kDeviceToHost);
  return host;
}

std::vector<float> ServerRows(LocalStore* servers, int table, std::vector<uint64_t> keys) {
  auto r = Request(table, std::move(keys));
  r[0].values.resize(r[0].keys.size() * Specs()[table].dim);
  EXPECT_TRUE(servers->Wait(servers->Pull(&r, 0, false)).ok());
  return r[0].values;
}

std::unique_ptr<GpuRowCache> MakeCache(GpuResources* gpu, EmbeddingStore* servers,
                                       int64_t staleness, int64_t capacity) {
  GpuRowCacheOptions options;
  options.staleness = staleness;
  options.capacity_rows = capacity;
  return GpuRowCache::Create(gpu, servers, Specs(), options).value();
}

// One step with no gradient to push: prefetch, finish, read the rows, release.
std::vector<float> Step(GpuRowCache* cache, int table, std::vector<uint64_t> keys, int64_t step,
                        bool training = true) {
  const Ticket t = cache->Prefetch(Request(table, std::move(keys)), step, training).value();
  EXPECT_TRUE(cache->FinishPrefetch(t).ok());
  std::vector<float> rows = Rows(cache, t, 0);
  cache->Release(t);
  return rows;
}

TEST_P(GpuRowCacheTest, ServesResidentRowsUpToTheStalenessBoundThenRefreshes) {
  auto servers = LocalStore::Open(Specs()).value();
  auto cache = MakeCache(gpu(), servers.get(), /*staleness=*/2, /*capacity=*/100);
  // Step 0 pulls keys 7 and 8 and pushes a gradient of 1 for key 7 (SGD, lr 0.5).
  const Ticket t0 = cache->Prefetch(Request(0, {7, 8}), 0, true).value();
  ASSERT_TRUE(cache->FinishPrefetch(t0).ok());
  const std::vector<float> first = Rows(cache.get(), t0, 0);
  EXPECT_EQ(first, ServerRows(servers.get(), 0, {7, 8}));
  gpu()->Fill(cache->gradients(t0, 0).data, 3, 1.0f);
  cache->PushGradients(t0);
  ASSERT_TRUE(cache->FinishPush(t0).ok());
  EXPECT_EQ(cache->stats().misses, 2);
  // Steps 1 and 2: the resident (stale) row; the servers are not asked.
  for (int64_t step : {1, 2}) {
    EXPECT_EQ(Step(cache.get(), 0, {7}, step), std::vector<float>(first.begin(), first.begin() + 3))
        << "step " << step;
  }
  EXPECT_EQ(cache->stats().hits, 2);
  EXPECT_EQ(servers->rows()->stats(0).pulled_keys, 2);
  // Step 3 is past the bound: key 7's row is pulled again, with the push applied; 8 too.
  const std::vector<float> fresh = Step(cache.get(), 0, {7, 8}, 3);
  for (int j = 0; j < 3; ++j) {
    EXPECT_FLOAT_EQ(fresh[j], first[j] - 0.5f);
    EXPECT_EQ(fresh[3 + j], first[3 + j]);
  }
  EXPECT_EQ(cache->stats().misses, 4);
  // Evaluation prefetches bypass the cache and count nothing.
  const RowCacheStats before = cache->stats();
  EXPECT_EQ(Step(cache.get(), 0, {7, 99}, 4, /*training=*/false),
            ServerRows(servers.get(), 0, {7, 99}));
  EXPECT_EQ(cache->stats().hits, before.hits);
  EXPECT_EQ(cache->stats().misses, before.misses);
}

TEST_P(GpuRowCacheTest, StalenessZeroPullsEveryKeyEveryStep) {
  auto servers = LocalStore::Open(Specs()).value();
  auto cache = MakeCache(gpu(), servers.get(), 0, 10);
  for (int64_t step = 0; step < 3; ++step) {
    EXPECT_EQ(Step(cache.get(), 1, {1, 2, 3}, step), ServerRows(servers.get(), 1, {1, 2, 3}));
  }
  EXPECT_EQ(cache->stats().hits, 0);
  EXPECT_EQ(cache->stats().misses, 9);
  EXPECT_EQ(servers->rows()->stats(1).pulled_keys, 9);
}

TEST_P(GpuRowCacheTest, AFullCacheReplacesTheSlotFilledLongestAgo) {
  auto servers = LocalStore::Open(Specs()).value();
  auto cache = MakeCache(gpu(), servers.get(), 100, /*capacity=*/3);
  Step(cache.get(), 0, {1, 2, 3}, 0);
  Step(cache.get(), 0, {4}, 1);  // replaces key 1
  EXPECT_EQ(Step(cache.get(), 0, {1, 2, 3, 4}, 2), ServerRows(servers.get(), 0, {1, 2, 3, 4}));
  EXPECT_EQ(cache->stats().hits, 3);    // 2, 3, 4
  EXPECT_EQ(cache->stats().misses, 5);  // 1, 2, 3, then 4, then 1 again
  // The last step's miss (1) replaced key 2; its hits stayed in their slots.
  EXPECT_EQ(Step(cache.get(), 0, {3, 4, 1}, 3), ServerRows(servers.get(), 0, {3, 4, 1}));
  EXPECT_EQ(cache->stats().hits, 6);
}

TEST_P(GpuRowCacheTest, AStepWithMoreKeysThanSlotsKeepsEveryRow) {
  auto servers = LocalStore::Open(Specs()).value();
  auto cache = MakeCache(gpu(), servers.get(), 100, /*capacity=*/2);
  Step(cache.get(), 0, {1, 2}, 0);
  // Hits 1 and 2 sit in the slots that misses 5, 6 and 7 replace in the same step.
  EXPECT_EQ(Step(cache.get(), 0, {1, 5, 2, 6, 7}, 1),
            ServerRows(servers.get(), 0, {1, 5, 2, 6, 7}));
  EXPECT_EQ(cache->stats().hits, 2);
  // Slots now hold the last writers, 7 and 6.
  EXPECT_EQ(Step(cache.get(), 0, {6, 7}, 2), ServerRows(servers.get(), 0, {6, 7}));
  EXPECT_EQ(cache->stats().hits, 4);
  EXPECT_EQ(cache->stats().misses, 5);
}

TEST_P(GpuRowCacheTest, InvalidateForgetsEveryRow) {
  auto servers = LocalStore::Open(Specs()).value();
  auto cache = MakeCache(gpu(), servers.get(), 100, 10);
  Step(cache.get(), 0, {5}, 0);
  ASSERT_TRUE(servers->SaveSnapshot().ok());
  ASSERT_TRUE(servers->RestoreSnapshot().ok());
  cache->Invalidate();
  Step(cache.get(), 0, {5}, 1);
  EXPECT_EQ(cache->stats().hits, 0);
  EXPECT_EQ(cache->stats().misses, 2);
}

TEST_P(GpuRowCacheTest, BadArgumentsAreRefusedWithTheirNames) {
  auto servers = LocalStore::Open(Specs()).value();
  GpuRowCacheOptions options;
  options.capacity_rows = 0;
  auto zero = GpuRowCache::Create(gpu(), servers.get(), Specs(), options);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(zero.status().message().find("capacity_rows"), std::string::npos)
      << zero.status().ToString();
  options.capacity_rows = 8;
  options.staleness = -1;
  auto stale = GpuRowCache::Create(gpu(), servers.get(), Specs(), options);
  ASSERT_FALSE(stale.ok());
  EXPECT_NE(stale.status().message().find("staleness"), std::string::npos);
  options.staleness = 1;
  EXPECT_FALSE(GpuRowCache::Create(nullptr, servers.get(), Specs(), options).ok());
  EXPECT_FALSE(GpuRowCache::Create(gpu(), nullptr, Specs(), options).ok());

  auto cache = GpuRowCache::Create(gpu(), servers.get(), Specs(), options).value();
  auto unknown = cache->Prefetch(Request(2, {1}), 0, true);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("names table 2"), std::string::npos)
      << unknown.status().ToString();
  std::vector<TableRequest> twice = Request(0, {1});
  twice.push_back(twice[0]);
  auto doubled = cache->Prefetch(twice, 0, true);
  ASSERT_FALSE(doubled.ok());
  EXPECT_NE(doubled.status().message().find("twice"), std::string::npos);
  // A refused prefetch leaves nothing behind: the next one works.
  EXPECT_EQ(Step(cache.get(), 0, {1}, 0), ServerRows(servers.get(), 0, {1}));
}

INSTANTIATE_TEST_SUITE_P(Backends, GpuRowCacheTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Device" : "HostExecution";
                         });

}  // namespace
}  // namespace moerec
